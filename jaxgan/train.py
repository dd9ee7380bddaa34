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
from jax.sharding import Mesh

from jaxgan import losses, optim, parallel
from jaxgan.errors import ConfigError

Array = jax.Array
Outputs = dict[str, Any]  # D's outputs: "adv" [B] and any heads


def as_outputs(out) -> Outputs:
  """D's return value as a dict: a bare score array becomes {"adv": score}."""
  return out if isinstance(out, dict) else {"adv": out}


# ---------------------------------------------------------------------------
# Losses of both players as one pair.
# ---------------------------------------------------------------------------


class LossPair(NamedTuple):
  """The adversarial losses of both players, as functions of D's outputs.

  discriminator(real_out, fake_out, loss_state) and generator(real_out,
  fake_out, loss_state) take D's output dicts. generator_uses_real says
  whether the generator's loss reads D(x) (relativistic losses, feature
  matching); when it does not, the generator update skips D(x) and passes
  None. A stateful loss (BEGAN's k_t) starts from init_state() and, after
  every discriminator update, update_state(loss_state, real_out, fake_out)
  returns the next state and metrics to log.
  """

  discriminator: Callable[[Outputs, Outputs, Any], Array]
  generator: Callable[[Outputs | None, Outputs, Any], Array]
  generator_uses_real: bool = False
  init_state: Callable[[], Any] = tuple
  update_state: Callable[[Any, Outputs, Outputs], tuple[Any, dict]] | None = None


def _on_scores(loss: Callable[[Array, Array], Array]):
  """A loss of (real scores, fake scores) as a LossPair function of output dicts."""
  return lambda real_out, fake_out, state: loss(real_out["adv"], fake_out["adv"])


def _on_fake_scores(loss: Callable[[Array], Array]):
  return lambda real_out, fake_out, state: loss(fake_out["adv"])


def _feature_matching_generator(real_out, fake_out, state):
  return losses.feature_matching_loss(
    jax.lax.stop_gradient(real_out["features"]), fake_out["features"]
  )


def began_loss_pair(gamma: float = 0.5, lambda_k: float = 1e-3) -> LossPair:
  """BEGAN (Berthelot et al. 2017): D's "adv" output is each example's reconstruction loss.

  L_D = L(x) − k_t·L(G(z)), L_G = L(G(z)), and after each D update
  k_{t+1} = clip(k_t + λ_k(γL(x) − L(G(z))), 0, 1); logs k and the
  convergence measure M.
  """

  def update(k, real_out, fake_out):
    real, fake = jax.lax.stop_gradient(real_out["adv"]), jax.lax.stop_gradient(fake_out["adv"])
    new_k = losses.began_k_update(k, real, fake, gamma=gamma, lambda_k=lambda_k)
    return new_k, {"began_k": new_k, "began_m": losses.began_convergence(real, fake, gamma=gamma)}

  return LossPair(
    discriminator=lambda r, f, k: losses.began_discriminator_loss(r["adv"], f["adv"], k),
    generator=lambda r, f, k: losses.began_generator_loss(f["adv"]),
    init_state=lambda: jnp.zeros([], jnp.float32),
    update_state=update,
  )


LOSS_NAMES = (
  "minimax",
  "non_saturating",
  "wasserstein",
  "least_squares",
  "hinge",
  "relativistic",
  "relativistic_average",
  "feature_matching",
  "began",
)


