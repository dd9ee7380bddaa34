"""Image datasets: random-access sources, preprocessing, and the batch stream.

Sources give random access to (uint8 image, label) pairs:
  - "digits": the 8×8 handwritten digits that ship with scikit-learn (1,797
    images, 10 classes), the offline default of every image experiment;
  - "faces100": the 100 faces that ship with scikit-image (the first half of
    `skimage.data.lfw_subset()`, 25×25 grey, no labels): a real 100-shot set,
    for training on small data (DiffAugment, ADA);
  - any TFDS image dataset through `tfds.data_source` (ArrayRecord files,
    no TensorFlow at training time): mnist, fashion_mnist, cifar10,
    svhn_cropped, celeb_a (center crop), or another by name.

Images are cropped (celeb_a: the central 108×108 face region, as in
DCGAN-tensorflow), resized to the model's size with bilinear filtering, and
scaled to [−1, 1].

`ImageStream` serves the real data of each training step,
{"x": [n_critic, B, H, W, C], "label": [n_critic, B]}, as a pure function of
(seed, step): examples are visited in a fresh permutation every epoch, drawn
from the seed, so a resumed run reads exactly what an uninterrupted one would,
and every process reads only its own rows of each batch. A background thread
prepares the next batches while the device trains on the current one.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import functools
import importlib.util
import os
import queue
import threading
from collections.abc import Iterator
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging as absl_logging
from PIL import Image

from jaxgan import parallel
from jaxgan.data import on_device
from jaxgan.errors import ConfigError

# TFDS datasets known to work, with their crop and natural size.
KNOWN_TFDS = {
  "mnist": {"size": 28, "channels": 1},
  "fashion_mnist": {"size": 28, "channels": 1},
  "cifar10": {"size": 32, "channels": 3},
  "svhn_cropped": {"size": 32, "channels": 3},
  "celeb_a": {"size": 64, "channels": 3, "crop": 108},
}
PREPARE_HINT = (
  "prepare it once on a machine with network access (pip install tensorflow && tfds build "
  "{name} --file_format=array_record --data_dir=DIR), then pass --data_dir=DIR; or use "
  "--dataset=digits, which needs no download"
)


class Source(Protocol):
  """Random access to a split: len(source), source.read(indices) → (images uint8, labels)."""

  def __len__(self) -> int: ...

  def read(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclasses.dataclass(frozen=True)
class ArraySource:
  """A split held in memory: images [N, H, W, C] uint8, labels [N]."""

  images: np.ndarray
  labels: np.ndarray

  def __len__(self) -> int:
    return len(self.images)

  def read(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return self.images[indices], self.labels[indices]


@dataclasses.dataclass(frozen=True)
class TFDSSource:
  """A TFDS split read by index through tfds.data_source (ArrayRecord, no TensorFlow)."""

  records: Any  # the data source: len() and [i] → {"image": uint8 [H, W, C], "label": int}

  def __len__(self) -> int:
    return len(self.records)

  def read(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    items = [self.records[int(i)] for i in indices]
    images = same_size([np.asarray(item["image"]) for item in items])
    if images.ndim == 3:
      images = images[..., None]
    labels = np.array([int(item.get("label", 0)) for item in items], np.int32)
    return images, labels


@functools.cache
def load_digits(split: str = "train") -> ArraySource:
  """scikit-learn's 8×8 digits as uint8 [N, 8, 8, 1] (0..16 scaled to 0..255).

  Read straight from the file scikit-learn ships (sklearn/datasets/data/
  digits.csv.gz: 64 pixel columns, then the label), which spares importing
  scikit-learn itself (seconds). split "train" is all 1,797 images (the GAN's
  training set); "train80" and "test20" are a fixed 80/20 split for
  classifiers that judge the samples.
  """
  table = _digits_table()
  images = np.round(table[:, :64].reshape(-1, 8, 8, 1) * (255.0 / 16.0)).astype(np.uint8)
  labels = table[:, 64].astype(np.int32)
  if split == "train":
    return ArraySource(images, labels)
  order = np.random.default_rng(0).permutation(len(images))
  cut = int(0.8 * len(images))
  chosen = {"train80": order[:cut], "test20": order[cut:]}.get(split)
  if chosen is None:
    raise ConfigError(f"unknown digits split {split!r}: train, train80 or test20")
  return ArraySource(images[chosen], labels[chosen])


def _digits_table() -> np.ndarray:
  spec = importlib.util.find_spec("sklearn")
  if spec is None or not spec.submodule_search_locations:
    raise ConfigError("--dataset=digits needs scikit-learn: pip install scikit-learn")
  path = os.path.join(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz")
  if not os.path.exists(path):  # a future layout: ask scikit-learn
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return np.concatenate([bunch.data, bunch.target[:, None]], axis=1)
  return np.loadtxt(path, delimiter=",")


@functools.cache
def load_faces100() -> ArraySource:
  """The 100 faces of scikit-image's lfw_subset() as uint8 [100, 25, 25, 1], labels 0.

  lfw_subset() holds 200 25×25 grey crops from Labeled Faces in the Wild: the
  first 100 are faces, the other 100 are not (scikit-image's documentation).
  It ships inside the package: nothing is downloaded.
  """
  try:
    from skimage import data as skimage_data
  except ImportError:
    raise ConfigError("--dataset=faces100 needs scikit-image: pip install scikit-image") from None
  faces = np.asarray(skimage_data.lfw_subset()[:100], np.float64)
  images = np.clip(np.round(faces * 255.0), 0, 255).astype(np.uint8)[..., None]
  return ArraySource(images, np.zeros(len(images), np.int32))


@contextlib.contextmanager
def _quiet_tfds():
  """Silence TFDS's absl warnings (e.g. "Variant folder ... has no dataset_info.json"):
  jaxgan reports a missing dataset in its own one line. Also skips TFDS's
  DatasetInfo.initialize_from_bucket while its GCS access is off (TFDS's default): it then
  reads nothing, but first makes a temporary directory that it never removes, one more
  empty /tmp/tmp*tfds for every builder of an unprepared dataset."""
  level = absl_logging.get_verbosity()
  absl_logging.set_verbosity(absl_logging.ERROR)
  from tensorflow_datasets.core import dataset_info
  from tensorflow_datasets.core.utils import gcs_utils

  original = dataset_info.DatasetInfo.initialize_from_bucket
  if getattr(gcs_utils, "_is_gcs_disabled", False):
    dataset_info.DatasetInfo.initialize_from_bucket = lambda self: None
  try:
    yield
  finally:
    dataset_info.DatasetInfo.initialize_from_bucket = original
    absl_logging.set_verbosity(level)


def tfds_source(name: str, split: str, data_dir: str | None) -> TFDSSource:
  """tfds.data_source(name), or a one-line error saying how to get the dataset.

  Args:
    name: the TFDS name.
    split: the split ("train", "test").
    data_dir: where it is prepared (default: TFDS's).

  Returns:
    The TFDSSource (random access to the examples, no TensorFlow).
  """
  import tensorflow_datasets as tfds

  try:
    with _quiet_tfds():
      records = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
  except tfds.core.registered.DatasetNotFoundError:
    raise ConfigError(
      f"unknown dataset {name!r}: use a toy mixture (ring8, grid25, swissroll), digits, or a "
      f"TFDS image dataset ({', '.join(KNOWN_TFDS)}, ...)"
    ) from None
  except Exception:  # noqa: BLE001 - TFDS raises many types for "not there"
    where = data_dir or "~/tensorflow_datasets"
    raise ConfigError(
      f"dataset {name!r} (split {split}) is not prepared as ArrayRecord in {where}: "
      + PREPARE_HINT.format(name=name)
    ) from None
  return TFDSSource(records)


# ---------------------------------------------------------------------------
# Preprocessing.
# ---------------------------------------------------------------------------


def same_size(images: list[np.ndarray]) -> np.ndarray:
  """Images of one size stacked; of several sizes (a folder of photos), each center-cropped
  to a square and resized (bilinear) to the first one's square, then stacked."""
  if len({image.shape for image in images}) <= 1:
    return np.stack(images)
  size = min(images[0].shape[:2])
  out = []
  for image in images:
    side = min(image.shape[:2])
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    square = image[top : top + side, left : left + side]
    out.append(resize(square[None] if square.ndim == 3 else square[None, ..., None], size)[0])
  return np.stack([o if images[0].ndim == 3 else o[..., 0] for o in out])


def center_crop(images: np.ndarray, size: int) -> np.ndarray:
  """The central size×size square of [N, H, W, C] images."""
  h, w = images.shape[1:3]
  if size > min(h, w):
    raise ConfigError(f"cannot crop {size}×{size} from {h}×{w} images")
  top, left = (h - size) // 2, (w - size) // 2
  return images[:, top : top + size, left : left + size]


def resize(images: np.ndarray, size: int) -> np.ndarray:
  """uint8 [N, h, w, C] → uint8 [N, size, size, C], bilinear (PIL), square inputs."""
  if images.shape[1:3] == (size, size):
    return images
  out = []
  for image in images:
    mode_image = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    resized = np.asarray(mode_image.resize((size, size), Image.BILINEAR))
    out.append(resized[..., None] if resized.ndim == 2 else resized)
  return np.stack(out)


def to_model_range(images: np.ndarray) -> np.ndarray:
  """uint8 [0, 255] → float32 [−1, 1] (in one new array: a batch of 2,048 128×128 images is
  400 MB, and each temporary of `x * a - b` would be another)."""
  out = images.astype(np.float32)
  out *= np.float32(2.0 / 255.0)
  out -= np.float32(1.0)
  return out


def to_uint8(images: np.ndarray) -> np.ndarray:
  """float [−1, 1] → uint8 [0, 255] (for pictures)."""
  return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------
# The dataset the loop trains on.
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ImageDataset:
  """An image dataset as the models see it: size, channels, classes, and how to read it."""

  name: str
  source: Source
  image_size: int
  channels: int
  num_classes: int
  crop: int | None = None

  def resized(self, images: np.ndarray) -> np.ndarray:
    """uint8 images from the source → uint8 [B, S, S, C], center cropped and resized."""
    if self.crop:
      images = center_crop(images, self.crop)
    elif images.shape[1] != images.shape[2]:
      images = center_crop(images, min(images.shape[1:3]))
    return resize(images, self.image_size)

  def preprocess(self, images: np.ndarray) -> np.ndarray:
    """uint8 images from the source → float32 [B, S, S, C] in [−1, 1]."""
    return to_model_range(self.resized(images))

  def examples(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    images, labels = self.source.read(indices)
    return self.preprocess(images), labels.astype(np.int32)


def load_image_dataset(
  name: str,
  image_size: int,
  *,
  split: str = "train",
  data_dir: str | None = None,
  num_classes: int | None = None,
) -> ImageDataset:
  """The image dataset called name, served at image_size × image_size.

  Args:
    name: digits (ships with scikit-learn), faces100 (ships with scikit-image) or a TFDS
      image dataset.
    image_size: the size images are served at (resized and center cropped).
    split: the split.
    data_dir: where TFDS datasets are prepared.
    num_classes: the class count when known (default: read from the dataset).

  Returns:
    The ImageDataset.
  """
  if name == "digits":  # small: resized once, here
    digits = load_digits(split)
    source = ArraySource(resize(digits.images, image_size), digits.labels)
    return ImageDataset("digits", source, image_size, 1, 10)
  if name == "faces100":  # one split: the 100 faces are the whole data (and FID's reference)
    faces = load_faces100()
    return ImageDataset(
      "faces100", ArraySource(resize(faces.images, image_size), faces.labels), image_size, 1, 0
    )
  info = KNOWN_TFDS.get(name, {})
  source = tfds_source(name, split, data_dir)
  first, _ = source.read(np.array([0]))
  channels = first.shape[-1]
  classes = num_classes if num_classes is not None else _tfds_num_classes(name, data_dir)
  return ImageDataset(name, source, image_size, channels, classes, info.get("crop"))


def _tfds_num_classes(name: str, data_dir: str | None) -> int:
  """The number of classes of the dataset's "label" feature, 0 if it has none."""
  import tensorflow_datasets as tfds

  try:
    with _quiet_tfds():
      features = tfds.builder(name, data_dir=data_dir).info.features
    return int(features["label"].num_classes) if "label" in features else 0
  except Exception:  # noqa: BLE001 - an unusual builder: treat as unlabeled
    return 0


# ---------------------------------------------------------------------------
# The stream of batches.
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def epoch_permutation(seed: int, epoch: int, n: int, stream: int = 0) -> np.ndarray:
  """The order of the examples in one epoch: a permutation drawn from (seed, epoch).

  Drawn once per epoch and kept (read-only): drawing it costs O(n), about 50 ms for
  ImageNet's 1.28M images, which every step's batch would otherwise pay.

  Args:
    seed: the run's seed.
    epoch: the epoch.
    n: the number of examples.
    stream: > 0 gives an independent order from the same seed (the second domain of
      unpaired data).

  Returns:
    The permutation of range(n).
  """
  entropy = [seed, epoch] if stream == 0 else [seed, epoch, stream]
  permutation = np.random.default_rng(entropy).permutation(n)
  permutation.setflags(write=False)
  return permutation


def example_indices(seed: int, n: int, start: int, count: int, stream: int = 0) -> np.ndarray:
  """Dataset indices at positions [start, start + count) of the endless shuffled sequence.

  Args:
    seed: the run's seed.
    n: the number of examples.
    start: the first position (a step times the examples per step).
    count: how many.
    stream: an independent order (see epoch_permutation).

  Returns:
    int64 indices [count].
  """
  positions = np.arange(start, start + count)
  epochs, offsets = np.divmod(positions, n)
  out = np.empty(count, np.int64)
  for epoch in np.unique(epochs):
    mask = epochs == epoch
    out[mask] = epoch_permutation(seed, int(epoch), n, stream)[offsets[mask]]
  return out


class StepStream:
  """What every resumable stream of batches shares, given local_batch_at(step) → this
  process's rows of the step's batch as numpy arrays [n, B_local, ...], and self.mesh: the
  global batch on the devices (batch_at), and the batches from a step on, read ahead by a
  background thread (iterate)."""

  mesh = None
  prefetch = 2

  def local_batch_at(self, step: int) -> dict[str, np.ndarray]:
    raise NotImplementedError

  def to_device(self, local: dict[str, np.ndarray]) -> dict[str, jax.Array]:
    if self.mesh is None:
      return {k: jnp.asarray(v) for k, v in local.items()}
    return parallel.global_batch(self.mesh, local)

  def batch_at(self, step: int) -> dict[str, jax.Array]:
    return self.to_device(self.local_batch_at(step))

  def iterate(self, start_step: int) -> Iterator[dict[str, jax.Array]]:
    """Batches of steps start_step, start_step + 1, ..., read ahead by a background thread."""
    return prefetched(self.local_batch_at, self.to_device, start_step, self.prefetch)

  def local_block_at(self, step: int, k: int) -> dict[str, np.ndarray]:
    local = [self.local_batch_at(step + i) for i in range(k)]
    return {name: np.stack([batch[name] for batch in local]) for name in local[0]}

  def block_at(self, step: int, k: int) -> dict[str, jax.Array]:
    """The batches of steps step, ..., step + k − 1 stacked on a leading axis and sent to the
    devices at once (the loop's --steps_per_call); the next block (step + k) is read ahead
    by a background thread, as the loop asks for them in order."""
    if not hasattr(self, "_blocks_ahead"):
      self._reader = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jaxgan-blocks")
      self._blocks_ahead: dict[tuple[int, int], concurrent.futures.Future] = {}
    ahead = self._blocks_ahead.pop((step, k), None)
    local = ahead.result() if ahead is not None else self.local_block_at(step, k)
    self._blocks_ahead.clear()
    self._blocks_ahead[(step + k, k)] = self._reader.submit(self.local_block_at, step + k, k)
    if self.mesh is None:
      return {name: jnp.asarray(v) for name, v in local.items()}
    return parallel.global_batch(self.mesh, local, batch_axis=2)


class ImageStream(StepStream):
  """Real batches {"x": [n_critic, B, S, S, C], "label": [n_critic, B]} by step.

  Step s uses the positions [s·n·B, (s + 1)·n·B) of the shuffled sequence,
  critic update i the i-th B of them. With a mesh, this process reads only
  its rows of each batch and the global batch is assembled across processes.
  """

  def __init__(
    self,
    dataset: ImageDataset,
    batch_size: int,
    n_critic: int,
    seed: int,
    mesh=None,
    prefetch: int = 2,
  ):
    if len(dataset.source) < 1:
      raise ConfigError(f"dataset {dataset.name} is empty")
    self.dataset, self.batch_size, self.n_critic, self.seed = dataset, batch_size, n_critic, seed
    self.mesh, self.prefetch = mesh, prefetch

  def local_batch_at(self, step: int) -> dict[str, np.ndarray]:
    """This process's rows of step's batch, as numpy."""
    return self.local_batch(step * self.n_critic * self.batch_size, self.batch_size)

  def local_batch(self, first: int, batch_size: int) -> dict[str, np.ndarray]:
    """This process's rows of the batch [n_critic, batch_size] at positions [first, first +
    n_critic·batch_size) of the shuffled sequence, as numpy."""
    n, b = self.n_critic, batch_size
    indices = example_indices(self.seed, len(self.dataset.source), first, n * b)
    indices = indices.reshape(n, b)
    if self.mesh is not None:
      indices = indices[:, parallel.process_rows(b)]
    images, labels = self.dataset.examples(indices.reshape(-1))
    rows = indices.shape[1]
    return {"x": images.reshape(n, rows, *images.shape[1:]), "label": labels.reshape(n, rows)}

  def on_device(self):
    """The whole dataset on the device(s), each step's batch gathered inside the step's
    program (jaxgan.data.on_device; the loop's --data_on_device). Another order than this
    stream's: see that module."""
    if not isinstance(self.dataset, ImageDataset):
      raise ConfigError(
        f"--data_on_device serves image datasets; {type(self.dataset).__name__} is read on the "
        "host: drop --data_on_device"
      )
    return on_device.image_device_data(
      self.dataset, self.batch_size, self.n_critic, self.seed, self.mesh
    )


def prefetched(
  local_batch_at, to_device, start_step: int, depth: int = 2
) -> Iterator[dict[str, jax.Array]]:
  """to_device(local_batch_at(step)) for step = start_step, start_step + 1, ..., with a
  background thread reading up to `depth` batches ahead (the numpy work: file reads,
  decoding, resizing). An exception in the reader is raised where the batch is consumed.

  Args:
    local_batch_at: step -> this process's rows of the batch, as numpy.
    to_device: numpy batch -> device arrays.
    start_step: the first step.
    depth: batches read ahead.

  Returns:
    An iterator of device batches.
  """
  ready: queue.Queue = queue.Queue(maxsize=max(depth, 1))
  stop = threading.Event()

  def produce():
    step = start_step
    while not stop.is_set():
      try:
        item = local_batch_at(step)
      except Exception as e:  # noqa: BLE001 - handed to the consumer, raised there
        item = e
      while not stop.is_set():
        try:
          ready.put(item, timeout=0.1)
          break
        except queue.Full:
          continue
      if isinstance(item, Exception):
        return
      step += 1

  worker = threading.Thread(target=produce, name="jaxgan-data", daemon=True)
  worker.start()
  try:
    while True:
      item = ready.get()
      if isinstance(item, Exception):
        raise item
      yield to_device(item)
  finally:
    stop.set()
