"""Single-image super-resolution with GANs: SRResNet and SRGAN (Ledig et al. 2017), ESRGAN (Wang
et al. 2018), in one compiled step.

    spec = SRSpec(generator=models.srgan.SRResNet(scale=4), discriminator=SRDiscriminator(),
                  scale=4, g_optimizer=optax.adam(1e-4, 0.9), d_optimizer=..., adversarial="gan")
    state = init_state(spec, key, batch, pretrained=None)   # batch: {"hr": [1, B, 96, 96, 3]}
    state, metrics = make_train_step(spec)(state, batch, key)

The batch holds HR crops only; the step makes the LR inputs by bicubic down-sampling
(jaxgan.data.super_resolution.downsample), so the pipeline's one host task is cropping.
The generator's loss, with x_SR = G(LR):

    L_G = w_pix·ℓ(x_SR, x_HR) + w_per·perceptual(x_SR, x_HR) + w_adv·L_adv

ℓ is the pixel MSE (SRResNet, SRGAN) or L1 (ESRGAN). L_adv (the second phase) is one of:
- gan: SRGAN's −log D(x_SR), with D trained on −log D(x_HR) − log(1 − D(x_SR)); the paper
  weights it 10⁻³. With the pixel MSE as content loss this is the paper's "SRGAN-MSE".
- ragan: ESRGAN's relativistic average GAN, D_Ra(a, b) = σ(C(a) − E[C(b)]):
  L_D = ½(−E log D_Ra(x_HR, x_SR) − E log(1 − D_Ra(x_SR, x_HR))),
  L_G = ½(−E log(1 − D_Ra(x_HR, x_SR)) − E log D_Ra(x_SR, x_HR)) (the authors' code halves
  both sums); ESRGAN weights it 5·10⁻³, with L1 at 10⁻².
- none: the PSNR-oriented first phase (SRResNet; ESRGAN's L1 pre-training).

The second phase starts from a first-phase run's generator (`pretrained`), which the state
keeps beside the trained one: the evaluator compares the two, and ESRGAN's network
interpolation θ = (1 − α)·θ_PSNR + α·θ_GAN is a function of the state (`interpolated`).

This module registers the kind "srgan".
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from skimage import color, filters
from skimage import metrics as skimage_metrics

from jaxgan import evaluators, models, parallel, plots, trainer
from jaxgan.data import images as image_data
from jaxgan.data import super_resolution as sr_data
from jaxgan.errors import ConfigError
from jaxgan.step import (
  PlayerState,
  all_finite,
  apply_model,
  compile_spec_step,
  init_player,
  network_variables,
  update_player,
)

Array = jax.Array
PIXEL_LOSSES = ("mse", "l1")
ADVERSARIAL_LOSSES = ("none", "gan", "ragan")


@dataclasses.dataclass(frozen=True)
class SRSpec:
  """A super-resolution run: the networks, the scale, the optimizers and the loss of the module
  docstring. perceptual: distance(x, y) → [B] (jaxgan.perceptual), or None."""

  generator: nn.Module
  discriminator: nn.Module | None
  scale: int
  g_optimizer: optax.GradientTransformation
  d_optimizer: optax.GradientTransformation | None = None
  pixel_loss: str = "mse"
  pixel_weight: float = 1.0
  perceptual: Any = None
  perceptual_weight: float = 0.0
  adversarial: str = "none"
  adversarial_weight: float = 1e-3

  def __post_init__(self):
    if self.pixel_loss not in PIXEL_LOSSES:
      raise ConfigError(f"unknown --pixel_loss {self.pixel_loss!r}: choose mse or l1")
    if self.adversarial not in ADVERSARIAL_LOSSES:
      raise ConfigError(
        f"unknown --adversarial {self.adversarial!r}: choose {', '.join(ADVERSARIAL_LOSSES)}"
      )
    if self.adversarial != "none" and (self.discriminator is None or self.d_optimizer is None):
      raise ConfigError("an adversarial phase needs a discriminator and its optimizer")
    if self.scale not in sr_data.SCALES:
      raise ConfigError(f"--scale must be 2 or 4 (the papers'), got {self.scale}")


@flax.struct.dataclass
class SRState:
  step: Array
  generator: PlayerState
  discriminator: PlayerState | None
  pretrained: Any  # the first phase's generator variables {"params", "model_state"}, or None


def init_state(spec: SRSpec, key: Array, example_batch, pretrained=None) -> SRState:
  """Fresh networks (the generator from `pretrained` when given) with their optimizer states.

  Args:
    spec: the run.
    key: the key of the initialization.
    example_batch: {"hr": [1, B, H, W, C]}; only its shape is read.
    pretrained: a first-phase run's generator variables {"params", "model_state"}, or None.

  Returns:
    The SRState at step 0.
  """
  hr = example_batch["hr"].shape[1:]
  lr_shape = (hr[0], hr[1] // spec.scale, hr[2] // spec.scale, hr[3])

  def init(key, pretrained):
    g_key, d_key = jax.random.split(key)
    g = init_player(spec.generator, g_key, jnp.zeros(lr_shape), optimizer=spec.g_optimizer)
    if pretrained is not None:
      params, model_state = pretrained["params"], pretrained["model_state"]
      g = PlayerState(params, model_state, spec.g_optimizer.init(params))
    d = None
    if spec.adversarial != "none":
      d = init_player(spec.discriminator, d_key, jnp.zeros(hr), optimizer=spec.d_optimizer)
    return SRState(jnp.zeros([], jnp.int32), g, d, pretrained)

  return jax.jit(init)(key, pretrained)


def pixel_distance(kind: str, x: Array, y: Array) -> Array:
  """The pixel loss.

  Args:
    kind: "mse" or "l1".
    x: images.
    y: their targets.

  Returns:
    The batch mean of (x − y)² ("mse") or `abs(x − y)` ("l1").
  """
  difference = x - y
  return jnp.mean(difference**2) if kind == "mse" else jnp.mean(jnp.abs(difference))


def relativistic_losses(real: Array, fake: Array) -> tuple[Array, Array]:
  """ESRGAN's (L_D, L_G) from the critic's raw outputs C(x_HR) [B] and C(x_SR) [B] (see the
  module docstring), with −log σ(a) = softplus(−a) and −log(1 − σ(a)) = softplus(a)."""
  real_vs_fake = real - jnp.mean(fake)
  fake_vs_real = fake - jnp.mean(real)
  d_loss = 0.5 * (
    jnp.mean(jax.nn.softplus(-real_vs_fake)) + jnp.mean(jax.nn.softplus(fake_vs_real))
  )
  g_loss = 0.5 * (
    jnp.mean(jax.nn.softplus(real_vs_fake)) + jnp.mean(jax.nn.softplus(-fake_vs_real))
  )
  return d_loss, g_loss


def standard_losses(real: Array, fake: Array) -> tuple[Array, Array]:
  """SRGAN's (L_D, L_G): −log D(x_HR) − log(1 − D(x_SR)), and −log D(x_SR) (batch means)."""
  d_loss = jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))
  return d_loss, jnp.mean(jax.nn.softplus(-fake))


