"""Encoders of the autoencoding GANs: images → a Gaussian posterior (VAE-GAN) or a code (the
adversarial autoencoder).

    encoder = ConvEncoder(image_size=16, width=32, latent_dim=32)
    mean, log_variance = encoder.apply(variables, images, train=False)

ConvEncoder mirrors the DCGAN discriminator (Radford et al. 2016; Larsen et al. 2016 use the
same shape: 5×5 stride-2 convolutions with BatchNorm and ReLU, here jaxgan's 4×4 stride-2
ones): log2(S/4) stride-2 convolutions doubling the width from `width`, BatchNorm after all
but the first, LeakyReLU(0.2), then a dense layer to 2·latent_dim split into the mean and the
log-variance of q(z|x) = N(mean, diag(exp(log_variance))).

MLPEncoder is the adversarial autoencoder's deterministic encoder (Makhzani et al. 2015,
Appendix: two hidden layers of 1000 ReLU units on MNIST): flattened images → a code z of
latent_dim (linear), and with num_classes > 0 also the logits of q(y|x) from the same hidden
layer (the semi-supervised AAE's categorical head, §5).

`reparameterize` draws z = mean + exp(½ log_variance)·ε (Kingma & Welling 2014), and
`gaussian_kl` is KL(q(z|x) ‖ N(0, I)) = −½ Σ_j (1 + log σ_j² − μ_j² − σ_j²) per example.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers
from jaxgan.models.conv import Conv, Dense
from jaxgan.models.dcgan import num_upsamplings

Array = jax.Array


class ConvEncoder(nn.Module):
  """Images [B, S, S, C] → (mean [B, latent_dim], log_variance [B, latent_dim])."""

  image_size: int = 16
  width: int = 32
  latent_dim: int = 32
  normalization: str = "batch"

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> tuple[Array, Array]:
    if x.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"expected {self.image_size}×{self.image_size} images, got {x.shape[1:]}")
    h = x
    for i in range(num_upsamplings(self.image_size)):
      h = Conv(self.width * 2**i, 4, 2, 1)(h, train)
      if i > 0:
        h = layers.normalize(h, self.normalization, train)
      h = nn.leaky_relu(h, 0.2)
    out = Dense(2 * self.latent_dim)(h.reshape(h.shape[0], -1), train)
    return out[:, : self.latent_dim], out[:, self.latent_dim :]


class MLPEncoder(nn.Module):
  """Images [B, ...] → z [B, latent_dim], or (z, class logits [B, num_classes]) with classes."""

  hidden_dims: Sequence[int] = (1000, 1000)
  latent_dim: int = 8
  num_classes: int = 0
  normalization: str = "none"

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array | tuple[Array, Array]:
    h = x.reshape(x.shape[0], -1)
    for width in self.hidden_dims:
      h = nn.relu(layers.normalize(nn.Dense(width)(h), self.normalization, train))
    z = nn.Dense(self.latent_dim, name="code")(h)
    if not self.num_classes:
      return z
    return z, nn.Dense(self.num_classes, name="class_logits")(h)


def reparameterize(mean: Array, log_variance: Array, key: Array) -> Array:
  """A draw of q(z|x), differentiable in both parameters: z = mean + exp(½ log_variance)·ε.

  Args:
    mean: μ [B, d].
    log_variance: log σ² [B, d].
    key: the key of ε ~ N(0, I).

  Returns:
    z [B, d].
  """
  return mean + jnp.exp(0.5 * log_variance) * jax.random.normal(key, mean.shape, mean.dtype)


def gaussian_kl(mean: Array, log_variance: Array) -> Array:
  """KL(N(mean, exp(log_variance)) ‖ N(0, I)) per example [B]: −½ Σ (1 + log σ² − μ² − σ²)."""
  return -0.5 * jnp.sum(1.0 + log_variance - mean**2 - jnp.exp(log_variance), axis=-1)
