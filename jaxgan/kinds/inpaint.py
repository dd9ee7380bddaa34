"""Image completion with global and local discriminators (Iizuka, Simo-Serra & Ishikawa 2017),
in one compiled step.

    spec = InpaintSpec(completion=models.inpainting.CompletionNetwork(image_size=32, channels=1),
                       discriminator=models.inpainting.GlobalLocalDiscriminator(image_size=32),
                       g_optimizer=optax.adam(2e-4, 0.5), d_optimizer=..., image_size=32,
                       fill=(mean pixel,), completion_steps=2000, discriminator_steps=500)
    state = init_state(spec, key, batch)          # batch: {"x": [1, B, S, S, C]}
    state, metrics = make_train_step(spec)(state, batch, key)

Each step draws a hole M per image (jaxgan.masks: rectangles or free-form strokes), gives the
completion network C the image with the hole set to the training set's mean pixel and M as an
extra channel, and composites its output into the known pixels: x̂ = (1 − M)⊙x + M⊙C(x, M).
The losses (their eq. 1–3):

    L_C = mean over the hole's pixels of (C(x, M) − x)²
    L_D = −log D(x, M_d) − log(1 − D(x̂, M))           batch means; M_d a random hole of real x
    L_G = L_C + α·(−log D(x̂, M))                      α = 4·10⁻⁴

D sees the whole image (global) and the S/2 × S/2 patch centred on the hole (local). The
training runs the paper's three phases by the step counter: C alone on L_C for
completion_steps, D alone for discriminator_steps, then both. Departures: the adversarial term
of C is the non-saturating −log D (theirs: log(1 − D)); L_C is normalized by the hole's area;
Adam replaces their Adadelta; no Poisson blending afterwards.

The state keeps the completion network as it was at the end of the first phase
("completion_only"): the evaluator measures the GAN's effect against it on the same holes.

This module registers the kind "inpaint".
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from jaxgan import data, evaluators, judges, masks, models, parallel, plots, trainer
from jaxgan.data import images as image_data
from jaxgan.data import pairs, photos
from jaxgan.errors import ConfigError
from jaxgan.kinds import autoencoding
from jaxgan.step import (
  PlayerState,
  all_finite,
  apply_model,
  compile_spec_step,
  init_player,
  network_variables,
  select_where,
  update_player,
)

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class InpaintSpec:
  """An image-completion run: its networks, optimizers, image size, fill value (the mean pixel
  per channel, in [−1, 1]), hole kind, α and the phases' lengths (see the module docstring)."""

  completion: nn.Module
  discriminator: nn.Module
  g_optimizer: optax.GradientTransformation
  d_optimizer: optax.GradientTransformation
  image_size: int
  fill: tuple[float, ...]
  mask_kind: str = "rectangle"
  alpha: float = 4e-4
  completion_steps: int = 0
  discriminator_steps: int = 0

  def __post_init__(self):
    if self.mask_kind not in masks.MASK_KINDS:
      raise ConfigError(f"unknown --mask {self.mask_kind!r}: choose {', '.join(masks.MASK_KINDS)}")
    if self.completion_steps < 0 or self.discriminator_steps < 0:
      raise ConfigError("--completion_steps and --discriminator_steps must be 0 or more")

  @property
  def patch(self) -> int:
    """The local discriminator's patch side: half the image's (theirs: 128 of 256)."""
    return self.image_size // 2


@flax.struct.dataclass
class InpaintState:
  step: Array
  generator: PlayerState  # the completion network
  discriminator: PlayerState
  completion_only: Any  # {"params", "model_state"} of C at the end of the first phase


def init_state(spec: InpaintSpec, key: Array, example_batch) -> InpaintState:
  """Fresh networks with their optimizer states.

  Args:
    spec: the run.
    key: the key of the initialization.
    example_batch: {"x": [1, B, S, S, C]}; only its shape is read.

  Returns:
    The InpaintState at step 0.
  """
  b, s, _, c = example_batch["x"].shape[1:]

  def init(key):
    g_key, d_key = jax.random.split(key)
    g = init_player(spec.completion, g_key, jnp.zeros((b, s, s, c + 1)), optimizer=spec.g_optimizer)
    example = (jnp.zeros((b, s, s, c)), jnp.zeros((b, spec.patch, spec.patch, c)))
    d = init_player(spec.discriminator, d_key, example, optimizer=spec.d_optimizer)
    return InpaintState(jnp.zeros([], jnp.int32), g, d, network_variables(g))

  return jax.jit(init)(key)


