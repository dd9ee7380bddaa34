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


# ---------------------------------------------------------------------------
# FID, KID, IS, precision/recall against float64 scipy/numpy references and hand cases.
# ---------------------------------------------------------------------------


def scipy_fid(a, b):
  """The textbook computation (pytorch-fid's): scipy.linalg.sqrtm of the product."""
  from scipy import linalg

  mu_a, mu_b = a.mean(0), b.mean(0)
  cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  root = linalg.sqrtm(cov_a @ cov_b).real
  return np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fid_matches_scipy(seed):
  rng = np.random.default_rng(seed)
  a = rng.normal(size=(400, 12)) @ rng.normal(size=(12, 12))
  b = rng.normal(size=(300, 12)) @ rng.normal(size=(12, 12)) + rng.normal(size=12)
  assert metrics.fid_from_features(a, b) == pytest.approx(scipy_fid(a, b), rel=1e-7)


def test_fid_hand_worked_diagonal_case():
  # N((0,0), diag(1, 4)) vs N((3,4), diag(4, 9)): 25 + (1 + 4 − 2·2) + (4 + 9 − 2·6) = 27.
  fid = metrics.fid_from_statistics([0, 0], np.diag([1.0, 4.0]), [3, 4], np.diag([4.0, 9.0]))
  assert fid == pytest.approx(27.0, abs=1e-10)


def test_fid_of_a_set_with_itself_is_zero_even_when_singular():
  rng = np.random.default_rng(0)
  a = rng.normal(size=(50, 3)) @ rng.normal(size=(3, 20))  # rank 3 covariance in 20-D
  assert metrics.fid_from_features(a, a) == pytest.approx(0.0, abs=1e-8)


def numpy_mmd2_loops(x, y):
  d = x.shape[1]

  def k(u, v):
    return (u @ v / d + 1) ** 3

  m, n = len(x), len(y)
  xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
  xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
  return xx + yy - 2 * xy


def test_kid_matches_the_formula_by_loops():
  rng = np.random.default_rng(3)
  x, y = rng.normal(size=(15, 4)), rng.normal(0.5, 1.0, size=(12, 4))
  assert metrics.mmd2_unbiased(x, y) == pytest.approx(numpy_mmd2_loops(x, y), rel=1e-10)
  # One subset as large as the smaller set draws a permutation of it: same value.
  kid = metrics.kid_from_features(x[:12], y, num_subsets=1, subset_size=12)
  assert kid.mean == pytest.approx(numpy_mmd2_loops(x[:12], y), rel=1e-10)


def test_kid_is_unbiased_and_detects_a_shift():
  rng = np.random.default_rng(4)
  same = [
    metrics.kid_from_features(rng.normal(size=(200, 8)), rng.normal(size=(200, 8)), 10, 100).mean
    for _ in range(20)
  ]
  assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(len(same)) + 1e-3
  shifted = metrics.kid_from_features(rng.normal(size=(200, 8)), rng.normal(1, 1, (200, 8)))
  assert shifted.mean > 0.5


def test_inception_score_hand_cases():
  certain_balanced = np.eye(10)[np.arange(1000) % 10] * 100.0
  assert metrics.inception_score(certain_balanced)[0] == pytest.approx(10.0, rel=1e-6)
  collapsed = np.tile(np.eye(10)[3] * 100.0, (1000, 1))
  assert metrics.inception_score(collapsed)[0] == pytest.approx(1.0, rel=1e-6)
  uniform = np.zeros((1000, 10))
  assert metrics.inception_score(uniform)[0] == pytest.approx(1.0, rel=1e-12)


def test_inception_score_matches_numpy():
  rng = np.random.default_rng(5)
  logits = rng.normal(size=(100, 7)) * 3
  p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  expected = []
  for part in np.split(p, 10):
    py = part.mean(0)
    expected.append(np.exp(np.mean([np.sum(q * np.log(q / py)) for q in part])))
  mean, std = metrics.inception_score(logits)
  assert (mean, std) == pytest.approx((np.mean(expected), np.std(expected)), rel=1e-10)


def test_precision_recall_hand_worked():
  # Real points on a line 0..9 (3rd-neighbour radius ≤ 3); fakes: 2 inside, 2 far away.
  real = np.stack([np.arange(10.0), np.zeros(10)], axis=1)
  fake = np.array([[2.5, 0.0], [7.0, 1.0], [50.0, 0.0], [51.0, 0.0]])
  pr = metrics.precision_recall(real, fake, k=3)
  assert pr.precision == pytest.approx(0.5)
  # Recall from the definition, by brute force: a real point counts when it lies within
  # some fake's distance to that fake's 3rd nearest other fake.
  radii = [sorted(np.linalg.norm(fake - f, axis=1))[3] for f in fake]
  inside = [
    any(np.linalg.norm(r - f) <= rad for f, rad in zip(fake, radii, strict=True)) for r in real
  ]
  assert pr.recall == pytest.approx(np.mean(inside))
  assert metrics.precision_recall(real, real + 0.01, k=3) == pytest.approx((1.0, 1.0))


def test_metric_input_errors():
  with pytest.raises(ValueError, match="NaN"):
    metrics.fid_from_features(np.full((5, 2), np.nan), np.zeros((5, 2)))
  with pytest.raises(ValueError, match="different widths"):
    metrics.kid_from_features(np.zeros((5, 2)), np.zeros((5, 3)))
