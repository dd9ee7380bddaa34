"""SPADE (Park, Liu, Wang & Zhu 2019, "Semantic Image Synthesis with Spatially-Adaptive
Normalization", GauGAN): a generator whose every normalization is modulated per pixel by the
label map, its multi-scale PatchGAN discriminator, and its style encoder.

    SPADE:  y = norm(x)·(1 + γ(m)) + β(m)

norm is parameter-free batch (the authors' default, synchronized over devices) or instance
normalization; m is the one-hot label map resized to x's size by nearest neighbour; γ and β
are 3×3 convolutions of a shared 3×3 convolution (128 channels, ReLU) of m. Because the map
enters every layer instead of the input only, normalization cannot wash it out (the paper's
§3). The networks follow the authors' code (NVlabs/SPADE, models/networks/): the generator's
convolutions spectrally normalized, LeakyReLU(0.2), nearest-neighbour up-sampling, Xavier
initialization with gain 0.02; the discriminator's middle layers spectral + instance norm.
All take one-hot maps [B, H, W, K] and images in [−1, 1], NHWC.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.conv import Conv, Dense
from jaxgan.models.image_to_image import ResNetTranslator
from jaxgan.models.layers import BatchNorm

Array = jax.Array
XAVIER_GAIN = 0.02  # the authors' --init_type xavier --init_variance 0.02
SPADE_INIT = nn.initializers.variance_scaling(XAVIER_GAIN**2, "fan_avg", "normal")
PARAM_FREE_NORMS = ("batch", "instance")


def _leaky_relu(x: Array) -> Array:
  return nn.leaky_relu(x, negative_slope=0.2)


def resize_nearest(label_map: Array, height: int, width: int) -> Array:
  """A one-hot map at another size by nearest neighbour (classes never blend).

  Args:
    label_map: [B, H, W, K].
    height: the new height.
    width: the new width.

  Returns:
    [B, height, width, K].
  """
  b, _, _, k = label_map.shape
  return jax.image.resize(label_map, (b, height, width, k), "nearest")


def up_nearest(x: Array) -> Array:
  """×2 nearest-neighbour up-sampling (PyTorch's Upsample(scale_factor=2))."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def param_free_norm(x: Array, kind: str, train: bool) -> Array:
  """(x − μ)/√(σ² + 1e-5) with no γ, β.

  Args:
    x: the activations [B, H, W, C].
    kind: batch (statistics over the batch; running averages in evaluation) or instance
      (over each example's spatial axes).
    train: batch statistics (and updating the averages) or the averages.

  Returns:
    The normalized activations.
  """
  if kind == "batch":
    return BatchNorm(use_affine=False)(x, train)
  if kind == "instance":
    return nn.InstanceNorm(epsilon=1e-5, use_bias=False, use_scale=False)(x)
  raise ValueError(f"unknown parameter-free norm {kind!r}: choose batch or instance")


class SPADE(nn.Module):
  """y = norm(x)·(1 + γ(m)) + β(m) (see the module docstring)."""

  hidden: int = 128
  norm: str = "batch"
  kernel_size: int = 3

  @nn.compact
  def __call__(self, x: Array, label_map: Array, train: bool = True) -> Array:
    normalized = param_free_norm(x, self.norm, train)
    m = resize_nearest(label_map, x.shape[1], x.shape[2])
    k, pad = self.kernel_size, self.kernel_size // 2
    shared = nn.relu(Conv(self.hidden, k, 1, pad, kernel_init=SPADE_INIT, name="shared")(m))
    gamma = Conv(x.shape[-1], k, 1, pad, kernel_init=SPADE_INIT, name="gamma")(shared)
    beta = Conv(x.shape[-1], k, 1, pad, kernel_init=SPADE_INIT, name="beta")(shared)
    return normalized * (1 + gamma) + beta


class SPADEResBlock(nn.Module):
  """The authors' SPADEResnetBlock: two (SPADE, LeakyReLU, 3×3 conv) stages, the middle
  width min(in, out), and a learned shortcut (SPADE, 1×1 conv without bias) when the width
  changes. Convolutions spectrally normalized when spectral_norm."""

  features: int
  hidden: int = 128
  norm: str = "batch"
  spectral_norm: bool = True

  @nn.compact
  def __call__(self, x: Array, label_map: Array, train: bool = True) -> Array:
    middle = min(x.shape[-1], self.features)
    sn = self.spectral_norm

    def spade(h, name):
      return SPADE(self.hidden, self.norm, name=name)(h, label_map, train)

    shortcut = x
    if x.shape[-1] != self.features:
      shortcut = Conv(
        self.features, 1, 1, 0, use_bias=False, spectral_norm=sn, kernel_init=SPADE_INIT
      )(spade(x, "norm_s"), train)
    h = Conv(middle, 3, 1, 1, spectral_norm=sn, kernel_init=SPADE_INIT)(
      _leaky_relu(spade(x, "norm_0")), train
    )
    h = Conv(self.features, 3, 1, 1, spectral_norm=sn, kernel_init=SPADE_INIT)(
      _leaky_relu(spade(h, "norm_1")), train
    )
    return shortcut + h


class SPADEGenerator(nn.Module):
  """The authors' SPADEGenerator: z [B, latent_dim] → a dense layer to the smallest size
  s = image_size / 2^num_upsamplings with 16·width channels; SPADE residual blocks head_0
  (at s), ×2 nearest up-sampling, G_middle_0 and G_middle_1 (16w, at 2s), then
  num_upsamplings − 1 times (×2 up-sampling, a block) at 8w, 4w, 2w, w; LeakyReLU, a 3×3
  convolution to the image channels, tanh.

  The authors' "normal" setting is 5 up-samplings for 256×256 (s = 8), which gives their
  seven blocks. Fewer up-samplings keep the first blocks and drop the last: 48 = 3 · 2⁴
  ends at 2w.
  """

  image_size: int
  channels: int = 3
  width: int = 64
  num_upsamplings: int = 5
  hidden: int = 128
  norm: str = "batch"
  spectral_norm: bool = True

  def start_size(self) -> int:
    n = self.num_upsamplings
    start = self.image_size // 2**n
    if n < 1 or start < 1 or start * 2**n != self.image_size:
      raise ValueError(f"image size {self.image_size} is not a start size times 2^{n} (n ≥ 1)")
    return start

  def up_widths(self) -> list[int]:
    """The widths of the blocks after G_middle_1, one per further up-sampling."""
    return [max(1, 16 * self.width // 2**i) for i in range(1, self.num_upsamplings)]

  @nn.compact
  def __call__(self, z: Array, label_map: Array, train: bool = True) -> Array:
    s, top = self.start_size(), 16 * self.width
    h = Dense(s * s * top, kernel_init=SPADE_INIT)(z).reshape(-1, s, s, top)

    def block(h, features, name):
      return SPADEResBlock(features, self.hidden, self.norm, self.spectral_norm, name=name)(
        h, label_map, train
      )

    h = block(h, top, "head_0")
    h = block(up_nearest(h), top, "G_middle_0")
    h = block(h, top, "G_middle_1")
    for i, features in enumerate(self.up_widths()):
      h = block(up_nearest(h), features, f"up_{i}")
    return jnp.tanh(Conv(self.channels, 3, 1, 1, kernel_init=SPADE_INIT)(_leaky_relu(h)))


class MapInputGenerator(nn.Module):
  """The baseline SPADE is measured against (the paper's pix2pixHD, §4): an encoder–decoder
  that reads the one-hot map at its input only, CycleGAN's / pix2pixHD's ResNet generator
  (jaxgan.models.ResNetTranslator: c7s1, two stride-2 down-samplings, residual blocks, two
  up-samplings, c7s1, tanh) with instance norm. It has no noise: z is ignored."""

  channels: int = 3
  width: int = 64
  num_blocks: int = 6
  normalization: str = "instance"

  @nn.compact
  def __call__(self, z: Array, label_map: Array, train: bool = True) -> Array:
    del z
    translator = ResNetTranslator(
      self.channels, self.width, self.num_blocks, normalization=self.normalization
    )
    return translator(label_map, train)


class NLayerDiscriminator(nn.Module):
  """The authors' NLayerDiscriminator, returning every layer's output (the feature-matching
  loss reads all but the last): a 4×4 stride-2 conv and LeakyReLU; num_layers − 1 4×4
  convolutions (stride 2, the last stride 1; widths doubling to 8w) each spectrally normalized,
  instance-normalized and LeakyReLU'd; a 4×4 conv to one logit per patch. Padding 2 everywhere
  (⌈(4 − 1)/2⌉, as theirs)."""

  width: int = 64
  num_layers: int = 4

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> list[Array]:
    outputs = [_leaky_relu(Conv(self.width, 4, 2, 2, kernel_init=SPADE_INIT)(x, train))]
    h = outputs[0]
    for n in range(1, self.num_layers):
      stride = 1 if n == self.num_layers - 1 else 2
      width = self.width * min(2**n, 8)
      h = Conv(width, 4, stride, 2, spectral_norm=True, kernel_init=SPADE_INIT)(h, train)
      h = _leaky_relu(nn.InstanceNorm(epsilon=1e-5, use_bias=False, use_scale=False)(h))
      outputs.append(h)
    outputs.append(Conv(1, 4, 1, 2, kernel_init=SPADE_INIT)(h, train))
    return outputs


def downsample_input(x: Array) -> Array:
  """The multi-scale discriminator's next input: 3×3 average pooling, stride 2, padding 1,
  the padded pixels left out of each average (count_include_pad=False)."""
  window, strides, pad = (1, 3, 3, 1), (1, 2, 2, 1), ((0, 0), (1, 1), (1, 1), (0, 0))
  total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, pad)
  count = jax.lax.reduce_window(jnp.ones_like(x[..., :1]), 0.0, jax.lax.add, window, strides, pad)
  return total / count


class MultiscaleDiscriminator(nn.Module):
  """num_scales NLayerDiscriminators on the (map, image) input at full size, half size, ...
  (the authors' MultiscaleDiscriminator, pix2pixHD's): a list per scale of every layer's
  output, the last one the patch logits [B, h, w, 1]."""

  width: int = 64
  num_layers: int = 4
  num_scales: int = 2

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> list[list[Array]]:
    results = []
    for i in range(self.num_scales):
      results.append(NLayerDiscriminator(self.width, self.num_layers, name=f"scale_{i}")(x, train))
      if i + 1 < self.num_scales:
        x = downsample_input(x)
    return results


class StyleEncoder(nn.Module):
  """The authors' ConvEncoder: images → (μ, log σ²) of the style code z: num_layers 3×3
  stride-2 convolutions (widths w, 2w, 4w, then 8w), each spectral + instance normalized,
  LeakyReLU between them, then two dense layers from the flattened map."""

  latent_dim: int = 256
  width: int = 64
  num_layers: int = 4

  @nn.compact
  def __call__(self, images: Array, train: bool = True) -> tuple[Array, Array]:
    h = images
    for n in range(self.num_layers):
      if n:
        h = _leaky_relu(h)
      h = Conv(self.width * min(2**n, 8), 3, 2, 1, spectral_norm=True, kernel_init=SPADE_INIT)(
        h, train
      )
      h = nn.InstanceNorm(epsilon=1e-5, use_bias=False, use_scale=False)(h)
    h = _leaky_relu(h).reshape(h.shape[0], -1)
    mu = Dense(self.latent_dim, kernel_init=SPADE_INIT, name="mu")(h)
    return mu, Dense(self.latent_dim, kernel_init=SPADE_INIT, name="log_variance")(h)
