"""Evaluators: what a run is measured by and the pictures it draws, chosen by name.

    settings = EvalSettings(key, num_samples=2500, fid_features="auto")
    evaluators = build(["features", "digits_judge", "image_grids"], model, settings)
    results = run_all(evaluators, state)       # {"fid": ..., "summary": "FID ...; ..."}
    for evaluator in evaluators:
      evaluator.draw(workdir, state, step)     # PNGs under WORKDIR/plots/

An evaluator has one interface, `run(state) -> metrics` (with a "summary"
part for the log line) and `draw(workdir, state, step) -> paths`, on a
state dict (nested dicts of arrays: a checkpoint as orbax reads it, or a live
state through flax.serialization.to_state_dict). It reads the run through
its `trainer.Model` (a generator that draws from noise, or translators), never
through the kind that trained it, so the training loop and
`python -m jaxgan.evaluate` run the same code. The evaluators:

- mode_coverage: the 2-D mixtures' modes, % high quality and reverse KL
  (VEEGAN/PacGAN), and real vs generated points over D's contours.
- features: FID, KID, precision/recall and IS on a feature network
  (jaxgan.features: the digits classifier on digits, Inception-v3 given its
  weights) against as many real training images.
- digits_judge: an independent classifier of the digits (jaxgan.judges) reads
  the samples: for conditional generators how often the asked-for class comes
  out, for InfoGAN how well the categorical code matches the digit under the best
  assignment, else how many classes are covered.
- image_grids: a sample grid from fixed noise (one row per class for
  conditional generators), InfoGAN code traversals, latent interpolations.
- translation (jaxgan.kinds.translation_checks, registered with the image-to-image
  kinds): held-out L1, cycle errors, a domain classifier, the digits judge; input |
  output | target grids.

In a multi-process run every process computes (the computations span all
devices) and only process 0 writes pictures.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jaxgan import features as features_lib
from jaxgan import judges, parallel, plots
from jaxgan import metrics as metrics_lib
from jaxgan.data import ImageDataset, ToyDataset
from jaxgan.errors import ConfigError
from jaxgan.latent import Latent
from jaxgan.trainer import Generator, Model, StateDict, run_keys

Array = jax.Array


class Evaluator(NamedTuple):
  """run(state) -> {"summary": a part of the log line, metric: value, ...} ({} when it only
  draws); draw(workdir, state, step) -> the PNG paths it wrote."""

  name: str
  run: Callable[[StateDict], dict[str, Any]]
  draw: Callable[[str, StateDict, int], list[str]] = lambda workdir, state, step: []


class EvalSettings(NamedTuple):
  """key: the evaluation's noise; num_samples: generated (and real) examples per evaluation;
  fid_features: the feature network (jaxgan.features.extractor_for); mesh: where G runs;
  truncation: the samples' noise truncated to [−t, t] (BigGAN's truncation trick), None: not."""

  key: Array
  num_samples: int = metrics_lib.NUM_EVAL_SAMPLES
  fid_features: str = "auto"
  mesh: Mesh | None = None
  truncation: float | None = None


def run_all(evaluators: Sequence[Evaluator], state: StateDict) -> dict[str, Any]:
  """Every evaluator's metrics in one dict, their summaries joined into one line."""
  results: dict[str, Any] = {}
  parts = []
  for evaluator in evaluators:
    metrics = dict(evaluator.run(state))
    summary = metrics.pop("summary", None)
    if summary:
      parts.append(summary)
    results.update(metrics)
  if parts:
    results["summary"] = "; ".join(parts)
  return results


def in_chunks(function: Callable[..., Any], size: int, *arrays) -> np.ndarray:
  """np.concatenate of `function(start, *rows)` over the arrays' rows [start, start + size),
  start = 0, size, 2·size, ...: a network applied to many examples a few at a time, its
  memory bounded by `size` (start lets each chunk fold its own key).

  Args:
    function: `function(start, *rows)` → the chunk's outputs.
    size: rows per call.
    *arrays: arrays of the same length.

  Returns:
    The outputs of every chunk, concatenated, as numpy.
  """
  starts = range(0, len(arrays[0]), size)
  return np.concatenate(
    [np.asarray(function(i, *(a[i : i + size] for a in arrays))) for i in starts]
  )


