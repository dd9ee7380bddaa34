"""The colour photographs that scikit-image and scikit-learn ship (no download): training
photos and held-out ones, whole, or as a set of fixed square crops.

    train = photos("train")                    # HRImages: 8 photos, 400×600 to 1411×1411
    test = photos("test")                      # astronaut, chelsea the cat, the China temple
    crops = photo_crops("train", 64, 2000)     # an ImageDataset of 2,000 random 64×64 crops

The held-out three play the roles of Set5/Set14's images: a face, fur, fine architecture.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np
from PIL import Image

from jaxgan.data import images as image_data

TRAIN_PHOTOS = (
  "skimage:coffee.png",
  "skimage:rocket.jpg",
  "skimage:motorcycle_left.png",
  "skimage:motorcycle_right.png",
  "skimage:hubble_deep_field.jpg",
  "skimage:ihc.png",
  "skimage:retina.jpg",
  "sklearn:flower.jpg",
)
TEST_PHOTOS = ("skimage:astronaut.png", "skimage:chelsea.png", "sklearn:china.jpg")


@dataclasses.dataclass(frozen=True)
class HRImages:
  """High-resolution images of any sizes, uint8 [H, W, 3] each, and where they came from."""

  name: str
  images: tuple[np.ndarray, ...]

  @property
  def channels(self) -> int:
    return self.images[0].shape[-1]


def load_photo(name: str) -> np.ndarray:
  """A shipped photo ("skimage:FILE" or "sklearn:FILE", read from the package's data folder)
  as uint8 [H, W, 3]."""
  library, photo = name.split(":")
  if library == "skimage":
    import skimage.data as package
  else:
    import sklearn.datasets.images as package
  path = os.path.join(os.path.dirname(package.__file__), photo)
  with Image.open(path) as file:
    return np.asarray(file.convert("RGB"), np.uint8)


@functools.cache
def photos(split: str) -> HRImages:
  """The shipped photos of a split: "train" (TRAIN_PHOTOS) or "test" (TEST_PHOTOS)."""
  names = TRAIN_PHOTOS if split == "train" else TEST_PHOTOS
  return HRImages(f"photos:{split}", tuple(load_photo(n) for n in names))


def photo_crops(split: str, size: int, count: int, seed: int = 0) -> image_data.ImageDataset:
  """count fixed random size × size crops of a split's photos (an image chosen in proportion
  to its area, a uniform position), as an ImageDataset ("photos", no classes).

  Args:
    split: "train" or "test".
    size: the crop side.
    count: how many crops.
    seed: the seed of the positions.

  Returns:
    The ImageDataset.
  """
  images = photos(split).images
  rng = np.random.default_rng([seed, size, 0 if split == "train" else 1])
  areas = np.array([image.shape[0] * image.shape[1] for image in images], np.float64)
  crops = []
  for i in rng.choice(len(images), size=count, p=areas / areas.sum()):
    image = images[i]
    top = rng.integers(0, image.shape[0] - size + 1)
    left = rng.integers(0, image.shape[1] - size + 1)
    crops.append(image[top : top + size, left : left + size])
  source = image_data.ArraySource(np.stack(crops), np.zeros(count, np.int32))
  return image_data.ImageDataset("photos", source, size, 3, 0)
