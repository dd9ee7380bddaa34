"""The code grids of images under a trained VQGAN (an image tokenizer): python -m jaxgan.tokenize.

  python -m jaxgan.tokenize --workdir=runs/vqgan_digits --output=codes.npy
  python -m jaxgan.tokenize --workdir=runs/vqgan_digits --input=my_images/ --output=codes.npy \\
      --reconstructions=reconstructed.png

Loads the newest checkpoint (or --step) of a run whose kind has a discrete bottleneck (its
Model's "codes" translator), reads --input (a folder of images, center cropped and resized to
the run's size; a .npy [N, H, W, C] in [−1, 1]; by default the run's first --num_images
held-out images) and writes their integer code grids [N, h, w] (int32) to --output, and with
--reconstructions a PNG of the images over their reconstructions from those codes.
"""

from __future__ import annotations

import jax
import numpy as np
from absl import flags

from jaxgan import cli, plots, runs
from jaxgan.data import pairs
from jaxgan.errors import ConfigError

flags.DEFINE_string("workdir", None, "The run's workdir (holds config.json and checkpoints/).")
flags.DEFINE_string("input", None, "A folder of images or a .npy; default: held-out images.")
flags.DEFINE_string("output", None, "Where the code grids go (.npy, int32 [N, h, w]).")
flags.DEFINE_string("reconstructions", None, "Also draw the images over their reconstructions.")
flags.DEFINE_integer("num_images", 64, "Held-out images tokenized when --input is not given.")
flags.DEFINE_integer("step", None, "Checkpoint step to load (default: the newest).")
FLAGS = flags.FLAGS


def read_images(path: str | None, run: runs.Run, count: int) -> np.ndarray:
  """Images in [−1, 1] at the run's size and channels.

  Args:
    path: a folder of images, a .npy [N, H, W, C], or None for the run's held-out images.
    run: the restored run.
    count: held-out images when path is None.

  Returns:
    float32 [N, H, W, C].
  """
  size, channels = run.model.image_size, run.config["image_shape"][2]
  if path is None:
    data = run.model.datasets()
    test = data.test if data.test is not None else data.train
    return test.examples(np.arange(min(count, len(test.source))))[0]
  return pairs.read_user_images(path, size, channels)


def main(argv):
  del argv
  if not FLAGS.workdir:
    raise ConfigError("--workdir is required: the directory of a trained VQGAN run")
  if not FLAGS.output or not FLAGS.output.endswith(".npy"):
    raise ConfigError(f"--output must end in .npy, got {FLAGS.output!r}")
  run = runs.restore(FLAGS.workdir, FLAGS.step)
  if "codes" not in run.model.translators:
    raise ConfigError(
      f"this run ({run.config.get('kind')}) has no codebook to tokenize with: train a VQGAN "
      "(experiments/vqgan.py)"
    )
  images = read_images(FLAGS.input, run, FLAGS.num_images)
  key = jax.random.key(0)
  codes = np.asarray(run.model.translators["codes"](run.state, images, key), np.int32)
  np.save(FLAGS.output, codes)
  print(f"wrote {len(codes)} code grids of shape {codes.shape[1:]} to {FLAGS.output}")
  if FLAGS.reconstructions:
    outputs = run.model.translators["a_to_b"](run.state, images, key)
    title = f"{run.config.get('dataset')}: images over their reconstructions from the codes"
    plots.save_image_grid(FLAGS.reconstructions, plots.paired_rows(images, outputs, 8), title=title)
    print(f"wrote the reconstructions to {FLAGS.reconstructions}")


if __name__ == "__main__":
  cli.run(main)
