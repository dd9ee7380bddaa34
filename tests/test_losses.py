"""Every loss against an independent numpy (float64) computation of its formula."""

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import np_sigmoid

from jaxgan import losses

SHAPES = [(16,), (8, 4, 4, 1)]  # per-example logits, and a PatchGAN-style map
TOL = dict(rtol=2e-5, atol=2e-6)


def draws(rng, shape, n=3, scale=3.0):
  return [rng.normal(0, scale, shape) for _ in range(n)]


def j(x):
  return jnp.asarray(x, jnp.float32)


# ----- the original GAN -----


@pytest.mark.parametrize("shape", SHAPES)
def test_minimax_discriminator_loss_matches_formula(rng, shape):
  for real, fake in zip(draws(rng, shape), draws(rng, shape), strict=True):
    expected = -np.mean(np.log(np_sigmoid(real))) - np.mean(np.log(1 - np_sigmoid(fake)))
    np.testing.assert_allclose(losses.minimax_discriminator_loss(j(real), j(fake)), expected, **TOL)


def test_minimax_discriminator_loss_one_sided_smoothing(rng):
  real, fake = rng.normal(0, 2, 32), rng.normal(0, 2, 32)
  t = 0.9
  d_real, d_fake = np_sigmoid(real), np_sigmoid(fake)
  expected = -np.mean(t * np.log(d_real) + (1 - t) * np.log(1 - d_real)) - np.mean(
    np.log(1 - d_fake)
  )
  got = losses.minimax_discriminator_loss(j(real), j(fake), label_smoothing=0.1)
  np.testing.assert_allclose(got, expected, **TOL)


def test_minimax_losses_hand_worked():
  zeros = jnp.zeros(4)
  # D = 1/2 everywhere: −log ½ − log ½ = 2 ln 2.
  np.testing.assert_allclose(losses.minimax_discriminator_loss(zeros, zeros), 2 * np.log(2), 1e-6)
  np.testing.assert_allclose(losses.minimax_generator_loss(zeros), np.log(0.5), 1e-6)
  np.testing.assert_allclose(losses.non_saturating_generator_loss(zeros), np.log(2), 1e-6)
  # Smoothing keeps the fake target at 0: with t = 0.9 at D(x) = ½ the real term is still ln 2.
  np.testing.assert_allclose(
    losses.minimax_discriminator_loss(zeros, zeros, label_smoothing=0.1), 2 * np.log(2), 1e-6
  )


def test_minimax_losses_finite_for_huge_logits():
  big = jnp.array([100.0, -100.0, 80.0])
  for value in (
    losses.minimax_discriminator_loss(big, -big),
    losses.minimax_generator_loss(big),
    losses.non_saturating_generator_loss(-big),
  ):
    assert np.isfinite(value)
  # D(G(z)) ≈ 0 for logit −100: −log D = 100.
  np.testing.assert_allclose(losses.non_saturating_generator_loss(jnp.array([-100.0])), 100.0)


def test_label_smoothing_out_of_range():
  with pytest.raises(ValueError, match="label_smoothing"):
    losses.minimax_discriminator_loss(jnp.zeros(2), jnp.zeros(2), label_smoothing=1.0)


@pytest.mark.parametrize("shape", SHAPES)
def test_generator_losses_match_formulas(rng, shape):
  for fake in draws(rng, shape):
    np.testing.assert_allclose(
      losses.minimax_generator_loss(j(fake)), np.mean(np.log(1 - np_sigmoid(fake))), **TOL
    )
    np.testing.assert_allclose(
      losses.non_saturating_generator_loss(j(fake)), -np.mean(np.log(np_sigmoid(fake))), **TOL
    )


# ----- Wasserstein, hinge, least squares -----


@pytest.mark.parametrize("shape", SHAPES)
def test_wasserstein_losses(rng, shape):
  for real, fake in zip(draws(rng, shape), draws(rng, shape), strict=True):
    np.testing.assert_allclose(
      losses.wasserstein_discriminator_loss(j(real), j(fake)),
      np.mean(fake) - np.mean(real),
      **TOL,
    )
    np.testing.assert_allclose(losses.wasserstein_generator_loss(j(fake)), -np.mean(fake), **TOL)
  # Hand-worked: D(x) = 1, 2, 3 and D(G(z)) = 0 → 0 − 2.
  np.testing.assert_allclose(
    losses.wasserstein_discriminator_loss(jnp.array([1.0, 2.0, 3.0]), jnp.zeros(3)), -2.0
  )


