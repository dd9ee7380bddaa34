"""What the loop evaluates and draws during training, for each kind of data.

- ToyMonitor (2-D mixtures): mode coverage (VEEGAN/PacGAN) and real vs
  generated points over the critic's contours.
- ImageMonitor: a sample grid from fixed noise (one row per class for
  conditional models), InfoGAN code traversals, latent interpolations; FID,
  KID, precision/recall and IS from a feature network (jaxgan.features: the
  digits classifier on digits, Inception-v3 when given its weights); and,
  on digits, class-level checks by an independent classifier: for
  conditional models the accuracy of the asked-for class, for InfoGAN the
  accuracy of its categorical code under the best matching, otherwise the
  classes covered.

A monitor's evaluate(state) returns {"summary": one log line, metrics...};
draw(workdir, state, step) writes PNGs. In a multi-process run every process
runs the computations (they span all devices) and only process 0 writes.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jaxgan import features as features_lib
from jaxgan import judges, parallel, plots, train, translation
from jaxgan import metrics as metrics_lib
from jaxgan.data import ImageDataset, ToyDataset
from jaxgan.data.pairs import jitter

Array = jax.Array


# ---------------------------------------------------------------------------
# Sampling (shared with python -m jaxgan.sample).
# ---------------------------------------------------------------------------


def make_generate(generator, mesh: Mesh | None = None):
  """generate(params, model_state, z, labels) → G(z[, labels]) in eval mode, compiled.

  With a mesh the images come back replicated, readable by every process.
  """

  def generate(params, model_state, z, labels):
    return train.apply_model(generator, params, model_state, z, False, labels)[0]

  out_shardings = None if mesh is None else parallel.replicated(mesh)
  return jax.jit(generate, out_shardings=out_shardings)


def draw_samples(
  generate,
  space: train.LatentSpace,
  params,
  model_state,
  key: Array,
  n: int,
  labels: Array | None = None,
  truncation: float | None = None,
  chunk: int = 500,
) -> tuple[np.ndarray, train.Latent]:
  """n samples as numpy (and the latent they came from), generated `chunk` at a time."""
  latent = space.sample(key, (n,), labels, truncation)
  outputs = []
  for start in range(0, n, chunk):
    z = latent.z[start : start + chunk]
    chunk_labels = None if latent.labels is None else latent.labels[start : start + chunk]
    outputs.append(np.asarray(generate(params, model_state, z, chunk_labels)))
  return np.concatenate(outputs), latent


def _sampling_params(state: train.GANState):
  return train.generator_params(state), state.generator.model_state


# ---------------------------------------------------------------------------
# 2-D mixtures.
# ---------------------------------------------------------------------------

PLOT_POINTS = 2500  # real and generated points in each samples_STEP.png


class ToyMonitor:
  """Mode coverage and contour plots for the 2-D toy mixtures."""

  def __init__(self, spec, dataset: ToyDataset, key: Array, num_samples: int, mesh=None):
    self.spec, self.dataset, self.key, self.num_samples = spec, dataset, key, num_samples
    self.generate = make_generate(spec.generator, mesh)
    real_key = jax.random.fold_in(key, 1)
    self.real = np.asarray(jax.jit(dataset.sample, static_argnums=1)(real_key, (PLOT_POINTS,)))
    self._critic = jax.jit(self._critic_values)

  def _samples(self, state, n):
    return draw_samples(
      self.generate, self.spec.latent_space, *_sampling_params(state), self.key, n
    )[0]

  def evaluate(self, state) -> dict[str, Any]:
    samples = self._samples(state, self.num_samples)
    if self.dataset.mixture is None:
      return {"num_samples": self.num_samples}
    mixture = self.dataset.mixture
    coverage = metrics_lib.mode_coverage(samples, mixture.means, mixture.std)
    summary = f"mode coverage of {self.num_samples} samples: {coverage.summary()}"
    return {"summary": summary, "num_samples": self.num_samples, **coverage._asdict()}

  def _critic_values(self, params, model_state, points):
    out = train.apply_model(self.spec.discriminator, params, model_state, points, False)[0]
    return train.as_outputs(out)["adv"]

  def critic_grid(self, state, size: int = 120):
    """(xs, ys, D on the grid) over [−extent, extent]² for the contour plot."""
    xs = np.linspace(-self.dataset.extent, self.dataset.extent, size, dtype=np.float32)
    grid = np.stack(np.meshgrid(xs, xs), axis=-1).reshape(-1, 2)
    d = state.discriminator
    values = self._critic(d.params, d.model_state, grid)
    return xs, xs, np.asarray(values).reshape(size, size)

  def draw(self, workdir: str, state, step: int) -> None:
    fake = self._samples(state, len(self.real))
    critic = self.critic_grid(state)  # every process computes, process 0 draws
    if parallel.is_primary():
      plots.save_toy_plot(
        os.path.join(workdir, "plots", f"samples_{step:07d}.png"),
        self.real,
        fake,
        extent=self.dataset.extent,
        critic=critic,
        title=f"{self.dataset.name}, step {step}",
      )


# ---------------------------------------------------------------------------
# Images.
# ---------------------------------------------------------------------------

GRID_COLUMNS = 8


class ImageMonitor:
  """Sample grids, traversals, interpolations and (on digits) classifier checks."""

  def __init__(
    self,
    spec,
    dataset: ImageDataset,
    key: Array,
    num_samples: int,
    mesh=None,
    fid_features: str = "auto",
  ):
    self.spec, self.dataset, self.key, self.num_samples = spec, dataset, key, num_samples
    self.space = spec.latent_space
    self.generate = make_generate(spec.generator, mesh)
    self.judge = None
    if dataset.name == "digits" and dataset.image_size % 8 == 0:
      self.judge = judges.digits_judge()
    self.extractor = features_lib.extractor_for(fid_features, dataset.name, dataset.image_size)
    self.real_features = None  # computed at the first evaluation
    self.grid_latent = self._grid_latent(jax.random.fold_in(key, 2))

  # -- evaluation ------------------------------------------------------------

  def evaluate(self, state) -> dict[str, Any]:
    """On the EMA generator when there is one: the feature metrics (FID, KID, IS,
    precision/recall) when an extractor is set, and the digits judge's class checks."""
    if self.judge is None and self.extractor is None:
      return {"num_samples": self.num_samples}
    space, n = self.space, self.num_samples
    labels = None
    if space.num_classes:  # equal numbers of every class
      labels = jnp.arange(n, dtype=jnp.int32) % space.num_classes
    images, latent = draw_samples(
      self.generate, space, *_sampling_params(state), self.key, n, labels
    )
    results: dict[str, Any] = {"num_samples": n}
    parts = []
    if self.extractor is not None:
      scores = self._feature_metrics(images)
      results.update(scores)
      parts.append(feature_summary(scores, self.extractor.name, n))
    if self.judge is not None:
      results.update(self._judge(images, labels, latent, parts))
    results["summary"] = f"evaluated {n} samples: " + "; ".join(parts)
    return results

  def _feature_metrics(self, images: np.ndarray) -> dict[str, float]:
    if self.real_features is None:
      self.real_features = self.extractor(real_images(self.dataset, self.num_samples))[0]
    return feature_scores(self.extractor, self.real_features, images)

  def _judge(self, images, labels, latent, parts: list[str]) -> dict[str, Any]:
    """The digits judge's class-level checks (appends its summary to parts)."""
    space = self.space
    predicted = self.judge.predict(images)
    results: dict[str, Any] = {}
    if space.num_classes:
      results["class_accuracy"] = metrics_lib.class_accuracy(predicted, np.asarray(labels))
      parts.append(f"{100 * results['class_accuracy']:.1f}% classified as the class asked for")
    else:
      coverage = metrics_lib.class_coverage(predicted, self.dataset.num_classes)
      results.update(classes=coverage.classes, class_reverse_kl=coverage.reverse_kl)
      parts.append(
        f"{coverage.classes}/{coverage.num_classes} classes, reverse KL {coverage.reverse_kl:.3f}"
      )
    if space.categorical_codes:
      codes = np.asarray(latent.categorical[:, 0])
      accuracy = metrics_lib.matched_code_accuracy(codes, predicted, self.dataset.num_classes)
      results["code_accuracy"] = accuracy
      parts.append(f"categorical code matches the digit {100 * accuracy:.1f}%")
    return results

  # -- pictures --------------------------------------------------------------

  def _grid_latent(self, key: Array) -> train.Latent:
    """Fixed inputs for the sample grid: one row per class, or an 8×8 grid."""
    space = self.space
    rows = space.num_classes if space.num_classes else GRID_COLUMNS
    noise_key, rest_key = jax.random.split(key)
    labels = None
    if space.num_classes:  # the same noise in every row: rows differ by class only
      noise = jnp.tile(jax.random.normal(noise_key, (GRID_COLUMNS, space.latent_dim)), (rows, 1))
      labels = jnp.repeat(jnp.arange(rows, dtype=jnp.int32), GRID_COLUMNS)
      latent = space.sample(rest_key, (rows * GRID_COLUMNS,), labels)
      return latent._replace(z=space.assemble(noise, latent.categorical, latent.continuous))
    return space.sample(rest_key, (rows * GRID_COLUMNS,))

  def _images(self, state, latent: train.Latent) -> np.ndarray:
    params, model_state = _sampling_params(state)
    return np.asarray(self.generate(params, model_state, latent.z, latent.labels))

  def draw(self, workdir: str, state, step: int) -> None:
    pictures = {"samples": self._sample_grid(state)}
    if self.space.categorical_codes or self.space.continuous_codes:
      pictures["traversal"] = self._traversal(state)
    elif not self.space.num_classes:
      pictures["interpolation"] = self._interpolation(state)
    if not parallel.is_primary():
      return
    for kind, (grid, row_labels, title) in pictures.items():
      plots.save_image_grid(
        os.path.join(workdir, "plots", f"{kind}_{step:07d}.png"),
        grid,
        row_labels=row_labels,
        title=f"{self.dataset.name}, step {step}: {title}",
      )

  def _sample_grid(self, state):
    images = self._images(state, self.grid_latent)
    grid = images.reshape(-1, GRID_COLUMNS, *images.shape[1:])
    if self.space.num_classes:
      return (
        grid,
        [f"class {k}" for k in range(len(grid))],
        "one row per class, same noise per column",
      )
    return grid, None, "fixed noise"

  def _traversal(self, state):
    """InfoGAN: rows = values of the first categorical code (or of the first continuous one),
    columns = the first continuous code from −2 to 2; all else fixed (Chen et al. 2016, Fig. 2)."""
    space = self.space
    noise = jax.random.normal(jax.random.fold_in(self.key, 3), (1, space.latent_dim))
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
    latent = train.Latent(z, None, categorical, continuous)
    images = self._images(state, latent)
    return images.reshape(rows, GRID_COLUMNS, *images.shape[1:]), None, title

  def _interpolation(self, state):
    """Rows: straight lines in z between two random points (Radford et al. 2016, §6.1)."""
    space = self.space
    ends = space.sample(jax.random.fold_in(self.key, 4), (2, GRID_COLUMNS))
    t = jnp.linspace(0.0, 1.0, GRID_COLUMNS)[None, :, None]
    z = (1 - t) * ends.z[0][:, None] + t * ends.z[1][:, None]  # [rows, columns, dim]
    latent = train.Latent(z.reshape(-1, z.shape[-1]), None, ends.categorical, ends.continuous)
    images = self._images(state, latent)
    return images.reshape(GRID_COLUMNS, GRID_COLUMNS, *images.shape[1:]), None, "interpolation"


