"""The networks of image-to-image translation: pix2pix's U-Net and PatchGAN, CycleGAN's ResNet.

All are fully convolutional, NHWC, with DCGAN's N(0, 0.02) initialization (as in
the authors' code, networks.init_weights) and the fast convolutions of
jaxgan.models.conv. Generators map images in [−1, 1] to images in [−1, 1];
the PatchGAN returns one logit per overlapping patch, [B, h, w].
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.conv import Conv, UpConv
from jaxgan.models.layers import normalize

Array = jax.Array


def _leaky_relu(x: Array) -> Array:
  return nn.leaky_relu(x, negative_slope=0.2)


def _bias_before(normalization: str) -> bool:
  """A convolution followed by a normalization needs no bias: the normalization subtracts
  it again (BatchNorm's β, or nothing in CycleGAN's instance norm without γ, β). The
  authors' code keeps one before instance norm; its gradient is 0 up to rounding."""
  return normalization == "none"


def unet_depth(image_size: int) -> int:
  """The U-Net's number of down-samplings: log2(image_size), down to a 1×1 bottleneck."""
  depth = int(round(math.log2(image_size))) if image_size > 0 else 0
  if image_size < 4 or 2**depth != image_size:
    raise ValueError(f"the U-Net needs a power-of-two image size of at least 4, got {image_size}")
  return depth


class UNetGenerator(nn.Module):
  """pix2pix's generator: an encoder-decoder with skip connections (Isola et al. 2017, §3.2.1).

  Encoder: log2(S) 4×4 stride-2 convolutions, C64-C128-C256-C512-C512-...
  (width·2^i, at most width·max_multiplier channels), LeakyReLU(0.2), no
  normalization on the first and the innermost. Decoder: 4×4 stride-2
  transposed convolutions back up, ReLU, each output concatenated with the
  encoder's activation of the same size (the U-Net skips), tanh at the end.
  Dropout (rate 0.5) after the `dropout_layers` decoder layers that follow the
  innermost is G's only noise source; pix2pix keeps it on when sampling, so
  `deterministic=False` is the default. For S = 256 this is the paper's unet_256.
  """

  channels: int = 3  # output channels
  width: int = 64
  max_multiplier: int = 8
  normalization: str = "batch"
  dropout_rate: float = 0.5
  dropout_layers: int = 3

  def _width(self, level: int) -> int:
    return self.width * min(2**level, self.max_multiplier)

  @nn.compact
  def __call__(self, x: Array, train: bool = True, deterministic: bool = False) -> Array:
    depth = unet_depth(x.shape[1])
    bias = _bias_before(self.normalization)
    skips = []
    h = x
    for level in range(depth):
      if level > 0:
        h = _leaky_relu(h)
      inner = 0 < level < depth - 1
      h = Conv(self._width(level), 4, 2, 1, use_bias=bias or not inner)(h)
      if inner:
        h = normalize(h, self.normalization, train)
      skips.append(h)
    for level in reversed(range(depth)):
      h = nn.relu(h)
      if level == 0:
        return jnp.tanh(UpConv(self.channels)(h))
      h = normalize(UpConv(self._width(level - 1), use_bias=bias)(h), self.normalization, train)
      if depth - 1 - self.dropout_layers <= level < depth - 1 and self.dropout_rate > 0:
        h = nn.Dropout(self.dropout_rate, deterministic=deterministic)(h)
      h = jnp.concatenate([skips[level - 1], h], axis=-1)
    raise AssertionError("unreachable")


def patchgan_receptive_field(num_layers: int) -> int:
  """The input patch each PatchGAN logit sees: 70 for 3 layers, 34 for 2, 16 for 1 (≥ 1).

  Walking back from the output: two 4×4 stride-1 convolutions (r = 7), then
  num_layers 4×4 stride-2 ones, each r → 2(r − 1) + 4.
  """
  field = 7
  for _ in range(num_layers):
    field = 2 * (field - 1) + 4
  return field


class PatchGANDiscriminator(nn.Module):
  """A Markovian discriminator: one real/fake logit per overlapping patch (Isola et al. 2017,
  §3.2.2).

  C64-C128-C256-C512 for num_layers = 3, the 70×70 PatchGAN of pix2pix and
  CycleGAN: num_layers 4×4 stride-2 convolutions, then a 4×4 stride-1 one,
  then a 4×4 stride-1 convolution to one channel, LeakyReLU(0.2), normalization
  on all but the first and last. The receptive field is
  patchgan_receptive_field(num_layers). pix2pix feeds it the input and the
  output as one image (channels concatenated). Returns logits [B, h, w].
  """

  width: int = 64
  num_layers: int = 3
  normalization: str = "batch"
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    if self.num_layers < 1:
      raise ValueError(f"a PatchGAN needs at least 1 layer, got {self.num_layers}")
    bias = _bias_before(self.normalization)
    sn = self.spectral_norm
    h = _leaky_relu(Conv(self.width, 4, 2, 1, spectral_norm=sn)(x, train))
    for layer in range(1, self.num_layers + 1):
      stride = 2 if layer < self.num_layers else 1
      width = self.width * min(2**layer, 8)
      h = Conv(width, 4, stride, 1, use_bias=bias, spectral_norm=sn)(h, train)
      h = _leaky_relu(normalize(h, self.normalization, train))
    return Conv(1, 4, 1, 1, spectral_norm=sn)(h, train)[..., 0]


def reflect_pad(x: Array, pad: int) -> Array:
  """Pads height and width by mirroring (PyTorch's ReflectionPad2d)."""
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


class ResNetTranslator(nn.Module):
  """CycleGAN's generator (Zhu et al. 2017, appendix 7.2; Johnson et al. 2016's network).

  c7s1-64, d128, d256, num_blocks × R256, u128, u64, c7s1-3: a 7×7 convolution
  on a reflection-padded input, two 3×3 stride-2 down-samplings, residual blocks
  (reflection pad, 3×3 conv, norm, ReLU, twice, plus the input), two
  up-samplings, a 7×7 convolution to the output channels, tanh. Instance norm
  by default. Up-sampling: a 4×4 stride-2 transposed convolution (padding 1)
  where the authors use 3×3 with output padding 1; both double the size, and
  the 4×4 one has no checkerboard bias from uneven kernel overlap. 9 blocks for
  256×256 images, 6 for 128×128 and smaller.
  """

  channels: int = 3
  width: int = 64
  num_blocks: int = 9
  num_downsamplings: int = 2
  normalization: str = "instance"

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    bias = _bias_before(self.normalization)

    def conv_norm_relu(h, features, kernel, stride, padding):
      h = Conv(features, kernel, stride, padding, use_bias=bias)(h)
      return nn.relu(normalize(h, self.normalization, train))

    h = conv_norm_relu(reflect_pad(x, 3), self.width, 7, 1, 0)
    for i in range(self.num_downsamplings):
      h = conv_norm_relu(h, self.width * 2 ** (i + 1), 3, 2, 1)
    features = h.shape[-1]
    for _ in range(self.num_blocks):
      r = conv_norm_relu(reflect_pad(h, 1), features, 3, 1, 0)
      r = Conv(features, 3, 1, 0, use_bias=bias)(reflect_pad(r, 1))
      h = h + normalize(r, self.normalization, train)
    for i in reversed(range(self.num_downsamplings)):
      h = UpConv(self.width * 2**i, use_bias=bias)(h)
      h = nn.relu(normalize(h, self.normalization, train))
    return jnp.tanh(Conv(self.channels, 7, 1, 0)(reflect_pad(h, 3)))
