"""VAE-GAN (Larsen, Sønderby, Larochelle & Winther 2016, "Autoencoding beyond pixels using a
learned similarity metric"): a VAE whose reconstruction error is measured in a discriminator's
features, the decoder also trained as a GAN's generator, in one compiled step.

    spec = VAEGANSpec(encoder=models.vae.ConvEncoder(...), decoder=models.DCGANGenerator(...),
                      discriminator=models.DCGANDiscriminator(..., return_features=True),
                      optimizer=optax.rmsprop(3e-4, decay=0.9), gamma=1e-6)
    state = init_state(spec, key, batch)          # batch: {"x": [1, B, H, W, C]}
    step = make_train_step(spec)
    state, metrics = step(state, batch, key)

With z ~ q(z|x) = N(μ(x), σ²(x)) (reparameterized), x̃ = Dec(z), z_p ~ N(0, I), x_p = Dec(z_p)
and Dis_l D's last convolutional features (the paper's l-th layer):

    L_prior = KL(q(z|x) ‖ N(0, I))                        per example, summed over z
    L_llike = ½ ‖Dis_l(x̃) − Dis_l(x)‖²                    per example (a Gaussian in Dis_l)
    L_GAN   = log(D(x) + ε) + log(1 − D(x_p) + ε)         ε = 10⁻³, D = sigmoid of D's logit

routed as the authors' code routes them (andersbll/autoencoding_beyond_pixels, model/aegan.py):
the encoder descends L_prior + L_llike; the decoder γ·L_llike + (1 − γ)·log(1 − D(x_p) + ε)
(γ = 10⁻⁶ in their CelebA run: recon_vs_gan_weight); D ascends L_GAN with real and generated
halves weighted ½ each. D sees real images and prior samples; the paper's equation also shows
it the reconstructions x̃ (discriminate_reconstructions=True, their discriminate_ae_recon).
Their equilibrium rule (margin 0.35 around 0.68 ≈ log 2 in train()): D is not updated when
its cost on the real or the generated half falls below 0.68 − m, the decoder not when either
rises above 0.68 + m; never both skipped. Losses are batch means here, sums there: RMSProp's
step does not depend on the loss's scale.

With adversarial=False the same code is the plain VAE the paper compares with: the
reconstruction term is ½‖x̃ − x‖² in pixels, for encoder and decoder alike, and D is not
trained.

This module registers the kind "vaegan": a run's decoder draws from the prior for
`python -m jaxgan.sample`, and reconstructs for `jaxgan.translate` and the reconstruction
evaluator.
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

from jaxgan import data, evaluators, models, parallel, trainer
from jaxgan.errors import ConfigError
from jaxgan.kinds import autoencoding
from jaxgan.kinds.gan import generator_view
from jaxgan.latent import LatentSpace
from jaxgan.models import vae
from jaxgan.step import (
  PlayerState,
  all_finite,
  apply_model,
  as_outputs,
  compile_spec_step,
  init_player,
  select_where,
  update_player,
)

Array = jax.Array
EPSILON = 1e-3  # inside the GAN's logarithms, as the authors' eps
EQUILIBRIUM = 0.68  # the authors' equilibrium cost, about log 2


@dataclasses.dataclass(frozen=True)
class VAEGANSpec:
  """A VAE-GAN: the encoder images → (μ, log σ²), the decoder z → images (the generator), the
  discriminator images → {"adv": logits, "features": Dis_l}, one optimizer for all three (the
  authors' RMSProp), γ, and the options of the module docstring."""

  encoder: nn.Module
  decoder: nn.Module
  discriminator: nn.Module
  optimizer: optax.GradientTransformation
  latent_dim: int
  gamma: float = 0.5
  equilibrium_margin: float = 0.35
  discriminate_reconstructions: bool = False
  adversarial: bool = True

  def __post_init__(self):
    if not 0.0 <= self.gamma <= 1.0:
      raise ConfigError(f"--gamma must be in [0, 1], got {self.gamma}")
    if self.equilibrium_margin < 0:
      raise ConfigError(f"--equilibrium_margin must be 0 or more, got {self.equilibrium_margin}")


@flax.struct.dataclass
class VAEGANState:
  step: Array
  encoder: PlayerState
  generator: PlayerState  # the decoder: named as a GAN's generator, for its generator view
  discriminator: PlayerState


def init_state(spec: VAEGANSpec, key: Array, example_batch: dict[str, Array]) -> VAEGANState:
  """Fresh encoder, decoder and discriminator with their optimizer states.

  Args:
    spec: the VAE-GAN.
    key: the key of the initialization.
    example_batch: {"x": [1, B, H, W, C]}; only its shape is read.

  Returns:
    The VAEGANState at step 0.
  """
  shape = example_batch["x"].shape[1:]

  def init(key):
    e_key, g_key, d_key = jax.random.split(key, 3)
    x = jnp.zeros(shape, jnp.float32)
    z = jnp.zeros((shape[0], spec.latent_dim), jnp.float32)
    return VAEGANState(
      jnp.zeros([], jnp.int32),
      init_player(spec.encoder, e_key, x, optimizer=spec.optimizer),
      init_player(spec.decoder, g_key, z, optimizer=spec.optimizer),
      init_player(spec.discriminator, d_key, x, optimizer=spec.optimizer),
    )

  return jax.jit(init)(key)


def discriminator_costs(real_logits: Array, fake_logits: Array) -> tuple[Array, Array]:
  """The authors' per-half costs −mean log(D(x) + ε) and −mean log(1 − D(x_p) + ε)."""
  real = -jnp.mean(jnp.log(jax.nn.sigmoid(real_logits) + EPSILON))
  fake = -jnp.mean(jnp.log(1.0 - jax.nn.sigmoid(fake_logits) + EPSILON))
  return real, fake


def equilibrium_updates(real_cost: Array, fake_cost: Array, margin: float) -> tuple[Array, Array]:
  """(update the decoder, update D): the authors' equilibrium rule; both when margin is 0.

  Args:
    real_cost: D's cost on the real half.
    fake_cost: its cost on the generated half.
    margin: m around EQUILIBRIUM.

  Returns:
    Two booleans.
  """
  if not margin:
    return jnp.asarray(True), jnp.asarray(True)
  update_d = ~((real_cost < EQUILIBRIUM - margin) | (fake_cost < EQUILIBRIUM - margin))
  update_decoder = ~((real_cost > EQUILIBRIUM + margin) | (fake_cost > EQUILIBRIUM + margin))
  neither = ~(update_d | update_decoder)
  return update_decoder | neither, update_d | neither


def train_step(spec: VAEGANSpec, state: VAEGANState, batch, key: Array, mesh=None):
  """One update of the encoder, the decoder and D on the batch (see the module docstring).

  Args:
    spec: the VAE-GAN.
    state: the training state.
    batch: {"x": [1, B, H, W, C]} in [−1, 1].
    key: the run's base key; the step folds its counter in (ε of z, and z_p).
    mesh: unused (the batch's layout comes from the compiled step).

  Returns:
    (the new state, metrics).
  """
  del mesh
  x = batch["x"][0]
  e, g, d = state.encoder, state.generator, state.discriminator
  key = jax.random.fold_in(key, state.step)
  eps_key, prior_key = jax.random.split(key)
  z_p = jax.random.normal(prior_key, (x.shape[0], spec.latent_dim))

  def discriminate(images):
    out, _ = apply_model(spec.discriminator, d.params, d.model_state, images, True)
    return as_outputs(out)

  def forward(e_params, g_params):
    (mean, log_variance), e_model_state = apply_model(
      spec.encoder, e_params, e.model_state, x, True
    )
    z = vae.reparameterize(mean, log_variance, eps_key)
    both = jnp.concatenate([z, z_p])
    decoded, g_model_state = apply_model(spec.decoder, g_params, g.model_state, both, True)
    x_tilde, x_p = decoded[: x.shape[0]], decoded[x.shape[0] :]
    prior = jnp.mean(vae.gaussian_kl(mean, log_variance))
    if spec.adversarial:
      features = discriminate(jnp.concatenate([x, x_tilde]))["features"]
      difference = features[x.shape[0] :] - jax.lax.stop_gradient(features[: x.shape[0]])
      fakes = jnp.concatenate([x_p, x_tilde]) if spec.discriminate_reconstructions else x_p
      fake_logits = discriminate(jnp.concatenate([x, fakes]))["adv"][x.shape[0] :]  # one batch
      gan = jnp.mean(jnp.log(1.0 - jax.nn.sigmoid(fake_logits) + EPSILON))
    else:
      difference, gan = x_tilde - x, jnp.zeros([])
    llike = jnp.mean(0.5 * jnp.sum(difference.reshape(x.shape[0], -1) ** 2, axis=1))
    encoder_loss = prior + llike
    decoder_loss = spec.gamma * llike + (1 - spec.gamma) * gan if spec.adversarial else llike
    metrics = {"kl": prior, "llike": llike, "g_loss": gan}
    aux = (metrics, e_model_state, g_model_state, jax.lax.stop_gradient(x_tilde), x_p)
    return (encoder_loss, decoder_loss), aux

  (_, pullback, aux) = jax.vjp(forward, e.params, g.params, has_aux=True)
  metrics, e_model_state, g_model_state, x_tilde, x_p = aux
  e_grads, _ = pullback((jnp.ones([]), jnp.zeros([])))
  _, g_grads = pullback((jnp.zeros([]), jnp.ones([])))

  def d_objective(params):
    fakes = jax.lax.stop_gradient(x_p)
    if spec.discriminate_reconstructions:
      fakes = jnp.concatenate([fakes, x_tilde])
    logits, model_state = apply_model(
      spec.discriminator, params, d.model_state, jnp.concatenate([x, fakes]), True
    )
    logits = as_outputs(logits)["adv"]
    real_cost, fake_cost = discriminator_costs(logits[: x.shape[0]], logits[x.shape[0] :])
    return 0.5 * (real_cost + fake_cost), ((real_cost, fake_cost), model_state)

  (_, ((real_cost, fake_cost), d_model_state)), d_grads = jax.value_and_grad(
    d_objective, has_aux=True
  )(d.params)
  update_decoder, update_d = equilibrium_updates(real_cost, fake_cost, spec.equilibrium_margin)
  if not spec.adversarial:
    update_decoder, update_d = jnp.asarray(True), jnp.asarray(False)
  e = update_player(spec.optimizer, e, e_grads, e_model_state)
  g = select_where(update_decoder, update_player(spec.optimizer, g, g_grads, g_model_state), g)
  d = select_where(update_d, update_player(spec.optimizer, d, d_grads, d_model_state), d)
  metrics.update(
    d_real_cost=real_cost,
    d_fake_cost=fake_cost,
    decoder_updated=update_decoder.astype(jnp.float32),
    d_updated=update_d.astype(jnp.float32),
    encoder_grad_norm=optax.tree.norm(e_grads),
    g_grad_norm=optax.tree.norm(g_grads),
    d_grad_norm=optax.tree.norm(d_grads),
  )
  metrics["finite"] = all_finite(metrics)
  return VAEGANState(state.step + 1, e, g, d), metrics


# make_train_step(spec, *, mesh=None, donate=True) -> step(state, batch, key): train_step
# compiled, the batch's example axis split over the mesh (jaxgan.step.compile_spec_step).
make_train_step = functools.partial(compile_spec_step, train_step)


# ---------------------------------------------------------------------------
# The trainer, and the kind.
# ---------------------------------------------------------------------------


def reconstructor(encoder: nn.Module, decoder: nn.Module, mesh: Mesh | None = None):
  """The run's reconstructions, Dec(μ(x)) in eval mode: the reconstruction evaluator's and
  jaxgan.translate's view of the run.

  Args:
    encoder: the encoder.
    decoder: the decoder.
    mesh: the devices they run on; outputs come back replicated.

  Returns:
    reconstruct(state, images, key) → numpy images.
  """
  out_shardings = None if mesh is None else parallel.replicated(mesh)

  @functools.partial(jax.jit, out_shardings=out_shardings)
  def apply(e, g, images):
    mean, _ = apply_model(encoder, e["params"], e["model_state"], images, False)[0]
    return apply_model(decoder, g["params"], g["model_state"], mean, False)[0]

  def reconstruct(state, images, key=None):
    return np.asarray(apply(state["encoder"], state["generator"], images))

  return reconstruct


def model_of(
  spec: VAEGANSpec, datasets: Callable[[], trainer.Datasets], image_size: int, mesh=None
) -> trainer.Model:
  """The run's Model: the decoder as a generator from N(0, I), and the reconstructions.

  Args:
    spec: the VAE-GAN.
    datasets: () -> the training and held-out images (loaded when first asked for).
    image_size: the images' size.
    mesh: the devices the networks run on.

  Returns:
    The trainer.Model.
  """
  return trainer.Model(
    datasets=datasets,
    generator=generator_view(spec.decoder, None, LatentSpace(spec.latent_dim), mesh),
    translators={"a_to_b": reconstructor(spec.encoder, spec.decoder, mesh)},
    image_size=image_size,
  )


def make_trainer(spec: VAEGANSpec, dataset, test, config, *, mesh=None, fid_features="auto"):
  """The Trainer of `spec`: trained on dataset; reconstructions measured on test, prior
  samples as a GAN's.

  Args:
    spec: the VAE-GAN.
    dataset: the training images.
    test: the held-out images.
    config: the loop's settings.
    mesh: train data-parallel over its devices.
    fid_features: the feature network of FID (jaxgan.features).

  Returns:
    The Trainer.
  """
  stream = data.make_stream(dataset, config.batch_size, 1, config.seed, mesh)
  model = model_of(spec, lambda: trainer.Datasets(dataset, test), dataset.image_size, mesh)
  from_noise = trainer.Model(model.datasets, model.generator)  # the evaluators of a generator
  names = ["reconstruction", *evaluators.default_names(from_noise)]

  def describe() -> dict[str, Any]:
    return {
      **trainer.describe_kind(KIND),
      "dataset": dataset.name,
      "image_shape": [dataset.image_size, dataset.image_size, dataset.channels],
      "channels": [dataset.channels, dataset.channels],
      "latent_dim": spec.latent_dim,
      "encoder": models.describe(spec.encoder),
      "generator": models.describe(spec.decoder),
      "discriminator": models.describe(spec.discriminator),
      "evaluators": names,
    }

  return trainer.Trainer(
    init=functools.partial(init_state, spec),
    step=make_train_step(spec, mesh=mesh),
    batches=stream,
    evaluators=evaluators.for_training(names, model, config, fid_features=fid_features, mesh=mesh),
    describe=describe,
    log_terms=("kl", "llike", "d_real_cost", "d_fake_cost"),
    summary=f"of a {'VAE-GAN' if spec.adversarial else 'VAE'} on {dataset.name}, batch "
    f"{config.batch_size}",
  )


def restore(config: dict[str, Any]) -> trainer.Model:
  """A VAE-GAN run's Model from its config.json."""
  spec = VAEGANSpec(
    encoder=models.build(config["encoder"]),
    decoder=models.build(config["generator"]),
    discriminator=models.build(config["discriminator"]),
    optimizer=optax.identity(),
    latent_dim=config["latent_dim"],
  )
  return model_of(spec, autoencoding.datasets_of_run(config), config["image_shape"][0])


KIND = trainer.register(trainer.Kind("vaegan", restore))
