"""Multilayer perceptrons for the generator and the discriminator.

The toy 2-D experiments (Gulrajani et al. 2017's gan_toy.py; PacGAN) and the
original GAN on MNIST (Goodfellow et al. 2014) use plain MLPs: hidden layers
of the same width with ReLU, a linear output for the generator's samples and
one linear unit for the discriminator's logit or critic value.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers


class MLPGenerator(nn.Module):
  """z `[B, latent]` → x `[B, *output_shape]`: Dense → norm → activation per hidden layer.

  normalization is "none", "batch" (batch statistics in training, running
  averages at sampling; statistics over the global batch under a mesh, or per
  group of batchnorm_groups, see layers.BatchNorm) or "layer".
  output_activation "none" suits toy data, "tanh" images in [−1, 1].
  weight_init: "lecun" (Flax's default) or "pytorch" (see layers.dense).
  output_scale s makes G(z) = s·MLP(z): with s the data's scale (grid25: 4),
  the network works in units where the data is of size 1. num_classes > 0:
  the one-hot label is concatenated to z (Mirza & Osindero 2014).
  """

  hidden_dims: Sequence[int] = (512, 512, 512)
  output_shape: Sequence[int] = (2,)
  activation: str = "relu"
  normalization: str = "none"
  output_activation: str = "none"
  weight_init: str = "lecun"
  output_scale: float = 1.0
  batchnorm_groups: int = 1
  num_classes: int = 0

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = True):
    h = _with_labels(jnp.reshape(z, (z.shape[0], -1)), labels, self.num_classes)
    for width in self.hidden_dims:
      h = layers.dense(width, h.shape[-1], self.weight_init)(h)
      h = layers.normalize(h, self.normalization, train, self.batchnorm_groups)
      h = layers.activation(self.activation)(h)
    size = 1
    for d in self.output_shape:
      size *= d
    x = layers.dense(size, h.shape[-1], self.weight_init)(h)
    x = layers.activation(self.output_activation)(x) * self.output_scale
    return jnp.reshape(x, (z.shape[0], *self.output_shape))


class MLPDiscriminator(nn.Module):
  """x [B, ...] → one logit or critic value per example [B].

  The input is flattened, so the same module serves 2-D points and images.
  No normalization by default: gradient penalties need D to score each
  example on its own (Gulrajani et al. 2017, §4). input_scale s makes
  D(x) = MLP(x / s); penalties still see ∇_x D in data units. num_classes > 0:
  the one-hot label is concatenated to the input (Mirza & Osindero 2014).
  return_features: return {"adv": scores, "features": last hidden layer}.
  """

  hidden_dims: Sequence[int] = (512, 512, 512)
  activation: str = "relu"
  normalization: str = "none"
  weight_init: str = "lecun"
  input_scale: float = 1.0
  batchnorm_groups: int = 1
  num_classes: int = 0
  return_features: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = True):
    h = _with_labels(jnp.reshape(x, (x.shape[0], -1)) / self.input_scale, labels, self.num_classes)
    for width in self.hidden_dims:
      h = layers.dense(width, h.shape[-1], self.weight_init)(h)
      h = layers.normalize(h, self.normalization, train, self.batchnorm_groups)
      h = layers.activation(self.activation)(h)
    scores = layers.dense(1, h.shape[-1], self.weight_init)(h)[:, 0]
    return {"adv": scores, "features": h} if self.return_features else scores


def _with_labels(h: jax.Array, labels: jax.Array | None, num_classes: int) -> jax.Array:
  """[h, one_hot(labels)] for a conditional model; h itself otherwise."""
  if not num_classes:
    return h
  if labels is None:
    raise ValueError(f"this model is conditional ({num_classes} classes): pass labels")
  return jnp.concatenate([h, jax.nn.one_hot(labels, num_classes, dtype=h.dtype)], axis=-1)
