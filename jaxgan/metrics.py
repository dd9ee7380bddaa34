"""Evaluation of generators.

- On the 2-D mixtures: mode coverage (VEEGAN, PacGAN), below.
- On images: class-level checks with a classifier trained on real data, and
  the numbers papers report from a fixed network's features: FID, KID,
  Inception Score, precision and recall (end of this file; the features come
  from jaxgan.features).
- Between two samples of points (an adversarial autoencoder's codes and its
  prior): the kernel two-sample test (MMD² and its permutation p-value).

Mode coverage: given samples from G and the mixture's means and std:
  - a sample is high quality when it lies within `threshold` (3) standard
    deviations of its nearest mode (Euclidean distance < 3σ);
  - a mode is captured when it is the nearest mode of at least one
    high-quality sample;
  - reverse KL: KL(p̂ ‖ uniform) of the fraction of high-quality samples at
    each mode against the true uniform weights (PacGAN's third column).
Srivastava et al. 2017 (VEEGAN, §5.1) and Lin et al. 2018 (PacGAN, §5) use
2,500 samples; so does jaxgan by default.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

NUM_EVAL_SAMPLES = 2500


class ModeCoverage(NamedTuple):
  modes: int  # modes captured
  num_modes: int
  high_quality: float  # fraction of samples within threshold·std of their nearest mode
  reverse_kl: float  # KL(mode histogram of high-quality samples ‖ uniform); inf if none is

  def summary(self) -> str:
    kl = self.reverse_kl
    kl_text = f"{kl:.3f}" if kl is not None and np.isfinite(kl) else "undefined (no sample is)"
    return (
      f"{self.modes}/{self.num_modes} modes, {100 * self.high_quality:.1f}% high quality, "
      f"reverse KL {kl_text}"
    )


def mode_coverage(
  samples: np.ndarray, means: np.ndarray, std: float, *, threshold: float = 3.0
) -> ModeCoverage:
  """Modes captured and fraction of high-quality samples; samples [N, d], means [K, d].

  A sample is high quality when it lies within `threshold` standard deviations of its
  nearest mode (VEEGAN's 3σ); a mode is captured when any high-quality sample is nearest
  to it; the reverse KL is KL(the high-quality samples' histogram over the modes ‖ uniform).

  Args:
    samples: [N, d].
    means: the modes [K, d].
    std: the modes' standard deviation.
    threshold: in standard deviations.

  Returns:
    ModeCoverage(modes, num_modes, high_quality, reverse_kl).
  """
  samples = np.asarray(samples, np.float64)
  means = np.asarray(means, np.float64)
  if samples.ndim != 2 or samples.shape[1] != means.shape[1]:
    raise ValueError(f"samples must be [N, {means.shape[1]}], got shape {samples.shape}")
  distances = np.linalg.norm(samples[:, None, :] - means[None, :, :], axis=-1)  # [N, K]
  nearest = np.argmin(distances, axis=1)
  high_quality = distances[np.arange(len(samples)), nearest] < threshold * std
  counts = np.bincount(nearest[high_quality], minlength=len(means))
  num_hq = int(high_quality.sum())
  if num_hq == 0:
    reverse_kl = float("inf")
  else:
    p = counts / num_hq
    nz = p > 0
    reverse_kl = float(np.sum(p[nz] * np.log(p[nz] * len(means))))
  return ModeCoverage(
    modes=int(np.count_nonzero(counts)),
    num_modes=len(means),
    high_quality=float(high_quality.mean()) if len(samples) else 0.0,
    reverse_kl=reverse_kl,
  )


# ---------------------------------------------------------------------------
# Class-level checks of image samples, with a classifier trained on real data.
# ---------------------------------------------------------------------------


def class_accuracy(predicted: np.ndarray, intended: np.ndarray) -> float:
  """The fraction of samples asked for class k that the classifier calls k."""
  predicted, intended = np.asarray(predicted), np.asarray(intended)
  return float(np.mean(predicted == intended))


class ClassCoverage(NamedTuple):
  classes: int  # classes the classifier finds among the samples
  num_classes: int
  reverse_kl: float  # KL(predicted class histogram ‖ uniform): 0 when balanced, log K if collapsed


def class_coverage(predicted: np.ndarray, num_classes: int) -> ClassCoverage:
  """Mode coverage for images: which classes an unconditional generator produces, how evenly."""
  counts = np.bincount(np.asarray(predicted), minlength=num_classes)
  p = counts / max(counts.sum(), 1)
  nz = p > 0
  return ClassCoverage(
    int(np.count_nonzero(counts)), num_classes, float(np.sum(p[nz] * np.log(p[nz] * num_classes)))
  )


def matched_code_accuracy(codes: np.ndarray, predicted: np.ndarray, num_classes: int) -> float:
  """Accuracy of an unsupervised categorical code as a class label, under the best matching.

  InfoGAN's categorical code learns the classes in some order (Chen et al.
  2016, §7.1 report 5% error on MNIST this way): each code value is assigned
  to one class by the Hungarian algorithm on the code × class counts, and
  the accuracy of that assignment is returned.

  Args:
    codes: the categorical code of each sample [N].
    predicted: the judged class of each sample [N].
    num_classes: the classes (and code values) to match.

  Returns:
    The accuracy in [0, 1].
  """
  from scipy.optimize import linear_sum_assignment

  codes, predicted = np.asarray(codes), np.asarray(predicted)
  size = max(num_classes, int(codes.max()) + 1)
  counts = np.zeros((size, size), np.int64)
  np.add.at(counts, (codes, predicted), 1)
  rows, cols = linear_sum_assignment(-counts)
  return float(counts[rows, cols].sum() / len(codes))


# ---------------------------------------------------------------------------
# The metrics papers report, from features of a fixed network (Inception-v3 pool3, or the
# offline digits classifier of jaxgan.features). All in float64 numpy.
# ---------------------------------------------------------------------------


def _as_features(name: str, features) -> np.ndarray:
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or len(features) < 2:
    raise ValueError(f"{name} must be [N ≥ 2, d] features, got shape {features.shape}")
  if not np.all(np.isfinite(features)):
    raise ValueError(f"{name} holds NaN or infinite values")
  return features


def trace_sqrt_product(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
  """tr √(Σ_a Σ_b) for symmetric positive semi-definite Σ_a, Σ_b, stably.

  Σ_a Σ_b is not symmetric, but it is similar to the symmetric PSD matrix
  M = √Σ_a Σ_b √Σ_a (conjugate by √Σ_a), so tr √(Σ_a Σ_b) = Σ_i √λ_i(M).
  Both square roots come from symmetric eigendecompositions (eigh), whose
  tiny negative eigenvalues from round-off are clipped to 0: no complex
  parts to discard, unlike scipy.linalg.sqrtm on a singular product.
  """
  values_a, vectors_a = np.linalg.eigh(cov_a)
  sqrt_a = (vectors_a * np.sqrt(np.clip(values_a, 0.0, None))) @ vectors_a.T
  middle = sqrt_a @ cov_b @ sqrt_a
  middle = (middle + middle.T) / 2
  return float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0.0, None))))


def fid_from_statistics(mu_a, cov_a, mu_b, cov_b) -> float:
  """Fréchet distance between N(μ_a, Σ_a) and N(μ_b, Σ_b):

      FID = ‖μ_a − μ_b‖² + tr Σ_a + tr Σ_b − 2 tr √(Σ_a Σ_b)

  (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge
  to a Local Nash Equilibrium", eq. 6; Dowson & Landau 1982).

  Args:
    mu_a: the mean of one set's features [D].
    cov_a: their covariance [D, D].
    mu_b: the other set's mean.
    cov_b: its covariance.

  Returns:
    FID as a float (float64 arithmetic).
  """
  mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
  cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
  mean_term = float(np.sum((mu_a - mu_b) ** 2))
  fid = mean_term + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt_product(cov_a, cov_b)
  return float(max(fid, 0.0))


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
  """(mean, covariance with the N − 1 denominator) of [N, d] features, as FID uses them."""
  features = _as_features("features", features)
  return features.mean(axis=0), np.cov(features, rowvar=False)


def fid_from_features(features_a, features_b) -> float:
  """FID between two sets of features [N, d] and [M, d] (see fid_from_statistics).

  Computed in float64. FID is biased upward for small N: compare runs only
  at equal sample counts (50,000 in most papers; jaxgan logs the count).
  """
  mu_a, cov_a = feature_statistics(_as_features("features_a", features_a))
  mu_b, cov_b = feature_statistics(_as_features("features_b", features_b))
  return fid_from_statistics(mu_a, cov_a, mu_b, cov_b)


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """k(x, y) = (xᵀy / d + 1)³, the cubic kernel of KID (Bińkowski et al. 2018)."""
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
  """The unbiased estimate of MMD² with the cubic polynomial kernel:

  MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(x_i, x_j) + 1/(n(n−1)) Σ_{i≠j} k(y_i, y_j)
           − 2/(mn) Σ_{i,j} k(x_i, y_j)
  """
  m, n = len(x), len(y)
  k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
  within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
  within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
  return float(within_x + within_y - 2 * k_xy.mean())


class MMDTest(NamedTuple):
  mmd2: float  # the unbiased MMD² of the two samples
  p_value: float  # the share of permuted splits whose MMD² is at least as large
  bandwidth: float  # σ of the Gaussian kernel: the median distance of the pooled points


def gaussian_kernel_mmd2(kernel: np.ndarray, m: int) -> float:
  """The unbiased MMD² from the kernel matrix of the pooled points, the first m from one
  sample and the rest from the other (the estimator of mmd2_unbiased's docstring).

  Args:
    kernel: k(p_i, p_j) [m + n, m + n] of the pooled points.
    m: the size of the first sample.

  Returns:
    MMD²_u.
  """
  k_xx, k_yy, k_xy = kernel[:m, :m], kernel[m:, m:], kernel[:m, m:]
  n = kernel.shape[0] - m
  within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
  within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
  return float(within_x + within_y - 2 * k_xy.mean())


def mmd_two_sample_test(
  x: np.ndarray, y: np.ndarray, num_permutations: int = 200, seed: int = 0
) -> MMDTest:
  """The kernel two-sample test of Gretton et al. 2012 (JMLR, "A kernel two-sample test"):
  the unbiased MMD² of x and y with the Gaussian kernel k(a, b) = exp(−‖a − b‖²/(2σ²)), σ
  the median pairwise distance of the pooled points (their median heuristic; the kernel
  from sklearn.metrics.pairwise.rbf_kernel), and its permutation p-value: how often the
  statistic of a random re-split of the pooled points is at least the observed one.

  Args:
    x: the first sample [m, d] (e.g. the codes of held-out images).
    y: the second [n, d] (e.g. as many draws of the prior).
    num_permutations: random re-splits for the p-value.
    seed: the seed of the re-splits.

  Returns:
    MMDTest(mmd2, p_value, bandwidth).
  """
  from sklearn.metrics.pairwise import rbf_kernel

  pooled = np.concatenate([np.asarray(x, np.float64), np.asarray(y, np.float64)])
  m = len(x)
  distances = _pairwise_distances(pooled, pooled)
  bandwidth = float(np.median(distances[np.triu_indices(len(pooled), 1)]))
  kernel = rbf_kernel(pooled, gamma=1.0 / (2.0 * max(bandwidth, 1e-12) ** 2))
  observed = gaussian_kernel_mmd2(kernel, m)
  rng = np.random.default_rng(seed)
  exceed = 0
  for _ in range(num_permutations):
    order = rng.permutation(len(pooled))
    exceed += gaussian_kernel_mmd2(kernel[np.ix_(order, order)], m) >= observed
  return MMDTest(observed, (exceed + 1) / (num_permutations + 1), bandwidth)


class KID(NamedTuple):
  mean: float  # the mean of MMD²_u over the subsets: the number papers report
  std: float  # its standard deviation over the subsets


def kid_from_features(
  features_a, features_b, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> KID:
  """Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs", §4):
  the unbiased MMD² with k(x, y) = (xᵀy/d + 1)³, averaged over `num_subsets` random
  subsets of `subset_size` from each set (drawn without replacement within a subset).
  Unbiased: its expectation is 0 when both sets come from one distribution.

  Args:
    features_a: [N, D].
    features_b: [M, D].
    num_subsets: subsets averaged.
    subset_size: examples of each set per subset.
    seed: the seed of the subsets.

  Returns:
    KID(mean, std) over the subsets.
  """
  a = _as_features("features_a", features_a)
  b = _as_features("features_b", features_b)
  if a.shape[1] != b.shape[1]:
    raise ValueError(f"features of different widths: {a.shape[1]} and {b.shape[1]}")
  if num_subsets < 1:
    raise ValueError(f"num_subsets must be at least 1, got {num_subsets}")
  size = min(subset_size, len(a), len(b))
  if size < 2:
    raise ValueError(f"subset_size must be at least 2, got {subset_size}")
  rng = np.random.default_rng(seed)
  values = [
    mmd2_unbiased(
      a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)]
    )
    for _ in range(num_subsets)
  ]
  return KID(float(np.mean(values)), float(np.std(values)))


def inception_score(logits, num_splits: int = 10) -> tuple[float, float]:
  """Inception Score (Salimans et al. 2016, §4): IS = exp(E_x KL(p(y|x) ‖ p(y))),
  with p(y) the mean of p(y|x) over the split; (mean, std) over `num_splits` equal splits
  (10 in the paper). It runs from 1 (every sample gets one distribution) to the number
  of classes (each sample certain, the classes used equally)."""
  logits = np.asarray(logits, np.float64)
  if logits.ndim != 2 or len(logits) < num_splits:
    raise ValueError(f"logits must be [N ≥ num_splits={num_splits}, classes], got {logits.shape}")
  logits = logits - logits.max(axis=1, keepdims=True)
  log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
  scores = []
  for part in np.array_split(log_p, num_splits):
    p = np.exp(part)
    log_marginal = np.log(p.mean(axis=0) + 1e-30)
    scores.append(np.exp(np.mean(np.sum(p * (part - log_marginal), axis=1))))
  return float(np.mean(scores)), float(np.std(scores))


def _pairwise_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  squared = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T
  return np.sqrt(np.clip(squared, 0.0, None))


def _knn_radii(features: np.ndarray, k: int) -> np.ndarray:
  """Distance from each point to its k-th nearest other point of the same set."""
  distances = _pairwise_distances(features, features)
  return np.partition(distances, k, axis=1)[:, k]  # column 0 is the point itself


def _coverage_by_balls(points: np.ndarray, centers: np.ndarray, radii: np.ndarray) -> float:
  """The fraction of points inside at least one ball (center_j, radius_j)."""
  inside = _pairwise_distances(points, centers) <= radii[None, :]
  return float(np.mean(inside.any(axis=1)))


class PrecisionRecall(NamedTuple):
  precision: float  # fraction of generated samples inside the real manifold: quality
  recall: float  # fraction of real samples inside the generated manifold: coverage


def precision_recall(real_features, fake_features, k: int = 3) -> PrecisionRecall:
  """Improved precision and recall (Kynkäänniemi et al. 2019, §2): each set's manifold is
  the union of balls around its points with radius the distance to the k-th nearest
  neighbour (k = 3); precision = fraction of fakes in the real manifold, recall =
  fraction of reals in the fake manifold.

  Args:
    real_features: [N, D].
    fake_features: [M, D].
    k: the neighbour whose distance is each ball's radius.

  Returns:
    PrecisionRecall(precision, recall).
  """
  real = _as_features("real_features", real_features)
  fake = _as_features("fake_features", fake_features)
  if k < 1 or k >= min(len(real), len(fake)):
    raise ValueError(f"k must be in [1, {min(len(real), len(fake)) - 1}], got {k}")
  precision = _coverage_by_balls(fake, real, _knn_radii(real, k))
  recall = _coverage_by_balls(real, fake, _knn_radii(fake, k))
  return PrecisionRecall(precision, recall)
