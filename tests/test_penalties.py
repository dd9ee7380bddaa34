"""The regularizers against numpy computations of their formulas.

The critics are small functions whose input gradients numpy can compute by
hand: linear (constant gradient), quadratic (gradient 2a⊙x) and a one-hidden-
layer tanh network backpropagated in float64.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import penalties

TOL = dict(rtol=1e-4, atol=1e-6)


def j(x):
  return jnp.asarray(x, jnp.float32)


def flat(x):
  return x.reshape(x.shape[0], -1)


class Quadratic:
  """D(x) = Σ a ⊙ x²: ∇D(x) = 2a ⊙ x."""

  def __init__(self, rng, shape):
    self.a = rng.normal(size=shape)

  def jax(self, x):
    return jnp.sum(flat(j(self.a) * x**2), axis=1)

  def grad(self, x):
    return 2 * self.a * x


class TanhNet:
  """D(x) = v·tanh(W x + b): ∇D(x) = Wᵀ(v ⊙ (1 − tanh²(Wx + b)))."""

  def __init__(self, rng, dim, hidden=16):
    self.w, self.b, self.v = (
      rng.normal(size=(hidden, dim)),
      rng.normal(size=hidden),
      rng.normal(size=hidden),
    )

  def jax(self, x):
    return jnp.tanh(flat(x) @ j(self.w).T + j(self.b)) @ j(self.v)

  def grad(self, x):
    h = np.tanh(flat(x) @ self.w.T + self.b)
    return ((self.v * (1 - h**2)) @ self.w).reshape(x.shape)


def np_norms(g):
  return np.sqrt(np.sum(flat(g) ** 2, axis=1))


def alphas(key, shape):
  """The interpolation coefficients the penalty draws: one U(0, 1) per example."""
  return np.asarray(jax.random.uniform(key, (shape[0],) + (1,) * (len(shape) - 1)), np.float64)


@pytest.mark.parametrize("shape", [(32, 2), (8, 4, 4, 3)])
@pytest.mark.parametrize("critic", ["quadratic", "tanh"])
def test_gradient_penalty_matches_formula(rng, shape, critic):
  d = Quadratic(rng, shape[1:]) if critic == "quadratic" else TanhNet(rng, int(np.prod(shape[1:])))
  for seed in range(3):
    real, fake = rng.normal(size=shape), rng.normal(1, 2, size=shape)
    key = jax.random.key(seed)
    a = alphas(key, shape)
    x_hat = a * real + (1 - a) * fake
    norms = np_norms(d.grad(x_hat))
    got = penalties.gradient_penalty(d.jax, j(real), j(fake), key)
    np.testing.assert_allclose(got, np.mean((norms - 1) ** 2), **TOL)
    got = penalties.gradient_penalty(d.jax, j(real), j(fake), key, one_sided=True)
    np.testing.assert_allclose(got, np.mean(np.maximum(norms - 1, 0) ** 2), **TOL)
    got = penalties.gradient_penalty(d.jax, j(real), j(fake), key, target=2.0)
    np.testing.assert_allclose(got, np.mean((norms - 2) ** 2), **TOL)


def test_gradient_penalty_hand_worked():
  # Linear critic D(x) = w·x with ‖w‖ = 5: the gradient is w everywhere, so (5 − 1)² = 16.
  w = jnp.array([3.0, 4.0])
  real, fake = jnp.ones((4, 2)), jnp.zeros((4, 2))
  got = penalties.gradient_penalty(lambda x: x @ w, real, fake, jax.random.key(0))
  np.testing.assert_allclose(got, 16.0, rtol=1e-6)
  # ‖w‖ = 0.5 < 1: the one-sided penalty is 0, the two-sided (0.5 − 1)².
  half = w / 10
  assert (
    float(
      penalties.gradient_penalty(lambda x: x @ half, real, fake, jax.random.key(0), one_sided=True)
    )
    == 0.0
  )
  np.testing.assert_allclose(
    penalties.gradient_penalty(lambda x: x @ half, real, fake, jax.random.key(0)), 0.25, 1e-6
  )


def test_gradient_penalty_of_constant_critic_has_finite_gradient():
  """A dead critic (∇D = 0) gives penalty 1 and a finite gradient of the penalty."""

  def penalty(scale):
    return penalties.gradient_penalty(
      lambda x: scale * jnp.zeros(x.shape[0]),
      jnp.ones((4, 2)),
      jnp.zeros((4, 2)),
      jax.random.key(0),
    )

  assert float(penalty(1.0)) == 1.0
  assert np.isfinite(float(jax.grad(penalty)(1.0)))


@pytest.mark.parametrize("fake_shape", [(4, 3), (5, 2)])
def test_gradient_penalty_needs_real_and_fake_of_one_shape(fake_shape):
  def critic(x):
    return jnp.sum(x, axis=-1)

  message = re.escape(f"got real (4, 2) and fake {fake_shape}")
  with pytest.raises(ValueError, match=message):
    penalties.gradient_penalty(critic, jnp.zeros((4, 2)), jnp.zeros(fake_shape), jax.random.key(0))


def test_dragan_penalty_matches_formula(rng):
  shape = (16, 3)
  d = TanhNet(rng, 3)
  real = rng.normal(size=shape)
  key = jax.random.key(7)
  noise_key, alpha_key = jax.random.split(key)
  u = np.asarray(jax.random.uniform(noise_key, shape), np.float64)
  perturbed = real + 0.5 * np.std(j(real)) * u
  a = alphas(alpha_key, shape)
  points = real + a * (perturbed - real)
  expected = np.mean((np_norms(d.grad(points)) - 1) ** 2)
  np.testing.assert_allclose(penalties.dragan_penalty(d.jax, j(real), key), expected, **TOL)
  # Linear critic: the penalty does not depend on where it is taken.
  w = jnp.array([0.0, 2.0, 0.0])
  np.testing.assert_allclose(penalties.dragan_penalty(lambda x: x @ w, j(real), key), 1.0, 1e-6)


@pytest.mark.parametrize("shape", [(32, 2), (4, 3, 3, 2)])
def test_r1_r2_match_formula(rng, shape):
  d = Quadratic(rng, shape[1:])
  x = rng.normal(size=shape)
  expected = np.mean(np.sum(flat(d.grad(x)) ** 2, axis=1))
  np.testing.assert_allclose(penalties.r1_penalty(d.jax, j(x)), expected, **TOL)
  np.testing.assert_allclose(penalties.r2_penalty(d.jax, j(x)), expected, **TOL)
  t = TanhNet(rng, int(np.prod(shape[1:])))
  expected = np.mean(np.sum(flat(t.grad(x)) ** 2, axis=1))
  np.testing.assert_allclose(penalties.r1_penalty(t.jax, j(x)), expected, **TOL)


def test_r1_hand_worked():
  # D(x) = 3x₁ + 4x₂: ‖∇D‖² = 25 for every example.
  got = penalties.r1_penalty(lambda x: x @ jnp.array([3.0, 4.0]), jnp.ones((5, 2)))
  np.testing.assert_allclose(got, 25.0, rtol=1e-6)


def test_orthogonal_regularization(rng):
  params = {
    "dense": {"kernel": rng.normal(size=(5, 4)), "bias": rng.normal(size=4)},
    "conv": {"kernel": rng.normal(size=(3, 3, 2, 6))},
  }
  expected = 0.0
  for w in (params["dense"]["kernel"], params["conv"]["kernel"].reshape(-1, 6)):
    gram = w.T @ w
    expected += np.sum((gram * (1 - np.eye(gram.shape[0]))) ** 2)
  got = penalties.orthogonal_regularization(jax.tree.map(j, params))
  np.testing.assert_allclose(got, expected, rtol=1e-4)
  # Hand-worked: orthonormal columns have no off-diagonal Gram entries.
  assert float(penalties.orthogonal_regularization({"k": jnp.eye(3)})) == 0.0
  # BigGAN leaves out G's shared class embedding
  with_shared = {**jax.tree.map(j, params), "shared": {"embedding": j(rng.normal(size=(10, 4)))}}
  got = penalties.orthogonal_regularization(with_shared, exclude=("shared",))
  np.testing.assert_allclose(got, expected, rtol=1e-4)
  # the authors' gradient, 2·(WWᵀ ⊙ (1 − I))W in PyTorch's [out, in] layout, is that of ½·R
  w = rng.normal(size=(4, 5))  # PyTorch [out, in]
  grad = jax.grad(lambda k: 0.5 * penalties.orthogonal_regularization({"k": k}))(j(w.T))
  authors = 2 * ((w @ w.T) * (1 - np.eye(4))) @ w
  np.testing.assert_allclose(grad, authors.T, rtol=1e-4)


def test_historical_averaging_penalty(rng):
  params = {"a": rng.normal(size=(3, 2)), "b": rng.normal(size=4)}
  average = {"a": rng.normal(size=(3, 2)), "b": rng.normal(size=4)}
  expected = sum(np.sum((params[k] - average[k]) ** 2) for k in params)
  got = penalties.historical_averaging_penalty(jax.tree.map(j, params), jax.tree.map(j, average))
  np.testing.assert_allclose(got, expected, rtol=1e-5)
