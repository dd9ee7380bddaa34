"""Inception-v3 as FID uses it, in Flax, and its weights loaded from a local file.

FID (Heusel et al. 2017) is defined on the 2048-wide pool3 features of one particular
network: the TensorFlow Inception-v3 of 2015-12-05. pytorch-fid ported its weights to
PyTorch (pt_inception-2015-12-05-6726825d.pth); this module is the same network in Flax,
named like that port so its weights load one to one:

  Conv2d_1a_3x3 … Conv2d_4a_3x3   the stem: 3×3/2 → 32, 3×3 → 32, 3×3 (pad 1) → 64, max pool,
                                  1×1 → 80, 3×3 → 192, max pool
  Mixed_5b, 5c, 5d                InceptionA (average-pool branch ignores padding)
  Mixed_6a                        InceptionB (stride-2 reduction)
  Mixed_6b … 6e                   InceptionC (factorized 7×7)
  Mixed_7a                        InceptionD (stride-2 reduction)
  Mixed_7b, 7c                    InceptionE (7b average-pools, 7c max-pools its pool branch,
                                  as the TF graph does)
  pool3                           global average → 2048 features;  fc → 1008 logits
Each convolution is BasicConv2d: convolution without bias, BatchNorm (ε = 0.001), ReLU.
Inputs in [−1, 1] are resized to 299×299 (bilinear, no antialiasing, like
F.interpolate(align_corners=False)); grayscale is repeated to RGB.

Getting the weights (once; needs PyTorch for the conversion only):
  curl -LO https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth
  python -m jaxgan.models.inception --convert=pt_inception-2015-12-05-6726825d.pth \\
      --output=~/.cache/jaxgan/fid_inception.npz
then train or evaluate with --fid_features=inception:~/.cache/jaxgan/fid_inception.npz.
The .npz keeps PyTorch's names and layouts ("Mixed_5b.branch1x1.conv.weight": O×I×kh×kw);
load_weights maps them onto the Flax variables and checks every name and shape.
"""

from __future__ import annotations

import argparse
import functools
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.errors import ConfigError

INPUT_SIZE = 299
NUM_LOGITS = 1008  # the 2015 graph's classifier: 1000 ImageNet classes and 8 unused


class BasicConv2d(nn.Module):
  """Convolution (no bias) → BatchNorm (ε = 0.001, running statistics) → ReLU."""

  features: int
  kernel: tuple[int, int] = (1, 1)
  stride: int = 1
  padding: tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x):
    pad = tuple((p, p) for p in self.padding)
    x = nn.Conv(self.features, self.kernel, self.stride, padding=pad, use_bias=False, name="conv")(
      x
    )
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
    return nn.relu(x)


def _conv(features, kernel=1, stride=1, padding=0, name=None):
  kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
  padding = (padding, padding) if isinstance(padding, int) else padding
  return BasicConv2d(features, kernel, stride, padding, name=name)


