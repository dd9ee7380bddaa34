"""Adversarial autoencoders (Makhzani, Shlens, Jaitly, Goodfellow & Frey 2015): an autoencoder
whose code is matched to a chosen prior by a GAN on the code, in one compiled step.

    spec = AAESpec(encoder=models.vae.MLPEncoder(latent_dim=2), decoder=models.MLPGenerator(...),
                   discriminator=models.MLPDiscriminator(...), prior=priors.get("mixture10", 2),
                   autoencoder_optimizer=optax.adam(2e-4, 0.5), discriminator_optimizer=...)
    state = init_state(spec, key, batch)          # batch: {"x": [1, B, H, W, C], "label": [1, B]}
    state, metrics = make_train_step(spec)(state, batch, key)

Each step runs the paper's phases in order (§2), each an update of its own networks only:

1. reconstruction: the encoder q(z|x) and the decoder p(x|z) descend the pixel MSE
   mean (Dec(Enc(x)) − x)²;
2. regularization, D: the code discriminator D ascends log D(z′) + log(1 − D(Enc(x))), z′
   drawn from the prior p(z) (the "real" side);
3. regularization, G: the encoder, as the GAN's generator, descends −log D(Enc(x)) (the
   non-saturating form);
4. semi-supervised classification (the semi-supervised variant only, §5): the encoder's
   q(y|x) descends the cross-entropy on a batch of the few labeled examples.

The variants (§4, §5):

- unsupervised: code z. With prior_labels the labels guide the regularization (§2.3, Fig. 4):
  D also sees one_hot(y), and the prior's draws for a batch sit on its labels' components.
- supervised: the decoder gets [z, one_hot(y)]: z is left to hold the style, the label the
  content (Fig. 6).
- semi_supervised: the encoder gives z and q(y|x) = softmax(logits); the decoder gets
  [z, q(y|x)]; a second adversary matches q(y|x) to one-hot draws of Cat(1/K), beside the
  Gaussian one on z; phase 4 trains q(y|x) on the labeled batch (batch["labeled_x"],
  batch["labeled_label"]), and no other label reaches the step. The classifier is q(y|x)'s
  argmax (the paper's Table 2: 1.90% error with 100 MNIST labels).

With adversarial=False the phases 2 and 3 are skipped: the plain autoencoder (and the
classifier from the labels alone) the regularization is measured against.

The paper trains with SGD and momentum; jaxgan uses Adam, one optimizer state per network
shared by its phases, as the widely used Chainer reimplementation (musyoku/adversarial-
autoencoder) does (the authors released no code). The latent evaluator measures the held-out
codes against the prior, the semi-supervised classification error, and draws the codes and
the decoder (jaxgan.kinds.aae_latent).

This module registers the kind "aae".
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from jaxgan import data, evaluators, models, parallel, priors, trainer
from jaxgan.data import images as image_data
from jaxgan.data import semi_supervised
from jaxgan.errors import ConfigError
from jaxgan.kinds import aae_latent, autoencoding
from jaxgan.kinds.aae_latent import Views
from jaxgan.latent import Latent, LatentSpace
from jaxgan.step import (
  PlayerState,
  all_finite,
  apply_model,
  compile_spec_step,
  init_player,
  model_inputs,
  split_variables,
  update_player,
)

Array = jax.Array
VARIANTS = ("unsupervised", "supervised", "semi_supervised")


@dataclasses.dataclass(frozen=True)
class AAESpec:
  """An adversarial autoencoder: its networks, prior, optimizers and variant (see the module
  docstring). category_discriminator: the semi-supervised variant's adversary on q(y|x)."""

  encoder: nn.Module
  decoder: nn.Module
  discriminator: nn.Module
  prior: priors.Prior
  autoencoder_optimizer: optax.GradientTransformation
  discriminator_optimizer: optax.GradientTransformation
  variant: str = "unsupervised"
  num_classes: int = 10
  category_discriminator: nn.Module | None = None
  prior_labels: bool = False
  adversarial: bool = True

  def __post_init__(self):
    if self.variant not in VARIANTS:
      raise ConfigError(f"unknown variant {self.variant!r}: choose one of {', '.join(VARIANTS)}")
    if (self.variant == "semi_supervised") != (self.category_discriminator is not None):
      raise ConfigError("the semi-supervised variant, and it alone, has a category adversary")
    if self.prior_labels and self.variant != "unsupervised":
      raise ConfigError("--prior_labels guides the unsupervised variant's prior only")

  @property
  def labeled_decoder(self) -> bool:
    """Whether the decoder reads a class beside z (the supervised and semi-supervised AAE)."""
    return self.variant != "unsupervised"


