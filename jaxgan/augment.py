"""Differentiable augmentation of D's inputs: DiffAugment (Zhao et al. 2020).

    augment = diff_augment("color,translation,cutout")    # a function (images, key) -> images
    spec = GANSpec(..., augment=augment)                  # applied to every input of D

"Differentiable Augmentation for Data-Efficient GAN Training" (Zhao, Liu,
Lin, Zhu & Han, NeurIPS 2020): D sees T(x) and T(G(z)) for random
transformations T drawn afresh for every example and every pass, in D's
update and in G's, so D cannot memorize a small training set, and G's
gradient flows through T (every T here is differentiable in its input). The
policies and their ranges are the authors' (DiffAugment_pytorch.py):

- color: brightness x + b, b ~ U[−0.5, 0.5); saturation (x − x̄_c)·s + x̄_c with
  x̄_c the mean over channels, s ~ U[0, 2); contrast (x − x̄)·c + x̄ with x̄ the
  image's mean, c ~ U[0.5, 1.5). In that order.
- translation: an integer shift of up to ⌊H/8 + ½⌋ rows and ⌊W/8 + ½⌋ columns
  each way, the uncovered border filled with zeros (mid-grey in [−1, 1]).
- cutout: a zero square of ⌊H/2 + ½⌋ × ⌊W/2 + ½⌋ pixels at a random center,
  clipped at the image's border.

Images are NHWC in [−1, 1]. Each operation takes its random draws as
arguments (so it can be checked against a numpy computation); the `random_*`
functions draw them as the authors do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxgan.errors import ConfigError

Array = jax.Array
Augment = Callable[[Array, Array], Array]  # (images, key) -> augmented images


class Augmentation(NamedTuple):
  """An augmentation of D's inputs with its own state, for GANSpec.augment (ADA: jaxgan.ada).

  apply(state, images, key) -> images; init() -> the state at step 0 (kept in
  GANState.augment_state and the checkpoint); update(state, real_scores, step) -> (state,
  metrics), after each step's D update, from D's scores of the augmented reals.
  A plain Augment (DiffAugment) is the stateless case.
  """

  apply: Callable[[Any, Array, Array], Array]
  init: Callable[[], Any]
  update: Callable[[Any, Array, Array], tuple[Any, dict[str, Array]]]


def brightness(x: Array, shift: Array) -> Array:
  """x + b per example; shift [B]."""
  return x + shift[:, None, None, None]


def saturation(x: Array, factor: Array) -> Array:
  """(x − mean over channels)·s + that mean, per pixel; factor [B]."""
  mean = jnp.mean(x, axis=-1, keepdims=True)
  return (x - mean) * factor[:, None, None, None] + mean


def contrast(x: Array, factor: Array) -> Array:
  """(x − the image's mean)·c + that mean; factor [B]."""
  mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  return (x - mean) * factor[:, None, None, None] + mean


def _shifted_rows(x: Array, shift: Array) -> Array:
  """out[b, i] = x[b, i + shift[b]] where that row exists, else 0 (along axis 1)."""
  rows = jnp.arange(x.shape[1])[None, :] + shift[:, None]  # [B, H]
  inside = (rows >= 0) & (rows < x.shape[1])
  gathered = jnp.take_along_axis(x, jnp.clip(rows, 0, x.shape[1] - 1)[:, :, None, None], axis=1)
  return jnp.where(inside[:, :, None, None], gathered, 0.0)


def translation(x: Array, shift_rows: Array, shift_columns: Array) -> Array:
  """out[b, i, j] = x[b, i + shift_rows[b], j + shift_columns[b]], zeros where that is outside
  the image (the authors' zero padding); shifts [B] integers.

  Args:
    x: images [B, H, W, C].
    shift_rows: rows to shift by, per example [B].
    shift_columns: columns to shift by, per example [B].

  Returns:
    The shifted images.
  """
  shifted = _shifted_rows(x, shift_rows)
  return jnp.swapaxes(_shifted_rows(jnp.swapaxes(shifted, 1, 2), shift_columns), 1, 2)


def cutout(x: Array, center_rows: Array, center_columns: Array, size: tuple[int, int]) -> Array:
  """x with a size[0] × size[1] square of zeros whose rows run from center − size//2, clipped
  to the image (the authors' clamped grid); centers [B] integers.

  Args:
    x: images [B, H, W, C].
    center_rows: the square's center row, per example [B].
    center_columns: its center column, per example [B].
    size: the square's (rows, columns).

  Returns:
    The images with the square set to 0.
  """
  first_row = center_rows - size[0] // 2
  first_column = center_columns - size[1] // 2
  rows = jnp.arange(x.shape[1])[None, :]
  columns = jnp.arange(x.shape[2])[None, :]
  in_rows = (rows >= first_row[:, None]) & (rows < first_row[:, None] + size[0])
  in_columns = (columns >= first_column[:, None]) & (columns < first_column[:, None] + size[1])
  inside = in_rows[:, :, None] & in_columns[:, None, :]  # [B, H, W]
  return x * (1.0 - inside[..., None].astype(x.dtype))


def translation_range(height: int, width: int, ratio: float = 0.125) -> tuple[int, int]:
  """The largest shift each way: int(H·ratio + 0.5), int(W·ratio + 0.5).

  Args:
    height: H.
    width: W.
    ratio: the largest shift as a fraction of the side (the paper's 1/8).

  Returns:
    (largest row shift, largest column shift).
  """
  return int(height * ratio + 0.5), int(width * ratio + 0.5)


def cutout_size(height: int, width: int, ratio: float = 0.5) -> tuple[int, int]:
  """The square's sides: int(H·ratio + 0.5), int(W·ratio + 0.5).

  Args:
    height: H.
    width: W.
    ratio: the square's side as a fraction of the image's (the paper's 1/2).

  Returns:
    (rows, columns).
  """
  return int(height * ratio + 0.5), int(width * ratio + 0.5)


def random_color(x: Array, key: Array) -> Array:
  """Brightness, saturation and contrast with the authors' ranges, each drawn per example."""
  b_key, s_key, c_key = jax.random.split(key, 3)
  batch = (x.shape[0],)
  x = brightness(x, jax.random.uniform(b_key, batch, x.dtype) - 0.5)
  x = saturation(x, jax.random.uniform(s_key, batch, x.dtype) * 2.0)
  return contrast(x, jax.random.uniform(c_key, batch, x.dtype) + 0.5)


def random_translation(x: Array, key: Array, ratio: float = 0.125) -> Array:
  """A shift per example, uniform over the integers in [−range, range] each way.

  Args:
    x: images [B, H, W, C].
    key: the key of the shifts.
    ratio: the largest shift as a fraction of the side.

  Returns:
    The shifted images.
  """
  row_key, column_key = jax.random.split(key)
  max_rows, max_columns = translation_range(x.shape[1], x.shape[2], ratio)
  shift_rows = jax.random.randint(row_key, (x.shape[0],), -max_rows, max_rows + 1)
  shift_columns = jax.random.randint(column_key, (x.shape[0],), -max_columns, max_columns + 1)
  return translation(x, shift_rows, shift_columns)


def random_cutout(x: Array, key: Array, ratio: float = 0.5) -> Array:
  """A square per example, its center uniform over [0, H + 1 − size % 2) (the authors').

  Args:
    x: images [B, H, W, C].
    key: the key of the centers.
    ratio: the square's side as a fraction of the image's.

  Returns:
    The images with their squares cut out.
  """
  row_key, column_key = jax.random.split(key)
  size = cutout_size(x.shape[1], x.shape[2], ratio)
  rows = jax.random.randint(row_key, (x.shape[0],), 0, x.shape[1] + (1 - size[0] % 2))
  columns = jax.random.randint(column_key, (x.shape[0],), 0, x.shape[2] + (1 - size[1] % 2))
  return cutout(x, rows, columns, size)


POLICIES: dict[str, Callable[[Array, Array], Array]] = {
  "color": random_color,
  "translation": random_translation,
  "cutout": random_cutout,
}


ADAPTIVE = "ada"  # --augment=ada: jaxgan.ada, on its own


def parse_policy(policy: str | Sequence[str]) -> tuple[str, ...]:
  """The policy's names ("color,translation,cutout", "ada", or a sequence), or a one-line
  ConfigError naming an unknown one."""
  names = tuple(n.strip() for n in policy.split(",")) if isinstance(policy, str) else tuple(policy)
  names = tuple(n for n in names if n)
  unknown = [n for n in names if n not in POLICIES and n != ADAPTIVE]
  if unknown:
    raise ConfigError(
      f"unknown augmentation {unknown[0]!r}: choose from {', '.join(POLICIES)} (DiffAugment) "
      f"or {ADAPTIVE} alone (--augment)"
    )
  if ADAPTIVE in names and len(names) > 1:
    raise ConfigError(f"--augment={ADAPTIVE} is adaptive augmentation on its own: drop {names}")
  return names


def diff_augment(policy: str | Sequence[str] = "color,translation,cutout") -> Augment:
  """DiffAugment with the given policies, in the given order, as augment(images, key).

  Args:
    policy: comma-separated names from POLICIES (the paper's default: all three).

  Returns:
    augment(images [B, H, W, C], key) -> images of the same shape; each policy gets its own
    key, and every draw is per example.
  """
  names = parse_policy(policy)
  if not names:
    raise ConfigError(
      "an empty augmentation policy: name at least one of color, translation, cutout"
    )

  def augment(x: Array, key: Array) -> Array:
    if x.ndim != 4:
      raise ConfigError(f"DiffAugment is for images [B, H, W, C], got shape {tuple(x.shape)}")
    for name, name_key in zip(names, jax.random.split(key, len(names)), strict=True):
      x = POLICIES[name](x, name_key)
    return x

  return augment
