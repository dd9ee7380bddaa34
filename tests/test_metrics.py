"""Mode coverage: hand-worked cases and a numpy recount."""

import numpy as np
import pytest

from jaxgan import data, metrics

GRID = data.get_toy("grid25").mixture


def test_samples_on_every_mode():
  samples = np.repeat(GRID.means, 100, axis=0)
  cov = metrics.mode_coverage(samples, GRID.means, GRID.std)
  assert (cov.modes, cov.num_modes, cov.high_quality) == (25, 25, 1.0)
  assert cov.reverse_kl == pytest.approx(0.0, abs=1e-12)


def test_collapse_onto_one_mode():
  samples = np.tile(GRID.means[3], (2500, 1)) + 0.01
  cov = metrics.mode_coverage(samples, GRID.means, GRID.std)
  assert (cov.modes, cov.high_quality) == (1, 1.0)
  assert cov.reverse_kl == pytest.approx(np.log(25))


def test_threshold_is_three_standard_deviations():
  # Distances 0.149 (inside 3σ = 0.15) and 0.151 (outside) from the mode at the origin.
  samples = np.array([[0.149, 0.0], [0.0, -0.151], [1.0, 1.0]])
  cov = metrics.mode_coverage(samples, GRID.means, GRID.std)
  assert cov.modes == 1
  assert cov.high_quality == pytest.approx(1 / 3)


def test_low_quality_samples_capture_no_mode():
  samples = np.full((10, 2), 1.0)  # halfway between four modes
  cov = metrics.mode_coverage(samples, GRID.means, GRID.std)
  assert (cov.modes, cov.high_quality) == (0, 0.0)
  assert np.isinf(cov.reverse_kl)
  assert "undefined" in cov.summary()


def test_against_a_recount(rng):
  ring = data.get_toy("ring8").mixture
  samples = ring.means[rng.integers(0, 5, 2500)] + rng.normal(0, 0.02, (2500, 2))
  cov = metrics.mode_coverage(samples, ring.means, ring.std)
  d = np.linalg.norm(samples[:, None] - ring.means[None], axis=-1)
  hq = d.min(1) < 0.03
  counts = np.bincount(d.argmin(1)[hq], minlength=8)
  assert cov.modes == np.count_nonzero(counts) == 5
  assert cov.high_quality == pytest.approx(hq.mean())
  p = counts[counts > 0] / hq.sum()
  assert cov.reverse_kl == pytest.approx(np.sum(p * np.log(p * 8)))


def test_wrong_shape():
  with pytest.raises(ValueError, match=r"samples must be \[N, 2\]"):
    metrics.mode_coverage(np.zeros((5, 3)), GRID.means, GRID.std)