def loss_pair(name: str, *, label_smoothing: float = 0.0) -> LossPair:
  """The (D, G) losses called `name`; label_smoothing applies to the minimax D loss.

  "minimax" is the original saturating game, "non_saturating" the same D with
  G minimizing −log D(G(z)) (Goodfellow et al. 2014); "feature_matching" the
  same D with G matching the mean of D's "features" output on real and fake
  batches (Salimans et al. 2016, §3.1); "began" the defaults of
  began_loss_pair.
  """
  if label_smoothing and name not in ("minimax", "non_saturating", "feature_matching"):
    raise ConfigError(
      f"label smoothing applies to the minimax/non_saturating losses, not to {name!r}"
    )

  def minimax_d(real, fake):
    return losses.minimax_discriminator_loss(real, fake, label_smoothing=label_smoothing)

  if name == "began":
    return began_loss_pair()
  pairs = {
    "minimax": (minimax_d, losses.minimax_generator_loss),
    "non_saturating": (minimax_d, losses.non_saturating_generator_loss),
    "wasserstein": (losses.wasserstein_discriminator_loss, losses.wasserstein_generator_loss),
    "least_squares": (
      losses.least_squares_discriminator_loss,
      losses.least_squares_generator_loss,
    ),
    "hinge": (losses.hinge_discriminator_loss, losses.hinge_generator_loss),
  }
  if name in pairs:
    d_loss, g_loss = pairs[name]
    return LossPair(_on_scores(d_loss), _on_fake_scores(g_loss))
  if name == "relativistic":
    return LossPair(
      _on_scores(losses.relativistic_discriminator_loss),
      _on_scores(losses.relativistic_generator_loss),
      generator_uses_real=True,
    )
  if name == "relativistic_average":
    return LossPair(
      _on_scores(losses.relativistic_average_discriminator_loss),
      _on_scores(losses.relativistic_average_generator_loss),
      generator_uses_real=True,
    )
  if name == "feature_matching":
    return LossPair(_on_scores(minimax_d), _feature_matching_generator, generator_uses_real=True)
  raise ConfigError(f"unknown loss {name!r}: choose one of {', '.join(LOSS_NAMES)}")


# ---------------------------------------------------------------------------
# The generator's input.
# ---------------------------------------------------------------------------


class Latent(NamedTuple):
  """What a batch of fakes was generated from.

  z is G's whole input vector: the noise, then one-hot categorical codes,
  then continuous codes (InfoGAN's c). labels: the classes G is conditioned
  on ([B] ints), or None. categorical: [B, n_categorical] ints; continuous:
  [B, n_continuous] in [−1, 1]; both empty without InfoGAN codes.
  """

  z: Array
  labels: Array | None
  categorical: Array
  continuous: Array


# ---------------------------------------------------------------------------
# Regularizers: weighted terms added to one player's objective.
# ---------------------------------------------------------------------------


class RegularizerInputs(NamedTuple):
  """What a regularizer may read.

  d_fn maps a batch to D's per-example scores at the current D parameters
  (for a conditional D, under the real batch's labels); real_out and
  fake_out are D's output dicts (real_out is None in the generator update
  unless the loss reads it); latent is what the fakes were generated from;
  params are the regularized player's parameters; key is fresh for every term
  and every update.
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
  """Everything that defines a GAN's training, and nothing that changes during it.

  num_classes > 0 makes G class-conditional (the batch must carry "label");
  label_to_discriminator also gives D the labels (cGAN, projection D; not
  ACGAN, whose D predicts them). categorical_codes and continuous_codes are
  InfoGAN's latent codes, appended to G's noise.
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
  ema_decay: float | None = None
  ema_warmup: bool = False
  num_classes: int = 0
  label_to_discriminator: bool = False
  categorical_codes: Sequence[int] = ()
  continuous_codes: int = 0
  unroll_steps: int = 0  # Unrolled GAN: G's loss against D after this many look-ahead steps

  def __post_init__(self):
    if self.unroll_steps < 0:
      raise ConfigError(f"unroll_steps must be 0 or more, got {self.unroll_steps}")
    if self.n_critic < 1:
      raise ConfigError(f"n_critic must be at least 1, got {self.n_critic}")
    if self.latent_dim < 1:
      raise ConfigError(f"latent_dim must be at least 1, got {self.latent_dim}")
    if self.label_to_discriminator and not self.num_classes:
      raise ConfigError("label_to_discriminator needs num_classes > 0")
    # Each regularizer's value is logged under its name, so names must not collide
    # within or across the two players.
    names = [r.name for r in (*self.discriminator_regularizers, *self.generator_regularizers)]
    if len(set(names)) != len(names):
      raise ConfigError(f"regularizer names must be unique across both players, got {names}")

  @property
  def latent_space(self) -> LatentSpace:
    return LatentSpace(
      self.latent_dim, self.num_classes, tuple(self.categorical_codes), self.continuous_codes
    )


@flax.struct.dataclass
class PlayerState:
  """One player: parameters, other model variables (e.g. BatchNorm statistics), optimizer state."""

  params: Any
  model_state: Any
  opt_state: Any


@flax.struct.dataclass
class GANState:
  """The whole training state: a pytree, checkpointed as is.

  loss_state is the adversarial loss's own state (BEGAN's k_t), () for most.
  """

  step: Array
  generator: PlayerState
  discriminator: PlayerState
  generator_ema: optim.EmaState | None
  loss_state: Any = ()


