"""Text-to-image synthesis with GAN-CLS and GAN-INT (Reed et al. 2016), in one compiled step.

    spec = TextToImageSpec(generator=models.text2image.CaptionGenerator(vocab_size=44),
                           discriminator=models.text2image.MatchingDiscriminator(vocab_size=44),
                           g_optimizer=optax.adam(2e-4, 0.5), d_optimizer=optax.adam(2e-4, 0.5))
    state = init_state(spec, key, batch)      # {"x", "text", "wrong_text"}, each [1, B, ...]
    state, metrics = make_train_step(spec)(state, batch, key)

The matching-aware discriminator (GAN-CLS, the paper's Algorithm 1) sees three pairs: a real
image with its text t (real), the real image with a mismatched text t̂ (fake), and G's image of
t with t (fake). With ℓ(s, y) the sigmoid cross-entropy of a logit s against the label y and
c the wrong-text weight (the paper's ½; 0 is a plain text-conditional GAN):

    L_D = ℓ(D(x, t), 1) + c·ℓ(D(x, t̂), 0) + (1 − c)·ℓ(D(G(z, t), t), 0)
    L_G = E ℓ(D(G(z, t), t), 1) + λ_INT·E ℓ(D(G(z′, t_β), t_β), 1),  t_β = β·t₁ + (1 − β)·t₂

as the authors' code weighs them (reedscot/icml2016, main_cls_int.lua: cls_weight, and
interp_weight λ_INT with β = ½ over the batch's two halves; their G loss divides the sum by
1.5·B, here each term is a mean). The mismatched pair is the paper's (real image, wrong text);
the authors' code pairs a wrong image with the right text instead. Both take the mismatch from
another class. GAN-INT interpolates the captions' embeddings, which G and D
then project; with word ids each network interpolates its own encoding of the two captions.

The step runs G once on the B captions and the B/2 interpolations, updates D on the first B
images (detached), then pulls G's loss under the updated D back through the same forward
(jax.vjp), as jaxgan.kinds.spade does. D sees each of its three pairs as its own batch, so
BatchNorm takes their statistics apart, as the authors' three forward passes do.

The data: the offline digit captions (jaxgan.data.digit_captions, words), or a folder of
images with pre-computed caption embeddings (jaxgan.data.caption_embeddings: CUB, Oxford-102).
The trained generator, the "captions" evaluator (the judge on held-out captions, the
attributes asked for against measured) and the pictures live in
jaxgan.kinds.text2image_views. A run's generator draws its held-out captions as its
"classes", and one typed by the user through its prompt (jaxgan.sample --caption). This
module registers the kind "text2image" (and, by importing the views, the evaluator
"captions").
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

from jaxgan import evaluators, models, trainer
from jaxgan.data import caption_embeddings, digit_captions
from jaxgan.errors import ConfigError
from jaxgan.kinds.text2image_views import (
  caption_generator,
  captions_evaluator,
  folder_texts,
  interpolations_evaluator,
)
from jaxgan.step import (
  PlayerState,
  all_finite,
  apply_model,
  compile_spec_step,
  init_player,
  update_player,
)

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class TextToImageSpec:
  """A text-to-image run: the networks (models.text2image), their optimizers, the wrong-text
  weight c and GAN-INT's weight λ_INT (see the module docstring)."""

  generator: nn.Module
  discriminator: nn.Module
  g_optimizer: optax.GradientTransformation
  d_optimizer: optax.GradientTransformation
  latent_dim: int = 100
  wrong_text_weight: float = 0.5
  interpolation_weight: float = 1.0

  def __post_init__(self):
    if not 0 <= self.wrong_text_weight < 1:
      raise ConfigError(f"the wrong-text weight must be in [0, 1), got {self.wrong_text_weight}")
    if self.interpolation_weight < 0:
      raise ConfigError(
        f"the interpolation weight must be 0 or more, got {self.interpolation_weight}"
      )


@flax.struct.dataclass
class TextToImageState:
  step: Array
  generator: PlayerState
  discriminator: PlayerState


def sigmoid_cross_entropy(logits: Array, label: float) -> Array:
  """E ℓ(s, y) = E[−y·log σ(s) − (1 − y)·log(1 − σ(s))]."""
  return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)))


def matching_aware_discriminator_loss(
  real: Array, wrong: Array, fake: Array, wrong_text_weight: float
) -> Array:
  """L_D = ℓ(real, 1) + c·ℓ(wrong, 0) + (1 − c)·ℓ(fake, 0) over the three pairs' logits.

  Args:
    real: D's logits of (real image, right text).
    wrong: of (real image, wrong text).
    fake: of (G's image, right text).
    wrong_text_weight: c (the paper's ½; 0: a plain conditional GAN's loss).

  Returns:
    The scalar loss.
  """
  c = wrong_text_weight
  return (
    sigmoid_cross_entropy(real, 1.0)
    + c * sigmoid_cross_entropy(wrong, 0.0)
    + (1.0 - c) * sigmoid_cross_entropy(fake, 0.0)
  )