def hole_mse(completed: Array, images: Array, holes: Array) -> Array:
  """L_C: the mean of (completed − images)² over the holes' pixels and channels.

  Args:
    completed: the completion network's outputs [B, S, S, C].
    images: the originals.
    holes: the masks [B, S, S, 1], 1 in the hole.

  Returns:
    The scalar loss.
  """
  squared = holes * (completed - images) ** 2
  return jnp.sum(squared) / (jnp.sum(holes) * images.shape[-1] + 1e-8)


def train_step(spec: InpaintSpec, state: InpaintState, batch, key: Array, mesh=None):
  """One step of the phase the step counter is in (see the module docstring).

  Args:
    spec: the run.
    state: the training state.
    batch: {"x": [1, B, S, S, C]} in [−1, 1].
    key: the run's base key; the step folds its counter in (the holes).
    mesh: unused (the batch's layout comes from the compiled step).

  Returns:
    (the new state, metrics).
  """
  del mesh
  x = batch["x"][0]
  n, size = x.shape[0], spec.image_size
  hole_key, real_key = jax.random.split(jax.random.fold_in(key, state.step))
  holes = masks.draw_masks(spec.mask_kind, hole_key, n, size)
  real_holes = masks.draw_masks(spec.mask_kind, real_key, n, size)
  fill = jnp.asarray(spec.fill, jnp.float32)
  g, d = state.generator, state.discriminator
  first_phase = state.step < spec.completion_steps
  joint = state.step >= spec.completion_steps + spec.discriminator_steps

  def discriminate(params, images, patches):
    return apply_model(spec.discriminator, params, d.model_state, (images, patches), True)

  def g_loss(params):
    out, model_state = apply_model(
      spec.completion, params, g.model_state, masks.masked_input(x, holes, fill), True
    )
    completed = masks.composite(x, out, holes)
    mse = hole_mse(out, x, holes)
    patches = masks.crop_patches(completed, masks.patch_corners(holes, spec.patch), spec.patch)
    adversarial = jnp.mean(jax.nn.softplus(-discriminate(d.params, completed, patches)[0]))
    total = mse + jnp.where(joint, spec.alpha, 0.0) * adversarial
    return total, (model_state, jax.lax.stop_gradient(completed), patches, mse, adversarial)

  (_, aux), grads = jax.value_and_grad(g_loss, has_aux=True)(g.params)
  model_state, completed, fake_patches, mse, adversarial = aux
  new_g = select_where(
    first_phase | joint, update_player(spec.g_optimizer, g, grads, model_state), g
  )

  real_patches = masks.crop_patches(x, masks.patch_corners(real_holes, spec.patch), spec.patch)

  def d_loss(params):
    scores, model_state = discriminate(
      params,
      jnp.concatenate([x, completed]),
      jnp.concatenate([real_patches, jax.lax.stop_gradient(fake_patches)]),
    )
    real, fake = scores[:n], scores[n:]
    loss = jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))
    return loss, (model_state, jnp.mean(jax.nn.sigmoid(real)), jnp.mean(jax.nn.sigmoid(fake)))

  (loss, (model_state, d_real, d_fake)), grads = jax.value_and_grad(d_loss, has_aux=True)(d.params)
  new_d = select_where(~first_phase, update_player(spec.d_optimizer, d, grads, model_state), d)
  end_of_first_phase = state.step == spec.completion_steps - 1
  completion_only = select_where(
    end_of_first_phase, network_variables(new_g), state.completion_only
  )
  metrics = {
    "hole_mse": mse,
    "g_loss": adversarial,
    "d_loss": loss,
    "d_real": d_real,
    "d_fake": d_fake,
    "phase": jnp.where(first_phase, 1.0, jnp.where(joint, 3.0, 2.0)),
  }
  metrics["finite"] = all_finite(metrics)
  return InpaintState(state.step + 1, new_g, new_d, completion_only), metrics


# make_train_step(spec, *, mesh=None, donate=True) -> step(state, batch, key): train_step
# compiled, the batch's example axis split over the mesh (jaxgan.step.compile_spec_step).
make_train_step = functools.partial(compile_spec_step, train_step)


# ---------------------------------------------------------------------------
# Completing held-out images: the translator, the evaluator.
# ---------------------------------------------------------------------------


def completer(spec: InpaintSpec, mesh: Mesh | None = None):
  """(variables {"params", "model_state"}, images [N, S, S, C], holes [N, S, S, 1]) → the
  completed images x̂ as numpy, in eval mode."""
  out_shardings = None if mesh is None else parallel.replicated(mesh)
  fill = jnp.asarray(spec.fill, jnp.float32)

  @functools.partial(jax.jit, out_shardings=out_shardings)
  def apply(variables, images, holes):
    inputs = masks.masked_input(images, holes, fill)
    out = apply_model(spec.completion, variables["params"], variables["model_state"], inputs, False)
    return masks.composite(images, out[0], holes)

  def complete(variables, images, holes) -> np.ndarray:
    return np.asarray(apply(variables, jnp.asarray(images), jnp.asarray(holes)))

  return complete


