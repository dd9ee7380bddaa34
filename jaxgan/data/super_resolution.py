"""Super-resolution data: high-resolution images, random HR crops for training, whole images
held out; the low-resolution inputs are made from them by bicubic down-sampling in the step.

    train, test = load_sr_datasets("photos")     # the colour photos that ship, offline
    stream = CropStream(train, crop=96, batch_size=16, seed=0)
    batch = stream.batch_at(step)                # {"hr": [1, 16, 96, 96, 3]} in [−1, 1]
    lr = downsample(batch["hr"][0], 4)           # [16, 24, 24, 3], bicubic

- photos: the colour photographs scikit-image and scikit-learn ship (jaxgan.data.photos):
  random crops of its training photos; its held-out photos whole.
- sr:NAME: any TFDS image dataset (its "train" split for crops, its "test" split held out),
  or sr:folder with --data_dir=DIR (DIR/train and DIR/test of image files).

`downsample` is bicubic with antialiasing (jax.image.resize), which equals PIL's
Image.resize(..., BICUBIC) on float images (tested to 1e-6): the LR images of the SR papers'
Python pipelines, made on the device. Crops are flipped and rotated by 90° at random (the
ESRGAN authors' augmentation); crop positions come from (seed, step), so a resumed run reads
the same batches.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from jaxgan import parallel
from jaxgan.data import images as image_data
from jaxgan.data import pairs
from jaxgan.data.photos import HRImages, photos
from jaxgan.errors import ConfigError

Array = jax.Array
SCALES = (2, 4)


def _source_images(source, name: str, limit: int) -> HRImages:
  count = min(len(source), limit)
  images = [source.read(np.array([i]))[0][0] for i in range(count)]
  return HRImages(name, tuple(np.asarray(image, np.uint8) for image in images))


def load_sr_datasets(
  name: str, data_dir: str | None = None, limit: int = 100_000
) -> tuple[HRImages, HRImages]:
  """(training, held-out) HR images of --dataset.

  Args:
    name: photos, sr:folder (with data_dir) or sr:TFDS_NAME.
    data_dir: the folder (DIR/train, DIR/test) or where TFDS datasets are prepared.
    limit: at most this many images of a split are read.

  Returns:
    (train, test).
  """
  if name == "photos":
    return photos("train"), photos("test")
  if not name.startswith("sr:"):
    raise ConfigError(f"unknown dataset {name!r}: use photos, sr:folder or sr:TFDS_NAME")
  source_name = name[3:]
  if source_name == "folder":
    if not data_dir:
      raise ConfigError("--dataset=sr:folder needs --data_dir=DIR with DIR/train and DIR/test")
    splits = [
      pairs.FolderSource(pairs.image_files(os.path.join(data_dir, s))) for s in ("train", "test")
    ]
  else:
    splits = [image_data.tfds_source(source_name, s, data_dir) for s in ("train", "test")]
  train, test = splits
  return _source_images(train, f"{name}:train", limit), _source_images(test, f"{name}:test", limit)


def downsample(images: Array, scale: int) -> Array:
  """Bicubic down-sampling by `scale` with antialiasing (PIL's BICUBIC): [B, H, W, C] →
  [B, H/scale, W/scale, C]."""
  b, h, w, c = images.shape
  return jax.image.resize(images, (b, h // scale, w // scale, c), "bicubic", antialias=True)


def upsample_bicubic(images: Array, scale: int) -> Array:
  """The bicubic baseline: [B, h, w, C] → [B, h·scale, w·scale, C]."""
  b, h, w, c = images.shape
  return jax.image.resize(images, (b, h * scale, w * scale, c), "bicubic")


def check_crop(crop: int, scale: int, dataset: HRImages) -> None:
  """A one-line ConfigError when the HR crop cannot make an LR image of the scale, or when
  an image of the dataset is smaller than the crop.

  Args:
    crop: the HR crop size (--crop).
    scale: the up-sampling factor (--scale).
    dataset: the training HR images.
  """
  if scale not in SCALES:
    raise ConfigError(f"--scale must be 2 or 4 (the papers'), got {scale}")
  if crop % scale or crop // scale < 4:
    raise ConfigError(
      f"--crop={crop} must be a multiple of --scale={scale} giving LR crops of 4 pixels or more"
    )
  small = [i for i, image in enumerate(dataset.images) if min(image.shape[:2]) < crop]
  if small:
    shape = dataset.images[small[0]].shape[:2]
    raise ConfigError(
      f"{dataset.name} image {small[0]} is {shape[0]}×{shape[1]}, smaller than --crop={crop}"
    )


def random_crops(dataset: HRImages, crop: int, count: int, rng: np.random.Generator) -> np.ndarray:
  """count random crop × crop patches (an image chosen in proportion to its area, a uniform
  position, then a random flip and 90° rotation), in [−1, 1].

  Args:
    dataset: the HR images.
    crop: the patch size.
    count: how many.
    rng: the numpy generator of the draws.

  Returns:
    float32 [count, crop, crop, C].
  """
  areas = np.array([image.shape[0] * image.shape[1] for image in dataset.images], np.float64)
  chosen = rng.choice(len(areas), size=count, p=areas / areas.sum())
  patches = []
  for i in chosen:
    image = dataset.images[i]
    top = rng.integers(0, image.shape[0] - crop + 1)
    left = rng.integers(0, image.shape[1] - crop + 1)
    patch = image[top : top + crop, left : left + crop]
    if rng.random() < 0.5:
      patch = patch[:, ::-1]
    patches.append(np.rot90(patch, rng.integers(0, 4)))
  return image_data.to_model_range(np.stack(patches))


class CropStream(image_data.StepStream):
  """Training batches {"hr": [1, B, crop, crop, C]} of random HR crops, by step."""

  def __init__(self, dataset: HRImages, crop: int, batch_size: int, seed: int, mesh=None):
    self.dataset, self.crop, self.batch_size, self.seed, self.mesh = (
      dataset,
      crop,
      batch_size,
      seed,
      mesh,
    )

  def local_batch_at(self, step: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([self.seed, step])
    crops = random_crops(self.dataset, self.crop, self.batch_size, rng)
    if self.mesh is not None:
      crops = crops[parallel.process_rows(self.batch_size)]
    return {"hr": crops[None]}