def interpolation_mix(batch_size: int, beta: float = 0.5) -> Array:
  """[1.5·B, B]: the B captions, then β·t_i + (1 − β)·t_{i+B/2} for i < B/2 (GAN-INT)."""
  half = batch_size // 2
  eye = jnp.eye(batch_size)
  return jnp.concatenate([eye, beta * eye[:half] + (1 - beta) * eye[half : 2 * half]])


def init_state(spec: TextToImageSpec, key: Array, example_batch) -> TextToImageState:
  """Fresh networks and optimizer states, one compiled program.

  Args:
    spec: the run.
    key: the key of the initialization.
    example_batch: {"x", "text", ...}; only the shapes and dtypes are read.

  Returns:
    The TextToImageState at step 0.
  """
  x = jnp.zeros(example_batch["x"].shape[1:])
  text = jnp.zeros(example_batch["text"].shape[1:], example_batch["text"].dtype)

  def init(key):
    g_key, d_key = jax.random.split(key)
    z = jnp.zeros((x.shape[0], spec.latent_dim))
    return TextToImageState(
      jnp.zeros([], jnp.int32),
      init_player(spec.generator, g_key, z, text, optimizer=spec.g_optimizer),
      init_player(spec.discriminator, d_key, x, text, optimizer=spec.d_optimizer),
    )

  return jax.jit(init)(key)


