"""A GAN as a small immutable spec, and the one compiled step that trains it.

    spec = GANSpec(generator=..., discriminator=..., latent_dim=...,
                   loss=loss_pair("wasserstein"),
                   discriminator_regularizers=(Regularizer("gradient_penalty", 0.1, fn),),
                   generator_optimizer=..., discriminator_optimizer=..., n_critic=5)
    state = init_state(spec, key, example_batch)
    step = make_train_step(spec)
    state, metrics = step(state, batch, key)

`step` is pure and compiled once: the n_critic discriminator updates run in a
`lax.scan` and the generator update after them, all inside one XLA program,
with the state's buffers donated. A batch holds the real data of every critic
update: {"x": [n_critic, B, ...]}. The key is the run's base key; the step
folds its own step counter into it, so that the same (seed, step) gives the
same noise on every call and after a resume.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from jaxgan import losses, optim, parallel
from jaxgan.errors import ConfigError

Array = jax.Array

# ---------------------------------------------------------------------------
# Losses of both players as one pair.
# ---------------------------------------------------------------------------


class LossPair(NamedTuple):
  """The adversarial losses of both players, as functions of (real_out, fake_out).

  generator_uses_real says whether the generator's loss reads D(x) (the
  relativistic losses do); when it does not, the generator step skips D(x).
  """

  discriminator: Callable[[Array, Array], Array]
  generator: Callable[[Array | None, Array], Array]
  generator_uses_real: bool = False


def _fake_only(generator_loss: Callable[[Array], Array]) -> Callable[[Array | None, Array], Array]:
  return lambda real_out, fake_out: generator_loss(fake_out)


LOSS_NAMES = (
  "minimax",
  "non_saturating",
  "wasserstein",
  "least_squares",
  "hinge",
  "relativistic",
  "relativistic_average",
)


def loss_pair(name: str, *, label_smoothing: float = 0.0) -> LossPair:
  """The (D, G) losses called `name`; label_smoothing applies to the minimax D loss.

  "minimax" is the original saturating game, "non_saturating" the same D with
  G minimizing −log D(G(z)) (Goodfellow et al. 2014).
  """
  if label_smoothing and name not in ("minimax", "non_saturating"):
    raise ConfigError(
      f"label smoothing applies to the minimax/non_saturating losses, not to {name!r}"
    )

  def minimax_d(real, fake):
    return losses.minimax_discriminator_loss(real, fake, label_smoothing=label_smoothing)

  pairs = {
    "minimax": LossPair(minimax_d, _fake_only(losses.minimax_generator_loss)),
    "non_saturating": LossPair(minimax_d, _fake_only(losses.non_saturating_generator_loss)),
    "wasserstein": LossPair(
      losses.wasserstein_discriminator_loss, _fake_only(losses.wasserstein_generator_loss)
    ),
    "least_squares": LossPair(
      losses.least_squares_discriminator_loss, _fake_only(losses.least_squares_generator_loss)
    ),
    "hinge": LossPair(losses.hinge_discriminator_loss, _fake_only(losses.hinge_generator_loss)),
    "relativistic": LossPair(
      losses.relativistic_discriminator_loss, losses.relativistic_generator_loss, True
    ),
    "relativistic_average": LossPair(
      losses.relativistic_average_discriminator_loss,
      losses.relativistic_average_generator_loss,
      True,
    ),
  }
  if name not in pairs:
    raise ConfigError(f"unknown loss {name!r}: choose one of {', '.join(LOSS_NAMES)}")
  return pairs[name]


# ---------------------------------------------------------------------------
# Regularizers: weighted terms added to one player's objective.
# ---------------------------------------------------------------------------


class RegularizerInputs(NamedTuple):
  """What a regularizer may read.

  d_fn maps a batch to D's per-example scores at the current D parameters;
  params are the regularized player's parameters; key is fresh for every term
  and every update.
  """

  d_fn: Callable[[Array], Array]
  real: Array
  fake: Array
  params: Any
  key: Array


class Regularizer(NamedTuple):
  """weight · fn(inputs), added to a player's loss and logged as metrics[name] (unweighted)."""

  name: str
  weight: float
  fn: Callable[[RegularizerInputs], Array]