def plot_path(workdir: str, kind: str, step: int) -> str:
  """WORKDIR/plots/KIND_STEP.png, the path of a picture (kind: samples, translations, ...).

  Args:
    workdir: the run's workdir.
    kind: what the picture shows.
    step: the training step.

  Returns:
    The path.
  """
  return os.path.join(workdir, "plots", f"{kind}_{step:07d}.png")


# ---------------------------------------------------------------------------
# Samples from noise, shared by the evaluators of one evaluation.
# ---------------------------------------------------------------------------

_last_draw: dict[str, Any] = {}  # the objects of the last draw (held, so compared by identity)


def evaluation_samples(generator: Generator, state: StateDict, settings: EvalSettings):
  """The samples of one evaluation, shared by its evaluators: run_all hands each of them the
  same state dict, so the last draw is reused for the same generator, state and settings.

  Args:
    generator: the run's Generator.
    state: the run's state dict.
    settings: settings.num_samples samples from settings.key (conditional generators: the
      classes in turn, equally many of each).

  Returns:
    (samples as numpy, their Latent).
  """
  drawn_for = (generator, state, settings)
  previous = _last_draw.get("for", ())
  if len(previous) != 3 or any(a is not b for a, b in zip(previous, drawn_for, strict=True)):
    n, space = settings.num_samples, generator.space
    labels = None
    if space.num_classes:
      labels = jnp.arange(n, dtype=jnp.int32) % space.num_classes
    _last_draw.clear()
    draw = generator.sample(state, settings.key, n, labels, settings.truncation)
    _last_draw.update({"for": drawn_for, "draw": draw})
  return _last_draw["draw"]


def _needs_generator(model: Model, name: str) -> Generator:
  if model.generator is None:
    raise ConfigError(
      f"the {name} evaluator judges samples drawn from noise, and this run draws none: use "
      "the translation evaluator"
    )
  return model.generator


# ---------------------------------------------------------------------------
# 2-D mixtures.
# ---------------------------------------------------------------------------

PLOT_POINTS = 2500  # real and generated points in each samples_STEP.png


def mode_coverage(model: Model, settings: EvalSettings) -> Evaluator:
  """Mode coverage of a 2-D mixture (modes, % high quality, reverse KL) and the toy plot."""
  generator = _needs_generator(model, "mode_coverage")
  dataset = model.datasets().train
  if not isinstance(dataset, ToyDataset):
    raise ConfigError(f"mode_coverage is for the 2-D mixtures, not {dataset.name}")
  real_key = jax.random.fold_in(settings.key, 1)
  real = np.asarray(jax.jit(dataset.sample, static_argnums=1)(real_key, (PLOT_POINTS,)))
  n = settings.num_samples

  def run(state):
    samples, _ = evaluation_samples(generator, state, settings)
    if dataset.mixture is None:
      return {"num_samples": n}
    mixture = dataset.mixture
    coverage = metrics_lib.mode_coverage(samples, mixture.means, mixture.std)
    summary = f"mode coverage of {n} samples: {coverage.summary()}"
    return {"summary": summary, "num_samples": n, **coverage._asdict()}

  def critic_grid(state, size: int = 120):
    xs = np.linspace(-dataset.extent, dataset.extent, size, dtype=np.float32)
    grid = np.stack(np.meshgrid(xs, xs), axis=-1).reshape(-1, 2)
    return xs, xs, np.asarray(generator.critic(state, grid)).reshape(size, size)

  def draw(workdir, state, step):
    fake, _ = generator.sample(state, settings.key, len(real))
    critic = None if generator.critic is None else critic_grid(state)  # every process computes
    path = plot_path(workdir, "samples", step)
    if parallel.is_primary():
      title = f"{dataset.name}, step {step}"
      plots.save_toy_plot(path, real, fake, extent=dataset.extent, critic=critic, title=title)
    return [path]

  return Evaluator("mode_coverage", run, draw)


# ---------------------------------------------------------------------------
# Images from noise.
# ---------------------------------------------------------------------------


def real_images(dataset: ImageDataset, count: int) -> np.ndarray:
  """Up to `count` real images of the dataset (all of it when smaller), a fixed sample, the
  reference set of FID and KID: the distribution the generator was trained to match."""
  n = len(dataset.source)
  indices = np.sort(np.random.default_rng(0).permutation(n)[: min(count, n)])
  return dataset.examples(indices)[0]