@pytest.mark.parametrize("shape", SHAPES)
def test_hinge_losses(rng, shape):
  for real, fake in zip(draws(rng, shape), draws(rng, shape), strict=True):
    expected = np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake))
    np.testing.assert_allclose(losses.hinge_discriminator_loss(j(real), j(fake)), expected, **TOL)
    np.testing.assert_allclose(losses.hinge_generator_loss(j(fake)), -np.mean(fake), **TOL)
  # Hand-worked: beyond the margins the loss is 0; at 0 both hinges are active.
  assert float(losses.hinge_discriminator_loss(jnp.array([2.0]), jnp.array([-2.0]))) == 0.0
  assert float(losses.hinge_discriminator_loss(jnp.zeros(1), jnp.zeros(1))) == 2.0


@pytest.mark.parametrize("shape", SHAPES)
def test_least_squares_losses(rng, shape):
  for real, fake in zip(draws(rng, shape), draws(rng, shape), strict=True):
    expected = 0.5 * np.mean((real - 1) ** 2) + 0.5 * np.mean(fake**2)
    np.testing.assert_allclose(
      losses.least_squares_discriminator_loss(j(real), j(fake)), expected, **TOL
    )
    np.testing.assert_allclose(
      losses.least_squares_generator_loss(j(fake)), 0.5 * np.mean((fake - 1) ** 2), **TOL
    )
    # The a, b, c coding of Mao et al. (here −1, 1, 0).
    expected = 0.5 * np.mean((real - 1) ** 2) + 0.5 * np.mean((fake + 1) ** 2)
    got = losses.least_squares_discriminator_loss(j(real), j(fake), fake_target=-1.0)
    np.testing.assert_allclose(got, expected, **TOL)
  assert float(losses.least_squares_discriminator_loss(jnp.ones(3), jnp.zeros(3))) == 0.0


# ----- relativistic -----


def test_relativistic_losses(rng):
  for real, fake in zip(draws(rng, (32,)), draws(rng, (32,)), strict=True):
    d_rs = -np.mean(np.log(np_sigmoid(real - fake)))
    g_rs = -np.mean(np.log(np_sigmoid(fake - real)))
    np.testing.assert_allclose(
      losses.relativistic_discriminator_loss(j(real), j(fake)), d_rs, **TOL
    )
    np.testing.assert_allclose(losses.relativistic_generator_loss(j(real), j(fake)), g_rs, **TOL)
    d_ra = -np.mean(np.log(np_sigmoid(real - fake.mean()))) - np.mean(
      np.log(1 - np_sigmoid(fake - real.mean()))
    )
    g_ra = -np.mean(np.log(np_sigmoid(fake - real.mean()))) - np.mean(
      np.log(1 - np_sigmoid(real - fake.mean()))
    )
    np.testing.assert_allclose(
      losses.relativistic_average_discriminator_loss(j(real), j(fake)), d_ra, **TOL
    )
    np.testing.assert_allclose(
      losses.relativistic_average_generator_loss(j(real), j(fake)), g_ra, **TOL
    )
  # Hand-worked: equal critics → σ(0) = ½ → ln 2 per term.
  z = jnp.zeros(4)
  np.testing.assert_allclose(losses.relativistic_discriminator_loss(z, z), np.log(2), 1e-6)
  np.testing.assert_allclose(losses.relativistic_average_discriminator_loss(z, z), 2 * np.log(2))


# ----- BEGAN -----


def test_began_reconstruction_and_losses(rng):
  x = rng.normal(size=(6, 4, 4, 3))
  rec = rng.normal(size=(6, 4, 4, 3))
  for eta in (1.0, 2.0):
    expected = np.mean(np.abs(x - rec) ** eta, axis=(1, 2, 3))
    got = losses.began_reconstruction_loss(j(x), j(rec), eta=eta)
    np.testing.assert_allclose(got, expected, **TOL)
  real_l, fake_l, k = rng.uniform(0, 1, 6), rng.uniform(0, 1, 6), 0.3
  np.testing.assert_allclose(
    losses.began_discriminator_loss(j(real_l), j(fake_l), k),
    real_l.mean() - k * fake_l.mean(),
    **TOL,
  )
  np.testing.assert_allclose(losses.began_generator_loss(j(fake_l)), fake_l.mean(), **TOL)
  gamma, lam = 0.5, 1e-3
  np.testing.assert_allclose(
    losses.began_k_update(jnp.float32(k), j(real_l), j(fake_l), gamma=gamma, lambda_k=lam),
    np.clip(k + lam * (gamma * real_l.mean() - fake_l.mean()), 0, 1),
    **TOL,
  )
  np.testing.assert_allclose(
    losses.began_convergence(j(real_l), j(fake_l), gamma=gamma),
    real_l.mean() + abs(gamma * real_l.mean() - fake_l.mean()),
    **TOL,
  )