def adversarial_losses(kind: str, real: Array, fake: Array) -> tuple[Array, Array]:
  """The adversarial losses.

  Args:
    kind: "gan" (standard_losses) or "ragan" (relativistic_losses).
    real: D's raw outputs on HR images [B].
    fake: on SR images [B].

  Returns:
    (L_D, L_G).
  """
  return relativistic_losses(real, fake) if kind == "ragan" else standard_losses(real, fake)


def train_step(spec: SRSpec, state: SRState, batch, key: Array, mesh=None):
  """One update of G (and of D in the adversarial phase) on a batch of HR crops.

  Args:
    spec: the run.
    state: the training state.
    batch: {"hr": [1, B, H, W, C]} in [−1, 1].
    key: unused (the step has no noise).
    mesh: unused (the batch's layout comes from the compiled step).

  Returns:
    (the new state, metrics).
  """
  del key, mesh
  hr = batch["hr"][0]
  lr = sr_data.downsample(hr, spec.scale)
  g, d = state.generator, state.discriminator
  adversarial = spec.adversarial != "none"

  def critic(params, images):
    return apply_model(spec.discriminator, params, d.model_state, images, True)

  def g_loss(params):
    sr, model_state = apply_model(spec.generator, params, g.model_state, lr, True)
    pixel = pixel_distance(spec.pixel_loss, sr, hr)
    total = spec.pixel_weight * pixel
    metrics = {"pixel": pixel}
    if spec.perceptual is not None:
      metrics["perceptual"] = jnp.mean(spec.perceptual(sr, hr))
      total = total + spec.perceptual_weight * metrics["perceptual"]
    if adversarial:
      scores = critic(d.params, jnp.concatenate([hr, sr]))[0]
      real, fake = jax.lax.stop_gradient(scores[: hr.shape[0]]), scores[hr.shape[0] :]
      metrics["g_loss"] = adversarial_losses(spec.adversarial, real, fake)[1]
      total = total + spec.adversarial_weight * metrics["g_loss"]
    return total, (model_state, jax.lax.stop_gradient(sr), metrics)

  (_, (model_state, sr, metrics)), grads = jax.value_and_grad(g_loss, has_aux=True)(g.params)
  metrics["g_grad_norm"] = optax.tree.norm(grads)
  new_g = update_player(spec.g_optimizer, g, grads, model_state)
  if adversarial:

    def d_loss(params):
      scores, model_state = critic(params, jnp.concatenate([hr, sr]))
      real, fake = scores[: hr.shape[0]], scores[hr.shape[0] :]
      loss = adversarial_losses(spec.adversarial, real, fake)[0]
      return loss, (model_state, jnp.mean(jax.nn.sigmoid(real)), jnp.mean(jax.nn.sigmoid(fake)))

    (loss, (model_state, d_real, d_fake)), grads = jax.value_and_grad(d_loss, has_aux=True)(
      d.params
    )
    d = update_player(spec.d_optimizer, d, grads, model_state)
    metrics.update(d_loss=loss, d_real=d_real, d_fake=d_fake, d_grad_norm=optax.tree.norm(grads))
  metrics["finite"] = all_finite(metrics)
  return SRState(state.step + 1, new_g, d, state.pretrained), metrics


