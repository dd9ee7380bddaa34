"""Equalized learning rate (Karras et al. 2018, "Progressive Growing of GANs", §4.1) and
the activations and normalization that go with it, shared by ProGAN and StyleGAN2.

    x = EqualizedConv(256, 3)(x)                                   # StyleGAN2: lrelu·√2
    x = EqualizedConv(256, 3, activation="leaky", weight_gain=SQRT2, resample="nearest",
                      up=2)(x)                                     # ProGAN: He gain √2
    w = EqualizedDense(512, lr_multiplier=0.01, activation="lrelu")(z)

A weight is stored as N(0, 1/lr_mul²) and scaled at run time by gain·lr_mul/√fan_in (He's
constant), the bias stored as is and scaled by lr_mul, so that Adam's step, which is
invariant to the scale of a gradient, moves every layer's effective weights by the same
relative amount. The two papers put the √2 of He's gain in different places: ProGAN in the
weight (`weight_gain=√2`, then a plain leaky ReLU: "leaky"), StyleGAN2 after the activation
("lrelu": leaky ReLU × √2), which differ only in the scale of the bias.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.resample import average_pool2d, conv2d_resample

Array = jax.Array
SQRT2 = math.sqrt(2.0)
ACTIVATIONS = ("lrelu", "leaky", None)


def lrelu(x: Array, gain: float = 1.0) -> Array:
  """leaky ReLU (slope 0.2) × √2 × gain: the authors' "lrelu" activation, whose √2 keeps the
  signal's second moment through the layer."""
  return jax.nn.leaky_relu(x, 0.2) * (SQRT2 * gain)


def normalize_2nd_moment(x: Array, eps: float = 1e-8) -> Array:
  """Pixel norm (ProGAN §4.2): x / √(mean over the last axis of x² + eps)."""
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def leaky(x: Array) -> Array:
  """leaky ReLU, slope 0.2 (ProGAN's activation)."""
  return jax.nn.leaky_relu(x, 0.2)


def activate(x: Array, activation: str | None, gain: float = 1.0) -> Array:
  """x through an activation, times gain.

  Args:
    x: the pre-activations.
    activation: "lrelu" (leaky ReLU × √2), "leaky" (leaky ReLU) or None (linear).
    gain: a further factor.

  Returns:
    The activations.
  """
  if activation == "lrelu":
    return lrelu(x, gain)
  return (leaky(x) if activation == "leaky" else x) * gain


def _equalized_normal(lr_multiplier: float):
  """N(0, 1/lr_mul²): the stored weight, scaled by lr_mul/√fan_in at run time."""

  def init(key, shape, dtype=jnp.float32):
    return jax.random.normal(key, shape, dtype) / lr_multiplier

  return init


class EqualizedDense(nn.Module):
  """y = act(x · W·(gain·lr_mul/√fan_in) + b·lr_mul), W stored N(0, 1/lr_mul²), b stored at
  bias_init (Karras et al. 2018 §4.1; the authors' FullyConnectedLayer). act: "lrelu",
  "leaky" or None (linear); gain: weight_gain."""

  features: int
  lr_multiplier: float = 1.0
  bias_init: float = 0.0
  activation: str | None = None
  weight_gain: float = 1.0
  use_bias: bool = True

  @nn.compact
  def __call__(self, x: Array) -> Array:
    fan_in = x.shape[-1]
    weight = self.param("weight", _equalized_normal(self.lr_multiplier), (fan_in, self.features))
    y = x @ (weight * (self.weight_gain * self.lr_multiplier / math.sqrt(fan_in)))
    if self.use_bias:
      bias = self.param("bias", nn.initializers.constant(self.bias_init), (self.features,))
      y = y + bias * self.lr_multiplier
    return activate(y, self.activation)


class EqualizedConv(nn.Module):
  """A 'same' k×k convolution with equalized learning rate (weights N(0, 1), scaled by
  weight_gain/√(k²·C_in)), optional ×2 up/down-sampling (conv2d_resample), bias, and the
  activation ("lrelu", "leaky" or None) × the call's gain (the authors' Conv2dLayer)."""

  features: int
  kernel_size: int = 3
  use_bias: bool = True
  activation: str | None = "lrelu"
  up: int = 1
  down: int = 1
  resample: str = "fir"
  weight_gain: float = 1.0

  @nn.compact
  def __call__(self, x: Array, gain: float = 1.0) -> Array:
    k, c = self.kernel_size, x.shape[-1]
    weight = self.param("weight", nn.initializers.normal(1.0), (k, k, c, self.features))
    # "bilinear" (the benchmark's network) pools after the activation, "fir" (the authors')
    # activates the down-sampled convolution.
    pool_after = self.resample == "bilinear" and self.down > 1
    down = 1 if pool_after else self.down
    scale = self.weight_gain / math.sqrt(k * k * c)
    y = conv2d_resample(x, weight * scale, self.up, down, self.resample)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    y = activate(y, self.activation, gain)
    return average_pool2d(y) if pool_after else y
