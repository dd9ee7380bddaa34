"""VQGAN's encoder and decoder (Esser et al. 2021), after CompVis/taming-transformers
(taming/modules/diffusionmodules/model.py: Encoder, Decoder; taming/models/vqgan.py: VQModel).

  Encoder: x ─ Conv3 to ch ─ per level i: num_res_blocks × ResBlock(ch·mult_i) [+ attention
           at attn_resolutions], then a stride-2 Conv3 (padded right and bottom only) but at
           the last level ─ ResBlock, attention, ResBlock ─ GroupNorm ─ swish ─ Conv3 to z
  Decoder: z ─ Conv3 ─ ResBlock, attention, ResBlock ─ per level from the last:
           (num_res_blocks + 1) × ResBlock [+ attention], then nearest ×2 and Conv3 but at
           the first level ─ GroupNorm ─ swish ─ Conv3 to the image
  ResBlock: GroupNorm ─ swish ─ Conv3 ─ GroupNorm ─ swish ─ Conv3, plus a 1×1 conv shortcut
           when the width changes
  Attention: GroupNorm, then q, k, v 1×1 convs to C, softmax(q kᵀ/√C) v, a 1×1 conv out,
           added to the input (single-head, every position to every position)

The autoencoder is encoder ─ 1×1 conv to the code dimension ─ VectorQuantizer
(jaxgan.models.vq) ─ 1×1 conv ─ decoder, as VQModel's quant_conv and post_quant_conv; the
code grid is (image size / 2^(levels − 1))². GroupNorm uses 32 groups as the authors' code,
or fewer when a layer has fewer than 32 channels (the digits' small widths).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.resample import nearest_upsample2d
from jaxgan.models.vq import Quantized, VectorQuantizer

Array = jax.Array


def group_norm(channels: int) -> nn.GroupNorm:
  """The authors' Normalize: GroupNorm with 32 groups and ε = 1e-6 (gcd(32, channels) groups
  for widths that 32 does not divide)."""
  return nn.GroupNorm(num_groups=math.gcd(32, channels), epsilon=1e-6)


def conv(features: int, kernel: int = 3, name: str | None = None) -> nn.Conv:
  """A stride-1 'same' convolution with Flax's default init (the authors' is PyTorch's).

  Args:
    features: the output channels.
    kernel: the kernel's side.
    name: the module's name (None: Flax's automatic one).

  Returns:
    The nn.Conv.
  """
  return nn.Conv(features, (kernel, kernel), padding="SAME", name=name)


class ResBlock(nn.Module):
  """GroupNorm ─ swish ─ Conv3 ─ GroupNorm ─ swish ─ Conv3, plus a 1×1 shortcut on a change
  of width (taming's ResnetBlock without the timestep embedding and dropout)."""

  features: int

  @nn.compact
  def __call__(self, x: Array) -> Array:
    h = conv(self.features)(nn.swish(group_norm(x.shape[-1])(x)))
    h = conv(self.features)(nn.swish(group_norm(self.features)(h)))
    if x.shape[-1] != self.features:
      x = conv(self.features, 1, name="shortcut")(x)
    return x + h


class AttentionBlock(nn.Module):
  """x + proj(softmax(q kᵀ / √C) v) over all H·W positions, after a GroupNorm."""

  @nn.compact
  def __call__(self, x: Array) -> Array:
    b, h, w, c = x.shape
    normed = group_norm(c)(x)
    q, k, v = (conv(c, 1, name=n)(normed).reshape(b, h * w, c) for n in ("q", "k", "v"))
    weights = jax.nn.softmax(jnp.einsum("bic,bjc->bij", q, k) / jnp.sqrt(c), axis=-1)
    out = jnp.einsum("bij,bjc->bic", weights, v).reshape(b, h, w, c)
    return x + conv(c, 1, name="proj_out")(out)


def downsample(x: Array, conv_layer: nn.Conv) -> Array:
  """The authors' Downsample: zero-pad one pixel right and bottom, then a 3×3 stride-2 conv."""
  padded = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
  return conv_layer(padded)


class Encoder(nn.Module):
  """Images [B, S, S, C] → z [B, S/2^(L−1), S/2^(L−1), z_channels]."""

  width: int = 128  # ch
  channel_multipliers: Sequence[int] = (1, 1, 2, 2, 4)
  num_res_blocks: int = 2
  attn_resolutions: Sequence[int] = (16,)
  z_channels: int = 256

  @nn.compact
  def __call__(self, x: Array) -> Array:
    h = conv(self.width)(x)
    resolution = x.shape[1]
    for level, multiplier in enumerate(self.channel_multipliers):
      for _ in range(self.num_res_blocks):
        h = ResBlock(self.width * multiplier)(h)
        if resolution in self.attn_resolutions:
          h = AttentionBlock()(h)
      if level != len(self.channel_multipliers) - 1:
        features = h.shape[-1]
        h = downsample(h, nn.Conv(features, (3, 3), strides=2, padding="VALID"))
        resolution //= 2
    h = ResBlock(h.shape[-1])(h)
    h = AttentionBlock()(h)
    h = ResBlock(h.shape[-1])(h)
    return conv(self.z_channels)(nn.swish(group_norm(h.shape[-1])(h)))


LAST_LAYER = "conv_out"  # the decoder's last convolution: VQGAN's adaptive weight is taken there


class Decoder(nn.Module):
  """z [B, s, s, z_channels] → images [B, s·2^(L−1), s·2^(L−1), channels] (not squashed:
  the authors' decoder is linear at the end; the loss compares it with images in [−1, 1])."""

  channels: int = 3
  width: int = 128
  channel_multipliers: Sequence[int] = (1, 1, 2, 2, 4)
  num_res_blocks: int = 2
  attn_resolutions: Sequence[int] = (16,)

  @nn.compact
  def __call__(self, z: Array) -> Array:
    levels = len(self.channel_multipliers)
    h = conv(self.width * self.channel_multipliers[-1])(z)
    h = ResBlock(h.shape[-1])(h)
    h = AttentionBlock()(h)
    h = ResBlock(h.shape[-1])(h)
    resolution = z.shape[1]
    for level in reversed(range(levels)):
      for _ in range(self.num_res_blocks + 1):
        h = ResBlock(self.width * self.channel_multipliers[level])(h)
        if resolution in self.attn_resolutions:
          h = AttentionBlock()(h)
      if level != 0:
        h = conv(h.shape[-1])(nearest_upsample2d(h))
        resolution *= 2
    return conv(self.channels, name=LAST_LAYER)(nn.swish(group_norm(h.shape[-1])(h)))


class VQAutoencoder(nn.Module):
  """x → (reconstruction, Quantized): encoder, quant_conv, quantizer, post_quant_conv,
  decoder (taming's VQModel). `encode` gives the codes, `decode_codes` the images of a code
  grid (what the transformer's samples are turned back into)."""

  channels: int = 3
  width: int = 128
  channel_multipliers: Sequence[int] = (1, 1, 2, 2, 4)
  num_res_blocks: int = 2
  attn_resolutions: Sequence[int] = (16,)
  z_channels: int = 256
  num_codes: int = 1024
  code_dim: int = 256
  beta: float = 0.25
  ema_decay: float | None = None
  dead_threshold: float = 0.0

  def setup(self):
    levels = {
      "width": self.width,
      "channel_multipliers": tuple(self.channel_multipliers),
      "num_res_blocks": self.num_res_blocks,
      "attn_resolutions": tuple(self.attn_resolutions),
    }
    self.encoder = Encoder(z_channels=self.z_channels, **levels)
    self.quant_conv = nn.Conv(self.code_dim, (1, 1))
    self.quantizer = VectorQuantizer(
      self.num_codes, self.code_dim, self.beta, self.ema_decay, self.dead_threshold
    )
    self.post_quant_conv = nn.Conv(self.z_channels, (1, 1))
    self.decoder = Decoder(self.channels, **levels)

  def __call__(self, x: Array, train: bool = True) -> tuple[Array, Quantized]:
    quantized = self.quantizer(self.quant_conv(self.encoder(x)), train)
    return self.decoder(self.post_quant_conv(quantized.z_q)), quantized

  def encode(self, x: Array) -> Array:
    """The code grid [B, s, s] of images (eval mode)."""
    return self.quantizer(self.quant_conv(self.encoder(x)), False).codes

  def decode_codes(self, codes: Array) -> Array:
    """Images from a code grid [B, s, s] of integers."""
    return self.decoder(self.post_quant_conv(self.quantizer.lookup(codes)))