# make_train_step(spec, *, mesh=None, donate=True) -> step(state, batch, key): train_step
# compiled, the batch's example axis split over the mesh (jaxgan.step.compile_spec_step).
make_train_step = functools.partial(compile_spec_step, train_step)


def interpolated(state: trainer.StateDict, alpha: float) -> dict[str, Any]:
  """ESRGAN's network interpolation: the generator variables (1 − α)·θ_PSNR + α·θ_GAN of a
  second-phase state (α = 1: the GAN's, 0: the pretrained one's).

  Args:
    state: a state dict with "generator" and "pretrained".
    alpha: α in [0, 1].

  Returns:
    {"params", "model_state"} of the interpolated generator.
  """
  if state.get("pretrained") is None:
    raise ConfigError("network interpolation needs a run trained from --pretrained_workdir")
  gan = network_variables(state["generator"])
  return jax.tree.map(lambda p, q: (1 - alpha) * p + alpha * q, state["pretrained"], gan)


# ---------------------------------------------------------------------------
# Measuring on held-out images: PSNR and SSIM on Y, against bicubic and the pretrained net.
# ---------------------------------------------------------------------------


def luma(images: np.ndarray) -> np.ndarray:
  """[−1, 1] RGB [..., 3] → Y of ITU-R BT.601 in [16, 235] (skimage.color.rgb2ycbcr, MATLAB's
  rgb2ycbcr: what SR papers measure on)."""
  rgb = np.clip((np.asarray(images, np.float64) + 1.0) / 2.0, 0.0, 1.0)
  return color.rgb2ycbcr(rgb)[..., 0]


def y_psnr_ssim(sr: np.ndarray, hr: np.ndarray, border: int) -> tuple[float, float]:
  """PSNR and SSIM of one image on Y, from skimage.metrics at data range 255.

  Args:
    sr: the output [H, W, 3] in [−1, 1].
    hr: the ground truth.
    border: pixels cropped on each side (the papers' protocol: the scale).

  Returns:
    (PSNR in dB, SSIM with Wang et al.'s Gaussian window: σ 1.5, population covariance).
  """
  y_sr, y_hr = (luma(x)[border:-border, border:-border] for x in (sr, hr))
  psnr = skimage_metrics.peak_signal_noise_ratio(y_hr, y_sr, data_range=255)
  ssim = skimage_metrics.structural_similarity(
    y_hr, y_sr, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
  )
  return float(psnr), float(ssim)


