"""What every kind of training step shares: players, applying a model, updates, compilation.

    player = init_player(module, key, example_input, optimizer=optimizer)
    outputs, model_state = apply_model(module, player.params, player.model_state, x, training=True)
    player = update_player(optimizer, player, grads, model_state)
    step = compile_step(step_fn)          # jit, donated state, guarded against recompilation
    state, metrics = step(state, batch, key)

A player is its parameters, its other model variables (BatchNorm statistics,
spectral norm's u) and its optimizer state. A kind of training (jaxgan.kinds)
writes `step_fn(state, batch, key) -> (state, metrics)` from these pieces;
`compile_step` makes it one XLA program that donates the old state's buffers
and raises RecompilationError instead of silently recompiling. Every step's
metrics carry "finite" (`all_finite`), which the loop checks at log time.
"""

from __future__ import annotations

import functools
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from jaxgan import parallel
from jaxgan.errors import ConfigError

Array = jax.Array
Outputs = dict[str, Any]  # D's outputs: "adv" [B] and any heads


@flax.struct.dataclass
class PlayerState:
  """One player: parameters, other model variables (e.g. BatchNorm statistics), optimizer state."""

  params: Any
  model_state: Any
  opt_state: Any


def network_variables(player) -> dict[str, Any]:
  """{"params", "model_state"} of a player (a PlayerState, or its entry in a state dict):
  what apply_model and the evaluators' networks take."""
  if isinstance(player, PlayerState):
    return {"params": player.params, "model_state": player.model_state}
  return {"params": player["params"], "model_state": player["model_state"]}


def select_where(condition: Array, new, old):
  """A phase's update that happens on some steps only, inside one compiled step.

  Args:
    condition: a scalar bool (traced).
    new: the pytree after the update.
    old: the pytree before it, of the same structure.

  Returns:
    new where condition holds, else old, leaf by leaf.
  """
  return jax.tree.map(lambda a, b: jnp.where(condition, a, b), new, old)


def split_variables(variables) -> tuple[Any, dict]:
  """Flax variables → (params, the other collections)."""
  variables = flax.core.unfreeze(variables)
  params = variables.pop("params")
  return params, variables


def init_player(module: nn.Module, key: Array, *inputs, optimizer) -> PlayerState:
  """A fresh player for `module(*inputs, train=False)`.

  Args:
    module: the player's network.
    key: the key of its parameters (and of its dropout, when it has some).
    *inputs: its positional inputs, of the shapes it will take.
    optimizer: its optax chain.

  Returns:
    PlayerState(params, model_state, opt_state).
  """
  param_key, dropout_key = jax.random.split(key)
  variables = module.init({"params": param_key, "dropout": dropout_key}, *inputs, train=False)
  params, model_state = split_variables(variables)
  return PlayerState(params, model_state, optimizer.init(params))


def model_inputs(inputs: Array, labels: Array | None) -> tuple:
  """The positional inputs of a model: (inputs,) or (inputs, labels)."""
  return (inputs,) if labels is None else (inputs, labels)


def apply_model(
  module: nn.Module,
  params,
  model_state,
  inputs: Array,
  training: bool,
  labels: Array | None = None,
  rngs: dict[str, Array] | None = None,
  **keyword_inputs,
):
  """`module(inputs[, labels], train=training, **keyword_inputs)` → (outputs, new model_state).

  Args:
    module: a Flax module taking `train=`.
    params: its parameters.
    model_state: its other variables ({} when it has none); they change only in training.
    inputs: the batch.
    training: training mode (BatchNorm on batch statistics, dropout on).
    labels: the classes, for a class-conditional module.
    rngs: the module's random streams (e.g. {"dropout": key}).
    **keyword_inputs: the module's other inputs by name (e.g. GAN-INT's mix=).

  Returns:
    (outputs, model_state after this call).
  """
  variables = {"params": params, **model_state}
  args = model_inputs(inputs, labels)
  rngs = rngs or {}
  if training and model_state:
    outputs, updates = module.apply(
      variables, *args, train=True, rngs=rngs, mutable=list(model_state), **keyword_inputs
    )
    return outputs, {**model_state, **flax.core.unfreeze(updates)}
  return module.apply(variables, *args, train=training, rngs=rngs, **keyword_inputs), model_state


