"""VGG's convolutional features (Simonyan & Zisserman 2015) in Flax, for perceptual losses, and
LPIPS's weights loaded from a local file.

LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric") compares two images through VGG16's relu1_2, relu2_2, relu3_3, relu4_3 and
relu5_3 activations, each unit-normalized over its channels, squared differences weighted
per channel by LPIPS's learned linear layers ("lin"), averaged over space and summed over
the layers (jaxgan.perceptual). VQGAN's and SRGAN/ESRGAN's perceptual terms use these
features; SRGAN's content loss takes VGG19 (`VGG(layers=VGG19)`), whose weights load the same
way.

Getting the weights (once; needs PyTorch for the conversion only):
  torchvision's VGG16: https://download.pytorch.org/models/vgg16-397923af.pth
  LPIPS v0.1's linear layers: the lpips package's lpips/weights/v0.1/vgg.pth
  python -m jaxgan.models.vgg --vgg=vgg16-397923af.pth --lpips=vgg.pth \\
      --output=~/.cache/jaxgan/lpips_vgg16.npz
then train with --perceptual=lpips:~/.cache/jaxgan/lpips_vgg16.npz. SRGAN's and ESRGAN's
content losses take torchvision's VGG19 alone:
  torchvision's VGG19: https://download.pytorch.org/models/vgg19-dcbb9e9d.pth
  python -m jaxgan.models.vgg --vgg=vgg19-dcbb9e9d.pth --output=~/.cache/jaxgan/vgg19.npz
then --perceptual=vgg54:~/.cache/jaxgan/vgg19.npz (jaxgan.perceptual). The .npz keeps
PyTorch's names and layouts ("features.0.weight": O×I×3×3, "lin0.model.1.weight": 1×C×1×1);
load_lpips checks every name and shape.
"""

from __future__ import annotations

import argparse
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.errors import ConfigError

Array = jax.Array

# Channels of each 3×3 convolution, "M" a 2×2 max pool (torchvision's cfgs "D" and "E").
VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
VGG19 = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M")
VGG19 += (512, 512, 512, 512)
LPIPS_TAPS = (2, 4, 7, 10, 13)  # relu1_2 … relu5_3: after these convolutions (1-based)
# LPIPS's ScalingLayer: inputs in [−1, 1] to ImageNet's normalization.
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
# torchvision's ImageNet normalization of [0, 1] RGB (its VGG19's input).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG19_CONV5_4 = 16  # φ5,4 of SRGAN and ESRGAN: the 16th convolution (1-based)


class VGG(nn.Module):
  """x [B, H, W, 3] → the activations after the ReLU of each convolution in `taps` (1-based
  indices), in order; before it with pre_activation (ESRGAN's features). Convolutions are
  3×3 with padding 1 and bias; pools 2×2 max, stride 2. Only the layers up to the last tap
  are built."""

  layers: tuple = VGG16
  taps: tuple[int, ...] = LPIPS_TAPS
  pre_activation: bool = False

  @nn.compact
  def __call__(self, x: Array) -> list[Array]:
    outputs, conv_index = [], 0
    for layer in self.layers:
      if conv_index >= max(self.taps):
        break
      if layer == "M":
        x = nn.max_pool(x, (2, 2), (2, 2))
        continue
      conv_index += 1
      pre = nn.Conv(layer, (3, 3), padding=1, name=f"conv{conv_index}")(x)
      x = nn.relu(pre)
      if conv_index in self.taps:
        outputs.append(pre if self.pre_activation else x)
    return outputs


def torchvision_index(layers: tuple, conv_index: int) -> int:
  """The index in torchvision's `features` Sequential of the conv_index-th convolution
  (1-based): each convolution is followed by its ReLU, each pool is one module."""
  position = 0
  for layer in layers:
    if layer != "M":
      conv_index -= 1
      if conv_index == 0:
        return position
      position += 2
    else:
      position += 1
  raise ValueError("no such convolution")


def lpips_scaling(images: Array) -> Array:
  """[−1, 1] images (grayscale repeated to RGB) → VGG's input, as LPIPS's ScalingLayer."""
  if images.shape[-1] == 1:
    images = jnp.repeat(images, 3, axis=-1)
  return (images - jnp.asarray(LPIPS_SHIFT)) / jnp.asarray(LPIPS_SCALE)


