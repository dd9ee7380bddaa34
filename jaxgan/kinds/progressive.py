"""Progressive growing (Karras et al. 2018, "Progressive Growing of GANs"): a GAN whose
networks start at 4×4 and grow to the data's size, each new level faded in.

    schedule = make_schedule(image_size=32, batch_sizes=(64, 64, 32, 32),
                             fade_kimg=600, stable_kimg=600)
    spec = ProgressiveSpec(gan=gan_spec, schedule=schedule)      # G, D: jaxgan.models.progan
    trainer = make_trainer(spec, dataset, loop_config)           # for jaxgan.loop.run_training
    builders.run_experiment("progan", config, make_spec, make_trainer)   # an experiment's main

The schedule is a list of levels (4×4, 8×8, ..., the data's size). The first is trained
for stable_kimg thousand images; each next one fades in over fade_kimg (α from 0 to 1,
its own batch size), then is stabilized for stable_kimg (α = 1); the last trains until the
run ends. Phase lengths are counted in images, as the authors' train.py does, and turned
into steps with each level's batch size.

One compiled program per level, not per step: the stream hands each step the reals of
its level ([n_critic, B_r, r, r, C], average-pooled from the data's size on the host), the
batch's shape selects the level's program, and inside it α is a traced function of the
step. The state has every level's parameters from the start (a fixed pytree, so a
checkpoint restores at any step); a level's program touches only its layers, and Adam
leaves the others where they are (zero gradients, zero moments). The state's "progress"
collection, in both players' model state, holds α and the resolution of the last step:
the networks read α from it, and `python -m jaxgan.sample` reads the resolution to draw
at the level the run reached (up-sampled to the data's size). Resuming at any step is
exact: level, α and the real batch are functions of the step.

Also as the authors' code: the reals blended like G's output during a fade,
(1 − α)·upsample(avgpool(x)) + α·x; the optimizers' states reset when a fade-in or a
stabilization starts (reset_opt_for_new_lod).

G and D are any modules with a `resolution` field (the level they run at) that read α
from the "progress" collection, as jaxgan.models.progan's; the rest is a GANSpec: loss,
regularizers, optimizers, EMA (the paper's WGAN-GP with drift: experiments/progan.py).
This module registers the kind "progressive".
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jaxgan import evaluators, models, parallel, trainer
from jaxgan.data.images import ImageStream
from jaxgan.errors import ConfigError
from jaxgan.kinds import gan
from jaxgan.kinds.gan_spec import GANSpec, GANState
from jaxgan.latent import LatentSpace
from jaxgan.models.progan import PROGRESS, blend
from jaxgan.models.resample import average_pool2d, nearest_upsample2d
from jaxgan.models.stylegan2 import resolutions
from jaxgan.step import apply_model, compile_spec_step, select_where

Array = jax.Array


# ---------------------------------------------------------------------------
# The schedule.
# ---------------------------------------------------------------------------


class Level(NamedTuple):
  """One resolution of the growth: its batch size and its steps [start, end).

  The steps [start, start + fade_steps) fade it in (none at the first level); the
  stable_steps after them stabilize it; stable_steps is None at the last level, which
  trains until the run ends.
  """

  resolution: int
  batch_size: int
  start: int
  fade_steps: int
  stable_steps: int | None

  @property
  def stable_start(self) -> int:
    return self.start + self.fade_steps

  @property
  def end(self) -> float:
    return math.inf if self.stable_steps is None else self.stable_start + self.stable_steps


def make_schedule(
  image_size: int, batch_sizes: Sequence[int], fade_kimg: float, stable_kimg: float
) -> tuple[Level, ...]:
  """The levels from 4×4 to image_size.

  Args:
    image_size: the data's size, a power of two ≥ 4.
    batch_sizes: the batch size of each level from 4×4 up; the last one repeats for the
      levels after it.
    fade_kimg: thousands of images over which each level after the first fades in.
    stable_kimg: thousands of images each level (but the last) is stabilized for.

  Returns:
    The levels, in order.
  """
  if not batch_sizes or min(batch_sizes) < 1:
    raise ConfigError(f"every level needs a positive batch size, got {list(batch_sizes)}")
  if fade_kimg < 0 or stable_kimg <= 0:
    raise ConfigError(
      f"a level is faded in over fade_kimg ≥ 0 and stabilized over stable_kimg > 0 thousand "
      f"images, got {fade_kimg} and {stable_kimg}"
    )
  sizes = resolutions(image_size)
  levels, start = [], 0
  for i, resolution in enumerate(sizes):
    batch = batch_sizes[min(i, len(batch_sizes) - 1)]
    fade = 0 if i == 0 else math.ceil(fade_kimg * 1000 / batch)
    stable = None if i == len(sizes) - 1 else math.ceil(stable_kimg * 1000 / batch)
    levels.append(Level(resolution, batch, start, fade, stable))
    start += fade + (stable or 0)
  return tuple(levels)


def level_at(schedule: Sequence[Level], step: int) -> Level:
  """The level that trains at `step`."""
  return next(level for level in schedule if step < level.end)


def level_of(schedule: Sequence[Level], resolution: int) -> Level:
  """The level of `resolution`, or a ConfigError."""
  for level in schedule:
    if level.resolution == resolution:
      return level
  known = ", ".join(str(level.resolution) for level in schedule)
  raise ConfigError(
    f"a batch of {resolution}×{resolution} images is no level of the growth ({known})"
  )


def fade_alpha(level: Level, step: Array) -> Array:
  """α at `step`: from 0 at the level's first step to 1 when its stabilization starts
  (1 throughout at a level with no fade-in)."""
  if level.fade_steps == 0:
    return jnp.ones([], jnp.float32)
  return jnp.clip((step - level.start) / level.fade_steps, 0.0, 1.0).astype(jnp.float32)


def blend_reals(x: Array, alpha: Array) -> Array:
  """The reals faded like G's output: (1 − α)·upsample(avgpool(x)) + α·x, on [..., H, W, C]."""
  flat = x.reshape(-1, *x.shape[-3:])
  low = nearest_upsample2d(average_pool2d(flat)).reshape(x.shape)
  return blend(low, x, alpha)