# ---------------------------------------------------------------------------
# The spec and the state.
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GANSpec:
  """Everything that defines a GAN's training, and nothing that changes during it."""

  generator: nn.Module
  discriminator: nn.Module
  latent_dim: int
  loss: LossPair
  generator_optimizer: optax.GradientTransformation
  discriminator_optimizer: optax.GradientTransformation
  discriminator_regularizers: Sequence[Regularizer] = ()
  generator_regularizers: Sequence[Regularizer] = ()
  n_critic: int = 1
  ema_decay: float | None = None
  ema_warmup: bool = False

  def __post_init__(self):
    if self.n_critic < 1:
      raise ConfigError(f"n_critic must be at least 1, got {self.n_critic}")
    if self.latent_dim < 1:
      raise ConfigError(f"latent_dim must be at least 1, got {self.latent_dim}")
    for regs in (self.discriminator_regularizers, self.generator_regularizers):
      names = [r.name for r in regs]
      if len(set(names)) != len(names):
        raise ConfigError(f"regularizer names must be unique, got {names}")


@flax.struct.dataclass
class PlayerState:
  """One player: parameters, other model variables (e.g. BatchNorm statistics), optimizer state."""

  params: Any
  model_state: Any
  opt_state: Any


@flax.struct.dataclass
class GANState:
  """The whole training state: a pytree, checkpointed as is."""

  step: Array
  generator: PlayerState
  discriminator: PlayerState
  generator_ema: optim.EmaState | None


def sample_latent(spec: GANSpec, key: Array, shape: tuple[int, ...]) -> Array:
  """z ~ N(0, I) of shape [*shape, latent_dim]."""
  return jax.random.normal(key, (*shape, spec.latent_dim), jnp.float32)


def _split_variables(variables) -> tuple[Any, dict]:
  variables = flax.core.unfreeze(variables)
  params = variables.pop("params")
  return params, variables


def init_state(spec: GANSpec, key: Array, example_batch: dict[str, Array]) -> GANState:
  """Fresh parameters and optimizer states, as one compiled program on the default device.

  example_batch: a batch as the step receives it; only its shapes are read.
  """
  x_shape = jax.ShapeDtypeStruct(example_batch["x"].shape[1:], example_batch["x"].dtype)

  def init(key):
    g_key, d_key = jax.random.split(key)
    x = jnp.zeros(x_shape.shape, x_shape.dtype)
    z = sample_latent(spec, jax.random.key(0), (x.shape[0],))
    g_params, g_model_state = _split_variables(spec.generator.init(g_key, z, train=False))
    d_params, d_model_state = _split_variables(spec.discriminator.init(d_key, x, train=False))
    generator = PlayerState(g_params, g_model_state, spec.generator_optimizer.init(g_params))
    discriminator = PlayerState(
      d_params, d_model_state, spec.discriminator_optimizer.init(d_params)
    )
    ema = None
    if spec.ema_decay is not None:
      ema = optim.parameter_ema(spec.ema_decay, warmup=spec.ema_warmup).init(g_params)
    return GANState(jnp.zeros([], jnp.int32), generator, discriminator, ema)

  return jax.jit(init)(key)


def generator_params(state: GANState) -> Any:
  """The parameters to sample with: the EMA average when there is one."""
  return state.generator.params if state.generator_ema is None else state.generator_ema.average


# ---------------------------------------------------------------------------
# Applying the models.
# ---------------------------------------------------------------------------


def apply_model(module: nn.Module, params, model_state, inputs: Array, train: bool):
  """module(inputs) → (outputs, new model_state); the state changes only in training."""
  variables = {"params": params, **model_state}
  if train and model_state:
    outputs, updates = module.apply(variables, inputs, train=True, mutable=list(model_state))
    return outputs, {**model_state, **flax.core.unfreeze(updates)}
  return module.apply(variables, inputs, train=train), model_state


