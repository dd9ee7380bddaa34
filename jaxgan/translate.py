"""Translations by a trained pix2pix or CycleGAN run: python -m jaxgan.translate.

  python -m jaxgan.translate --workdir=runs/pix2pix_digits_edges --output=translations.png
  python -m jaxgan.translate --workdir=runs/cyclegan_digits_edges_unpaired --direction=b_to_a \
      --output=drawings.npy
  python -m jaxgan.translate --workdir=runs/pix2pix_facades --input=my_labels/ --output=out.png

Loads the newest checkpoint (or --step), rebuilds the generator from the
workdir's config.json and translates --input: a folder of images (center
cropped and resized to the run's size), a .npy array [N, H, W, C] in [−1, 1],
or by default the first --num_images test images of the run's own dataset.
pix2pix samples as in the paper (dropout on, BatchNorm on the batch's
statistics; --seed picks the dropout); CycleGAN's generators in eval mode.
A .npy output holds the translations as float32 in [−1, 1]; a .png output
shows inputs over their translations.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from absl import flags

from jaxgan import cli, models, plots
from jaxgan.checkpoint import Checkpointer
from jaxgan.data import images as image_data
from jaxgan.data import pairs
from jaxgan.errors import ConfigError
from jaxgan.runs import read_run_config

flags.DEFINE_string("workdir", None, "The run's workdir (holds config.json and checkpoints/).")
flags.DEFINE_string("input", None, "A folder of images or a .npy; default: the run's test images.")
flags.DEFINE_string("output", None, "Where to write the translations: a .npy or .png file.")
flags.DEFINE_enum("direction", "a_to_b", ["a_to_b", "b_to_a"], "b_to_a: CycleGAN's F.")
flags.DEFINE_integer("num_images", 16, "Test images translated when --input is not given.")
flags.DEFINE_integer("seed", 0, "Seed of pix2pix's dropout.")
flags.DEFINE_integer("step", None, "Checkpoint step to load (default: the newest).")
FLAGS = flags.FLAGS


def load_translator(workdir: str, direction: str = "a_to_b", step: int | None = None):
  """(module, params, model_state, config, is_pix2pix) of a translation run's generator."""
  config = read_run_config(workdir)
  is_pix2pix = config.get("experiment") == "pix2pix"
  if "generator_ab" not in config and not is_pix2pix:
    raise ConfigError(f"{workdir} is not a pix2pix or CycleGAN run: use python -m jaxgan.sample")
  if is_pix2pix and direction != "a_to_b":
    raise ConfigError("a pix2pix run translates one way: leave --direction at a_to_b")
  name = (
    "generator" if is_pix2pix else {"a_to_b": "generator_ab", "b_to_a": "generator_ba"}[direction]
  )
  checkpoints = Checkpointer(os.path.join(workdir, "checkpoints"), async_save=False)
  try:
    state, _ = checkpoints.restore_raw(step)
  finally:
    checkpoints.close()
  player = state["generator"] if is_pix2pix else state["generators"]
  params, model_state = player["params"], player["model_state"]
  if not is_pix2pix:
    params, model_state = params[direction], model_state[direction]
  return models.build(config[name]), params, model_state, config, is_pix2pix


def read_inputs(path: str | None, config: dict, direction: str, count: int) -> np.ndarray:
  """Images in [−1, 1] at the run's size, with the channels its generator takes."""
  size = config["image_shape"][0]
  channels = config.get("channels", [config["image_shape"][2]] * 2)
  wanted = channels[0] if direction == "a_to_b" else channels[1]
  if path is None:
    flags_used = config.get("flags", {})
    test = pairs.load_translation_dataset(
      config["dataset"], size, split="test", data_dir=flags_used.get("data_dir")
    )
    if flags_used.get("direction") == "BtoA":
      test = test.swapped()
    domain = test.domain_a if direction == "a_to_b" else test.domain_b
    images = domain.examples(np.arange(min(count, len(domain.source))))[0]
  elif path.endswith(".npy"):
    images = np.asarray(np.load(path), np.float32)
    if images.ndim != 4 or images.shape[1:3] != (size, size):
      raise ConfigError(f"{path} holds {images.shape}: expected [N, {size}, {size}, C] in [−1, 1]")
  elif os.path.isdir(path):
    files = pairs.image_files(path)
    if not files:
      raise ConfigError(f"no images (jpg, png, bmp) in {path}")
    folder = image_data.ImageDataset("input", pairs.FolderSource(files), size, 3, 0)
    images = folder.examples(np.arange(len(files)))[0]  # center-cropped square, resized
  else:
    raise ConfigError(f"--input={path}: give a folder of images or a .npy file")
  if images.shape[-1] != wanted:  # gray ↔ color
    images = images.mean(-1, keepdims=True) if wanted == 1 else np.repeat(images, wanted, -1)
  return images


def main(argv):
  del argv
  if not FLAGS.workdir:
    raise ConfigError("--workdir is required: the directory of a trained pix2pix or CycleGAN run")
  if not FLAGS.output or not FLAGS.output.endswith((".npy", ".png")):
    raise ConfigError(f"--output must end in .npy or .png, got {FLAGS.output!r}")
  from jaxgan import translation

  module, params, model_state, config, is_pix2pix = load_translator(
    FLAGS.workdir, FLAGS.direction, FLAGS.step
  )
  inputs = read_inputs(FLAGS.input, config, FLAGS.direction, FLAGS.num_images)
  translate = jax.jit(
    lambda x, key: translation.apply_translator(module, params, model_state, x, key, is_pix2pix)[0]
  )
  outputs = np.asarray(translate(inputs, jax.random.key(FLAGS.seed)), np.float32)
  if FLAGS.output.endswith(".npy"):
    np.save(FLAGS.output, outputs)
  else:
    columns = min(len(inputs), 8)
    rows = []
    for start in range(0, len(inputs) - columns + 1, columns):
      rows += [inputs[start : start + columns], outputs[start : start + columns]]
    grid = plots.stack_rows(rows)
    title = f"{config.get('experiment')} on {config.get('dataset')}: inputs over translations"
    plots.save_image_grid(FLAGS.output, grid, title=title)
  print(f"wrote {len(outputs)} translations of shape {outputs.shape[1:]} to {FLAGS.output}")


if __name__ == "__main__":
  cli.run(main)
