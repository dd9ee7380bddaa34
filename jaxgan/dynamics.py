"""The dynamics lab: a GAN as a two-player game of pure functions, and why training oscillates.

A game is two losses of the players' parameters θ (the generator, minimizing
L_G) and φ (the discriminator, minimizing L_D); a zero-sum game has
L_D = −L_G. Gradient play follows the vector field

    v(θ, φ) = (−∇_θ L_G(θ, φ), −∇_φ L_D(θ, φ))      (= (−∂L/∂θ, ∂L/∂φ) when zero-sum),

and an equilibrium is a zero of v. Near one, training is governed by the
Jacobian J = ∂v/∂(θ, φ) (Mescheder, Nowozin & Geiger 2017, "The Numerics of
GANs"; Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do
actually Converge?"):
  - continuous-time gradient flow converges locally iff every eigenvalue of J
    has a negative real part; purely imaginary eigenvalues (the bilinear game,
    the unregularized Dirac-GAN) mean rotation around the equilibrium;
  - a discrete update w ← F_h(w) converges locally iff the spectral radius of
    its Jacobian ∂F_h/∂w is below 1. Simultaneous gradient steps have
    ∂F_h = I + hJ, with eigenvalues 1 + hλ: imaginary λ gives |1 + hλ| > 1, an
    outward spiral at any step size.

Everything here is a pure function of flat parameter vectors (jax.flatten_util.
ravel_pytree turns any pytree into one), so the Jacobian of a field or of an
update is one jax.jacfwd away.

    game = dynamics.zero_sum(lambda theta, phi: theta @ phi)      # min_x max_y xy
    J = dynamics.jacobian(game, dynamics.join(theta, phi))         # [[0, -1], [1, 0]]
    step = dynamics.simultaneous_step(game, h=0.1)
    rho = dynamics.spectral_radius(step, dynamics.join(theta, phi))  # sqrt(1 + h²) > 1
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import losses, penalties

Array = jax.Array
Loss = Callable[[Array, Array], Array]
Step = Callable[[Array], Array]


class Game(NamedTuple):
  """Two players' losses, both functions of (θ, φ): G minimizes the first, D the second."""

  generator_loss: Loss
  discriminator_loss: Loss
  num_generator_params: int  # θ's length: w = concatenate([θ, φ]) splits here


def zero_sum(loss: Loss, num_generator_params: int = 1) -> Game:
  """min_θ max_φ loss(θ, φ): the generator minimizes it, the discriminator maximizes it."""
  return Game(loss, lambda theta, phi: -loss(theta, phi), num_generator_params)


def join(theta: Array, phi: Array) -> Array:
  return jnp.concatenate([jnp.atleast_1d(theta), jnp.atleast_1d(phi)])


def split(game: Game, w: Array) -> tuple[Array, Array]:
  return w[: game.num_generator_params], w[game.num_generator_params :]


def vector_field(game: Game, w: Array) -> Array:
  """v(w) = (−∇_θ L_G, −∇_φ L_D) at w = (θ, φ), as one flat vector."""
  theta, phi = split(game, w)
  return join(
    -jax.grad(game.generator_loss, argnums=0)(theta, phi),
    -jax.grad(game.discriminator_loss, argnums=1)(theta, phi),
  )


def jacobian(game: Game, w: Array) -> Array:
  """J = ∂v/∂w at w (forward-mode: the game has few parameters)."""
  return jax.jacfwd(lambda x: vector_field(game, x))(w)


def eigenvalues(matrix) -> np.ndarray:
  """The eigenvalues of a square matrix, sorted by real part then imaginary part."""
  values = np.linalg.eigvals(np.asarray(matrix, np.float64)).astype(np.complex128)
  return values[np.lexsort((values.imag, values.real))]


# ---------------------------------------------------------------------------
# Update operators F_h: w → w', and their stability.
# ---------------------------------------------------------------------------


def simultaneous_step(game: Game, h: float) -> Step:
  """Both players step on the same point: w' = w + h·v(w)."""
  return lambda w: w + h * vector_field(game, w)


def alternating_step(game: Game, h: float) -> Step:
  """The discriminator steps first; the generator then steps against the updated φ
  (the order of GAN training with n_critic = 1)."""

  def step(w):
    theta, phi = split(game, w)
    phi = phi - h * jax.grad(game.discriminator_loss, argnums=1)(theta, phi)
    theta = theta - h * jax.grad(game.generator_loss, argnums=0)(theta, phi)
    return join(theta, phi)

  return step


def extragradient_step(game: Game, h: float) -> Step:
  """Korpelevich 1976: look ahead w½ = w + h·v(w), then step with the look-ahead's field:
  w' = w + h·v(w½). On the bilinear game its Jacobian I + hJ + h²J² has eigenvalues
  1 − h² ± ih, of modulus √(1 − h² + h⁴) < 1 for 0 < h < 1."""

  def step(w):
    return w + h * vector_field(game, w + h * vector_field(game, w))

  return step


