"""The GAN: a frozen spec of two networks and their losses, and the one compiled step that
trains it (the n_critic D updates and the G update in one XLA program).

    spec = GANSpec(generator=..., discriminator=..., latent_dim=...,
                   loss=loss_pairs.loss_pair("wasserstein"),
                   discriminator_regularizers=(Regularizer("gradient_penalty", 0.1, fn),),
                   generator_optimizer=..., discriminator_optimizer=..., n_critic=5)
    state = init_state(spec, key, example_batch)
    step = make_train_step(spec)
    state, metrics = step(state, batch, key)

    trainer = make_trainer(spec, dataset, loop_config)     # for jaxgan.loop.run_training

`step` is pure and compiled once: the n_critic discriminator updates run in a
`lax.scan` and the generator update after them, all inside one XLA program,
with the state's buffers donated. A batch holds the real data of every critic
update: {"x": [n_critic, B, ...]} and, for class-conditional GANs, their
labels {"label": [n_critic, B]}. The key is the run's base key; the step
folds its own step counter into it, so that the same (seed, step) gives the
same noise on every call and after a resume.

The models: G is called as G(z, train=...) or, when spec.num_classes > 0,
G(z, labels, train=...); D as D(x, train=...) or, when
spec.label_to_discriminator, D(x, labels, train=...). D returns a score per
example [B] or a dict of outputs with the score under "adv" (and heads such
as "class_logits", "code_logits", "features"). Fakes are generated for the
labels of the real batch they are compared with, so real and fake examples
are paired class by class (and gradient penalties see one label per pair).

The spec, its state and its regularizers are jaxgan.kinds.gan_spec (all
importable from here too). This module registers the kind "gan": a run's
generator is rebuilt from its config.json for `python -m jaxgan.sample` and
`jaxgan.evaluate`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from jaxgan import data, evaluators, models, optim, parallel, trainer
from jaxgan.augment import Augmentation
from jaxgan.data import ImageDataset
from jaxgan.kinds.gan_spec import (
  GANSpec,
  GANState,
  RegularizerInputs,
  check_batch,
  check_generator_output,
)
from jaxgan.kinds.gan_spec import (
  Regularizer as Regularizer,  # experiments write gan.Regularizer
)
from jaxgan.latent import Latent, LatentSpace
from jaxgan.models import standing_stats
from jaxgan.step import (
  PlayerState,
  accumulated_gradients,
  all_finite,
  apply_model,
  as_outputs,
  compile_step,
  discriminate_batches,
  merge_leading_axes,
  merge_microbatches,
  model_inputs,
  model_rngs,
  shard_examples,
  split_variables,
  update_player,
)

Array = jax.Array


def init_state(spec: GANSpec, key: Array, example_batch: dict[str, Array]) -> GANState:
  """Fresh parameters and optimizer states, as one compiled program on the default device.

  Args:
    spec: the GAN.
    key: the key of the initialization.
    example_batch: a batch as the step receives it; only its shapes are read.

  Returns:
    The GANState at step 0 (with the EMA of G and the loss's state when the spec has them).
  """
  check_batch(spec, example_batch)
  x_shape = jax.ShapeDtypeStruct(example_batch["x"].shape[1:], example_batch["x"].dtype)

  def init(key):
    g_key, d_key = jax.random.split(key)
    x = jnp.zeros(x_shape.shape, x_shape.dtype)
    batch = x.shape[0]
    labels = jnp.zeros((batch,), jnp.int32) if spec.num_classes else None
    z = spec.latent_space.sample(jax.random.key(0), (batch,), labels).z
    fake, g_variables = spec.generator.init_with_output(
      {"params": g_key}, *model_inputs(z, labels), train=False
    )
    check_generator_output(fake.shape[1:], x.shape[1:])
    d_labels = labels if spec.label_to_discriminator else None
    d_variables = spec.discriminator.init(
      {"params": d_key}, *model_inputs(x, d_labels), train=False
    )
    g_params, g_model_state = split_variables(g_variables)
    d_params, d_model_state = split_variables(d_variables)
    generator = PlayerState(g_params, g_model_state, spec.generator_optimizer.init(g_params))
    discriminator = PlayerState(
      d_params, d_model_state, spec.discriminator_optimizer.init(d_params)
    )
    ema = None
    if spec.ema_decay is not None:
      ema = generator_ema(spec).init(g_params)
    regs = (*spec.discriminator_regularizers, *spec.generator_regularizers)
    regularizer_state = {r.name: r.init() for r in regs if r.init is not None}
    # a lazy term's last value, logged on the steps it skips
    regularizer_state.update({last_value_key(r): jnp.zeros([]) for r in regs if r.every > 1})
    return GANState(
      jnp.zeros([], jnp.int32),
      generator,
      discriminator,
      ema,
      spec.loss.init_state(),
      regularizer_state,
      spec.augment.init() if isinstance(spec.augment, Augmentation) else {},
    )

  return jax.jit(init)(key)


def generator_ema(spec: GANSpec) -> optim.ParameterEma:
  """The EMA of G's weights the spec asks for (its decay, warm-up and start step)."""
  return optim.parameter_ema(spec.ema_decay, warmup=spec.ema_warmup, start=spec.ema_start)


def generator_params(state: GANState) -> Any:
  """The parameters to sample with: the EMA average when there is one."""
  return state.generator.params if state.generator_ema is None else state.generator_ema.average


def _d_labels(spec: GANSpec, labels: Array | None) -> Array | None:
  return labels if spec.label_to_discriminator else None


def _augment_keys(spec: GANSpec, key: Array) -> tuple[Array, Array | None]:
  """(the regularizers' key, the augmentations' key): key itself and None without augment."""
  if spec.augment is None:
    return key, None
  key, augment_key = jax.random.split(key)
  return key, augment_key


def _augmented(spec: GANSpec, x, key, stream: int):
  """spec.augment(x) with the key's stream-th draw (x itself without augment, or x None)."""
  if spec.augment is None or x is None:
    return x
  return spec.augment(x, jax.random.fold_in(key, stream))


def _discriminate(spec: GANSpec, params, model_state, real, fake, labels, augment_key=None):
  """D on real and fake batches (each augmented with its own draws when the spec augments)
  → (real_out or None, fake_out, new model_state): output dicts."""
  labels = _d_labels(spec, labels)
  real, fake = _augmented(spec, real, augment_key, 0), _augmented(spec, fake, augment_key, 1)
  return discriminate_batches(spec.discriminator, params, model_state, real, fake, labels)


def _score_fn(spec: GANSpec, params, model_state, labels, augment_key=None):
  """d_fn for the penalties: a batch → D's per-example scores, under the batch's labels (of
  the augmented batch, when the spec augments)."""

  def d_fn(x):
    x = _augmented(spec, x, augment_key, 2)
    out = apply_model(spec.discriminator, params, model_state, x, True, _d_labels(spec, labels))
    return as_outputs(out[0])["adv"]

  return d_fn


def _generate_for_critic(spec: GANSpec, g: PlayerState, latent: Latent, key: Array) -> Array:
  """G(z) for all n_critic updates at once: G does not change during them.

  latent.z: [n_critic, B, ...]. Without batch statistics the n_critic batches
  go through G as one, ordered example-major ([B, n_critic]) so that under a
  mesh every device keeps its own examples; with them, each batch keeps its
  own statistics (vmap). key: G's random streams (jaxgan.step.model_rngs).
  """
  zs, labels = latent.z, latent.labels
  n, b = zs.shape[:2]
  rngs = model_rngs(key)

  def generate(z, labels):
    return apply_model(spec.generator, g.params, g.model_state, z, True, labels, rngs)[0]

  if "batch_stats" in g.model_state:
    fakes = jax.vmap(generate)(zs, labels)
  else:
    flat_labels = None if labels is None else jnp.swapaxes(labels, 0, 1).reshape(n * b)
    flat = generate(merge_leading_axes(jnp.swapaxes(zs, 0, 1)), flat_labels)
    fakes = jnp.swapaxes(flat.reshape(b, n, *flat.shape[1:]), 0, 1)
  return jax.lax.stop_gradient(fakes)


def _add_regularizers(regs, loss, metrics, inputs: RegularizerInputs, states, scale=1.0):
  """(loss + Σ scale·weight·term over `regs`, their new states): each term logged in
  `metrics` and given its own key split from inputs.key; a stateful term (Regularizer.init)
  reads states[name] and returns its new state."""
  keys = jax.random.split(inputs.key, len(regs)) if regs else []
  states = dict(states)
  for reg, k in zip(regs, keys, strict=True):
    if reg.init is None:
      value = reg.fn(inputs._replace(key=k))
    else:
      value, states[reg.name] = reg.fn(inputs._replace(key=k, state=states[reg.name]))
    metrics[reg.name] = value
    loss = loss + scale * reg.weight * value
  return loss, states


def last_value_key(reg) -> str:
  """Where the regularizer state keeps a lazy term's last value."""
  return f"{reg.name}_last"


def _every_step(regs) -> tuple:
  """The regularizers in every update's loss (every = 1)."""
  return tuple(r for r in regs if r.every == 1)


def _lazy_intervals(regs) -> list[int]:
  """The distinct intervals k > 1 of the lazy regularizers, in order."""
  return sorted({r.every for r in regs if r.every > 1})


def lazy_update(
  optimizer,
  player: PlayerState,
  regs,
  make_inputs,
  step: Array,
  key: Array,
  states: dict,
):
  """The lazy regularizers' own optimizer updates (StyleGAN2 Appendix B).

  For every interval k among `regs` (every > 1): on steps with step % k == 0, one update of
  the player on Σ k·weight·fn(inputs) over the terms of that interval, inside the compiled
  step (lax.cond); on the other steps the player and the states pass through. The metrics
  of a term are its value on its steps and its last value elsewhere (kept in the states),
  with "<name>_applied" 1 or 0.

  Args:
    optimizer: the player's optax chain (with lazy_adam's rescaled learning rate and betas).
    player: its state after the main update.
    regs: the player's regularizers.
    make_inputs: params → RegularizerInputs at those parameters.
    step: the training step.
    key: the key of the lazy terms.
    states: the regularizer states by name.

  Returns:
    (the player, the regularizer states, metrics).
  """
  metrics = {}
  for k in _lazy_intervals(regs):
    group = tuple(r for r in regs if r.every == k)
    group_key = jax.random.fold_in(key, k)

    def regularize(carry, group=group, group_key=group_key, k=k):
      player, states = carry

      def objective(params):
        terms = {}
        inputs = make_inputs(params)._replace(key=group_key)
        total, new_states = _add_regularizers(group, 0.0, terms, inputs, states, scale=k)
        new_states.update({last_value_key(r): terms[r.name] for r in group})
        return total, (terms, new_states)

      (_, (terms, new_states)), grads = jax.value_and_grad(objective, has_aux=True)(player.params)
      player = update_player(optimizer, player, grads, player.model_state)
      return player, new_states, {**terms, **{f"{r.name}_applied": 1.0 for r in group}}

    def skip(carry, group=group):
      player, states = carry
      terms = {r.name: states[last_value_key(r)] for r in group}
      return player, states, {**terms, **{f"{r.name}_applied": 0.0 for r in group}}

    player, states, terms = jax.lax.cond(step % k == 0, regularize, skip, (player, states))
    metrics.update(terms)
  return player, states, metrics


# ---------------------------------------------------------------------------
# The updates.
# ---------------------------------------------------------------------------


def discriminator_update(
  spec: GANSpec,
  d: PlayerState,
  real: Array,
  fake: Array,
  key: Array,
  labels: Array | None = None,
  latent: Latent | None = None,
  loss_state: Any = (),
  regularizer_state: Any = None,
):
  """One critic update on (real, fake), with the regularizers applied every update (the
  lazy ones are `lazy_update`'s).

  Args:
    spec: the GAN.
    d: D's player state.
    real: the real batch [B, ...].
    fake: the fake batch [B, ...] (G's output, no gradient to G).
    key: the key of the regularizers.
    labels: the real batch's (and so the fakes') classes, for conditional GANs.
    latent: what the fakes were generated from (InfoGAN's terms read it).
    loss_state: the adversarial loss's state (BEGAN's k_t).
    regularizer_state: the regularizers' states by name.

  Returns:
    (D's new player state, the loss's new state, metrics, the regularizers' new states).
  """

  regularizer_state = regularizer_state or {}

  def objective(params, carry, inputs, key):
    model_state, reg_states = carry
    real, fake, labels, latent = inputs
    key, augment_key = _augment_keys(spec, key)
    real_out, fake_out, new_model_state = _discriminate(
      spec, params, model_state, real, fake, labels, augment_key
    )
    loss = spec.loss.discriminator(real_out, fake_out, loss_state)
    metrics = {
      "d_loss": loss,
      "d_real": jnp.mean(real_out["adv"]),
      "d_fake": jnp.mean(fake_out["adv"]),
    }
    d_fn = _score_fn(spec, params, model_state, labels, augment_key)
    inputs = RegularizerInputs(
      d_fn, real, fake, params, key, real_out, fake_out, labels, latent, model_state
    )
    regs = _every_step(spec.discriminator_regularizers)
    total, reg_states = _add_regularizers(regs, loss, metrics, inputs, reg_states)
    metrics["d_total_loss"] = total
    return total, ((metrics, real_out, fake_out), (new_model_state, reg_states))

  grads, aux, (model_state, regularizer_state) = accumulated_gradients(
    objective,
    d.params,
    (d.model_state, regularizer_state),
    (real, fake, labels, latent),
    key,
    spec.accumulate,
  )
  metrics, real_out, fake_out = aux
  metrics = jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics)
  real_out, fake_out = merge_microbatches((real_out, fake_out))
  if spec.augment is not None:  # an adaptive augmentation reads them (train_step)
    metrics["d_real_scores"] = jax.lax.stop_gradient(real_out["adv"])
  metrics["d_grad_norm"] = optax.tree.norm(grads)
  if spec.loss.update_state is not None:
    loss_state, loss_metrics = spec.loss.update_state(loss_state, real_out, fake_out)
    metrics.update(loss_metrics)
  d = update_player(spec.discriminator_optimizer, d, grads, model_state)
  return d, loss_state, metrics, regularizer_state


