"""Perceptual distances for reconstruction losses (VQGAN, VAE-GAN, super-resolution): two images
compared through a fixed network's features instead of pixel by pixel.

    distance = perceptual.perceptual_for("auto", "digits")    # or "lpips:PATH", "none"
    d = distance(x, y)                                        # [B], differentiable

The LPIPS form (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a
Perceptual Metric", eq. 1):

    d(x, y) = Σ_l 1/(H_l W_l) Σ_{h,w} ‖ w_l ⊙ (x̂_l^{hw} − ŷ_l^{hw}) ‖²

with x̂_l the layer-l features unit-normalized over channels (ε = 1e-10, as the authors'
code) and w_l non-negative per-channel weights (LPIPS's learned "lin" layers, applied to the
squared differences; all ones is the paper's "baseline" variant).

The networks (--perceptual):
- lpips:PATH: VGG16 with LPIPS v0.1's weights (jaxgan.models.vgg says how to convert them
  once); what VQGAN uses. They cannot be downloaded here.
- digits: the shipped digits classifier (jaxgan.features) through its three convolutions
  (after ReLU: 32, 64 and 128 channels at 8×8, 4×4, 2×2), equal weights: an offline
  perceptual term for the digits. Not LPIPS: its values compare only with each other.
- vgg54:PATH: SRGAN's VGG content loss (Ledig et al. 2017, §2.2.1): the mean squared
  difference of VGG19's φ5,4 (the 16th convolution, after its ReLU), the features divided by
  12.75 as the authors did, from torchvision's VGG19 converted as jaxgan.models.vgg says.
- vgg54_pre:PATH: ESRGAN's (Wang et al. 2018, §3.3): the mean absolute difference of the same
  layer before its ReLU.
- auto: digits on the digits, none elsewhere; none: no perceptual term (the SR runs' pixel
  loss alone: SRGAN's "SRGAN-MSE").
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxgan import features
from jaxgan.errors import ConfigError
from jaxgan.models import vgg
from jaxgan.models.conv import Conv

Array = jax.Array

PERCEPTUAL_HELP = (
  "The perceptual term's network: auto (the digits classifier on digits, none elsewhere), "
  "digits, lpips:PATH (VGG16 + LPIPS weights converted as jaxgan.models.vgg says), "
  "vgg54:PATH (SRGAN's VGG19 content loss), vgg54_pre:PATH (ESRGAN's), none."
)
SRGAN_FEATURE_SCALE = 12.75  # SRGAN divides VGG19's features by this (their §3.2)
WEIGHT_FILES = {"lpips": "VGG16 and LPIPS", "vgg54": "VGG19", "vgg54_pre": "VGG19"}


@dataclasses.dataclass(frozen=True)
class Perceptual:
  """distance(x, y) → [B] through features(images in [−1, 1]) → a list of [B, H, W, C] maps,
  weighted per channel by weights (one [C] per map; None: ones)."""

  name: str
  features: Callable[[Array], Sequence[Array]]
  weights: tuple[Array, ...] | None = None

  def __call__(self, x: Array, y: Array) -> Array:
    return lpips_distance(self.features(x), self.features(y), self.weights)


@dataclasses.dataclass(frozen=True)
class ContentLoss:
  """distance(x, y) → [B]: a per-example mean of (φ(x) − φ(y))² ("mse") or `abs(φ(x) − φ(y))` ("l1")
  over one feature map φ(images in [−1, 1]) → [B, H, W, C]."""

  name: str
  features: Callable[[Array], Array]
  kind: str = "mse"

  def __call__(self, x: Array, y: Array) -> Array:
    difference = self.features(x) - self.features(y)
    values = difference**2 if self.kind == "mse" else jnp.abs(difference)
    return jnp.mean(values, axis=(1, 2, 3))


@functools.cache
def vgg54_content(path: str, pre_activation: bool) -> ContentLoss:
  """SRGAN's content loss (after the ReLU, MSE of φ/12.75) or ESRGAN's (before it, L1) from
  torchvision's VGG19 weights at path."""
  variables = vgg.load_vgg19(path)
  network = vgg.VGG(vgg.VGG19, (vgg.VGG19_CONV5_4,), pre_activation)
  scale = 1.0 if pre_activation else 1.0 / SRGAN_FEATURE_SCALE

  def features(images):
    return scale * network.apply(variables, vgg.imagenet_scaling(images))[0]

  if pre_activation:
    return ContentLoss("vgg19_conv5_4_pre_relu_l1", features, "l1")
  return ContentLoss("vgg19_relu5_4_mse", features, "mse")


