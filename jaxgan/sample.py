"""Samples from a trained run: python -m jaxgan.sample.

  python -m jaxgan.sample --workdir=runs/TOY_RUN --num_samples=2500 --output=samples.npy
  python -m jaxgan.sample --workdir=runs/TOY_RUN --num_samples=2500 --output=samples.png
  python -m jaxgan.sample --workdir=runs/CONDITIONAL_RUN --num_samples=64 --label=7 \
      --output=sevens.png
  python -m jaxgan.sample --workdir=runs/TEXT_RUN --caption="a bold three" --output=threes.png
  python -m jaxgan.sample --workdir=runs/IMAGE_RUN --num_samples=64 --truncation=0.7 \
      --output=grid.png
  python -m jaxgan.sample --workdir=runs/STYLE_RUN --psi=0.7 --output=psi.png
  python -m jaxgan.sample --workdir=runs/STYLE_RUN --mode=style_mixing --output=mix.png
  python -m jaxgan.sample --workdir=runs/STYLE_RUN --mode=interpolation --output=lerp.png

Loads the newest checkpoint of the workdir (whatever devices and processes
wrote it), rebuilds the generator from the workdir's config.json and draws
num_samples samples from --seed. The EMA generator is used when the run kept
one. --label=K asks a class-conditional generator for class K (default:
classes in turn); --caption=TEXT asks a text-conditioned generator (one whose
view has a prompt) for TEXT; --truncation=T draws the noise from a normal truncated to
[−T, T] (the truncation trick of Brock et al. 2019: less variety, higher fidelity).

Style-based generators (whose view has trainer.Styles) also take --psi=ψ,
the truncation in W toward
the run's average w̄ (w̄ + ψ(w − w̄), on the first --truncation_cutoff layers of
styles), and draw --mode=style_mixing (coarse / middle / fine styles of one seed
onto another, jaxgan.style_grids) and --mode=interpolation (lines in W) grids.

A .npy output holds the generator's raw outputs as float32 (N×2 for toy
data, N×H×W×C in [−1, 1] for images); a .png output is a scatter plot over
real data (toys) or a grid of the images.
"""

from __future__ import annotations

import math
import os

import jax
import numpy as np
from absl import flags

from jaxgan import cli, data, plots, runs, style_grids
from jaxgan.errors import ConfigError

flags.DEFINE_string("workdir", None, "The run's workdir (holds config.json and checkpoints/).")
flags.DEFINE_integer("num_samples", 2500, "How many samples to draw.")
flags.DEFINE_string("output", None, "Where to write them: a .npy or .png file.")
flags.DEFINE_integer("seed", 0, "Seed of the noise z.")
flags.DEFINE_integer("step", None, "Checkpoint step to load (default: the newest).")
flags.DEFINE_integer("label", None, "Class to generate (class-conditional runs only).")
flags.DEFINE_string("caption", None, "Text to draw (generators with a prompt only).")
flags.DEFINE_float("truncation", None, "Truncate the noise to [−T, T] (T > 0).")
flags.DEFINE_float("psi", None, "Style-based runs: truncation ψ in W toward w̄ (1: none).")
flags.DEFINE_integer("truncation_cutoff", None, "Style-based runs: truncate only this many ws.")
flags.DEFINE_enum(
  "mode",
  "samples",
  ["samples", "style_mixing", "interpolation"],
  "What to draw: samples; or, for style-based runs, a style-mixing or W-interpolation grid.",
)
FLAGS = flags.FLAGS

OUTPUT_KINDS = (".npy", ".png")


def write_samples(samples: np.ndarray, output: str, run: runs.Run, seed: int) -> None:
  """Writes samples as .npy (raw float32) or .png (a grid of images, or a scatter over the real
  data for the 2-D toys).

  Args:
    samples: [N, ...] generator outputs.
    output: the path, ending in .npy or .png.
    run: the restored run (its config.json for the titles, its model's data for the toys).
    seed: the seed of the real points drawn for the toy plot.
  """
  experiment = run.config.get("experiment", "jaxgan")
  if output.endswith(".npy"):
    np.save(output, samples)
    return
  if samples.ndim == 4:  # images: a grid, as square as the count allows
    columns = math.ceil(math.sqrt(len(samples)))
    rows = math.ceil(len(samples) / columns)
    padded = np.concatenate(
      [samples, np.full((rows * columns - len(samples), *samples.shape[1:]), 1.0, np.float32)]
    )
    grid = padded.reshape(rows, columns, *samples.shape[1:])
    title = f"{experiment} on {run.config.get('dataset')}: {len(samples)}"
    plots.save_image_grid(output, grid, title=title)
    return
  dataset = run.model.datasets().train
  if not isinstance(dataset, data.ToyDataset) or samples.shape[1:] != (2,):
    raise ConfigError(f"PNG output is for 2-D toy runs and images; write {output[:-4]}.npy")
  real = np.asarray(dataset.sample(jax.random.key(seed + 1), (len(samples),)))
  title = f"{experiment} on {dataset.name}: {len(samples)} samples"
  plots.save_toy_plot(output, real, samples, extent=dataset.extent, title=title)