def _discriminate(spec: GANSpec, params, model_state, real: Array | None, fake: Array):
  """D on real and fake batches → (real_out or None, fake_out, new model_state).

  Without batch statistics in D, real and fake go through D as one batch (one
  pass, bigger matrix products, the same result), interleaved example by
  example so that under a mesh each device's real and fake rows stay on it.
  With batch statistics, each batch keeps its own, as in DCGAN.
  """
  D = spec.discriminator
  if real is None:
    fake_out, model_state = apply_model(D, params, model_state, fake, True)
    return None, fake_out, model_state
  if not model_state:
    pairs = _merge_leading_axes(jnp.stack([real, fake], axis=1))  # [2B, ...]: x_0, x̃_0, x_1, …
    outputs, _ = apply_model(D, params, model_state, pairs, True)
    outputs = outputs.reshape(real.shape[0], 2, *outputs.shape[1:])
    return outputs[:, 0], outputs[:, 1], model_state
  real_out, model_state = apply_model(D, params, model_state, real, True)
  fake_out, model_state = apply_model(D, params, model_state, fake, True)
  return real_out, fake_out, model_state


def _generate_for_critic(spec: GANSpec, g: PlayerState, zs: Array) -> Array:
  """G(z) for all n_critic updates at once: G does not change during them.

  zs: [n_critic, B, latent]. Without batch statistics the n_critic batches go
  through G as one, ordered example-major ([B, n_critic]) so that under a mesh
  every device keeps its own examples; with them, each batch keeps its own
  statistics (vmap).
  """
  n, b = zs.shape[:2]

  def generate(z):
    return apply_model(spec.generator, g.params, g.model_state, z, True)[0]

  if g.model_state:
    fakes = jax.vmap(generate)(zs)
  else:
    flat = generate(_merge_leading_axes(jnp.swapaxes(zs, 0, 1)))
    fakes = jnp.swapaxes(flat.reshape(b, n, *flat.shape[1:]), 0, 1)
  return jax.lax.stop_gradient(fakes)


def _merge_leading_axes(x: Array) -> Array:
  """[A, B, ...] → [A·B, ...]."""
  return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def _add_regularizers(regs, loss, metrics, make_inputs, key):
  keys = jax.random.split(key, len(regs)) if regs else []
  for reg, k in zip(regs, keys, strict=True):
    value = reg.fn(make_inputs(k))
    metrics[reg.name] = value
    loss = loss + reg.weight * value
  return loss


def _update_player(optimizer, player: PlayerState, grads, model_state) -> PlayerState:
  updates, opt_state = optimizer.update(grads, player.opt_state, player.params)
  return PlayerState(optax.apply_updates(player.params, updates), model_state, opt_state)


# ---------------------------------------------------------------------------
# The updates.
# ---------------------------------------------------------------------------


def discriminator_update(spec: GANSpec, d: PlayerState, real: Array, fake: Array, key: Array):
  """One critic update on (real, fake) → (new D state, metrics)."""

  def objective(params):
    real_out, fake_out, model_state = _discriminate(spec, params, d.model_state, real, fake)
    loss = spec.loss.discriminator(real_out, fake_out)
    metrics = {"d_loss": loss, "d_real": jnp.mean(real_out), "d_fake": jnp.mean(fake_out)}

    def d_fn(x):
      return apply_model(spec.discriminator, params, d.model_state, x, True)[0]

    total = _add_regularizers(
      spec.discriminator_regularizers,
      loss,
      metrics,
      lambda k: RegularizerInputs(d_fn, real, fake, params, k),
      key,
    )
    metrics["d_total_loss"] = total
    return total, (metrics, model_state)

  (_, (metrics, model_state)), grads = jax.value_and_grad(objective, has_aux=True)(d.params)
  metrics["d_grad_norm"] = optax.tree.norm(grads)
  return _update_player(spec.discriminator_optimizer, d, grads, model_state), metrics


def generator_update(
  spec: GANSpec, g: PlayerState, d: PlayerState, real: Array, z: Array, key: Array
):
  """One generator update against the current D → (new G state, metrics)."""

  def objective(params):
    fake, model_state = apply_model(spec.generator, params, g.model_state, z, True)
    real_in = real if spec.loss.generator_uses_real else None
    real_out, fake_out, _ = _discriminate(spec, d.params, d.model_state, real_in, fake)
    loss = spec.loss.generator(real_out, fake_out)
    metrics = {"g_loss": loss}

    def d_fn(x):
      return apply_model(spec.discriminator, d.params, d.model_state, x, True)[0]

    total = _add_regularizers(
      spec.generator_regularizers,
      loss,
      metrics,
      lambda k: RegularizerInputs(d_fn, real, fake, params, k),
      key,
    )
    metrics["g_total_loss"] = total
    return total, (metrics, model_state)

  (_, (metrics, model_state)), grads = jax.value_and_grad(objective, has_aux=True)(g.params)
  metrics["g_grad_norm"] = optax.tree.norm(grads)
  return _update_player(spec.generator_optimizer, g, grads, model_state), metrics