RANDOM_STREAMS = ("dropout", "noise", "mixing")


def model_rngs(key: Array) -> dict[str, Array]:
  """The random streams a model may draw from in training, one key each: "dropout",
  "noise" (StyleGAN's noise inputs) and "mixing" (style mixing). A module uses those it
  names; the others cost nothing."""
  return dict(zip(RANDOM_STREAMS, jax.random.split(key, len(RANDOM_STREAMS)), strict=True))


def as_outputs(out) -> Outputs:
  """D's return value as a dict: a bare score array becomes {"adv": score}."""
  return out if isinstance(out, dict) else {"adv": out}


def merge_leading_axes(x: Array) -> Array:
  """[A, B, ...] → [A·B, ...]."""
  return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def mixes_examples(module: nn.Module) -> bool:
  """Whether the module's output for one example reads the others of its batch beyond
  BatchNorm (minibatch stddev, minibatch discrimination): its `mixes_examples` attribute."""
  return bool(getattr(module, "mixes_examples", False))


def discriminate_batches(D: nn.Module, params, model_state, real, fake, labels=None):
  """D on a real and a fake batch.

  Without batch statistics in D, real and fake go through D as one batch (one
  pass, bigger matrix products, the same result), interleaved example by
  example so that under a mesh each device's real and fake rows stay on it.
  With batch statistics, each batch keeps its own, as in DCGAN; so does a D
  that mixes examples otherwise (minibatch stddev: `mixes_examples`), whose
  real and fake examples must not see each other.

  Args:
    D: the discriminator.
    params: its parameters.
    model_state: its other variables.
    real: the real batch, or None for the fake batch only.
    fake: the fake batch.
    labels: the classes of both, for a conditional D.

  Returns:
    (real_out or None, fake_out, new model_state): D's outputs as dicts ({"adv": ...}).
  """
  if real is None:
    fake_out, model_state = apply_model(D, params, model_state, fake, True, labels)
    return None, as_outputs(fake_out), model_state
  if "batch_stats" in model_state or mixes_examples(D):
    real_out, model_state = apply_model(D, params, model_state, real, True, labels)
    fake_out, model_state = apply_model(D, params, model_state, fake, True, labels)
    return as_outputs(real_out), as_outputs(fake_out), model_state
  pairs = merge_leading_axes(jnp.stack([real, fake], axis=1))  # [2B, ...]: x_0, x̃_0, x_1, …
  pair_labels = None if labels is None else jnp.repeat(labels, 2)
  outputs, model_state = apply_model(D, params, model_state, pairs, True, pair_labels)
  b = real.shape[0]
  split = jax.tree.map(lambda o: o.reshape(b, 2, *o.shape[1:]), outputs)
  real_out = jax.tree.map(lambda o: o[:, 0], split)
  fake_out = jax.tree.map(lambda o: o[:, 1], split)
  return as_outputs(real_out), as_outputs(fake_out), model_state