# ---------------------------------------------------------------------------
# The spec, the state and the step.
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProgressiveSpec:
  """A growing GAN: a GANSpec at the data's size and the schedule of its growth.

  Attributes:
    gan: the GAN; its generator and discriminator have a `resolution` field and read α from
      the "progress" collection (jaxgan.models.progan).
    schedule: make_schedule's levels.
    reset_optimizers: reset both optimizers' states when a fade-in or a stabilization starts.
  """

  gan: GANSpec
  schedule: tuple[Level, ...]
  reset_optimizers: bool = True

  def at(self, resolution: int) -> GANSpec:
    """The GANSpec of one level: its networks running at `resolution`."""
    return dataclasses.replace(
      self.gan,
      generator=self.gan.generator.clone(resolution=resolution),
      discriminator=self.gan.discriminator.clone(resolution=resolution),
    )


def with_progress(state: GANState, resolution: int, alpha: Array) -> GANState:
  """The state with {"alpha", "resolution"} written into both players' "progress".

  Args:
    state: the training state.
    resolution: the level being trained.
    alpha: its fade-in α.

  Returns:
    The state, its parameters and optimizer states untouched.
  """
  progress = {"alpha": jnp.asarray(alpha, jnp.float32), "resolution": jnp.int32(resolution)}

  def put(player):
    return player.replace(model_state={**player.model_state, PROGRESS: progress})

  return state.replace(generator=put(state.generator), discriminator=put(state.discriminator))


def init_state(spec: ProgressiveSpec, key: Array, example_batch: dict[str, Array]) -> GANState:
  """Every level's parameters and the optimizers' states, at the first level's progress.

  Args:
    spec: the growing GAN.
    key: the key of the initialization.
    example_batch: a batch of any level; only its shapes are read.

  Returns:
    The GANState at step 0.
  """
  x = example_batch["x"]
  size = spec.schedule[-1].resolution
  full = {
    **example_batch,
    "x": jax.ShapeDtypeStruct((*x.shape[:-3], size, size, x.shape[-1]), x.dtype),
  }
  first = spec.schedule[0]
  return with_progress(gan.init_state(spec.gan, key, full), first.resolution, fade_alpha(first, 0))