def normalize_channels(f: Array, eps: float = 1e-10) -> Array:
  """f / (‖f‖ over the channels + ε), LPIPS's normalize_tensor."""
  return f / (jnp.sqrt(jnp.sum(f**2, axis=-1, keepdims=True)) + eps)


def lpips_distance(
  features_x: Sequence[Array], features_y: Sequence[Array], weights: Sequence[Array] | None = None
) -> Array:
  """Σ_l mean_{h,w} Σ_c w_lc (x̂_l − ŷ_l)²_c per example (the module docstring's formula).

  Args:
    features_x: the maps of the first images, [B, H_l, W_l, C_l] per layer.
    features_y: the same layers of the second images.
    weights: [C_l] per layer, or None for ones.

  Returns:
    [B] distances.
  """
  total = 0.0
  for layer, (fx, fy) in enumerate(zip(features_x, features_y, strict=True)):
    squared = (normalize_channels(fx) - normalize_channels(fy)) ** 2
    weighted = squared if weights is None else squared * weights[layer]
    total = total + jnp.mean(jnp.sum(weighted, axis=-1), axis=(1, 2))
  return total


@functools.cache
def digits_perceptual() -> Perceptual:
  """The digits classifier's convolutions (after ReLU) as a perceptual network."""
  model, params = features.SmallClassifier(10), features.digits_classifier_params()

  def conv_maps(images):
    _, state = model.apply(
      {"params": params},
      images,
      capture_intermediates=lambda module, _: isinstance(module, Conv),
      mutable=["intermediates"],
    )
    convs = state["intermediates"]
    return [jax.nn.relu(convs[f"Conv_{i}"]["__call__"][0]) for i in range(3)]

  return Perceptual(f"digits_classifier_v{features.DIGITS_CLASSIFIER_VERSION}", conv_maps)


@functools.cache
def lpips_perceptual(path: str) -> Perceptual:
  """LPIPS (VGG16, v0.1) with the weights of the converted .npz at path."""
  variables, lins = vgg.load_lpips(path)
  network = vgg.VGG()

  def vgg_maps(images):
    return network.apply(variables, vgg.lpips_scaling(images))

  return Perceptual("lpips_vgg16_v0.1", vgg_maps, tuple(lins))


def check_perceptual_flag(spec: str) -> None:
  """A one-line ConfigError for a --perceptual value that names nothing (before compiling)."""
  if spec in ("auto", "digits", "none"):
    return
  network = spec.split(":", 1)[0]
  if ":" in spec and network in WEIGHT_FILES:
    path = os.path.expanduser(spec.split(":", 1)[1])
    if not os.path.isfile(path):
      raise ConfigError(
        f"--perceptual={spec}: no file {path}; convert {WEIGHT_FILES[network]}'s weights as "
        "jaxgan.models.vgg says (python -m jaxgan.models.vgg --vgg=...)"
      )
    return
  raise ConfigError(
    f"--perceptual={spec!r} is unknown: auto, digits, lpips:PATH, vgg54:PATH, vgg54_pre:PATH "
    "or none"
  )


def perceptual_for(spec: str, dataset_name: str) -> Perceptual | ContentLoss | None:
  """The network --perceptual=spec asks for, or None for no perceptual term.

  Args:
    spec: auto, digits, lpips:PATH, vgg54:PATH, vgg54_pre:PATH or none.
    dataset_name: the run's data ("auto" means the digits network on digits, none else).

  Returns:
    The Perceptual distance, or None.
  """
  check_perceptual_flag(spec)
  if spec == "none" or (spec == "auto" and dataset_name != "digits"):
    return None
  if spec in ("auto", "digits"):
    return digits_perceptual()
  network, path = spec.split(":", 1)
  if network == "lpips":
    return lpips_perceptual(os.path.expanduser(path))
  return vgg54_content(os.path.expanduser(path), network == "vgg54_pre")
