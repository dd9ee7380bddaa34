"""Evaluation of generators. Mode coverage on the 2-D mixtures (VEEGAN, PacGAN).

Given samples from G and the mixture's means and std:
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
  """Modes captured and fraction of high-quality samples; samples [N, d], means [K, d]."""
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
  """
  from scipy.optimize import linear_sum_assignment

  codes, predicted = np.asarray(codes), np.asarray(predicted)
  size = max(num_classes, int(codes.max()) + 1)
  counts = np.zeros((size, size), np.int64)
  np.add.at(counts, (codes, predicted), 1)
  rows, cols = linear_sum_assignment(-counts)
  return float(counts[rows, cols].sum() / len(codes))