def feature_scores(extractor, real_features: np.ndarray, images: np.ndarray) -> dict[str, float]:
  """FID, KID (50 subsets of ≤ 1000), precision/recall (k = 3) and IS of generated images
  against the real images' features (jaxgan.metrics has the formulas).

  Args:
    extractor: the feature network (jaxgan.features.FeatureExtractor).
    real_features: the real images' features [N, D].
    images: the generated images.

  Returns:
    {"fid", "kid", "precision", "recall", "is", "num_real"}.
  """
  fake_features, fake_logits = extractor(images)
  kid = metrics_lib.kid_from_features(
    real_features, fake_features, num_subsets=50, subset_size=min(1000, len(real_features))
  )
  pr = metrics_lib.precision_recall(real_features, fake_features)
  return {
    "fid": metrics_lib.fid_from_features(real_features, fake_features),
    "kid": kid.mean,
    "precision": pr.precision,
    "recall": pr.recall,
    "is": metrics_lib.inception_score(fake_logits)[0],
    "num_real": len(real_features),
  }


def features(model: Model, settings: EvalSettings) -> Evaluator | None:
  """FID, KID, precision/recall and IS on the feature network of settings.fid_features
  (None when there is none for the data: "auto" on a dataset without a default network)."""
  generator = _needs_generator(model, "features")
  dataset = model.datasets().train
  extractor = features_lib.extractor_for(settings.fid_features, dataset.name, dataset.image_size)
  if extractor is None:
    return None
  real_features = []  # computed at the first evaluation

  def run(state):
    images, _ = evaluation_samples(generator, state, settings)
    if not real_features:
      real_features.append(extractor(real_images(dataset, settings.num_samples))[0])
    scores = feature_scores(extractor, real_features[0], images)
    summary = (
      f"FID {scores['fid']:.2f}, KID {scores['kid']:.4f}, precision {scores['precision']:.3f}, "
      f"recall {scores['recall']:.3f}, IS {scores['is']:.2f} ({extractor.name} features, "
      f"{len(images)} samples vs {scores['num_real']} real)"
    )
    return {"summary": summary, "num_samples": len(images), **scores}

  return Evaluator("features", run)


def digits_judge(model: Model, settings: EvalSettings) -> Evaluator | None:
  """The digits judge's class-level checks (None unless the data are the digits at a size
  the judge reads: a multiple of 8)."""
  generator = _needs_generator(model, "digits_judge")
  dataset = model.datasets().train
  if dataset.name != "digits" or dataset.image_size % 8:
    return None
  judge, space = judges.digits_judge(), generator.space

  def run(state):
    images, latent = evaluation_samples(generator, state, settings)
    predicted = judge.predict(images)
    results: dict[str, Any] = {"num_samples": len(images)}
    if space.num_classes:
      results["class_accuracy"] = metrics_lib.class_accuracy(predicted, np.asarray(latent.labels))
      parts = [f"{100 * results['class_accuracy']:.1f}% classified as the class asked for"]
    else:
      coverage = metrics_lib.class_coverage(predicted, dataset.num_classes)
      results.update(classes=coverage.classes, class_reverse_kl=coverage.reverse_kl)
      parts = [
        f"{coverage.classes}/{coverage.num_classes} classes, reverse KL {coverage.reverse_kl:.3f}"
      ]
    if space.categorical_codes:
      codes = np.asarray(latent.categorical[:, 0])
      accuracy = metrics_lib.matched_code_accuracy(codes, predicted, dataset.num_classes)
      results["code_accuracy"] = accuracy
      parts.append(f"categorical code matches the digit {100 * accuracy:.1f}%")
    return {"summary": "; ".join(parts), **results}

  return Evaluator("digits_judge", run)


GRID_COLUMNS = 8
GRID_CLASSES = 10  # the most classes the sample grid shows (ImageNet: 10 evenly spaced of 1000)


def grid_classes(num_classes: int) -> list[int]:
  """The classes of the sample grid's rows: all of them, or GRID_CLASSES evenly spaced."""
  if num_classes <= GRID_CLASSES:
    return list(range(num_classes))
  return [int(k) for k in np.linspace(0, num_classes - 1, GRID_CLASSES).round()]