def unrolled_discriminator_params(
  spec: GANSpec, d: PlayerState, real: Array, fake: Array, labels, loss_state, augment_key=None
):
  """D's parameters after spec.unroll_steps look-ahead updates, as a differentiable function of
  the fakes.

  Unrolled GAN (Metz, Poole, Pfau & Sohl-Dickstein 2017, eq. 4–6): G minimizes
  f(θ, φ_K(θ, φ)), where φ_K is D after K steps of its training from φ; the
  gradient through the unrolled steps tells G how D would react to its move, which
  discourages collapsing onto the mode D currently likes least. Simplification: the
  K steps reuse this update's real and fake batches. D's real update is unchanged.
  D's optimizer must be differentiable: optax.adam needs eps_root > 0 (else √v has an
  infinite derivative wherever a gradient component is exactly 0, and G's gradient is NaN).

  Args:
    spec: the GAN (its unroll_steps, D's optimizer and loss).
    d: D's player state.
    real: the real batch.
    fake: the fake batch, a function of G's parameters.
    labels: the classes of both, or None.
    loss_state: the adversarial loss's state.
    augment_key: the augmentations' key, when the spec augments D's inputs.

  Returns:
    D's parameters after the look-ahead steps.
  """

  def d_loss(params):
    real_out, fake_out, _ = _discriminate(
      spec, params, d.model_state, real, fake, labels, augment_key
    )
    return spec.loss.discriminator(real_out, fake_out, loss_state)

  def look_ahead(carry, _):
    params, opt_state = carry
    updates, opt_state = spec.discriminator_optimizer.update(
      jax.grad(d_loss)(params), opt_state, params
    )
    return (optax.apply_updates(params, updates), opt_state), None

  (params, _), _ = jax.lax.scan(look_ahead, (d.params, d.opt_state), None, spec.unroll_steps)
  return params