def _reset_optimizers(spec: GANSpec, state: GANState, level: Level) -> GANState:
  """Both players' optimizer states fresh on the first step of the level's fade-in and of
  its stabilization (unchanged on every other step)."""
  starts = jnp.asarray(sorted({level.start, level.stable_start}))
  reset = jnp.any(state.step == starts)

  def fresh(player, optimizer):
    new = optimizer.init(player.params)
    opt_state = select_where(reset, new, player.opt_state)
    return player.replace(opt_state=opt_state)

  return state.replace(
    generator=fresh(state.generator, spec.generator_optimizer),
    discriminator=fresh(state.discriminator, spec.discriminator_optimizer),
  )


def train_step(
  spec: ProgressiveSpec,
  state: GANState,
  batch: dict[str, Array],
  key: Array,
  mesh: Mesh | None = None,
):
  """One GAN step at the batch's level, with α a function of the step.

  Args:
    spec: the growing GAN.
    state: the training state.
    batch: {"x": [n_critic, B, r, r, C]}: r, its resolution, selects the level.
    key: the run's base key.
    mesh: run data-parallel over its devices.

  Returns:
    (the new state, metrics: the GAN's, "alpha" and "resolution").
  """
  level = level_of(spec.schedule, batch["x"].shape[-2])
  level_spec = spec.at(level.resolution)
  alpha = fade_alpha(level, state.step)
  if spec.reset_optimizers:
    state = _reset_optimizers(level_spec, state, level)
  state = with_progress(state, level.resolution, alpha)
  if level.fade_steps:
    batch = {**batch, "x": blend_reals(batch["x"], alpha)}
  state, metrics = gan.train_step(level_spec, state, batch, key, mesh)
  metrics.update(alpha=alpha, resolution=jnp.float32(level.resolution))
  return state, metrics


def make_train_step(spec: ProgressiveSpec, *, mesh: Mesh | None = None, donate: bool = True):
  """`train_step` jit-compiled once per level (jaxgan.step.compile_spec_step).

  Args:
    spec: the growing GAN.
    mesh: run data-parallel over its devices.
    donate: hand the old state's buffers to the new state.

  Returns:
    step(state, batch, key) -> (state, metrics); a batch of a resolution outside the
    schedule is a ConfigError, a trace beyond one per level a RecompilationError.
  """
  return compile_spec_step(
    train_step, spec, mesh=mesh, donate=donate, max_traces=len(spec.schedule)
  )


# ---------------------------------------------------------------------------
# The data.
# ---------------------------------------------------------------------------


class ProgressiveStream(ImageStream):
  """Real batches of each step's level: {"x": [n_critic, B_r, r, r, C], "label"}.

  The images walk the run's shuffled sequence (jaxgan.data.images.example_indices) in
  order across levels, whatever their batch sizes, and are average-pooled on the host
  from the data's size to the level's.
  """

  def __init__(self, dataset, schedule: Sequence[Level], n_critic: int, seed: int, mesh=None):
    super().__init__(dataset, schedule[0].batch_size, n_critic, seed, mesh)
    self.schedule = tuple(schedule)

  def first_example(self, step: int) -> int:
    """The position in the shuffled sequence of step's first example."""
    position = 0
    for level in self.schedule:
      steps = min(step, level.end) - level.start
      position += max(steps, 0) * level.batch_size * self.n_critic
    return position

  def local_batch_at(self, step: int) -> dict[str, np.ndarray]:
    level = level_at(self.schedule, step)
    batch = self.local_batch(self.first_example(step), level.batch_size)
    x, r = batch["x"], level.resolution
    f = x.shape[-2] // r
    pooled = x.reshape(*x.shape[:2], r, f, r, f, x.shape[-1]).mean(axis=(3, 5), dtype=np.float32)
    return {**batch, "x": pooled}


# ---------------------------------------------------------------------------
# The trainer, and the kind: a run's generator from its config.json.
# ---------------------------------------------------------------------------


