"""How an adversarial autoencoder's code is looked at (jaxgan.kinds.aae): the trained networks
as numpy functions of the state (Views), and the Evaluator "latent": the held-out codes
against the prior by the kernel two-sample test (jaxgan.metrics.mmd_two_sample_test), the
semi-supervised classification error, the supervised decoder's reconstructions from the true
labels; the 2-D code scatter coloured by class, the decoder's manifold over a 2-D code, and the
style × class grid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import evaluators, metrics, parallel, plots, trainer
from jaxgan.kinds import autoencoding


@dataclasses.dataclass(frozen=True)
class Views:
  """A run's networks as numpy functions of its state dict: encode(state, images) → (z,
  q(y|x) or None); decode(state, z, classes) → images; generator (from the prior's noise)."""

  encode: Callable[[Any, np.ndarray], tuple[np.ndarray, np.ndarray | None]]
  decode: Callable[[Any, np.ndarray, np.ndarray | None], np.ndarray]
  generator: trainer.Generator


# ---------------------------------------------------------------------------
# The latent evaluator: the codes against the prior, the classifier, the pictures.
# ---------------------------------------------------------------------------

SCATTER_POINTS = 2000  # prior draws behind the held-out codes
MANIFOLD_SIDE = 16  # the decoder's manifold: a 16 × 16 grid over the 2-D code
STYLE_ROWS = 8  # the style × class grid: held-out styles, each decoded as every class


def latent_evaluator(spec, view: Views, test, settings: evaluators.EvalSettings):
  """The Evaluator "latent" on held-out images: the kernel two-sample test of their codes
  against as many prior draws (MMD², p-value), the semi-supervised classification error,
  the supervised variant's reconstruction quality (its decoder given the true labels); and
  latent_STEP.png (codes coloured by class over prior draws), manifold_STEP.png (a 2-D
  code's decoder on a grid) or styles_STEP.png (held-out styles decoded as each class).

  Args:
    spec: the adversarial autoencoder.
    view: its Views.
    test: the held-out ImageDataset.
    settings: the evaluation's key and sample count.

  Returns:
    The Evaluator.
  """
  n = min(settings.num_samples, len(test.source))
  images, labels = test.examples(np.arange(n))
  guide = jnp.asarray(labels) if spec.prior_labels else None
  prior_draws = np.asarray(spec.prior.sample(settings.key, n, guide))
  background = np.asarray(spec.prior.sample(jax.random.fold_in(settings.key, 1), SCATTER_POINTS))

  def one_hot(classes):
    return np.eye(spec.num_classes, dtype=np.float32)[classes]

  def run(state) -> dict[str, Any]:
    z, probabilities = view.encode(state, images)
    test_result = metrics.mmd_two_sample_test(z, prior_draws)
    results: dict[str, Any] = {
      "held_out_images": n,
      "mmd2": test_result.mmd2,
      "mmd_p_value": test_result.p_value,
    }
    parts = [
      f"codes against the {spec.prior.name} prior: MMD² {test_result.mmd2:.4f} "
      f"(p = {test_result.p_value:.3f})"
    ]
    if probabilities is not None:
      error = float(np.mean(np.argmax(probabilities, axis=1) != labels))
      results["classification_error"] = error
      parts.append(f"classification error {100 * error:.2f}%")
    if spec.variant == "supervised":
      quality = autoencoding.image_quality(images, view.decode(state, z, one_hot(labels)))
      results.update(quality)
      parts.append(
        f"L1 {quality['l1']:.4f}, PSNR {quality['psnr']:.2f} dB, SSIM {quality['ssim']:.3f}"
      )
    return {"summary": f"{n} held-out images: " + "; ".join(parts), **results}

  def draw(workdir, state, step):
    z, _ = view.encode(state, images)
    paths = [evaluators.plot_path(workdir, "latent", step)]
    title = f"{test.name}: held-out codes, {spec.prior.name} prior, step {step}"
    grid, name = None, None
    if spec.variant == "unsupervised" and spec.prior.latent_dim == 2:
      grid, name = manifold(view, state, spec.prior.extent), "manifold"
    elif spec.labeled_decoder:
      styles = z[:STYLE_ROWS]
      decoded = [
        view.decode(state, styles, np.repeat(one_hot([k]), len(styles), 0))
        for k in range(spec.num_classes)
      ]
      grid, name = np.stack([images[:STYLE_ROWS], *decoded], axis=1), "styles"
    if grid is not None:
      paths.append(evaluators.plot_path(workdir, name, step))
    if parallel.is_primary():
      plots.save_code_scatter(
        paths[0], z, labels, background, extent=spec.prior.extent, title=title
      )
      if name == "manifold":
        plots.save_image_grid(
          paths[1], grid, title=f"the decoder on a grid of 2-D codes, step {step}"
        )
      elif name == "styles":
        plots.save_image_grid(
          paths[1],
          grid,
          title=f"a held-out image, then its style as classes 0-{spec.num_classes - 1}",
        )
    return paths

  return evaluators.Evaluator("latent", run, draw)


def manifold(view: Views, state, extent: float, side: int = MANIFOLD_SIDE) -> np.ndarray:
  """The decoder on a side × side grid of 2-D codes over ±0.7·extent.

  Args:
    view: the run's Views.
    state: its state dict.
    extent: the prior's plotting extent.
    side: codes along each axis.

  Returns:
    Images [side, side, H, W, C], rows from the highest second coordinate down.
  """
  coordinates = np.linspace(-0.7 * extent, 0.7 * extent, side, dtype=np.float32)
  xs, ys = np.meshgrid(coordinates, coordinates[::-1])
  decoded = view.decode(state, np.stack([xs.ravel(), ys.ravel()], axis=1))
  return decoded.reshape(side, side, *decoded.shape[1:])