def optimistic_step(game: Game, h: float) -> Step:
  """Optimistic gradient (Daskalakis et al. 2018, "Training GANs with Optimism"):
  w_{t+1} = w_t + 2h·v(w_t) − h·v(w_{t−1}). Its state is (w_t, w_{t−1}) concatenated."""

  def step(state):
    w, previous = jnp.split(state, 2)
    new = w + 2 * h * vector_field(game, w) - h * vector_field(game, previous)
    return jnp.concatenate([new, w])

  return step


def spectral_radius(step: Step, w: Array) -> float:
  """The largest modulus of the eigenvalues of ∂F/∂w at w: below 1, F converges locally."""
  return float(np.max(np.abs(eigenvalues(jax.jacfwd(step)(w)))))


def trajectory(step: Step, w0: Array, num_steps: int) -> np.ndarray:
  """[num_steps + 1, len(w0)]: w0 and each iterate, computed in one compiled scan.

  Args:
    step: the update, w -> w'.
    w0: the start.
    num_steps: iterates.

  Returns:
    [num_steps + 1, len(w0)] as numpy.
  """

  def body(w, _):
    w = step(w)
    return w, w

  _, path = jax.jit(lambda w: jax.lax.scan(body, w, None, length=num_steps))(w0)
  return np.concatenate([np.asarray(w0)[None], np.asarray(path)])


# ---------------------------------------------------------------------------
# The Dirac-GAN (Mescheder et al. 2018, §2.2).
# ---------------------------------------------------------------------------


def dirac_gan(gamma: float = 0.0, generator_loss: str = "minimax") -> Game:
  """Real data at 0, the generator a point mass at θ, the discriminator D(x) = ψ·x, with the
  library's GAN losses and its R1 penalty (weight γ/2) on D:

      L_D(θ, ψ) = minimax_discriminator_loss(D(0), D(θ)) + (γ/2)·R1,   R1 = ‖∇_x D(0)‖² = ψ²
      L_G(θ, ψ) = minimax_generator_loss(D(θ))   (or the non-saturating loss)

  The equilibrium is (θ, ψ) = (0, 0). There J = [[0, f′(0)], [−f′(0), −γ]] with
  f′(0) = 1/2 for the GAN loss, so its eigenvalues are ± i/2 without R1 (no convergence)
  and −γ/2 ± √(γ²/4 − f′(0)²) with it (both with negative real parts)."""

  def d_fn_of(psi):
    return lambda x: psi[0] * x[..., 0]

  def d_loss(theta, psi):
    d = d_fn_of(psi)
    real, fake = jnp.zeros((1, 1)), theta.reshape(1, 1)
    loss = losses.minimax_discriminator_loss(d(real), d(fake))
    return loss + 0.5 * gamma * penalties.r1_penalty(d, real)

  def g_loss(theta, psi):
    fake_logits = d_fn_of(psi)(theta.reshape(1, 1))
    if generator_loss == "minimax":
      return losses.minimax_generator_loss(fake_logits)
    return losses.non_saturating_generator_loss(fake_logits)

  if generator_loss not in ("minimax", "non_saturating"):
    raise ValueError(f"generator_loss must be minimax or non_saturating, got {generator_loss!r}")
  return Game(g_loss, d_loss, 1)


def dirac_gan_eigenvalues(gamma: float, f_prime_at_0: float = 0.5) -> np.ndarray:
  """The analytic eigenvalues −γ/2 ± √(γ²/4 − f′(0)²) of the Dirac-GAN's Jacobian at 0."""
  root = np.sqrt(complex(gamma**2 / 4 - f_prime_at_0**2))
  values = np.array([-gamma / 2 + root, -gamma / 2 - root])
  return values[np.lexsort((values.imag, values.real))]


# ---------------------------------------------------------------------------
# The first lecture's Gaussian fits: a linear generator against logistic regression.
# ---------------------------------------------------------------------------

GAUSSIAN_TARGETS = {  # (mean, covariance) of the data
  1: (np.array([2.0]), np.array([[0.25]])),
  2: (np.array([1.0, -0.5]), np.array([[2.0, 1.2], [1.2, 1.0]])),
}


def quadratic_features(x: Array) -> Array:
  """[x, x²] in 1-D; [x1, x2, x1·x2, x1², x2²] in 2-D: every monomial of degree ≤ 2."""
  if x.shape[-1] == 1:
    return jnp.concatenate([x, x**2], axis=-1)
  x1, x2 = x[..., 0:1], x[..., 1:2]
  return jnp.concatenate([x1, x2, x1 * x2, x1**2, x2**2], axis=-1)


