"""GAN-CLS's networks (Reed et al. 2016, "Generative Adversarial Text to Image Synthesis"):
a DCGAN pair conditioned on a caption, after the authors' code (reedscot/icml2016).

    G:  φ(t) ─ Dense(nt) ─ LeakyReLU 0.2 ─┐
        z ───────────────────────────────┴ concat ─ Dense to 4×4×top ─ BN ─ ReLU
            ─ (UpConv 4×4/2 ─ BN ─ ReLU)* ─ UpConv to the image ─ tanh
    D:  x ─ Conv 4×4/2 ─ LReLU ─ (Conv 4×4/2 ─ BN ─ LReLU)* → 4×4×top ─┐
        φ(t) ─ Dense(nt) ─ LeakyReLU 0.2 ─ replicated over 4×4 ────────┴ concat
            ─ Conv 1×1 (top) ─ BN ─ LReLU ─ Conv 4×4 valid → a logit per example

nt = 128. φ(t) is the caption's embedding: the authors' is a pre-computed char-CNN-RNN
sentence embedding (1,024 numbers, loaded from a file), which `text` then is (float [B, E]).
With `vocab_size` > 0, `text` is word ids instead (int [B, L], 0 pads) and each network reads
them with its own WordEncoder, trained with it by its own loss. `mix` [B_out, B] mixes the
captions' embeddings before the projection, φ_out = mix · φ(t): GAN-INT's interpolations
(rows of ½, ½) and interpolation grids, in the space the authors interpolate in (the
embedding, before Dense(nt)).

Departures: the authors' 64×64 networks have residual 1×1/3×3 blocks at 4×4 and 8×8; at the
16×16 of the digits there is one up-sampling between them and they are left out.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers
from jaxgan.models.conv import Conv, Dense, UpConv
from jaxgan.models.dcgan import num_upsamplings

Array = jax.Array
TEXT_FEATURES = 128  # nt: the projected caption (the authors' 128)


class WordEncoder(nn.Module):
  """Word ids [B, L] (0 pads) → [B, features]: 64-d word embeddings, a 1-D convolution over
  three words with ReLU, and the mean over the caption's words (a bag of word trigrams)."""

  vocab_size: int
  features: int = 256
  embedding: int = 64

  @nn.compact
  def __call__(self, tokens: Array) -> Array:
    mask = (tokens > 0)[..., None].astype(jnp.float32)
    words = nn.Embed(self.vocab_size, self.embedding)(tokens)
    h = nn.relu(nn.Conv(self.features, (3,), padding="SAME")(words)) * mask
    return h.sum(axis=1) / jnp.maximum(mask.sum(axis=1), 1.0)


class CaptionEmbedding(nn.Module):
  """φ(t), mixed by `mix`, projected: LeakyReLU_0.2(Dense(nt)(mix · φ(t))) → [B_out, nt]."""

  vocab_size: int = 0
  text_features: int = TEXT_FEATURES

  @nn.compact
  def __call__(self, text: Array, mix: Array | None, train: bool) -> Array:
    if self.vocab_size:
      if not jnp.issubdtype(text.dtype, jnp.integer):
        raise ValueError("this network reads word ids: pass int tokens [B, L]")
      phi = WordEncoder(self.vocab_size)(text)
    else:
      phi = text.astype(jnp.float32)
    if mix is not None:
      phi = mix @ phi
    return nn.leaky_relu(Dense(self.text_features)(phi, train), 0.2)


class CaptionGenerator(nn.Module):
  """(z [B, latent], text) → images [B, S, S, channels] in [−1, 1] (see the module docstring)."""

  image_size: int = 16
  channels: int = 1
  width: int = 64
  vocab_size: int = 0
  text_features: int = TEXT_FEATURES

  @nn.compact
  def __call__(self, z: Array, text: Array, train: bool = True, mix: Array | None = None):
    n = num_upsamplings(self.image_size)
    t = CaptionEmbedding(self.vocab_size, self.text_features)(text, mix, train)
    h = jnp.concatenate([z, t], axis=-1)
    top = self.width * 2 ** (n - 1)
    h = Dense(4 * 4 * top, use_bias=False)(h, train).reshape(-1, 4, 4, top)
    h = nn.relu(layers.BatchNorm()(h, train))
    for i in range(n - 1):
      h = UpConv(top // 2 ** (i + 1), use_bias=False)(h, train)
      h = nn.relu(layers.BatchNorm()(h, train))
    return jnp.tanh(UpConv(self.channels, use_bias=False)(h, train))


class MatchingDiscriminator(nn.Module):
  """(images [B, S, S, C], text) → a logit per example [B]: does the image look real and
  match the text (see the module docstring)."""

  image_size: int = 16
  width: int = 64
  vocab_size: int = 0
  text_features: int = TEXT_FEATURES

  @nn.compact
  def __call__(self, x: Array, text: Array, train: bool = True, mix: Array | None = None):
    n = num_upsamplings(self.image_size)
    if x.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"expected {self.image_size}×{self.image_size} images, got {x.shape[1:]}")
    h = x
    for i in range(n):
      h = Conv(self.width * 2**i, 4, 2, 1, use_bias=i == 0)(h, train)
      if i > 0:
        h = layers.BatchNorm()(h, train)
      h = nn.leaky_relu(h, 0.2)
    t = CaptionEmbedding(self.vocab_size, self.text_features)(text, mix, train)
    t = jnp.broadcast_to(t[:, None, None, :], (*h.shape[:3], t.shape[-1]))
    h = jnp.concatenate([h, t], axis=-1)
    h = Conv(h.shape[-1] - t.shape[-1], 1, 1, 0, use_bias=False)(h, train)
    h = nn.leaky_relu(layers.BatchNorm()(h, train), 0.2)
    return Conv(1, 4, 1, 0)(h, train).reshape(-1)