def image_grids(model: Model, settings: EvalSettings) -> Evaluator:
  """Pictures only: samples from fixed noise, and InfoGAN's traversals or interpolations."""
  generator = _needs_generator(model, "image_grids")
  dataset_name = model.datasets().train.name
  space = generator.space
  grid_latent = _grid_latent(space, jax.random.fold_in(settings.key, 2))

  def images(state, latent: Latent, rows: int) -> np.ndarray:
    out = np.asarray(generator.generate(state, latent))
    return out.reshape(rows, -1, *out.shape[1:])

  def sample_grid(state):
    classes = grid_classes(space.num_classes)
    grid = images(state, grid_latent, len(classes) or GRID_COLUMNS)
    if space.num_classes:
      labels = [f"class {k}" for k in classes]
      return grid, labels, "one row per class, same noise per column"
    return grid, None, "fixed noise"

  def traversal(state):
    latent, rows, title = _traversal_latent(space, jax.random.fold_in(settings.key, 3))
    return images(state, latent, rows), None, title

  def interpolation(state):
    latent = _interpolation_latent(space, jax.random.fold_in(settings.key, 4))
    return images(state, latent, GRID_COLUMNS), None, "interpolation"

  def draw(workdir, state, step):
    pictures = {"samples": sample_grid(state)}
    if space.categorical_codes or space.continuous_codes:
      pictures["traversal"] = traversal(state)
    elif not space.num_classes:
      pictures["interpolation"] = interpolation(state)
    paths = []
    for kind, (grid, row_labels, title) in pictures.items():
      paths.append(plot_path(workdir, kind, step))
      if parallel.is_primary():
        title = f"{dataset_name}, step {step}: {title}"
        plots.save_image_grid(paths[-1], grid, row_labels=row_labels, title=title)
    return paths

  return Evaluator("image_grids", lambda state: {}, draw)


def _grid_latent(space, key: Array) -> Latent:
  """Fixed inputs for the sample grid: one row per class of grid_classes (the same noise in
  every row: rows differ by class only), or an 8×8 grid."""
  noise_key, rest_key = jax.random.split(key)
  if not space.num_classes:
    return space.sample(rest_key, (GRID_COLUMNS * GRID_COLUMNS,))
  classes = grid_classes(space.num_classes)
  rows = len(classes)
  noise = jnp.tile(jax.random.normal(noise_key, (GRID_COLUMNS, space.latent_dim)), (rows, 1))
  labels = jnp.repeat(jnp.asarray(classes, jnp.int32), GRID_COLUMNS)
  latent = space.sample(rest_key, (rows * GRID_COLUMNS,), labels)
  return latent._replace(z=space.assemble(noise, latent.categorical, latent.continuous))


def _traversal_latent(space, key: Array) -> tuple[Latent, int, str]:
  """InfoGAN: rows = values of the first categorical code (or of the first continuous one),
  columns = the first continuous code from −2 to 2; all else fixed (Chen et al. 2016, Fig. 2)."""
  noise = jax.random.normal(key, (1, space.latent_dim))
  values = jnp.linspace(-2.0, 2.0, GRID_COLUMNS)
  rows = space.categorical_codes[0] if space.categorical_codes else GRID_COLUMNS
  n = rows * GRID_COLUMNS
  categorical = jnp.zeros((n, len(space.categorical_codes)), jnp.int32)
  continuous = jnp.zeros((n, space.continuous_codes), jnp.float32)
  row_index = jnp.repeat(jnp.arange(rows), GRID_COLUMNS)
  column_value = jnp.tile(values, rows)
  if space.categorical_codes:
    categorical = categorical.at[:, 0].set(row_index)
    if space.continuous_codes:
      continuous = continuous.at[:, 0].set(column_value)
    title = "rows: categorical code, columns: continuous code 1 from −2 to 2"
  else:
    continuous = continuous.at[:, 0].set(jnp.repeat(values, GRID_COLUMNS))
    if space.continuous_codes > 1:
      continuous = continuous.at[:, 1].set(column_value)
    title = "rows: continuous code 1, columns: continuous code 2, from −2 to 2"
  z = space.assemble(jnp.tile(noise, (n, 1)), categorical, continuous)
  return Latent(z, None, categorical, continuous), rows, title


