"""Super-resolution networks: SRGAN's SRResNet and discriminator (Ledig et al. 2017), ESRGAN's
RRDB generator (Wang et al. 2018).

    G = SRResNet(scale=4)                         # [B, h, w, 3] → [B, 4h, 4w, 3]
    G = RRDBNet(scale=4)                          # ESRGAN's generator
    D = SRDiscriminator()                         # [B, H, W, 3] → a logit per image

SRResNet (Ledig et al. 2017, Fig. 4): a 9×9 convolution and PReLU; B residual blocks of
(3×3 conv, BatchNorm, PReLU, 3×3 conv, BatchNorm) + skip; a 3×3 conv and BatchNorm added to the
first layer's output; log2(scale) up-sampling blocks of (3×3 conv to 4C, PixelShuffle ×2,
PReLU); a 9×9 convolution to the image (linear).

RRDBNet (ESRGAN, the authors' RRDBNet_arch.py): a 3×3 conv; N residual-in-residual dense blocks,
each three dense blocks of five 3×3 convs (growth 32, LeakyReLU 0.2, every conv seeing all the
earlier outputs) whose output is scaled by β = 0.2 and added to the input, and the RRDB's own
output again scaled by 0.2 and added; a trunk conv added to the first conv's output; per ×2,
nearest-neighbour up-sampling and a 3×3 conv with LeakyReLU; two 3×3 convs to the image. No
BatchNorm. Its convolutions start as He-normal × 0.1 (their initialize_weights(…, 0.1)).

SRDiscriminator (SRGAN Fig. 4, ESRGAN's VGG-style D): 3×3 convs of 64, 64, 128, 128, 256, 256,
512, 512 channels, the even ones of stride 2, BatchNorm after all but the first, LeakyReLU 0.2;
a dense layer of 1024, LeakyReLU, one logit.

`pixel_shuffle` is PyTorch's nn.PixelShuffle in NHWC: [B, h, w, C·r²] → [B, h·r, w·r, C], output
pixel (i·r + a, j·r + b) of channel c taken from input channel c·r² + a·r + b.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers
from jaxgan.models.conv import Conv

Array = jax.Array
SCALES = (2, 4)
HE_INIT = nn.initializers.variance_scaling(2.0, "fan_in", "normal")
RRDB_INIT = nn.initializers.variance_scaling(2.0 * 0.1**2, "fan_in", "normal")  # He × 0.1


def pixel_shuffle(x: Array, r: int) -> Array:
  """[B, h, w, C·r²] → [B, h·r, w·r, C] (see the module docstring).

  Args:
    x: the input, its channels a multiple of r².
    r: the up-sampling factor.

  Returns:
    The shuffled image.
  """
  b, h, w, channels = x.shape
  c = channels // (r * r)
  x = x.reshape(b, h, w, c, r, r)
  return x.transpose(0, 1, 4, 2, 5, 3).reshape(b, h * r, w * r, c)


def check_scale(scale: int) -> int:
  """The number of ×2 up-sampling steps of a scale factor; 2 and 4 only (the papers')."""
  if scale not in SCALES:
    raise ValueError(f"the scale factor must be 2 or 4, got {scale}")
  return int(math.log2(scale))


def _prelu(name: str | None = None):
  return nn.PReLU(negative_slope_init=0.25, name=name)  # PyTorch's nn.PReLU() default


class SRResNet(nn.Module):
  """SRGAN's generator: LR images [B, h, w, C] → SR images [B, h·scale, w·scale, channels]."""

  scale: int = 4
  num_blocks: int = 16
  width: int = 64
  channels: int = 3

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    steps = check_scale(self.scale)

    def conv(features, kernel=3):
      return Conv(features, kernel, 1, kernel // 2, kernel_init=HE_INIT)

    first = _prelu()(conv(self.width, 9)(x, train))
    h = first
    for _ in range(self.num_blocks):
      r = _prelu()(layers.normalize(conv(self.width)(h, train), "batch", train))
      h = h + layers.normalize(conv(self.width)(r, train), "batch", train)
    h = first + layers.normalize(conv(self.width)(h, train), "batch", train)
    for _ in range(steps):
      h = _prelu()(pixel_shuffle(conv(4 * self.width)(h, train), 2))
    return conv(self.channels, 9)(h, train)


class DenseBlock(nn.Module):
  """ESRGAN's ResidualDenseBlock_5C: x + β·conv5([x, x1, x2, x3, x4])."""

  width: int = 64
  growth: int = 32
  residual_scale: float = 0.2

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    features = [x]
    for _ in range(4):
      h = Conv(self.growth, 3, 1, 1, kernel_init=RRDB_INIT)(jnp.concatenate(features, -1), train)
      features.append(nn.leaky_relu(h, 0.2))
    out = Conv(self.width, 3, 1, 1, kernel_init=RRDB_INIT)(jnp.concatenate(features, -1), train)
    return x + self.residual_scale * out


class RRDB(nn.Module):
  """Residual-in-residual dense block: x + β·DB(DB(DB(x)))."""

  width: int = 64
  growth: int = 32
  residual_scale: float = 0.2

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    h = x
    for _ in range(3):
      h = DenseBlock(self.width, self.growth, self.residual_scale)(h, train)
    return x + self.residual_scale * h


class RRDBNet(nn.Module):
  """ESRGAN's generator: LR images [B, h, w, C] → SR images [B, h·scale, w·scale, channels]."""

  scale: int = 4
  num_blocks: int = 23
  width: int = 64
  growth: int = 32
  residual_scale: float = 0.2
  channels: int = 3

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    steps = check_scale(self.scale)

    def conv(features):
      return Conv(features, 3, 1, 1, kernel_init=HE_INIT)

    first = conv(self.width)(x, train)
    h = first
    for _ in range(self.num_blocks):
      h = RRDB(self.width, self.growth, self.residual_scale)(h, train)
    h = first + conv(self.width)(h, train)
    for _ in range(steps):
      b, height, width, c = h.shape
      h = jax.image.resize(h, (b, 2 * height, 2 * width, c), "nearest")
      h = nn.leaky_relu(conv(self.width)(h, train), 0.2)
    h = nn.leaky_relu(conv(self.width)(h, train), 0.2)
    return conv(self.channels)(h, train)


class SRDiscriminator(nn.Module):
  """HR images [B, H, W, C] → a logit per image [B] (the module docstring's VGG-style D)."""

  width: int = 64
  dense_width: int = 1024

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    h = x
    for i in range(8):
      h = Conv(self.width * 2 ** (i // 2), 3, 1 + i % 2, 1, kernel_init=HE_INIT)(h, train)
      if i > 0:
        h = layers.normalize(h, "batch", train)
      h = nn.leaky_relu(h, 0.2)
    h = nn.leaky_relu(nn.Dense(self.dense_width)(h.reshape(h.shape[0], -1)), 0.2)
    return nn.Dense(1)(h)[:, 0]
