"""VQGAN's first stage (Esser, Rombach & Ommer 2021, "Taming Transformers for High-Resolution
Image Synthesis", §3.2): an autoencoder with a vector-quantized bottleneck, trained by a
reconstruction loss, a perceptual loss and a patch discriminator, in one compiled step.

    spec = VQGANSpec(autoencoder=models.vqgan.VQAutoencoder(...),
                     discriminator=models.PatchGANDiscriminator(...),
                     autoencoder_optimizer=optax.adam(lr, 0.5, 0.9),
                     discriminator_optimizer=optax.adam(lr, 0.5, 0.9),
                     perceptual=perceptual.perceptual_for("lpips:PATH", dataset_name),
                     discriminator_start=10_000)
    state = init_state(spec, key, batch)          # batch: {"x": [1, B, H, W, C]}
    step = make_train_step(spec)
    state, metrics = step(state, batch, key)

The autoencoder minimizes (the paper's eq. 5–7, as taming's VQLPIPSWithDiscriminator)

    L = mean|x − x̂| + w_p·mean P(x, x̂) + w_q·(L_codebook + L_commit) + λ·s(t)·L_GAN
    λ = w_d · ‖∇_{G_L} L_rec‖ / (‖∇_{G_L} L_GAN‖ + 10⁻⁴),  clipped to [0, 10⁴]

with P the perceptual distance (jaxgan.perceptual), G_L the decoder's last convolution
(models.vqgan.LAST_LAYER), L_rec the first two terms, L_GAN = −mean D(x̂) (hinge) and
s(t) = 1 from step spec.discriminator_start on, else 0; D minimizes s(t)·hinge(D(x), D(x̂)).
λ is a constant of the gradient (detached), as in the authors' code. The autoencoder runs
forward once and its pullback is taken twice, for L_rec + w_q L_VQ and for L_GAN: λ comes
from the very gradients that update the parameters. As in the authors' code the
autoencoder's step sees D before D's update of the same batch. Dead codes of a learned
codebook are restarted after the update (models.vq.restarted_params).

Departure from the authors' code: their hinge loss halves D's objective, which changes
nothing under Adam.

This module registers the kind "vqgan": a run's autoencoder is rebuilt from its config.json
for `python -m jaxgan.evaluate`, `jaxgan.translate` (reconstructions) and `jaxgan.tokenize`.
"""

from __future__ import annotations

import dataclasses
import functools
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
from jaxgan.loss_pairs import LossPair, loss_pair
from jaxgan.models import vq
from jaxgan.models.vqgan import LAST_LAYER
from jaxgan.step import (
  PlayerState,
  all_finite,
  compile_spec_step,
  discriminate_batches,
  init_player,
  update_player,
)

Array = jax.Array
ADAPTIVE_WEIGHT_EPSILON = 1e-4
ADAPTIVE_WEIGHT_MAX = 1e4


@dataclasses.dataclass(frozen=True)
class VQGANSpec:
  """A VQGAN's first stage: the autoencoder (x, train) → (x̂, models.vq.Quantized), the patch
  discriminator, their optimizers and the loss weights (see the module docstring).

  perceptual: P(x, y) → [B] (jaxgan.perceptual), None for none. adversarial_weight: w_d,
  which scales the adaptive λ (taming's disc_weight; 0.8 in their ImageNet config).
  """

  autoencoder: nn.Module
  discriminator: nn.Module
  autoencoder_optimizer: optax.GradientTransformation
  discriminator_optimizer: optax.GradientTransformation
  perceptual: Any = None
  perceptual_weight: float = 1.0
  codebook_weight: float = 1.0
  adversarial_weight: float = 0.8
  discriminator_start: int = 0
  loss: LossPair = dataclasses.field(default_factory=lambda: loss_pair("hinge"))

  def __post_init__(self):
    for name in ("perceptual_weight", "codebook_weight", "adversarial_weight"):
      if getattr(self, name) < 0:
        raise ConfigError(f"--{name} must be 0 or more, got {getattr(self, name)}")
    if self.discriminator_start < 0:
      raise ConfigError(f"--discriminator_start must be 0 or more, got {self.discriminator_start}")


@flax.struct.dataclass
class VQGANState:
  step: Array
  autoencoder: PlayerState
  discriminator: PlayerState