def main(argv):
  del argv
  if not FLAGS.workdir:
    raise ConfigError("--workdir is required: the directory of a trained run")
  if not FLAGS.output or not FLAGS.output.endswith(OUTPUT_KINDS):
    raise ConfigError(f"--output must end in {' or '.join(OUTPUT_KINDS)}, got {FLAGS.output!r}")
  if FLAGS.num_samples < 1:
    raise ConfigError(f"--num_samples must be at least 1, got {FLAGS.num_samples}")
  if FLAGS.truncation is not None and FLAGS.truncation <= 0:
    raise ConfigError(f"--truncation must be positive, got {FLAGS.truncation}")
  out_dir = os.path.dirname(os.path.abspath(FLAGS.output))
  if not os.path.isdir(out_dir):
    raise ConfigError(f"cannot write {FLAGS.output}: directory {out_dir} does not exist")
  run = runs.restore(FLAGS.workdir, FLAGS.step)
  if FLAGS.mode != "samples" or FLAGS.psi is not None or FLAGS.truncation_cutoff is not None:
    draw_styles(
      run,
      FLAGS.mode,
      FLAGS.output,
      psi=1.0 if FLAGS.psi is None else FLAGS.psi,
      cutoff=FLAGS.truncation_cutoff,
      num_samples=FLAGS.num_samples,
      seed=FLAGS.seed,
    )
    return
  samples = runs.draw(
    run, FLAGS.num_samples, FLAGS.seed, FLAGS.label, FLAGS.truncation, FLAGS.caption
  )
  write_samples(samples, FLAGS.output, run, FLAGS.seed)
  print(f"wrote {len(samples)} samples of shape {samples.shape[1:]} to {FLAGS.output}")


def draw_styles(
  run: runs.Run,
  mode: str,
  output: str,
  *,
  psi: float,
  cutoff: int | None,
  num_samples: int,
  seed: int,
) -> None:
  """Truncated samples, or a style-mixing or interpolation grid, of a style-based run.

  Args:
    run: the restored run.
    mode: "samples", "style_mixing" or "interpolation".
    output: the .npy or .png to write (grids: .png).
    psi: truncation ψ in W.
    cutoff: truncate only the first this many ws (None: all).
    num_samples: how many samples ("samples" mode).
    seed: the seed of the latents.
  """
  styles = run.model.generator.styles if run.model.generator is not None else None
  if styles is None:
    raise ConfigError(
      "--psi, --truncation_cutoff and --mode=style_mixing|interpolation are for style-based "
      "generators (a generator view with trainer.Styles); this run's generator has no W space"
    )
  style_grids.check_cutoff(styles, cutoff)
  key = jax.random.key(seed)
  z_dim = run.model.generator.space.latent_dim
  experiment = run.config.get("experiment", "jaxgan")
  if mode == "samples":
    samples = style_grids.truncated_samples(styles, run.state, key, num_samples, z_dim, psi, cutoff)
    write_samples(samples, output, run, seed)
    print(f"wrote {len(samples)} samples (ψ = {psi}) to {output}")
    return
  if not output.endswith(".png"):
    raise ConfigError(f"--mode={mode} draws a picture: give --output a .png name")
  if mode == "style_mixing":
    grid, labels = style_grids.style_mixing_grid(styles, run.state, key, z_dim, psi=psi)
    title = f"{experiment}: style mixing (rows' styles onto columns), ψ = {psi}"
  else:
    grid = style_grids.interpolation_grid(styles, run.state, key, z_dim, psi=psi)
    labels, title = None, f"{experiment}: interpolation in W, ψ = {psi}"
  plots.save_image_grid(output, grid, row_labels=labels, title=title)
  print(f"wrote a {mode} grid of {grid.shape[0]}×{grid.shape[1]} images to {output}")


if __name__ == "__main__":
  cli.run(main)