def generator_view(
  G: nn.Module, space: LatentSpace, image_size: int, mesh: Mesh | None = None
) -> trainer.Generator:
  """The trainer.Generator of a growing GAN: G at the level the state reached (its
  "progress"), with its α, the images up-sampled (nearest) to the data's size.

  Args:
    G: the generator at the data's size (it has a `resolution` field).
    space: its latent space.
    image_size: the data's size.
    mesh: the devices G runs on; the outputs come back replicated.

  Returns:
    The Generator (one compiled program per level it is asked to draw at).
  """
  out_shardings = None if mesh is None else parallel.replicated(mesh)

  @functools.cache
  def generate_at(resolution: int):
    G_r = G.clone(resolution=resolution)

    @functools.partial(jax.jit, out_shardings=out_shardings)
    def generate_with(params, model_state, z, labels):
      images = apply_model(G_r, params, model_state, z, False, labels)[0]
      return nearest_upsample2d(images, image_size // resolution)

    return generate_with

  def generate(state, latent) -> np.ndarray:
    params, model_state = gan.sampling_variables(state)
    resolution = int(np.asarray(model_state[PROGRESS]["resolution"]))
    return np.asarray(generate_at(resolution)(params, model_state, latent.z, latent.labels))

  return trainer.Generator(space, generate)


def make_trainer(
  spec: ProgressiveSpec,
  dataset,
  config,
  *,
  mesh: Mesh | None = None,
  fid_features: str = "auto",
  evaluator_names: Sequence[str] | None = None,
) -> trainer.Trainer:
  """The Trainer of a growing GAN on an image dataset, for jaxgan.loop.run_training.

  Args:
    spec: the growing GAN.
    dataset: an ImageDataset at the schedule's last resolution.
    config: the loop's settings (a jaxgan.config.LoopConfig): seed, num_eval_samples.
    mesh: train data-parallel over its devices (every level's batch divides over them).
    fid_features: the feature network of the "features" evaluator (jaxgan.features).
    evaluator_names: the evaluators (jaxgan.evaluators); default: those for the data.

  Returns:
    The Trainer.
  """
  if spec.gan.n_critic_from:
    raise ConfigError(
      "--n_critic_from: a growing GAN's phases are its levels, with one n_critic: drop it"
    )
  if dataset.image_size != spec.schedule[-1].resolution:
    raise ConfigError(
      f"the growth ends at {spec.schedule[-1].resolution}×{spec.schedule[-1].resolution} "
      f"but {dataset.name} is served at {dataset.image_size}×{dataset.image_size}"
    )
  if mesh is not None:
    for level in spec.schedule:
      parallel.check_batch_size(level.batch_size, mesh)
  stream = ProgressiveStream(dataset, spec.schedule, spec.gan.n_critic, config.seed, mesh)
  view = generator_view(spec.gan.generator, spec.gan.latent_space, dataset.image_size, mesh)
  model = trainer.Model(datasets=lambda: trainer.Datasets(dataset), generator=view)
  names = list(evaluator_names or evaluators.default_names(model))

  def describe() -> dict[str, Any]:
    return {
      **trainer.describe_kind(KIND),
      **gan.describe_spec(spec.gan, dataset, names),
      "schedule": [level._asdict() for level in spec.schedule],
    }

  regularizers = (*spec.gan.discriminator_regularizers, *spec.gan.generator_regularizers)
  growth = "→".join(str(level.resolution) for level in spec.schedule)
  batches = ",".join(str(level.batch_size) for level in spec.schedule)
  return trainer.Trainer(
    init=functools.partial(init_state, spec),
    step=make_train_step(spec, mesh=mesh),
    batches=stream,
    evaluators=evaluators.for_training(names, model, config, fid_features=fid_features, mesh=mesh),
    describe=describe,
    log_terms=["resolution", "alpha", *(r.name for r in regularizers)],
    summary=f"on {dataset.name}, growing {growth} with batches {batches}",
  )


def restore(config: dict[str, Any]) -> trainer.Model:
  """A growing GAN run's Model from its config.json: G at the level its state reached."""
  space = LatentSpace.from_json(config["latent_space"])
  dataset = functools.cache(lambda: gan.run_dataset(config))
  view = generator_view(models.build(config["generator"]), space, config["image_shape"][0])
  return trainer.Model(datasets=lambda: trainer.Datasets(dataset()), generator=view)


KIND = trainer.register(trainer.Kind("progressive", restore))