def feature_scores(extractor, real_features: np.ndarray, images: np.ndarray) -> dict[str, float]:
  """FID, KID (50 subsets of ≤ 1000), precision/recall (k = 3) and IS of generated images
  against the real images' features (jaxgan.metrics has the formulas)."""
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


def feature_summary(scores: dict[str, float], features_name: str, num_samples: int) -> str:
  """The log line's part for feature_scores."""
  return (
    f"FID {scores['fid']:.2f}, KID {scores['kid']:.4f}, precision {scores['precision']:.3f}, "
    f"recall {scores['recall']:.3f}, IS {scores['is']:.2f} ({features_name} features, "
    f"{num_samples} samples vs {scores['num_real']} real)"
  )


def real_images(dataset: ImageDataset, count: int) -> np.ndarray:
  """Up to `count` real images of the dataset (all of it when smaller), a fixed sample, the
  reference set of FID and KID: the distribution the generator was trained to match."""
  n = len(dataset.source)
  indices = np.sort(np.random.default_rng(0).permutation(n)[: min(count, n)])
  return dataset.examples(indices)[0]


def make_monitor(
  spec, dataset, key: Array, num_samples: int, mesh=None, fid_features: str = "auto"
):
  """The monitor for the kind of dataset."""
  if isinstance(dataset, ToyDataset):
    return ToyMonitor(spec, dataset, key, num_samples, mesh)
  return ImageMonitor(spec, dataset, key, num_samples, mesh, fid_features)


