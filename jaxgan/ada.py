"""Adaptive discriminator augmentation, ADA (Karras, Aittala, Hellsten, Laine, Lehtinen & Aila
2020, "Training Generative Adversarial Networks with Limited Data").

    augmentation = ada.adaptive_augmentation(target=0.6, interval=4, speed_kimg=100, batch=32)
    spec = GANSpec(..., augment=augmentation)      # p lives in GANState.augment_state

Every input of D, real or fake, in D's update and in G's, goes through the same pipeline
(the paper's "bgc": Appendix B, the authors' augment.py), each of its 12 transformations
applied to each example with probability p:
- geometric (one affine map per example, then one resampling): x-flip, rotation by a
  multiple of 90°, integer translation (±1/8 of the size), isotropic scaling (lognormal,
  σ = 0.2·ln 2), arbitrary rotation (uniform; applied twice with probability 1 − √(1 − p)
  around the anisotropic scaling), anisotropic scaling (σ = 0.2·ln 2), fractional translation
  (N(0, 0.125) of the size);
- colour (one 4×4 colour matrix per example): brightness (+N(0, 0.2)), contrast (×lognormal,
  σ = 0.5·ln 2), luma flip, hue rotation about the luma axis (uniform), saturation
  (×lognormal, σ = ln 2). Grey images take the matrix's mean over the colours, as the authors.
All are differentiable in the images, so G learns through them; with p < ~0.8 they do not
leak into G's samples (the paper's §2.2).

p is tuned on the fly: every `interval` steps, r_t = E[sign(D(augmented reals))] over the
interval is compared with the target (0.6) and p moves by sign(r_t − target)·(images in the
interval)/(speed_kimg·1000), clipped to [0, 1].

Departure from the authors: the resampling is bilinear with reflection at the borders
(jax.scipy.ndimage.map_coordinates), where the authors pad by reflection, up-sample ×2 with a
sym6 wavelet filter, sample bilinearly and filter down again (less aliasing of rotations).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.ndimage import map_coordinates

from jaxgan.augment import Augmentation

Array = jax.Array
LOG2 = math.log(2.0)


# ---------------------------------------------------------------------------
# Geometric transformations: 3×3 homogeneous matrices in pixel units, centred.
# ---------------------------------------------------------------------------


def _matrix(rows) -> Array:
  return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)


def _scale2d(sx: Array, sy: Array) -> Array:
  o, z = jnp.ones_like(sx), jnp.zeros_like(sx)
  return _matrix([[sx, z, z], [z, sy, z], [z, z, o]])


def _translate2d(tx: Array, ty: Array) -> Array:
  o, z = jnp.ones_like(tx), jnp.zeros_like(tx)
  return _matrix([[o, z, tx], [z, o, ty], [z, z, o]])


def _rotate2d(theta: Array) -> Array:
  c, s = jnp.cos(theta), jnp.sin(theta)
  o, z = jnp.ones_like(theta), jnp.zeros_like(theta)
  return _matrix([[c, -s, z], [s, c, z], [z, z, o]])


def geometric_matrix(key: Array, batch: int, size: tuple[int, int], p: Array) -> Array:
  """[B, 3, 3]: the maps from output to input pixel coordinates (centred at the image's centre)
  of the paper's geometric transformations, each applied with probability p.

  Args:
    key: the key of the draws.
    batch: B.
    size: (H, W).
    p: the probability of each transformation.

  Returns:
    The matrices.
  """
  h, w = size
  keys = iter(jax.random.split(key, 32))

  def chosen(prob):
    return jax.random.uniform(next(keys), (batch,)) < prob

  def uniform():
    return jax.random.uniform(next(keys), (batch,))

  def normal():
    return jax.random.normal(next(keys), (batch,))

  m = jnp.broadcast_to(jnp.eye(3), (batch, 3, 3))
  flip = jnp.floor(uniform() * 2) * chosen(p)
  m = m @ _scale2d(1 - 2 * flip, jnp.ones(batch))
  quarter = jnp.floor(uniform() * 4) * chosen(p)
  m = m @ _rotate2d(-jnp.pi / 2 * quarter)
  shift = chosen(p)
  tx, ty = (uniform() * 2 - 1) * 0.125 * shift, (uniform() * 2 - 1) * 0.125 * shift
  m = m @ _translate2d(jnp.round(tx * w), jnp.round(ty * h))
  scale = jnp.exp2(normal() * 0.2 * chosen(p))
  m = m @ _scale2d(scale, scale)
  p_rot = 1 - jnp.sqrt(jnp.clip(1 - p, 0.0, 1.0))  # applied twice: total probability p
  m = m @ _rotate2d(-(uniform() * 2 - 1) * jnp.pi * chosen(p_rot))
  aniso = jnp.exp2(normal() * 0.2 * chosen(p))
  m = m @ _scale2d(aniso, 1 / aniso)
  m = m @ _rotate2d(-(uniform() * 2 - 1) * jnp.pi * chosen(p_rot))
  frac = chosen(p)
  m = m @ _translate2d(normal() * 0.125 * w * frac, normal() * 0.125 * h * frac)
  return m


def warp(images: Array, matrices: Array) -> Array:
  """Each image resampled at its matrix's map of the output pixels (bilinear, reflected at the
  borders): out[b, y, x] = in[b, M_b·(x, y)] in coordinates centred on the image.

  Args:
    images: [B, H, W, C].
    matrices: [B, 3, 3].

  Returns:
    [B, H, W, C].
  """
  _, h, w, _ = images.shape
  ys, xs = jnp.meshgrid(jnp.arange(h) - (h - 1) / 2, jnp.arange(w) - (w - 1) / 2, indexing="ij")
  points = jnp.stack([xs.ravel(), ys.ravel(), jnp.ones(h * w)])  # [3, HW]

  def one(image, matrix):
    src = matrix @ points
    rows, cols = src[1] + (h - 1) / 2, src[0] + (w - 1) / 2

    def channel(c):
      return map_coordinates(c, [rows, cols], order=1, mode="mirror").reshape(h, w)

    return jax.vmap(channel, in_axes=-1, out_axes=-1)(image)

  return jax.vmap(one)(images, matrices)


# ---------------------------------------------------------------------------
# Colour transformations: 4×4 homogeneous matrices on RGB.
# ---------------------------------------------------------------------------

LUMA_AXIS = np.array([1.0, 1.0, 1.0, 0.0], np.float32) / np.float32(math.sqrt(3.0))  # numpy: no
# JAX array at import (jax.distributed must start before the backend does)


def _rotate3d(axis: Array, theta: Array) -> Array:
  """[B, 4, 4] rotations by theta [B] about the unit axis [4] (homogeneous)."""
  x, y, z = axis[0], axis[1], axis[2]
  c, s = jnp.cos(theta), jnp.sin(theta)
  cc = 1 - c
  o, zero = jnp.ones_like(theta), jnp.zeros_like(theta)
  return _matrix(
    [
      [x * x * cc + c, x * y * cc - z * s, x * z * cc + y * s, zero],
      [y * x * cc + z * s, y * y * cc + c, y * z * cc - x * s, zero],
      [z * x * cc - y * s, z * y * cc + x * s, z * z * cc + c, zero],
      [zero, zero, zero, o],
    ]
  )


def color_matrix(key: Array, batch: int, p: Array) -> Array:
  """[B, 4, 4]: the paper's colour transformations, each applied with probability p.

  Args:
    key: the key of the draws.
    batch: B.
    p: the probability of each transformation.

  Returns:
    The matrices (on homogeneous RGB).
  """
  keys = iter(jax.random.split(key, 16))

  def chosen():
    return jax.random.uniform(next(keys), (batch,)) < p

  eye = jnp.broadcast_to(jnp.eye(4), (batch, 4, 4))
  v = LUMA_AXIS
  vv = jnp.outer(v, v)
  b = jax.random.normal(next(keys), (batch,)) * 0.2 * chosen()
  m = eye.at[:, :3, 3].add(b[:, None])  # brightness
  c = jnp.exp2(jax.random.normal(next(keys), (batch,)) * 0.5 * chosen())
  m = _scale_rgb(c) @ m  # contrast
  flip = jnp.floor(jax.random.uniform(next(keys), (batch,)) * 2) * chosen()
  m = (eye - 2 * vv * flip[:, None, None]) @ m  # luma flip
  theta = (jax.random.uniform(next(keys), (batch,)) * 2 - 1) * jnp.pi * chosen()
  m = _rotate3d(v, theta) @ m  # hue
  s = jnp.exp2(jax.random.normal(next(keys), (batch,)) * 1.0 * chosen())
  m = (vv + (jnp.eye(4) - vv) * s[:, None, None]) @ m  # saturation
  return m


def _scale_rgb(s: Array) -> Array:
  o = jnp.ones_like(s)
  z = jnp.zeros_like(s)
  return _matrix([[s, z, z, z], [z, s, z, z], [z, z, s, z], [z, z, z, o]])


def apply_color(images: Array, matrices: Array) -> Array:
  """RGB images through their 4×4 matrices; grey ones through the mean of the RGB rows (the
  authors' rule).

  Args:
    images: [B, H, W, C], C = 3 or 1.
    matrices: [B, 4, 4].

  Returns:
    [B, H, W, C].
  """
  if images.shape[-1] == 3:
    return (
      jnp.einsum("bij,bhwj->bhwi", matrices[:, :3, :3], images) + matrices[:, None, None, :3, 3]
    )
  if images.shape[-1] == 1:
    row = jnp.mean(matrices[:, :3, :], axis=1)  # [B, 4]
    return images * jnp.sum(row[:, :3], axis=1)[:, None, None, None] + row[:, None, None, 3:]
  raise ValueError(f"ADA's colour transformations take 1 or 3 channels, got {images.shape[-1]}")


def augment(images: Array, key: Array, p: Array) -> Array:
  """The whole pipeline at probability p: geometric, then colour.

  Args:
    images: [B, H, W, C] in [−1, 1].
    key: the key of the draws.
    p: the probability of each transformation (traced).

  Returns:
    The augmented images.
  """
  b, h, w, _ = images.shape
  geometric_key, color_key = jax.random.split(key)
  images = warp(images, geometric_matrix(geometric_key, b, (h, w), p))
  return apply_color(images, color_matrix(color_key, b, p))


# ---------------------------------------------------------------------------
# The adaptive p.
# ---------------------------------------------------------------------------


def init_state(p: float = 0.0) -> dict[str, Array]:
  """p, and the sum and count of sign(D(real)) over the current interval."""
  return {"p": jnp.float32(p), "sign_sum": jnp.float32(0.0), "sign_count": jnp.float32(0.0)}


def update_state(
  state: dict[str, Any],
  real_scores: Array,
  step: Array,
  *,
  target: float = 0.6,
  interval: int = 4,
  speed_images: float = 500_000,
) -> tuple[dict[str, Any], dict[str, Array]]:
  """The overfitting heuristic r_t = E[sign(D(x_real))], and p moved toward the target every
  `interval` steps by sign(r_t − target)·(images in the interval)/speed_images (the paper's
  eq. 3 and §2.3; the authors' ada_kimg = speed_images / 1000).

  Args:
    state: init_state's dict.
    real_scores: D's scores of this step's augmented reals [B].
    step: the training step (0-based).
    target: the target r_t.
    interval: the steps between adjustments.
    speed_images: images for p to go from 0 to 1 at full speed.

  Returns:
    (the new state, metrics: "ada_p" and "ada_rt", r_t of the last interval).
  """
  sign_sum = state["sign_sum"] + jnp.sum(jnp.sign(real_scores))
  count = state["sign_count"] + real_scores.shape[0]
  due = (step + 1) % interval == 0
  rt = sign_sum / jnp.maximum(count, 1.0)
  adjust = jnp.sign(rt - target) * count / speed_images
  p = jnp.where(due, jnp.clip(state["p"] + adjust, 0.0, 1.0), state["p"])
  new_state = {
    "p": p,
    "sign_sum": jnp.where(due, 0.0, sign_sum),
    "sign_count": jnp.where(due, 0.0, count),
  }
  return new_state, {"ada_p": p, "ada_rt": rt}


def adaptive_augmentation(
  target: float = 0.6, interval: int = 4, speed_kimg: float = 500.0, initial_p: float = 0.0
) -> Augmentation:
  """ADA as an Augmentation for GANSpec.augment: p in the GAN's state, tuned from D's real
  scores.

  Args:
    target: the target of r_t (0.6).
    interval: the steps between adjustments of p (4).
    speed_kimg: thousands of images for p to go from 0 to 1 (the authors: 500; short runs
      need less).
    initial_p: p at the start.

  Returns:
    The Augmentation.
  """

  def update(state, real_scores, step):
    return update_state(
      state, real_scores, step, target=target, interval=interval, speed_images=speed_kimg * 1000
    )

  return Augmentation(
    apply=lambda state, images, key: augment(images, key, state["p"]),
    init=lambda: init_state(initial_p),
    update=update,
  )
