"""Holes for image completion, drawn on the device: rectangles (Iizuka et al. 2017) and free-form
brush strokes (Yu et al. 2019, "Free-Form Image Inpainting with Gated Convolution", Alg. 1),
and the operations on them.

    masks = rectangle_masks(key, n, size)          # [n, S, S, 1]: 1 in the hole, 0 elsewhere
    x_in = masked_input(x, masks, fill)            # the hole set to the fill value, mask appended
    x_out = composite(x, completed, masks)         # known pixels kept exactly, the hole completed
    corners = patch_corners(masks, patch)          # a patch × patch window holding each hole
    patches = crop_patches(x_out, corners, patch)  # for the local discriminator

Rectangles: each side uniform in [min_side, max_side] pixels (the paper: 96–128 of 256, here
3/8–1/2 of the side by default), anywhere inside the image. Free-form: `strokes` strokes, each
a polyline of `vertices` random steps (angles uniform, lengths up to S/4) of brush width
S/8–S/4; a pixel is in the hole when it lies within half a width of a segment.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array
MASK_KINDS = ("rectangle", "free_form")


def rectangle_masks(key: Array, n: int, size: int, sides: tuple[int, int] | None = None) -> Array:
  """n rectangular holes [n, S, S, 1] (see the module docstring).

  Args:
    key: the key of the draws.
    n: how many.
    size: the image side S.
    sides: (min_side, max_side) in pixels; default (3S/8, S/2).

  Returns:
    float32 masks, 1 in the hole.
  """
  low, high = sides or (max(1, 3 * size // 8), max(1, size // 2))
  h_key, w_key, top_key, left_key = jax.random.split(key, 4)
  heights = jax.random.randint(h_key, (n,), low, high + 1)
  widths = jax.random.randint(w_key, (n,), low, high + 1)
  tops = jax.random.randint(top_key, (n,), 0, size - heights + 1)
  lefts = jax.random.randint(left_key, (n,), 0, size - widths + 1)
  rows = jnp.arange(size)[None, :, None]
  cols = jnp.arange(size)[None, None, :]
  inside = (
    (rows >= tops[:, None, None])
    & (rows < (tops + heights)[:, None, None])
    & (cols >= lefts[:, None, None])
    & (cols < (lefts + widths)[:, None, None])
  )
  return inside[..., None].astype(jnp.float32)


def free_form_masks(key: Array, n: int, size: int, strokes: int = 3, vertices: int = 4) -> Array:
  """n free-form holes [n, S, S, 1] of brush strokes (see the module docstring).

  Args:
    key: the key of the draws.
    n: how many.
    size: the image side S.
    strokes: strokes per mask.
    vertices: steps per stroke.

  Returns:
    float32 masks, 1 in the hole.
  """
  start_key, angle_key, length_key, width_key = jax.random.split(key, 4)
  starts = jax.random.uniform(start_key, (n, strokes, 1, 2), minval=0, maxval=size)
  angles = jax.random.uniform(angle_key, (n, strokes, vertices, 1), maxval=2 * jnp.pi)
  lengths = jax.random.uniform(length_key, (n, strokes, vertices, 1), maxval=size / 4)
  steps = lengths * jnp.concatenate([jnp.cos(angles), jnp.sin(angles)], -1)
  points = jnp.clip(jnp.concatenate([starts, starts + jnp.cumsum(steps, 2)], 2), 0, size - 1)
  half_widths = jax.random.uniform(width_key, (n, strokes, 1), minval=size / 16, maxval=size / 8)
  a, b = points[:, :, :-1], points[:, :, 1:]  # segments [n, strokes, vertices, 2]
  grid = jnp.stack(jnp.meshgrid(jnp.arange(size), jnp.arange(size), indexing="ij"), -1)
  p = grid.reshape(1, 1, 1, size * size, 2).astype(jnp.float32)
  ab = (b - a)[..., None, :]
  t = jnp.clip(jnp.sum((p - a[..., None, :]) * ab, -1) / (jnp.sum(ab**2, -1) + 1e-9), 0, 1)
  nearest = a[..., None, :] + t[..., None] * ab
  distance = jnp.linalg.norm(p - nearest, axis=-1)  # [n, strokes, vertices, S²]
  inside = jnp.any(distance <= half_widths[..., None], axis=(1, 2))
  return inside.reshape(n, size, size, 1).astype(jnp.float32)


def draw_masks(kind: str, key: Array, n: int, size: int) -> Array:
  """n holes of a kind.

  Args:
    kind: "rectangle" or "free_form".
    key: the key of the draws.
    n: how many.
    size: the image side.

  Returns:
    float32 masks [n, S, S, 1], 1 in the hole.
  """
  return rectangle_masks(key, n, size) if kind == "rectangle" else free_form_masks(key, n, size)


def masked_input(images: Array, masks: Array, fill: Array) -> Array:
  """The completion network's input.

  Args:
    images: [B, S, S, C].
    masks: [B, S, S, 1], 1 in the hole.
    fill: the hole's value per channel [C] (the mean pixel).

  Returns:
    [images with the hole set to fill, masks] [B, S, S, C + 1].
  """
  return jnp.concatenate([images * (1 - masks) + fill * masks, masks], axis=-1)


def composite(images: Array, completed: Array, masks: Array) -> Array:
  """The known pixels of images, the completed ones in the hole.

  Args:
    images: the originals [B, S, S, C].
    completed: the network's outputs.
    masks: [B, S, S, 1], 1 in the hole.

  Returns:
    (1 − M)⊙images + M⊙completed, exactly images outside the hole.
  """
  return jnp.where(masks > 0, completed, images)


def patch_corners(masks: Array, patch: int) -> Array:
  """The top-left corners [B, 2] of a patch × patch window centred on each hole's bounding box,
  moved inside the image (a hole larger than the patch keeps its centre)."""
  size = masks.shape[1]
  rows, cols = jnp.any(masks[..., 0] > 0, axis=2), jnp.any(masks[..., 0] > 0, axis=1)
  index = jnp.arange(size)

  def centre(present):
    first = jnp.min(jnp.where(present, index, size), axis=1)
    last = jnp.max(jnp.where(present, index, -1), axis=1)
    return jnp.where(last >= first, (first + last + 1) // 2, size // 2)

  corners = jnp.stack([centre(rows), centre(cols)], -1) - patch // 2
  return jnp.clip(corners, 0, size - patch)


def crop_patches(images: Array, corners: Array, patch: int) -> Array:
  """Windows of images.

  Args:
    images: [B, S, S, C].
    corners: top-left corners [B, 2].
    patch: the window side.

  Returns:
    [B, patch, patch, C].
  """

  def crop(image, corner):
    return jax.lax.dynamic_slice(image, (corner[0], corner[1], 0), (patch, patch, image.shape[-1]))

  return jax.vmap(crop)(images, corners)