def split_microbatches(tree, k: int):
  """[B, ...] leaves → [k, B/k, ...]: micro-batch j holds examples j, j + k, j + 2k, …

  Strided rather than consecutive, so that under a mesh (the batch split over
  the devices in consecutive blocks) every micro-batch stays split over the
  devices as the batch was, with no data moved between them.
  """

  def split(x):
    return jnp.swapaxes(x.reshape(x.shape[0] // k, k, *x.shape[1:]), 0, 1)

  return jax.tree.map(split, tree)


def merge_microbatches(tree):
  """The inverse of split_microbatches: [k, B/k, ...] leaves → [B, ...] in the batch's order."""
  return jax.tree.map(lambda x: merge_leading_axes(jnp.swapaxes(x, 0, 1)), tree)


def accumulated_gradients(objective, params, carry, inputs, key: Array, k: int):
  """The gradient of a batch's mean loss, from k micro-batches in turn (gradient accumulation).

  objective(params, carry, inputs, key) -> (loss, (aux, carry)), where `inputs` are
  per-example arrays [B, ...] (a pytree; None leaves allowed) and `carry` is what one
  micro-batch hands the next (BatchNorm statistics, spectral norm's u). With k > 1 the
  inputs are split into k micro-batches of B/k (split_microbatches), the objective's
  gradients summed over them in a lax.scan and divided by k: for a loss that is a mean
  over examples and a model without batch statistics, exactly the gradient on the whole
  batch, at 1/k of the activation memory (BigGAN trains at 2048 this way). Each
  micro-batch gets its own key, fold_in(key, j); with k = 1 the objective sees `key`
  itself and the whole batch, as without accumulation.

  Args:
    objective: the loss of one micro-batch, with auxiliary outputs and the carry.
    params: the parameters differentiated.
    carry: the carry into the first micro-batch.
    inputs: the batch, per example.
    key: the key of the batch.
    k: the number of micro-batches (dividing B).

  Returns:
    (mean gradients, aux with a leading micro-batch axis [k, ...], the last carry).
  """
  grad_fn = jax.value_and_grad(objective, has_aux=True)
  if k == 1:
    (_, (aux, carry)), grads = grad_fn(params, carry, inputs, key)
    return grads, jax.tree.map(lambda a: a[None], aux), carry

  def micro_step(state, xs):
    carry, total = state
    inputs_j, j = xs
    (_, (aux, carry)), grads = grad_fn(params, carry, inputs_j, jax.random.fold_in(key, j))
    return (carry, jax.tree.map(jnp.add, total, grads)), aux

  zeros = jax.tree.map(jnp.zeros_like, params)
  xs = (split_microbatches(inputs, k), jnp.arange(k))
  (carry, total), aux = jax.lax.scan(micro_step, (carry, zeros), xs)
  return jax.tree.map(lambda g: g / k, total), aux, carry


def update_player(optimizer, player: PlayerState, grads, model_state) -> PlayerState:
  """The player after one optimizer update.

  Args:
    optimizer: its optax chain.
    player: its state.
    grads: the gradients of its parameters.
    model_state: its new model variables (from the forward pass that made the grads).

  Returns:
    The new PlayerState.
  """
  updates, opt_state = optimizer.update(grads, player.opt_state, player.params)
  return PlayerState(optax.apply_updates(player.params, updates), model_state, opt_state)


def all_finite(metrics: dict[str, Array]) -> Array:
  """1.0 when every metric is finite, else 0.0 (checked by the loop, not per step on the host)."""
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in metrics.values()])).astype(
    jnp.float32
  )


def shard_examples(x, mesh: Mesh | None, batch_axis: int = 0):
  """Under a mesh, `x` (an array or a pytree of them) kept split over the devices along its
  example axis, like the batch; without one, x as it is.

  Args:
    x: the array or pytree.
    mesh: the mesh, or None.
    batch_axis: the example axis.

  Returns:
    x with its sharding constrained.
  """
  if mesh is None:
    return x
  sharding = parallel.sharded_along(mesh, batch_axis)
  return jax.tree.map(lambda a: jax.lax.with_sharding_constraint(a, sharding), x)


class RecompilationError(RuntimeError):
  """The train step was traced again: a batch or state of another shape or dtype."""


def check_key(key) -> None:
  """A ConfigError unless `key` is a JAX random key."""
  dtype = getattr(key, "dtype", None)
  if dtype is None or not (jnp.issubdtype(dtype, jax.dtypes.prng_key) or dtype == jnp.uint32):
    raise ConfigError(
      f"the step's key must be a JAX random key such as jax.random.key(0), got "
      f"{dtype}{list(getattr(key, 'shape', []))}"
    )