# ---------------------------------------------------------------------------
# Image-to-image translation (pix2pix, CycleGAN).
# ---------------------------------------------------------------------------

TRANSLATION_COLUMNS = 8  # test examples in each translations_STEP.png


class TranslationMonitor:
  """Held-out translation metrics and input | output | target grids.

  pix2pix: the L1 error of G(a) against b on the test pairs, beside the
  input-as-output baseline ‖a − b‖₁; sampled as in the paper, with dropout on
  and BatchNorm on the test batch's statistics. CycleGAN: the cycle errors
  ‖F(G(a)) − a‖₁ and ‖G(F(b)) − b‖₁, and how many translations an independent
  domain classifier (logistic regression on real A vs real B training images)
  puts in the target domain; where the test split is aligned (the digits
  demos), also ‖G(a) − b‖₁. When domain B is the digits, the digits judge
  reads the class of every G(a) and compares it with the source's label.
  """

  def __init__(
    self, spec, test, train_data, crop_size: int, key: Array, num_samples: int, mesh=None
  ):
    self.spec, self.test, self.key = spec, test, key
    self.is_pix2pix = isinstance(spec, translation.Pix2PixSpec)
    n = min(num_samples, len(test.domain_a.source), len(test.domain_b.source))

    def crop(images):
      return np.stack([jitter(image, crop_size, None, False) for image in images])

    self.a, self.labels = test.domain_a.examples(np.arange(n))
    self.b = test.domain_b.examples(np.arange(n))[0]
    self.a, self.b = crop(self.a), crop(self.b)
    out_shardings = None if mesh is None else parallel.replicated(mesh)
    sample_in_train_mode = self.is_pix2pix  # the paper's test-time dropout and batch statistics

    def translator(module):
      def apply(params, model_state, images, key):
        return translation.apply_translator(
          module, params, model_state, images, key, sample_in_train_mode
        )[0]

      return jax.jit(apply, out_shardings=out_shardings)

    if self.is_pix2pix:
      self.translate = {"a_to_b": translator(spec.generator)}
    else:
      self.translate = {n: translator(spec.generator(n)) for n in translation.GENERATORS}
    self.judge = None
    if test.names[1] == "digits" and crop_size % 8 == 0:
      self.judge = judges.digits_judge()
    self.domains = None
    if not self.is_pix2pix:
      sample = np.arange(
        min(1000, len(train_data.domain_a.source), len(train_data.domain_b.source))
      )
      self.domains = judges.domain_judge(
        crop(train_data.domain_a.examples(sample)[0]), crop(train_data.domain_b.examples(sample)[0])
      )

  def _run(self, state, direction: str, images: np.ndarray, chunk: int = 256) -> np.ndarray:
    params, model_state = translation.translator_params(state)[direction]
    out = []
    for start in range(0, len(images), chunk):
      key = jax.random.fold_in(self.key, start)
      out.append(
        np.asarray(
          self.translate[direction](params, model_state, images[start : start + chunk], key)
        )
      )
    return np.concatenate(out)

  def evaluate(self, state) -> dict[str, Any]:
    n = len(self.a)
    fake_b = self._run(state, "a_to_b", self.a)
    results: dict[str, Any] = {"num_samples": n}
    parts = []
    aligned = self.test.paired and self.a.shape == self.b.shape
    if aligned:
      results["l1"] = float(np.mean(np.abs(fake_b - self.b)))
      results["input_l1"] = float(np.mean(np.abs(self.a - self.b)))
      parts.append(f"held-out L1 {results['l1']:.4f} (input as output: {results['input_l1']:.4f})")
    if not self.is_pix2pix:
      cycled_a = self._run(state, "b_to_a", fake_b)
      fake_a = self._run(state, "b_to_a", self.b)
      cycled_b = self._run(state, "a_to_b", fake_a)
      results["cycle_l1_a"] = float(np.mean(np.abs(cycled_a - self.a)))
      results["cycle_l1_b"] = float(np.mean(np.abs(cycled_b - self.b)))
      results["a_to_b_in_b"] = float(np.mean(self.domains.predict(fake_b) == 1))
      results["b_to_a_in_a"] = float(np.mean(self.domains.predict(fake_a) == 0))
      parts.append(
        f"cycle L1 {results['cycle_l1_a']:.4f} (A) {results['cycle_l1_b']:.4f} (B); the domain "
        f"classifier puts {100 * results['a_to_b_in_b']:.1f}% of A→B in B and "
        f"{100 * results['b_to_a_in_a']:.1f}% of B→A in A"
      )
    if self.judge is not None:
      results["class_accuracy"] = metrics_lib.class_accuracy(
        self.judge.predict(fake_b), self.labels
      )
      parts.append(f"{100 * results['class_accuracy']:.1f}% of outputs read as the input's digit")
    results["summary"] = f"evaluated {n} test images: " + "; ".join(parts)
    return results

  def draw(self, workdir: str, state, step: int) -> None:
    names = self.test.names
    columns = slice(0, TRANSLATION_COLUMNS)
    a, b = self.a[columns], self.b[columns]
    fake_b = self._run(state, "a_to_b", a)
    if self.is_pix2pix:
      rows = [a, fake_b, b]
      labels = [f"input ({names[0]})", "output", f"target ({names[1]})"]
      title = "input | output | target"
    else:
      fake_a = self._run(state, "b_to_a", b)
      rows = [
        a,
        fake_b,
        self._run(state, "b_to_a", fake_b),
        b,
        fake_a,
        self._run(state, "a_to_b", fake_a),
      ]
      labels = [
        names[0],
        f"→ {names[1]}",
        f"→ {names[0]}",
        names[1],
        f"→ {names[0]}",
        f"→ {names[1]}",
      ]
      title = "A → B → A and B → A → B"
    if not parallel.is_primary():
      return
    plots.save_image_grid(
      os.path.join(workdir, "plots", f"translations_{step:07d}.png"),
      plots.stack_rows(rows),
      row_labels=labels,
      title=f"{self.test.name}, step {step}: {title}",
    )