def generator_update(
  spec: GANSpec,
  g: PlayerState,
  d: PlayerState,
  real: Array,
  latent: Latent,
  key: Array,
  labels: Array | None = None,
  loss_state: Any = (),
  regularizer_state: Any = None,
):
  """One generator update against the current D (with the regularizers applied every update).

  Args:
    spec: the GAN.
    g: G's player state.
    d: D's player state (after this step's critic updates).
    real: the last critic update's real batch (read by relativistic losses, feature matching).
    latent: G's inputs for this update.
    key: the key of the regularizers.
    labels: the classes asked for, for conditional GANs.
    loss_state: the adversarial loss's state.
    regularizer_state: the regularizers' states by name.

  Returns:
    (G's new player state, metrics, the regularizers' new states).
  """

  regularizer_state = regularizer_state or {}

  def objective(params, carry, inputs, key):
    model_state, reg_states = carry
    real, latent, labels = inputs
    key, augment_key = _augment_keys(spec, key)
    key, model_key = jax.random.split(key)
    fake, new_model_state = apply_model(
      spec.generator, params, model_state, latent.z, True, latent.labels, model_rngs(model_key)
    )
    real_in = real if spec.loss.generator_uses_real else None
    d_params = d.params
    if spec.unroll_steps:
      d_params = unrolled_discriminator_params(spec, d, real, fake, labels, loss_state, augment_key)
    real_out, fake_out, _ = _discriminate(
      spec, d_params, d.model_state, real_in, fake, labels, augment_key
    )
    loss = spec.loss.generator(real_out, fake_out, loss_state)
    metrics = {"g_loss": loss}
    d_fn = _score_fn(spec, d.params, d.model_state, labels, augment_key)
    inputs = RegularizerInputs(
      d_fn, real, fake, params, key, real_out, fake_out, labels, latent, model_state
    )
    regs = _every_step(spec.generator_regularizers)
    total, reg_states = _add_regularizers(regs, loss, metrics, inputs, reg_states)
    metrics["g_total_loss"] = total
    return total, (metrics, (new_model_state, reg_states))

  grads, metrics, (model_state, regularizer_state) = accumulated_gradients(
    objective,
    g.params,
    (g.model_state, regularizer_state),
    (real, latent, labels),
    key,
    spec.accumulate,
  )
  metrics = jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics)
  metrics["g_grad_norm"] = optax.tree.norm(grads)
  g = update_player(spec.generator_optimizer, g, grads, model_state)
  return g, metrics, regularizer_state


