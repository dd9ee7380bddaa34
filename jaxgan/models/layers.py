"""Small shared pieces of the models: activations and normalizations by name."""

from __future__ import annotations

import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
  "none": lambda x: x,
  "relu": nn.relu,
  "leaky_relu": lambda x: nn.leaky_relu(x, negative_slope=0.2),
  "tanh": nn.tanh,
  "sigmoid": nn.sigmoid,
  "elu": nn.elu,
  "gelu": nn.gelu,
}

NORMALIZATIONS = ("none", "batch", "layer")
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


def normalize(h: jax.Array, kind: str, train: bool) -> jax.Array:
  """Applies the normalization called `kind` ("none", "batch" or "layer") to h."""
  if kind == "none":
    return h
  if kind == "batch":
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)(h)
  if kind == "layer":
    return nn.LayerNorm()(h)
  raise ValueError(f"unknown normalization {kind!r}: choose one of {', '.join(NORMALIZATIONS)}")