@flax.struct.dataclass
class AAEState:
  step: Array
  encoder: PlayerState
  generator: PlayerState  # the decoder: named as a GAN's generator
  discriminator: PlayerState  # D on z
  category_discriminator: PlayerState | None  # D on q(y|x) (semi-supervised)


def decoder_input(spec: AAESpec, z: Array, classes: Array | None) -> Array:
  """The decoder's input: z, or [z, classes] for the labeled variants.

  Args:
    spec: the adversarial autoencoder (its variant).
    z: codes [B, d].
    classes: one-hot labels or q(y|x) [B, K]; None for the unsupervised variant.

  Returns:
    The decoder's input [B, d] or [B, d + K].
  """
  return jnp.concatenate([z, classes], axis=-1) if spec.labeled_decoder else z


def init_state(spec: AAESpec, key: Array, example_batch: dict[str, Array]) -> AAEState:
  """Fresh networks with their optimizer states.

  Args:
    spec: the adversarial autoencoder.
    key: the key of the initialization.
    example_batch: a batch; only the shape of its "x" [1, B, H, W, C] is read.

  Returns:
    The AAEState at step 0.
  """
  shape = example_batch["x"].shape[1:]

  def init(key):
    e_key, g_key, d_key, c_key = jax.random.split(key, 4)
    z = jnp.zeros((shape[0], spec.prior.latent_dim), jnp.float32)
    classes = jnp.zeros((shape[0], spec.num_classes), jnp.float32)
    labels = jnp.zeros((shape[0],), jnp.int32) if spec.prior_labels else None
    category = None
    if spec.category_discriminator is not None:
      category = init_player(
        spec.category_discriminator, c_key, classes, optimizer=spec.discriminator_optimizer
      )
    autoencoder = spec.autoencoder_optimizer
    return AAEState(
      jnp.zeros([], jnp.int32),
      init_player(spec.encoder, e_key, jnp.zeros(shape, jnp.float32), optimizer=autoencoder),
      init_player(spec.decoder, g_key, decoder_input(spec, z, classes), optimizer=autoencoder),
      _init_code_discriminator(spec, d_key, z, labels),
      category,
    )

  return jax.jit(init)(key)


def _init_code_discriminator(spec: AAESpec, key: Array, z: Array, labels) -> PlayerState:
  """D on codes, and on one-hot labels beside them with prior_labels."""
  variables = spec.discriminator.init({"params": key}, *model_inputs(z, labels), train=False)
  params, model_state = split_variables(variables)
  return PlayerState(params, model_state, spec.discriminator_optimizer.init(params))


# ---------------------------------------------------------------------------
# The phases of a step.
# ---------------------------------------------------------------------------


def encode(spec: AAESpec, player: PlayerState, params, x: Array, training: bool):
  """(z, class logits or None, the encoder's model state after the call).

  Args:
    spec: the adversarial autoencoder.
    player: the encoder's state (its model variables).
    params: the parameters to apply (the player's, or ones being differentiated).
    x: images [B, H, W, C].
    training: training mode.

  Returns:
    (z [B, d], logits [B, K] or None, model_state).
  """
  out, model_state = apply_model(spec.encoder, params, player.model_state, x, training)
  if spec.variant == "semi_supervised":
    return out[0], out[1], model_state
  return out, None, model_state