def train_step(spec: TextToImageSpec, state: TextToImageState, batch, key: Array, mesh=None):
  """One D update on (real, right), (real, wrong) and (fake, right), then one G update on the
  captions and their interpolations against the new D.

  Args:
    spec: the run.
    state: the training state.
    batch: {"x": [1, B, S, S, C] in [−1, 1], "text", "wrong_text": [1, B, ...]}.
    key: the run's base key; the step folds its counter in (z).
    mesh: unused (the batch's layout comes from the compiled step).

  Returns:
    (the new state, metrics).
  """
  x, text, wrong_text = batch["x"][0], batch["text"][0], batch["wrong_text"][0]
  b = x.shape[0]
  key = jax.random.fold_in(key, state.step)
  g, d = state.generator, state.discriminator
  interpolate = spec.interpolation_weight > 0
  mix = interpolation_mix(b) if interpolate else None
  z = jax.random.normal(key, (b + b // 2 if interpolate else b, spec.latent_dim))

  def generate(params):
    return apply_model(spec.generator, params, g.model_state, z, True, text, mix=mix)

  fake, pull_back, g_model_state = jax.vjp(generate, g.params, has_aux=True)

  def d_objective(params):
    model_state, logits = d.model_state, {}
    pairs = {
      "real": (x, text),
      "wrong": (x, wrong_text),
      "fake": (jax.lax.stop_gradient(fake[:b]), text),
    }
    for name, (images, captions) in pairs.items():
      logits[name], model_state = apply_model(
        spec.discriminator, params, model_state, images, True, captions
      )
    loss = matching_aware_discriminator_loss(
      logits["real"], logits["wrong"], logits["fake"], spec.wrong_text_weight
    )
    return loss, ({f"d_{k}": jnp.mean(jax.nn.sigmoid(v)) for k, v in logits.items()}, model_state)

  (d_loss, (metrics, d_model_state)), d_grads = jax.value_and_grad(d_objective, has_aux=True)(
    d.params
  )
  metrics.update(d_loss=d_loss, d_grad_norm=optax.tree.norm(d_grads))
  d = update_player(spec.d_optimizer, d, d_grads, d_model_state)

  def g_objective(images):
    logits, _ = apply_model(
      spec.discriminator, d.params, d.model_state, images, True, text, mix=mix
    )
    if mix is None:
      return sigmoid_cross_entropy(logits, 1.0), {}
    terms = {"g_interpolation_loss": sigmoid_cross_entropy(logits[b:], 1.0)}
    loss = sigmoid_cross_entropy(logits[:b], 1.0)
    return loss + spec.interpolation_weight * terms["g_interpolation_loss"], terms

  (g_loss, g_terms), fake_grad = jax.value_and_grad(g_objective, has_aux=True)(fake)
  (g_grads,) = pull_back(fake_grad)
  metrics.update(g_terms, g_loss=g_loss, g_grad_norm=optax.tree.norm(g_grads))
  g = update_player(spec.g_optimizer, g, g_grads, g_model_state)
  metrics["finite"] = all_finite(metrics)
  return TextToImageState(state.step + 1, g, d), metrics


# make_train_step(spec, *, mesh=None, donate=True) -> step(state, batch, key): train_step
# compiled, the batch's example axis split over the mesh (jaxgan.step.compile_spec_step).
make_train_step = functools.partial(compile_spec_step, train_step)


# ---------------------------------------------------------------------------
# The trainer, and the kind.
# ---------------------------------------------------------------------------


def describe_spec(spec: TextToImageSpec, dataset) -> dict[str, Any]:
  """config.json's entries of the run: what `restore` rebuilds it from."""
  words = isinstance(dataset, digit_captions.CaptionedDigits)
  return {
    **trainer.describe_kind(KIND),
    "dataset": "digit_captions" if words else "folder",
    "image_shape": [dataset.image_size, dataset.image_size, dataset.channels],
    "latent_dim": spec.latent_dim,
    "vocabulary": list(dataset.vocabulary.words) if words else None,
    "generator": models.describe(spec.generator),
    "discriminator": models.describe(spec.discriminator),
    "evaluators": ["captions"],  # interpolations: drawn in training only
  }


def make_trainer(spec: TextToImageSpec, train, test, config, *, mesh=None) -> trainer.Trainer:
  """The Trainer of `spec`: on captioned digits (measured on the held-out captions), or on a
  folder's images and caption embeddings (pictures of its held-out captions).

  Args:
    spec: the run.
    train: digit_captions.CaptionedDigits or a caption_embeddings.EmbeddingFolder.
    test: the held-out split of the same (unused for the digits: their held-out captions).
    config: the loop's settings.
    mesh: train data-parallel over its devices.

  Returns:
    The Trainer.
  """
  settings = evaluators.training_settings(config, mesh=mesh)
  terms = []
  if spec.wrong_text_weight:
    terms.append(f"wrong-text weight {spec.wrong_text_weight}")
  if spec.interpolation_weight:
    terms.append(f"GAN-INT weight {spec.interpolation_weight}")
  if isinstance(train, digit_captions.CaptionedDigits):
    stream = digit_captions.CaptionStream(train, config.batch_size, config.seed, mesh)
    what = f"{train.name} ({len(train.labels)} digits, {train.vocabulary.size - 1} words)"
  else:
    stream = caption_embeddings.EmbeddingStream(train, config.batch_size, config.seed, mesh)
    what = f"{train.name} ({len(train.keys)} images, embeddings of {train.embeddings.shape[-1]})"
  model = model_of(spec, train, test)
  return trainer.Trainer(
    init=functools.partial(init_state, spec),
    step=make_train_step(spec, mesh=mesh),
    batches=stream,
    evaluators=[
      captions_evaluator(model, settings),
      interpolations_evaluator(spec, train, test, settings.key),
    ],
    describe=lambda: describe_spec(spec, train),
    log_terms=("d_wrong", "g_interpolation_loss"),
    summary=(
      f"on {what}, batch {config.batch_size}, {', '.join(terms) or 'plain conditional GAN'}"
    ),
  )


def load_datasets(name: str, image_size: int = digit_captions.IMAGE_SIZE, data_dir=None):
  """(train, test): digit_captions, or folder (caption_embeddings.load_embedding_folder).

  Args:
    name: digit_captions or folder.
    image_size: the folder's serving size.
    data_dir: the folder.

  Returns:
    (train, test).
  """
  if name == "digit_captions":
    return digit_captions.load_captions()
  if name == "folder":
    return caption_embeddings.load_embedding_folder(data_dir, image_size)
  raise ConfigError(f"unknown --dataset {name!r}: digit_captions or folder (--data_dir=DIR)")


def restore(config: dict[str, Any]) -> trainer.Model:
  """A text-to-image run's Model: its generator draws the held-out captions as its classes,
  and, for runs that read words, prompt(text) draws a caption typed by the user."""
  spec = TextToImageSpec(
    generator=models.build(config["generator"]),
    discriminator=models.build(config["discriminator"]),
    g_optimizer=optax.identity(),
    d_optimizer=optax.identity(),
    latent_dim=config["latent_dim"],
  )
  data_dir = config.get("flags", {}).get("data_dir")
  train, test = load_datasets(config["dataset"], config["image_shape"][0], data_dir)
  return model_of(spec, train, test)


def model_of(spec: TextToImageSpec, train, test) -> trainer.Model:
  """The Model of a run on these data: its generator's bank is the held-out captions (word
  ids of digit captions, which can also be typed; a folder's held-out images' texts).

  Args:
    spec: the run.
    train: its training data (digit_captions.CaptionedDigits or an EmbeddingFolder).
    test: the held-out split.

  Returns:
    The Model.
  """
  if isinstance(train, digit_captions.CaptionedDigits):
    generator = caption_generator(spec, digit_captions.held_out().tokens, train.vocabulary)
  else:  # pre-computed embeddings: nothing to type
    generator = caption_generator(spec, folder_texts(test), None)
  return trainer.Model(datasets=lambda: trainer.Datasets(train, test), generator=generator)


KIND = trainer.register(trainer.Kind("text2image", restore))
