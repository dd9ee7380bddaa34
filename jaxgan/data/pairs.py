"""Two-domain image data for image-to-image translation: paired (pix2pix) and unpaired (CycleGAN).

A `TranslationDataset` is two ImageDatasets, domain A and domain B, at the
size images are loaded at; paired means example i of A goes with example i
of B. Where they come from (`load_translation_dataset(name, ...)`):

  digits_edges            the shipped 8×8 digits: A = a line drawing of each digit (its
                          Sobel edges, dark lines on white), B = the digit itself. Paired.
                          Train: 80% of the digits, test: the other 20%.
  edges:NAME              the same drawings for any image dataset (TFDS by name): A = the
                          edges of each image, B = the image, paired (how edges2shoes was
                          made from photos), e.g. edges:mnist, edges:celeb_a.
  digits_edges_unpaired   the same two domains, unpaired: A's drawings come from one half of
                          the training digits and B's digits from the other half, so no
                          drawing has its own digit on the other side. Test: the 20% split,
                          still paired, which lets the test measure the translation itself.
  cycle_gan/NAME          TFDS's CycleGAN sets (horse2zebra, monet2photo, ...): splits
                          trainA/trainB/testA/testB, unpaired.
  folder                  --data_dir=PATH in the authors' layouts: pix2pix's PATH/train/*.jpg
                          (and PATH/val or PATH/test) with A|B side by side in each file, or
                          CycleGAN's PATH/trainA, trainB, testA, testB. Paired when the first
                          layout is found.

`TranslationStream` serves {"a": [B, S, S, C], "b": [B, S, S, C]} per step as a
pure function of (seed, step), like ImageStream: a fresh permutation every
epoch (independent ones for A and B when unpaired), this process's rows only,
and random jitter (a random S×S crop of the loaded image and a random
left-right flip, the same for both sides of a pair: the papers' augmentation)
when the loaded size exceeds S or flip is on.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import os
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from jaxgan import parallel
from jaxgan.data.images import (
  ArraySource,
  ImageDataset,
  example_indices,
  load_digits,
  load_image_dataset,
  prefetched,
  resize,
  same_size,
  tfds_source,
  to_uint8,
)
from jaxgan.errors import ConfigError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclasses.dataclass(frozen=True)
class TranslationDataset:
  """Domains A and B of one split, loaded at load_size (≥ the training size)."""

  name: str
  domain_a: ImageDataset
  domain_b: ImageDataset
  paired: bool
  names: tuple[str, str] = ("A", "B")  # what the domains show, for plots

  @property
  def load_size(self) -> int:
    return self.domain_a.image_size

  @property
  def channels(self) -> tuple[int, int]:
    return self.domain_a.channels, self.domain_b.channels

  def swapped(self) -> TranslationDataset:
    """B → A instead of A → B (pix2pix's --direction=BtoA)."""
    return dataclasses.replace(
      self, domain_a=self.domain_b, domain_b=self.domain_a, names=self.names[::-1]
    )


# ---------------------------------------------------------------------------
# The digits demos.
# ---------------------------------------------------------------------------


def edge_drawing(images: np.ndarray, threshold: float = 0.45) -> np.ndarray:
  """uint8 [N, S, S, 1] digits → uint8 line drawings: dark lines (0) on white (255) where the
  Sobel gradient magnitude exceeds threshold × the image's largest."""
  from scipy import ndimage

  x = images[..., 0].astype(np.float32)
  magnitude = np.hypot(ndimage.sobel(x, axis=1), ndimage.sobel(x, axis=2))
  peak = magnitude.reshape(len(x), -1).max(axis=1)[:, None, None]
  lines = magnitude > threshold * np.maximum(peak, 1e-6)
  return np.where(lines, 0, 255).astype(np.uint8)[..., None]


@functools.cache
def _digits_at(split: str, size: int) -> ArraySource:
  digits = load_digits(split)
  return ArraySource(resize(digits.images, size), digits.labels)


def digits_edges(split: str, size: int, *, paired: bool) -> TranslationDataset:
  """The digits demos: A = edge drawings, B = digits.

  Args:
    split: "train" (80% of the digits) or "test" (20%).
    size: images at size × size.
    paired: False draws A from one half of the training digits and B from the other.

  Returns:
    The TranslationDataset.
  """
  digits = _digits_at("train80" if split == "train" else "test20", size)
  drawings = ArraySource(edge_drawing(digits.images), digits.labels)
  a_rows = b_rows = np.arange(len(digits))
  if not paired and split == "train":
    order = np.random.default_rng(1).permutation(len(digits))
    a_rows, b_rows = order[: len(order) // 2], order[len(order) // 2 :]

  def subset(source: ArraySource, rows) -> ImageDataset:
    return ImageDataset(
      "digits", ArraySource(source.images[rows], source.labels[rows]), size, 1, 10
    )

  name = "digits_edges" if paired else "digits_edges_unpaired"
  aligned = paired or split == "test"  # the test split keeps every drawing with its digit
  return TranslationDataset(
    name, subset(drawings, a_rows), subset(digits, b_rows), aligned, ("edges", "digits")
  )


@dataclasses.dataclass(frozen=True)
class EdgeDrawingSource:
  """The edge drawings of another dataset's images, at that dataset's served size."""

  images: ImageDataset

  def __len__(self) -> int:
    return len(self.images.source)

  def read(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    images, labels = self.images.examples(indices)
    gray = to_uint8(images.mean(axis=-1, keepdims=True))
    return edge_drawing(gray), labels


def edges_dataset(name: str, split: str, size: int, data_dir: str | None) -> TranslationDataset:
  """edges:NAME: A = edge drawings of dataset NAME's images, B = the images, paired.

  Args:
    name: a TFDS image dataset.
    split: the split.
    size: images at size × size.
    data_dir: where TFDS datasets are prepared.

  Returns:
    The TranslationDataset.
  """
  images = load_image_dataset(name, size, split=split, data_dir=data_dir)
  drawings = ImageDataset(images.name, EdgeDrawingSource(images), size, 1, images.num_classes)
  return TranslationDataset(f"edges:{name}", drawings, images, True, ("edges", name))


# ---------------------------------------------------------------------------
# Image folders in the authors' layouts.
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FolderSource:
  """Image files read on demand; side "left"/"right" takes that half of side-by-side pairs."""

  paths: tuple[str, ...]
  side: str = "whole"

  def __len__(self) -> int:
    return len(self.paths)

  def read(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    images = [self._read_one(self.paths[int(i)]) for i in indices]
    return same_size(images), np.zeros(len(indices), np.int32)

  def _read_one(self, path: str) -> np.ndarray:
    try:
      with Image.open(path) as file:
        image = np.asarray(file.convert("RGB"))
    except OSError as e:
      raise ConfigError(f"cannot read image {path!r} ({e}): remove or replace the file") from None
    if self.side == "whole":
      return image
    half = image.shape[1] // 2
    return image[:, :half] if self.side == "left" else image[:, half : 2 * half]


def image_files(directory: str) -> tuple[str, ...]:
  """The image files (jpg, png, bmp) directly in directory, sorted."""
  return tuple(
    sorted(
      p
      for p in glob.glob(os.path.join(directory, "*"))
      if p.lower().endswith(IMAGE_SUFFIXES) and os.path.isfile(p)
    )
  )


def has_test_split(root: str | None) -> bool:
  """Whether a folder dataset has held-out images: test/ or val/, or testA/ and testB/."""
  root = os.path.expanduser(root or "")
  return any(image_files(os.path.join(root, sub)) for sub in ("test", "val")) or all(
    image_files(os.path.join(root, sub)) for sub in ("testA", "testB")
  )


def folder_dataset(root: str | None, split: str, size: int) -> TranslationDataset:
  """pix2pix's PATH/{train,val,test}/ (A|B side by side) or CycleGAN's PATH/{train,test}{A,B}/.

  Args:
    root: PATH (--data_dir).
    split: "train" or "test" (test/ or val/ for pix2pix's layout).
    size: images at size × size.

  Returns:
    The TranslationDataset, paired for pix2pix's layout.
  """
  if not root:
    raise ConfigError("--dataset=folder needs --data_dir=PATH (PATH/train/ or PATH/trainA/)")
  root = os.path.expanduser(root)
  name = f"folder:{os.path.basename(os.path.normpath(root))}"
  candidates = [split] if split == "train" else ["test", "val"]
  for sub in candidates:
    files = image_files(os.path.join(root, sub))
    if files:
      a = ImageDataset(name, FolderSource(files, "left"), size, 3, 0)
      b = ImageDataset(name, FolderSource(files, "right"), size, 3, 0)
      return TranslationDataset(name, a, b, True)
  files_a = image_files(os.path.join(root, f"{split}A"))
  files_b = image_files(os.path.join(root, f"{split}B"))
  if files_a and files_b:
    a = ImageDataset(name, FolderSource(files_a), size, 3, 0)
    b = ImageDataset(name, FolderSource(files_b), size, 3, 0)
    return TranslationDataset(name, a, b, False)
  raise ConfigError(
    f"no {split} images in {root!r}: expected pix2pix's {split}/ folder of A|B side-by-side "
    f"images, or CycleGAN's {split}A/ and {split}B/ folders (jpg or png)"
  )


# ---------------------------------------------------------------------------
# By name.
# ---------------------------------------------------------------------------


def load_translation_dataset(
  name: str, image_size: int, *, split: str = "train", data_dir: str | None = None
) -> TranslationDataset:
  """The two-domain dataset called name (see the module doc).

  Args:
    name: digits_edges, digits_edges_unpaired, edges:NAME, cycle_gan/NAME or folder.
    image_size: images are loaded at this size.
    split: "train" or "test".
    data_dir: TFDS's data_dir, or the folder's PATH.

  Returns:
    The TranslationDataset.
  """
  if split not in ("train", "test"):
    raise ValueError(f"split must be train or test, got {split!r}")
  if name in ("digits_edges", "digits_edges_unpaired", "edges:digits"):
    return digits_edges(split, image_size, paired=name != "digits_edges_unpaired")
  if name.startswith("edges:"):
    return edges_dataset(name.removeprefix("edges:"), split, image_size, data_dir)
  if name == "folder":
    return folder_dataset(data_dir, split, image_size)
  if name.startswith("cycle_gan"):
    a = tfds_source(name, f"{split}A", data_dir)
    b = tfds_source(name, f"{split}B", data_dir)
    return TranslationDataset(
      name, ImageDataset(name, a, image_size, 3, 0), ImageDataset(name, b, image_size, 3, 0), False
    )
  raise ConfigError(
    f"unknown translation dataset {name!r}: choose digits_edges, digits_edges_unpaired, "
    "edges:NAME (e.g. edges:mnist), cycle_gan/NAME (e.g. cycle_gan/horse2zebra, TFDS) or "
    "folder with --data_dir=PATH"
  )


# ---------------------------------------------------------------------------
# The stream of batches.
# ---------------------------------------------------------------------------


def jitter(image: np.ndarray, size: int, rng: np.random.Generator | None, flip: bool):
  """Crops an [L, L, C] image to size × size.

  Args:
    image: the image, loaded at L ≥ size.
    size: the crop's size.
    rng: at a random offset and with a random left-right flip (pix2pix's random jitter
      and mirroring) when given; centered when None.
    flip: whether flips are drawn.

  Returns:
    The [size, size, C] crop.
  """
  load = image.shape[-2]
  if rng is None:
    top = left = (load - size) // 2
    mirror = False
  else:
    top, left = rng.integers(0, load - size + 1, size=2)
    mirror = flip and bool(rng.integers(2))
  out = image[top : top + size, left : left + size]
  return out[:, ::-1] if mirror else out


class TranslationStream:
  """Batches {"a": [B, S, S, C], "b": [B, S, S, C]} by step, S = crop_size.

  Step s reads positions [s·B, (s + 1)·B) of each domain's shuffled sequence
  (A's order for both when paired). Jitter draws from (seed, step, example),
  so a resumed run sees exactly the batches an uninterrupted one would.
  """

  def __init__(
    self,
    dataset: TranslationDataset,
    batch_size: int,
    crop_size: int,
    seed: int,
    mesh=None,
    flip: bool = False,
    prefetch: int = 2,
  ):
    for domain in (dataset.domain_a, dataset.domain_b):
      if len(domain.source) < 1:
        raise ConfigError(f"dataset {dataset.name} has an empty domain")
    if crop_size > dataset.load_size:
      raise ConfigError(f"cannot crop {crop_size}×{crop_size} from {dataset.load_size} images")
    self.dataset, self.batch_size, self.crop_size, self.seed = dataset, batch_size, crop_size, seed
    self.mesh, self.flip, self.prefetch = mesh, flip, prefetch

  def _rows(self, step: int, domain: ImageDataset, stream: int) -> tuple[np.ndarray, np.ndarray]:
    """Dataset rows of this process's examples of step, and their positions in the batch."""
    b = self.batch_size
    rows = example_indices(self.seed, len(domain.source), step * b, b, stream)
    positions = np.arange(b)
    if self.mesh is not None:
      rows, positions = rows[parallel.process_rows(b)], positions[parallel.process_rows(b)]
    return rows, positions

  def local_batch_at(self, step: int) -> dict[str, np.ndarray]:
    """This process's rows of step's batch, as numpy."""
    data = self.dataset
    rows_a, positions = self._rows(step, data.domain_a, 0)
    rows_b = rows_a if data.paired else self._rows(step, data.domain_b, 1)[0]
    a, _ = data.domain_a.examples(rows_a)
    b, _ = data.domain_b.examples(rows_b)
    random = self.crop_size < data.load_size or self.flip

    def draw(entropy):  # the same entropy gives both sides of a pair the same crop and flip
      return np.random.default_rng(entropy) if random else None

    out_a, out_b = [], []
    for i, position in enumerate(positions):
      entropy = [self.seed, step, int(position)]
      out_a.append(jitter(a[i], self.crop_size, draw(entropy), self.flip))
      b_entropy = entropy if data.paired else [*entropy, 1]
      out_b.append(jitter(b[i], self.crop_size, draw(b_entropy), self.flip))
    return {"a": np.stack(out_a), "b": np.stack(out_b)}

  def to_device(self, local: dict[str, np.ndarray]) -> dict[str, jax.Array]:
    if self.mesh is None:
      return {k: jnp.asarray(v) for k, v in local.items()}
    return parallel.global_batch(self.mesh, local, batch_axis=0)

  def batch_at(self, step: int) -> dict[str, jax.Array]:
    return self.to_device(self.local_batch_at(step))

  def iterate(self, start_step: int) -> Iterator[dict[str, jax.Array]]:
    return prefetched(self.local_batch_at, self.to_device, start_step, self.prefetch)


def read_user_images(path: str, size: int, channels: int) -> np.ndarray:
  """A user's images for a trained run: a folder of images (center cropped to squares and
  resized), or a .npy [N, size, size, C] in [−1, 1]; a one-line ConfigError otherwise. Gray
  images are repeated to the run's color channels, color ones averaged to its gray.

  Args:
    path: the folder or the .npy file.
    size: the run's image size.
    channels: the channels the run's network takes.

  Returns:
    float32 [N, size, size, channels] in [−1, 1].
  """
  if path.endswith(".npy"):
    images = np.asarray(np.load(path), np.float32)
    if images.ndim != 4 or images.shape[1:3] != (size, size):
      raise ConfigError(f"{path} holds {images.shape}: expected [N, {size}, {size}, C] in [−1, 1]")
  elif os.path.isdir(path):
    files = image_files(path)
    if not files:
      raise ConfigError(f"no images (jpg, png, bmp) in {path}")
    folder = ImageDataset("input", FolderSource(files), size, 3, 0)
    images = folder.examples(np.arange(len(files)))[0]  # center-cropped squares, resized
  else:
    raise ConfigError(f"--input={path}: give a folder of images or a .npy file")
  if images.shape[-1] != channels:  # gray ↔ color
    images = images.mean(-1, keepdims=True) if channels == 1 else np.repeat(images, channels, -1)
  return images