def train_step(
  spec: GANSpec, state: GANState, batch: dict[str, Array], key: Array, mesh: Mesh | None = None
):
  """n_critic D updates (lax.scan), then one G update, then the EMA of G's weights.

  Args:
    spec: the GAN.
    state: the training state.
    batch: {"x": [n_critic, B, ...]} and, for conditional GANs, {"label": [n_critic, B]}.
    key: the run's base key; the step folds state.step into it.
    mesh: with a mesh, the noise is split over its 'data' axis like the real batch, so
      that every device generates and discriminates its own examples.

  Returns:
    (the new state, metrics: means over the critic updates, G's, and "finite").
  """
  check_batch(spec, batch)
  adaptive = spec.augment if isinstance(spec.augment, Augmentation) else None
  if adaptive is not None:  # this step's augmentation, at the state's p
    spec = dataclasses.replace(spec, augment=functools.partial(adaptive.apply, state.augment_state))
  real = batch["x"]
  labels = batch.get("label") if spec.num_classes else None
  batch_size = real.shape[1]
  key = jax.random.fold_in(key, state.step)
  zd_key, d_key, zg_key, g_key = jax.random.split(key, 4)

  critic_latent = shard_examples(
    spec.latent_space.sample(zd_key, (spec.n_critic, batch_size), labels), mesh, 1
  )
  fakes = _generate_for_critic(spec, state.generator, critic_latent, jax.random.fold_in(zd_key, 1))
  check_generator_output(fakes.shape[2:], real.shape[2:])

  def critic(carry, xs):
    d, loss_state, reg_state = carry
    real_i, fake_i, key_i, latent_i = xs
    d, loss_state, metrics, reg_state = discriminator_update(
      spec, d, real_i, fake_i, key_i, latent_i.labels, latent_i, loss_state, reg_state
    )
    return (d, loss_state, reg_state), metrics

  (d_state, loss_state, reg_state), d_metrics = jax.lax.scan(
    critic,
    (state.discriminator, state.loss_state, state.regularizer_state),
    (real, fakes, jax.random.split(d_key, spec.n_critic), critic_latent),
  )
  real_scores = d_metrics.pop("d_real_scores", None)
  metrics = jax.tree.map(lambda m: jnp.mean(m, axis=0), d_metrics)
  augment_state = state.augment_state
  if adaptive is not None:
    augment_state, augment_metrics = adaptive.update(augment_state, real_scores[-1], state.step)
    metrics.update(augment_metrics)
  d_state, reg_state, lazy_metrics = _lazy_discriminator_update(
    spec, d_state, real[-1], fakes[-1], critic_latent, labels, state.step, d_key, reg_state
  )
  metrics.update(lazy_metrics)

  g_labels = None if labels is None else labels[-1]
  g_latent = shard_examples(spec.latent_space.sample(zg_key, (batch_size,), g_labels), mesh, 0)
  g_state, g_metrics, reg_state = generator_update(
    spec, state.generator, d_state, real[-1], g_latent, g_key, g_labels, loss_state, reg_state
  )
  metrics.update(g_metrics)
  g_state, reg_state, lazy_metrics = _lazy_generator_update(
    spec, g_state, d_state, real[-1], g_latent, g_labels, state.step, g_key, reg_state
  )
  metrics.update(lazy_metrics)

  ema = state.generator_ema
  if ema is not None:
    ema = generator_ema(spec).update(g_state.params, ema)
  metrics["finite"] = all_finite(metrics)
  new_state = GANState(state.step + 1, g_state, d_state, ema, loss_state, reg_state, augment_state)
  return new_state, metrics


