"""VQGAN's second stage: an autoregressive transformer trained on a trained VQGAN's code grids,
and a generator that samples codes and decodes them (Esser et al. 2021, §3.2).

    grids, labels = encode_dataset(coder, dataset)      # the training images' code grids
    spec = PriorSpec(prior=models.transformer.CodeTransformer(...), autoencoder=...,
                     optimizer=optax.adamw(...), grid=(4, 4), num_classes=10)
    state = init_state(spec, key, batch, autoencoder_variables)
    step = make_train_step(spec)
    state, metrics = step(state, batch, key)            # batch: {"x": codes [1, B, L], "label"}

The loss is the negative log-likelihood of the codes in raster order, −Σ_t log p(s_t | s_{<t},
c), averaged over positions (reported in nats and as the share of codes predicted right).
The state carries the VQGAN's autoencoder variables unchanged, so a run of this kind is
self-contained: `python -m jaxgan.sample` draws codes with the prior (its temperature and
top-k) and decodes them, and the GAN evaluators (FID on the features, the digits judge's class
accuracy for a class-conditional prior, sample grids with one row per class) measure the
samples as they measure any generator's.

The sampler's noise is a LatentSpace of L standard normals per sample: u_t = Φ(z_t) is the
uniform whose inverse-CDF draw gives code t (models.transformer.sample_codes), so samples
are a deterministic function of (z, class) as a GAN's are.

This module registers the kind "vqgan_transformer".
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from jaxgan import evaluators, models, parallel, runs, trainer
from jaxgan.data.images import ArraySource, ImageStream
from jaxgan.errors import ConfigError
from jaxgan.kinds import autoencoding
from jaxgan.latent import Latent, LatentSpace
from jaxgan.models import transformer
from jaxgan.step import PlayerState, all_finite, compile_spec_step, init_player, update_player

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class PriorSpec:
  """The prior over a VQGAN's code grids: the transformer, the VQGAN's autoencoder (frozen,
  for decoding samples), the optimizer, the grid's shape, the classes (0: unconditional) and
  the sampling settings."""

  prior: nn.Module
  autoencoder: nn.Module
  optimizer: optax.GradientTransformation
  grid: tuple[int, int]
  num_classes: int = 0
  temperature: float = 1.0
  top_k: int = 0

  @property
  def length(self) -> int:
    return self.grid[0] * self.grid[1]


@flax.struct.dataclass
class PriorState:
  step: Array
  prior: PlayerState
  autoencoder: Any  # the VQGAN's variables, unchanged by training


@dataclasses.dataclass(frozen=True)
class CodeDataset:
  """Code grids read as an ImageStream reads images: examples(indices) → (codes [n, L],
  labels [n])."""

  name: str
  source: ArraySource

  def examples(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes, labels = self.source.read(indices)
    return codes.astype(np.int32), labels.astype(np.int32)


def encode_dataset(encode, dataset, chunk: int = 250) -> tuple[np.ndarray, np.ndarray]:
  """Every image's code grid and its label.

  Args:
    encode: images [n, H, W, C] → codes [n, h, w] (a VQGAN run's "codes" translator, bound to
      its state).
    dataset: an ImageDataset.
    chunk: images per call.

  Returns:
    (codes [N, h, w] int32, labels [N] int32).
  """
  codes, labels = [], []
  for start in range(0, len(dataset.source), chunk):
    images, batch_labels = dataset.examples(
      np.arange(start, min(start + chunk, len(dataset.source)))
    )
    codes.append(np.asarray(encode(images)))
    labels.append(batch_labels)
  return np.concatenate(codes).astype(np.int32), np.concatenate(labels).astype(np.int32)


class VQGANCodes(NamedTuple):
  """A trained VQGAN run's training images, their code grids, its autoencoder, and the code
  grids of its held-out images."""

  dataset: Any
  codes: CodeDataset
  grid: tuple[int, int]
  autoencoder: nn.Module
  variables: Any
  held_out: CodeDataset


def codes_of_run(workdir: str, step: int | None = None) -> VQGANCodes:
  """The code grids of a VQGAN run's training images under its checkpoint at `step` (newest:
  None), with the autoencoder that decodes them.

  Args:
    workdir: the VQGAN run.
    step: its checkpoint to use.

  Returns:
    The VQGANCodes; a run of another kind is a one-line ConfigError.
  """
  run = runs.restore(workdir, step)
  if "codes" not in run.model.translators:
    raise ConfigError(
      f"{workdir} is a {run.config.get('kind')} run, not a VQGAN: train the tokenizer first "
      "(experiments/vqgan.py) and pass its workdir"
    )
  splits = run.model.datasets()
  dataset = splits.train
  encode = run.model.translators["codes"]

  def coded(images_dataset, split: str) -> tuple[tuple[int, int], CodeDataset]:
    grids, labels = encode_dataset(lambda images: encode(run.state, images, None), images_dataset)
    flat = ArraySource(grids.reshape(len(grids), -1), labels)  # raster order
    return grids.shape[1:], CodeDataset(f"{images_dataset.name} {split} codes", flat)

  grid, training = coded(dataset, "training")
  test = splits.test
  held_out = training if test is None or test is dataset else coded(test, "held-out")[1]
  autoencoder = models.build(run.config["autoencoder"])
  state = run.state["autoencoder"]
  variables = {"params": state["params"], **state["model_state"]}
  return VQGANCodes(dataset, training, grid, autoencoder, variables, held_out)


def start_tokens(spec: PriorSpec, labels: Array | None, batch: int) -> Array:
  """The start tokens of a batch: K + class for a class-conditional prior, K (start of
  sequence) otherwise.

  Args:
    spec: the prior (K is its vocabulary of codes).
    labels: the classes [batch], or None.
    batch: the batch size.

  Returns:
    int32 [batch].
  """
  k = spec.prior.vocab_size
  if spec.num_classes and labels is not None:
    return k + labels.astype(jnp.int32)
  return jnp.full((batch,), k, jnp.int32)


def init_state(spec: PriorSpec, key: Array, example_batch, autoencoder_variables) -> PriorState:
  """A fresh prior beside the VQGAN's autoencoder variables.

  Args:
    spec: the prior.
    key: the key of the initialization.
    example_batch: {"x": codes [1, B, L], ...}; only the shape is read.
    autoencoder_variables: the trained VQGAN's autoencoder variables.

  Returns:
    The PriorState at step 0.
  """
  shape = example_batch["x"].shape[1:]
  prior = jax.jit(
    lambda key: init_player(spec.prior, key, jnp.zeros(shape, jnp.int32), optimizer=spec.optimizer)
  )(key)
  autoencoder = jax.tree.map(jnp.asarray, autoencoder_variables)
  return PriorState(jnp.zeros([], jnp.int32), prior, autoencoder)


def train_step(spec: PriorSpec, state: PriorState, batch, key: Array, mesh=None):
  """One optimizer update on the codes' negative log-likelihood.

  Args:
    spec: the prior.
    state: the training state.
    batch: {"x": codes [1, B, L], "label": [1, B]}.
    key: the run's base key (the transformer's dropout, folded with the step).
    mesh: unused (the batch's layout comes from the compiled step).

  Returns:
    (the new state, metrics: nll (nats per code), token_accuracy, grad_norm, finite).
  """
  del mesh
  codes = batch["x"][0]
  labels = batch["label"][0] if spec.num_classes else None
  inputs = transformer.teacher_forcing_inputs(codes, start_tokens(spec, labels, codes.shape[0]))
  dropout_key = jax.random.fold_in(key, state.step)
  p = state.prior

  def objective(params):
    logits = spec.prior.apply({"params": params}, inputs, train=True, rngs={"dropout": dropout_key})
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, codes).mean()
    accuracy = jnp.mean(jnp.argmax(logits, -1) == codes)
    return nll, {"nll": nll, "token_accuracy": accuracy}

  (_, metrics), grads = jax.value_and_grad(objective, has_aux=True)(p.params)
  metrics["grad_norm"] = optax.tree.norm(grads)
  p = update_player(spec.optimizer, p, grads, p.model_state)
  metrics["finite"] = all_finite(metrics)
  return PriorState(state.step + 1, p, state.autoencoder), metrics


# make_train_step(spec, *, mesh=None, donate=True) -> step(state, batch, key): train_step
# compiled, the batch's example axis split over the mesh (jaxgan.step.compile_spec_step).
make_train_step = functools.partial(compile_spec_step, train_step)


# ---------------------------------------------------------------------------
# Sampling: the prior and the decoder as a generator.
# ---------------------------------------------------------------------------


def likelihood(spec: PriorSpec, codes: CodeDataset, held_out: CodeDataset) -> evaluators.Evaluator:
  """The prior's negative log-likelihood (nats per code, eval mode) and share of codes
  predicted right, on the held-out images' codes and on as many training codes: the gap is
  how much the prior memorizes.

  Args:
    spec: the prior.
    codes: the training codes.
    held_out: the held-out images' codes.

  Returns:
    The Evaluator "code_likelihood".
  """

  @jax.jit
  def scores(params, batch_codes, labels):
    starts = start_tokens(spec, labels, batch_codes.shape[0])
    inputs = transformer.teacher_forcing_inputs(batch_codes, starts)
    logits = spec.prior.apply({"params": params}, inputs, train=False)
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, batch_codes)
    return jnp.sum(nll), jnp.sum(jnp.argmax(logits, -1) == batch_codes)

  n = min(len(held_out.source), len(codes.source))

  def measure(params, dataset: CodeDataset) -> tuple[float, float]:
    nll = correct = 0.0
    for start in range(0, n, 500):
      batch_codes, labels = dataset.examples(np.arange(start, min(start + 500, n)))
      total, right = scores(params, batch_codes, labels)
      nll, correct = nll + float(total), correct + float(right)
    return nll / batch_codes.shape[1] / n, correct / batch_codes.shape[1] / n

  def run(state) -> dict[str, Any]:
    params = state["prior"]["params"]
    held_nll, held_accuracy = measure(params, held_out)
    train_nll, train_accuracy = measure(params, codes)
    summary = (
      f"held-out NLL {held_nll:.3f} nats/code, {100 * held_accuracy:.1f}% of codes predicted "
      f"(training: {train_nll:.3f}, {100 * train_accuracy:.1f}%; {n} grids each)"
    )
    return {
      "summary": summary,
      "heldout_nll": held_nll,
      "heldout_token_accuracy": held_accuracy,
      "train_nll": train_nll,
      "train_token_accuracy": train_accuracy,
    }

  return evaluators.Evaluator("code_likelihood", run)


def latent_space(spec: PriorSpec) -> LatentSpace:
  """L standard normals per sample (and the classes of a conditional prior)."""
  return LatentSpace(spec.length, spec.num_classes)


def generate(spec: PriorSpec, prior_params, autoencoder_variables, latent: Latent) -> Array:
  """Images from the sampler's noise: codes drawn at u = Φ(z), decoded by the VQGAN.

  Args:
    spec: the prior (its temperature and top-k).
    prior_params: the transformer's parameters.
    autoencoder_variables: the VQGAN's autoencoder variables.
    latent: z [B, L] and the classes.

  Returns:
    Images [B, H, W, C].
  """
  uniforms = jnp.clip(jax.scipy.stats.norm.cdf(latent.z), 1e-7, 1.0 - 1e-7)
  starts = start_tokens(spec, latent.labels, latent.z.shape[0])
  codes = transformer.sample_codes(
    spec.prior, {"params": prior_params}, starts, uniforms, spec.temperature, spec.top_k
  )
  grid = codes.reshape(-1, *spec.grid)
  return spec.autoencoder.apply(autoencoder_variables, grid, method="decode_codes")


def generator_view(spec: PriorSpec, mesh: Mesh | None = None) -> trainer.Generator:
  """The prior and the decoder as a trainer.Generator of a state dict."""
  out_shardings = None if mesh is None else parallel.replicated(mesh)
  apply = jax.jit(functools.partial(generate, spec), out_shardings=out_shardings)

  def generate_images(state, latent: Latent) -> np.ndarray:
    return np.asarray(apply(state["prior"]["params"], state["autoencoder"], latent))

  return trainer.Generator(latent_space(spec), generate_images)


def describe_spec(spec: PriorSpec, dataset, names, vqgan_workdir: str) -> dict[str, Any]:
  """config.json's entries of a prior run.

  Args:
    spec: the prior.
    dataset: the VQGAN's training images.
    names: the run's evaluators.
    vqgan_workdir: the VQGAN run whose codes it learned (its weights are in this run's state).

  Returns:
    What `restore` rebuilds the generator from.
  """
  return {
    **trainer.describe_kind(KIND),
    "dataset": dataset.name,
    "image_shape": [dataset.image_size, dataset.image_size, dataset.channels],
    "prior": models.describe(spec.prior),
    "autoencoder": models.describe(spec.autoencoder),
    "grid": list(spec.grid),
    "num_classes": spec.num_classes,
    "temperature": spec.temperature,
    "top_k": spec.top_k,
    "latent_space": latent_space(spec)._asdict(),
    "vqgan_workdir": vqgan_workdir,
    "evaluators": list(names),
  }


def make_trainer(
  spec: PriorSpec,
  dataset,
  codes: CodeDataset,
  autoencoder_variables,
  config,
  *,
  vqgan_workdir: str,
  held_out: CodeDataset | None = None,
  mesh: Mesh | None = None,
  fid_features: str = "auto",
) -> trainer.Trainer:
  """The Trainer of a prior on `codes`, its samples measured as a generator's against dataset.

  Args:
    spec: the prior.
    dataset: the VQGAN's training images (the reference of FID; the digits judge).
    codes: their code grids.
    autoencoder_variables: the VQGAN's autoencoder variables.
    config: the loop's settings.
    vqgan_workdir: the VQGAN run, recorded in config.json.
    held_out: the held-out images' codes, for the held-out likelihood (None: not measured).
    mesh: train data-parallel over its devices.
    fid_features: the feature network of FID (jaxgan.features).

  Returns:
    The Trainer.
  """
  stream = ImageStream(codes, config.batch_size, 1, config.seed, mesh)
  model = trainer.Model(
    datasets=lambda: trainer.Datasets(dataset), generator=generator_view(spec, mesh)
  )
  names = evaluators.default_names(model)
  init = functools.partial(init_state, spec, autoencoder_variables=autoencoder_variables)
  return trainer.Trainer(
    init=lambda key, batch: init(key, batch),
    step=make_train_step(spec, mesh=mesh),
    batches=stream,
    evaluators=[
      *([likelihood(spec, codes, held_out)] if held_out is not None else []),
      *evaluators.for_training(names, model, config, fid_features=fid_features, mesh=mesh),
    ],
    describe=lambda: describe_spec(spec, dataset, names, vqgan_workdir),
    log_terms=("token_accuracy",),
    summary=f"of a transformer prior on {len(codes.source)} code grids of {dataset.name}, "
    f"batch {config.batch_size}",
  )


def restore(config: dict[str, Any]) -> trainer.Model:
  """A prior run's Model from its config.json: the prior and the decoder as a generator."""
  spec = PriorSpec(
    prior=models.build(config["prior"]),
    autoencoder=models.build(config["autoencoder"]),
    optimizer=optax.identity(),
    grid=tuple(config["grid"]),
    num_classes=config["num_classes"],
    temperature=config["temperature"],
    top_k=config["top_k"],
  )
  datasets = autoencoding.datasets_of_run(config)
  return trainer.Model(
    datasets=lambda: trainer.Datasets(datasets().train), generator=generator_view(spec)
  )


KIND = trainer.register(trainer.Kind("vqgan_transformer", restore))
