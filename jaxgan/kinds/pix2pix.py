"""pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial
Networks"): G: A → B learned from pairs (a, b), in one compiled step.

    spec = Pix2PixSpec(generator=models.UNetGenerator(...),
                       discriminator=models.PatchGANDiscriminator(...),
                       loss=loss_pairs.loss_pair("non_saturating"), l1_weight=100.0,
                       generator_optimizer=optax.adam(2e-4, 0.5), discriminator_optimizer=...)
    state = init_state(spec, key, batch)        # batch: {"a": inputs, "b": targets}
    step = make_train_step(spec)
    state, metrics = step(state, batch, key)

D judges (input, output) pairs, channels concatenated; G minimizes the
conditional GAN loss plus λ·‖b − G(a)‖₁ (λ = 100, eq. 4). G's noise is
dropout, kept on when sampling. The step runs G forward once, updates D on the
detached output, then pulls the gradient of G's loss under the updated D back
through the same forward (jax.vjp), as the authors' code does with one
forward pass.

This module registers the kind "pix2pix": a run's generator is rebuilt from
its config.json for `python -m jaxgan.translate` and `jaxgan.evaluate`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from jaxgan import losses, models, trainer
from jaxgan.errors import ConfigError
from jaxgan.kinds import image_to_image
from jaxgan.kinds.image_to_image import apply_translator, check_batch
from jaxgan.loss_pairs import LossPair
from jaxgan.step import (
  PlayerState,
  all_finite,
  compile_spec_step,
  discriminate_batches,
  init_player,
  update_player,
)

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Pix2PixSpec:
  """pix2pix: G maps inputs a to outputs, D judges (a, output) pairs.

  loss: the conditional GAN loss (non-saturating in the paper; the authors'
  code also offers least squares). The paper halves D's objective "to slow
  the rate at which D learns relative to G"; under Adam, which is invariant
  to the scale of the loss, that changes nothing, so it is left out.
  """

  generator: nn.Module
  discriminator: nn.Module
  loss: LossPair
  generator_optimizer: optax.GradientTransformation
  discriminator_optimizer: optax.GradientTransformation
  l1_weight: float = 100.0

  def __post_init__(self):
    if self.l1_weight < 0:
      raise ConfigError(f"the L1 weight must be 0 or more, got {self.l1_weight}")


@flax.struct.dataclass
class Pix2PixState:
  step: Array
  generator: PlayerState
  discriminator: PlayerState


def init_state(spec: Pix2PixSpec, key: Array, example_batch: dict[str, Array]):
  """Fresh parameters and optimizer states of G and D, as one compiled program.

  Args:
    spec: the pix2pix spec.
    key: the key of the initialization.
    example_batch: {"a": inputs, "b": targets}; only the shapes are read.

  Returns:
    The Pix2PixState at step 0.
  """
  check_batch(example_batch)
  a_shape = jax.ShapeDtypeStruct(example_batch["a"].shape, jnp.float32)
  b_shape = jax.ShapeDtypeStruct(example_batch["b"].shape, jnp.float32)

  def init(key):
    g_key, d_key = jax.random.split(key)
    a, b = jnp.zeros(a_shape.shape), jnp.zeros(b_shape.shape)
    pair = jnp.concatenate([a, b], axis=-1)
    return Pix2PixState(
      jnp.zeros([], jnp.int32),
      init_player(spec.generator, g_key, a, optimizer=spec.generator_optimizer),
      init_player(spec.discriminator, d_key, pair, optimizer=spec.discriminator_optimizer),
    )

  return jax.jit(init)(key)


def train_step(spec: Pix2PixSpec, state: Pix2PixState, batch, key: Array, mesh=None):
  """One D update on (a, b) vs (a, G(a)), then one G update against the new D.

  Args:
    spec: the pix2pix spec.
    state: the training state.
    batch: {"a": inputs [B, H, W, C], "b": targets [B, H, W, C]}, paired.
    key: the run's base key; the step folds state.step into it (G's dropout).
    mesh: unused (the batch's layout comes from the compiled step); kept for the
      signature every kind's step shares.

  Returns:
    (the new state, metrics: d_loss, g_loss, l1, D's outputs, gradient norms, "finite").
  """
  check_batch(batch)
  a, b = batch["a"], batch["b"]
  key = jax.random.fold_in(key, state.step)
  g, d = state.generator, state.discriminator

  def generate(params):
    return apply_translator(spec.generator, params, g.model_state, a, key)

  fake, pull_back, g_model_state = jax.vjp(generate, g.params, has_aux=True)
  real_pairs = jnp.concatenate([a, b], axis=-1)

  def d_objective(params):
    fake_pairs = jnp.concatenate([a, jax.lax.stop_gradient(fake)], axis=-1)
    real_out, fake_out, model_state = discriminate_batches(
      spec.discriminator, params, d.model_state, real_pairs, fake_pairs
    )
    loss = spec.loss.discriminator(real_out, fake_out, ())
    metrics = {"d_loss": loss, "d_real": jnp.mean(real_out["adv"])}
    metrics["d_fake"] = jnp.mean(fake_out["adv"])
    return loss, (metrics, model_state)

  (_, (metrics, d_model_state)), d_grads = jax.value_and_grad(d_objective, has_aux=True)(d.params)
  metrics["d_grad_norm"] = optax.tree.norm(d_grads)
  d = update_player(spec.discriminator_optimizer, d, d_grads, d_model_state)

  def g_objective(fake):
    _, fake_out, _ = discriminate_batches(
      spec.discriminator, d.params, d.model_state, None, jnp.concatenate([a, fake], axis=-1)
    )
    adversarial = spec.loss.generator(None, fake_out, ())
    l1 = losses.l1_reconstruction_loss(fake, b)
    total = adversarial + spec.l1_weight * l1
    return total, {"g_loss": adversarial, "l1": l1, "g_total_loss": total}

  (_, g_metrics), fake_grad = jax.value_and_grad(g_objective, has_aux=True)(fake)
  (g_grads,) = pull_back(fake_grad)
  metrics.update(g_metrics, g_grad_norm=optax.tree.norm(g_grads))
  g = update_player(spec.generator_optimizer, g, g_grads, g_model_state)
  metrics["finite"] = all_finite(metrics)
  return Pix2PixState(state.step + 1, g, d), metrics


# make_train_step(spec, *, mesh=None, donate=True) -> step(state, batch, key): train_step
# compiled, the batch's example axis (0: {"a", "b"} are [B, ...]) split over the mesh
# (jaxgan.step.compile_spec_step).
make_train_step = functools.partial(compile_spec_step, train_step, batch_axis=0)


# ---------------------------------------------------------------------------
# The trainer, and the kind: a run's generator from its config.json.
# ---------------------------------------------------------------------------


def _generator_variables(state: trainer.StateDict) -> tuple[Any, Any]:
  return state["generator"]["params"], state["generator"]["model_state"]


def _translators(generator: nn.Module, mesh: Mesh | None = None) -> dict[str, trainer.Translate]:
  """G: A → B, sampled as in the paper: dropout on, BatchNorm on the test batch's statistics."""
  view = image_to_image.translator_view(
    generator, _generator_variables, sample_in_training_mode=True, mesh=mesh
  )
  return {"a_to_b": view}


def make_trainer(
  spec: Pix2PixSpec, dataset, test, config, *, mesh: Mesh | None = None
) -> trainer.Trainer:
  """The Trainer of `spec`: trained on paired data, judged on the held-out pairs.

  Args:
    spec: the pix2pix spec.
    dataset: the (input, target) training pairs (jaxgan.data.pairs), paired.
    test: the pairs the evaluator translates (held-out L1, the digits judge).
    config: a jaxgan.config.TranslationConfig (batch, seed, crop size, jitter).
    mesh: train data-parallel over its devices.

  Returns:
    The Trainer; its describe() names G and D for `restore`.
  """
  return image_to_image.make_trainer(
    KIND,
    spec,
    (init_state, make_train_step),
    networks={"generator": spec.generator, "discriminator": spec.discriminator},
    translators=_translators(spec.generator, mesh),
    dataset=dataset,
    test=test,
    config=config,
    mesh=mesh,
    log_terms=("l1",),
    name="pix2pix",
  )


def restore(config: dict[str, Any]) -> trainer.Model:
  """A pix2pix run's Model from its config.json."""
  return trainer.Model(
    datasets=lambda: image_to_image.run_datasets(config),
    translators=_translators(models.build(config["generator"])),
    image_size=config["image_shape"][0],
  )


KIND = trainer.register(trainer.Kind("pix2pix", restore))