FEATURES = {"linear": lambda x: x, "quadratic": quadratic_features}


class GaussianFit(NamedTuple):
  scale: np.ndarray  # A of G(z) = A·z + b
  shift: np.ndarray  # b
  mean_error: float  # ‖b − μ‖
  covariance_error: float  # ‖A·Aᵀ − Σ‖_F / ‖Σ‖_F at the end
  late_covariance_error: float  # its mean over the last quarter of training (GANs oscillate)
  history: np.ndarray  # [checkpoints, 3]: step, mean error, covariance error
  discriminator: tuple[np.ndarray, float]  # (w, c) of D(x) = wᵀφ(x) + c


def gaussian_fit(
  dim: int = 2,
  features: str = "quadratic",
  *,
  resample: bool = True,
  steps: int = 6000,
  batch_size: int = 256,
  learning_rate: float = 0.003,
  seed: int = 0,
  record_every: int = 50,
) -> GaussianFit:
  """A linear generator G(z) = A·z + b, z ~ N(0, I), against a logistic-regression
  discriminator D(x) = σ(wᵀφ(x) + c) on linear (φ(x) = x) or quadratic features, trained
  with the non-saturating GAN loss by alternating Adam steps (one compiled scan).

  A linear D sees only the mean of the data (its optimum is decided by first moments),
  so G's covariance is left wherever it drifts; a quadratic D also sees the second
  moments, so G must match Σ. resample=False draws one minibatch of real data and
  one of noise and trains on them throughout (the fixed-sample setting of the lecture).

  Args:
    dim: the data's dimension (1 or 2).
    features: D's features, "linear" or "quadratic".
    resample: fresh minibatches every step (False: one fixed batch of data and noise).
    steps: training steps.
    batch_size: examples per step.
    learning_rate: Adam's rate, both players.
    seed: the seed.
    record_every: steps between recorded errors.

  Returns:
    The GaussianFit (G's shift and scale, D's weights, the errors over training).
  """
  import optax

  mean, cov = (jnp.asarray(a, jnp.float32) for a in GAUSSIAN_TARGETS[dim])
  chol = jnp.linalg.cholesky(cov)
  phi_fn = FEATURES[features]
  num_features = phi_fn(jnp.zeros((1, dim))).shape[-1]
  g_params = {"scale": 0.5 * jnp.eye(dim), "shift": jnp.zeros(dim)}
  d_params = {"w": jnp.zeros(num_features), "c": jnp.zeros(())}
  optimizer = optax.adam(learning_rate, b1=0.5)

  def generate(g, z):
    return z @ g["scale"].T + g["shift"]

  def logits(d, x):
    return phi_fn(x) @ d["w"] + d["c"]

  def d_loss(d, g, real, z):
    return losses.minimax_discriminator_loss(logits(d, real), logits(d, generate(g, z)))

  def g_loss(g, d, z):
    return losses.non_saturating_generator_loss(logits(d, generate(g, z)))

  key = jax.random.key(seed)
  fixed_key = jax.random.fold_in(key, 0)

  def draw(step_key):
    real_key, z_key = jax.random.split(step_key if resample else fixed_key)
    real = mean + jax.random.normal(real_key, (batch_size, dim)) @ chol.T
    return real, jax.random.normal(z_key, (batch_size, dim))

  def errors(g):
    generated_cov = g["scale"] @ g["scale"].T
    return (
      jnp.linalg.norm(g["shift"] - mean),
      jnp.linalg.norm(generated_cov - cov) / jnp.linalg.norm(cov),
    )

  def step(carry, step_key):
    g, d, g_opt, d_opt = carry
    real, z = draw(step_key)
    d_updates, d_opt = optimizer.update(jax.grad(d_loss)(d, g, real, z), d_opt)
    d = optax.apply_updates(d, d_updates)
    g_updates, g_opt = optimizer.update(jax.grad(g_loss)(g, d, z), g_opt)
    g = optax.apply_updates(g, g_updates)
    return (g, d, g_opt, d_opt), jnp.stack(errors(g))

  keys = jax.random.split(jax.random.fold_in(key, 1), steps)
  carry = (g_params, d_params, optimizer.init(g_params), optimizer.init(d_params))
  (g, d, _, _), path = jax.jit(lambda c, k: jax.lax.scan(step, c, k))(carry, keys)
  path = np.asarray(path)
  recorded = np.arange(record_every - 1, steps, record_every)
  history = np.column_stack([recorded + 1, path[recorded]])
  mean_error, covariance_error = (float(e) for e in errors(g))
  late = float(np.mean(path[-(steps // 4) :, 1]))
  return GaussianFit(
    np.asarray(g["scale"]),
    np.asarray(g["shift"]),
    mean_error,
    covariance_error,
    late,
    history,
    (np.asarray(d["w"]), float(d["c"])),
  )