def _lazy_discriminator_update(spec, d, real, fake, latents, labels, step, key, reg_state):
  """D's lazy regularizers (lazy_update) on the last critic batch, after the critic updates."""
  regs = spec.discriminator_regularizers
  if not _lazy_intervals(regs):
    return d, reg_state, {}
  latent = jax.tree.map(lambda a: a[-1], latents)
  last_labels = None if labels is None else labels[-1]
  key, augment_key = _augment_keys(spec, jax.random.fold_in(key, 1))

  def make_inputs(params):
    d_fn = _score_fn(spec, params, d.model_state, last_labels, augment_key)
    return RegularizerInputs(
      d_fn, real, fake, params, key, labels=last_labels, latent=latent, model_state=d.model_state
    )

  return lazy_update(spec.discriminator_optimizer, d, regs, make_inputs, step, key, reg_state)


def _lazy_generator_update(spec, g, d, real, latent, labels, step, key, reg_state):
  """G's lazy regularizers (lazy_update), after G's main update, on the same latent batch."""
  regs = spec.generator_regularizers
  if not _lazy_intervals(regs):
    return g, reg_state, {}
  key, augment_key = _augment_keys(spec, jax.random.fold_in(key, 1))

  def make_inputs(params):
    d_fn = _score_fn(spec, d.params, d.model_state, labels, augment_key)
    return RegularizerInputs(
      d_fn, real, None, params, key, labels=labels, latent=latent, model_state=g.model_state
    )

  return lazy_update(spec.generator_optimizer, g, regs, make_inputs, step, key, reg_state)


