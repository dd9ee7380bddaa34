"""Flax (linen) generators and discriminators.

Every model is a plain Flax module called as module.apply(variables, inputs,
train=...). Discriminators return one score per example, shape [B].

`describe` and `build` turn a module into a JSON-able description and back, so
that a workdir records which generator it trained and `jaxgan.sample` can
rebuild it without the experiment script.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxgan import precision
from jaxgan.models.began import BEGANDiscriminator, BEGANGenerator
from jaxgan.models.conv import (
  CONVOLUTION_IMPLEMENTATIONS,
  SpectralNorm,
  conv2d,
  conv_transpose_4x4_s2,
  convolutions_by,
)
from jaxgan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from jaxgan.models.gan_layers import (
  ConditionalBatchNorm,
  InfoHead,
  MinibatchDiscrimination,
  MinibatchStdDev,
  Projection,
)
from jaxgan.models.image_to_image import (
  PatchGANDiscriminator,
  ResNetTranslator,
  UNetGenerator,
  patchgan_receptive_field,
)
from jaxgan.models.layers import (
  ACTIVATIONS,
  INITS,
  NORMALIZATIONS,
  BatchNorm,
  activation,
  dense,
  normalize,
)
from jaxgan.models.mlp import MLPDiscriminator, MLPGenerator
from jaxgan.models.resnet import ResNetDiscriminator, ResNetGenerator

__all__ = [
  "ConditionalBatchNorm",
  "InfoHead",
  "MinibatchDiscrimination",
  "MinibatchStdDev",
  "Projection",
  "SpectralNorm",
  "CONVOLUTION_IMPLEMENTATIONS",
  "conv2d",
  "conv_transpose_4x4_s2",
  "convolutions_by",
  "ACTIVATIONS",
  "BEGANDiscriminator",
  "BEGANGenerator",
  "BatchNorm",
  "DCGANDiscriminator",
  "DCGANGenerator",
  "INITS",
  "NORMALIZATIONS",
  "MLPDiscriminator",
  "MLPGenerator",
  "ResNetDiscriminator",
  "ResNetGenerator",
  "PatchGANDiscriminator",
  "ResNetTranslator",
  "UNetGenerator",
  "patchgan_receptive_field",
  "activation",
  "build",
  "dense",
  "describe",
  "normalize",
]


def describe(module: nn.Module) -> dict[str, Any]:
  """{"name": class name, "module": its jaxgan module, "config": its fields}: enough for
  `build` to remake it; and "compute_dtype" for a network computing in bfloat16
  (jaxgan.precision.ComputeIn)."""
  if isinstance(module, precision.ComputeIn):
    return {**describe(module.module), "compute_dtype": jnp.dtype(module.dtype).name}
  config = {
    f.name: getattr(module, f.name)
    for f in dataclasses.fields(module)
    if f.init and f.name not in ("parent", "name")
  }
  return {"name": type(module).__name__, "module": type(module).__module__, "config": config}


def _tuples(value: Any) -> Any:
  return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def build(description: dict[str, Any]) -> nn.Module:
  """The module that `describe` described (JSON lists come back as tuples).

  The class is looked up in the jaxgan module the description names (so that a new
  model family is a new file under jaxgan/models, imported by nothing else), or in
  this package for descriptions written before modules were recorded.
  """
  name = description["name"]
  module_name = description.get("module", "")
  if module_name.startswith("jaxgan."):
    cls = getattr(importlib.import_module(module_name), name, None)
  else:
    cls = globals().get(name)
  if cls is None or not (isinstance(cls, type) and issubclass(cls, nn.Module)):
    raise ValueError(f"unknown model {name!r} in the workdir's config")
  module = cls(**{k: _tuples(v) for k, v in description["config"].items()})
  return precision.compute_in(module, description.get("compute_dtype", "float32"))