class LatentSpace(NamedTuple):
  """Where G's inputs come from: noise size, classes, InfoGAN codes. JSON-able, for sampling."""

  latent_dim: int
  num_classes: int = 0
  categorical_codes: tuple[int, ...] = ()
  continuous_codes: int = 0

  def assemble(self, noise: Array, categorical: Array, continuous: Array) -> Array:
    """G's input vector: noise, one-hot categorical codes, continuous codes."""
    one_hots = [
      jax.nn.one_hot(categorical[..., i], n, dtype=jnp.float32)
      for i, n in enumerate(self.categorical_codes)
    ]
    return jnp.concatenate([noise, *one_hots, continuous], axis=-1)

  def sample(
    self,
    key: Array,
    shape: tuple[int, ...],
    labels: Array | None = None,
    truncation: float | None = None,
  ) -> Latent:
    """G's input for a batch of the given shape (e.g. (B,) or (n_critic, B)).

    noise ~ N(0, I) [*shape, latent_dim] (truncated to [−t, t] with
    truncation t, BigGAN's truncation trick, Brock et al. 2019 §3.1);
    InfoGAN codes: categorical uniform over their classes, continuous
    U(−1, 1) (Chen et al. 2016, §6). labels: the classes to generate
    (default: uniform, when the GAN is conditional).
    """
    noise_key, cat_key, cont_key, label_key = jax.random.split(key, 4)
    noise_shape = (*shape, self.latent_dim)
    if truncation is None:
      noise = jax.random.normal(noise_key, noise_shape, jnp.float32)
    else:
      noise = jax.random.truncated_normal(noise_key, -truncation, truncation, noise_shape)
    counts = tuple(self.categorical_codes)
    categorical = jnp.zeros((*shape, 0), jnp.int32)
    if counts:
      keys = jax.random.split(cat_key, len(counts))
      draws = [jax.random.randint(k, shape, 0, n) for k, n in zip(keys, counts, strict=True)]
      categorical = jnp.stack(draws, axis=-1)
    continuous = jax.random.uniform(
      cont_key, (*shape, self.continuous_codes), jnp.float32, -1.0, 1.0
    )
    if self.num_classes and labels is None:
      labels = jax.random.randint(label_key, shape, 0, self.num_classes)
    z = self.assemble(noise, categorical, continuous)
    return Latent(z, labels if self.num_classes else None, categorical, continuous)


def sample_latent(
  spec: GANSpec, key: Array, shape: tuple[int, ...], labels: Array | None = None
) -> Latent:
  """spec.latent_space.sample(key, shape, labels)."""
  return spec.latent_space.sample(key, shape, labels)


def _split_variables(variables) -> tuple[Any, dict]:
  variables = flax.core.unfreeze(variables)
  params = variables.pop("params")
  return params, variables


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


def init_state(spec: GANSpec, key: Array, example_batch: dict[str, Array]) -> GANState:
  """Fresh parameters and optimizer states, as one compiled program on the default device.

  example_batch: a batch as the step receives it; only its shapes are read.
  """
  check_batch(spec, example_batch)
  x_shape = jax.ShapeDtypeStruct(example_batch["x"].shape[1:], example_batch["x"].dtype)

  def init(key):
    g_key, d_key = jax.random.split(key)
    x = jnp.zeros(x_shape.shape, x_shape.dtype)
    batch = x.shape[0]
    labels = jnp.zeros((batch,), jnp.int32) if spec.num_classes else None
    z = sample_latent(spec, jax.random.key(0), (batch,), labels).z
    fake, g_variables = spec.generator.init_with_output(
      {"params": g_key}, *_model_inputs(z, labels), train=False
    )
    check_generator_output(fake.shape[1:], x.shape[1:])
    d_labels = labels if spec.label_to_discriminator else None
    d_variables = spec.discriminator.init(
      {"params": d_key}, *_model_inputs(x, d_labels), train=False
    )
    g_params, g_model_state = _split_variables(g_variables)
    d_params, d_model_state = _split_variables(d_variables)
    generator = PlayerState(g_params, g_model_state, spec.generator_optimizer.init(g_params))
    discriminator = PlayerState(
      d_params, d_model_state, spec.discriminator_optimizer.init(d_params)
    )
    ema = None
    if spec.ema_decay is not None:
      ema = optim.parameter_ema(spec.ema_decay, warmup=spec.ema_warmup).init(g_params)
    return GANState(jnp.zeros([], jnp.int32), generator, discriminator, ema, spec.loss.init_state())

  return jax.jit(init)(key)


