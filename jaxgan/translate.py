"""Translations by a trained image-to-image run: python -m jaxgan.translate.

  python -m jaxgan.translate --workdir=runs/pix2pix_digits_edges --output=translations.png
  python -m jaxgan.translate --workdir=runs/cyclegan_digits_edges_unpaired --direction=b_to_a \
      --output=drawings.npy
  python -m jaxgan.translate --workdir=runs/pix2pix_facades --input=my_labels/ --output=out.png

Loads the newest checkpoint (or --step), rebuilds the run's translators from
the workdir's config.json (pix2pix, CycleGAN, whatever kind trained it) and
translates --input: a folder of images (center cropped and resized to the
run's size), a .npy array [N, H, W, C] in [−1, 1], or by default the first
--num_images test images of the run's own dataset.
Each kind samples as its paper does (pix2pix: dropout on, BatchNorm on the
batch's statistics, --seed picks the dropout; CycleGAN: eval mode).
A .npy output holds the translations as float32 in [−1, 1]; a .png output
shows inputs over their translations.
"""

from __future__ import annotations

import jax
import numpy as np
from absl import flags

from jaxgan import cli, plots, runs, trainer
from jaxgan.data import pairs
from jaxgan.errors import ConfigError

flags.DEFINE_string("workdir", None, "The run's workdir (holds config.json and checkpoints/).")
flags.DEFINE_string("input", None, "A folder of images or a .npy; default: the run's test images.")
flags.DEFINE_string("output", None, "Where to write the translations: a .npy or .png file.")
flags.DEFINE_enum(
  "direction", "a_to_b", ["a_to_b", "b_to_a"], "b_to_a: the run's B → A (CycleGAN's F)."
)
flags.DEFINE_integer("num_images", 16, "Test images translated when --input is not given.")
flags.DEFINE_integer("seed", 0, "Seed of the translators' noise (pix2pix's dropout).")
flags.DEFINE_integer("step", None, "Checkpoint step to load (default: the newest).")
FLAGS = flags.FLAGS


def translator_of(run: runs.Run, direction: str) -> trainer.Translate:
  """The run's translator in `direction`, or a one-line error for a run that has none."""
  translators = run.model.translators
  if not translators:
    raise ConfigError(
      "this run draws from noise and translates nothing: use python -m jaxgan.sample"
    )
  if direction not in translators:
    raise ConfigError(
      f"this run translates {', '.join(translators)} only: leave --direction at a_to_b"
    )
  return translators[direction]


def read_inputs(path: str | None, run: runs.Run, direction: str, count: int) -> np.ndarray:
  """Images to translate, in [−1, 1] at the run's size, with the channels its translator takes.

  Args:
    path: a folder of images (center cropped and resized), a .npy [N, H, W, C], or None for
      the run's own test images (an image-to-image run's domain, an autoencoder's held-out
      images).
    run: the restored run.
    direction: "a_to_b" or "b_to_a".
    count: test images when path is None.

  Returns:
    float32 [N, H, W, C].
  """
  config, size = run.config, run.model.image_size
  channels = config.get("channels", [config["image_shape"][2]] * 2)
  wanted = channels[0] if direction == "a_to_b" else channels[1]
  if path is None:
    test = run.model.datasets().test
    if not hasattr(test, "domain_a"):  # an autoencoder's held-out images: served at its size
      return test.examples(np.arange(min(count, len(test.source))))[0]
    domain = test.domain_a if direction == "a_to_b" else test.domain_b
    images = domain.examples(np.arange(min(count, len(domain.source))))[0]
    return np.stack([pairs.jitter(image, size, None, False) for image in images])  # center
  return pairs.read_user_images(path, size, wanted)


def main(argv):
  del argv
  if not FLAGS.workdir:
    raise ConfigError("--workdir is required: the directory of a trained image-to-image run")
  if not FLAGS.output or not FLAGS.output.endswith((".npy", ".png")):
    raise ConfigError(f"--output must end in .npy or .png, got {FLAGS.output!r}")
  run = runs.restore(FLAGS.workdir, FLAGS.step)
  translate = translator_of(run, FLAGS.direction)
  inputs = read_inputs(FLAGS.input, run, FLAGS.direction, FLAGS.num_images)
  outputs = np.asarray(translate(run.state, inputs, jax.random.key(FLAGS.seed)), np.float32)
  config = run.config
  if FLAGS.output.endswith(".npy"):
    np.save(FLAGS.output, outputs)
  else:
    grid = plots.paired_rows(inputs, outputs, 8)
    title = f"{config.get('experiment')} on {config.get('dataset')}: inputs over translations"
    plots.save_image_grid(FLAGS.output, grid, title=title)
  print(f"wrote {len(outputs)} translations of shape {outputs.shape[1:]} to {FLAGS.output}")


if __name__ == "__main__":
  cli.run(main)
