"""Image completion networks (Iizuka, Simo-Serra & Ishikawa 2017, "Globally and Locally
Consistent Image Completion", Table 1 and 2), sized to the image.

    G = CompletionNetwork(image_size=64)   # [B, S, S, C + 1] (image, hole mask) → [B, S, S, C]
    D = GlobalLocalDiscriminator(image_size=64)   # (image, patch around the hole) → a logit

CompletionNetwork (their Table 1, widths in units of `width` = 64): a 5×5 convolution (w); two
stride-2 3×3 down-samplings (2w, then 4w) each followed by a 3×3 convolution, and one more
3×3 (4w); 3×3 convolutions of 4w dilated by each of `dilations` (2, 4, 8, 16: the receptive
field grows to most of the image without more down-sampling); two 3×3 (4w); two ×2
up-samplings (4×4 transposed convolutions to 2w and w), each followed by a 3×3 convolution (2w,
then w/2); a 3×3 convolution to the image's channels. BatchNorm and ReLU after every layer but
the last, whose output is tanh (theirs: a sigmoid on [0, 1] images).

GlobalLocalDiscriminator (their Table 2): the global branch sees the whole image through
log2(S/4) stride-2 5×5 convolutions (w, 2w, 4w, 8w, 8w, ...; 256 → 4 with six), the local
branch the patch of side S/2 around the hole through one fewer; each ends in a dense layer of
1024; the two are concatenated into one logit. BatchNorm and ReLU after every convolution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers
from jaxgan.models.conv import Conv, UpConv

Array = jax.Array
PAPER_DILATIONS = (2, 4, 8, 16)


def _norm_relu(h: Array, train: bool) -> Array:
  return nn.relu(layers.normalize(h, "batch", train))


class CompletionNetwork(nn.Module):
  """(image with its hole filled, hole mask) [B, S, S, C + 1] → the completed image [B, S, S, C]."""

  image_size: int = 64
  channels: int = 3
  width: int = 64
  dilations: Sequence[int] = PAPER_DILATIONS

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    if x.shape[1:3] != (self.image_size, self.image_size) or self.image_size % 4:
      raise ValueError(f"expected {self.image_size}×{self.image_size} inputs, a multiple of 4")
    w = self.width

    def conv(h, features, kernel=3, stride=1, dilation=1):
      pad = dilation * (kernel // 2)
      h = Conv(features, kernel, stride, pad, dilation=dilation)(h, train)
      return _norm_relu(h, train)

    h = conv(x, w, 5)
    h = conv(conv(h, 2 * w, stride=2), 2 * w)
    h = conv(conv(h, 4 * w, stride=2), 4 * w)
    h = conv(h, 4 * w)
    for rate in self.dilations:
      h = conv(h, 4 * w, dilation=rate)
    h = conv(conv(h, 4 * w), 4 * w)
    h = conv(_norm_relu(UpConv(2 * w)(h, train), train), 2 * w)
    h = conv(_norm_relu(UpConv(w)(h, train), train), max(w // 2, 1))
    return jnp.tanh(Conv(self.channels, 3, 1, 1)(h, train))


def _branch(h: Array, num_convs: int, width: int, train: bool) -> Array:
  for i in range(num_convs):
    h = Conv(min(width * 2**i, 8 * width), 5, 2, 2)(h, train)
    h = _norm_relu(h, train)
  return nn.relu(nn.Dense(1024)(h.reshape(h.shape[0], -1)))


class GlobalLocalDiscriminator(nn.Module):
  """(images [B, S, S, C], patches around the holes [B, S/2, S/2, C]) → a logit per example."""

  image_size: int = 64
  width: int = 64

  @nn.compact
  def __call__(self, inputs: tuple[Array, Array], train: bool = True) -> Array:
    images, patches = inputs
    global_convs = int(math.log2(self.image_size // 4))
    if 4 * 2**global_convs != self.image_size or global_convs < 2:
      raise ValueError(
        f"the discriminators need a power-of-two image size ≥ 16, got {self.image_size}"
      )
    g = _branch(images, global_convs, self.width, train)
    local = _branch(patches, global_convs - 1, self.width, train)
    return nn.Dense(1)(jnp.concatenate([g, local], axis=-1))[:, 0]