def decoder_classes(spec: AAESpec, logits: Array | None, labels: Array | None) -> Array | None:
  """The class part of the decoder's input.

  Args:
    spec: the adversarial autoencoder (its variant).
    logits: the encoder's class logits (semi-supervised), else None.
    labels: the batch's classes (supervised), else None.

  Returns:
    one_hot(labels) (supervised), q(y|x) = softmax(logits) (semi-supervised), None
    (unsupervised).
  """
  if spec.variant == "supervised":
    return jax.nn.one_hot(labels, spec.num_classes, dtype=jnp.float32)
  if spec.variant == "semi_supervised":
    return jax.nn.softmax(logits)
  return None


def reconstruction_phase(spec: AAESpec, state: AAEState, x: Array, labels: Array | None):
  """Phase 1: the encoder and the decoder descend mean (Dec(Enc(x)) − x)².

  Args:
    spec: the adversarial autoencoder.
    state: the training state.
    x: images [B, H, W, C].
    labels: [B] classes (the supervised variant's decoder input), or None.

  Returns:
    (state, {"reconstruction": the MSE}).
  """
  e, g = state.encoder, state.generator

  def loss(e_params, g_params):
    z, logits, e_model_state = encode(spec, e, e_params, x, True)
    code = decoder_input(spec, z, decoder_classes(spec, logits, labels))
    x_hat, g_model_state = apply_model(spec.decoder, g_params, g.model_state, code, True)
    return jnp.mean((x_hat - x) ** 2), (e_model_state, g_model_state)

  (mse, (e_model_state, g_model_state)), (e_grads, g_grads) = jax.value_and_grad(
    loss, argnums=(0, 1), has_aux=True
  )(e.params, g.params)
  return state.replace(
    encoder=update_player(spec.autoencoder_optimizer, e, e_grads, e_model_state),
    generator=update_player(spec.autoencoder_optimizer, g, g_grads, g_model_state),
  ), {"reconstruction": mse}


def _scores(module: nn.Module, player: PlayerState, params, inputs: Array, labels=None):
  """An adversary's logits on inputs (training mode) and its model state after the call."""
  return apply_model(module, params, player.model_state, inputs, True, labels)


def _gan_losses(real: Array, fake: Array) -> tuple[Array, Array]:
  """D's loss −log D(real) − log(1 − D(fake)), and the non-saturating −log D(fake) of G, as
  batch means of softplus of the logits."""
  d_loss = jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))
  return d_loss, jnp.mean(jax.nn.softplus(-fake))


def discriminator_phase(spec: AAESpec, state: AAEState, x: Array, labels: Array | None, key: Array):
  """Phase 2: the code adversary (and the category adversary) ascend log D(prior draw) +
  log(1 − D(code)).

  Args:
    spec: the adversarial autoencoder.
    state: the training state (the encoder after phase 1).
    x: images [B, H, W, C].
    labels: [B] classes (used with prior_labels), or None.
    key: the key of the prior's draws.

  Returns:
    (state, {"d_loss", "d_real", "d_fake"[, "category_d_loss"]}).
  """
  z_key, y_key = jax.random.split(key)
  n = x.shape[0]
  z, logits, _ = encode(spec, state.encoder, state.encoder.params, x, True)
  z, logits = jax.lax.stop_gradient((z, logits))
  guide = labels if spec.prior_labels else None
  both = jnp.concatenate([spec.prior.sample(z_key, n, guide), z])
  both_labels = None if guide is None else jnp.concatenate([guide, guide])
  d = state.discriminator

  def d_loss(params):
    scores, model_state = _scores(spec.discriminator, d, params, both, both_labels)
    return _gan_losses(scores[:n], scores[n:])[0], (scores, model_state)

  (loss, (scores, model_state)), grads = jax.value_and_grad(d_loss, has_aux=True)(d.params)
  state = state.replace(
    discriminator=update_player(spec.discriminator_optimizer, d, grads, model_state)
  )
  out = {
    "d_loss": loss,
    "d_real": jnp.mean(jax.nn.sigmoid(scores[:n])),
    "d_fake": jnp.mean(jax.nn.sigmoid(scores[n:])),
  }
  if spec.category_discriminator is not None:
    c = state.category_discriminator
    draws = jax.nn.one_hot(jax.random.randint(y_key, (n,), 0, spec.num_classes), spec.num_classes)
    classes = jnp.concatenate([draws, jax.nn.softmax(logits)])

    def c_loss(params):
      scores, model_state = _scores(spec.category_discriminator, c, params, classes)
      return _gan_losses(scores[:n], scores[n:])[0], model_state

    (loss, model_state), grads = jax.value_and_grad(c_loss, has_aux=True)(c.params)
    state = state.replace(
      category_discriminator=update_player(spec.discriminator_optimizer, c, grads, model_state)
    )
    out["category_d_loss"] = loss
  return state, out