def generator_params(state: GANState) -> Any:
  """The parameters to sample with: the EMA average when there is one."""
  return state.generator.params if state.generator_ema is None else state.generator_ema.average


# ---------------------------------------------------------------------------
# Applying the models.
# ---------------------------------------------------------------------------


def _model_inputs(inputs: Array, labels: Array | None) -> tuple:
  return (inputs,) if labels is None else (inputs, labels)


def apply_model(
  module: nn.Module,
  params,
  model_state,
  inputs: Array,
  train: bool,
  labels: Array | None = None,
  rngs: dict[str, Array] | None = None,
):
  """module(inputs[, labels]) → (outputs, new model_state); the state changes only in training.
  rngs: the module's random streams (e.g. {"dropout": key})."""
  variables = {"params": params, **model_state}
  args = _model_inputs(inputs, labels)
  rngs = rngs or {}
  if train and model_state:
    outputs, updates = module.apply(
      variables, *args, train=True, rngs=rngs, mutable=list(model_state)
    )
    return outputs, {**model_state, **flax.core.unfreeze(updates)}
  return module.apply(variables, *args, train=train, rngs=rngs), model_state


def _d_labels(spec: GANSpec, labels: Array | None) -> Array | None:
  return labels if spec.label_to_discriminator else None


def _discriminate(spec: GANSpec, params, model_state, real, fake, labels):
  """D on real and fake batches → (real_out or None, fake_out, new model_state): output dicts."""
  labels = _d_labels(spec, labels)
  return discriminate_batches(spec.discriminator, params, model_state, real, fake, labels)


def discriminate_batches(D: nn.Module, params, model_state, real, fake, labels=None):
  """D on a real and a fake batch → (real_out or None, fake_out, new model_state).

  Without batch statistics in D, real and fake go through D as one batch (one
  pass, bigger matrix products, the same result), interleaved example by
  example so that under a mesh each device's real and fake rows stay on it.
  With batch statistics, each batch keeps its own, as in DCGAN. real=None:
  the fake batch only.
  """
  if real is None:
    fake_out, model_state = apply_model(D, params, model_state, fake, True, labels)
    return None, as_outputs(fake_out), model_state
  if "batch_stats" in model_state:
    real_out, model_state = apply_model(D, params, model_state, real, True, labels)
    fake_out, model_state = apply_model(D, params, model_state, fake, True, labels)
    return as_outputs(real_out), as_outputs(fake_out), model_state
  pairs = _merge_leading_axes(jnp.stack([real, fake], axis=1))  # [2B, ...]: x_0, x̃_0, x_1, …
  pair_labels = None if labels is None else jnp.repeat(labels, 2)
  outputs, model_state = apply_model(D, params, model_state, pairs, True, pair_labels)
  b = real.shape[0]
  split = jax.tree.map(lambda o: o.reshape(b, 2, *o.shape[1:]), outputs)
  real_out = jax.tree.map(lambda o: o[:, 0], split)
  fake_out = jax.tree.map(lambda o: o[:, 1], split)
  return as_outputs(real_out), as_outputs(fake_out), model_state


def _score_fn(spec: GANSpec, params, model_state, labels):
  """d_fn for the penalties: a batch → D's per-example scores, under the batch's labels."""

  def d_fn(x):
    out = apply_model(spec.discriminator, params, model_state, x, True, _d_labels(spec, labels))
    return as_outputs(out[0])["adv"]

  return d_fn


def _generate_for_critic(spec: GANSpec, g: PlayerState, latent: Latent) -> Array:
  """G(z) for all n_critic updates at once: G does not change during them.

  latent.z: [n_critic, B, ...]. Without batch statistics the n_critic batches
  go through G as one, ordered example-major ([B, n_critic]) so that under a
  mesh every device keeps its own examples; with them, each batch keeps its
  own statistics (vmap).
  """
  zs, labels = latent.z, latent.labels
  n, b = zs.shape[:2]

  def generate(z, labels):
    return apply_model(spec.generator, g.params, g.model_state, z, True, labels)[0]

  if g.model_state:
    fakes = jax.vmap(generate)(zs, labels)
  else:
    flat_labels = None if labels is None else jnp.swapaxes(labels, 0, 1).reshape(n * b)
    flat = generate(_merge_leading_axes(jnp.swapaxes(zs, 0, 1)), flat_labels)
    fakes = jnp.swapaxes(flat.reshape(b, n, *flat.shape[1:]), 0, 1)
  return jax.lax.stop_gradient(fakes)


