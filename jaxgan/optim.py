"""The optax pieces GAN training needs.

- `clip_weights`: WGAN's weight clipping as a GradientTransformation, and
  `wgan_rmsprop`, the paper's recipe (RMSProp 5e-5, then clipping to ±0.01).
- `learning_rate_schedule`: constant, linear decay to 0, or constant then linear.
- `parameter_ema`: an exponential moving average of the generator's weights.
- `historical_averaging`: Salimans et al.'s penalty as a transformation that
  keeps the running average of the parameters in its own state.
- `lazy_adam`: Adam with StyleGAN2's learning rate and betas for a player whose
  regularizer runs every k steps; `ema_decay_for_half_life`: the EMA of G by its
  half-life in images.

Stateful pieces follow optax: a factory returning an (init, update) NamedTuple.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxgan import penalties

# ---------------------------------------------------------------------------
# WGAN weight clipping (Arjovsky et al. 2017, Algorithm 1).
# ---------------------------------------------------------------------------


def clip_weights(clip_value: float) -> optax.GradientTransformation:
  """Keeps every parameter in [−c, c] after the update is applied.

  Chained last, after the optimizer: the incoming updates u become
  u' = clip(θ + u, −c, c) − θ, so that optax.apply_updates(θ, u') lies in
  [−c, c] (Arjovsky et al. 2017, "Wasserstein GAN", Algorithm 1, line 8).
  Float rounding of θ + (clip(θ + u) − θ) can overshoot c by an ulp; such
  updates are nudged one ulp inward so that the bound holds exactly.
  """
  if clip_value <= 0:
    raise ValueError(f"clip_value must be positive, got {clip_value}")

  def init_fn(params):
    del params
    return optax.EmptyState()

  def clip_leaf(update, param):
    c = jnp.asarray(clip_value, param.dtype)
    clipped_update = jnp.clip(param + update, -c, c) - param
    result = param + clipped_update
    clipped_update = jnp.where(result > c, jnp.nextafter(clipped_update, -jnp.inf), clipped_update)
    clipped_update = jnp.where(result < -c, jnp.nextafter(clipped_update, jnp.inf), clipped_update)
    return clipped_update

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError("clip_weights needs the parameters: call update(updates, state, params)")
    return jax.tree.map(clip_leaf, updates, params), state

  return optax.GradientTransformation(init_fn, update_fn)


def wgan_rmsprop(
  learning_rate: float = 5e-5, clip_value: float = 0.01
) -> optax.GradientTransformation:
  """The WGAN critic's optimizer: RMSProp(5e-5), then weights clipped to [−0.01, 0.01].

  RMSProp as in the authors' PyTorch code (torch.optim.RMSprop: decay 0.99,
  ε = 1e-8 outside the square root).
  """
  return optax.chain(
    optax.rmsprop(learning_rate, decay=0.99, eps=1e-8, eps_in_sqrt=False),
    clip_weights(clip_value),
  )


# ---------------------------------------------------------------------------
# Learning-rate schedules.
# ---------------------------------------------------------------------------

SCHEDULES = ("constant", "linear", "constant_then_linear")


def learning_rate_schedule(
  learning_rate: float, schedule: str, num_steps: int, decay_start: float = 0.5
) -> optax.Schedule | float:
  """ "constant", or "linear" decay from learning_rate to 0 over num_steps updates, or
  "constant_then_linear": constant for the first decay_start of the updates (half by default),
  then linearly to 0 (CycleGAN's 100 epochs at 2e-4 and 100 decaying, Zhu et al. 2017, §4):

      rate(t) = learning_rate · clip((num_steps − t) / ((1 − decay_start) · num_steps), 0, 1)

  Linear decay to zero is the WGAN-GP authors' schedule for CIFAR-10
  (gan_cifar_resnet.py). The count is the player's own number of updates, so a
  critic with n_critic updates per step gets num_steps · n_critic here.

  Args:
    learning_rate: the initial rate (a traced number inside a population's program).
    schedule: "constant", "linear" or "constant_then_linear".
    num_steps: the player's updates over the run.
    decay_start: for "constant_then_linear", the fraction of num_steps after which the rate
      decays, in [0, 1) (may be traced, as a population grid's number).

  Returns:
    An optax schedule (a float for "constant").
  """
  if schedule == "constant":
    return learning_rate
  if schedule == "linear":
    return optax.linear_schedule(learning_rate, 0.0, num_steps)
  if schedule == "constant_then_linear":
    decay_steps = (1.0 - decay_start) * num_steps

    def constant_then_linear(count):
      return learning_rate * jnp.clip((num_steps - count) / decay_steps, 0.0, 1.0)

    return constant_then_linear
  raise ValueError(f"unknown schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}")


# ---------------------------------------------------------------------------
# Exponential moving average of the generator's weights.
# ---------------------------------------------------------------------------


class EmaState(NamedTuple):
  count: jax.Array  # number of updates so far
  average: Any  # the averaged parameters


class ParameterEma(NamedTuple):
  """An EMA of parameters: init(params) -> EmaState; update(params, state) -> EmaState."""

  init: Any
  update: Any


def ema_decay_at(count: jax.Array, decay: float, warmup: bool, start: int = 0) -> jax.Array:
  """The decay used at update `count` (0-based): min(decay, (1 + t)/(10 + t)) with warmup,
  and 0 (the average pegged to the weights) before update `start`.

  Args:
    count: the EMA's update count t.
    decay: the final decay d.
    warmup: use min(d, (1 + t)/(10 + t)).
    start: the first update that averages (BigGAN's ema_start); 0: from the first.

  Returns:
    The decay, a float32 scalar.
  """
  d = jnp.asarray(decay, jnp.float32)
  if warmup:
    t = count.astype(jnp.float32)
    d = jnp.minimum(d, (1.0 + t) / (10.0 + t))
  if start:
    d = jnp.where(count < start, 0.0, d)
  return d


def parameter_ema(decay: float = 0.999, *, warmup: bool = False, start: int = 0) -> ParameterEma:
  """θ̄ ← d·θ̄ + (1 − d)·θ after every generator update, θ̄ starting at θ.

  Averaging G's weights over iterates gives better samples than the last
  iterate (Yazıcı et al. 2019, "The Unusual Effectiveness of Averaging in GAN
  Training"; Karras et al. 2018). warmup=True uses d_t = min(d, (1+t)/(10+t))
  so that early averages forget the random initialization quickly; start = s
  copies the weights for the first s updates and averages from then on (BigGAN's
  ema_start: the authors' `utils.ema` pegs the average to G until then).

  Args:
    decay: d, in [0, 1).
    warmup: use min(d, (1 + t)/(10 + t)).
    start: the first update that averages.

  Returns:
    The ParameterEma (init, update).
  """
  if not 0.0 <= decay < 1.0:
    raise ValueError(f"EMA decay must be in [0, 1), got {decay}")

  def init_fn(params):
    return EmaState(count=jnp.zeros([], jnp.int32), average=jax.tree.map(jnp.copy, params))

  def update_fn(params, state):
    d = ema_decay_at(state.count, decay, warmup, start)
    average = jax.tree.map(
      lambda a, p: (d * a + (1.0 - d) * p).astype(a.dtype), state.average, params
    )
    return EmaState(count=state.count + 1, average=average)

  return ParameterEma(init_fn, update_fn)


# ---------------------------------------------------------------------------
# Historical averaging (Salimans et al. 2016, §3.3).
# ---------------------------------------------------------------------------


class HistoricalAveragingState(NamedTuple):
  count: jax.Array
  average: Any


def historical_averaging(weight: float) -> optax.GradientTransformation:
  """Adds the gradient of weight·‖θ − θ̄‖² to the player's gradients.

  θ̄ = (1/t)Σ_{i≤t} θ_i is the running mean of the parameters seen so far
  (the current ones included), kept in this transformation's state. Chain it
  before the optimizer: optax.chain(historical_averaging(w), optax.adam(...)).
  The penalty itself is `jaxgan.penalties.historical_averaging_penalty`.
  """

  def init_fn(params):
    zeros = jax.tree.map(jnp.zeros_like, params)
    return HistoricalAveragingState(count=jnp.zeros([], jnp.int32), average=zeros)

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError("historical_averaging needs the parameters: update(updates, state, params)")
    count = state.count + 1
    average = jax.tree.map(lambda a, p: a + (p - a) / count.astype(a.dtype), state.average, params)
    penalty_grads = jax.grad(penalties.historical_averaging_penalty)(params, average)
    updates = jax.tree.map(lambda u, g: u + weight * g, updates, penalty_grads)
    return updates, HistoricalAveragingState(count=count, average=average)

  return optax.GradientTransformation(init_fn, update_fn)


# ---------------------------------------------------------------------------
# StyleGAN2's lazy regularization and EMA half-life.
# ---------------------------------------------------------------------------


def lazy_ratio(every: int) -> float:
  """k / (k + 1): the share of a player's updates that are main updates when a lazy
  regularizer adds one more every k steps (1 for every = 1: no lazy regularizer)."""
  return every / (every + 1) if every > 1 else 1.0


def lazy_adam(
  learning_rate: float, b1: float, b2: float, every: int, eps: float = 1e-8
) -> optax.GradientTransformation:
  """Adam for a player regularized lazily every k steps (StyleGAN2 Appendix B; the authors'
  training_loop.py): learning rate × c and betas β^c with c = k/(k + 1), so that the k + 1
  updates of k steps move the parameters as k plain ones would.

  Args:
    learning_rate: the learning rate without lazy regularization.
    b1: Adam's β₁ (StyleGAN2: 0).
    b2: Adam's β₂ (StyleGAN2: 0.99).
    every: the lazy interval k (1: plain Adam).
    eps: Adam's ε.

  Returns:
    The optax chain.
  """
  c = lazy_ratio(every)
  return optax.adam(learning_rate * c, b1**c, b2**c, eps=eps)


def ema_decay_for_half_life(half_life_images: float, batch_size: int) -> float:
  """β = 0.5^(B / half-life): the per-step decay of an EMA whose weights halve every
  half_life_images images (StyleGAN2's ema_kimg = 10: half-life 10,000 images)."""
  return 0.5 ** (batch_size / max(half_life_images, 1e-8))