def generator_phase(spec: AAESpec, state: AAEState, x: Array, labels: Array | None):
  """Phase 3: the encoder, as the generator of codes, descends −log D(Enc(x)) (and
  −log D_y(q(y|x)) in the semi-supervised variant).

  Args:
    spec: the adversarial autoencoder.
    state: the training state (the adversaries after phase 2).
    x: images [B, H, W, C].
    labels: [B] classes (used with prior_labels), or None.

  Returns:
    (state, {"g_loss"[, "category_g_loss"]}).
  """
  e, d, c = state.encoder, state.discriminator, state.category_discriminator
  guide = labels if spec.prior_labels else None

  def loss(params):
    z, logits, model_state = encode(spec, e, params, x, True)
    code_loss = _gan_losses(jnp.zeros([]), _scores(spec.discriminator, d, d.params, z, guide)[0])
    category_loss = jnp.zeros([])
    if c is not None:
      scores = _scores(spec.category_discriminator, c, c.params, jax.nn.softmax(logits))[0]
      category_loss = _gan_losses(jnp.zeros([]), scores)[1]
    total = code_loss[1] + category_loss
    return total, (model_state, code_loss[1], category_loss)

  (_, (model_state, code_loss, category_loss)), grads = jax.value_and_grad(loss, has_aux=True)(
    e.params
  )
  out = {"g_loss": code_loss}
  if c is not None:
    out["category_g_loss"] = category_loss
  encoder = update_player(spec.autoencoder_optimizer, e, grads, model_state)
  return state.replace(encoder=encoder), out


def classification_phase(spec: AAESpec, state: AAEState, x: Array, labels: Array):
  """Phase 4 (semi-supervised): q(y|x) descends the cross-entropy on the labeled batch.

  Args:
    spec: the adversarial autoencoder.
    state: the training state.
    x: labeled images [B, H, W, C].
    labels: their classes [B].

  Returns:
    (state, {"class_loss", "labeled_accuracy"}).
  """
  e = state.encoder

  def loss(params):
    _, logits, model_state = encode(spec, e, params, x, True)
    cross_entropy = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return jnp.mean(cross_entropy), (model_state, jnp.mean(jnp.argmax(logits, -1) == labels))

  (cross_entropy, (model_state, accuracy)), grads = jax.value_and_grad(loss, has_aux=True)(e.params)
  encoder = update_player(spec.autoencoder_optimizer, e, grads, model_state)
  return state.replace(encoder=encoder), {"class_loss": cross_entropy, "labeled_accuracy": accuracy}


