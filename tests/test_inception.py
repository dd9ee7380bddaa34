"""The FID Inception-v3: its architecture against the published port's tensor names and shapes,
loading a weights file made here (round trip, PyTorch layouts), one layer against numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.errors import ConfigError
from jaxgan.models import inception


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
  """Random variables (BatchNorm statistics too, so no layer is an identity) saved with
  PyTorch's names and layouts, as the conversion of pt_inception-2015-12-05 writes them."""
  rng = np.random.default_rng(0)

  def draw(path, leaf):
    name = path[-1].key
    if name == "kernel":  # He-scaled, as a trained network's activations stay bounded
      fan_in = int(np.prod(leaf.shape[:-1]))
      return rng.normal(0, np.sqrt(2 / fan_in), leaf.shape).astype(np.float32)
    if name in ("scale", "var"):
      return rng.uniform(0.5, 1.5, leaf.shape).astype(np.float32)
    return rng.normal(0, 0.1, leaf.shape).astype(np.float32)  # bias, mean

  variables = jax.tree_util.tree_map_with_path(draw, inception.variable_shapes())
  path = str(tmp_path_factory.mktemp("inception") / "fid_inception.npz")
  inception.save_torch_named(path, variables)
  return path, variables


def test_tensor_names_and_shapes_of_the_published_port(weights_file):
  path, _ = weights_file
  with np.load(path) as stored:
    shapes = {k: stored[k].shape for k in stored.files}
  # pytorch-fid's FIDInceptionA/B/C/D/E_1/E_2 hold 94 BasicConv2d (5 tensors each) and fc.
  assert len(shapes) == 94 * 5 + 2
  assert shapes["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3)
  assert shapes["Conv2d_4a_3x3.conv.weight"] == (192, 80, 3, 3)
  assert shapes["Mixed_5b.branch_pool.conv.weight"] == (32, 192, 1, 1)
  assert shapes["Mixed_6a.branch3x3.conv.weight"] == (384, 288, 3, 3)
  assert shapes["Mixed_6e.branch7x7_2.conv.weight"] == (192, 192, 1, 7)
  assert shapes["Mixed_7b.branch3x3dbl_1.conv.weight"] == (448, 1280, 1, 1)
  assert shapes["Mixed_7c.branch_pool.conv.weight"] == (192, 2048, 1, 1)
  assert shapes["Mixed_7c.branch_pool.bn.running_var"] == (192,)
  assert shapes["fc.weight"] == (1008, 2048)


def test_loading_round_trips(weights_file):
  path, variables = weights_file
  loaded = inception.load_weights(path)
  jax.tree.map(np.testing.assert_array_equal, loaded, variables)


def test_first_layer_against_numpy(weights_file):
  """Conv2d_1a_3x3 with the loaded weights: a stride-2 valid 3×3 convolution from the
  PyTorch O×I×kh×kw kernel, BatchNorm with ε = 0.001, ReLU, computed directly."""
  path, _ = weights_file
  variables = inception.load_weights(path)
  with np.load(path) as stored:
    w = stored["Conv2d_1a_3x3.conv.weight"].astype(np.float64)
    gamma, beta = stored["Conv2d_1a_3x3.bn.weight"], stored["Conv2d_1a_3x3.bn.bias"]
    mean, var = stored["Conv2d_1a_3x3.bn.running_mean"], stored["Conv2d_1a_3x3.bn.running_var"]
  x = np.random.default_rng(1).normal(size=(2, 9, 9, 3))
  out = np.zeros((2, 4, 4, 32))
  for i in range(4):
    for j in range(4):
      patch = x[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3, :]  # [B, kh, kw, I]
      out[:, i, j, :] = np.einsum("bhwi,oihw->bo", patch, w)
  expected = np.maximum((out - mean) / np.sqrt(var + 1e-3) * gamma + beta, 0)
  layer = inception.BasicConv2d(32, (3, 3), 2)
  sub = {c: variables[c]["Conv2d_1a_3x3"] for c in ("params", "batch_stats")}
  got = layer.apply(sub, jnp.asarray(x, jnp.float32))
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_features_of_small_grayscale_images(weights_file):
  """The extractor resizes to 299×299 and repeats gray to RGB: pool3 features and logits."""
  path, _ = weights_file
  from jaxgan import features

  extractor = features.extractor_for(f"inception:{path}", "mnist", 16)
  images = np.random.default_rng(2).uniform(-1, 1, (1, 16, 16, 1)).astype(np.float32)
  feats, logits = extractor(images)
  assert feats.shape == (1, 2048) and logits.shape == (1, 1008)
  assert np.all(np.isfinite(feats)) and np.all(feats >= 0)  # means of ReLU outputs


def test_bad_weights_files(weights_file, tmp_path):
  path, _ = weights_file
  with np.load(path) as stored:
    arrays = dict(stored)
  del arrays["Mixed_6c.branch1x1.conv.weight"]
  missing = str(tmp_path / "missing.npz")
  np.savez(missing, **arrays)
  with pytest.raises(ConfigError, match="lacks Mixed_6c.branch1x1.conv.weight"):
    inception.load_weights(missing)
  arrays["Mixed_6c.branch1x1.conv.weight"] = np.zeros((192, 768, 3, 3), np.float32)
  misshapen = str(tmp_path / "misshapen.npz")
  np.savez(misshapen, **arrays)
  with pytest.raises(ConfigError, match=r"has shape \(192, 768, 3, 3\), the network needs"):
    inception.load_weights(misshapen)
  with pytest.raises(ConfigError, match="cannot read"):
    inception.load_weights(str(tmp_path / "absent.npz"))
