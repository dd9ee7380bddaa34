"""DCGAN (Radford et al. 2016) and its conditional and auxiliary variants.

Generator, for image size S = 4·2^n (32: n = 3, 64: n = 4):

    z ─ Dense to 4×4×(w·2^(n−1)) ─ [BN, ReLU] ─ n × (UpConv 4×4/2 ─ [BN, ReLU]) ─ tanh
        (the first layer is PyTorch's ConvTranspose2d(k=4, s=1, p=0) on a 1×1
         input, which is exactly a dense layer; the last UpConv outputs the
         image channels and has no BN)

Discriminator:

    x ─ n × (Conv 4×4/2 ─ [norm] ─ LeakyReLU 0.2) ─ Conv 4×4 valid (a dense layer) ─ score

with widths w, 2w, 4w, ...; no normalization after the first conv (paper, §3).
`benchmarks/step.py --workload=dcgan32` is this pair with w = 64, no BN in D.

Conditioning (num_classes > 0): "concat" feeds the one-hot label to G beside
z and to D as constant extra input channels (Mirza & Osindero 2014);
"projection" gives G class-conditional BatchNorm and D the projection term
(Miyato & Koyama 2018). `aux_classes` adds ACGAN's classifier head to D
(Odena et al. 2017); `info_codes` InfoGAN's Q head (Chen et al. 2016).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers
from jaxgan.models.conv import Conv, Dense, UpConv
from jaxgan.models.gan_layers import (
  ConditionalBatchNorm,
  InfoHead,
  MinibatchDiscrimination,
  MinibatchStdDev,
  Projection,
)

Array = jax.Array
CONDITIONINGS = ("concat", "projection")


def num_upsamplings(image_size: int) -> int:
  """n with image_size = 4·2^n, or a ValueError naming the sizes that work."""
  n = round(math.log2(max(image_size, 1) / 4))
  if n < 1 or 4 * 2**n != image_size:
    raise ValueError(f"image size {image_size} is not 4·2^n (8, 16, 32, 64, 128, ...)")
  return n


def _check_conditioning(conditioning: str, num_classes: int, labels) -> None:
  if conditioning not in CONDITIONINGS:
    raise ValueError(f"unknown conditioning {conditioning!r}: choose {', '.join(CONDITIONINGS)}")
  if num_classes and labels is None:
    raise ValueError(f"this model is conditional ({num_classes} classes): pass labels")


class DCGANGenerator(nn.Module):
  """z [B, latent] (and labels [B]) → images [B, S, S, channels] in [−1, 1]."""

  image_size: int = 32
  channels: int = 3
  width: int = 64
  normalization: str = "batch"  # "batch" or "none"
  num_classes: int = 0
  conditioning: str = "concat"
  batchnorm_groups: int = 1

  def _norm(self, h: Array, labels, train: bool) -> Array:
    if self.normalization == "none":
      return h
    if self.num_classes and self.conditioning == "projection":
      return ConditionalBatchNorm(self.num_classes)(h, labels, train)
    return layers.BatchNorm(num_groups=self.batchnorm_groups)(h, train)

  @nn.compact
  def __call__(self, z: Array, labels: Array | None = None, train: bool = True) -> Array:
    _check_conditioning(self.conditioning, self.num_classes, labels)
    n = num_upsamplings(self.image_size)
    h = z.reshape(z.shape[0], -1)
    if self.num_classes and self.conditioning == "concat":
      h = jnp.concatenate([h, jax.nn.one_hot(labels, self.num_classes, dtype=h.dtype)], -1)
    top = self.width * 2 ** (n - 1)
    h = Dense(4 * 4 * top, use_bias=False)(h, train).reshape(-1, 4, 4, top)
    h = nn.relu(self._norm(h, labels, train))
    for i in range(n - 1):
      h = UpConv(top // 2 ** (i + 1), use_bias=False)(h, train)
      h = nn.relu(self._norm(h, labels, train))
    return jnp.tanh(UpConv(self.channels, use_bias=False)(h, train))


class DCGANDiscriminator(nn.Module):
  """Images [B, S, S, C] (and labels [B]) → a score per example [B], or a dict of heads.

  The dict, returned when any head beyond the score is asked for, holds
  "adv" (the score) and, as configured, "class_logits" (ACGAN), "code_logits"
  and "code_mean" (InfoGAN), "features" (the last hidden layer, for feature
  matching).
  """

  image_size: int = 32
  width: int = 64
  normalization: str = "none"  # "none", "batch" or "layer"
  spectral_norm: bool = False
  num_classes: int = 0
  conditioning: str = "concat"
  aux_classes: int = 0
  info_categorical: Sequence[int] = ()
  info_continuous: int = 0
  minibatch_discrimination: int = 0  # kernels K (0: off)
  minibatch_stddev: bool = False
  return_features: bool = False
  batchnorm_groups: int = 1

  @property
  def mixes_examples(self) -> bool:
    """Minibatch layers compare examples: real and fake batches must go through D apart."""
    return bool(self.minibatch_discrimination or self.minibatch_stddev)

  @nn.compact
  def __call__(self, x: Array, labels: Array | None = None, train: bool = True):
    _check_conditioning(self.conditioning, self.num_classes, labels)
    n = num_upsamplings(self.image_size)
    if x.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"expected {self.image_size}×{self.image_size} images, got {x.shape[1:]}")
    h = x
    if self.num_classes and self.conditioning == "concat":
      maps = jax.nn.one_hot(labels, self.num_classes, dtype=x.dtype)[:, None, None, :]
      h = jnp.concatenate([h, jnp.broadcast_to(maps, (*x.shape[:3], self.num_classes))], -1)
    for i in range(n):
      h = Conv(self.width * 2**i, 4, 2, 1, spectral_norm=self.spectral_norm)(h, train)
      if i > 0:
        h = layers.normalize(h, self.normalization, train, self.batchnorm_groups)
      h = nn.leaky_relu(h, 0.2)
    if self.minibatch_stddev:
      h = MinibatchStdDev()(h)
    features = h.reshape(h.shape[0], -1)
    if self.minibatch_discrimination:
      features = MinibatchDiscrimination(self.minibatch_discrimination)(features)
    score = Dense(1, spectral_norm=self.spectral_norm)(features, train)[:, 0]
    if self.num_classes and self.conditioning == "projection":
      score = score + Projection(self.num_classes, self.spectral_norm)(features, labels, train)
    heads = {}
    if self.aux_classes:
      heads["class_logits"] = Dense(self.aux_classes)(features, train)
    if self.info_categorical or self.info_continuous:
      heads.update(InfoHead(tuple(self.info_categorical), self.info_continuous)(features, train))
    if self.return_features:
      heads["features"] = features
    return {"adv": score, **heads} if heads else score