def _avg_pool_3x3(x):
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_s2(x):
  return nn.max_pool(x, (3, 3), (2, 2))


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = _conv(64, name="branch1x1")(x)
    b5 = _conv(64, 5, padding=2, name="branch5x5_2")(_conv(48, name="branch5x5_1")(x))
    b3 = _conv(64, name="branch3x3dbl_1")(x)
    b3 = _conv(96, 3, padding=1, name="branch3x3dbl_2")(b3)
    b3 = _conv(96, 3, padding=1, name="branch3x3dbl_3")(b3)
    bp = _conv(self.pool_features, name="branch_pool")(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = _conv(384, 3, stride=2, name="branch3x3")(x)
    bd = _conv(64, name="branch3x3dbl_1")(x)
    bd = _conv(96, 3, padding=1, name="branch3x3dbl_2")(bd)
    bd = _conv(96, 3, stride=2, name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c = self.channels_7x7
    b1 = _conv(192, name="branch1x1")(x)
    b7 = _conv(c, name="branch7x7_1")(x)
    b7 = _conv(c, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
    b7 = _conv(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
    bd = _conv(c, name="branch7x7dbl_1")(x)
    bd = _conv(c, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
    bd = _conv(c, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
    bd = _conv(c, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
    bd = _conv(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
    bp = _conv(192, name="branch_pool")(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = _conv(320, 3, stride=2, name="branch3x3_2")(_conv(192, name="branch3x3_1")(x))
    b7 = _conv(192, name="branch7x7x3_1")(x)
    b7 = _conv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
    b7 = _conv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
    b7 = _conv(192, 3, stride=2, name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nn.Module):
  pool: str  # "avg" (Mixed_7b) or "max" (Mixed_7c)

  @nn.compact
  def __call__(self, x):
    b1 = _conv(320, name="branch1x1")(x)
    b3 = _conv(384, name="branch3x3_1")(x)
    b3 = jnp.concatenate(
      [
        _conv(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
        _conv(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3),
      ],
      axis=-1,
    )
    bd = _conv(448, name="branch3x3dbl_1")(x)
    bd = _conv(384, 3, padding=1, name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate(
      [
        _conv(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
        _conv(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd),
      ],
      axis=-1,
    )
    if self.pool == "avg":
      pooled = _avg_pool_3x3(x)
    else:
      pooled = nn.max_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)))
    bp = _conv(192, name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
  """images [B, H, W, C ∈ {1, 3}] in [−1, 1] → (pool3 features [B, 2048], logits [B, 1008])."""

  resize: bool = True

  @nn.compact
  def __call__(self, images):
    x = images
    if x.shape[-1] == 1:
      x = jnp.repeat(x, 3, axis=-1)
    if self.resize and x.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
      x = jax.image.resize(x, (x.shape[0], INPUT_SIZE, INPUT_SIZE, 3), "bilinear", antialias=False)
    x = _conv(32, 3, stride=2, name="Conv2d_1a_3x3")(x)
    x = _conv(32, 3, name="Conv2d_2a_3x3")(x)
    x = _conv(64, 3, padding=1, name="Conv2d_2b_3x3")(x)
    x = _max_pool_3x3_s2(x)
    x = _conv(80, name="Conv2d_3b_1x1")(x)
    x = _conv(192, 3, name="Conv2d_4a_3x3")(x)
    x = _max_pool_3x3_s2(x)
    x = InceptionA(32, name="Mixed_5b")(x)
    x = InceptionA(64, name="Mixed_5c")(x)
    x = InceptionA(64, name="Mixed_5d")(x)
    x = InceptionB(name="Mixed_6a")(x)
    for name, channels in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160)):
      x = InceptionC(channels, name=name)(x)
    x = InceptionC(192, name="Mixed_6e")(x)
    x = InceptionD(name="Mixed_7a")(x)
    x = InceptionE("avg", name="Mixed_7b")(x)
    x = InceptionE("max", name="Mixed_7c")(x)
    features = x.mean(axis=(1, 2))
    return features, nn.Dense(NUM_LOGITS, name="fc")(features)


# ---------------------------------------------------------------------------
# Weights: PyTorch names and layouts ↔ Flax variables.
# ---------------------------------------------------------------------------

_BN_NAMES = {  # PyTorch BatchNorm2d → (Flax collection, name)
  "weight": ("params", "scale"),
  "bias": ("params", "bias"),
  "running_mean": ("batch_stats", "mean"),
  "running_var": ("batch_stats", "var"),
}


def torch_names(variables) -> dict[str, tuple[str, tuple[str, ...], str]]:
  """{"Mixed_5b.branch1x1.conv.weight": (collection, path in it, layout)} for every tensor
  PyTorch's state_dict holds (num_batches_tracked aside). layout: how to turn the
  PyTorch array into the Flax one ("conv": O×I×kh×kw → kh×kw×I×O, "dense": transpose,
  "same")."""
  names = {}
  for collection, tree in variables.items():
    for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]:
      keys = tuple(k.key for k in path)
      module, leaf = keys[:-1], keys[-1]
      if module[-1] == "conv":
        names[".".join(module) + ".weight"] = (collection, keys, "conv")
      elif module[-1] == "bn":
        torch_leaf = next(t for t, (c, f) in _BN_NAMES.items() if (c, f) == (collection, leaf))
        names[".".join(module) + "." + torch_leaf] = (collection, keys, "same")
      else:  # fc
        torch_leaf = "weight" if leaf == "kernel" else "bias"
        names[".".join(module) + "." + torch_leaf] = (
          collection,
          keys,
          "dense" if leaf == "kernel" else "same",
        )
  return names


# PyTorch → Flax axes: a conv kernel O×I×kh×kw becomes kh×kw×I×O, a dense one is transposed.
_FLAX_AXES = {"conv": (2, 3, 1, 0), "dense": (1, 0)}


def _to_flax(array: np.ndarray, layout: str) -> np.ndarray:
  axes = _FLAX_AXES.get(layout)
  return array if axes is None else array.transpose(axes)


def _to_torch(array: np.ndarray, layout: str) -> np.ndarray:
  axes = _FLAX_AXES.get(layout)
  return array if axes is None else array.transpose(np.argsort(axes))


@functools.cache
def variable_shapes():
  """The Flax variables' shapes (no computation: jax.eval_shape)."""
  model = FIDInceptionV3()
  return jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, INPUT_SIZE, INPUT_SIZE, 3)))


def _set(tree: dict, keys: tuple[str, ...], value) -> None:
  for key in keys[:-1]:
    tree = tree.setdefault(key, {})
  tree[keys[-1]] = value


def _get(tree, keys):
  for key in keys:
    tree = tree[key]
  return tree


def load_weights(path: str) -> dict:
  """Flax variables from an .npz of PyTorch-named arrays; a one-line ConfigError naming the
  first missing, unexpected or misshapen tensor."""
  try:
    with np.load(path) as stored:
      arrays = {k: stored[k] for k in stored.files if not k.endswith("num_batches_tracked")}
  except (OSError, ValueError) as e:
    raise ConfigError(f"cannot read Inception weights {path}: {e}") from None
  shapes = variable_shapes()
  names = torch_names(shapes)
  missing = sorted(set(names) - set(arrays))
  unexpected = sorted(set(arrays) - set(names))
  if missing or unexpected:
    what = f"lacks {missing[0]}" if missing else f"has an unknown tensor {unexpected[0]}"
    raise ConfigError(
      f"{path} is not the FID Inception-v3 ({what}; {len(missing)} missing, "
      f"{len(unexpected)} unknown): convert pt_inception-2015-12-05 as jaxgan.models.inception says"
    )
  variables: dict = {}
  for name, (collection, keys, layout) in names.items():
    value = _to_flax(arrays[name], layout)
    expected = _get(shapes[collection], keys).shape
    if value.shape != expected:
      raise ConfigError(
        f"{path}: {name} has shape {arrays[name].shape}, the network needs "
        f"{_to_torch(np.zeros(expected), layout).shape}"
      )
    _set(variables.setdefault(collection, {}), keys, jnp.asarray(value, jnp.float32))
  return variables


def save_torch_named(path: str, variables) -> None:
  """Flax variables → an .npz of PyTorch-named, PyTorch-laid-out arrays (load_weights' input)."""
  arrays = {
    name: _to_torch(np.asarray(_get(variables[collection], keys)), layout)
    for name, (collection, keys, layout) in torch_names(variables).items()
  }
  np.savez(path, **arrays)


def convert(pth_path: str, output: str) -> None:
  """pytorch-fid's .pth state_dict → the .npz load_weights reads (needs PyTorch)."""
  import torch  # only here: converting is the one step that needs it

  state = torch.load(pth_path, map_location="cpu")
  arrays = {k: v.numpy() for k, v in state.items() if not k.endswith("num_batches_tracked")}
  output = os.path.expanduser(output)
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  np.savez(output, **arrays)
  load_weights(output)  # every name and shape checked
  print(f"wrote {output}: {len(arrays)} tensors")


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description="Convert pytorch-fid's Inception weights.")
  parser.add_argument("--convert", required=True, help="pt_inception-2015-12-05-6726825d.pth")
  parser.add_argument("--output", required=True, help="the .npz to write")
  arguments = parser.parse_args()
  convert(arguments.convert, arguments.output)
