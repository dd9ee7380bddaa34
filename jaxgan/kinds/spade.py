"""Semantic image synthesis with SPADE (Park et al. 2019, GauGAN): a label map (and noise, or a
style code) to an image, in one compiled step.

    spec = SpadeSpec(generator=models.spade.SPADEGenerator(48, 1, width=16, num_upsamplings=4),
                     discriminator=models.spade.MultiscaleDiscriminator(),
                     g_optimizer=optax.adam(1e-4, 0.0, 0.9), d_optimizer=optax.adam(4e-4, 0.0, 0.9))
    state = init_state(spec, key, batch)   # {"map": [1, B, H, W] int, "x": [1, B, H, W, C]}
    state, metrics = make_train_step(spec)(state, batch, key)

The losses are the authors' (NVlabs/SPADE, pix2pix_model.py), with m the one-hot map, x the
real image, x̂ = G(z, m), and D_k the k-th of the multi-scale discriminators on (m, image):

    L_D = 1/K Σ_k [ E max(0, 1 − D_k(m, x)) + E max(0, 1 + D_k(m, x̂)) ]          (hinge)
    L_G = −1/K Σ_k E D_k(m, x̂)
          + λ_FM/K Σ_k Σ_l mean |D_k^(l)(m, x̂) − D_k^(l)(m, x)|                  (λ_FM = 10)
          + λ_P·perceptual(x̂, x) + λ_KL·KL(q(z|x) ‖ N(0, I))                   (10; 0.05)

D_k^(l) are D_k's intermediate layers (all but the logits), the real side held constant.
KL = −½ Σ (1 + log σ² − μ² − σ²), summed over the batch and the code as in the authors' code.
z is N(0, I) noise, or with a style encoder z = μ + σ·ε of q(z|x) in training and a N(0, I)
draw when sampling (multimodal synthesis). The authors use TTUR: Adam (β1 0, β2 0.9), G 1e-4,
D 4e-4. The step runs G forward once, updates D on its detached output, then pulls the
gradient of G's loss under the updated D back through the same forward (jax.vjp), as
jaxgan.kinds.pix2pix does; the authors' trainer updates G first and then D on a fresh
G(z, m), an order that costs a second forward pass of G.

The "scenes" evaluator measures the held-out digit scenes (jaxgan.data.digit_scenes): the
digits judge reads each painted digit, cropped by its box in the map, as the map's class;
the scene segmenter (jaxgan.scene_segmenter) labels each pixel of the generated canvases,
scored against the map (pixel accuracy and mean IoU, the papers' "FCN score"). A run's
translator renders a user's label map (a PNG of class indices) as a strip of noise draws.

This module registers the kind "spade".
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

from jaxgan import evaluators, judges, models, parallel, plots, scene_segmenter, trainer
from jaxgan.data import digit_scenes, label_maps
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


@dataclasses.dataclass(frozen=True)
class SpadeSpec:
  """A semantic image synthesis run: the networks, their optimizers, the loss weights (see
  the module docstring). encoder: a models.spade.StyleEncoder (trained with G's optimizer
  settings, as the authors train it with G), or None for z ~ N(0, I). perceptual: a
  distance(x, y) → [B] (jaxgan.perceptual), or None."""

  generator: nn.Module
  discriminator: nn.Module
  g_optimizer: optax.GradientTransformation
  d_optimizer: optax.GradientTransformation
  num_classes: int = digit_scenes.NUM_CLASSES
  latent_dim: int = 256
  encoder: nn.Module | None = None
  feature_matching_weight: float = 10.0
  perceptual: Any = None
  perceptual_weight: float = 10.0
  kl_weight: float = 0.05

  def __post_init__(self):
    for name in ("feature_matching_weight", "perceptual_weight", "kl_weight"):
      if getattr(self, name) < 0:
        raise ConfigError(f"the {name.replace('_', ' ')} must be 0 or more")
    if self.num_classes < 2:
      raise ConfigError(f"a label map needs 2 classes or more, got {self.num_classes}")


@flax.struct.dataclass
class SpadeState:
  step: Array
  generator: PlayerState
  discriminator: PlayerState
  encoder: PlayerState | None = None


def kl_divergence(mu: Array, log_variance: Array) -> Array:
  """KL(N(μ, σ²) ‖ N(0, I)) summed over every example and dimension (the authors' KLDLoss)."""
  return -0.5 * jnp.sum(1 + log_variance - mu**2 - jnp.exp(log_variance))


def hinge_discriminator_loss(real: list[Array], fake: list[Array]) -> Array:
  """1/K Σ_k E max(0, 1 − real_k) + E max(0, 1 + fake_k), over the K scales' logits."""
  terms = [
    jnp.mean(jax.nn.relu(1 - r)) + jnp.mean(jax.nn.relu(1 + f))
    for r, f in zip(real, fake, strict=True)
  ]
  return sum(terms) / len(terms)


def hinge_generator_loss(fake: list[Array]) -> Array:
  """−1/K Σ_k E fake_k."""
  return -sum(jnp.mean(f) for f in fake) / len(fake)


def feature_matching_loss(real: list[list[Array]], fake: list[list[Array]]) -> Array:
  """1/K Σ_k Σ_l mean `abs(fake_k^(l) − real_k^(l))` over each scale's layers but the last (the
  logits); the real features held constant (pix2pixHD's discriminator feature matching)."""
  total = 0.0
  for real_layers, fake_layers in zip(real, fake, strict=True):
    for r, f in zip(real_layers[:-1], fake_layers[:-1], strict=True):
      total = total + jnp.mean(jnp.abs(f - jax.lax.stop_gradient(r)))
  return total / len(real)


def init_state(spec: SpadeSpec, key: Array, example_batch) -> SpadeState:
  """Fresh networks and optimizer states, one compiled program.

  Args:
    spec: the run.
    key: the key of the initialization.
    example_batch: {"map", "x"}; only the shapes are read.

  Returns:
    The SpadeState at step 0.
  """
  map_shape, image_shape = example_batch["map"].shape[1:], example_batch["x"].shape[1:]

  def init(key):
    g_key, d_key, e_key = jax.random.split(key, 3)
    m = jnp.zeros((*map_shape, spec.num_classes))
    x = jnp.zeros(image_shape)
    z = jnp.zeros((map_shape[0], spec.latent_dim))
    d_input = jnp.concatenate([m, x], axis=-1)
    encoder = None
    if spec.encoder is not None:
      encoder = init_player(spec.encoder, e_key, x, optimizer=spec.g_optimizer)
    return SpadeState(
      jnp.zeros([], jnp.int32),
      init_player(spec.generator, g_key, z, m, optimizer=spec.g_optimizer),
      init_player(spec.discriminator, d_key, d_input, optimizer=spec.d_optimizer),
      encoder,
    )

  return jax.jit(init)(key)


def style_codes(spec: SpadeSpec, encoder: PlayerState | None, e_params, x: Array, key: Array):
  """The style codes of a training batch: q(z|x)'s reparameterized draw and its KL term with
  an encoder, else N(0, I) noise and 0.

  Args:
    spec: the run.
    encoder: the encoder's PlayerState (None without one).
    e_params: its parameters (what the gradient is taken of).
    x: the real images.
    key: the draw's key.

  Returns:
    (z [B, latent_dim], KL, the encoder's new model state).
  """
  if spec.encoder is None:
    return jax.random.normal(key, (x.shape[0], spec.latent_dim)), jnp.zeros([]), {}
  (mu, log_variance), model_state = apply_model(
    spec.encoder, e_params, encoder.model_state, x, True
  )
  z = mu + jnp.exp(0.5 * log_variance) * jax.random.normal(key, mu.shape)
  return z, kl_divergence(mu, log_variance), model_state


def train_step(spec: SpadeSpec, state: SpadeState, batch, key: Array, mesh=None):
  """One D update, then one update of G (and the style encoder) against the new D.

  Args:
    spec: the run.
    state: the training state.
    batch: {"map": [1, B, H, W] int, "x": [1, B, H, W, C] in [−1, 1]}.
    key: the run's base key; the step folds its counter in (z).
    mesh: unused (the batch's layout comes from the compiled step).

  Returns:
    (the new state, metrics).
  """
  m = jax.nn.one_hot(batch["map"][0], spec.num_classes, dtype=jnp.float32)
  x = batch["x"][0]
  key = jax.random.fold_in(key, state.step)
  g, d, e = state.generator, state.discriminator, state.encoder
  e_params = {} if e is None else e.params

  def generate(g_params, e_params):
    z, kl, e_model_state = style_codes(spec, e, e_params, x, key)
    fake, g_model_state = apply_model(spec.generator, g_params, g.model_state, z, True, m)
    return (fake, kl), (g_model_state, e_model_state)

  (fake, kl), pull_back, (g_model_state, e_model_state) = jax.vjp(
    generate, g.params, e_params, has_aux=True
  )
  real_input = jnp.concatenate([m, x], axis=-1)
  n = x.shape[0]

  def discriminate(params, fake_images):
    both = jnp.concatenate([real_input, jnp.concatenate([m, fake_images], axis=-1)])
    outputs, model_state = apply_model(spec.discriminator, params, d.model_state, both, True)
    real = [[layer[:n] for layer in scale] for scale in outputs]
    return real, [[layer[n:] for layer in scale] for scale in outputs], model_state

  def d_objective(params):
    real, fake_out, model_state = discriminate(params, jax.lax.stop_gradient(fake))
    loss = hinge_discriminator_loss([s[-1] for s in real], [s[-1] for s in fake_out])
    scores = {"d_real": jnp.mean(real[0][-1]), "d_fake": jnp.mean(fake_out[0][-1])}
    return loss, (scores, model_state)

  (d_loss, (metrics, d_model_state)), d_grads = jax.value_and_grad(d_objective, has_aux=True)(
    d.params
  )
  metrics.update(d_loss=d_loss, d_grad_norm=optax.tree.norm(d_grads))
  d = update_player(spec.d_optimizer, d, d_grads, d_model_state)

  def g_objective(fake_images):
    real, fake_out, _ = discriminate(d.params, fake_images)
    terms = {
      "g_loss": hinge_generator_loss([s[-1] for s in fake_out]),
      "feature_matching": feature_matching_loss(real, fake_out),
    }
    total = terms["g_loss"] + spec.feature_matching_weight * terms["feature_matching"]
    if spec.perceptual is not None:
      terms["perceptual"] = jnp.mean(spec.perceptual(fake_images, x))
      total = total + spec.perceptual_weight * terms["perceptual"]
    return total, terms

  (g_total, g_metrics), fake_grad = jax.value_and_grad(g_objective, has_aux=True)(fake)
  g_grads, e_grads = pull_back((fake_grad, jnp.asarray(spec.kl_weight, kl.dtype)))
  metrics.update(g_metrics, g_grad_norm=optax.tree.norm(g_grads))
  metrics["g_total_loss"] = g_total + spec.kl_weight * kl
  g = update_player(spec.g_optimizer, g, g_grads, g_model_state)
  if e is not None:
    metrics["kl"] = kl
    e = update_player(spec.g_optimizer, e, e_grads, e_model_state)
  metrics["finite"] = all_finite(metrics)
  return SpadeState(state.step + 1, g, d, e), metrics


# make_train_step(spec, *, mesh=None, donate=True) -> step(state, batch, key): train_step
# compiled, the batch's example axis split over the mesh (jaxgan.step.compile_spec_step).
make_train_step = functools.partial(compile_spec_step, train_step)


# ---------------------------------------------------------------------------
# The trained generator: label maps to images.
# ---------------------------------------------------------------------------


PAINT_BATCH = 50  # maps per call of G when painting: bounds the memory of its activations


def painter(spec: SpadeSpec):
  """paint(state, maps int [N, H, W], key) → images [N, H, W, C] as numpy: G in eval mode
  (BatchNorm's running averages), z ~ N(0, I), PAINT_BATCH maps at a time (500 maps at once
  took several GB on a CPU: the convolutions' patches of every map)."""

  @jax.jit
  def apply(variables, maps, key):
    m = jax.nn.one_hot(maps, spec.num_classes, dtype=jnp.float32)
    z = jax.random.normal(key, (maps.shape[0], spec.latent_dim))
    return apply_model(spec.generator, variables["params"], variables["model_state"], z, False, m)[
      0
    ]

  def paint(state, maps: np.ndarray, key: Array) -> np.ndarray:
    variables = network_variables(state["generator"])
    return evaluators.in_chunks(
      lambda start, part: apply(variables, jnp.asarray(part), jax.random.fold_in(key, start)),
      PAINT_BATCH,
      maps,
    )

  return paint


def map_from_image(image: np.ndarray, num_classes: int) -> np.ndarray:
  """A label map read as an image (jaxgan.translate's [−1, 1] RGB of a PNG whose pixel values
  are class indices) → int32 [H, W]; a one-line ConfigError for an index beyond the run's."""
  indices = np.rint((np.asarray(image, np.float64)[..., 0] + 1.0) * 127.5).astype(np.int32)
  if indices.max() >= num_classes:
    raise ConfigError(
      f"the label map holds class {indices.max()}, but this run knows {num_classes} classes "
      f"(0 to {num_classes - 1}): give a PNG whose pixel values are class indices"
    )
  return indices


def map_images(maps: np.ndarray) -> np.ndarray:
  """int maps [N, H, W] → what a PNG of their class indices reads as (jaxgan.translate's RGB
  in [−1, 1]); map_from_image inverts it."""
  return np.repeat(np.asarray(maps, np.float32)[..., None], 3, axis=-1) / 127.5 - 1.0


DRAWS_PER_MAP = 4  # the translator's strip: this many noise draws side by side


def translators(spec: SpadeSpec, image_size: int) -> dict[str, trainer.Translate]:
  """{"a_to_b": render, "paint": paint}: label-map images [N, S, S, C] (pixel values = class
  indices, see map_images) → render: [N, S, DRAWS_PER_MAP·S, C], one noise draw per panel
  (the same as the run's noise when the generator has none); paint: one draw [N, S, S, C]
  (what the "scenes" evaluator scores)."""
  paint_maps = painter(spec)

  def maps_of(images) -> np.ndarray:
    images = np.asarray(images)
    if images.shape[1:3] != (image_size, image_size):
      raise ConfigError(
        f"the label map is {images.shape[1]}×{images.shape[2]}; this run paints "
        f"{image_size}×{image_size} maps"
      )
    return np.stack([map_from_image(image, spec.num_classes) for image in images])

  def paint(state, images, key=None) -> np.ndarray:
    return paint_maps(state, maps_of(images), jax.random.key(0) if key is None else key)

  def render(state, images, key=None) -> np.ndarray:
    maps = maps_of(images)
    key = jax.random.key(0) if key is None else key
    draws = [paint_maps(state, maps, k) for k in jax.random.split(key, DRAWS_PER_MAP)]
    return np.concatenate(draws, axis=2)

  return {"a_to_b": render, "paint": paint}


# ---------------------------------------------------------------------------
# Measuring on the held-out digit scenes.
# ---------------------------------------------------------------------------


def box_crops(images: np.ndarray, boxes) -> tuple[np.ndarray, np.ndarray]:
  """Each digit's box cut from its scene: (crops [D, 16, 16, C], their classes [D])."""
  size = digit_scenes.DIGIT
  crops = [
    images[i, b.top : b.top + size, b.left : b.left + size]
    for i, scene in enumerate(boxes)
    for b in scene
  ]
  return np.stack(crops), np.array([b.digit for scene in boxes for b in scene])


def map_colours(maps: np.ndarray, num_classes: int) -> np.ndarray:
  """int maps [N, H, W] → RGB [N, H, W, 3] in [−1, 1]: class 0 black, the others tab10's hues
  (a fixed random palette beyond 11 classes)."""
  import matplotlib

  hues = np.asarray(matplotlib.colormaps["tab10"].colors, np.float32)
  if num_classes > len(hues) + 1:
    hues = np.random.default_rng(0).uniform(0.15, 1.0, (num_classes - 1, 3)).astype(np.float32)
  palette = np.concatenate([np.zeros((1, 3), np.float32), hues[: num_classes - 1]])
  return palette[maps] * 2.0 - 1.0


def as_rgb(images: np.ndarray) -> np.ndarray:
  return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


SCENE_ROWS = 6  # maps shown in scenes_STEP.png


def draw_maps(num_classes: int, paint, maps: np.ndarray, images: np.ndarray, key: Array):
  """The draw function of an evaluator: scenes_STEP.png, each row a held-out label map |
  DRAWS_PER_MAP noise draws | the real image.

  Args:
    num_classes: the maps' classes.
    paint: paint(state, maps int [N, H, W], key) → images.
    maps: held-out label maps [N, H, W].
    images: their real images [N, H, W, C].
    key: the noise draws' key.

  Returns:
    draw(workdir, state, step) → [the PNG's path].
  """

  def draw(workdir, state, step):
    shown = maps[:SCENE_ROWS]
    draws = [as_rgb(paint(state, shown, k)) for k in jax.random.split(key, DRAWS_PER_MAP)]
    columns = [map_colours(shown, num_classes), *draws, as_rgb(images[:SCENE_ROWS])]
    path = evaluators.plot_path(workdir, "scenes", step)
    if parallel.is_primary():
      plots.save_image_grid(
        path,
        np.stack(columns, axis=1),
        title=f"label map | {DRAWS_PER_MAP} noise draws | the real image, step {step}",
      )
    return [path]

  return draw


def scenes_evaluator(model: trainer.Model, settings: evaluators.EvalSettings):
  """The Evaluator "scenes" of a SPADE run (registered: jaxgan.evaluate runs it). On the
  held-out digit scenes (see the module docstring): judge accuracy on the painted digits (and
  on the real scenes, the ceiling), the segmenter's pixel accuracy and mean IoU on generated
  and real canvases, and the diversity of the noise: the mean absolute difference of two draws for
  the same maps, beside two real scenes of each map (every digit swapped for another of its
  class). On a folder's held-out maps, the picture only: the papers score real data with
  their segmenters (DRN on Cityscapes, UperNet on ADE20K), which cannot ship. Both draw
  scenes_STEP.png.

  Args:
    model: the run's Model (its "paint" translator).
    settings: the evaluation's key and scene count.

  Returns:
    The Evaluator.
  """
  translate = model.translators["paint"]

  def paint(state, maps, key):
    return translate(state, map_images(maps), key)

  train, test = model.datasets()
  if not isinstance(train, digit_scenes.Scenes):
    images, maps = test.read(np.arange(min(SCENE_ROWS, len(test.pairs))))
    draw = draw_maps(test.num_classes, paint, maps, images, settings.key)
    return evaluators.Evaluator("scenes", lambda state: {}, draw)
  images, maps, boxes = digit_scenes.held_out()
  n = min(settings.num_samples, len(images))
  images, maps, boxes = images[:n], maps[:n], boxes[:n]
  judge = judges.digits_judge()
  segment = scene_segmenter.segmenter()

  def judge_accuracy(canvases):
    crops, classes = box_crops(canvases, boxes)
    return float(np.mean(judge.predict(crops) == classes))

  repainted = digit_scenes.repaint(digit_scenes.load_scenes()[1], boxes, np.random.default_rng(1))
  real_scores = {
    "real_judge_accuracy": judge_accuracy(images),
    **{f"real_{k}": v for k, v in scene_segmenter.scores(segment(images), maps).items()},
    "real_diversity": float(np.mean(np.abs(images - repainted))),
  }

  def run(state) -> dict[str, Any]:
    generated = paint(state, maps, settings.key)
    again = paint(state, maps, jax.random.fold_in(settings.key, 1))
    segmentation = scene_segmenter.scores(segment(generated), maps)
    results = {
      "judge_accuracy": judge_accuracy(generated),
      **segmentation,
      "diversity": float(np.mean(np.abs(generated - again))),
      **real_scores,
    }
    summary = (
      f"{n} held-out scenes: judge {100 * results['judge_accuracy']:.1f}% of painted digits "
      f"(real {100 * results['real_judge_accuracy']:.1f}%), segmenter pixel accuracy "
      f"{100 * results['pixel_accuracy']:.1f}% / mIoU {results['mean_iou']:.3f} "
      f"(real {100 * results['real_pixel_accuracy']:.1f}% / {results['real_mean_iou']:.3f}), "
      f"two noise draws differ by {results['diversity']:.3f} "
      f"(two real scenes of the map: {results['real_diversity']:.3f})"
    )
    return {"summary": summary, **results}

  draw = draw_maps(digit_scenes.NUM_CLASSES, paint, maps, images, settings.key)
  return evaluators.Evaluator("scenes", run, draw)


evaluators.register("scenes", scenes_evaluator)


# ---------------------------------------------------------------------------
# The trainer, and the kind.
# ---------------------------------------------------------------------------


def describe_spec(spec: SpadeSpec, dataset) -> dict[str, Any]:
  """config.json's entries of the run: what `restore` rebuilds it from."""
  return {
    **trainer.describe_kind(KIND),
    "dataset": dataset.name.split(":")[0],
    "image_shape": [dataset.image_size, dataset.image_size, dataset.channels],
    "num_classes": spec.num_classes,
    "latent_dim": spec.latent_dim,
    "generator": models.describe(spec.generator),
    "discriminator": models.describe(spec.discriminator),
    "encoder": None if spec.encoder is None else models.describe(spec.encoder),
    "evaluators": ["scenes"],
  }


def make_trainer(spec: SpadeSpec, train, test, config, *, mesh=None) -> trainer.Trainer:
  """The Trainer of `spec`: on digit scenes drawn anew each step (measured on the held-out
  scenes), or on a folder's maps and images (jaxgan.data.label_maps; pictures of its test maps).

  Args:
    spec: the run.
    train: digit_scenes.Scenes or a label_maps.MapFolder.
    test: the held-out split of the same (unused for digit scenes: their fixed held-out set).
    config: the loop's settings.
    mesh: train data-parallel over its devices.

  Returns:
    The Trainer.
  """
  settings = evaluators.training_settings(config, mesh=mesh)
  if isinstance(train, digit_scenes.Scenes):
    stream = digit_scenes.SceneStream(train, config.batch_size, config.seed, mesh)
    what = f"digit scenes ({train.image_size}×{train.image_size}, {spec.num_classes} classes)"
  else:
    stream = label_maps.MapFolderStream(train, config.batch_size, config.seed, mesh)
    what = f"{train.name} ({len(train.pairs)} maps, {spec.num_classes} classes)"
  model = trainer.Model(
    datasets=lambda: trainer.Datasets(train, test),
    translators=translators(spec, train.image_size),
  )
  evaluator = scenes_evaluator(model, settings)
  return trainer.Trainer(
    init=functools.partial(init_state, spec),
    step=make_train_step(spec, mesh=mesh),
    batches=stream,
    evaluators=[evaluator],
    describe=lambda: describe_spec(spec, train),
    log_terms=("feature_matching", "perceptual", "kl"),
    summary=f"of {type(spec.generator).__name__} on {what}, batch {config.batch_size}",
  )


def load_datasets(name: str, image_size: int, num_classes: int, data_dir: str | None = None):
  """(train, test): digit_scenes (its digits' splits) or folder (label_maps.load_map_folder).

  Args:
    name: digit_scenes or folder.
    image_size: the folder's serving size.
    num_classes: the folder's classes.
    data_dir: the folder.

  Returns:
    (train, test).
  """
  if name == "digit_scenes":
    return digit_scenes.load_scenes()
  if name == "folder":
    return label_maps.load_map_folder(data_dir, image_size, num_classes)
  raise ConfigError(f"unknown --dataset {name!r}: digit_scenes or folder (--data_dir=DIR)")


def restore(config: dict[str, Any]) -> trainer.Model:
  """A SPADE run's Model: its translator renders label maps ("a_to_b")."""
  spec = SpadeSpec(
    generator=models.build(config["generator"]),
    discriminator=models.build(config["discriminator"]),
    g_optimizer=optax.identity(),
    d_optimizer=optax.identity(),
    num_classes=config["num_classes"],
    latent_dim=config["latent_dim"],
    encoder=None if config.get("encoder") is None else models.build(config["encoder"]),
  )
  size = config["image_shape"][0]
  data_dir = config.get("flags", {}).get("data_dir")
  splits = functools.cache(
    lambda: load_datasets(config["dataset"], size, config["num_classes"], data_dir)
  )
  return trainer.Model(
    datasets=lambda: trainer.Datasets(*splits()), translators=translators(spec, size)
  )


KIND = trainer.register(trainer.Kind("spade", restore))