def all_finite(metrics: dict[str, Array]) -> Array:
  """1.0 when every metric is finite, else 0.0 (checked by the loop, not per step on the host)."""
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in metrics.values()])).astype(
    jnp.float32
  )


def train_step(
  spec: GANSpec, state: GANState, batch: dict[str, Array], key: Array, mesh: Mesh | None = None
):
  """n_critic D updates (lax.scan), then one G update, then the EMA: (state, metrics).

  With a mesh, the noise is split over its 'data' axis like the real batch, so
  that every device generates and discriminates its own examples.
  """
  real = batch["x"]
  if real.shape[0] != spec.n_critic:
    raise ValueError(
      f"batch['x'] must have a leading n_critic={spec.n_critic} axis, got shape {real.shape}"
    )
  batch_size = real.shape[1]
  key = jax.random.fold_in(key, state.step)
  zd_key, d_key, zg_key, g_key = jax.random.split(key, 4)

  zs = _split_examples(sample_latent(spec, zd_key, (spec.n_critic, batch_size)), mesh, 1)
  fakes = _generate_for_critic(spec, state.generator, zs)

  def critic(d, xs):
    real_i, fake_i, key_i = xs
    return discriminator_update(spec, d, real_i, fake_i, key_i)

  d_state, d_metrics = jax.lax.scan(
    critic, state.discriminator, (real, fakes, jax.random.split(d_key, spec.n_critic))
  )
  metrics = jax.tree.map(lambda m: jnp.mean(m, axis=0), d_metrics)

  z = _split_examples(sample_latent(spec, zg_key, (batch_size,)), mesh, 0)
  g_state, g_metrics = generator_update(spec, state.generator, d_state, real[-1], z, g_key)
  metrics.update(g_metrics)

  ema = state.generator_ema
  if ema is not None:
    ema = optim.parameter_ema(spec.ema_decay, warmup=spec.ema_warmup).update(g_state.params, ema)
  metrics["finite"] = all_finite(metrics)
  return GANState(state.step + 1, g_state, d_state, ema), metrics


def _split_examples(x: Array, mesh: Mesh | None, batch_axis: int) -> Array:
  if mesh is None:
    return x
  return jax.lax.with_sharding_constraint(x, parallel.sharded_along(mesh, batch_axis))


class RecompilationError(RuntimeError):
  """The train step was traced again: a batch or state of another shape or dtype."""


def make_train_step(
  spec: GANSpec, *, mesh: Mesh | None = None, donate: bool = True, max_traces: int | None = 1
):
  """step(state, batch, key) -> (state, metrics): `train_step` jit-compiled for `spec`.

  mesh: run data-parallel over its devices (see jaxgan.parallel): the state
  and key replicated, batches split along their example axis, the metrics
  replicated. Without one, the step runs on the default device.

  donate=True hands the old state's buffers to the new state (do not reuse the
  state passed in). max_traces guards against silent recompilation, which
  costs seconds to minutes per step: tracing this step more often (a batch of
  another shape or dtype) raises RecompilationError. The count is this step
  function's own, so several GANs can train in one process.
  """
  traces = 0

  def step(state, batch, key):
    nonlocal traces
    traces += 1
    if max_traces is not None and traces > max_traces:
      shapes = jax.tree.map(lambda x: (tuple(x.shape), str(x.dtype)), batch)
      raise RecompilationError(
        f"the train step was traced {traces} times (limit {max_traces}): the batch or state "
        f"changed shape or dtype (batch now {shapes}); keep them fixed, or pass max_traces=None"
      )
    return train_step(spec, state, batch, key, mesh)

  donate_argnums = (0,) if donate else ()
  if mesh is None:
    return jax.jit(step, donate_argnums=donate_argnums)
  everywhere = parallel.replicated(mesh)
  return jax.jit(
    step,
    in_shardings=(everywhere, parallel.step_batch_sharding(mesh), everywhere),
    out_shardings=(everywhere, everywhere),
    donate_argnums=donate_argnums,
  )
