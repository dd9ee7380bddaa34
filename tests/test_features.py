"""The feature networks behind FID/KID: the shipped digits classifier, its training, its files;
(jaxgan.evaluate on finished runs is tested with them, in test_image_experiments)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import features, metrics
from jaxgan.errors import ConfigError


def test_to_size_averages_blocks():
  images = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype(np.float32)
  expected = images.reshape(2, 8, 2, 8, 2, 3).mean(axis=(2, 4))
  # float32 rounding in any summation order (an H200 summed these differently: 3e-8 apart)
  got = features.to_size(jnp.asarray(images), 8)
  np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
  assert features.to_size(jnp.asarray(images), 16).shape == (2, 16, 16, 3)
  assert features.to_size(jnp.asarray(images[:, :12, :12]), 8).shape == (2, 8, 8, 3)


@pytest.mark.parametrize("size", [8, 16, 32])
def test_shipped_digits_classifier_classifies_held_out_digits(size):
  extractor = features.digits_classifier()
  x, y = features.digits_at("test20", size)
  feats, logits = extractor(x)
  assert feats.shape == (len(x), 128) and feats.dtype == np.float64
  assert np.mean(np.argmax(logits, axis=1) == y) >= 0.95


def test_digits_fid_separates_real_from_noise():
  """Real test digits are close to the real training digits; noise and one repeated digit
  are far (BENCHMARKS.md records the real-vs-real figure)."""
  extractor = features.digits_classifier()
  train = extractor(features.digits_at("train80", 16)[0])[0]
  test = extractor(features.digits_at("test20", 16)[0])[0]
  noise = extractor(np.random.default_rng(0).uniform(-1, 1, (360, 16, 16, 1)))[0]
  real_fid = metrics.fid_from_features(test, train)
  assert real_fid < 10
  assert metrics.fid_from_features(noise, train) > 20 * real_fid
  collapsed = np.repeat(test[:1], 360, axis=0) + 1e-3 * np.random.default_rng(1).normal(
    size=(360, 128)
  )
  assert metrics.fid_from_features(collapsed, train) > 5 * real_fid


def test_training_procedure_learns(tmp_path):
  """The classifier's training (a short budget, not the shipped one) beats chance by far,
  and its weights survive a save/load round trip."""
  x, y = features.digits_at("train80", 8)
  model, params = features.train_classifier(x, y, 10, steps=150)
  x_test, y_test = features.digits_at("test20", 8)
  assert features.classifier_accuracy(model, params, x_test, y_test) >= 0.8
  path = str(tmp_path / "w.npz")
  features.save_params(path, params)
  loaded = features.load_params(path, params)
  jax.tree.map(np.testing.assert_array_equal, loaded, params)
  wrong = jax.tree.map(lambda a: jnp.zeros((*a.shape[:-1], a.shape[-1] + 1)), params)
  with pytest.raises(ConfigError, match="delete it to retrain"):
    features.load_params(path, wrong)


def test_features_flag_errors(tmp_path):
  with pytest.raises(ConfigError, match="unknown"):
    features.check_features_flag("inceptoin")
  with pytest.raises(ConfigError, match="no file"):
    features.check_features_flag(f"inception:{tmp_path}/missing.npz")
  with pytest.raises(ConfigError, match="is for --dataset=digits"):
    features.extractor_for("digits_classifier", "cifar10", 32)
  assert features.extractor_for("auto", "cifar10", 32) is None


def test_random_cnn_features_are_fixed_and_separate_faces_from_noise_and_copies():
  """The random-CNN FID of the 100 faces: two halves of them are near, noise and one face
  repeated are far; the network is the same at every call (fixed seed)."""
  from jaxgan.data import get_dataset
  from jaxgan.evaluators import real_images

  dataset = get_dataset("faces100", image_size=32)
  faces = real_images(dataset, 100)
  extractor = features.random_features()
  first, again = extractor(faces[:8])[0], extractor(faces[:8])[0]
  np.testing.assert_array_equal(first, again)
  assert first.shape == (8, 2048) and extractor.name == "random_cnn_seed0"
  a, b = extractor(faces[::2])[0], extractor(faces[1::2])[0]
  noise = extractor(np.random.default_rng(0).uniform(-1, 1, (50, 32, 32, 1)))[0]
  copies = extractor(np.repeat(faces[:1], 50, axis=0))[0]
  halves = metrics.fid_from_features(a, b)
  assert metrics.fid_from_features(noise, b) > 5 * halves
  assert metrics.fid_from_features(copies, b) > 2 * halves