def compile_step(
  step_fn,
  *,
  mesh: Mesh | None = None,
  batch_sharding=None,
  donate: bool = True,
  max_traces: int | None = 1,
):
  """step_fn(state, batch, key) -> (state, metrics), jit-compiled for any kind of training.

  Args:
    step_fn: the pure step.
    mesh: run data-parallel over its devices (jaxgan.parallel): the state, key and
      metrics replicated, the batch laid out by batch_sharding.
    batch_sharding: the batch's sharding under the mesh (default: split along axis 0).
    donate: hand the old state's buffers to the new state (do not reuse the state passed in).
    max_traces: tracing the step more often than this (a batch of another shape or dtype,
      costing seconds to minutes each) raises RecompilationError naming what changed; None
      allows any number. The count is this step function's own.

  Returns:
    The compiled step(state, batch, key) -> (state, metrics). Its attribute
    `repeated(k)` is the same step k times in one compiled program (see repeat_step), and
    `on_data(batch_of, k)` the same with each batch gathered inside from data on the device
    (see repeat_step_on_data).
  """
  traces = 0
  first_batch = None  # the shapes and dtypes of the batch of the first trace

  def step(state, batch, key):
    nonlocal traces, first_batch
    check_key(key)
    out = step_fn(state, batch, key)  # a batch the step cannot take fails here, with its reason
    shapes = {
      f"batch{jax.tree_util.keystr(path)}": f"{x.dtype}{list(x.shape)}"
      for path, x in jax.tree_util.tree_flatten_with_path(batch)[0]
    }
    traces += 1  # only traces that succeeded count
    first_batch = shapes if first_batch is None else first_batch
    if max_traces is not None and traces > max_traces:
      changes = [
        f"{name} {first_batch.get(name, 'absent')} → {shapes.get(name, 'absent')}"
        for name in sorted(set(first_batch) | set(shapes))
        if first_batch.get(name) != shapes.get(name)
      ]
      changed = ", ".join(changes) if changes else "the state"
      raise RecompilationError(
        f"the train step was traced {traces} times (limit {max_traces}): {changed} changed "
        "shape or dtype; keep them fixed, or pass max_traces=None"
      )
    return out

  donate_argnums = (0,) if donate else ()
  if mesh is None:
    compiled = jax.jit(step, donate_argnums=donate_argnums)
  else:
    everywhere = parallel.replicated(mesh)
    if batch_sharding is None:
      batch_sharding = parallel.sharded_along(mesh, 0)
    compiled = jax.jit(
      step,
      in_shardings=(everywhere, batch_sharding, everywhere),
      out_shardings=(everywhere, everywhere),
      donate_argnums=donate_argnums,
    )
  compiled.repeated = functools.cache(
    lambda k: repeat_step(step_fn, k, mesh=mesh, batch_sharding=batch_sharding, donate=donate)
  )
  compiled.pure = step_fn  # the uncompiled step (jaxgan.population vmaps it)
  compiled.on_data = functools.cache(
    lambda batch_of, k: repeat_step_on_data(step_fn, batch_of, k, mesh=mesh, donate=donate)
  )
  return compiled


