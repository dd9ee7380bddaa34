"""The pictures of a style-based generator: truncation in W, style-mixing grids, interpolation.

    styles = run.model.generator.styles              # trainer.Styles of a StyleGAN2 run
    images = truncated_samples(styles, state, key, 16, psi=0.7)
    grid, labels = style_mixing_grid(styles, state, key, columns=5, rows_per_range=2)
    grid = interpolation_grid(styles, state, key, rows=4, steps=8)
    plots.save_image_grid("mix.png", grid, row_labels=labels)

Style mixing (Karras et al. 2019, Fig. 3): each column's image takes one range of its styles,
the coarse (the lowest resolutions: pose, shape), middle or fine ones (the highest: colour,
texture), from the row's source image. The ranges split the ws into thirds. Interpolation
is linear in W, between the ws of two random latents, the path StyleGAN makes smooth (§4).
Used by `python -m jaxgan.sample --mode=...`.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxgan.errors import ConfigError
from jaxgan.trainer import Styles

RANGE_NAMES = ("coarse", "middle", "fine")


def style_ranges(num_ws: int) -> dict[str, tuple[int, int]]:
  """The coarse, middle and fine layers of styles: [start, stop) of three near-equal thirds
  (4 + 4 + rest of StyleGAN's 18 at 1024² is the paper's split; thirds keep it for every size)."""
  edges = np.linspace(0, num_ws, 4).round().astype(int)
  return {name: (int(edges[i]), int(edges[i + 1])) for i, name in enumerate(RANGE_NAMES)}


def check_cutoff(styles: Styles, cutoff: int | None) -> None:
  """A ConfigError for a truncation cutoff beyond the generator's layers of styles."""
  if cutoff is not None and not 0 <= cutoff <= styles.num_ws:
    raise ConfigError(
      f"--truncation_cutoff={cutoff} is beyond the generator's {styles.num_ws} layers of "
      f"styles: choose 0 to {styles.num_ws}"
    )


def _latents(key, n: int, z_dim: int) -> np.ndarray:
  return np.asarray(jax.random.normal(key, (n, z_dim)))


def truncated_samples(
  styles: Styles, state, key, n: int, z_dim: int, psi: float = 1.0, cutoff: int | None = None
) -> np.ndarray:
  """n images from z ~ N(0, I), with the ws truncated toward w̄: w̄ + ψ(w − w̄).

  Args:
    styles: the generator's halves.
    state: the run's state dict.
    key: the key of z.
    n: how many.
    z_dim: the dimension of z.
    psi: ψ (1: none, 0: every image is G(w̄)).
    cutoff: truncate only the first `cutoff` ws (None: all).

  Returns:
    [n, H, W, C] images.
  """
  check_cutoff(styles, cutoff)
  return styles.synthesis(state, styles.mapping(state, _latents(key, n, z_dim), psi, cutoff))


def style_mixing_grid(
  styles: Styles,
  state,
  key,
  z_dim: int,
  columns: int = 5,
  rows_per_range: int = 2,
  psi: float = 1.0,
) -> tuple[np.ndarray, list[str]]:
  """StyleGAN's Fig. 3: the columns' images with one range of styles from the rows' sources.

  Row 0: a blank cell, then the column images. Then for each range (coarse, middle, fine)
  rows_per_range rows: the row's source image, then every column image with that range of
  its ws replaced by the source's.

  Args:
    styles: the generator's halves.
    state: the run's state dict.
    key: the key of the latents.
    z_dim: the dimension of z.
    columns: how many column images.
    rows_per_range: how many sources per range.
    psi: truncation ψ of every ws.

  Returns:
    (grid [rows, 1 + columns, H, W, C], one label per row).
  """
  column_key, row_key = jax.random.split(key)
  column_ws = styles.mapping(state, _latents(column_key, columns, z_dim), psi, None)
  ranges = style_ranges(styles.num_ws)
  row_ws = styles.mapping(state, _latents(row_key, 3 * rows_per_range, z_dim), psi, None)
  column_images = styles.synthesis(state, column_ws)
  row_images = styles.synthesis(state, row_ws)
  blank = np.ones_like(column_images[:1])
  grid, labels = [np.concatenate([blank, column_images])], ["columns"]
  for r, (name, (start, stop)) in enumerate(ranges.items()):
    for i in range(rows_per_range):
      source = r * rows_per_range + i
      mixed = column_ws.copy()
      mixed[:, start:stop] = row_ws[source, start:stop]
      grid.append(np.concatenate([row_images[source : source + 1], styles.synthesis(state, mixed)]))
      labels.append(f"{name} {start}-{stop - 1}")
  return np.stack(grid), labels


def interpolation_grid(
  styles: Styles, state, key, z_dim: int, rows: int = 4, steps: int = 8, psi: float = 1.0
) -> np.ndarray:
  """Rows of images along straight lines in W between two random latents' ws.

  Args:
    styles: the generator's halves.
    state: the run's state dict.
    key: the key of the latents.
    z_dim: the dimension of z.
    rows: how many lines.
    steps: images per line, both ends included.
    psi: truncation ψ of the ends.

  Returns:
    [rows, steps, H, W, C].
  """
  ends = styles.mapping(state, _latents(key, 2 * rows, z_dim), psi, None)
  start, stop = ends[:rows], ends[rows:]
  t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None, None]
  ws = start[:, None] + t * (stop - start)[:, None]  # [rows, steps, num_ws, w_dim]
  images = styles.synthesis(state, ws.reshape(rows * steps, *ws.shape[2:]))
  return images.reshape(rows, steps, *images.shape[1:])
