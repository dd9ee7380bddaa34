"""Translations by a trained image-to-image run: python -m jaxgan.translate.

  python -m jaxgan.translate --workdir=runs/pix2pix_digits_edges --output=translations.png
  python -m jaxgan.translate --workdir=runs/cyclegan_digits_edges_unpaired --direction=b_to_a \
      --output=drawings.npy
  python -m jaxgan.translate --workdir=runs/pix2pix_facades --input=my_labels/ --output=out.png
  python -m jaxgan.translate --workdir=runs/srgan_photos --input=photo.jpg --output=photo_x4.png
  python -m jaxgan.translate --workdir=runs/inpaint_digits --input=my_digits/ --mask=hole.png \
      --output=filled.png

Loads the newest checkpoint (or --step), rebuilds the run's translators from
the workdir's config.json (pix2pix, CycleGAN, whatever kind trained it) and
translates --input: a folder of images (center cropped and resized to the
run's size), a .npy array [N, H, W, C] in [−1, 1], or by default the first
--num_images test images of the run's own dataset.
Each kind samples as its paper does (pix2pix: dropout on, BatchNorm on the
batch's statistics, --seed picks the dropout; CycleGAN: eval mode).
A .npy output holds the translations as float32 in [−1, 1]; a .png output
shows inputs over their translations.

A run whose translator takes images of any size (super-resolution: its Model has no
image_size) translates each --input image (a file, or every image of a folder) at its own
size and writes each output whole: --output=FILE.png for one file, --output=FOLDER for a
folder (same file names, as PNG). Outputs are written to a temporary name and renamed, so a
file that does not decode, or a full disk, leaves no partial output behind.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from absl import flags
from PIL import Image

from jaxgan import cli, plots, runs, trainer
from jaxgan.data import images as image_data
from jaxgan.data import pairs
from jaxgan.errors import ConfigError

flags.DEFINE_string("workdir", None, "The run's workdir (holds config.json and checkpoints/).")
flags.DEFINE_string("input", None, "A folder of images or a .npy; default: the run's test images.")
flags.DEFINE_string("output", None, "Where to write the translations: a .npy or .png file.")
flags.DEFINE_enum(
  "direction", "a_to_b", ["a_to_b", "b_to_a"], "b_to_a: the run's B → A (CycleGAN's F)."
)
flags.DEFINE_integer("num_images", 16, "Test images translated when --input is not given.")
flags.DEFINE_string(
  "mask", None, "An inpainting run's hole: an image file of the run's size, white in the hole."
)
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


def read_image_file(path: str) -> np.ndarray:
  """An image file as RGB float32 [H, W, 3] in [−1, 1], or a one-line ConfigError."""
  try:
    with Image.open(path) as file:
      image = np.asarray(file.convert("RGB"))
  except OSError as e:
    raise ConfigError(f"cannot read image {path!r} ({e}): give a jpg, png or bmp file") from None
  return image_data.to_model_range(image)


def write_image_file(path: str, image: np.ndarray) -> None:
  """[H, W, C] in [−1, 1] → a PNG at path, written to a temporary name, then renamed."""
  pixels = image_data.to_uint8(image)
  temporary = path + ".partial.png"
  try:
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(temporary)
    os.replace(temporary, path)
  finally:
    if os.path.exists(temporary):
      os.remove(temporary)


def translate_files(translate: trainer.Translate, state, source: str, output: str, key) -> list:
  """Each image of source (a file, or a folder's images) translated at its own size and
  written whole (see the module docstring).

  Args:
    translate: the run's translator.
    state: its state dict.
    source: --input.
    output: --output: a .png for a file, a folder for a folder.
    key: the translator's noise key.

  Returns:
    The paths written.
  """
  if os.path.isdir(source):
    inputs = list(pairs.image_files(source))
    if not inputs:
      raise ConfigError(f"no images (jpg, png, bmp) in {source}")
    if output.endswith((".png", ".npy")):
      raise ConfigError(f"--input={source} is a folder: --output must be a folder too")
    targets = [
      os.path.join(output, os.path.splitext(os.path.basename(p))[0] + ".png") for p in inputs
    ]
  elif os.path.isfile(source):
    if not output.endswith(".png"):
      raise ConfigError(f"--output must end in .png for one image file, got {output!r}")
    inputs, targets = [source], [output]
  else:
    raise ConfigError(f"--input={source} is neither an image file nor a folder")
  images = [read_image_file(p) for p in inputs]  # all decoded before anything is written
  if os.path.isdir(source):
    os.makedirs(output, exist_ok=True)
  for image, target in zip(images, targets, strict=True):
    write_image_file(target, np.asarray(translate(state, image[None], key))[0])
  return targets


def read_mask(path: str, size: int) -> np.ndarray:
  """A hole mask file as float32 [size, size, 1], 1 where the file is brighter than mid-gray;
  a one-line ConfigError when it does not decode or is not size × size."""
  try:
    with Image.open(path) as file:
      mask = np.asarray(file.convert("L"))
  except OSError as e:
    raise ConfigError(f"cannot read mask {path!r} ({e}): give a png of the hole, white") from None
  if mask.shape != (size, size):
    relation = "larger than" if max(mask.shape) > size else "not the size of"
    raise ConfigError(
      f"--mask is {mask.shape[0]}×{mask.shape[1]}, {relation} the run's {size}×{size} images"
    )
  return (mask > 127).astype(np.float32)[..., None]


def main(argv):
  del argv
  if not FLAGS.workdir:
    raise ConfigError("--workdir is required: the directory of a trained image-to-image run")
  if not FLAGS.output:
    raise ConfigError("--output is required: a .npy or .png file (a folder for any-size runs)")
  run = runs.restore(FLAGS.workdir, FLAGS.step)
  translate = translator_of(run, FLAGS.direction)
  if run.model.image_size is None:  # any size: each image whole
    if not FLAGS.input:
      raise ConfigError("this run translates images of any size: pass --input=FILE or FOLDER")
    written = translate_files(
      translate, run.state, FLAGS.input, FLAGS.output, jax.random.key(FLAGS.seed)
    )
    print(f"wrote {len(written)} image(s): {', '.join(written)}")
    return
  if not FLAGS.output.endswith((".npy", ".png")):
    raise ConfigError(f"--output must end in .npy or .png, got {FLAGS.output!r}")
  inputs = read_inputs(FLAGS.input, run, FLAGS.direction, FLAGS.num_images)
  if FLAGS.mask:  # the hole as one more channel (jaxgan.kinds.inpaint's translator)
    hole = read_mask(FLAGS.mask, run.model.image_size)
    inputs = np.concatenate([inputs, np.broadcast_to(hole, (*inputs.shape[:3], 1))], axis=-1)
  outputs = np.asarray(translate(run.state, inputs, jax.random.key(FLAGS.seed)), np.float32)
  config = run.config
  if FLAGS.output.endswith(".npy"):
    np.save(FLAGS.output, outputs)
  else:
    shown = inputs
    if FLAGS.mask:  # the hole drawn gray in the inputs
      shown = inputs[..., :-1] * (1 - inputs[..., -1:])
    grid = plots.paired_rows(shown, outputs, 8)
    title = f"{config.get('experiment')} on {config.get('dataset')}: inputs over translations"
    plots.save_image_grid(FLAGS.output, grid, title=title)
  print(f"wrote {len(outputs)} translations of shape {outputs.shape[1:]} to {FLAGS.output}")


if __name__ == "__main__":
  cli.run(main)