def _merge_leading_axes(x: Array) -> Array:
  """[A, B, ...] → [A·B, ...]."""
  return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def _add_regularizers(regs, loss, metrics, inputs: RegularizerInputs):
  """loss + Σ weight·term over `regs`, each term logged in `metrics`; every term gets its
  own key split from inputs.key."""
  keys = jax.random.split(inputs.key, len(regs)) if regs else []
  for reg, k in zip(regs, keys, strict=True):
    value = reg.fn(inputs._replace(key=k))
    metrics[reg.name] = value
    loss = loss + reg.weight * value
  return loss


def update_player(optimizer, player: PlayerState, grads, model_state) -> PlayerState:
  """The player after one optimizer update with grads; model_state: its new model variables."""
  updates, opt_state = optimizer.update(grads, player.opt_state, player.params)
  return PlayerState(optax.apply_updates(player.params, updates), model_state, opt_state)


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
):
  """One critic update on (real, fake) → (new D state, new loss state, metrics).

  labels: the real batch's (and so the fakes') classes; latent: what the
  fakes were generated from (for InfoGAN's terms).
  """

  def objective(params):
    real_out, fake_out, model_state = _discriminate(spec, params, d.model_state, real, fake, labels)
    loss = spec.loss.discriminator(real_out, fake_out, loss_state)
    metrics = {
      "d_loss": loss,
      "d_real": jnp.mean(real_out["adv"]),
      "d_fake": jnp.mean(fake_out["adv"]),
    }
    inputs = RegularizerInputs(
      _score_fn(spec, params, d.model_state, labels),
      real,
      fake,
      params,
      key,
      real_out,
      fake_out,
      labels,
      latent,
    )
    total = _add_regularizers(spec.discriminator_regularizers, loss, metrics, inputs)
    metrics["d_total_loss"] = total
    return total, (metrics, model_state, real_out, fake_out)

  (_, aux), grads = jax.value_and_grad(objective, has_aux=True)(d.params)
  metrics, model_state, real_out, fake_out = aux
  metrics["d_grad_norm"] = optax.tree.norm(grads)
  if spec.loss.update_state is not None:
    loss_state, loss_metrics = spec.loss.update_state(loss_state, real_out, fake_out)
    metrics.update(loss_metrics)
  return update_player(spec.discriminator_optimizer, d, grads, model_state), loss_state, metrics


