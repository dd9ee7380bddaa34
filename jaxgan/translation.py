"""Image-to-image translation: pix2pix and CycleGAN, each trained by one compiled step.

    spec = Pix2PixSpec(generator=models.UNetGenerator(...),
                       discriminator=models.PatchGANDiscriminator(...),
                       loss=train.loss_pair("non_saturating"), l1_weight=100.0,
                       generator_optimizer=optax.adam(2e-4, 0.5), discriminator_optimizer=...)
    state = init_pix2pix_state(spec, key, batch)        # batch: {"a": inputs, "b": targets}
    step = make_pix2pix_step(spec)
    state, metrics = step(state, batch, key)

pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional
Adversarial Networks") learns G: A → B from pairs (a, b). D judges (input,
output) pairs, channels concatenated; G minimizes the conditional GAN loss plus
λ·‖b − G(a)‖₁ (λ = 100, eq. 4). G's noise is dropout, kept on when sampling.

CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks") learns G: A → B and F: B → A from
unpaired sets. D_A judges domain A, D_B domain B; the generators minimize
the adversarial losses plus λ·(‖F(G(a)) − a‖₁ + ‖G(F(b)) − b‖₁) (λ = 10, eq. 3)
plus the identity loss λ_id·λ·(‖G(b) − b‖₁ + ‖F(a) − a‖₁) (λ_id = 0.5, §5.2).
The discriminators see fakes drawn from a pool of the 50 most recent ones
(Shrivastava et al. 2017), kept in the training state so that it is
checkpointed and resumed with everything else.

Each step is one XLA program: pix2pix runs G forward once, updates D on the
detached output, then pulls the gradient of G's loss under the updated D back
through the same forward (jax.vjp), as the authors' code does with one
forward pass; CycleGAN updates both generators (one optax chain over both,
the same as the authors' one Adam over both), then both discriminators.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from jaxgan import losses, parallel, train
from jaxgan.errors import ConfigError
from jaxgan.train import PlayerState, apply_model

Array = jax.Array


# ---------------------------------------------------------------------------
# Shared pieces.
# ---------------------------------------------------------------------------


def apply_translator(
  module: nn.Module, params, model_state, images: Array, key: Array | None, train: bool = True
):
  """module(images) → (outputs, new model_state), with `key` for dropout (pix2pix's noise).

  The model state (BatchNorm statistics) changes only when train is True."""
  rngs = None if key is None else {"dropout": key}
  return apply_model(module, params, model_state, images, train, rngs=rngs)


def _init_player(module: nn.Module, key: Array, example: Array, optimizer) -> PlayerState:
  param_key, dropout_key = jax.random.split(key)
  variables = flax.core.unfreeze(
    module.init({"params": param_key, "dropout": dropout_key}, example, train=False)
  )
  params = variables.pop("params")
  return PlayerState(params, variables, optimizer.init(params))


def _shard_batch(x: Array, mesh: Mesh | None) -> Array:
  """Under a mesh, keeps an example-major array split over the devices like the batch."""
  if mesh is None:
    return x
  return jax.lax.with_sharding_constraint(x, parallel.sharded_along(mesh, 0))


def _check_batch(batch: dict[str, Array]) -> None:
  for name in ("a", "b"):
    if name not in batch or batch[name].ndim != 4:
      shapes = {k: tuple(v.shape) for k, v in batch.items()}
      raise ConfigError(
        f"a translation batch needs images 'a' and 'b' of shape [B, H, W, C], got {shapes}"
      )
  if batch["a"].shape[:3] != batch["b"].shape[:3]:
    raise ConfigError(
      f"domains A and B must come at one size: got {tuple(batch['a'].shape)} and "
      f"{tuple(batch['b'].shape)}"
    )


# ---------------------------------------------------------------------------
# pix2pix.
# ---------------------------------------------------------------------------


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
  loss: train.LossPair
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


def init_pix2pix_state(spec: Pix2PixSpec, key: Array, example_batch: dict[str, Array]):
  """Fresh parameters and optimizer states; example_batch gives the shapes of a and b."""
  _check_batch(example_batch)
  a_shape = jax.ShapeDtypeStruct(example_batch["a"].shape, jnp.float32)
  b_shape = jax.ShapeDtypeStruct(example_batch["b"].shape, jnp.float32)

  def init(key):
    g_key, d_key = jax.random.split(key)
    a, b = jnp.zeros(a_shape.shape), jnp.zeros(b_shape.shape)
    pair = jnp.concatenate([a, b], axis=-1)
    return Pix2PixState(
      jnp.zeros([], jnp.int32),
      _init_player(spec.generator, g_key, a, spec.generator_optimizer),
      _init_player(spec.discriminator, d_key, pair, spec.discriminator_optimizer),
    )

  return jax.jit(init)(key)


def pix2pix_step(spec: Pix2PixSpec, state: Pix2PixState, batch, key: Array, mesh=None):
  """One D update on (a, b) vs (a, G(a)), then one G update against the new D → (state, metrics)."""
  _check_batch(batch)
  a, b = batch["a"], batch["b"]
  key = jax.random.fold_in(key, state.step)
  g, d = state.generator, state.discriminator

  def generate(params):
    return apply_translator(spec.generator, params, g.model_state, a, key)

  fake, pull_back, g_model_state = jax.vjp(generate, g.params, has_aux=True)
  real_pairs = jnp.concatenate([a, b], axis=-1)

  def d_objective(params):
    fake_pairs = jnp.concatenate([a, jax.lax.stop_gradient(fake)], axis=-1)
    real_out, fake_out, model_state = train.discriminate_batches(
      spec.discriminator, params, d.model_state, real_pairs, fake_pairs
    )
    loss = spec.loss.discriminator(real_out, fake_out, ())
    metrics = {"d_loss": loss, "d_real": jnp.mean(real_out["adv"])}
    metrics["d_fake"] = jnp.mean(fake_out["adv"])
    return loss, (metrics, model_state)

  (_, (metrics, d_model_state)), d_grads = jax.value_and_grad(d_objective, has_aux=True)(d.params)
  metrics["d_grad_norm"] = optax.tree.norm(d_grads)
  d = train.update_player(spec.discriminator_optimizer, d, d_grads, d_model_state)

  def g_objective(fake):
    _, fake_out, _ = train.discriminate_batches(
      spec.discriminator, d.params, d.model_state, None, jnp.concatenate([a, fake], axis=-1)
    )
    adversarial = spec.loss.generator(None, fake_out, ())
    l1 = losses.l1_reconstruction_loss(fake, b)
    total = adversarial + spec.l1_weight * l1
    return total, {"g_loss": adversarial, "l1": l1, "g_total_loss": total}

  (_, g_metrics), fake_grad = jax.value_and_grad(g_objective, has_aux=True)(fake)
  (g_grads,) = pull_back(fake_grad)
  metrics.update(g_metrics, g_grad_norm=optax.tree.norm(g_grads))
  g = train.update_player(spec.generator_optimizer, g, g_grads, g_model_state)
  metrics["finite"] = train.all_finite(metrics)
  return Pix2PixState(state.step + 1, g, d), metrics


def make_pix2pix_step(spec: Pix2PixSpec, *, mesh: Mesh | None = None, donate: bool = True):
  """pix2pix_step compiled (see train.compile_step); batches {"a", "b"}: [B, H, W, C]."""
  return _compile(pix2pix_step, spec, mesh, donate)


def _compile(step_fn, spec, mesh: Mesh | None, donate: bool):
  """step_fn(spec, state, batch, key, mesh) as a compiled step(state, batch, key), the
  batch's example axis split over the mesh."""
  return train.compile_step(
    lambda state, batch, key: step_fn(spec, state, batch, key, mesh),
    mesh=mesh,
    batch_sharding=None if mesh is None else parallel.sharded_along(mesh, 0),
    donate=donate,
  )


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
  loss: train.LossPair
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


def init_cyclegan_state(spec: CycleGANSpec, key: Array, example_batch: dict[str, Array]):
  """Fresh parameters, optimizer states and empty pools; example_batch gives the shapes."""
  _check_batch(example_batch)
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
      return _init_player(module, keys[name], inputs[name], no_optimizer)

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


def cyclegan_generator_objective(spec: CycleGANSpec, g_params, state: CycleGANState, a, b):
  """The generators' loss → (total, (metrics, new model states, fake_a, fake_b)).

  fake_b = G(a), fake_a = F(b); adversarial terms under the current discriminators;
  cycle terms F(G(a)) vs a and G(F(b)) vs b; identity terms G(b) vs b and F(a) vs a.
  """
  model_state = dict(state.generators.model_state)
  d = state.discriminators

  def translate(name, images):
    out, model_state[name] = apply_translator(
      spec.generator(name), g_params[name], model_state[name], images, None
    )
    return out

  def adversarial(name, fakes):
    _, out, _ = train.discriminate_batches(
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


def cyclegan_step(spec: CycleGANSpec, state: CycleGANState, batch, key: Array, mesh=None):
  """Both generators' update, then both discriminators' on pooled fakes → (state, metrics)."""
  _check_batch(batch)
  a, b = batch["a"], batch["b"]
  key = jax.random.fold_in(key, state.step)
  pool_a_key, pool_b_key = jax.random.split(key)
  gs, ds = state.generators, state.discriminators

  (_, (metrics, g_model_state, fake_a, fake_b)), g_grads = jax.value_and_grad(
    lambda p: cyclegan_generator_objective(spec, p, state, a, b), has_aux=True
  )(gs.params)
  metrics["g_grad_norm"] = optax.tree.norm(g_grads)
  gs = train.update_player(spec.generator_optimizer, gs, g_grads, g_model_state)

  pool_a, shown_a = query_pool(state.pool_a, jax.lax.stop_gradient(fake_a), pool_a_key)
  pool_b, shown_b = query_pool(state.pool_b, jax.lax.stop_gradient(fake_b), pool_b_key)
  reals, shown = (
    {"a": a, "b": b},
    {"a": _shard_batch(shown_a, mesh), "b": _shard_batch(shown_b, mesh)},
  )

  def d_objective(params):
    total, model_state, d_metrics = 0.0, {}, {}
    for name in DISCRIMINATORS:
      real_out, fake_out, model_state[name] = train.discriminate_batches(
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
  ds = train.update_player(spec.discriminator_optimizer, ds, d_grads, d_model_state)
  metrics["finite"] = train.all_finite(metrics)
  return CycleGANState(state.step + 1, gs, ds, pool_a, pool_b), metrics


def make_cyclegan_step(spec: CycleGANSpec, *, mesh: Mesh | None = None, donate: bool = True):
  """cyclegan_step compiled (see train.compile_step); batches {"a", "b"}: [B, H, W, C]."""
  return _compile(cyclegan_step, spec, mesh, donate)


def translator_params(state) -> dict[str, tuple[Any, Any]]:
  """{direction: (params, model_state)} of a pix2pix ("a_to_b") or CycleGAN state."""
  if isinstance(state, Pix2PixState):
    return {"a_to_b": (state.generator.params, state.generator.model_state)}
  g = state.generators
  return {n: (g.params[n], g.model_state[n]) for n in GENERATORS}
