"""The GAN as a value: its spec, its training state, the regularizers it adds, and the batches
its step takes.

    spec = GANSpec(generator=G, discriminator=D, latent_dim=64, loss=loss_pair("hinge"),
                   generator_optimizer=..., discriminator_optimizer=...,
                   discriminator_regularizers=(Regularizer("r1", 10.0, r1),))
    check_batch(spec, {"x": real})        # a ConfigError naming what the step cannot take

A GANSpec is frozen: everything that defines a training run and nothing that
changes during it. What changes lives in the GANState, a pytree checkpointed
as is. How the GAN trains is jaxgan.kinds.gan (which also exports these names).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxgan import optim, precision
from jaxgan.augment import Augmentation
from jaxgan.errors import ConfigError
from jaxgan.latent import Latent, LatentSpace
from jaxgan.loss_pairs import LossPair, Outputs
from jaxgan.step import (
  PlayerState,
)

Array = jax.Array


# ---------------------------------------------------------------------------
# Regularizers: weighted terms added to one player's objective.
# ---------------------------------------------------------------------------


class RegularizerInputs(NamedTuple):
  """What a regularizer may read.

  d_fn maps a batch to D's per-example scores at the current D parameters
  (for a conditional D, under the real batch's labels); real_out and
  fake_out are D's output dicts (real_out is None in the generator update
  unless the loss reads it; both are None in a lazy update); latent is what
  the fakes were generated from; params and model_state are the regularized
  player's parameters and other variables; key is fresh for every term and
  every update; state is the regularizer's own state (Regularizer.init), () for
  a stateless one.
  """

  d_fn: Callable[[Array], Array]
  real: Array
  fake: Array
  params: Any
  key: Array
  real_out: Outputs | None = None
  fake_out: Outputs | None = None
  labels: Array | None = None
  latent: Latent | None = None
  model_state: Any = None
  state: Any = ()


class Regularizer(NamedTuple):
  """weight · fn(inputs), added to a player's loss and logged as metrics[name] (unweighted).

  every = k > 1 makes it lazy (StyleGAN2 §4 / Appendix B, "lazy regularization"): on every
  k-th training step, after the player's main update, a separate optimizer update on
  k · weight · fn(inputs) alone, inside the same compiled step (lax.cond). Give that
  player's Adam the lazy learning rate and betas (jaxgan.optim.lazy_adam), as the paper does.

  init() → the regularizer's own state (e.g. the path-length mean): then fn returns
  (value, new state), reads the state from inputs.state, and the state lives in
  GANState.regularizer_state[name], checkpointed with the rest.
  """

  name: str
  weight: float
  fn: Callable[[RegularizerInputs], Any]
  every: int = 1
  init: Callable[[], Any] | None = None


@dataclasses.dataclass(frozen=True)
class GANSpec:
  """Everything that defines a GAN's training, and nothing that changes during it.

  num_classes > 0 makes G class-conditional (the batch must carry "label");
  label_to_discriminator also gives D the labels (cGAN, projection D; not
  ACGAN, whose D predicts them). categorical_codes and continuous_codes are
  InfoGAN's latent codes, appended to G's noise. augment(images, key) transforms
  every input of D, in D's updates and in G's (jaxgan.augment.diff_augment:
  DiffAugment, Zhao et al. 2020); G's gradient flows through it. An Augmentation
  (jaxgan.ada: ADA) also keeps a state, GANState.augment_state, updated every step from
  D's scores of the augmented reals. accumulate = k computes every D and G update's
  gradient from k micro-batches of B/k in turn (jaxgan.step.accumulated_gradients): the
  update of a batch of B at the activation memory of B/k. standing_statistics =
  (n, b): G samples with BatchNorm statistics recomputed over n batches of b draws
  (BigGAN's standing statistics, jaxgan.models.standing_stats), in training's
  evaluations and when the run is restored; () samples with the running averages.
  n_critic_from = ((s, n), ...) changes the number of critic updates during training: n per
  step from step s on (another compiled program, fed batches [n, B, ...]; the state is the
  same). The critic's learning-rate schedule should then count steps, not its updates
  (step_of_critic_update; jaxgan.builders does).
  """

  generator: nn.Module
  discriminator: nn.Module
  latent_dim: int
  loss: LossPair
  generator_optimizer: optax.GradientTransformation
  discriminator_optimizer: optax.GradientTransformation
  discriminator_regularizers: Sequence[Regularizer] = ()
  generator_regularizers: Sequence[Regularizer] = ()
  n_critic: int = 1
  n_critic_from: tuple[tuple[int, int], ...] = ()  # (first step, n_critic) of later phases
  ema_decay: float | None = None
  ema_warmup: bool = False
  ema_start: int = 0  # G updates before the EMA starts averaging (it copies G until then)
  num_classes: int = 0
  label_to_discriminator: bool = False
  categorical_codes: Sequence[int] = ()
  continuous_codes: int = 0
  unroll_steps: int = 0  # Unrolled GAN: G's loss against D after this many look-ahead steps
  augment: Callable[[Array, Array], Array] | Augmentation | None = None  # of D's inputs
  accumulate: int = 1  # micro-batches per update (gradient accumulation), dividing the batch
  standing_statistics: tuple[int, int] | tuple[()] = ()  # (batches, batch size) before sampling

  def __post_init__(self):
    if self.unroll_steps < 0:
      raise ConfigError(f"unroll_steps must be 0 or more, got {self.unroll_steps}")
    if self.standing_statistics and min(self.standing_statistics) < 1:
      raise ConfigError(
        f"standing_statistics is (batches, batch size), both ≥ 1, got {self.standing_statistics}"
      )
    if self.accumulate < 1:
      raise ConfigError(f"accumulate must be at least 1, got {self.accumulate}")
    if self.n_critic < 1:
      raise ConfigError(f"n_critic must be at least 1, got {self.n_critic}")
    check_critic_phases(self.n_critic_from, "n_critic_from")
    if self.latent_dim < 1:
      raise ConfigError(f"latent_dim must be at least 1, got {self.latent_dim}")
    if self.label_to_discriminator and not self.num_classes:
      raise ConfigError("label_to_discriminator needs num_classes > 0")
    # Each regularizer's value is logged under its name, so names must not collide
    # within or across the two players.
    names = [r.name for r in (*self.discriminator_regularizers, *self.generator_regularizers)]
    if len(set(names)) != len(names):
      raise ConfigError(f"regularizer names must be unique across both players, got {names}")
    for reg in (*self.discriminator_regularizers, *self.generator_regularizers):
      if reg.every < 1:
        raise ConfigError(f"regularizer {reg.name}: every must be 1 or more, got {reg.every}")

  def computing_in(self, compute_dtype: str) -> GANSpec:
    """This spec with G and D computing in the dtype called compute_dtype (float32: the
    networks themselves; bfloat16: jaxgan.precision.ComputeIn)."""
    return dataclasses.replace(
      self,
      generator=precision.compute_in(self.generator, compute_dtype),
      discriminator=precision.compute_in(self.discriminator, compute_dtype),
    )

  @property
  def latent_space(self) -> LatentSpace:
    return LatentSpace(
      self.latent_dim, self.num_classes, tuple(self.categorical_codes), self.continuous_codes
    )


def check_critic_phases(n_critic_from: Sequence[tuple[int, int]], name: str) -> None:
  """A ConfigError, naming the setting `name`, unless the later phases' (first step, n_critic)
  pairs start after step 0, in increasing order, with at least one critic update each."""
  starts = [start for start, _ in n_critic_from]
  if any(start < 1 for start in starts) or starts != sorted(set(starts)):
    raise ConfigError(
      f"{name}'s phases must start at increasing steps after 0, got {list(n_critic_from)}"
    )
  for start, count in n_critic_from:
    if count < 1:
      raise ConfigError(f"{name}: the phase at step {start} has n_critic {count} < 1")


def critic_schedule(n_critic: int, n_critic_from: Sequence[tuple[int, int]]):
  """[(first step, n_critic, critic updates before it)] of every phase, the first at step 0."""
  phases, updates, previous = [(0, n_critic, 0)], 0, (0, n_critic)
  for start, count in n_critic_from:
    updates += (start - previous[0]) * previous[1]
    phases.append((start, count, updates))
    previous = (start, count)
  return phases


def step_of_critic_update(
  n_critic: int, n_critic_from: Sequence[tuple[int, int]], count: Array
) -> Array:
  """The training step, fractional, at which the critic makes its update number `count`.

  With n_critic updates per step throughout, count / n_critic. With later phases (first step
  s_i, n_i, u_i updates before s_i), s_i + (count − u_i) / n_i in the phase the update falls
  in: the step a learning-rate schedule of the steps reads for the critic (jaxgan.builders).

  Args:
    n_critic: the critic's updates per step from step 0.
    n_critic_from: the later phases' (first step, n_critic) pairs.
    count: the update's number, from 0 (an integer array, traced in an optimizer).

  Returns:
    The step, a float array of count's shape.
  """
  phases = critic_schedule(n_critic, n_critic_from)
  step = count / n_critic
  for start, n, updates_before in phases[1:]:
    step = jnp.where(count >= updates_before, start + (count - updates_before) / n, step)
  return step


@flax.struct.dataclass
class GANState:
  """The whole training state: a pytree, checkpointed as is.

  loss_state is the adversarial loss's own state (BEGAN's k_t), () for most;
  regularizer_state holds each stateful regularizer's state by name ({} for most);
  augment_state the state of an adaptive augmentation (ADA's p), {} without one.
  """

  step: Array
  generator: PlayerState
  discriminator: PlayerState
  generator_ema: optim.EmaState | None
  loss_state: Any = ()
  regularizer_state: Any = dataclasses.field(default_factory=dict)
  augment_state: Any = dataclasses.field(default_factory=dict)


def check_batch(spec: GANSpec, batch: dict[str, Array]) -> None:
  """A ConfigError naming what is wrong with a batch the step cannot take.

  A batch is {"x": [n_critic, B, ...example shape] floats} and, for a
  class-conditional spec, {"label": [n_critic, B] integers}. Checked on shapes
  only, when the step is traced: nothing per step.
  """
  if not isinstance(batch, Mapping) or "x" not in batch:
    got = sorted(batch) if isinstance(batch, Mapping) else type(batch).__name__
    raise ConfigError(
      f"a batch is a dict with the real examples under 'x' ([n_critic, B, ...]), got {got}"
    )
  x = batch["x"]
  if x.ndim < 2 or x.shape[0] != spec.n_critic:
    raise ConfigError(
      f"batch['x'] must have a leading n_critic={spec.n_critic} axis, got shape "
      f"{tuple(x.shape)}: one batch of B examples per critic update, [n_critic, B, ...]"
    )
  if x.shape[1] % spec.accumulate:
    raise ConfigError(
      f"--accumulate={spec.accumulate} does not divide the batch of {x.shape[1]}: choose a "
      "batch size that is a multiple of it (micro-batches of batch_size/accumulate)"
    )
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise ConfigError(
      f"batch['x'] holds {x.dtype}: give the real examples as floats (jaxgan.data scales "
      "images to [-1, 1])"
    )
  if spec.num_classes:
    labels = batch.get("label")
    if labels is None:
      raise ConfigError("a class-conditional GAN needs batches with labels ('label')")
    if tuple(labels.shape) != tuple(x.shape[:2]) or not jnp.issubdtype(labels.dtype, jnp.integer):
      raise ConfigError(
        f"batch['label'] must be integers of shape {tuple(x.shape[:2])} (one class per "
        f"example of batch['x']), got {labels.dtype}{list(labels.shape)}"
      )


def check_generator_output(fake_shape: tuple[int, ...], real_shape: tuple[int, ...]) -> None:
  """A ConfigError when G's examples and the data's differ in shape (D sees both)."""
  if tuple(fake_shape) != tuple(real_shape):
    raise ConfigError(
      f"the generator makes examples of shape {tuple(fake_shape)} but the data's are "
      f"{tuple(real_shape)}: give the generator output_shape={tuple(real_shape)} (or the image "
      "size and channels of the data)"
    )