def translators(spec: InpaintSpec, mesh: Mesh | None = None) -> dict[str, trainer.Translate]:
  """{"a_to_b": fill}: images [N, S, S, C] with their holes as one more channel (1 in the hole;
  `python -m jaxgan.translate --mask=...`), or without it (holes drawn from the key)."""
  complete = completer(spec, mesh)
  channels = len(spec.fill)

  def fill_holes(state, images, key) -> np.ndarray:
    images = np.asarray(images, np.float32)
    if images.shape[-1] == channels + 1:
      images, holes = images[..., :channels], (images[..., channels:] > 0).astype(np.float32)
    else:
      holes = np.asarray(masks.draw_masks(spec.mask_kind, key, len(images), spec.image_size))
    return complete(network_variables(state["generator"]), images, holes)

  return {"a_to_b": fill_holes}


def hole_errors(completed: np.ndarray, images: np.ndarray, holes: np.ndarray) -> dict[str, float]:
  """Mean L1 and PSNR over the holes' pixels, per image, then averaged.

  Args:
    completed: completed images [N, S, S, C] in [−1, 1].
    images: the originals.
    holes: the masks [N, S, S, 1], 1 in the hole.

  Returns:
    {"l1", "psnr"} (PSNR at data range 2).
  """
  area = holes.sum(axis=(1, 2, 3)) * images.shape[-1]
  l1 = (holes * np.abs(completed - images)).sum(axis=(1, 2, 3)) / area
  mse = (holes * (completed - images) ** 2).sum(axis=(1, 2, 3)) / area
  return {
    "l1": float(np.mean(l1)),
    "psnr": float(np.mean(10 * np.log10(4.0 / np.maximum(mse, 1e-12)))),
  }


GRID_COLUMNS = 8


def inpainting_evaluator(spec: InpaintSpec, test, settings: evaluators.EvalSettings):
  """The Evaluator "inpainting" on held-out images with fixed holes (from the evaluation key):
  hole L1 and PSNR of the mean fill, of the network at the end of the completion-only phase
  and of this one; on the digits, the share the digits judge reads as their own class
  (originals, mean fill, completed); inpainting_STEP.png: holes | completion only | completed |
  originals.

  Args:
    spec: the run.
    test: the held-out ImageDataset.
    settings: the evaluation's key and sample count.

  Returns:
    The Evaluator.
  """
  complete = completer(spec, settings.mesh)
  n = min(settings.num_samples, len(test.source))
  images, labels = test.examples(np.arange(n))
  holes = np.asarray(masks.draw_masks(spec.mask_kind, settings.key, n, spec.image_size))
  fill = np.asarray(spec.fill, np.float32)
  mean_filled = images * (1 - holes) + fill * holes
  judge = judges.digits_judge() if test.name == "digits" else None

  def outputs(state) -> dict[str, np.ndarray]:
    runs = {"mean_fill": mean_filled}
    if 0 < spec.completion_steps <= int(state["step"]):  # once the first phase has ended
      runs["completion_only"] = complete(state["completion_only"], images, holes)
    runs["completed"] = complete(network_variables(state["generator"]), images, holes)
    return runs

  def run(state) -> dict[str, Any]:
    results: dict[str, Any] = {"held_out_images": n}
    parts = []
    runs = outputs(state)
    for name, completed in runs.items():
      errors = hole_errors(completed, images, holes)
      results[f"{name}_hole_l1"], results[f"{name}_hole_psnr"] = errors["l1"], errors["psnr"]
      parts.append(f"{name} {errors['l1']:.4f} / {errors['psnr']:.2f} dB")
    summary = f"{n} held-out images, hole L1 / PSNR: " + ", ".join(parts)
    if judge is not None:
      agreement = {
        name: float(np.mean(judge.predict(x) == labels))
        for name, x in {"originals": images, **runs}.items()
      }
      results.update({f"judge_{k}": v for k, v in agreement.items()})
      summary += "; the digits judge reads their own class in " + ", ".join(
        f"{k} {100 * v:.1f}%" for k, v in agreement.items()
      )
    return {"summary": summary, **results}

  def draw(workdir, state, step):
    shown = np.s_[:GRID_COLUMNS]
    runs = outputs(state)
    rows = [runs.pop("mean_fill")[shown], *(x[shown] for x in runs.values()), images[shown]]
    names = ["holes (mean fill)", *runs, "held out"]
    path = evaluators.plot_path(workdir, "inpainting", step)
    if parallel.is_primary():
      plots.save_image_grid(
        path, np.stack(rows), row_labels=names, title=f"{test.name}, step {step}"
      )
    return [path]

  return evaluators.Evaluator("inpainting", run, draw)


