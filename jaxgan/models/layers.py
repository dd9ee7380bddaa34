"""Small shared pieces of the models: activations and normalizations by name."""

from __future__ import annotations

import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan import precision

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
  "none": lambda x: x,
  "relu": nn.relu,
  "leaky_relu": lambda x: nn.leaky_relu(x, negative_slope=0.2),
  "tanh": nn.tanh,
  "sigmoid": nn.sigmoid,
  "elu": nn.elu,
  "gelu": nn.gelu,
}

NORMALIZATIONS = ("none", "batch", "layer", "instance")
BATCH_MOMENTS = "batch_moments"  # BatchNorm's per-batch mean and variance, when asked for
INITS = ("lecun", "pytorch")


def _uniform(bound: float):
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def dense(features: int, fan_in: int, init: str = "lecun") -> nn.Dense:
  """A Dense layer with Flax's init ("lecun": LeCun-normal kernel, zero bias) or PyTorch's.

  "pytorch" draws kernel and bias from U(−1/√fan_in, 1/√fan_in), as
  torch.nn.Linear does. Random biases spread the ReLU hyperplanes over the
  input space from the start, where zero biases make them all pass through
  the origin; on the 2-D mixtures that lets D and G carve out separate modes
  sooner.

  Args:
    features: the output width.
    fan_in: the input width (PyTorch's bounds).
    init: "lecun" or "pytorch".

  Returns:
    The nn.Dense.
  """
  if init == "lecun":
    return nn.Dense(features)
  if init == "pytorch":
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Dense(features, kernel_init=_uniform(bound), bias_init=_uniform(bound))
  raise ValueError(f"unknown init {init!r}: choose one of {', '.join(INITS)}")


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
  """The activation called `name` (LeakyReLU has slope 0.2, as in DCGAN)."""
  if name not in ACTIVATIONS:
    raise ValueError(f"unknown activation {name!r}: choose one of {', '.join(ACTIVATIONS)}")
  return ACTIVATIONS[name]


class BatchNorm(nn.Module):
  """Batch normalization (Ioffe & Szegedy 2015) over the global batch or over groups of it.

    y = γ·(x − μ_B)/√(σ²_B + ε) + β

  μ_B, σ²_B are the mean and (biased) variance of each feature over every
  axis but the last, taken over the whole batch when num_groups = 1. Under a
  device mesh the batch is the global one, so these are cross-replica
  statistics (XLA all-reduces them), the same on 1 or 8 devices.
  num_groups = G splits the batch axis into G consecutive groups with their own
  statistics: with G the number of devices, each device normalizes by its own
  shard's statistics, as per-device BatchNorm under pmap or PyTorch DDP
  without SyncBatchNorm did. Running averages, used when train=False, follow
  r ← m·r + (1 − m)·(mean over groups), as flax.linen.BatchNorm's (m = 0.9
  here is PyTorch's momentum 0.1); variables have Flax's names. In training the
  batch's mean and variance are also sown into the BATCH_MOMENTS collection, which
  costs nothing unless the caller makes it mutable (jaxgan.models.standing_stats).
  """

  num_groups: int = 1
  momentum: float = 0.9
  epsilon: float = 1e-5
  use_affine: bool = True  # False: no γ, β (ConditionalBatchNorm brings its own)
  scale_init: Callable = nn.initializers.ones

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    features = x.shape[-1]
    scale, bias = 1.0, 0.0
    if self.use_affine:
      scale = self.param("scale", self.scale_init, (features,))
      bias = self.param("bias", nn.initializers.zeros, (features,))
    running_mean = self.variable("batch_stats", "mean", jnp.zeros, (features,), jnp.float32)
    running_var = self.variable("batch_stats", "var", jnp.ones, (features,), jnp.float32)
    compute_dtype = x.dtype  # bfloat16 under jaxgan.precision: the moments in float32
    x = precision.at_least_float32(x)
    if not train:
      mean, var = running_mean.value, running_var.value
      y = (x - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias
      return y.astype(compute_dtype)
    if x.shape[0] % self.num_groups:
      raise ValueError(
        f"BatchNorm with {self.num_groups} groups needs a batch that divides by it, "
        f"got {x.shape[0]}"
      )
    groups = x.reshape(self.num_groups, x.shape[0] // self.num_groups, *x.shape[1:])
    axes = tuple(range(1, groups.ndim - 1))
    mean = jnp.mean(groups, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(groups - mean), axis=axes, keepdims=True)
    y = ((groups - mean) * jax.lax.rsqrt(var + self.epsilon)).reshape(x.shape)
    if not self.is_initializing():
      m = self.momentum
      batch_mean = jnp.mean(mean.reshape(self.num_groups, features), axis=0)
      batch_var = jnp.mean(var.reshape(self.num_groups, features), axis=0)
      # kept only where the caller makes the collection mutable (standing statistics)
      self.sow(BATCH_MOMENTS, "mean", batch_mean)
      self.sow(BATCH_MOMENTS, "var", batch_var)
      running_mean.value = m * running_mean.value + (1.0 - m) * batch_mean
      running_var.value = m * running_var.value + (1.0 - m) * batch_var
    return (y * scale + bias).astype(compute_dtype)


def normalize(h: jax.Array, kind: str, train: bool, batchnorm_groups: int = 1) -> jax.Array:
  """Applies the normalization called `kind` ("none", "batch", "layer" or "instance") to h.

  batchnorm_groups: see BatchNorm.num_groups (1: statistics of the global batch).
  "instance" normalizes each example's channels over their spatial axes, without
  γ and β (Ulyanov et al. 2016; PyTorch's InstanceNorm2d default, CycleGAN's).

  Args:
    h: the activations.
    kind: "none", "batch", "layer" or "instance".
    train: BatchNorm on batch statistics (and updating its averages).
    batchnorm_groups: BatchNorm's statistics groups.

  Returns:
    The normalized activations.
  """
  if kind == "none":
    return h
  if kind == "batch":
    return BatchNorm(num_groups=batchnorm_groups)(h, train)
  if kind == "layer":
    return nn.LayerNorm()(h)
  if kind == "instance":
    return nn.InstanceNorm(epsilon=1e-5, use_bias=False, use_scale=False)(h)
  raise ValueError(f"unknown normalization {kind!r}: choose one of {', '.join(NORMALIZATIONS)}")
