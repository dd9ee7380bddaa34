"""Semi-supervised data: a few labeled examples of a training set, and batches that serve its
unlabeled images beside them (the semi-supervised adversarial autoencoder's, jaxgan.kinds.aae).

    labeled = labeled_subset(train, num_labels=100, seed=0)     # 10 per class
    stream = SemiSupervisedStream(ImageStream(train, B, 1, seed),
                                  ImageStream(labeled, B, 1, seed + 1))
    batch = stream.batch_at(step)    # {"x", "labeled_x", "labeled_label"}: no other label

The unlabeled batch carries no "label" key, so no label beyond the chosen few reaches a step.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxgan.data import images as image_data
from jaxgan.errors import ConfigError

LABEL_CHUNK = 1000  # examples read at a time while the labeled ones are chosen


@dataclasses.dataclass(frozen=True)
class SubsetSource:
  """The examples `indices` of a source (a jaxgan.data.images.Source)."""

  source: Any
  indices: np.ndarray

  def __len__(self) -> int:
    return len(self.indices)

  def read(self, indices: np.ndarray):
    return self.source.read(self.indices[np.asarray(indices)])


def labeled_subset(dataset, num_labels: int, seed: int):
  """num_labels examples of dataset with their labels kept, as many of each class (the
  paper's 100 MNIST labels: 10 per class), drawn by seed.

  Args:
    dataset: the training ImageDataset (labeled, with num_classes classes).
    num_labels: how many labels, a multiple of the classes.
    seed: the seed of the draw.

  Returns:
    The ImageDataset of the labeled examples.
  """
  k = dataset.num_classes
  if k < 2:
    raise ConfigError(
      f"the semi-supervised AAE needs a labeled dataset, and {dataset.name} has no classes"
    )
  if num_labels < k or num_labels % k:
    raise ConfigError(
      f"--num_labels must be a positive multiple of the {k} classes, got {num_labels}"
    )
  per_class = num_labels // k
  order = np.random.default_rng([seed, 7]).permutation(len(dataset.source))
  chosen: list[list[int]] = [[] for _ in range(k)]
  for start in range(0, len(order), LABEL_CHUNK):  # only as much of the set as it takes
    indices = order[start : start + LABEL_CHUNK]
    for index, label in zip(indices, dataset.source.read(indices)[1], strict=True):
      if 0 <= label < k and len(chosen[label]) < per_class:
        chosen[label].append(int(index))
    if all(len(c) == per_class for c in chosen):
      break
  short = [c for c in range(k) if len(chosen[c]) < per_class]
  if short:
    raise ConfigError(
      f"{dataset.name} has fewer than {per_class} examples of class {short[0]}: lower --num_labels"
    )
  subset = SubsetSource(dataset.source, np.sort(np.concatenate(chosen)))
  return dataclasses.replace(dataset, source=subset)


class SemiSupervisedStream:
  """Batches {"x": unlabeled [1, B, ...], "labeled_x": [1, B, ...], "labeled_label": [1, B]}:
  the training set's images without their labels, and the labeled subset's own shuffled
  batches beside them."""

  def __init__(self, unlabeled: image_data.ImageStream, labeled: image_data.ImageStream):
    self.unlabeled, self.labeled = unlabeled, labeled

  def local_batch_at(self, step: int) -> dict[str, np.ndarray]:
    labeled = self.labeled.local_batch_at(step)
    return {
      "x": self.unlabeled.local_batch_at(step)["x"],
      "labeled_x": labeled["x"],
      "labeled_label": labeled["label"],
    }

  def to_device(self, local):
    return self.unlabeled.to_device(local)

  def batch_at(self, step: int):
    return self.to_device(self.local_batch_at(step))

  def iterate(self, start_step: int):
    return image_data.prefetched(self.local_batch_at, self.to_device, start_step)