def adaptive_weight(rec_grad: Array, gan_grad: Array, weight: float = 1.0) -> Array:
  """λ = weight·‖rec_grad‖ / (‖gan_grad‖ + 10⁻⁴), clipped to [0, 10⁴·weight] (taming's
  calculate_adaptive_weight), without gradient.

  Args:
    rec_grad: ∇ of the reconstruction loss at the decoder's last layer.
    gan_grad: ∇ of the generator's adversarial loss there.
    weight: w_d.

  Returns:
    λ, a scalar.
  """
  ratio = jnp.linalg.norm(rec_grad.ravel()) / (
    jnp.linalg.norm(gan_grad.ravel()) + ADAPTIVE_WEIGHT_EPSILON
  )
  return jax.lax.stop_gradient(jnp.clip(ratio, 0.0, ADAPTIVE_WEIGHT_MAX) * weight)


def last_layer(tree) -> Array:
  """The decoder's last convolution kernel in a tree shaped like the autoencoder's params."""
  return tree["decoder"][LAST_LAYER]["kernel"]


def init_state(spec: VQGANSpec, key: Array, example_batch: dict[str, Array]) -> VQGANState:
  """Fresh parameters, codebook and optimizer states, as one compiled program.

  Args:
    spec: the VQGAN.
    key: the key of the initialization.
    example_batch: {"x": [1, B, H, W, C]}; only its shape is read.

  Returns:
    The VQGANState at step 0.
  """
  shape = example_batch["x"].shape[1:]

  def init(key):
    ae_key, d_key = jax.random.split(key)
    x = jnp.zeros(shape, jnp.float32)
    return VQGANState(
      jnp.zeros([], jnp.int32),
      init_player(spec.autoencoder, ae_key, x, optimizer=spec.autoencoder_optimizer),
      init_player(spec.discriminator, d_key, x, optimizer=spec.discriminator_optimizer),
    )

  return jax.jit(init)(key)


def train_step(spec: VQGANSpec, state: VQGANState, batch: dict[str, Array], key: Array, mesh=None):
  """One autoencoder update, then one discriminator update, on the batch.

  Args:
    spec: the VQGAN.
    state: the training state.
    batch: {"x": [1, B, H, W, C]} in [−1, 1].
    key: the run's base key (unused: the step draws no noise); kept for the signature every
      kind's step shares.
    mesh: unused (the batch's layout comes from the compiled step).

  Returns:
    (the new state, metrics).
  """
  del key, mesh
  x = batch["x"][0]
  ae, d = state.autoencoder, state.discriminator
  on = (state.step >= spec.discriminator_start).astype(jnp.float32)

  def forward(params):
    variables = {"params": params, **ae.model_state}
    (x_hat, quantized), updates = spec.autoencoder.apply(
      variables, x, train=True, mutable=[vq.CODEBOOK, vq.RESTARTS]
    )
    l1 = jnp.mean(jnp.abs(x - x_hat))
    p = jnp.zeros([]) if spec.perceptual is None else jnp.mean(spec.perceptual(x, x_hat))
    vq_loss = quantized.codebook_loss + quantized.commitment_loss
    reconstruction = l1 + spec.perceptual_weight * p
    _, fake_out, _ = discriminate_batches(spec.discriminator, d.params, d.model_state, None, x_hat)
    g_loss = spec.loss.generator(None, fake_out, ())
    metrics = {
      "l1": l1,
      "perceptual": p,
      "codebook": quantized.codebook_loss,
      "commitment": quantized.commitment_loss,
      "perplexity": quantized.perplexity,
      "codebook_usage": quantized.usage,
      "g_loss": g_loss,
    }
    return (reconstruction + spec.codebook_weight * vq_loss, g_loss), (x_hat, updates, metrics)

  _, pullback, (x_hat, updates, metrics) = jax.vjp(forward, ae.params, has_aux=True)
  (rec_grads,) = pullback((jnp.ones([]), jnp.zeros([])))
  (gan_grads,) = pullback((jnp.zeros([]), jnp.ones([])))
  weight = adaptive_weight(last_layer(rec_grads), last_layer(gan_grads), spec.adversarial_weight)
  grads = jax.tree.map(lambda r, g: r + weight * on * g, rec_grads, gan_grads)
  updates = dict(updates)
  restarts = updates.pop(vq.RESTARTS, {})
  ae = update_player(spec.autoencoder_optimizer, ae, grads, {**ae.model_state, **updates})
  ae = ae.replace(params=vq.restarted_params(ae.params, restarts))
  metrics.update(adaptive_weight=weight, ae_grad_norm=optax.tree.norm(grads))

  def d_objective(params):
    real_out, fake_out, model_state = discriminate_batches(
      spec.discriminator, params, d.model_state, x, jax.lax.stop_gradient(x_hat)
    )
    loss = on * spec.loss.discriminator(real_out, fake_out, ())
    out = {"d_loss": loss, "d_real": jnp.mean(real_out["adv"]), "d_fake": jnp.mean(fake_out["adv"])}
    return loss, (out, model_state)

  (_, (d_metrics, d_model_state)), d_grads = jax.value_and_grad(d_objective, has_aux=True)(d.params)
  d = update_player(spec.discriminator_optimizer, d, d_grads, d_model_state)
  metrics.update(d_metrics, d_grad_norm=optax.tree.norm(d_grads), discriminator_on=on)
  metrics["finite"] = all_finite(metrics)
  return VQGANState(state.step + 1, ae, d), metrics


