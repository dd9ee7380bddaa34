"""The two players' updates inside a GAN's step: one critic update, one generator update,
the lazy regularizers' own updates, and the Unrolled GAN's look-ahead discriminator.

jaxgan.kinds.gan's train_step orders them: n_critic `discriminator_update`s in a lax.scan,
`lazy_discriminator_update`, `generator_update`, `lazy_generator_update`, then the EMA of
G. Each is a pure function of a GANSpec and the players' states (jaxgan.step.PlayerState),
traced inside that one compiled step; tests call them on their own against a plain Python
reference. The adversarial loss comes from spec.loss (jaxgan.loss_pairs), the penalties
from the spec's Regularizer tuples, each with its weight and its interval (every = k > 1:
lazy, StyleGAN2 Appendix B). With spec.augment, every input of D is augmented (real and
fake with their own draws, in both updates and in the penalties: DiffAugment, ADA).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxgan.kinds.gan_spec import GANSpec, RegularizerInputs
from jaxgan.latent import Latent
from jaxgan.step import (
  PlayerState,
  accumulated_gradients,
  apply_model,
  as_outputs,
  discriminate_batches,
  merge_microbatches,
  model_rngs,
  update_player,
)

Array = jax.Array


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


def discriminate(spec: GANSpec, params, model_state, real, fake, labels, augment_key=None):
  """D on real and fake batches, each augmented with its own draws when the spec augments.

  Args:
    spec: the GAN (its D, whether D sees the labels, its augmentation).
    params: D's parameters.
    model_state: D's model state (spectral norm's u, BatchNorm statistics).
    real: the real batch, or None (a generator loss that does not read it).
    fake: the fake batch.
    labels: the classes of both, or None.
    augment_key: the augmentations' key, when the spec augments.

  Returns:
    (real_out or None, fake_out, D's new model state): output dicts with "adv".
  """
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
    real_out, fake_out, new_model_state = discriminate(
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
    real_out, fake_out, _ = discriminate(
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
    real_out, fake_out, _ = discriminate(
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


def lazy_discriminator_update(spec, d, real, fake, latents, labels, step, key, reg_state):
  """D's lazy regularizers (lazy_update) on the last critic batch, after the critic updates.

  Args:
    spec: the GAN.
    d: D's player state after the critic updates.
    real: the last critic update's real batch.
    fake: its fake batch.
    latents: the critic updates' latents, [n_critic, B, ...] (the last one is read).
    labels: their classes [n_critic, B], or None.
    step: the training step (a term of interval k runs when step % k == 0).
    key: the critic updates' key.
    reg_state: the regularizers' states by name.

  Returns:
    (D, the regularizer states, metrics), as `lazy_update`.
  """
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


def lazy_generator_update(spec, g, d, real, latent, labels, step, key, reg_state):
  """G's lazy regularizers (lazy_update), after G's main update, on the same latent batch.

  Args:
    spec: the GAN.
    g: G's player state after its main update.
    d: D's player state (the penalties' d_fn reads it).
    real: the last critic update's real batch.
    latent: the G update's latent batch.
    labels: its classes, or None.
    step: the training step (a term of interval k runs when step % k == 0).
    key: the G update's key.
    reg_state: the regularizers' states by name.

  Returns:
    (G, the regularizer states, metrics), as `lazy_update`.
  """
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