def make_train_step(
  spec: GANSpec, *, mesh: Mesh | None = None, donate: bool = True, max_traces: int | None = 1
):
  """`train_step` of `spec`, jit-compiled (jaxgan.step.compile_step).

  Args:
    spec: the GAN.
    mesh: run data-parallel over its devices (jaxgan.parallel): the state and key
      replicated, batches split along their example axis, the metrics replicated.
      Without one, the step runs on the default device.
    donate: hand the old state's buffers to the new state (do not reuse the state passed in).
    max_traces: tracing the step more often (a batch of another shape or dtype) raises
      RecompilationError; None allows any number. The count is this step's own, so several
      GANs can train in one process.

  Returns:
    step(state, batch, key) -> (state, metrics).
  """
  batch_sharding = None if mesh is None else parallel.step_batch_sharding(mesh)
  return compile_step(
    lambda state, batch, key: train_step(spec, state, batch, key, mesh),
    mesh=mesh,
    batch_sharding=batch_sharding,
    donate=donate,
    max_traces=max_traces,
  )


# ---------------------------------------------------------------------------
# The trainer, and the kind: a run's generator from its config.json.
# ---------------------------------------------------------------------------


def sampling_variables(state: trainer.StateDict) -> tuple[Any, Any]:
  """(params, model_state) to sample with, from a state dict: the EMA average when the run
  kept one, else G's own parameters."""
  ema = state.get("generator_ema")
  params = ema["average"] if ema else state["generator"]["params"]
  return params, state["generator"]["model_state"]


