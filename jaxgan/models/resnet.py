"""The CIFAR ResNet generator and discriminator of WGAN-GP and SNGAN.

Gulrajani et al. 2017 (gan_cifar_resnet.py) and Miyato et al. 2018,
Appendix B.4 (Table 4). For 32×32 images:

  G: z ─ Dense to 4×4×ch ─ 3 × ResBlock(up) ─ BN ─ ReLU ─ Conv 3×3 to channels ─ tanh
  D: x ─ OptimizedBlock(down) ─ ResBlock(down) ─ ResBlock ─ ResBlock ─ ReLU
       ─ global sum pool ─ Dense(1)        (every layer spectrally normalized in SNGAN)

A ResBlock is BN ─ ReLU ─ [up] ─ Conv 3×3 ─ BN ─ ReLU ─ Conv 3×3 plus a
shortcut (up/down-sampled, 1×1 conv when the shape changes); D's blocks have
no BN. Up-sampling is nearest-neighbour, down-sampling 2×2 average pooling.
Class-conditional: G's BatchNorms become ConditionalBatchNorm, D gains the
projection term (Miyato & Koyama 2018). attention=R puts a self-attention block
(jaxgan.models.attention, SAGAN) after the block whose output is R×R, as BigGAN's
code places it: G at 8, 16 or 32, D at 16 or 8.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers
from jaxgan.models.attention import SelfAttention
from jaxgan.models.conv import Conv, Dense
from jaxgan.models.gan_layers import ConditionalBatchNorm, Projection
from jaxgan.models.resample import average_pool2d as downsample
from jaxgan.models.resample import nearest_upsample2d as upsample

Array = jax.Array
XAVIER = nn.initializers.xavier_uniform()  # the authors' init (SNGAN's chainer code: GlorotUniform)


def check_attention(attention: int, resolutions: tuple[int, ...], network: str) -> None:
  """A ValueError unless `attention` is 0 (none) or one of the block outputs' resolutions.

  Args:
    attention: the resolution asked for.
    resolutions: those of the network's block outputs.
    network: its name, for the message.
  """
  if attention and attention not in resolutions:
    raise ValueError(
      f"{network} has no block at {attention}×{attention} for self-attention: choose one of "
      f"{', '.join(map(str, resolutions))} (0: none)"
    )


class GeneratorBlock(nn.Module):
  """BN ─ ReLU ─ up ─ Conv3 ─ BN ─ ReLU ─ Conv3, plus up ─ Conv1 as the shortcut."""

  features: int
  num_classes: int = 0
  batchnorm_groups: int = 1

  def _norm(self, h, labels, train):
    if self.num_classes:
      return ConditionalBatchNorm(self.num_classes)(h, labels, train)
    return layers.BatchNorm(num_groups=self.batchnorm_groups)(h, train)

  @nn.compact
  def __call__(self, x: Array, labels: Array | None, train: bool) -> Array:
    h = upsample(nn.relu(self._norm(x, labels, train)))
    h = Conv(self.features, 3, 1, 1, kernel_init=XAVIER)(h, train)
    h = nn.relu(self._norm(h, labels, train))
    h = Conv(self.features, 3, 1, 1, kernel_init=XAVIER)(h, train)
    shortcut = Conv(self.features, 1, 1, 0, kernel_init=XAVIER)(upsample(x), train)
    return h + shortcut


class DiscriminatorBlock(nn.Module):
  """ReLU ─ Conv3 ─ ReLU ─ Conv3 ─ [down], plus Conv1 ─ [down] when the shape changes.

  optimized=True is the first block (no ReLU before the first conv; the
  shortcut pools before its 1×1 conv), as in Miyato et al.'s code.
  """

  features: int
  down: bool = True
  optimized: bool = False
  spectral_norm: bool = True

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    sn = self.spectral_norm
    h = x if self.optimized else nn.relu(x)
    h = Conv(self.features, 3, 1, 1, spectral_norm=sn, kernel_init=XAVIER)(h, train)
    h = Conv(self.features, 3, 1, 1, spectral_norm=sn, kernel_init=XAVIER)(nn.relu(h), train)
    if self.down:
      h = downsample(h)
    shortcut = x
    if self.optimized:
      shortcut = Conv(self.features, 1, 1, 0, spectral_norm=sn, kernel_init=XAVIER)(
        downsample(x), train
      )
    elif self.down or x.shape[-1] != self.features:
      shortcut = Conv(self.features, 1, 1, 0, spectral_norm=sn, kernel_init=XAVIER)(x, train)
      if self.down:
        shortcut = downsample(shortcut)
    return h + shortcut


class ResNetGenerator(nn.Module):
  """z [B, latent] (and labels) → images [B, 32, 32, channels] in [−1, 1]."""

  image_size: int = 32
  channels: int = 3
  width: int = 128
  num_classes: int = 0
  batchnorm_groups: int = 1
  attention: int = 0  # self-attention after the block making attention×attention maps

  @nn.compact
  def __call__(self, z: Array, labels: Array | None = None, train: bool = True) -> Array:
    if self.image_size != 32:
      raise ValueError(f"the CIFAR ResNet generator makes 32×32 images, not {self.image_size}")
    check_attention(self.attention, (8, 16, 32), "the ResNet generator")
    if self.num_classes and labels is None:
      raise ValueError(f"this model is conditional ({self.num_classes} classes): pass labels")
    h = Dense(4 * 4 * self.width, kernel_init=XAVIER)(z.reshape(z.shape[0], -1), train)
    h = h.reshape(-1, 4, 4, self.width)
    for _ in range(3):
      h = GeneratorBlock(self.width, self.num_classes, self.batchnorm_groups)(h, labels, train)
      if h.shape[1] == self.attention:
        h = SelfAttention()(h, train)
    h = nn.relu(layers.BatchNorm(num_groups=self.batchnorm_groups)(h, train))
    return jnp.tanh(Conv(self.channels, 3, 1, 1, kernel_init=XAVIER)(h, train))


class ResNetDiscriminator(nn.Module):
  """Images [B, 32, 32, C] (and labels) → a score per example [B] (a dict with features)."""

  image_size: int = 32
  width: int = 128
  spectral_norm: bool = True
  num_classes: int = 0
  return_features: bool = False
  attention: int = 0  # self-attention after the first block with attention×attention outputs

  @nn.compact
  def __call__(self, x: Array, labels: Array | None = None, train: bool = True):
    if x.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"expected {self.image_size}×{self.image_size} images, got {x.shape[1:]}")
    check_attention(self.attention, (16, 8), "the ResNet discriminator")
    if self.num_classes and labels is None:
      raise ValueError(f"this model is conditional ({self.num_classes} classes): pass labels")
    sn = self.spectral_norm
    blocks = [
      DiscriminatorBlock(self.width, optimized=True, spectral_norm=sn),
      DiscriminatorBlock(self.width, down=True, spectral_norm=sn),
      DiscriminatorBlock(self.width, down=False, spectral_norm=sn),
      DiscriminatorBlock(self.width, down=False, spectral_norm=sn),
    ]
    h, attended = x, False
    for block in blocks:
      h = block(h, train)
      if not attended and h.shape[1] == self.attention:
        h, attended = SelfAttention(spectral_norm=sn)(h, train), True
    features = jnp.sum(nn.relu(h), axis=(1, 2))  # global sum pooling
    score = Dense(1, spectral_norm=sn, kernel_init=XAVIER)(features, train)[:, 0]
    if self.num_classes:
      score = score + Projection(self.num_classes, sn)(features, labels, train)
    return {"adv": score, "features": features} if self.return_features else score