def imagenet_scaling(images: Array) -> Array:
  """[−1, 1] images (grayscale repeated to RGB) → torchvision's VGG input: (x − mean)/std of
  [0, 1] RGB with ImageNet's statistics."""
  if images.shape[-1] == 1:
    images = jnp.repeat(images, 3, axis=-1)
  return ((images + 1.0) / 2.0 - jnp.asarray(IMAGENET_MEAN)) / jnp.asarray(IMAGENET_STD)


def _read_npz(path: str, what: str) -> dict[str, np.ndarray]:
  try:
    with np.load(os.path.expanduser(path)) as stored:
      return dict(stored)
  except (OSError, ValueError) as e:
    raise ConfigError(f"cannot read {what} weights {path}: {e}") from None


def _vgg_params(arrays: dict, path: str, layers: tuple, what: str) -> dict:
  """The Flax params of VGG(layers) from torchvision's "features.N.weight/bias" tensors."""
  params, in_channels, conv_index = {}, 3, 0
  for layer in layers:
    if layer == "M":
      continue
    conv_index += 1
    prefix = f"features.{torchvision_index(layers, conv_index)}"
    kernel = _tensor(arrays, path, f"{prefix}.weight", (layer, in_channels, 3, 3), what)
    bias = _tensor(arrays, path, f"{prefix}.bias", (layer,), what)
    params[f"conv{conv_index}"] = {
      "kernel": jnp.asarray(kernel.transpose(2, 3, 1, 0), jnp.float32),
      "bias": jnp.asarray(bias, jnp.float32),
    }
    in_channels = layer
  return params


def load_lpips(path: str) -> tuple[dict, list[Array]]:
  """(VGG16's Flax variables, LPIPS's five per-channel weights) from the converted .npz; a
  one-line ConfigError naming the first missing or misshapen tensor."""
  what = "LPIPS-VGG16"
  arrays = _read_npz(path, what)
  params = _vgg_params(arrays, path, VGG16, what)
  widths = [c for c in VGG16 if c != "M"]
  lins = [
    jnp.asarray(
      _tensor(arrays, path, f"lin{i}.model.1.weight", (1, widths[tap - 1], 1, 1), what).reshape(-1),
      jnp.float32,
    )
    for i, tap in enumerate(LPIPS_TAPS)
  ]
  return {"params": params}, lins


def load_vgg19(path: str) -> dict:
  """VGG19's Flax variables (for VGG(layers=VGG19)) from torchvision's converted .npz; a
  one-line ConfigError naming the first missing or misshapen tensor."""
  return {"params": _vgg_params(_read_npz(path, "VGG19"), path, VGG19, "VGG19")}


def _tensor(arrays: dict, path: str, name: str, shape: tuple, what: str) -> np.ndarray:
  if name not in arrays:
    raise ConfigError(
      f"{path} is not {what} (it lacks {name}): convert the weights as jaxgan.models.vgg says"
    )
  if arrays[name].shape != shape:
    raise ConfigError(f"{path}: {name} has shape {arrays[name].shape}, {what} needs {shape}")
  return np.asarray(arrays[name])


def convert(vgg_path: str, lpips_path: str | None, output: str) -> None:
  """torchvision's VGG (and LPIPS's linear layers) (.pth state dicts) → the .npz load_lpips
  or load_vgg19 reads (needs PyTorch).

  Args:
    vgg_path: torchvision's vgg16-397923af.pth or vgg19-dcbb9e9d.pth.
    lpips_path: the lpips package's weights/v0.1/vgg.pth, or None for VGG alone.
    output: the .npz to write.
  """
  import torch  # only here: converting is the one step that needs it

  arrays = {}
  for name, tensor in torch.load(vgg_path, map_location="cpu").items():
    if name.startswith("features."):
      arrays[name] = tensor.numpy()
  for name, tensor in (torch.load(lpips_path, map_location="cpu") if lpips_path else {}).items():
    arrays[name.removeprefix("module.")] = tensor.numpy()
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  np.savez(output, **arrays)


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description="Convert VGG (+ LPIPS) weights for jaxgan.")
  parser.add_argument("--vgg", required=True, help="torchvision's vgg16 or vgg19 .pth")
  parser.add_argument("--lpips", help="the lpips package's weights/v0.1/vgg.pth (VGG16 only)")
  parser.add_argument("--output", required=True, help="where the .npz goes")
  args = parser.parse_args()
  convert(args.vgg, args.lpips, os.path.expanduser(args.output))