def generator_view(
  G: nn.Module,
  D: nn.Module | None,
  space: LatentSpace,
  mesh: Mesh | None = None,
  standing: tuple[int, int] = (),
) -> trainer.Generator:
  """The trainer.Generator of a GAN: G in eval mode on a state dict's sampling variables.

  Args:
    G: the generator.
    D: the discriminator, for its scores of single examples (the toy plots' contours);
      None for no critic.
    space: G's latent space.
    mesh: the devices G runs on; the outputs come back replicated, readable by every process.
    standing: (batches, batch_size): G's BatchNorm statistics recomputed over that many
      batches of noise before it samples a state (BigGAN's standing statistics,
      jaxgan.models.standing_stats); () keeps the running averages of training.

  Returns:
    The Generator.
  """
  out_shardings = None if mesh is None else parallel.replicated(mesh)
  restand = standing_stats.standing_sampler(G, space, *standing) if standing else None

  @functools.partial(jax.jit, out_shardings=out_shardings)
  def generate_with(params, model_state, z, labels):
    return apply_model(G, params, model_state, z, False, labels)[0]

  def generate(state, latent: Latent) -> np.ndarray:
    params, model_state = sampling_variables(state)
    if restand is not None:
      model_state = restand(params, model_state)
    return np.asarray(generate_with(params, model_state, latent.z, latent.labels))

  critic = None
  if D is not None:

    @functools.partial(jax.jit, out_shardings=out_shardings)
    def critic_with(params, model_state, points):
      return as_outputs(apply_model(D, params, model_state, points, False)[0])["adv"]

    def critic(state, points) -> np.ndarray:
      d = state["discriminator"]
      return np.asarray(critic_with(d["params"], d["model_state"], points))

  return trainer.Generator(space, generate, critic, style_view(G, out_shardings))


def style_view(G: nn.Module, out_shardings=None) -> trainer.Styles | None:
  """The trainer.Styles of a style-based G (one with `mapping` and `synthesis` methods and
  `num_ws`, as jaxgan.models.stylegan2), else None."""
  if not all(hasattr(G, name) for name in ("mapping", "synthesis", "num_ws")):
    return None

  @functools.partial(jax.jit, static_argnums=(4,), out_shardings=out_shardings)
  def mapping_with(params, model_state, z, psi, cutoff):
    variables = {"params": params, **model_state}
    return G.apply(variables, z, truncation_psi=psi, truncation_cutoff=cutoff, method=G.mapping)

  @functools.partial(jax.jit, out_shardings=out_shardings)
  def synthesis_with(params, model_state, ws):
    return G.apply({"params": params, **model_state}, ws, method=G.synthesis)

  def mapping(state, z, psi: float = 1.0, cutoff: int | None = None) -> np.ndarray:
    return np.asarray(mapping_with(*sampling_variables(state), z, jnp.float32(psi), cutoff))

  def synthesis(state, ws) -> np.ndarray:
    return np.asarray(synthesis_with(*sampling_variables(state), ws))

  return trainer.Styles(G.num_ws, mapping, synthesis)


def model_of(spec: GANSpec, dataset, mesh: Mesh | None = None) -> trainer.Model:
  """The trainer.Model of a GAN being trained: its generator (and D for the toy plots) and
  its data.

  Args:
    spec: the GAN.
    dataset: the training data.
    mesh: the devices G runs on.

  Returns:
    The Model the evaluators read.
  """
  critic = None if spec.label_to_discriminator else spec.discriminator
  return trainer.Model(
    datasets=lambda: trainer.Datasets(dataset),
    generator=generator_view(
      spec.generator, critic, spec.latent_space, mesh, spec.standing_statistics
    ),
  )