def _interpolation_latent(space, key: Array) -> Latent:
  """Rows: straight lines in z between two random points (Radford et al. 2016, §6.1)."""
  ends = space.sample(key, (2, GRID_COLUMNS))
  t = jnp.linspace(0.0, 1.0, GRID_COLUMNS)[None, :, None]
  z = (1 - t) * ends.z[0][:, None] + t * ends.z[1][:, None]  # [rows, columns, dim]
  return Latent(z.reshape(-1, z.shape[-1]), None, ends.categorical, ends.continuous)


# ---------------------------------------------------------------------------
# By name.
# ---------------------------------------------------------------------------

EVALUATORS: dict[str, Callable[[Model, EvalSettings], Evaluator | None]] = {
  "mode_coverage": mode_coverage,
  "features": features,
  "digits_judge": digits_judge,
  "image_grids": image_grids,
  # "translation": registered by jaxgan.kinds.translation_checks, with the image-to-image kinds
}


def register(name: str, factory: Callable[[Model, EvalSettings], Evaluator | None]):
  """Makes an evaluator known by name (to --evaluators, config.json and jaxgan.evaluate), as
  trainer.register does for kinds: a kind with evaluators of its own registers them when
  imported, and jaxgan.evaluate imports the kind of the run it evaluates.

  Args:
    name: the evaluator's name.
    factory: factory(model, settings) -> the Evaluator, or None when it does not apply.

  Returns:
    The factory.
  """
  EVALUATORS[name] = factory
  return factory


def for_training(
  names: Sequence[str],
  model: Model,
  config,
  *,
  fid_features: str = "auto",
  mesh: Mesh | None = None,
) -> list[Evaluator]:
  """The evaluators called `names` for a run being trained: their noise from the run's
  evaluation key (jaxgan.trainer.run_keys(config.seed)), config.num_eval_samples samples.

  Args:
    names: evaluator names (EVALUATORS).
    model: the run's Model.
    config: the loop's settings (a jaxgan.config.LoopConfig).
    fid_features: the feature network of "features".
    mesh: the devices G runs on.

  Returns:
    The evaluators that apply to the model's data.
  """
  return build(names, model, training_settings(config, fid_features, mesh))


def training_settings(config, fid_features: str = "auto", mesh: Mesh | None = None):
  """The EvalSettings of a run being trained: the noise from the run's evaluation key
  (jaxgan.trainer.run_keys(config.seed)), config.num_eval_samples samples.

  Args:
    config: the loop's settings (a jaxgan.config.LoopConfig).
    fid_features: the feature network of "features".
    mesh: the devices G runs on.

  Returns:
    The EvalSettings.
  """
  key = run_keys(config.seed)[2]
  return EvalSettings(key, config.num_eval_samples, fid_features, mesh)


def default_names(model: Model) -> list[str]:
  """The evaluators that fit a model and its data: mode coverage on the 2-D mixtures; the
  feature metrics, the digits judge and the grids for images from noise; the translation
  checks for image-to-image models (registered by jaxgan.kinds.translation_checks, which the
  image-to-image kinds import)."""
  if model.generator is None:
    return ["translation"]
  if isinstance(model.datasets().train, ToyDataset):
    return ["mode_coverage"]
  return ["features", "digits_judge", "image_grids"]


def build(names: Sequence[str], model: Model, settings: EvalSettings) -> list[Evaluator]:
  """The evaluators called `names` for the model.

  Args:
    names: evaluator names (EVALUATORS).
    model: the run's Model.
    settings: the noise, sample count, feature network and devices.

  Returns:
    The evaluators; those that do not apply to the model's data (the digits judge on other
    data, features without a network) are left out. An unknown name is a ConfigError.
  """
  unknown = [name for name in names if name not in EVALUATORS]
  if unknown:
    raise ConfigError(
      f"unknown evaluator {unknown[0]!r}: choose from {', '.join(EVALUATORS)} (--evaluators)"
    )
  built = [EVALUATORS[name](model, settings) for name in names]
  return [evaluator for evaluator in built if evaluator is not None]
