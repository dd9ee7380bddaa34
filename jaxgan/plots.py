"""Pictures of a run, written as PNG files (matplotlib, no display needed).

- `save_toy_plot`: real and generated 2-D samples over the contours of D.
- `save_loss_curves`: the losses and penalties of metrics.jsonl against step.
- `save_truncation_sweep`: the truncation trade-off (BigGAN Fig. 17).
- `save_population_curves`: a population's evaluation metrics, one line per member.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def _subplots(nrows: int = 1, ncols: int = 1, *, figsize, squeeze: bool = True):
  """A new Figure and its axes, like pyplot's subplots but outside pyplot: the figure is saved
  by its own Agg canvas, so no backend is chosen or changed (a notebook's inline plots stay)."""
  fig = Figure(figsize=figsize)
  return fig, fig.subplots(nrows, ncols, squeeze=squeeze)


def _save(fig, path: str) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + ".tmp.png"
  fig.savefig(tmp, dpi=110, bbox_inches="tight")
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

  Args:
    path: the PNG to write.
    real: real points [N, 2].
    fake: generated points [M, 2].
    extent: the plot shows [−extent, extent]².
    critic: D's values on a grid, or None for no contours.
    title: the title.
  """
  fig, ax = _subplots(figsize=(6.2, 5.4))
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


def save_code_scatter(
  path: str,
  codes: np.ndarray,
  labels: np.ndarray,
  prior: np.ndarray,
  *,
  extent: float,
  title: str = "",
) -> None:
  """An autoencoder's codes (the first two coordinates), coloured by class, over draws of
  the prior they are matched to (grey): the adversarial autoencoder's Fig. 2.

  Args:
    path: the PNG to write.
    codes: codes [N, d ≥ 2].
    labels: their classes [N].
    prior: prior draws [M, d].
    extent: the plot shows [−extent, extent]².
    title: the title.
  """
  fig, ax = _subplots(figsize=(6.4, 5.4))
  ax.scatter(prior[:, 0], prior[:, 1], s=3, c="0.8", linewidths=0, label="prior")
  cmap = matplotlib.colormaps["tab10"]
  for k in np.unique(labels):
    members = codes[labels == k]
    ax.scatter(
      members[:, 0], members[:, 1], s=6, color=cmap(int(k) % 10), label=str(k), linewidths=0
    )
  ax.set_xlim(-extent, extent)
  ax.set_ylim(-extent, extent)
  ax.set_aspect("equal")
  ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=3, fontsize=8, title="class")
  ax.set_title(title, fontsize=9)
  _save(fig, path)


LOSS_PANELS = (
  ("losses", ("d_loss", "g_loss")),
  ("D outputs", ("d_real", "d_fake")),
  ("gradient norms", ("d_grad_norm", "g_grad_norm")),
  ("adaptive augmentation (ADA): p and r_t", ("ada_p", "ada_rt")),
)


def save_loss_curves(path: str, records: Sequence[dict[str, Any]], penalty_names=()) -> None:
  """One panel per group of metrics (losses, D outputs, gradient norms, ADA's p, penalties;
  a lazy regularizer's "<name>_applied" flags are not drawn).

  records are metrics.jsonl's: the training records (with "d_loss") give the
  curves; evaluation records (with "eval_modes") add a mode-coverage panel.

  Args:
    path: the PNG to write.
    records: the run's metrics.jsonl records.
    penalty_names: the metrics drawn in the penalties' panel.
  """
  train_records = [r for r in records if "d_loss" in r]
  eval_records = [r for r in records if r.get("eval_modes") is not None]
  if not train_records:
    return
  panels = list(LOSS_PANELS)
  paneled = {name for _, names in LOSS_PANELS for name in names}
  penalty_names = tuple(n for n in penalty_names if n not in paneled)
  if penalty_names:
    panels.append(("penalties and reconstruction terms", tuple(penalty_names)))
  panels = [(title, _logged(names, train_records)) for title, names in panels]
  panels = [(title, names) for title, names in panels if names]
  rows = math.ceil((len(panels) + bool(eval_records)) / 2)
  fig, axes = _subplots(rows, 2, figsize=(11, 3.4 * rows), squeeze=False)
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


POPULATION_PANELS = 4  # metrics drawn by save_population_curves


def save_population_curves(
  path: str,
  records: Sequence[dict[str, Any]],
  num_members: int,
  labels: Sequence[str] | None = None,
) -> bool:
  """A population's evaluation metrics against step: one panel per metric (the first
  POPULATION_PANELS of member 0's that vary), one thin line per member and the members' mean
  in black.

  Args:
    path: the PNG to write.
    records: metrics.jsonl's records (evaluations hold "eval_memberI_NAME").
    num_members: the population's size.
    labels: each member's name in the legend (default "member I"); a legend is drawn for up
      to 8 members.

  Returns:
    Whether there was anything to draw (and the file was written).
  """
  prefix = "eval_member0_"
  evals = [r for r in records if any(k.startswith(prefix) for k in r)]
  names = [k[len(prefix) :] for k in evals[-1] if k.startswith(prefix)] if evals else []

  def varies(name):  # a constant (the sample count, the mixture's mode count) says nothing
    values = {r.get(f"eval_member{i}_{name}") for r in evals for i in range(num_members)}
    return len(values) > 1

  names = [n for n in names if n != "alive" and varies(n)][:POPULATION_PANELS]
  if not names:
    return False
  fig, axes = _subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
  steps = np.array([r["step"] for r in evals])
  for ax, name in zip(axes.flat, names, strict=True):
    curves = np.array(
      [[r.get(f"eval_member{i}_{name}", np.nan) for r in evals] for i in range(num_members)],
      dtype=np.float64,
    )
    for i, curve in enumerate(curves):
      label = (labels[i] if labels else f"member {i}") if num_members <= 8 else None
      ax.plot(steps, curve, lw=0.9, alpha=0.6, label=label)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
      warnings.simplefilter("ignore", RuntimeWarning)  # a step where no member has a value
      ax.plot(steps, np.nanmean(curves, axis=0), "k-", lw=2.2, label="mean")
    ax.set_title(f"{name} ({num_members} members)")
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))  # 5-digit steps stay apart
    ax.grid(alpha=0.3)
  axes.flat[0].legend(fontsize=7)
  fig.tight_layout()
  _save(fig, path)
  return True


def _logged(names: Sequence[str], records: Sequence[dict[str, Any]]) -> list[str]:
  """The names that the records hold, each followed by its per-player variants (d_real →
  d_real_a, d_real_b: CycleGAN's two discriminators)."""
  keys = sorted({k for r in records for k in r})
  out = []
  for name in names:
    out += [
      k
      for k in keys
      if k == name or k.startswith(name + "_") and k not in names and not k.endswith("_applied")
    ]
  return list(dict.fromkeys(out))


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


def stack_rows(rows: Sequence[np.ndarray]) -> np.ndarray:
  """Rows of images [N, H, W, C] stacked into one grid [rows, N, H, W, C]; grayscale rows
  repeated to RGB beside color ones (translations between a gray and a color domain)."""
  channels = max(r.shape[-1] for r in rows)
  return np.stack([np.repeat(r, channels // r.shape[-1], axis=-1) for r in rows])


def paired_rows(tops: np.ndarray, bottoms: np.ndarray, columns: int) -> np.ndarray:
  """Images over their counterparts (inputs over outputs), in full rows only.

  Args:
    tops: the upper images [N, H, W, C].
    bottoms: their counterparts, in the same order.
    columns: images to a row (at most N).

  Returns:
    A grid [2·rows, columns, H, W, C] for save_image_grid (channels as stack_rows makes them).
  """
  columns = min(len(tops), columns)
  rows = []
  for start in range(0, len(tops) - columns + 1, columns):
    rows += [tops[start : start + columns], bottoms[start : start + columns]]
  return stack_rows(rows)


def save_image_grid(
  path: str, grid: np.ndarray, *, row_labels: Sequence[str] | None = None, title: str = ""
) -> None:
  """A grid of images [rows, cols, H, W, C] (values in [−1, 1]), nearest-neighbour upscaled.

  Args:
    path: the PNG to write.
    grid: [rows, cols, H, W, C] in [−1, 1].
    row_labels: one label per row, or None.
    title: the title.
  """
  rows, cols = grid.shape[:2]
  canvas = tile_images(np.asarray(grid, np.float32))
  cell = 0.55 if grid.shape[2] <= 16 else 0.8
  fig, ax = _subplots(figsize=(max(cols * cell + 1.2, 4), rows * cell + 0.6))
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


# ---------------------------------------------------------------------------
# The dynamics lab (jaxgan.dynamics, experiments/dynamics.py).
# ---------------------------------------------------------------------------


def _title_panel(ax, title: str) -> None:
  ax.set_title(title, fontsize=10)
  ax.grid(alpha=0.3)


TRAJECTORY_COLORS = {
  "simultaneous": "tab:red",
  "alternating": "tab:orange",
  "extragradient": "tab:green",
  "optimistic": "tab:blue",
}


def save_trajectories(
  path: str, paths: dict[str, np.ndarray], *, field, labels=("θ", "φ"), title: str = ""
) -> None:
  """Iterates of 2-parameter updates over the gradient field's arrows; ★ the start.
  field: points [N, 2] → the vector field there [N, 2].

  Args:
    path: the PNG to write.
    paths: {update name: iterates [T, 2]}.
    field: points [N, 2] -> the vector field there [N, 2].
    labels: the axes' names.
    title: the title.
  """
  points = np.concatenate(list(paths.values()))
  extent = float(np.clip(np.abs(points).max() * 1.1, 1.5, 6.0))
  xs = np.linspace(-extent, extent, 17)
  grid = np.stack(np.meshgrid(xs, xs), axis=-1).reshape(-1, 2)
  arrows = np.asarray(field(grid))
  fig, ax = _subplots(figsize=(6, 6))
  ax.quiver(grid[:, 0], grid[:, 1], arrows[:, 0], arrows[:, 1], color="0.75", angles="xy")
  for name, trajectory in paths.items():
    ax.plot(
      trajectory[:, 0],
      trajectory[:, 1],
      lw=1.2,
      color=TRAJECTORY_COLORS.get(name),
      label=f"{name} ({np.linalg.norm(trajectory[-1]):.2f} from 0 at the end)",
    )
  first = next(iter(paths.values()))[0]
  ax.plot(*first[:2], "k*", ms=12)
  ax.plot(0, 0, "k+", ms=12)
  ax.set(xlim=(-extent, extent), ylim=(-extent, extent), xlabel=labels[0], ylabel=labels[1])
  ax.set_aspect("equal")
  ax.legend(loc="upper left", fontsize=8)
  _title_panel(ax, title)
  _save(fig, path)


def save_eigenvalues(
  path: str, eigenvalues: dict[str, np.ndarray], *, title: str = "", unit_circle: bool = True
) -> None:
  """Eigenvalues in the complex plane, with the unit circle (discrete updates) or the
  imaginary axis (continuous-time fields) that separates stable from unstable.

  Args:
    path: the PNG to write.
    eigenvalues: {name: complex eigenvalues}.
    title: the title.
    unit_circle: draw the unit circle (discrete updates), else the imaginary axis.
  """
  fig, ax = _subplots(figsize=(6, 6))
  if unit_circle:
    t = np.linspace(0, 2 * np.pi, 400)
    ax.plot(np.cos(t), np.sin(t), color="0.6", lw=1, label="unit circle")
  else:
    ax.axvline(0, color="0.6", lw=1, label="imaginary axis")
  markers = "oxsd^v<>"
  for i, (name, values) in enumerate(eigenvalues.items()):
    values = np.asarray(values, np.complex128)
    ax.plot(values.real, values.imag, markers[i % len(markers)], ms=9, mfc="none", label=name)
  ax.axhline(0, color="0.85", lw=0.8)
  ax.set(xlabel="real part", ylabel="imaginary part")
  ax.set_aspect("equal", adjustable="datalim")
  ax.legend(fontsize=8)
  _title_panel(ax, title)
  _save(fig, path)


def _normal_pdf(x, mean, std):
  return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))


def save_gaussian_fit_1d(path: str, fits: dict[str, Any], mean: float, std: float) -> None:
  """Goodfellow et al. 2014, Fig. 1: p_data, p_g and D(x) after training, one panel per D.

  Args:
    path: the PNG to write.
    fits: {name: dynamics.GaussianFit} of 1-D fits.
    mean: the data's mean.
    std: the data's standard deviation.
  """
  fig, axes = _subplots(1, len(fits), figsize=(5.5 * len(fits), 3.8), squeeze=False)
  x = np.linspace(mean - 4 * std - 1, mean + 4 * std + 1, 400)
  for ax, (name, fit) in zip(axes[0], fits.items(), strict=True):
    w, c = fit.discriminator
    features = np.stack([x, x**2], axis=1)[:, : len(w)]
    d = 1 / (1 + np.exp(-(features @ w + c)))
    g_std = max(abs(float(fit.scale[0, 0])), 1e-3)
    ax.plot(x, _normal_pdf(x, mean, std), "k--", label="p_data")
    ax.plot(x, _normal_pdf(x, float(fit.shift[0]), g_std), color="tab:green", label="p_g")
    ax.plot(x, d, color="tab:blue", label="D(x)")
    ax.set(xlabel="x", ylim=(0, max(1.05, 1.1 / (std * np.sqrt(2 * np.pi)))))
    ax.legend(fontsize=8)
    _title_panel(ax, f"{name}: variance error {fit.covariance_error:.2f}")
  _save(fig, path)


def _ellipse(mean, cov, n: int = 200) -> np.ndarray:
  """The 2σ contour of N(mean, cov)."""
  t = np.linspace(0, 2 * np.pi, n)
  values, vectors = np.linalg.eigh(np.asarray(cov, np.float64))
  circle = np.stack([np.cos(t), np.sin(t)], axis=1) * 2 * np.sqrt(np.clip(values, 0, None))
  return circle @ vectors.T + mean


def save_gaussian_fit_2d(path: str, fits: dict[str, Any], mean, cov) -> None:
  """Data vs generator 2σ ellipses per setting, and the covariance error during training.

  Args:
    path: the PNG to write.
    fits: {name: dynamics.GaussianFit} of 2-D fits.
    mean: the data's mean [2].
    cov: the data's covariance [2, 2].
  """
  fig, (left, right) = _subplots(1, 2, figsize=(12, 5))
  data = _ellipse(mean, cov)
  left.plot(data[:, 0], data[:, 1], "k--", lw=2, label="data")
  for name, fit in fits.items():
    g_cov = fit.scale @ fit.scale.T
    contour = _ellipse(fit.shift, g_cov)
    left.plot(contour[:, 0], contour[:, 1], lw=1.2, label=name)
    right.plot(fit.history[:, 0], fit.history[:, 2], lw=1.2, label=name)
  left.set_aspect("equal", adjustable="datalim")
  left.legend(fontsize=8)
  _title_panel(left, "2σ ellipses of the data and of G after training")
  right.set(xlabel="step", ylabel="‖AAᵀ − Σ‖_F / ‖Σ‖_F", yscale="log")
  right.legend(fontsize=8)
  _title_panel(right, "covariance error of G(z) = Az + b")
  _save(fig, path)


def save_truncation_sweep(path: str, rows: Sequence[dict[str, Any]], title: str = "") -> None:
  """The truncation trade-off, BigGAN Fig. 17 style, from one evaluation per threshold.

  Left: FID (and IS, right axis) against the threshold t; middle: IS against FID, each
  point labelled by t (the curve the paper draws); right: precision, recall and the
  judge's class accuracy against t. Untruncated noise (t None) is drawn at the right end,
  past the largest threshold, and labelled "none".

  Args:
    path: the PNG to write.
    rows: {"truncation": t or None, "fid": ..., "is": ..., "precision": ..., ...} each.
    title: the figure's title.
  """
  finite = [r["truncation"] for r in rows if r["truncation"] is not None]
  untruncated = (max(finite) if finite else 1.0) * 1.25
  order = sorted(rows, key=lambda r: r["truncation"] or untruncated)
  ts = [r["truncation"] or untruncated for r in order]
  labels = [f"{r['truncation']:g}" if r["truncation"] else "none" for r in order]

  def column(name):
    return [r.get(name, np.nan) for r in order]

  fig, axes = _subplots(1, 3, figsize=(16, 4.4))
  fig.subplots_adjust(wspace=0.45)
  ax = axes[0]
  ax.plot(ts, column("fid"), "o-", color="C0", label="FID")
  ax.set_ylabel("FID", color="C0")
  twin = ax.twinx()
  twin.plot(ts, column("is"), "s--", color="C1", label="IS")
  twin.set_ylabel("IS", color="C1")
  twin.ticklabel_format(axis="y", useOffset=False)
  ax.set_xticks(ts, labels)
  ax.set_xlabel("truncation threshold t")
  ax.set_title("FID and IS against truncation")
  ax.grid(alpha=0.3)
  ax = axes[1]
  ax.plot(column("fid"), column("is"), "o-", color="C2")
  for x, y, label in zip(column("fid"), column("is"), labels, strict=True):
    ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
  ax.set_xlabel("FID (lower is better)")
  ax.set_ylabel("IS (higher is better)")
  ax.ticklabel_format(axis="y", useOffset=False)
  ax.set_title("the trade-off (BigGAN Fig. 17)")
  ax.grid(alpha=0.3)
  ax = axes[2]
  for name, style in (("precision", "o-"), ("recall", "s-"), ("class_accuracy", "^-")):
    if any(name in r for r in order):
      ax.plot(ts, column(name), style, label=name.replace("_", " "))
  ax.set_xticks(ts, labels)
  ax.set_ylim(0, 1.02)
  ax.set_xlabel("truncation threshold t")
  ax.set_title("fidelity against variety")
  ax.grid(alpha=0.3)
  ax.legend()
  if title:
    fig.suptitle(title)
  _save(fig, path)


def save_attention_maps(
  path: str,
  images: np.ndarray,
  queries: Sequence[tuple[Sequence[tuple[int, int]], np.ndarray]],
  title: str = "",
) -> None:
  """One row per sample (SAGAN Fig. 1): the image with its query pixels marked, then each
  query's attention map over the image.

  Args:
    path: the PNG.
    images: [N, S, S, C] in [−1, 1].
    queries: per image, ([(row, col)] of the query pixels, maps [Q, S, S]): what
      jaxgan.attention_maps.query_maps gives.
    title: the figure's title.
  """
  n, q = images.shape[0], len(queries[0][0])
  fig, axes = _subplots(n, 1 + q, figsize=(2.2 * (1 + q), 2.2 * n), squeeze=False)
  colors = ("red", "lime", "cyan", "yellow", "magenta", "orange")
  for i in range(n):
    picture = np.clip((images[i] + 1) / 2, 0, 1)
    picture = picture[..., 0] if picture.shape[-1] == 1 else picture
    pixels, maps = queries[i]
    axes[i, 0].imshow(picture, cmap="gray", vmin=0, vmax=1)
    for j, (row, col) in enumerate(pixels):
      color = colors[j % len(colors)]
      axes[i, 0].plot(col, row, "o", color=color, markersize=6, markeredgecolor="black")
      axes[i, j + 1].imshow(picture, cmap="gray", vmin=0, vmax=1)
      axes[i, j + 1].imshow(maps[j], cmap="magma", alpha=0.65)
      axes[i, j + 1].plot(col, row, "o", color=color, markersize=6, markeredgecolor="black")
  for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
  axes[0, 0].set_title("sample, queries")
  for j in range(q):
    axes[0, j + 1].set_title(f"query {j + 1} attends to")
  if title:
    fig.suptitle(title)
  _save(fig, path)
