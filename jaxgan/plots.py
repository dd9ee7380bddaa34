"""Pictures of a run, written as PNG files (matplotlib, no display needed).

- `save_toy_plot`: real and generated 2-D samples over the contours of D.
- `save_loss_curves`: the losses and penalties of metrics.jsonl against step.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path: str) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + ".tmp.png"
  fig.savefig(tmp, dpi=110, bbox_inches="tight")
  plt.close(fig)
  os.replace(tmp, path)  # readers never see a half-written file


def save_toy_plot(
  path: str,
  real: np.ndarray,
  fake: np.ndarray,
  *,
  extent: float,
  critic: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
  title: str = "",
) -> None:
  """Real (grey) and generated (orange) points on D's contours.

  critic: (xs, ys, values) with values[i, j] = D((xs[j], ys[i])).
  """
  fig, ax = plt.subplots(figsize=(6.2, 5.4))
  if critic is not None:
    xs, ys, values = critic
    filled = ax.contourf(xs, ys, values, levels=30, cmap="RdBu_r", alpha=0.75)
    fig.colorbar(filled, ax=ax, label="D(x)")
  ax.scatter(real[:, 0], real[:, 1], s=3, c="0.25", alpha=0.5, label="real", linewidths=0)
  ax.scatter(fake[:, 0], fake[:, 1], s=3, c="#ff7f0e", alpha=0.7, label="generated", linewidths=0)
  ax.set_xlim(-extent, extent)
  ax.set_ylim(-extent, extent)
  ax.set_aspect("equal")
  ax.legend(loc="upper right", markerscale=4, framealpha=0.8)
  ax.set_title(title)
  _save(fig, path)


LOSS_PANELS = (
  ("losses", ("d_loss", "g_loss")),
  ("D outputs", ("d_real", "d_fake")),
  ("gradient norms", ("d_grad_norm", "g_grad_norm")),
)


def save_loss_curves(path: str, records: Sequence[dict[str, Any]], penalty_names=()) -> None:
  """One panel per group of metrics (losses, D outputs, gradient norms, penalties).

  records are metrics.jsonl's: the training records (with "d_loss") give the
  curves; evaluation records (with "eval_modes") add a mode-coverage panel.
  """
  train_records = [r for r in records if "d_loss" in r]
  eval_records = [r for r in records if r.get("eval_modes") is not None]
  if not train_records:
    return
  panels = list(LOSS_PANELS)
  if penalty_names:
    panels.append(("penalties", tuple(penalty_names)))
  rows = math.ceil((len(panels) + bool(eval_records)) / 2)
  fig, axes = plt.subplots(rows, 2, figsize=(11, 3.4 * rows), squeeze=False)
  steps = np.array([r["step"] for r in train_records])
  for ax, (title, names) in zip(axes.flat, panels, strict=False):
    for name in names:
      values = np.array([r.get(name, np.nan) for r in train_records], dtype=np.float64)
      ax.plot(steps, values, label=name)
    _finish_panel(ax, title)
  if eval_records:
    _coverage_panel(axes.flat[len(panels)], eval_records)
  for ax in list(axes.flat)[len(panels) + bool(eval_records) :]:
    ax.axis("off")
  fig.tight_layout()
  _save(fig, path)


def _finish_panel(ax, title: str) -> None:
  ax.set_title(title)
  ax.set_xlabel("step")
  ax.grid(alpha=0.3)
  ax.legend()


def _coverage_panel(ax, eval_records: Sequence[dict[str, Any]]) -> None:
  """Modes captured (left axis) and % high-quality samples (right axis) against step."""
  steps = [r["step"] for r in eval_records]
  num_modes = eval_records[-1]["eval_num_modes"]
  ax.plot(steps, [r["eval_modes"] for r in eval_records], "o-", label="modes captured")
  ax.set_ylim(0, num_modes + 0.5)
  ax.legend(loc="center right")
  quality = ax.twinx()
  quality.plot(
    steps,
    [100 * r["eval_high_quality"] for r in eval_records],
    "s--",
    color="#ff7f0e",
    label="% high quality",
  )
  quality.set_ylim(0, 100)
  quality.legend(loc="lower right")
  ax.set_title(f"mode coverage (of {num_modes})")
  ax.set_xlabel("step")
  ax.grid(alpha=0.3)


def tile_images(grid: np.ndarray, pad: int = 1) -> np.ndarray:
  """[rows, cols, H, W, C] in [−1, 1] → one [rows·(H + pad), cols·(W + pad), C] image in [0, 1]."""
  rows, cols, h, w, c = grid.shape
  canvas = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.float32)
  for r in range(rows):
    for k in range(cols):
      top, left = pad + r * (h + pad), pad + k * (w + pad)
      canvas[top : top + h, left : left + w] = (np.clip(grid[r, k], -1, 1) + 1) / 2
  return canvas


def save_image_grid(
  path: str, grid: np.ndarray, *, row_labels: Sequence[str] | None = None, title: str = ""
) -> None:
  """A grid of images [rows, cols, H, W, C] (values in [−1, 1]), nearest-neighbour upscaled."""
  rows, cols = grid.shape[:2]
  canvas = tile_images(np.asarray(grid, np.float32))
  cell = 0.55 if grid.shape[2] <= 16 else 0.8
  fig, ax = plt.subplots(figsize=(max(cols * cell + 1.2, 4), rows * cell + 0.6))
  if canvas.shape[-1] == 1:
    ax.imshow(canvas[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
  else:
    ax.imshow(canvas, interpolation="nearest")
  ax.set_xticks([])
  if row_labels:
    h = grid.shape[2] + 1
    ax.set_yticks([1 + h * r + h / 2 for r in range(rows)], row_labels, fontsize=7)
  else:
    ax.set_yticks([])
  ax.set_title(title, fontsize=8)
  _save(fig, path)