# make_train_step(spec, *, mesh=None, donate=True) -> step(state, batch, key): train_step
# compiled, the batch's example axis split over the mesh (jaxgan.step.compile_spec_step).
make_train_step = functools.partial(compile_spec_step, train_step)


# ---------------------------------------------------------------------------
# The trainer, and the kind: a run's autoencoder from its config.json.
# ---------------------------------------------------------------------------


def autoencoder_variables(state: trainer.StateDict) -> dict[str, Any]:
  """The autoencoder's Flax variables in a state dict."""
  return {"params": state["autoencoder"]["params"], **state["autoencoder"]["model_state"]}


def translators(autoencoder: nn.Module, mesh: Mesh | None = None) -> dict[str, Any]:
  """{"a_to_b": reconstruct, "codes": CodeGrids}: images → x̂, and → their code grids, in
  eval mode (the codebook does not move)."""
  out_shardings = None if mesh is None else parallel.replicated(mesh)

  @functools.partial(jax.jit, out_shardings=out_shardings)
  def reconstruct_images(variables, images):
    return autoencoder.apply(variables, images, train=False)[0]

  @functools.partial(jax.jit, out_shardings=out_shardings)
  def encode_images(variables, images):
    return autoencoder.apply(variables, images, method="encode")

  def reconstruct(state, images, key=None):
    return np.asarray(reconstruct_images(autoencoder_variables(state), images))

  def encode(state, images, key=None):
    return np.asarray(encode_images(autoencoder_variables(state), images))

  return {"a_to_b": reconstruct, "codes": autoencoding.CodeGrids(encode, autoencoder.num_codes)}


def describe_spec(spec: VQGANSpec, dataset, evaluator_names) -> dict[str, Any]:
  """config.json's entries of a VQGAN run.

  Args:
    spec: the VQGAN.
    dataset: its training images.
    evaluator_names: the run's evaluators.

  Returns:
    Its kind, data, networks (what `restore` rebuilds) and evaluators.
  """
  return {
    **trainer.describe_kind(KIND),
    "dataset": dataset.name,
    "image_shape": [dataset.image_size, dataset.image_size, dataset.channels],
    "channels": [dataset.channels, dataset.channels],
    "autoencoder": models.describe(spec.autoencoder),
    "discriminator": models.describe(spec.discriminator),
    "evaluators": list(evaluator_names),
  }


def make_trainer(
  spec: VQGANSpec,
  dataset,
  test,
  config,
  *,
  mesh: Mesh | None = None,
  fid_features: str = "auto",
) -> trainer.Trainer:
  """The Trainer of `spec`: trained on dataset, its reconstructions measured on test.

  Args:
    spec: the VQGAN.
    dataset: the training images (an ImageDataset).
    test: the held-out images (autoencoding.load_splits).
    config: the loop's settings (a jaxgan.config.LoopConfig).
    mesh: train data-parallel over its devices.
    fid_features: the feature network of the reconstruction FID (jaxgan.features).

  Returns:
    The Trainer.
  """
  stream = data.make_stream(dataset, config.batch_size, 1, config.seed, mesh)
  model = trainer.Model(
    datasets=lambda: trainer.Datasets(dataset, test),
    translators=translators(spec.autoencoder, mesh),
    image_size=dataset.image_size,
  )
  names = ["reconstruction"]
  return trainer.Trainer(
    init=functools.partial(init_state, spec),
    step=make_train_step(spec, mesh=mesh),
    batches=stream,
    evaluators=evaluators.for_training(names, model, config, fid_features=fid_features, mesh=mesh),
    describe=lambda: describe_spec(spec, dataset, names),
    log_terms=("l1", "perceptual", "adaptive_weight", "perplexity"),
    summary=f"of a VQGAN on {dataset.name}, batch {config.batch_size}",
  )


def restore(config: dict[str, Any]) -> trainer.Model:
  """A VQGAN run's Model from its config.json: its reconstructions and code grids."""
  autoencoder = models.build(config["autoencoder"])
  return trainer.Model(
    datasets=autoencoding.datasets_of_run(config),
    translators=translators(autoencoder),
    image_size=config["image_shape"][0],
  )


KIND = trainer.register(trainer.Kind("vqgan", restore))