def detail_ratio(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
  """How much edge energy an output keeps: mean Sobel gradient magnitude of its Y channel over
  the ground truth's (skimage.filters.sobel; border cropped as for PSNR). 1 is as much detail
  as the HR image; blur (bicubic, an MSE-trained network averaging plausible textures) gives
  less, so this is the number behind SRGAN's "sharper texture" claim, which PSNR cannot see.
  Above 1 means edges or noise the HR image does not have.

  Args:
    sr: the output [H, W, 3] in [−1, 1].
    hr: the ground truth.
    border: pixels cropped on each side.

  Returns:
    The mean gradient magnitude of Y_sr over that of Y_hr.
  """
  y_sr, y_hr = (luma(x)[border:-border, border:-border] for x in (sr, hr))
  return float(np.mean(filters.sobel(y_sr)) / np.mean(filters.sobel(y_hr)))


def upscaler(generator: nn.Module):
  """(variables {"params", "model_state"}, LR image [h, w, C]) → SR image, in eval mode; one
  compilation per input size."""

  @jax.jit
  def apply(variables, lr):
    return apply_model(generator, variables["params"], variables["model_state"], lr, False)[0]

  def upscale(variables, image: np.ndarray) -> np.ndarray:
    return np.asarray(apply(variables, jnp.asarray(image)[None]))[0]

  return upscale


COMPARISON_CROP = 48  # HR pixels of each image's detail in the comparison grid
INTERPOLATION_ALPHA = 0.8  # ESRGAN's balance of the PSNR and GAN networks (their §4.5)


def sr_evaluator(spec: SRSpec, test: sr_data.HRImages) -> evaluators.Evaluator:
  """The Evaluator "super_resolution": Y-channel PSNR, SSIM and detail ratio (border = scale)
  of the whole held-out images against bicubic up-sampling and, in the second phase, the pretrained
  generator and the interpolation α = 0.8 between it and this one; and comparisons_STEP.png,
  a detail of each image: LR | bicubic | pretrained | interpolated | this run | HR.

  Args:
    spec: the run.
    test: the held-out HR images.

  Returns:
    The Evaluator.
  """
  upscale = upscaler(spec.generator)
  s = spec.scale
  hrs = [
    image_data.to_model_range(image[: image.shape[0] // s * s, : image.shape[1] // s * s])
    for image in test.images
  ]
  lrs = [np.asarray(sr_data.downsample(jnp.asarray(hr)[None], s))[0] for hr in hrs]
  bicubic = [np.asarray(sr_data.upsample_bicubic(jnp.asarray(lr)[None], s))[0] for lr in lrs]

  def outputs(state) -> dict[str, list[np.ndarray]]:
    runs = {"bicubic": bicubic}
    if state.get("pretrained") is not None:
      runs["pretrained"] = [upscale(state["pretrained"], lr) for lr in lrs]
      mixed = interpolated(state, INTERPOLATION_ALPHA)
      runs[f"interpolated_{INTERPOLATION_ALPHA}"] = [upscale(mixed, lr) for lr in lrs]
    g = state["generator"]
    runs["sr"] = [upscale(network_variables(g), lr) for lr in lrs]
    return runs

  def run(state) -> dict[str, Any]:
    results: dict[str, Any] = {}
    parts = []
    for name, images in outputs(state).items():
      scores = [
        (*y_psnr_ssim(x, hr, s), detail_ratio(x, hr, s)) for x, hr in zip(images, hrs, strict=True)
      ]
      psnr, ssim, detail = (float(np.mean(v)) for v in zip(*scores, strict=True))
      results[f"{name}_psnr"], results[f"{name}_ssim"] = psnr, ssim
      results[f"{name}_detail"] = detail
      parts.append(f"{name} {psnr:.2f} dB / {ssim:.4f} / {detail:.3f}")
    summary = f"×{s} on {len(hrs)} held-out images, Y PSNR / SSIM / detail ratio: " + ", ".join(
      parts
    )
    return {"summary": summary, **results}

  def draw(workdir, state, step):
    runs = outputs(state)
    rows, names = [], ["LR", *runs, "HR"]
    for i, hr in enumerate(hrs):
      top, left = (hr.shape[0] - COMPARISON_CROP) // 2, (hr.shape[1] - COMPARISON_CROP) // 2
      window = np.s_[top : top + COMPARISON_CROP, left : left + COMPARISON_CROP]
      lr_big = np.repeat(np.repeat(lrs[i], s, 0), s, 1)  # nearest: the input as it is
      rows.append([lr_big[window], *(runs[n][i][window] for n in runs), hr[window]])
    path = evaluators.plot_path(workdir, "comparisons", step)
    if parallel.is_primary():
      grid = np.clip(np.asarray(rows, np.float32), -1, 1)
      plots.save_image_grid(path, grid, title=f"{' | '.join(names)} (×{s}, step {step})")
    return [path]

  return evaluators.Evaluator("super_resolution", run, draw)


# ---------------------------------------------------------------------------
# The trainer, and the kind.
# ---------------------------------------------------------------------------


def translators(generator: nn.Module) -> dict[str, trainer.Translate]:
  """{"a_to_b": upscale}: LR images [N, h, w, C] (any size) → SR images, eval mode."""
  upscale = upscaler(generator)

  def translate(state, images, key=None) -> np.ndarray:
    variables = network_variables(state["generator"])
    return np.stack([upscale(variables, image) for image in np.asarray(images)])

  return {"a_to_b": translate}


def describe_spec(spec: SRSpec, dataset: sr_data.HRImages, crop: int) -> dict[str, Any]:
  """config.json's entries of the run: what `restore` rebuilds it from.

  Args:
    spec: the run.
    dataset: its training images.
    crop: the HR crop size.

  Returns:
    The entries.
  """
  return {
    **trainer.describe_kind(KIND),
    "dataset": dataset.name.rsplit(":", 1)[0],
    "image_shape": [crop, crop, dataset.channels],
    "channels": [dataset.channels, dataset.channels],
    "scale": spec.scale,
    "generator": models.describe(spec.generator),
    "discriminator": None if spec.discriminator is None else models.describe(spec.discriminator),
    "adversarial": spec.adversarial,
    "evaluators": ["super_resolution"],
  }


def make_trainer(
  spec: SRSpec,
  dataset: sr_data.HRImages,
  test: sr_data.HRImages,
  config,
  *,
  mesh=None,
  pretrained=None,
) -> trainer.Trainer:
  """The Trainer of `spec` on random HR crops of dataset, measured on the whole test images.

  Args:
    spec: the run.
    dataset: the training HR images.
    test: the held-out HR images.
    config: the loop's settings and config.crop (HR crop size).
    mesh: train data-parallel over its devices.
    pretrained: a first-phase run's generator variables, or None.

  Returns:
    The Trainer.
  """
  sr_data.check_crop(config.crop, spec.scale, dataset)
  stream = sr_data.CropStream(dataset, config.crop, config.batch_size, config.seed, mesh)
  phase = {"none": "the PSNR-oriented generator", "gan": "SRGAN", "ragan": "ESRGAN's RaGAN"}
  return trainer.Trainer(
    init=functools.partial(init_state, spec, pretrained=pretrained),
    step=make_train_step(spec, mesh=mesh),
    batches=stream,
    evaluators=[sr_evaluator(spec, test)],
    describe=lambda: describe_spec(spec, dataset, config.crop),
    log_terms=("pixel", "perceptual"),
    summary=f"of {phase[spec.adversarial]} ×{spec.scale} on {len(dataset.images)} {dataset.name} "
    f"images ({config.crop}² crops), batch {config.batch_size}",
  )


def restore(config: dict[str, Any]) -> trainer.Model:
  """A super-resolution run's Model: its generator upscales ("a_to_b") images of any size."""
  generator = models.build(config["generator"])
  data_dir = config.get("flags", {}).get("data_dir")
  splits = functools.cache(lambda: sr_data.load_sr_datasets(config["dataset"], data_dir))
  return trainer.Model(
    datasets=lambda: trainer.Datasets(*splits()), translators=translators(generator)
  )


KIND = trainer.register(trainer.Kind("srgan", restore))