def unrolled_discriminator_params(
  spec: GANSpec, d: PlayerState, real: Array, fake: Array, labels, loss_state
):
  """D's parameters after spec.unroll_steps look-ahead updates on (real, fake), with D's own
  optimizer and optimizer state, as a differentiable function of the fakes.

  Unrolled GAN (Metz, Poole, Pfau & Sohl-Dickstein 2017, eq. 4–6): G minimizes
  f(θ, φ_K(θ, φ)), where φ_K is D after K steps of its training from φ; the
  gradient through the unrolled steps tells G how D would react to its move, which
  discourages collapsing onto the mode D currently likes least. Simplification: the
  K steps reuse this update's real and fake batches. D's real update is unchanged.
  D's optimizer must be differentiable: optax.adam needs eps_root > 0 (else √v has an
  infinite derivative wherever a gradient component is exactly 0, and G's gradient is NaN)."""

  def d_loss(params):
    real_out, fake_out, _ = _discriminate(spec, params, d.model_state, real, fake, labels)
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
):
  """One generator update against the current D → (new G state, metrics)."""

  def objective(params):
    fake, model_state = apply_model(
      spec.generator, params, g.model_state, latent.z, True, latent.labels
    )
    real_in = real if spec.loss.generator_uses_real else None
    d_params = d.params
    if spec.unroll_steps:
      d_params = unrolled_discriminator_params(spec, d, real, fake, labels, loss_state)
    real_out, fake_out, _ = _discriminate(spec, d_params, d.model_state, real_in, fake, labels)
    loss = spec.loss.generator(real_out, fake_out, loss_state)
    metrics = {"g_loss": loss}
    inputs = RegularizerInputs(
      _score_fn(spec, d.params, d.model_state, labels),
      real,
      fake,
      params,
      key,
      real_out,
      fake_out,
      labels,
      latent,
    )
    total = _add_regularizers(spec.generator_regularizers, loss, metrics, inputs)
    metrics["g_total_loss"] = total
    return total, (metrics, model_state)

  (_, (metrics, model_state)), grads = jax.value_and_grad(objective, has_aux=True)(g.params)
  metrics["g_grad_norm"] = optax.tree.norm(grads)
  return update_player(spec.generator_optimizer, g, grads, model_state), metrics


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
  check_batch(spec, batch)
  real = batch["x"]
  labels = batch.get("label") if spec.num_classes else None
  batch_size = real.shape[1]
  key = jax.random.fold_in(key, state.step)
  zd_key, d_key, zg_key, g_key = jax.random.split(key, 4)

  critic_latent = _split_latent(
    sample_latent(spec, zd_key, (spec.n_critic, batch_size), labels), mesh, 1
  )
  fakes = _generate_for_critic(spec, state.generator, critic_latent)
  check_generator_output(fakes.shape[2:], real.shape[2:])

  def critic(carry, xs):
    d, loss_state = carry
    real_i, fake_i, key_i, latent_i = xs
    d, loss_state, metrics = discriminator_update(
      spec, d, real_i, fake_i, key_i, latent_i.labels, latent_i, loss_state
    )
    return (d, loss_state), metrics

  (d_state, loss_state), d_metrics = jax.lax.scan(
    critic,
    (state.discriminator, state.loss_state),
    (real, fakes, jax.random.split(d_key, spec.n_critic), critic_latent),
  )
  metrics = jax.tree.map(lambda m: jnp.mean(m, axis=0), d_metrics)

  g_labels = None if labels is None else labels[-1]
  g_latent = _split_latent(sample_latent(spec, zg_key, (batch_size,), g_labels), mesh, 0)
  g_state, g_metrics = generator_update(
    spec, state.generator, d_state, real[-1], g_latent, g_key, g_labels, loss_state
  )
  metrics.update(g_metrics)

  ema = state.generator_ema
  if ema is not None:
    ema = optim.parameter_ema(spec.ema_decay, warmup=spec.ema_warmup).update(g_state.params, ema)
  metrics["finite"] = all_finite(metrics)
  return GANState(state.step + 1, g_state, d_state, ema, loss_state), metrics


def _split_latent(latent: Latent, mesh: Mesh | None, batch_axis: int) -> Latent:
  """Under a mesh, the latent's example axis is split over the devices like the data's."""
  if mesh is None:
    return latent
  sharding = parallel.sharded_along(mesh, batch_axis)
  return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, sharding), latent)


def _check_key(key) -> None:
  dtype = getattr(key, "dtype", None)
  if dtype is None or not (jnp.issubdtype(dtype, jax.dtypes.prng_key) or dtype == jnp.uint32):
    raise ConfigError(
      f"the step's key must be a JAX random key such as jax.random.key(0), got "
      f"{dtype}{list(getattr(key, 'shape', []))}"
    )


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
  batch_sharding = None if mesh is None else parallel.step_batch_sharding(mesh)
  return compile_step(
    lambda state, batch, key: train_step(spec, state, batch, key, mesh),
    mesh=mesh,
    batch_sharding=batch_sharding,
    donate=donate,
    max_traces=max_traces,
  )


def compile_step(
  step_fn,
  *,
  mesh: Mesh | None = None,
  batch_sharding=None,
  donate: bool = True,
  max_traces: int | None = 1,
):
  """jax.jit of step_fn(state, batch, key) -> (state, metrics), for any trainer: the state's
  buffers donated, under a mesh the state, key and metrics replicated and the batch laid out
  by batch_sharding, and a RecompilationError when it is traced more than max_traces times."""
  traces = 0
  first_batch = None  # the shapes and dtypes of the batch of the first trace

  def step(state, batch, key):
    nonlocal traces, first_batch
    _check_key(key)
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
    return jax.jit(step, donate_argnums=donate_argnums)
  everywhere = parallel.replicated(mesh)
  return jax.jit(
    step,
    in_shardings=(everywhere, batch_sharding, everywhere),
    out_shardings=(everywhere, everywhere),
    donate_argnums=donate_argnums,
  )
