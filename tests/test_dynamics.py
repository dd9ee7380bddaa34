"""The dynamics lab: Jacobians and eigenvalues against the analytic ones, what each update does
to the bilinear game, and the Gaussian fits' measured covariance errors (test_experiments
runs the dynamics flagfiles)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import dynamics, plots

BILINEAR = dynamics.zero_sum(lambda x, y: jnp.sum(x * y))
TARGET_2D = dynamics.GAUSSIAN_TARGETS[2]


def test_bilinear_field_and_jacobian():
  w = jnp.array([0.3, -0.7])
  # v = (−∂(xy)/∂x, ∂(xy)/∂y) = (−y, x)
  np.testing.assert_allclose(dynamics.vector_field(BILINEAR, w), [0.7, 0.3])
  np.testing.assert_allclose(dynamics.jacobian(BILINEAR, w), [[0, -1], [1, 0]])
  np.testing.assert_allclose(dynamics.eigenvalues(dynamics.jacobian(BILINEAR, w)), [-1j, 1j])


@pytest.mark.parametrize("h", [0.05, 0.2])
def test_bilinear_updates(h):
  """Simultaneous GD: |1 ± ih| = √(1 + h²) > 1, spirals out; alternating: radius 1, cycles;
  extragradient: √(1 − h² + h⁴) < 1, converges; so does optimism."""
  zero, start = jnp.zeros(2), jnp.array([1.0, 1.0])
  expected = {
    "simultaneous": np.sqrt(1 + h**2),
    "alternating": 1.0,
    "extragradient": np.sqrt(1 - h**2 + h**4),
  }
  distances = {}
  for name, make in [
    ("simultaneous", dynamics.simultaneous_step),
    ("alternating", dynamics.alternating_step),
    ("extragradient", dynamics.extragradient_step),
  ]:
    step = make(BILINEAR, h)
    assert dynamics.spectral_radius(step, zero) == pytest.approx(expected[name], rel=1e-5)
    path = dynamics.trajectory(step, start, 200)
    distances[name] = np.linalg.norm(path, axis=1)
  growth = (1 + h**2) ** (200 / 2)  # |1 + ih|^200
  assert distances["simultaneous"][-1] == pytest.approx(growth * np.sqrt(2), rel=0.01)
  assert np.all(np.diff(distances["simultaneous"]) > 0)  # grows at every step
  shrink = (1 - h**2 + h**4) ** (200 / 2)
  assert distances["extragradient"][-1] == pytest.approx(shrink * np.sqrt(2), rel=0.01)
  assert shrink < 0.8
  alternating = distances["alternating"]
  assert 0.5 < alternating.min() and alternating.max() < 2.0  # bounded: it cycles
  optimistic = dynamics.optimistic_step(BILINEAR, h)
  assert dynamics.spectral_radius(optimistic, jnp.zeros(4)) < 1
  path = dynamics.trajectory(optimistic, jnp.array([1.0, 1.0, 1.0, 1.0]), 200)
  assert np.linalg.norm(path[-1, :2]) < 0.8 * np.linalg.norm(path[0, :2])


@pytest.mark.parametrize("generator_loss", ["minimax", "non_saturating"])
@pytest.mark.parametrize("gamma", [0.0, 0.3, 1.0, 2.0])
def test_dirac_gan_eigenvalues_match_the_analytic_ones(gamma, generator_loss):
  """Mescheder et al. 2018: J = [[0, f′(0)], [−f′(0), −γ]], f′(0) = 1/2."""
  game = dynamics.dirac_gan(gamma, generator_loss)
  computed = dynamics.eigenvalues(dynamics.jacobian(game, jnp.zeros(2)))
  np.testing.assert_allclose(computed, dynamics.dirac_gan_eigenvalues(gamma), atol=1e-6)
  if gamma == 0:
    np.testing.assert_allclose(computed.real, 0, atol=1e-7)  # rotation: no convergence
  else:
    assert np.all(computed.real < 0)


def test_dirac_gan_converges_only_with_r1():
  start = jnp.array([1.0, 1.0])
  plain = dynamics.trajectory(dynamics.simultaneous_step(dynamics.dirac_gan(0.0), 0.1), start, 500)
  r1 = dynamics.trajectory(dynamics.simultaneous_step(dynamics.dirac_gan(1.0), 0.1), start, 500)
  assert np.linalg.norm(plain[-1]) > np.linalg.norm(plain[0])
  assert np.linalg.norm(r1[-1]) < 0.05


def test_quadratic_discriminator_fits_the_covariance_and_linear_does_not(tmp_path):
  """A linear D only sees the mean: G's covariance is not fitted (measured: error ≈ 0.99);
  a quadratic D sees second moments (measured: ≈ 0.06 late in training)."""
  linear = dynamics.gaussian_fit(2, "linear", steps=3000)
  quadratic = dynamics.gaussian_fit(2, "quadratic", steps=3000)
  assert linear.mean_error < 0.3 and quadratic.mean_error < 0.3
  assert linear.late_covariance_error > 0.8
  assert quadratic.late_covariance_error < 0.2
  np.testing.assert_allclose(
    quadratic.history[-1, 2],
    np.linalg.norm(quadratic.scale @ quadratic.scale.T - dynamics.GAUSSIAN_TARGETS[2][1])
    / np.linalg.norm(dynamics.GAUSSIAN_TARGETS[2][1]),
    rtol=1e-4,
  )
  path = str(tmp_path / "fit_2d.png")
  plots.save_gaussian_fit_2d(path, {"linear": linear, "quadratic": quadratic}, *TARGET_2D)
  with open(path, "rb") as f:
    assert f.read(4) == b"\x89PNG"


def test_dirac_pictures(tmp_path):
  game = dynamics.dirac_gan(0.3)
  step = dynamics.simultaneous_step(game, 0.1)
  paths = {"simultaneous": dynamics.trajectory(step, jnp.array([1.0, 1.0]), 50)}
  field = jax.vmap(lambda w: dynamics.vector_field(game, w))
  plots.save_trajectories(str(tmp_path / "t.png"), paths, field=field)
  eigenvalues = {"J": dynamics.eigenvalues(dynamics.jacobian(game, jnp.zeros(2)))}
  plots.save_eigenvalues(str(tmp_path / "e.png"), eigenvalues, unit_circle=False)
  fit = dynamics.gaussian_fit(1, "quadratic", steps=200)
  plots.save_gaussian_fit_1d(str(tmp_path / "f.png"), {"quadratic": fit}, 2.0, 0.5)
  for name in ("t.png", "e.png", "f.png"):
    assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
