"""Layers particular to GANs: minibatch discrimination, minibatch standard deviation,
conditional batch normalization, and the discriminator's extra heads.

These layers see the whole (global) batch: under a device mesh their batch
statistics are cross-replica, like BatchNorm's default.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.conv import DCGAN_INIT, Dense, Init
from jaxgan.models.layers import BatchNorm

Array = jax.Array


class MinibatchDiscrimination(nn.Module):
  """Features that let D compare an example with the rest of its batch.

  Salimans et al. 2016, "Improved Techniques for Training GANs", §3.2: with
  f(x_i) ∈ R^A and a learned tensor T ∈ R^{A×K×C}, M_i = f(x_i)·T ∈ R^{K×C},

    c_k(x_i, x_j) = exp(−‖M_{i,k} − M_{j,k}‖₁),   o(x_i)_k = Σ_j c_k(x_i, x_j)

  (the sum over the whole batch, j = i included, as in the authors' code), and
  the layer returns [f(x_i), o(x_i)] ∈ R^{A+K}. A collapsed generator makes
  every o(x_i) large, which D learns to reject.
  """

  num_kernels: int = 100  # K
  kernel_dim: int = 5  # C

  @nn.compact
  def __call__(self, features: Array) -> Array:
    f = features.reshape(features.shape[0], -1)
    t = self.param(
      "T", nn.initializers.normal(0.05), (f.shape[-1], self.num_kernels * self.kernel_dim)
    )
    m = (f @ t).reshape(f.shape[0], self.num_kernels, self.kernel_dim)
    l1 = jnp.sum(jnp.abs(m[:, None] - m[None, :]), axis=-1)  # [B, B, K]
    o = jnp.sum(jnp.exp(-l1), axis=1)  # [B, K]
    return jnp.concatenate([f, o], axis=-1)


class MinibatchStdDev(nn.Module):
  """Appends the batch's average standard deviation as num_features more feature maps.

  Karras et al. 2018, "Progressive Growing of GANs", §3: the batch is split
  into groups of group_size; within a group the standard deviation of every
  feature at every position is taken, averaged over features and positions,
  and that number is appended as a constant channel to the group's examples.
  StyleGAN2 (the authors' MinibatchStdLayer) splits the channels into
  num_features groups and appends one such channel per group. Example i is in
  group i mod (B / group_size), as in the authors' code. Input [B, H, W, C]
  (or [B, C]); output num_features channels more.
  """

  group_size: int = 4
  epsilon: float = 1e-8
  num_features: int = 1

  @nn.compact
  def __call__(self, x: Array) -> Array:
    b, c, f = x.shape[0], x.shape[-1], self.num_features
    g = min(self.group_size, b)
    if b % g:
      raise ValueError(f"MinibatchStdDev: batch {b} does not divide into groups of {g}")
    if c % f:
      raise ValueError(f"MinibatchStdDev: {c} channels do not split into {f} features")
    groups = x.reshape(g, b // g, *x.shape[1:-1], f, c // f)
    std = jnp.sqrt(jnp.var(groups, axis=0) + self.epsilon)  # [b/g, ..., f, c/f]
    std = jnp.moveaxis(std, -2, 1).reshape(b // g, f, -1)
    per_group = jnp.mean(std, axis=2)  # [b/g, f]
    stat = jnp.tile(per_group, (g, 1)).reshape(b, *([1] * (x.ndim - 2)), f)
    stat = jnp.broadcast_to(stat, (*x.shape[:-1], f))
    return jnp.concatenate([x, stat], axis=-1)


class ConditionalBatchNorm(nn.Module):
  """BatchNorm whose scale and shift depend on the class: γ_y·x̂ + β_y.

  de Vries et al. 2017 ("Modulating early visual processing by language");
  the class-conditional generator of Miyato & Koyama 2018. x̂ is normalized
  with the batch's statistics (running averages when train=False), as
  jaxgan.models.BatchNorm, without its own affine part; γ starts at 1, β at 0.
  """

  num_classes: int
  momentum: float = 0.9
  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, x: Array, labels: Array, train: bool) -> Array:
    features = x.shape[-1]
    normalized = BatchNorm(momentum=self.momentum, epsilon=self.epsilon, use_affine=False)(x, train)
    gamma = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.ones)(labels)
    beta = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.zeros)(labels)
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (features,)
    return normalized * gamma.reshape(shape) + beta.reshape(shape)


class Projection(nn.Module):
  """The class term of the projection discriminator: ⟨embed(y), φ(x)⟩.

  Miyato & Koyama 2018, "cGANs with Projection Discriminator", eq. 3: D(x, y)
  = ψ(φ(x)) + yᵀVφ(x); this returns yᵀVφ(x) for integer labels, to be added
  to the unconditional output ψ(φ(x)).
  """

  num_classes: int
  spectral_norm: bool = False
  kernel_init: Init = DCGAN_INIT

  @nn.compact
  def __call__(self, features: Array, labels: Array, train: bool = True) -> Array:
    one_hot = jax.nn.one_hot(labels, self.num_classes, dtype=features.dtype)
    embedding = Dense(
      features.shape[-1],
      use_bias=False,
      spectral_norm=self.spectral_norm,
      kernel_init=self.kernel_init,
    )(one_hot, train)  # rows of V, selected by y
    return jnp.sum(embedding * features, axis=-1)


class InfoHead(nn.Module):
  """InfoGAN's Q network on D's features: logits of each categorical code, means of the
  continuous ones (Chen et al. 2016, §6: Q shares D's body and adds one hidden layer).
  """

  categorical_codes: tuple[int, ...] = (10,)
  continuous_codes: int = 2
  hidden: int = 128

  @nn.compact
  def __call__(self, features: Array, train: bool = True) -> dict[str, Array]:
    h = Dense(self.hidden)(features, train)
    h = nn.leaky_relu(BatchNorm()(h, train), 0.2)
    outputs = {}
    if self.categorical_codes:
      logits = Dense(sum(self.categorical_codes))(h, train)
      outputs["code_logits"] = tuple(
        jnp.split(logits, list(_cumsum(self.categorical_codes[:-1])), axis=-1)
      )
    if self.continuous_codes:
      outputs["code_mean"] = Dense(self.continuous_codes)(h, train)
    return outputs


def _cumsum(values):
  total = 0
  for v in values:
    total += v
    yield total