# ---------------------------------------------------------------------------
# The data, the trainer, the kind.
# ---------------------------------------------------------------------------

PHOTO_CROPS = {"train": 4000, "test": 200}  # fixed crops of the shipped photos


def load_splits(name: str, image_size: int, data_dir: str | None = None):
  """(training, held-out) ImageDatasets: photos (PHOTO_CROPS fixed crops of the shipped
  training photos, and of the held-out ones), folder (DIR/train and DIR/test images, center
  cropped and resized), or what jaxgan.kinds.autoencoding.load_splits serves (the digits' 80%
  and 20%, faces100, TFDS train/test).

  Args:
    name: photos, folder, digits, faces100 or a TFDS image dataset.
    image_size: the image side.
    data_dir: the folder, or where TFDS datasets are prepared.

  Returns:
    (train, test).
  """
  if name == "folder":
    if not data_dir:
      raise ConfigError("--dataset=folder needs --data_dir=DIR with DIR/train and DIR/test images")
    return tuple(
      image_data.ImageDataset(
        "folder", pairs.FolderSource(pairs.image_files(os.path.join(data_dir, s))), image_size, 3, 0
      )
      for s in ("train", "test")
    )
  if name == "photos":
    return tuple(
      photos.photo_crops(split, image_size, PHOTO_CROPS[split]) for split in ("train", "test")
    )
  return autoencoding.load_splits(name, image_size, data_dir)


def mean_pixel(dataset, limit: int = 2000) -> tuple[float, ...]:
  """The training images' mean pixel per channel, in [−1, 1] (the paper's hole fill)."""
  images = dataset.examples(np.arange(min(limit, len(dataset.source))))[0]
  return tuple(float(v) for v in images.mean(axis=(0, 1, 2)))


def describe_spec(spec: InpaintSpec, dataset, names) -> dict[str, Any]:
  """config.json's entries of the run: what `restore` rebuilds it from.

  Args:
    spec: the run.
    dataset: its training images.
    names: its evaluators.

  Returns:
    The entries.
  """
  return {
    **trainer.describe_kind(KIND),
    "dataset": dataset.name,
    "image_shape": [spec.image_size, spec.image_size, dataset.channels],
    "channels": [dataset.channels, dataset.channels],
    "completion": models.describe(spec.completion),
    "discriminator": models.describe(spec.discriminator),
    "fill": list(spec.fill),
    "mask_kind": spec.mask_kind,
    "completion_steps": spec.completion_steps,
    "evaluators": names,
  }


def make_trainer(spec: InpaintSpec, dataset, test, config, *, mesh=None) -> trainer.Trainer:
  """The Trainer of `spec` on dataset, measured on test's images.

  Args:
    spec: the run.
    dataset: the training ImageDataset.
    test: the held-out one.
    config: the loop's settings.
    mesh: train data-parallel over its devices.

  Returns:
    The Trainer.
  """
  stream = data.make_stream(dataset, config.batch_size, 1, config.seed, mesh)
  settings = evaluators.training_settings(config, "none", mesh)
  return trainer.Trainer(
    init=functools.partial(init_state, spec),
    step=make_train_step(spec, mesh=mesh),
    batches=stream,
    evaluators=[inpainting_evaluator(spec, test, settings)],
    describe=lambda: describe_spec(spec, dataset, ["inpainting"]),
    log_terms=("hole_mse", "phase"),
    summary=f"of image completion on {dataset.name} ({spec.mask_kind} holes; phases: "
    f"{spec.completion_steps} completion, {spec.discriminator_steps} D, then joint), "
    f"batch {config.batch_size}",
  )


def restore(config: dict[str, Any]) -> trainer.Model:
  """An inpainting run's Model: its completion network fills holes ("a_to_b")."""
  spec = InpaintSpec(
    completion=models.build(config["completion"]),
    discriminator=models.build(config["discriminator"]),
    g_optimizer=optax.identity(),
    d_optimizer=optax.identity(),
    image_size=config["image_shape"][0],
    fill=tuple(config["fill"]),
    mask_kind=config["mask_kind"],
    completion_steps=config["completion_steps"],
  )
  size, data_dir = spec.image_size, config.get("flags", {}).get("data_dir")
  splits = functools.cache(lambda: load_splits(config["dataset"], size, data_dir))
  return trainer.Model(
    datasets=lambda: trainer.Datasets(*splits()), translators=translators(spec), image_size=size
  )


KIND = trainer.register(trainer.Kind("inpaint", restore))
