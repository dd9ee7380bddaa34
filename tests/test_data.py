"""The toy mixtures are exactly the ones DESIGN.md and PacGAN define."""

import jax
import numpy as np
import pytest

from jaxgan import data
from jaxgan.errors import ConfigError

N = 20_000


def nearest(samples, means):
  return np.argmin(np.linalg.norm(samples[:, None] - means[None], axis=-1), axis=1)


@pytest.mark.parametrize("name, num_modes, std", [("ring8", 8, 0.01), ("grid25", 25, 0.05)])
def test_mixture_modes_weights_and_std(name, num_modes, std):
  ds = data.get_toy(name)
  means = ds.mixture.means
  assert means.shape == (num_modes, 2) and ds.mixture.std == std
  x = np.asarray(ds.sample(jax.random.key(0), (N,)), np.float64)
  modes = nearest(x, means)
  counts = np.bincount(modes, minlength=num_modes)
  # Uniform weights: every count within 5 binomial standard deviations of N/K.
  p = 1 / num_modes
  assert np.all(np.abs(counts - N * p) < 5 * np.sqrt(N * p * (1 - p)))
  residual = x - means[modes]
  np.testing.assert_allclose(residual.std(axis=0), [std, std], rtol=0.03)
  np.testing.assert_allclose(residual.mean(axis=0), [0, 0], atol=4 * std / np.sqrt(N))


def test_ring8_means_on_the_unit_circle():
  means = data.get_toy("ring8").mixture.means
  np.testing.assert_allclose(np.linalg.norm(means, axis=1), 1.0, rtol=1e-6)
  angles = np.sort(np.mod(np.arctan2(means[:, 1], means[:, 0]), 2 * np.pi))
  np.testing.assert_allclose(np.diff(angles), 2 * np.pi / 8, rtol=1e-5)


def test_grid25_means():
  means = data.get_toy("grid25").mixture.means
  expected = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
  assert {tuple(map(float, m)) for m in means} == expected


def test_swissroll_shape_and_range():
  x = np.asarray(data.get_toy("swissroll").sample(jax.random.key(0), (N,)))
  radius = np.linalg.norm(x, axis=1)
  # t ∈ [1.5π, 4.5π], radius t/7.5 ∈ [0.63, 1.88], blurred by noise 0.25/7.5.
  assert 0.4 < radius.min() < 0.7 and 1.8 < radius.max() < 2.1
  assert data.get_toy("swissroll").mixture is None


def test_sampling_is_a_function_of_the_key():
  ds = data.get_toy("grid25")
  a = ds.sample(jax.random.key(3), (5, 7))
  assert a.shape == (5, 7, 2)
  np.testing.assert_array_equal(a, ds.sample(jax.random.key(3), (5, 7)))
  assert not np.array_equal(a, ds.sample(jax.random.key(4), (5, 7)))


def test_stream_batches_by_step():
  s = data.ToyStream(data.get_toy("ring8"), 16, 3, jax.random.key(0))
  b0, b1 = s.batch_at(0), s.batch_at(1)
  assert b0["x"].shape == (3, 16, 2)
  assert not np.array_equal(b0["x"], b1["x"])
  it = s.iterate(1)
  np.testing.assert_array_equal(next(it)["x"], b1["x"])  # a resumed stream sees the same data
  np.testing.assert_array_equal(next(it)["x"], s.batch_at(2)["x"])


def test_unknown_dataset_is_a_one_line_error():
  with pytest.raises(
    ConfigError, match="unknown dataset 'grid52': choose one of ring8, grid25, swissroll"
  ):
    data.get_toy("grid52")


def test_faces100_is_the_first_hundred_of_scikit_images_lfw_subset():
  """The 100-shot faces ship inside scikit-image: nothing is downloaded."""
  from skimage import data as skimage_data

  faces = data.get_dataset("faces100", image_size=25)
  assert (faces.name, faces.channels, faces.num_classes, len(faces.source)) == (
    "faces100",
    1,
    0,
    100,
  )
  images, labels = faces.examples(np.arange(100))
  expected = skimage_data.lfw_subset()[:100, :, :, None] * 2.0 - 1.0
  np.testing.assert_allclose(images, expected, atol=1.0 / 255)  # one uint8 step
  assert images.shape == (100, 25, 25, 1) and not labels.any()
  assert data.get_dataset("faces100", image_size=32).examples(np.arange(3))[0].shape == (
    3,
    32,
    32,
    1,
  )
