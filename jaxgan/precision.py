"""Mixed precision: a network that computes in bfloat16 while its parameters stay float32.

    G = precision.compute_in(MLPGenerator(...), "bfloat16")
    G.init(key, z, train=False)        # float32 parameters, as without it
    G.apply(variables, z, train=True)  # float32 samples, computed in bfloat16

The policy is mixed-precision training's (Micikevicius et al. 2018, "Mixed Precision
Training"; DeepMind's jmp library calls it "params=float32, compute=bfloat16,
output=float32"): the optimizer holds and updates a float32 master copy of the
parameters; every call of the network reads them cast to the compute dtype, with its
floating inputs, so that its matrix products, convolutions and activations run in
bfloat16 (TPUs and recent GPUs run those several times faster than float32); its
floating outputs come back in float32, so that losses, gradient penalties and
everything after the network are float32. The cast's gradient is the cast back: the
parameters' gradients arrive in float32. bfloat16 keeps float32's exponent range,
so, unlike float16, it needs no loss scaling.

Inside the network, statistics are computed in float32 (at_least_float32: BatchNorm's
moments, spectral normalization's σ, self-attention's softmax; Flax's LayerNorm and
InstanceNorm upcast themselves) and running averages stay float32; so do the other collections
(spectral normalization's vectors, StyleGAN's averages), which are not cast.

float32 is the default and leaves a network untouched: compute_in(module,
"float32") is the module itself, so nothing changes for a float32 run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.errors import ConfigError

COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def compute_dtype(name: str) -> Any:
  """The dtype called `name` ("float32" or "bfloat16"), or a ConfigError naming those."""
  if name not in COMPUTE_DTYPES:
    raise ConfigError(
      f"unknown --compute_dtype={name!r}: choose one of {', '.join(COMPUTE_DTYPES)}"
    )
  return COMPUTE_DTYPES[name]


def at_least_float32(x: jax.Array) -> jax.Array:
  """x in float32 if it is in a narrower float (bfloat16), else x itself: what a network's
  statistics are taken in (BatchNorm's moments, spectral norm's σ, attention's softmax)."""
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def cast_floats(tree, dtype) -> Any:
  """tree with every floating-point array cast to dtype; other leaves (integers, keys,
  booleans, Python numbers) as they are."""

  def cast(leaf):
    if isinstance(leaf, jax.Array | np.ndarray) and jnp.issubdtype(leaf.dtype, jnp.floating):
      return leaf.astype(dtype)
    return leaf

  return jax.tree.map(cast, tree)


@dataclasses.dataclass(frozen=True)
class ComputeIn:
  """A Flax module whose apply computes in `dtype`: parameters and floating inputs cast to
  it, floating outputs cast back to float32. init, the variables' names and everything
  else are the module's own (attributes read through), so checkpoints of a float32 run
  and a bfloat16 run are interchangeable."""

  module: nn.Module
  dtype: Any

  def init(self, *args, **kwargs):
    return self.module.init(*args, **kwargs)

  def apply(self, variables, *args, mutable=False, **kwargs):
    variables = {**variables, "params": cast_floats(variables["params"], self.dtype)}
    args, kwargs = cast_floats((args, kwargs), self.dtype)
    if mutable is False:
      return cast_floats(self.module.apply(variables, *args, **kwargs), jnp.float32)
    outputs, updates = self.module.apply(variables, *args, mutable=mutable, **kwargs)
    return cast_floats(outputs, jnp.float32), updates

  def clone(self, **fields) -> ComputeIn:
    """The module with `fields` changed (nn.Module.clone), still computing in dtype."""
    return ComputeIn(self.module.clone(**fields), self.dtype)

  def __getattr__(self, name: str):
    if name.startswith("__"):  # copy and pickle probe before `module` is set
      raise AttributeError(name)
    return getattr(self.module, name)


def compute_in(module: nn.Module | None, dtype_name: str):
  """module computing in the dtype called dtype_name: the module itself for float32 (or
  None), ComputeIn(module, bfloat16) for bfloat16."""
  dtype = compute_dtype(dtype_name)
  if module is None or dtype == jnp.float32:
    return module
  return ComputeIn(module.module if isinstance(module, ComputeIn) else module, dtype)
