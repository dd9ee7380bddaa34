"""BigGAN's generator and discriminator (Brock et al. 2019), SAGAN's as a special case.

After the authors' BigGAN-PyTorch (BigGAN.py, layers.py), whose architecture tables this
module keeps, for images of 2^k pixels with a 4×4 bottom:

  G: z ─ split into chunks z_0..z_n (hierarchical latent) ─ SN-Dense(z_0) to 4×4×C_0
       ─ n × GBlock(c_i = [shared embedding(y), z_{i+1}]) ─ [self-attention at R] ─ BN ─ ReLU
       ─ SN-Conv 3×3 to RGB ─ tanh
  GBlock: CBN(c) ─ ReLU ─ up ×2 ─ Conv 3×3 ─ CBN(c) ─ ReLU ─ Conv 3×3, plus up ─ Conv 1×1
  CBN(x, c) = BN(x) · (1 + W_γ c) + W_β c        (BN without its own γ, β; W_γ, W_β linear,
                                                 no bias: BigGAN's class-conditional BN)
  D: x ─ n × DBlock(down) ─ [self-attention at R] ─ DBlock ─ ReLU ─ global sum pool = φ(x)
       ─ SN-Dense(φ) + ⟨SN-embed(y), φ⟩           (the projection discriminator)
  DBlock: [ReLU] ─ Conv 3×3 ─ ReLU ─ Conv 3×3 ─ [avg-pool], plus a 1×1 conv shortcut

Every convolution and linear layer of both networks is spectrally normalized (SAGAN's
finding, kept by BigGAN), and initialized orthogonally ("ortho"; the CIFAR and SAGAN
configurations use N(0, 0.02) and Xavier). G's shared class embedding (128) is neither
normalized nor orthogonally regularized. Without a shared embedding (shared_dim = 0) and
without the hierarchical latent, each CBN embeds the class itself: SAGAN's generator.
Unconditional (num_classes = 0): plain BatchNorm and no projection.

Departures: the 4×4 reshape of the first dense layer is NHWC (a permutation of a freshly
initialized layer); D's attention goes after the first block whose output has the
requested resolution (the authors' 32×32 table labels every D block 16); the 16×16
tables (G 4·ch, 4·ch; D 4·ch ×3) are ours, by the pattern of the CIFAR ones, for the
digits. BigGAN-deep is not built.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.attention import SelfAttention
from jaxgan.models.conv import Conv, Dense, Init
from jaxgan.models.gan_layers import Projection
from jaxgan.models.layers import BatchNorm
from jaxgan.models.resample import average_pool2d as downsample
from jaxgan.models.resample import nearest_upsample2d as upsample
from jaxgan.models.resnet import check_attention

Array = jax.Array

INITS = {
  "ortho": nn.initializers.orthogonal(),
  "N02": nn.initializers.normal(0.02),
  "xavier": nn.initializers.xavier_uniform(),
}

# Channel multipliers of the blocks, by image size: G (in, out) per block, D out per block
# (D's blocks down-sample all but the last). From BigGAN-PyTorch's G_arch and D_arch.
GENERATOR_CHANNELS = {
  16: ((4, 4), (4, 4)),
  32: ((4, 4), (4, 4), (4, 4)),
  64: ((16, 16), (16, 8), (8, 4), (4, 2)),
  128: ((16, 16), (16, 8), (8, 4), (4, 2), (2, 1)),
  256: ((16, 16), (16, 8), (8, 8), (8, 4), (4, 2), (2, 1)),
}
DISCRIMINATOR_CHANNELS = {
  16: (4, 4, 4),
  32: (4, 4, 4, 4),
  64: (1, 2, 4, 8, 16),
  128: (1, 2, 4, 8, 16, 16),
  256: (1, 2, 4, 8, 8, 16, 16),
}
# The 32×32 D down-samples in its first two blocks only (the authors' table).
DISCRIMINATOR_DOWNSAMPLES = {16: 2, 32: 2}


def check_image_size(image_size: int) -> None:
  """A ValueError for an image size without an architecture table."""
  if image_size not in GENERATOR_CHANNELS:
    raise ValueError(
      f"BigGAN's networks are for {', '.join(map(str, GENERATOR_CHANNELS))}-pixel images, "
      f"not {image_size}"
    )


def latent_chunks(latent_dim: int, num_blocks: int, hierarchical: bool) -> int:
  """The size of each chunk of z, or a ValueError when it does not divide (BigGAN-PyTorch
  silently shrinks z; we ask for a z that divides).

  Args:
    latent_dim: z's dimension.
    num_blocks: G's blocks.
    hierarchical: split z into num_blocks + 1 chunks (one for the first layer, one per
      block); else the whole z goes to the first layer.

  Returns:
    latent_dim / (num_blocks + 1) with the hierarchical latent, else latent_dim.
  """
  if not hierarchical:
    return latent_dim
  slots = num_blocks + 1
  if latent_dim % slots:
    raise ValueError(
      f"the hierarchical latent splits z into {slots} chunks (one per G block and one for "
      f"the first layer): give a latent_dim divisible by {slots}, not {latent_dim}"
    )
  return latent_dim // slots


class ConditionalBatchNorm(nn.Module):
  """BigGAN's class-conditional BN: BN(x)·(1 + W_γ c) + W_β c, c a vector per example
  (the shared class embedding with a chunk of z, or a one-hot class: then W_γ, W_β are
  per-class embeddings); no condition: BN with its own γ, β."""

  spectral_norm: bool = True
  kernel_init: Init = INITS["ortho"]
  batchnorm_groups: int = 1

  @nn.compact
  def __call__(self, x: Array, condition: Array | None, train: bool) -> Array:
    if condition is None:
      return BatchNorm(num_groups=self.batchnorm_groups)(x, train)
    c = x.shape[-1]
    normalized = BatchNorm(num_groups=self.batchnorm_groups, use_affine=False)(x, train)
    layer = {"use_bias": False, "spectral_norm": self.spectral_norm}
    layer["kernel_init"] = self.kernel_init
    gain = 1.0 + Dense(c, name="gain", **layer)(condition, train)
    bias = Dense(c, name="bias", **layer)(condition, train)
    return normalized * gain[:, None, None, :] + bias[:, None, None, :]


class GeneratorBlock(nn.Module):
  """CBN ─ ReLU ─ up ─ Conv3 ─ CBN ─ ReLU ─ Conv3, plus up ─ Conv1 (BigGAN's GBlock)."""

  features: int
  spectral_norm: bool = True
  kernel_init: Init = INITS["ortho"]
  batchnorm_groups: int = 1

  @nn.compact
  def __call__(self, x: Array, condition: Array | None, train: bool) -> Array:
    sn, init = self.spectral_norm, self.kernel_init
    norm = {"spectral_norm": sn, "kernel_init": init, "batchnorm_groups": self.batchnorm_groups}
    h = nn.relu(ConditionalBatchNorm(**norm)(x, condition, train))
    h = Conv(self.features, 3, 1, 1, spectral_norm=sn, kernel_init=init)(upsample(h), train)
    h = nn.relu(ConditionalBatchNorm(**norm)(h, condition, train))
    h = Conv(self.features, 3, 1, 1, spectral_norm=sn, kernel_init=init)(h, train)
    shortcut = Conv(self.features, 1, 1, 0, spectral_norm=sn, kernel_init=init)(upsample(x), train)
    return h + shortcut


class DiscriminatorBlock(nn.Module):
  """[ReLU] ─ Conv3 ─ ReLU ─ Conv3 ─ [down], plus a 1×1 conv shortcut when the shape changes
  (BigGAN's wide DBlock: the hidden width is the output's). preactivation=False is the first
  block (no ReLU on the image; its shortcut pools before the conv)."""

  features: int
  down: bool = True
  preactivation: bool = True
  spectral_norm: bool = True
  kernel_init: Init = INITS["ortho"]

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    conv = {"spectral_norm": self.spectral_norm, "kernel_init": self.kernel_init}
    h = nn.relu(x) if self.preactivation else x
    h = Conv(self.features, 3, 1, 1, **conv)(h, train)
    h = Conv(self.features, 3, 1, 1, **conv)(nn.relu(h), train)
    if self.down:
      h = downsample(h)
    shortcut = x
    if self.down or x.shape[-1] != self.features:
      project = Conv(self.features, 1, 1, 0, **conv)
      if self.preactivation:
        shortcut = project(x, train)
        shortcut = downsample(shortcut) if self.down else shortcut
      else:
        shortcut = project(downsample(x) if self.down else x, train)
    return h + shortcut


class BigGANGenerator(nn.Module):
  """z [B, latent_dim] (and labels [B]) → images [B, S, S, channels] in [−1, 1]."""

  image_size: int = 128
  channels: int = 3
  width: int = 96  # ch: the channel unit of the architecture table
  latent_dim: int = 120
  num_classes: int = 0
  shared_dim: int = 128  # the shared class embedding; 0: each CBN embeds the class (SAGAN)
  hierarchical: bool = True  # z split over the first layer and the blocks
  attention: int = 64  # self-attention after the block making attention×attention maps
  spectral_norm: bool = True
  weight_init: str = "ortho"
  batchnorm_groups: int = 1

  def block_resolutions(self) -> tuple[int, ...]:
    return tuple(8 * 2**i for i in range(len(GENERATOR_CHANNELS[self.image_size])))

  @nn.compact
  def __call__(self, z: Array, labels: Array | None = None, train: bool = True) -> Array:
    check_image_size(self.image_size)
    check_attention(self.attention, self.block_resolutions(), "the BigGAN generator")
    if self.num_classes and labels is None:
      raise ValueError(f"this model is conditional ({self.num_classes} classes): pass labels")
    table = GENERATOR_CHANNELS[self.image_size]
    chunk = latent_chunks(self.latent_dim, len(table), self.hierarchical)
    if z.shape[-1] != self.latent_dim:
      raise ValueError(f"expected z of {self.latent_dim} dimensions, got {z.shape[-1]}")
    init, sn = INITS[self.weight_init], self.spectral_norm
    conditions = self._conditions(z, labels, chunk, len(table))
    h = Dense(table[0][0] * self.width * 16, spectral_norm=sn, kernel_init=init)(
      z[:, :chunk], train
    )
    h = h.reshape(-1, 4, 4, table[0][0] * self.width)
    for (_, out), condition in zip(table, conditions, strict=True):
      h = GeneratorBlock(out * self.width, sn, init, self.batchnorm_groups)(h, condition, train)
      if h.shape[1] == self.attention:
        h = SelfAttention(spectral_norm=sn, kernel_init=init)(h, train)
    h = nn.relu(BatchNorm(num_groups=self.batchnorm_groups)(h, train))
    h = Conv(self.channels, 3, 1, 1, spectral_norm=sn, kernel_init=init)(h, train)
    return jnp.tanh(h)

  def _conditions(self, z, labels, chunk, num_blocks) -> list[Array | None]:
    """Each block's CBN condition: [embedding(y), z_{i+1}] (hierarchical), embedding(y), the
    one-hot class (no shared embedding), z_{i+1} alone (unconditional, hierarchical), or
    None (plain BN)."""
    zs = [z[:, chunk * (i + 1) : chunk * (i + 2)] for i in range(num_blocks)]
    if self.num_classes:
      if self.shared_dim:
        embed = nn.Embed(
          self.num_classes, self.shared_dim, embedding_init=INITS[self.weight_init], name="shared"
        )
        y = embed(labels)
      else:
        y = jax.nn.one_hot(labels, self.num_classes, dtype=z.dtype)
      if self.hierarchical:
        return [jnp.concatenate([y, zi], axis=-1) for zi in zs]
      return [y] * num_blocks
    return zs if self.hierarchical else [None] * num_blocks


class BigGANDiscriminator(nn.Module):
  """Images [B, S, S, C] (and labels) → a score per example [B] (a dict with features)."""

  image_size: int = 128
  width: int = 96
  num_classes: int = 0
  attention: int = 64  # self-attention after the first block with attention×attention outputs
  spectral_norm: bool = True
  weight_init: str = "ortho"
  return_features: bool = False

  def block_resolutions(self) -> tuple[int, ...]:
    blocks = len(DISCRIMINATOR_CHANNELS[self.image_size])
    downs = DISCRIMINATOR_DOWNSAMPLES.get(self.image_size, blocks - 1)
    return tuple(self.image_size >> min(i + 1, downs) for i in range(blocks))

  @nn.compact
  def __call__(self, x: Array, labels: Array | None = None, train: bool = True):
    check_image_size(self.image_size)
    if x.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"expected {self.image_size}×{self.image_size} images, got {x.shape[1:]}")
    resolutions = self.block_resolutions()
    check_attention(self.attention, resolutions, "the BigGAN discriminator")
    if self.num_classes and labels is None:
      raise ValueError(f"this model is conditional ({self.num_classes} classes): pass labels")
    init, sn = INITS[self.weight_init], self.spectral_norm
    table = DISCRIMINATOR_CHANNELS[self.image_size]
    h, attended = x, False
    for i, multiplier in enumerate(table):
      down = i == 0 or resolutions[i] < resolutions[i - 1]
      h = DiscriminatorBlock(multiplier * self.width, down, i > 0, sn, init)(h, train)
      if not attended and h.shape[1] == self.attention:
        h, attended = SelfAttention(spectral_norm=sn, kernel_init=init)(h, train), True
    features = jnp.sum(nn.relu(h), axis=(1, 2))  # global sum pooling
    score = Dense(1, spectral_norm=sn, kernel_init=init)(features, train)[:, 0]
    if self.num_classes:
      score = score + Projection(self.num_classes, sn, kernel_init=init)(features, labels, train)
    return {"adv": score, "features": features} if self.return_features else score


