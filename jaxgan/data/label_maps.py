"""Label maps and their photos from a folder, for semantic image synthesis (SPADE) on real data.

    train, test = load_map_folder("~/data/ADEChallengeData2016", image_size=256, num_classes=151)
    stream = MapFolderStream(train, batch_size=8, seed=0)  # {"map": [1,B,S,S], "x": [1,B,S,S,3]}

A label map is a PNG whose pixel values are class indices. Three layouts are read:

- jaxgan's: DIR/{train,test}/images/NAME.(jpg|png) beside DIR/{train,test}/labels/NAME.png;
- ADE20K's (ADEChallengeData2016): DIR/images/{training,validation}/NAME.jpg beside
  DIR/annotations/{training,validation}/NAME.png (0 = "other", 1–150: --num_classes=151, as
  SPADE's label_nc 150 plus its don't-care label);
- Cityscapes': DIR/leftImg8bit/{train,val}/CITY/X_leftImg8bit.png beside
  DIR/gtFine/{train,val}/CITY/X_gtFine_labelIds.png (ids 0–33: --num_classes=35, SPADE's).

Images are resized to S × S bilinearly, maps by nearest neighbour (classes never blend). The
authors keep Cityscapes' 2:1 aspect (512×256) where this makes squares.
"""

from __future__ import annotations

import dataclasses
import glob
import os

import numpy as np
from PIL import Image

from jaxgan import parallel
from jaxgan.data import images as image_data
from jaxgan.errors import ConfigError

LAYOUTS = (
  # (images, labels, label suffix replacing the image's) per split name
  ("{split}/images", "{split}/labels", None),
  ("images/{ade_split}", "annotations/{ade_split}", None),
  ("leftImg8bit/{city_split}", "gtFine/{city_split}", ("_leftImg8bit", "_gtFine_labelIds")),
)
SPLIT_NAMES = {"train": ("train", "training", "train"), "test": ("test", "validation", "val")}


@dataclasses.dataclass(frozen=True)
class MapFolder:
  """(image file, label file) pairs of one split, served at image_size."""

  name: str
  pairs: tuple[tuple[str, str], ...]
  image_size: int
  num_classes: int
  channels: int = 3

  def read(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(images float32 [N, S, S, 3] in [−1, 1], maps int32 [N, S, S]) of the given rows."""
    images, maps = [], []
    for row in rows:
      image_path, label_path = self.pairs[int(row)]
      images.append(self._read(image_path, "RGB", Image.BILINEAR))
      maps.append(self._read(label_path, "L", Image.NEAREST))
    label_maps = np.stack(maps).astype(np.int32)
    if label_maps.max() >= self.num_classes:
      worst = int(np.argmax(label_maps.reshape(len(rows), -1).max(axis=1)))
      raise ConfigError(
        f"{self.pairs[int(rows[worst])][1]} holds class {label_maps[worst].max()}, beyond "
        f"--num_classes={self.num_classes}: raise --num_classes or fix the label file"
      )
    return image_data.to_model_range(np.stack(images)), label_maps

  def _read(self, path: str, mode: str, resample) -> np.ndarray:
    try:
      with Image.open(path) as file:
        resized = file.convert(mode).resize((self.image_size, self.image_size), resample)
        return np.asarray(resized)
    except OSError as e:
      raise ConfigError(f"cannot read {path!r} ({e}): remove or replace the file") from None


def _pairs(root: str, split: str) -> tuple[tuple[str, str], ...]:
  plain, ade, city = SPLIT_NAMES[split]
  for images_dir, labels_dir, suffixes in LAYOUTS:
    fields = {"split": plain, "ade_split": ade, "city_split": city}
    image_root = os.path.join(root, images_dir.format(**fields))
    label_root = os.path.join(root, labels_dir.format(**fields))
    if not os.path.isdir(image_root):
      continue
    found = []
    for image_path in sorted(glob.glob(os.path.join(image_root, "**", "*"), recursive=True)):
      stem, suffix = os.path.splitext(os.path.relpath(image_path, image_root))
      if suffix.lower() not in (".jpg", ".jpeg", ".png"):
        continue
      if suffixes:
        stem = stem.replace(*suffixes)
      label_path = os.path.join(label_root, stem + ".png")
      if not os.path.isfile(label_path):
        raise ConfigError(f"{image_path} has no label map {label_path}")
      found.append((image_path, label_path))
    if found:
      return tuple(found)
  raise ConfigError(
    f"no {split} images with label maps in {root!r}: expected {split}/images/ and "
    f"{split}/labels/, ADE20K's images/ and annotations/, or Cityscapes' leftImg8bit/ and gtFine/"
  )


def load_map_folder(root: str | None, image_size: int, num_classes: int):
  """(train, test) MapFolders of root (see the module docstring).

  Args:
    root: the folder (--data_dir).
    image_size: the side images and maps are served at.
    num_classes: the label maps' classes (indices 0 to num_classes − 1).

  Returns:
    (train, test).
  """
  if not root:
    raise ConfigError("--dataset=folder needs --data_dir=DIR of images and label maps")
  root = os.path.expanduser(root)
  name = f"folder:{os.path.basename(os.path.normpath(root))}"
  return tuple(
    MapFolder(name, _pairs(root, split), image_size, num_classes) for split in ("train", "test")
  )


class MapFolderStream(image_data.StepStream):
  """Training batches {"map": [1, B, S, S] int32, "x": [1, B, S, S, 3]}: step s reads
  positions [s·B, (s + 1)·B) of the seed's endless shuffle of the pairs (resumable)."""

  def __init__(self, folder: MapFolder, batch_size: int, seed: int, mesh=None):
    self.folder, self.batch_size, self.seed, self.mesh = folder, batch_size, seed, mesh

  def local_batch_at(self, step: int) -> dict[str, np.ndarray]:
    b = self.batch_size
    rows = image_data.example_indices(self.seed, len(self.folder.pairs), step * b, b)
    if self.mesh is not None:
      rows = rows[parallel.process_rows(b)]
    images, maps = self.folder.read(rows)
    return {"map": maps[None], "x": images[None]}
