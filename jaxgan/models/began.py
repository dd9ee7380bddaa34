"""BEGAN's generator and autoencoder discriminator (Berthelot et al. 2017, Fig. 1).

Decoder (G, and the second half of D), for image size S = 8·2^m:

  h ─ Dense to 8×8×n ─ m × (Conv3 ─ ELU ─ Conv3 ─ ELU ─ up ×2) ─ Conv3 ─ ELU ─ Conv3 ─ ELU
    ─ Conv3 to channels

Encoder (the first half of D):

  x ─ Conv3 ─ ELU ─ m × (Conv3 ─ ELU ─ Conv3 ─ ELU ─ Conv3/2 to more filters) ─ Conv3 ─ ELU
    ─ Conv3 ─ ELU ─ Dense to h

with n filters (n·(i+1) after the i-th down-sampling) and an embedding h of
size `embedding`. D's "adv" output is each example's reconstruction loss
L(v) = mean|v − D(v)|^η (η = 1), which the BEGAN losses take.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.conv import Conv, Dense
from jaxgan.models.resample import nearest_upsample2d as upsample

Array = jax.Array


def _levels(image_size: int) -> int:
  m = 0
  while 8 * 2**m < image_size:
    m += 1
  if 8 * 2**m != image_size:
    raise ValueError(f"BEGAN's models need an image size 8·2^m (8, 16, 32, 64), got {image_size}")
  return m


class BEGANDecoder(nn.Module):
  """h [B, embedding or latent] → images [B, S, S, channels]."""

  image_size: int = 32
  channels: int = 3
  filters: int = 64
  output_activation: str = "none"

  @nn.compact
  def __call__(self, h: Array, train: bool = True) -> Array:
    n = self.filters
    x = Dense(8 * 8 * n)(h.reshape(h.shape[0], -1), train).reshape(-1, 8, 8, n)
    for level in range(_levels(self.image_size) + 1):
      x = nn.elu(Conv(n, 3, 1, 1)(x, train))
      x = nn.elu(Conv(n, 3, 1, 1)(x, train))
      if level < _levels(self.image_size):
        x = upsample(x)
    x = Conv(self.channels, 3, 1, 1)(x, train)
    return jnp.tanh(x) if self.output_activation == "tanh" else x


class BEGANGenerator(nn.Module):
  """z [B, latent] → images in [−1, 1]: the decoder with a tanh output."""

  image_size: int = 32
  channels: int = 3
  filters: int = 64

  @nn.compact
  def __call__(self, z: Array, train: bool = True) -> Array:
    return BEGANDecoder(self.image_size, self.channels, self.filters, "tanh")(z, train)


class BEGANDiscriminator(nn.Module):
  """An autoencoder: images → {"adv": L(x) per example, "reconstruction": D(x)}."""

  image_size: int = 32
  filters: int = 64
  embedding: int = 64

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> dict[str, Array]:
    n, levels = self.filters, _levels(self.image_size)
    h = nn.elu(Conv(n, 3, 1, 1)(x, train))
    for level in range(levels + 1):
      h = nn.elu(Conv(n * (level + 1), 3, 1, 1)(h, train))
      h = nn.elu(Conv(n * (level + 1), 3, 1, 1)(h, train))
      if level < levels:
        h = nn.elu(Conv(n * (level + 2), 3, 2, 1)(h, train))
    embedding = Dense(self.embedding)(h.reshape(h.shape[0], -1), train)
    reconstruction = BEGANDecoder(self.image_size, x.shape[-1], n)(embedding, train)
    # L(x) = mean |x − D(x)|: jaxgan.losses.began_reconstruction_loss with η = 1 (models
    # import no losses; a test checks the two agree).
    error = jnp.abs(x - reconstruction).reshape(x.shape[0], -1)
    return {"adv": jnp.mean(error, axis=1), "reconstruction": reconstruction}