def describe_spec(spec: GANSpec, dataset, evaluator_names: Sequence[str]) -> dict[str, Any]:
  """config.json's entries of a GAN: its data, latent space, networks (what `restore`
  rebuilds G from), n_critic, EMA and evaluators.

  Args:
    spec: the GAN.
    dataset: its training data (image data adds "image_shape").
    evaluator_names: the evaluators of the run.

  Returns:
    A JSON-able dict, without the kind (each kind adds its own).
  """
  description = {
    "dataset": dataset.name,
    "latent_dim": spec.latent_dim,
    "latent_space": spec.latent_space._asdict(),
    "generator": models.describe(spec.generator),
    "discriminator": models.describe(spec.discriminator),
    "n_critic": spec.n_critic,
    "ema_decay": spec.ema_decay,
    "standing_statistics": list(spec.standing_statistics),
    "evaluators": list(evaluator_names),
  }
  if isinstance(dataset, ImageDataset):
    description["image_shape"] = [dataset.image_size, dataset.image_size, dataset.channels]
  return description


def make_trainer(
  spec: GANSpec,
  dataset,
  config,
  *,
  mesh: Mesh | None = None,
  fid_features: str = "auto",
  evaluator_names: Sequence[str] | None = None,
) -> trainer.Trainer:
  """The Trainer of `spec` on `dataset`, for jaxgan.loop.run_training.

  Args:
    spec: the GAN.
    dataset: a ToyDataset or an ImageDataset (jaxgan.data.get_dataset).
    config: the loop's settings (a jaxgan.config.LoopConfig): batch_size, seed,
      num_eval_samples.
    mesh: train data-parallel over its devices (jaxgan.parallel).
    fid_features: the feature network of the "features" evaluator (jaxgan.features).
    evaluator_names: the evaluators (jaxgan.evaluators); default: those for the data.

  Returns:
    The Trainer; its describe() is what `restore` rebuilds the generator from.
  """
  stream = data.make_stream(dataset, config.batch_size, spec.n_critic, config.seed, mesh)
  model = model_of(spec, dataset, mesh)
  names = list(evaluator_names or evaluators.default_names(model))

  def describe() -> dict[str, Any]:
    return {**trainer.describe_kind(KIND), **describe_spec(spec, dataset, names)}

  regularizers = (*spec.discriminator_regularizers, *spec.generator_regularizers)
  return trainer.Trainer(
    init=functools.partial(init_state, spec),
    step=make_train_step(spec, mesh=mesh),
    batches=stream,
    evaluators=evaluators.for_training(names, model, config, fid_features=fid_features, mesh=mesh),
    describe=describe,
    log_terms=[r.name for r in regularizers]
    + (["ada_p", "ada_rt"] if isinstance(spec.augment, Augmentation) else []),
    summary=f"on {dataset.name}, batch {config.batch_size}, n_critic {spec.n_critic}",
  )


def run_dataset(config: dict[str, Any]):
  """The dataset a run trained on, from its config.json."""
  run_flags = config.get("flags", {})
  image_size = (config.get("image_shape") or [run_flags.get("image_size", 32)])[0]
  return data.get_dataset(
    config["dataset"], image_size=image_size, data_dir=run_flags.get("data_dir")
  )


def restore(config: dict[str, Any]) -> trainer.Model:
  """A GAN run's Model from its config.json: G (and D for the toy plots) and its data."""
  space = LatentSpace.from_json(config.get("latent_space") or {"latent_dim": config["latent_dim"]})
  D = models.build(config["discriminator"]) if "discriminator" in config else None
  if space.num_classes:
    D = None  # a conditional D scores (example, label) pairs: no contours of single points
  dataset = functools.cache(lambda: run_dataset(config))
  return trainer.Model(
    datasets=lambda: trainer.Datasets(dataset()),
    generator=generator_view(
      models.build(config["generator"]), D, space, standing=config.get("standing_statistics", ())
    ),
  )


KIND = trainer.register(trainer.Kind("gan", restore))
