"""CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks"): G: A → B and F: B → A learned from unpaired sets, in one compiled step.

    spec = CycleGANSpec(generator_ab=G, generator_ba=F, discriminator_a=D_A, discriminator_b=D_B,
                        loss=loss_pairs.loss_pair("least_squares"), adversarial_weight=2.0,
                        generator_optimizer=..., discriminator_optimizer=...)
    state = init_state(spec, key, batch)        # batch: {"a": [B, H, W, C], "b": ...}; + pools
    step = make_train_step(spec)
    state, metrics = step(state, batch, key)

D_A judges domain A, D_B domain B; the generators minimize the adversarial
losses plus λ·(‖F(G(a)) − a‖₁ + ‖G(F(b)) − b‖₁) (λ = 10, eq. 3) plus the
identity loss λ_id·λ·(‖G(b) − b‖₁ + ‖F(a) − a‖₁) (λ_id = 0.5, §5.2). The
discriminators see fakes drawn from a pool of the 50 most recent ones
(Shrivastava et al. 2017), kept in the training state so that it is
checkpointed and resumed with everything else. One step updates both
generators (one optax chain over both, as the authors' one Adam over both),
then both discriminators.

This module registers the kind "cyclegan": a run's generators are rebuilt
from its config.json for `python -m jaxgan.translate` and `jaxgan.evaluate`.
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
  shard_examples,
  update_player,
)

Array = jax.Array


# ---------------------------------------------------------------------------
# The pool of earlier fakes.
# ---------------------------------------------------------------------------


@flax.struct.dataclass
class ImagePool:
  """Up to size earlier generated images [size, H, W, C]; count: how many slots are filled."""

  images: Array
  count: Array


def empty_pool(size: int, image_shape: tuple[int, ...]) -> ImagePool:
  return ImagePool(jnp.zeros((size, *image_shape), jnp.float32), jnp.zeros([], jnp.int32))


def query_pool(pool: ImagePool, fakes: Array, key: Array) -> tuple[ImagePool, Array]:
  """The images D trains on in place of `fakes`, and the pool after them.

  For each new fake in turn (Shrivastava et al. 2017, §2.3; Zhu et al. 2017,
  §4, the authors' ImagePool): while the pool has room, it is stored and shown
  as is; once the pool is full, with probability ½ a uniformly chosen stored
  image is shown instead and the new fake takes its slot, else the new fake is
  shown and the pool kept. A pool of size 0 shows the fakes as they are.

  Args:
    pool: the pool of earlier fakes.
    fakes: this step's fakes [B, H, W, C].
    key: the key of the coins and slots.

  Returns:
    (the new pool, the images shown to D [B, H, W, C]).
  """
  size = pool.images.shape[0]
  if size == 0:
    return pool, fakes

  coin_key, slot_key = jax.random.split(key)
  coins = jax.random.uniform(coin_key, fakes.shape[:1]) < 0.5
  slots = jax.random.randint(slot_key, fakes.shape[:1], 0, size)

  def one(carry, inputs):
    images, count = carry
    fake, coin, random_slot = inputs
    has_room = count < size
    swap = jnp.logical_and(~has_room, coin)
    slot = jnp.where(has_room, count, random_slot)
    stored = images[slot]
    images = images.at[slot].set(jnp.where(has_room | swap, fake, stored))
    return (images, count + has_room.astype(jnp.int32)), jnp.where(swap, stored, fake)

  (images, count), shown = jax.lax.scan(one, (pool.images, pool.count), (fakes, coins, slots))
  return ImagePool(images, count), shown


# ---------------------------------------------------------------------------
# CycleGAN.
# ---------------------------------------------------------------------------


GENERATORS = ("a_to_b", "b_to_a")
DISCRIMINATORS = ("a", "b")  # the discriminator of domain A and of domain B


@dataclasses.dataclass(frozen=True)
class CycleGANSpec:
  """CycleGAN: generators A → B and B → A, discriminators of A and of B.

  loss: the adversarial loss pair (least squares in the paper). Our least-squares
  generator loss is ½E[(D(G(a)) − 1)²] (Mao et al.'s form); the paper's is
  E[(D(G(a)) − 1)²], which adversarial_weight = 2 reproduces. identity_weight
  is λ_id, relative to cycle_weight λ; 0 turns the identity loss off (it needs
  both domains to have the same channels).
  """

  generator_ab: nn.Module
  generator_ba: nn.Module
  discriminator_a: nn.Module
  discriminator_b: nn.Module
  loss: LossPair
  generator_optimizer: optax.GradientTransformation
  discriminator_optimizer: optax.GradientTransformation
  cycle_weight: float = 10.0
  identity_weight: float = 0.5
  adversarial_weight: float = 1.0
  pool_size: int = 50

  def __post_init__(self):
    for name in ("cycle_weight", "identity_weight", "adversarial_weight", "pool_size"):
      if getattr(self, name) < 0:
        raise ConfigError(f"{name} must be 0 or more, got {getattr(self, name)}")

  def generator(self, name: str) -> nn.Module:
    return self.generator_ab if name == "a_to_b" else self.generator_ba

  def discriminator(self, name: str) -> nn.Module:
    return self.discriminator_a if name == "a" else self.discriminator_b


@flax.struct.dataclass
class CycleGANState:
  """params of `generators` are {"a_to_b": ..., "b_to_a": ...}; of `discriminators`
  {"a": ..., "b": ...}; pool_a holds earlier fakes of domain A (from B → A), pool_b of B."""

  step: Array
  generators: PlayerState
  discriminators: PlayerState
  pool_a: ImagePool
  pool_b: ImagePool


def _joint_player(players: dict[str, PlayerState], optimizer) -> PlayerState:
  params = {k: p.params for k, p in players.items()}
  return PlayerState(params, {k: p.model_state for k, p in players.items()}, optimizer.init(params))


def init_state(spec: CycleGANSpec, key: Array, example_batch: dict[str, Array]):
  """Fresh parameters and optimizer states of both generators and both discriminators, and
  empty pools, as one compiled program.

  Args:
    spec: the CycleGAN spec.
    key: the key of the initialization.
    example_batch: {"a": [B, H, W, C], "b": [B, H, W, C]}; only the shapes are read.

  Returns:
    The CycleGANState at step 0.
  """
  check_batch(example_batch)
  a_shape, b_shape = example_batch["a"].shape, example_batch["b"].shape
  if spec.identity_weight and a_shape[-1] != b_shape[-1]:
    raise ConfigError(
      f"the identity loss needs domains with the same channels, got {a_shape[-1]} and "
      f"{b_shape[-1]}: pass --identity_weight=0"
    )

  def init(key):
    keys = dict(zip(("a_to_b", "b_to_a", "a", "b"), jax.random.split(key, 4), strict=True))
    a, b = jnp.zeros(a_shape), jnp.zeros(b_shape)
    inputs = {"a_to_b": a, "b_to_a": b, "a": a, "b": b}
    no_optimizer = optax.identity()  # each pair gets one optimizer over both, below

    def player(name, module):
      return init_player(module, keys[name], inputs[name], optimizer=no_optimizer)

    generators = {n: player(n, spec.generator(n)) for n in GENERATORS}
    discriminators = {n: player(n, spec.discriminator(n)) for n in DISCRIMINATORS}
    return CycleGANState(
      jnp.zeros([], jnp.int32),
      _joint_player(generators, spec.generator_optimizer),
      _joint_player(discriminators, spec.discriminator_optimizer),
      empty_pool(spec.pool_size, a_shape[1:]),
      empty_pool(spec.pool_size, b_shape[1:]),
    )

  return jax.jit(init)(key)


def generator_objective(spec: CycleGANSpec, g_params, state: CycleGANState, a, b):
  """The generators' loss: adversarial terms under the current discriminators, cycle terms
  F(G(a)) vs a and G(F(b)) vs b, identity terms G(b) vs b and F(a) vs a.

  Args:
    spec: the CycleGAN spec.
    g_params: {"a_to_b": G's, "b_to_a": F's} parameters (differentiated).
    state: the training state (model states, discriminators).
    a: images of domain A.
    b: images of domain B.

  Returns:
    (total, (metrics, new model states, fake_a = F(b), fake_b = G(a))).
  """
  model_state = dict(state.generators.model_state)
  d = state.discriminators

  def translate(name, images):
    out, model_state[name] = apply_translator(
      spec.generator(name), g_params[name], model_state[name], images, None
    )
    return out

  def adversarial(name, fakes):
    _, out, _ = discriminate_batches(
      spec.discriminator(name), d.params[name], d.model_state[name], None, fakes
    )
    return spec.loss.generator(None, out, ())

  fake_b, fake_a = translate("a_to_b", a), translate("b_to_a", b)
  cycle = losses.cycle_consistency_loss(
    a, translate("b_to_a", fake_b), b, translate("a_to_b", fake_a)
  )
  adversarial_a, adversarial_b = adversarial("a", fake_a), adversarial("b", fake_b)
  total = spec.adversarial_weight * (adversarial_a + adversarial_b) + spec.cycle_weight * cycle
  metrics = {"g_loss": adversarial_a + adversarial_b, "g_loss_a": adversarial_a}
  metrics.update(g_loss_b=adversarial_b, cycle=cycle)
  if spec.identity_weight:
    identity = losses.l1_reconstruction_loss(translate("a_to_b", b), b)
    identity = identity + losses.l1_reconstruction_loss(translate("b_to_a", a), a)
    total = total + spec.identity_weight * spec.cycle_weight * identity
    metrics["identity"] = identity
  metrics["g_total_loss"] = total
  return total, (metrics, model_state, fake_a, fake_b)


def train_step(spec: CycleGANSpec, state: CycleGANState, batch, key: Array, mesh=None):
  """Both generators' update, then both discriminators' on pooled fakes.

  Args:
    spec: the CycleGAN spec.
    state: the training state.
    batch: {"a": [B, H, W, C], "b": [B, H, W, C]}, unpaired.
    key: the run's base key; the step folds state.step into it (the pools' draws).
    mesh: under a mesh, the pooled fakes stay split over the devices like the batch.

  Returns:
    (the new state, metrics: g_loss, cycle, identity, each D's loss and outputs, "finite").
  """
  check_batch(batch)
  a, b = batch["a"], batch["b"]
  key = jax.random.fold_in(key, state.step)
  pool_a_key, pool_b_key = jax.random.split(key)
  gs, ds = state.generators, state.discriminators

  (_, (metrics, g_model_state, fake_a, fake_b)), g_grads = jax.value_and_grad(
    lambda p: generator_objective(spec, p, state, a, b), has_aux=True
  )(gs.params)
  metrics["g_grad_norm"] = optax.tree.norm(g_grads)
  gs = update_player(spec.generator_optimizer, gs, g_grads, g_model_state)

  pool_a, shown_a = query_pool(state.pool_a, jax.lax.stop_gradient(fake_a), pool_a_key)
  pool_b, shown_b = query_pool(state.pool_b, jax.lax.stop_gradient(fake_b), pool_b_key)
  reals, shown = (
    {"a": a, "b": b},
    {"a": shard_examples(shown_a, mesh), "b": shard_examples(shown_b, mesh)},
  )

  def d_objective(params):
    total, model_state, d_metrics = 0.0, {}, {}
    for name in DISCRIMINATORS:
      real_out, fake_out, model_state[name] = discriminate_batches(
        spec.discriminator(name), params[name], ds.model_state[name], reals[name], shown[name]
      )
      loss = spec.loss.discriminator(real_out, fake_out, ())
      d_metrics[f"d_loss_{name}"] = loss
      d_metrics[f"d_real_{name}"] = jnp.mean(real_out["adv"])
      d_metrics[f"d_fake_{name}"] = jnp.mean(fake_out["adv"])
      total = total + loss
    d_metrics["d_loss"] = total
    return total, (d_metrics, model_state)

  (_, (d_metrics, d_model_state)), d_grads = jax.value_and_grad(d_objective, has_aux=True)(
    ds.params
  )
  metrics.update(d_metrics, d_grad_norm=optax.tree.norm(d_grads))
  ds = update_player(spec.discriminator_optimizer, ds, d_grads, d_model_state)
  metrics["finite"] = all_finite(metrics)
  return CycleGANState(state.step + 1, gs, ds, pool_a, pool_b), metrics


# make_train_step(spec, *, mesh=None, donate=True) -> step(state, batch, key): train_step
# compiled, the batch's example axis (0: {"a", "b"} are [B, ...]) split over the mesh
# (jaxgan.step.compile_spec_step).
make_train_step = functools.partial(compile_spec_step, train_step, batch_axis=0)


# ---------------------------------------------------------------------------
# The trainer, and the kind: a run's generators from its config.json.
# ---------------------------------------------------------------------------

CONFIG_ENTRIES = {  # config.json's entry of each network
  "a_to_b": "generator_ab",
  "b_to_a": "generator_ba",
  "a": "discriminator_a",
  "b": "discriminator_b",
}


def _translators(spec_generator, mesh: Mesh | None = None) -> dict[str, trainer.Translate]:
  """G: A → B and F: B → A in eval mode; spec_generator(direction) -> its module."""

  def view(direction):
    def variables(state):
      g = state["generators"]
      return g["params"][direction], g["model_state"][direction]

    return image_to_image.translator_view(
      spec_generator(direction), variables, sample_in_training_mode=False, mesh=mesh
    )

  return {direction: view(direction) for direction in GENERATORS}


def make_trainer(
  spec: CycleGANSpec, dataset, test, config, *, mesh: Mesh | None = None
) -> trainer.Trainer:
  """The Trainer of `spec` on two unpaired domains, judged on `test` (the translation
  evaluator: cycle errors, the domain classifier, the digits judge).

  Args:
    spec: the CycleGAN spec.
    dataset: both domains' training images (jaxgan.data.pairs).
    test: the held-out images.
    config: a jaxgan.config.TranslationConfig.
    mesh: the devices to train on.

  Returns:
    The Trainer; its describe() names the four networks for `restore`.
  """
  networks = {
    CONFIG_ENTRIES[n]: spec.generator(n) if n in GENERATORS else spec.discriminator(n)
    for n in (*GENERATORS, *DISCRIMINATORS)
  }
  return image_to_image.make_trainer(
    KIND,
    spec,
    (init_state, make_train_step),
    networks=networks,
    translators=_translators(spec.generator, mesh),
    dataset=dataset,
    test=test,
    config=config,
    mesh=mesh,
    log_terms=("cycle", "identity"),
    name="CycleGAN",
  )


def restore(config: dict[str, Any]) -> trainer.Model:
  """A CycleGAN run's Model from its config.json."""
  generators = {n: models.build(config[CONFIG_ENTRIES[n]]) for n in GENERATORS}
  return trainer.Model(
    datasets=lambda: image_to_image.run_datasets(config),
    translators=_translators(generators.__getitem__),
    image_size=config["image_shape"][0],
  )


KIND = trainer.register(trainer.Kind("cyclegan", restore))
