"""Image data: the digits, TFDS through tfds.data_source (mocked, offline), the batch stream,
and the classifier that judges samples."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxgan import judges, metrics
from jaxgan.data import images
from jaxgan.errors import ConfigError


def test_digits():
  digits = images.load_digits()
  assert digits.images.shape == (1797, 8, 8, 1) and digits.images.dtype == np.uint8
  assert digits.images.max() == 255 and digits.images.min() == 0
  assert sorted(np.unique(digits.labels)) == list(range(10))
  train, test = images.load_digits("train80"), images.load_digits("test20")
  assert len(train) + len(test) == 1797 and len(test) == 360
  dataset = images.load_image_dataset("digits", 16)
  x, y = dataset.examples(np.arange(5))
  assert x.shape == (5, 16, 16, 1) and x.dtype == np.float32
  assert -1.0 <= x.min() and x.max() <= 1.0 and list(y) == list(digits.labels[:5])


def test_every_epoch_is_a_permutation_and_positions_are_a_function_of_the_seed():
  n = 50
  sequence = images.example_indices(seed=3, n=n, start=0, count=3 * n)
  for epoch in range(3):
    assert sorted(sequence[epoch * n : (epoch + 1) * n]) == list(range(n))
  assert not np.array_equal(sequence[:n], sequence[n : 2 * n])
  np.testing.assert_array_equal(images.example_indices(3, n, 37, 40), sequence[37:77])
  assert not np.array_equal(images.example_indices(4, n, 0, n), sequence[:n])


def test_an_epoch_order_is_drawn_once_and_kept_read_only():
  # numpy's permutation of (seed, epoch), as drawn before the order was kept (runs reproduce).
  expected = np.random.default_rng([3, 1]).permutation(50)
  first = images.epoch_permutation(3, 1, 50)
  np.testing.assert_array_equal(first, expected)
  assert images.epoch_permutation(3, 1, 50) is first  # drawn once per epoch, not per batch
  with pytest.raises(ValueError):
    first[0] = 0  # a caller cannot change the order the others read


def test_stream_batches_by_step():
  dataset = images.load_image_dataset("digits", 8)
  stream = images.ImageStream(dataset, batch_size=16, n_critic=3, seed=0)
  batch = stream.batch_at(2)
  assert batch["x"].shape == (3, 16, 8, 8, 1) and batch["label"].shape == (3, 16)
  indices = images.example_indices(0, 1797, 2 * 3 * 16, 3 * 16).reshape(3, 16)
  np.testing.assert_array_equal(batch["label"], dataset.source.labels[indices])
  # The prefetching iterator yields exactly the same batches, from any step.
  iterator = stream.iterate(1)
  for step in (1, 2, 3):
    got = next(iterator)
    np.testing.assert_array_equal(got["x"], stream.batch_at(step)["x"])
  iterator.close()


@pytest.mark.parametrize(
  "name, size, channels, classes",
  [
    ("mnist", 32, 1, 10),
    ("cifar10", 32, 3, 10),
    ("celeb_a", 64, 3, 0),
    ("svhn_cropped", 32, 3, 10),
  ],
)
def test_tfds_datasets_offline(name, size, channels, classes):
  with tfds.testing.mock_data(num_examples=20):
    dataset = images.load_image_dataset(name, size)
    assert (dataset.channels, dataset.num_classes) == (channels, classes)
    x, y = dataset.examples(np.array([0, 3, 7]))
  assert x.shape == (3, size, size, channels) and x.dtype == np.float32
  assert -1.0 <= x.min() and x.max() <= 1.0 and y.shape == (3,)


def test_center_crop_and_resize():
  image = np.zeros((1, 218, 178, 3), np.uint8)
  image[:, 55:163, 35:143] = 200  # the central 108×108 square
  dataset = images.ImageDataset("faces", images.ArraySource(image, np.zeros(1)), 64, 3, 0, 108)
  x, _ = dataset.examples(np.array([0]))
  np.testing.assert_allclose(x, 200 / 127.5 - 1, atol=1e-6)


def test_missing_and_unknown_datasets_are_one_line_errors(tmp_path):
  with pytest.raises(ConfigError, match="not prepared as ArrayRecord.*tfds build cifar10"):
    images.load_image_dataset("cifar10", 32, data_dir=str(tmp_path))
  with pytest.raises(ConfigError, match="unknown dataset 'cifar1000'"):
    images.load_image_dataset("cifar1000", 32, data_dir=str(tmp_path))


def test_digits_judge_on_held_out_digits():
  judge = judges.digits_judge()
  assert judge.test_accuracy >= 0.94
  held_out = images.load_image_dataset("digits", 16, split="test20")
  x, y = held_out.examples(np.arange(len(held_out.source)))
  assert np.mean(judge.predict(x) == y) >= 0.94  # also after 8→16→8 resizing


def test_class_metrics_hand_worked():
  assert metrics.class_accuracy([1, 2, 2, 0], [1, 2, 0, 0]) == 0.75
  coverage = metrics.class_coverage(np.array([0, 0, 1, 1]), 4)
  assert coverage.classes == 2
  assert coverage.reverse_kl == pytest.approx(np.log(2))
  # Code values 0, 1, 2 stand for classes 2, 0, 1: the best matching finds it.
  codes = np.array([0, 0, 1, 1, 2, 2, 2])
  predicted = np.array([2, 2, 0, 1, 1, 1, 0])
  assert metrics.matched_code_accuracy(codes, predicted, 3) == pytest.approx(5 / 7)