def repeat_step(step_fn, k: int, *, mesh: Mesh | None = None, batch_sharding=None, donate=True):
  """step_fn(state, batch, key) k times in one compiled program: steps(state, batches, key)
  → (state, metrics) with the k batches and the k steps' metrics stacked on a leading axis.

  A lax.scan over the batches: one dispatch for k steps, the state never leaving the device,
  the same keys as k calls of the step (each step folds its own counter into the key). The
  loop's --steps_per_call.

  Args:
    step_fn: the pure step.
    k: steps per call.
    mesh: run data-parallel over its devices, as compile_step.
    batch_sharding: one step's batch sharding under the mesh (its axes shift by one).
    donate: hand the old state's buffers to the new state.

  Returns:
    The compiled steps(state, batches, key) -> (state, metrics).
  """

  def steps(state, batches, key):
    check_key(key)
    leading = {x.shape[0] for x in jax.tree.leaves(batches)}
    if leading != {k}:
      raise ValueError(f"expected {k} stacked batches, got leading axes {sorted(leading)}")
    return jax.lax.scan(lambda state, batch: step_fn(state, batch, key), state, batches)

  donate_argnums = (0,) if donate else ()
  if mesh is None:
    return jax.jit(steps, donate_argnums=donate_argnums)
  everywhere = parallel.replicated(mesh)
  spec = (batch_sharding or parallel.sharded_along(mesh, 0)).spec
  stacked = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(None, *spec))
  return jax.jit(
    steps,
    in_shardings=(everywhere, stacked, everywhere),
    out_shardings=(everywhere, everywhere),
    donate_argnums=donate_argnums,
  )


def repeat_step_on_data(step_fn, batch_of, k: int, *, mesh: Mesh | None = None, donate=True):
  """step_fn(state, batch, key) k times in one compiled program, each step's batch gathered
  inside it from data in device memory: steps(state, data, key) → (state, metrics), the
  metrics stacked on a leading axis of k (unstacked for k = 1).

  The batch of step s is batch_of(data, s), s read from the state's own step counter, so the
  program needs nothing from the host but the state it already holds (the loop's
  --data_on_device; jaxgan.data.on_device). The k batches are gathered first, under one vmap
  (a toy's k draws vectorized: drawn one per scan iteration, toy8 ran 2.4× slower).

  Args:
    step_fn: the pure step.
    batch_of: the stream's pure batch_of(data, step) (it lays the batch out over the mesh).
    k: steps per call (1: one step, no scan).
    mesh: run data-parallel over its devices: state, key and metrics replicated.
    donate: hand the old state's buffers to the new state.

  Returns:
    The compiled steps(state, data, key) -> (state, metrics).
  """

  def steps(state, data, key):
    check_key(key)
    if k == 1:
      return step_fn(state, batch_of(data, state.step), key)
    # the k batches gathered (drawn) at once, vectorized, then the k steps over them
    batches = jax.vmap(lambda i: batch_of(data, state.step + i))(jnp.arange(k))
    return jax.lax.scan(lambda state, batch: step_fn(state, batch, key), state, batches)

  donate_argnums = (0,) if donate else ()
  if mesh is None:
    return jax.jit(steps, donate_argnums=donate_argnums)
  everywhere = parallel.replicated(mesh)
  # the data keep the sharding they were placed with
  return jax.jit(steps, out_shardings=(everywhere, everywhere), donate_argnums=donate_argnums)


def compile_spec_step(
  train_step,
  spec,
  *,
  mesh: Mesh | None = None,
  donate: bool = True,
  max_traces: int | None = 1,
  batch_axis: int = 1,
):
  """A kind's train_step(spec, state, batch, key, mesh) compiled (compile_step); under a mesh
  the batch's example axis is split over the devices.

  Args:
    train_step: the kind's pure step.
    spec: its spec.
    mesh: train data-parallel over its devices.
    donate: hand the old state's buffers to the new state.
    max_traces: see compile_step.
    batch_axis: the batches' example axis: 1 for [k, B, ...] as the image streams serve them
      (k = n_critic, or 1); 0 for [B, ...] (the translation kinds' {"a", "b"} batches).

  Returns:
    step(state, batch, key) -> (state, metrics).
  """
  batch_sharding = None if mesh is None else parallel.sharded_along(mesh, batch_axis)
  return compile_step(
    lambda state, batch, key: train_step(spec, state, batch, key, mesh),
    mesh=mesh,
    batch_sharding=batch_sharding,
    donate=donate,
    max_traces=max_traces,
  )