def test_began_k_stays_in_unit_interval():
  big, small = jnp.full(4, 10.0), jnp.zeros(4)
  assert float(losses.began_k_update(jnp.float32(0.99), big, small, lambda_k=1.0)) == 1.0
  assert float(losses.began_k_update(jnp.float32(0.01), small, big, lambda_k=1.0)) == 0.0


# ----- features and reconstructions -----


def test_feature_matching(rng):
  real, fake = rng.normal(size=(10, 7)), rng.normal(1, 1, size=(12, 7))
  expected = np.sum((real.mean(0) - fake.mean(0)) ** 2)
  np.testing.assert_allclose(losses.feature_matching_loss(j(real), j(fake)), expected, **TOL)
  # Hand-worked: feature means (0, 1) vs (2, 5): squared distance 2² + 4² = 20.
  real = jnp.array([[0.0, 1.0], [0.0, 1.0]])
  fake = jnp.array([[2.0, 5.0], [2.0, 5.0]])
  assert float(losses.feature_matching_loss(real, fake)) == 4.0 + 16.0


def test_l1_and_cycle(rng):
  a, a2, b, b2 = (rng.normal(size=(4, 8, 8, 3)) for _ in range(4))
  np.testing.assert_allclose(
    losses.l1_reconstruction_loss(j(a2), j(a)), np.mean(np.abs(a2 - a)), **TOL
  )
  np.testing.assert_allclose(
    losses.cycle_consistency_loss(j(a), j(a2), j(b), j(b2)),
    np.mean(np.abs(a2 - a)) + np.mean(np.abs(b2 - b)),
    **TOL,
  )
  assert float(losses.cycle_consistency_loss(j(a), j(a), j(b), j(b))) == 0.0


# ----- ACGAN and InfoGAN -----


def np_cross_entropy(logits, labels):
  logits = logits - logits.max(axis=1, keepdims=True)
  log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
  return -np.mean(log_probs[np.arange(len(labels)), labels])


def test_auxiliary_classifier_and_infogan_categorical(rng):
  logits, labels = rng.normal(0, 3, (20, 10)), rng.integers(0, 10, 20)
  expected = np_cross_entropy(logits, labels)
  np.testing.assert_allclose(losses.auxiliary_classifier_loss(j(logits), labels), expected, **TOL)
  np.testing.assert_allclose(losses.infogan_categorical_loss(j(logits), labels), expected, **TOL)
  # Hand-worked: uniform logits over K classes → log K.
  np.testing.assert_allclose(
    losses.auxiliary_classifier_loss(jnp.zeros((3, 10)), jnp.array([0, 4, 9])), np.log(10), 1e-6
  )


def test_infogan_continuous(rng):
  mean, codes, log_std = (
    rng.normal(size=(16, 2)),
    rng.uniform(-1, 1, (16, 2)),
    rng.normal(0, 0.3, (16, 2)),
  )
  std = np.exp(log_std)
  nll = 0.5 * ((codes - mean) / std) ** 2 + np.log(std) + 0.5 * np.log(2 * np.pi)
  np.testing.assert_allclose(
    losses.infogan_continuous_loss(j(mean), j(codes), j(log_std)), nll.sum(1).mean(), **TOL
  )
  fixed = 0.5 * (codes - mean) ** 2 + 0.5 * np.log(2 * np.pi)
  np.testing.assert_allclose(
    losses.infogan_continuous_loss(j(mean), j(codes)), fixed.sum(1).mean(), **TOL
  )
  # Hand-worked: a perfect prediction with σ = 1 costs ½ log 2π per code.
  got = losses.infogan_continuous_loss(jnp.zeros((4, 3)), jnp.zeros((4, 3)))
  np.testing.assert_allclose(got, 3 * 0.5 * np.log(2 * np.pi), 1e-6)