def check_networks(G: BigGANGenerator, D: BigGANDiscriminator) -> None:
  """A ValueError naming what G and D cannot be built with (image size, z chunks, where
  the attention goes), before anything is traced."""
  check_image_size(G.image_size)
  latent_chunks(G.latent_dim, len(GENERATOR_CHANNELS[G.image_size]), G.hierarchical)
  check_attention(G.attention, G.block_resolutions(), "the BigGAN generator")
  check_attention(D.attention, D.block_resolutions(), "the BigGAN discriminator")


def networks(
  image_size: int, channels: int, num_classes: int, **settings
) -> tuple[BigGANGenerator, BigGANDiscriminator]:
  """BigGAN's G and D for images of that size, checked (check_networks).

  Args:
    image_size: the images' side.
    channels: their channels (G's output).
    num_classes: > 0 for class-conditional networks.
    **settings: width, latent_dim, shared_dim, hierarchical, weight_init,
      batchnorm_groups, g_attention, d_attention (the modules' defaults otherwise).

  Returns:
    (G, D), or a ValueError naming what they cannot be built with.
  """
  shared = {k: settings.pop(k) for k in ("width", "weight_init") if k in settings}
  d_attention = settings.pop("d_attention", BigGANDiscriminator.attention)
  if "g_attention" in settings:
    settings["attention"] = settings.pop("g_attention")
  G = BigGANGenerator(image_size, channels, num_classes=num_classes, **shared, **settings)
  D = BigGANDiscriminator(image_size, num_classes=num_classes, attention=d_attention, **shared)
  check_networks(G, D)
  return G, D