def train_step(spec: AAESpec, state: AAEState, batch, key: Array, mesh=None):
  """One step: the phases of the module docstring, in order.

  Args:
    spec: the adversarial autoencoder.
    state: the training state.
    batch: {"x": [1, B, H, W, C], "label": [1, B]}; semi-supervised: {"x", "labeled_x",
      "labeled_label"} (no labels of the unlabeled batch).
    key: the run's base key; the step folds its counter in (the prior's draws).
    mesh: unused (the batch's layout comes from the compiled step).

  Returns:
    (the new state, metrics).
  """
  del mesh
  x = batch["x"][0]
  labels = None if spec.variant == "semi_supervised" else batch["label"][0]
  key = jax.random.fold_in(key, state.step)
  state, out = reconstruction_phase(spec, state, x, labels)
  if spec.adversarial:
    state, adversaries = discriminator_phase(spec, state, x, labels, key)
    state, generator = generator_phase(spec, state, x, labels)
    out.update(adversaries, **generator)
  if spec.variant == "semi_supervised":
    labeled = batch["labeled_x"][0], batch["labeled_label"][0]
    state, classification = classification_phase(spec, state, *labeled)
    out.update(classification)
  out["finite"] = all_finite(out)
  return state.replace(step=state.step + 1), out


# make_train_step(spec, *, mesh=None, donate=True) -> step(state, batch, key): train_step
# compiled, the batch's example axis split over the mesh (jaxgan.step.compile_spec_step).
make_train_step = functools.partial(compile_spec_step, train_step)


# ---------------------------------------------------------------------------
# The trained networks, as the evaluators and the tools use them.
# ---------------------------------------------------------------------------


def latent_space(spec: AAESpec) -> LatentSpace:
  """The prior's noise, and the classes of a decoder that reads one."""
  return LatentSpace(spec.prior.noise_dim, spec.num_classes if spec.labeled_decoder else 0)


def views(spec: AAESpec, mesh: Mesh | None = None) -> Views:
  """The run's Views (eval mode; outputs replicated over the mesh's devices).

  Args:
    spec: the adversarial autoencoder.
    mesh: the devices the networks run on.

  Returns:
    Views(encode, decode, generator).
  """
  jit = functools.partial(
    jax.jit, out_shardings=None if mesh is None else parallel.replicated(mesh)
  )

  @jit
  def encode_with(e, images):
    out = apply_model(spec.encoder, e["params"], e["model_state"], images, False)[0]
    if spec.variant == "semi_supervised":
      return out[0], jax.nn.softmax(out[1])
    return out, None

  @jit
  def decode_with(g, z, classes):
    return apply_model(
      spec.decoder, g["params"], g["model_state"], decoder_input(spec, z, classes), False
    )[0]

  @jit
  def generate_with(g, noise, labels):
    z = spec.prior.transform(noise, labels if spec.prior_labels else None)
    classes = None
    if spec.labeled_decoder:
      classes = jax.nn.one_hot(labels, spec.num_classes, dtype=jnp.float32)
    return apply_model(
      spec.decoder, g["params"], g["model_state"], decoder_input(spec, z, classes), False
    )[0]

  def encode(state, images):
    z, probabilities = encode_with(state["encoder"], images)
    return np.asarray(z), None if probabilities is None else np.asarray(probabilities)

  def decode(state, z, classes=None):
    return np.asarray(decode_with(state["generator"], z, classes))

  def generate(state, latent: Latent):
    return np.asarray(generate_with(state["generator"], latent.z, latent.labels))

  return Views(encode, decode, trainer.Generator(latent_space(spec), generate))


def model_of(
  spec: AAESpec, datasets: Callable[[], trainer.Datasets], image_size: int, mesh=None
) -> trainer.Model:
  """The run's Model: the decoder as a generator from the prior, and (but for the supervised
  variant, whose decoder needs the label) the reconstructions Dec(Enc(x)) as "a_to_b".

  Args:
    spec: the adversarial autoencoder.
    datasets: () -> the training and held-out images.
    image_size: the images' size.
    mesh: the devices the networks run on.

  Returns:
    The trainer.Model.
  """
  view = views(spec, mesh)
  translators = {}
  if spec.variant != "supervised":

    def reconstruct(state, images, key=None):
      return view.decode(state, *view.encode(state, images))

    translators["a_to_b"] = reconstruct
  return trainer.Model(datasets, view.generator, translators, image_size)


# ---------------------------------------------------------------------------
# The trainer, and the kind.
# ---------------------------------------------------------------------------


