"""Images with pre-computed caption embeddings from a folder: CUB-200-2011 birds and Oxford-102
flowers as GAN-CLS and its successors train on them, with the char-CNN-RNN sentence embeddings
of Reed et al. 2016 (1,024 numbers per caption, ten captions per image).

    train, test = load_embedding_folder("~/data/birds", image_size=64)
    stream = EmbeddingStream(train, batch_size=64, seed=0)
    batch = stream.batch_at(0)   # {"x": [1, B, S, S, 3], "text", "wrong_text": [1, B, 1024]}

The layout is the one the embeddings are distributed in (StackGAN's preprocessed birds and
flowers, hanzhanggit/StackGAN-Pytorch, code/miscc/datasets.py):

    DIR/{train,test}/filenames.pickle                  the images' keys, in order
    DIR/{train,test}/char-CNN-RNN-embeddings.pickle    [N, 10, 1024] (a list of [10, 1024])
    DIR/{train,test}/class_info.pickle                 optional: each image's class
    DIR/CUB_200_2011/images/KEY.jpg | DIR/images/KEY.jpg | DIR/KEY.jpg
    DIR/text_c10/KEY.txt | DIR/text/KEY.txt            optional: the captions, one a line

The pickles were written by Python 2 and are read with latin-1 strings. Images are center
cropped to a square and resized bilinearly (Reed's loader: no bounding boxes). As in the
authors' training (reedscot/icml2016, numCaption = 4), a training image's text is the mean of
four of its captions' embeddings drawn at random; its wrong text is that of an image of
another class (another image, without class_info). These are pickles: read only files you trust.
"""

from __future__ import annotations

import dataclasses
import os
import pickle

import numpy as np
from PIL import Image

from jaxgan import parallel
from jaxgan.data import images as image_data
from jaxgan.errors import ConfigError

EMBEDDINGS = "char-CNN-RNN-embeddings.pickle"
CAPTIONS_PER_TEXT = 4  # the authors' numCaption: embeddings averaged into one training text
IMAGE_DIRS = ("CUB_200_2011/images", "images", ".")
CAPTION_DIRS = ("text_c10", "text")


@dataclasses.dataclass(frozen=True)
class EmbeddingFolder:
  """One split: image files, embeddings float32 [N, captions, E], classes [N] (−1: unknown)."""

  name: str
  root: str
  keys: tuple[str, ...]
  files: tuple[str, ...]
  embeddings: np.ndarray
  classes: np.ndarray
  image_size: int
  channels: int = 3

  def read(self, rows: np.ndarray) -> np.ndarray:
    """The images of the given rows, float32 [N, S, S, 3] in [−1, 1]."""
    images = []
    for row in rows:
      path = self.files[int(row)]
      try:
        with Image.open(path) as file:
          image = np.asarray(file.convert("RGB"))
      except OSError as e:
        raise ConfigError(f"cannot read {path!r} ({e}): remove or replace the file") from None
      side = min(image.shape[:2])
      square = image_data.center_crop(image[None], side)
      images.append(image_data.resize(square, self.image_size)[0])
    return image_data.to_model_range(np.stack(images))

  def caption(self, row: int) -> str:
    """The first caption of an image (its key when the folder has no captions)."""
    for directory in CAPTION_DIRS:
      path = os.path.join(self.root, directory, self.keys[row] + ".txt")
      if os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as file:
          lines = [line.strip() for line in file if line.strip()]
        if lines:
          return lines[0]
    return self.keys[row]


def _load_pickle(path: str):
  if not os.path.exists(path):
    raise ConfigError(
      f"{path} is missing: --data_dir must hold train/ and test/ with filenames.pickle and "
      f"{EMBEDDINGS} (the preprocessed birds or flowers of StackGAN)"
    )
  try:
    with open(path, "rb") as file:
      return pickle.load(file, encoding="latin1")
  except (pickle.UnpicklingError, EOFError, ValueError) as e:
    raise ConfigError(f"cannot read {path} ({e}): the file is corrupt; download it again") from None


