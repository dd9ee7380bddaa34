"""Regularizers of GAN training: penalties on D's input gradients and on weights.

The gradient penalties take `d_fn`, a function from a batch [B, ...] to one
score per example [B] (a closure over D's parameters), so they work for any
model and any input rank. They assume D scores each example independently (no
batch normalization across the batch in D, as WGAN-GP prescribes), so the
per-example input gradients are the gradient of Σ_i D(x_i).

The returned values are unweighted: the weight (λ, γ/2, ...) belongs to the
caller, e.g. a `jaxgan.kinds.gan.Regularizer`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array
ScoreFn = Callable[[Array], Array]


def _per_example_shape(x: Array) -> tuple[int, ...]:
  return (x.shape[0],) + (1,) * (x.ndim - 1)


def input_gradients(d_fn: ScoreFn, x: Array) -> Array:
  r"""∇_x D(x) for every example of x: shape of x.

  .. math::

     \nabla_x D(x)
  """
  return jax.grad(lambda inputs: jnp.sum(d_fn(inputs)))(x)


def per_example_norm(x: Array) -> Array:
  r"""‖x_i‖₂ over all non-batch axes, shape [B], with a finite gradient at 0.

  .. math::

     \|x_i\|_2 = \Big(\sum_{j} x_{ij}^2\Big)^{1/2}

  √s has an infinite derivative at s = 0 (a dead-ReLU critic can have a zero
  input gradient); the double `where` keeps the gradient at 0 equal to 0.
  """
  sq = jnp.sum(jnp.reshape(x, (x.shape[0], -1)) ** 2, axis=1)
  positive = sq > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def _norm_penalty(norms: Array, target: float, one_sided: bool) -> Array:
  excess = norms - target
  if one_sided:
    excess = jnp.maximum(excess, 0.0)
  return jnp.mean(excess**2)


def gradient_penalty(
  d_fn: ScoreFn,
  real: Array,
  fake: Array,
  key: Array,
  *,
  target: float = 1.0,
  one_sided: bool = False,
) -> Array:
  r"""WGAN-GP's penalty E[(‖∇D(x̂)‖₂ − target)²] (Gulrajani et al. 2017, eq. 3).

  .. math::

     \hat x = \alpha x + (1 - \alpha)\tilde x,\quad \alpha \sim U(0, 1);
     \qquad \mathbb{E}\big[(\|\nabla D(\hat x)\|_2 - \text{target})^2\big]

  x̂ = αx + (1 − α)x̃ with α ~ U(0, 1) drawn once per example. one_sided=True
  penalizes only norms above the target, E[max(0, ‖∇D(x̂)‖₂ − target)²]
  (the one-sided variant of the same paper's appendix; Petzka et al. 2018).

  Args:
    d_fn: a batch -> D's per-example scores (a closure over D's parameters).
    real: the real batch [B, ...].
    fake: the fake batch, of the same shape.
    key: the key of α.
    target: the gradient norm aimed at (1).
    one_sided: penalize only norms above the target.

  Returns:
    The scalar penalty (unweighted).
  """
  if real.shape != fake.shape:
    raise ValueError(
      f"gradient_penalty interpolates between real and fake examples, which must have one "
      f"shape: got real {tuple(real.shape)} and fake {tuple(fake.shape)}"
    )
  alpha = jax.random.uniform(key, _per_example_shape(real), dtype=real.dtype)
  interpolates = alpha * real + (1.0 - alpha) * fake
  norms = per_example_norm(input_gradients(d_fn, interpolates))
  return _norm_penalty(norms, target, one_sided)


def dragan_penalty(
  d_fn: ScoreFn,
  real: Array,
  key: Array,
  *,
  perturbation_scale: float = 0.5,
  target: float = 1.0,
  one_sided: bool = False,
) -> Array:
  r"""DRAGAN's penalty around the real data.

  .. math::

     x_p = x + c\,\operatorname{std}(x)\,u,\quad u \sim U[0, 1);
     \qquad \hat x = x + \alpha(x_p - x),\quad \alpha \sim U(0, 1);
     \qquad \mathbb{E}\big[(\|\nabla D(\hat x)\|_2 - \text{target})^2\big]

  Kodali et al. 2017, "On Convergence and Stability of GANs":

  as in the authors' reference implementation, std(x) taken over the batch.

  Args:
    d_fn: a batch -> D's per-example scores.
    real: the real batch [B, ...].
    key: the key of u and α.
    perturbation_scale: c (0.5 in the authors' code).
    target: the gradient norm aimed at (1).
    one_sided: penalize only norms above the target.

  Returns:
    The scalar penalty (unweighted).
  """
  noise_key, alpha_key = jax.random.split(key)
  noise = jax.random.uniform(noise_key, real.shape, dtype=real.dtype)
  perturbed = real + perturbation_scale * jnp.std(real) * noise
  alpha = jax.random.uniform(alpha_key, _per_example_shape(real), dtype=real.dtype)
  points = real + alpha * (perturbed - real)
  norms = per_example_norm(input_gradients(d_fn, points))
  return _norm_penalty(norms, target, one_sided)


def r1_penalty(d_fn: ScoreFn, real: Array) -> Array:
  r"""R1 = E_x‖∇D(x)‖²₂ on real data.

  .. math::

     R_1 = \mathbb{E}_x\|\nabla D(x)\|_2^2

  Mescheder et al. 2018, "Which Training Methods for GANs do actually
  Converge?", eq. 9. The paper's regularizer is (γ/2)·R1; the weight γ/2 is the caller's.
  """
  return jnp.mean(jnp.sum(jnp.reshape(input_gradients(d_fn, real), (real.shape[0], -1)) ** 2, 1))


def r2_penalty(d_fn: ScoreFn, fake: Array) -> Array:
  r"""R2 = E_z‖∇D(G(z))‖²₂ on generated data (Mescheder et al. 2018, eq. 10).

  .. math::

     R_2 = \mathbb{E}_z\|\nabla D(G(z))\|_2^2
  """
  return r1_penalty(d_fn, fake)


def path_lengths(synthesis: Callable[[Array], Array], ws: Array, key: Array) -> Array:
  r"""‖J_wᵀ y‖₂ per example: StyleGAN2's path lengths (Karras et al. 2020, eq. 4).

  .. math::

     \|J_w^\top y\|_2,\qquad y \sim \mathcal{N}(0, I)/\sqrt{HW}

  J_w is the Jacobian of the images g(w) with respect to the styles and y an image of
  N(0, 1) pixels / √(H·W) (the authors' scaling, which makes the lengths independent of the
  resolution). Computed as one gradient: ∇_w Σ g(w)·y. The squared gradient is summed over
  w's features and averaged over the styles layers, then the square root (as the authors).

  Args:
    synthesis: ws [B, num_ws, w_dim] → images [B, H, W, C].
    ws: the styles.
    key: the key of y.

  Returns:
    [B] the path lengths.
  """
  images = jax.eval_shape(synthesis, ws)
  h, w = images.shape[1:3]
  y = jax.random.normal(key, images.shape, images.dtype) / jnp.sqrt(float(h * w))
  grads = jax.grad(lambda ws: jnp.sum(synthesis(ws) * y))(ws)
  return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads), axis=2), axis=1))


def path_length_penalty(lengths: Array, mean: Array, decay: float = 0.01) -> tuple[Array, Array]:
  r"""StyleGAN2's path length regularization E[(‖J_wᵀ y‖ − a)²] (Karras et al. 2020, eq. 4),
  with a the running mean of the lengths: a ← a + decay·(mean length − a), the new a used in
  the penalty (as the authors, gradient through the batch's mean included).

  .. math::

     a \leftarrow a + \text{decay}\cdot\big(\overline{\|J_w^\top y\|_2} - a\big);
     \qquad \mathbb{E}\big[(\|J_w^\top y\|_2 - a)^2\big]

  Args:
    lengths: [B] path_lengths.
    mean: the running mean a before this batch.
    decay: the mean's update rate (0.01).

  Returns:
    (the penalty, the new running mean, without gradient).
  """
  new_mean = mean + decay * (jnp.mean(lengths) - mean)
  return jnp.mean(jnp.square(lengths - new_mean)), jax.lax.stop_gradient(new_mean)


def orthogonal_regularization(params: Any, exclude: Sequence[str] = ()) -> Array:
  r"""BigGAN's orthogonal regularization Σ_W ‖WᵀW ⊙ (1 − I)‖²_F (Brock et al. 2019, eq. 3).

  .. math::

     R = \sum_W \big\|W^\top W \odot (\mathbf{1} - I)\big\|_F^2

  Summed over every weight with two or more axes, each reshaped to a matrix
  [fan_in, fan_out] (a Flax Dense or Conv kernel), so WᵀW compares output
  filters. Unlike the gradient penalties it acts on parameters, not on D's
  outputs; the weight β is the caller's (the paper: 1e-4). The authors' code
  (BigGAN-PyTorch utils.ortho) adds 2β·(WWᵀ ⊙ (1 − I))W to the gradient, which is the
  gradient of (β/2)·‖·‖²: weight β/2 here to match the code, β to match the paper.

  Args:
    params: a parameter tree.
    exclude: names of subtrees left out (BigGAN leaves out G's shared class embedding).

  Returns:
    The sum, a scalar.
  """
  total = jnp.float32(0.0)
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    names = [getattr(key, "key", getattr(key, "name", None)) for key in path]
    if leaf.ndim < 2 or any(name in exclude for name in names):
      continue
    w = jnp.reshape(leaf, (-1, leaf.shape[-1]))
    gram = w.T @ w
    off_diagonal = gram * (1.0 - jnp.eye(gram.shape[0], dtype=gram.dtype))
    total = total + jnp.sum(off_diagonal**2)
  return total


def historical_averaging_penalty(params: Any, params_average: Any) -> Array:
  r"""Historical averaging ‖θ − (1/t)Σ_i θ_i‖² (Salimans et al. 2016, §3.3).

  .. math::

     \Big\|\theta - \frac{1}{t}\sum_{i=1}^{t}\theta_i\Big\|^2

  params_average is the running mean of the player's past parameters; see
  `jaxgan.optim.historical_averaging` for the optax transformation that keeps
  it and adds this penalty's gradient to the player's updates.
  """
  diffs = jax.tree.map(lambda p, a: jnp.sum((p - a) ** 2), params, params_average)
  return sum(jax.tree.leaves(diffs), jnp.float32(0.0))