def describe_spec(spec: AAESpec, dataset, names) -> dict[str, Any]:
  """config.json's entries of the run: what `restore` rebuilds it from.

  Args:
    spec: the adversarial autoencoder.
    dataset: its training images.
    names: its evaluators (besides "latent").

  Returns:
    The entries.
  """
  return {
    **trainer.describe_kind(KIND),
    "dataset": dataset.name,
    "image_shape": [dataset.image_size, dataset.image_size, dataset.channels],
    "encoder": models.describe(spec.encoder),
    "generator": models.describe(spec.decoder),
    "discriminator": models.describe(spec.discriminator),
    "prior": spec.prior.name,
    "latent_dim": spec.prior.latent_dim,
    "variant": spec.variant,
    "num_classes": spec.num_classes,
    "prior_labels": spec.prior_labels,
    "latent_space": latent_space(spec)._asdict(),
    "evaluators": names,
  }


def make_trainer(
  spec: AAESpec, dataset, test, config, *, mesh=None, fid_features="auto", num_labels: int = 100
):
  """The Trainer of `spec`: trained on dataset (semi-supervised: num_labels of its labels);
  codes, reconstructions and classes measured on test, decoded prior draws as a GAN's.

  Args:
    spec: the adversarial autoencoder.
    dataset: the training images.
    test: the held-out images.
    config: the loop's settings.
    mesh: train data-parallel over its devices.
    fid_features: the feature network of FID (jaxgan.features).
    num_labels: the semi-supervised variant's labeled examples.

  Returns:
    The Trainer.
  """
  stream = data.make_stream(dataset, config.batch_size, 1, config.seed, mesh)
  if spec.variant == "semi_supervised":
    labeled = semi_supervised.labeled_subset(dataset, num_labels, config.seed)
    stream = semi_supervised.SemiSupervisedStream(
      stream, image_data.ImageStream(labeled, config.batch_size, 1, config.seed + 1, mesh)
    )
  model = model_of(spec, lambda: trainer.Datasets(dataset, test), dataset.image_size, mesh)
  from_noise = trainer.Model(model.datasets, model.generator)  # the evaluators of a generator
  names = [
    *(["reconstruction"] if model.translators else []),
    *evaluators.default_names(from_noise),
  ]
  settings = evaluators.training_settings(config, fid_features, mesh)
  what = {
    "unsupervised": "an adversarial autoencoder",
    "supervised": "a supervised AAE",
    "semi_supervised": f"a semi-supervised AAE ({num_labels} labels)",
  }[spec.variant] + ("" if spec.adversarial else " without its adversaries")
  return trainer.Trainer(
    init=functools.partial(init_state, spec),
    step=make_train_step(spec, mesh=mesh),
    batches=stream,
    evaluators=[
      aae_latent.latent_evaluator(spec, views(spec, mesh), test, settings),
      *evaluators.for_training(names, model, config, fid_features=fid_features, mesh=mesh),
    ],
    describe=lambda: {**describe_spec(spec, dataset, names), "num_labels": num_labels},
    log_terms=("reconstruction", "class_loss", "category_d_loss", "category_g_loss"),
    summary=f"of {what} on {dataset.name}, {spec.prior.name} prior, batch {config.batch_size}",
  )


def restore(config: dict[str, Any]) -> trainer.Model:
  """An adversarial autoencoder run's Model from its config.json."""
  variant = config["variant"]
  spec = AAESpec(
    encoder=models.build(config["encoder"]),
    decoder=models.build(config["generator"]),
    discriminator=models.build(config["discriminator"]),
    prior=priors.get(config["prior"], config["latent_dim"]),
    autoencoder_optimizer=optax.identity(),
    discriminator_optimizer=optax.identity(),
    variant=variant,
    num_classes=config["num_classes"],
    category_discriminator=models.MLPDiscriminator() if variant == "semi_supervised" else None,
    prior_labels=config["prior_labels"],
  )
  return model_of(spec, autoencoding.datasets_of_run(config), config["image_shape"][0])


KIND = trainer.register(trainer.Kind("aae", restore))