def _image_file(root: str, key: str) -> str:
  for directory in IMAGE_DIRS:
    path = os.path.join(root, directory, key + ".jpg")
    if os.path.exists(path):
      return path
  raise ConfigError(
    f"no image for {key!r}: looked for {key}.jpg under {', '.join(IMAGE_DIRS)} of {root}"
  )


def load_split(root: str, split: str, image_size: int) -> EmbeddingFolder:
  """One split of the folder (see the module docstring).

  Args:
    root: the folder.
    split: train or test.
    image_size: the size images are served at.

  Returns:
    The EmbeddingFolder.
  """
  directory = os.path.join(root, split)
  keys = tuple(str(k) for k in _load_pickle(os.path.join(directory, "filenames.pickle")))
  embeddings = np.asarray(_load_pickle(os.path.join(directory, EMBEDDINGS)), np.float32)
  if embeddings.ndim != 3 or len(embeddings) != len(keys):
    raise ConfigError(
      f"{directory}/{EMBEDDINGS} holds an array of shape {embeddings.shape}; expected "
      f"[{len(keys)} images, captions, features], one row per key of filenames.pickle"
    )
  classes = np.full(len(keys), -1, np.int64)
  if os.path.exists(os.path.join(directory, "class_info.pickle")):
    classes = np.asarray(_load_pickle(os.path.join(directory, "class_info.pickle")), np.int64)
  files = tuple(_image_file(root, key) for key in keys)
  name = f"{os.path.basename(os.path.normpath(root))}:{split}"
  return EmbeddingFolder(name, root, keys, files, embeddings, classes, image_size)


def load_embedding_folder(root: str | None, image_size: int):
  """(train, test) of a folder of images and caption embeddings (see the module docstring)."""
  if not root:
    raise ConfigError("--dataset=folder needs --data_dir: the birds or flowers folder")
  root = os.path.expanduser(root)
  return load_split(root, "train", image_size), load_split(root, "test", image_size)


def mean_embeddings(folder: EmbeddingFolder, rows: np.ndarray, rng: np.random.Generator):
  """Each row's text: the mean of CAPTIONS_PER_TEXT of its captions' embeddings, drawn at
  random (all of them when it has fewer).

  Args:
    folder: the split.
    rows: the images.
    rng: the draw's randomness.

  Returns:
    float32 [len(rows), E].
  """
  captions = folder.embeddings.shape[1]
  k = min(CAPTIONS_PER_TEXT, captions)
  chosen = np.stack([rng.choice(captions, size=k, replace=False) for _ in rows])
  return folder.embeddings[np.asarray(rows)[:, None], chosen].mean(axis=1)


class EmbeddingStream(image_data.StepStream):
  """Training batches {"x": [1, B, S, S, 3], "text", "wrong_text": [1, B, E]} by (seed, step):
  shuffled epochs, exactly resumable, read ahead by a background thread."""

  def __init__(self, folder: EmbeddingFolder, batch_size: int, seed: int, mesh=None):
    self.folder, self.batch_size, self.seed, self.mesh = folder, batch_size, seed, mesh

  def local_batch_at(self, step: int) -> dict[str, np.ndarray]:
    b, n = self.batch_size, len(self.folder.keys)
    rows = image_data.example_indices(self.seed, n, step * b, b)
    rng = np.random.default_rng([self.seed, step])
    classes = self.folder.classes
    wrong = []
    for row in rows:
      others = np.flatnonzero(classes != classes[row]) if classes[row] >= 0 else None
      if others is None or not len(others):
        others = np.delete(np.arange(n), row)
      wrong.append(rng.choice(others))
    text = mean_embeddings(self.folder, rows, rng)
    wrong_text = mean_embeddings(self.folder, np.array(wrong), rng)
    if self.mesh is not None:  # the whole batch drawn, this process's rows kept
      mine = parallel.process_rows(b)
      rows, text, wrong_text = rows[mine], text[mine], wrong_text[mine]
    return {"x": self.folder.read(rows)[None], "text": text[None], "wrong_text": wrong_text[None]}
