"""Progressive GAN's networks (Karras et al. 2018, "Progressive Growing of GANs for Improved
Quality, Stability, and Variation"), after the authors' progressive_growing_of_gans code
(networks.py: G_paper, D_paper).

    G = ProGANGenerator(image_size=32, channels=3)             # all resolutions' layers
    D = ProGANDiscriminator(image_size=32)
    G8 = G.clone(resolution=8)                                  # the network while at 8×8
    images = G8.apply(variables, z)                             # [B, 8, 8, 3]
    scores = D.clone(resolution=8).apply(variables_d, images)   # [B]

Both networks are built for the data's size (their parameters hold every resolution's
layers) and run at `resolution`, the level being trained: G ends with the toRGB of that
level, D starts with its fromRGB. While a level fades in, its block is blended with the
level below by α, read from the "progress" collection ({"alpha", "resolution"}, written
by jaxgan.kinds.progressive, α = 1 when the collection is absent):

    G_r(z) = (1 − α)·upsample(toRGB_{r/2}(h_{r/2})) + α·toRGB_r(block_r(h_{r/2}))
    D_r(x) = D_rest((1 − α)·fromRGB_{r/2}(avgpool(x)) + α·block_r(fromRGB_r(x)))

with (1 − α)·a + α·b, so that α = 0 gives exactly the level below and α = 1 the new level.

The layers (§4, Table 2): equalized learning rate on every layer (He's gain √2, 1 for the
toRGB and D's score), leaky ReLU 0.2, pixel norm after every convolution of G, the latent
pixel-normalized; G's 4×4 block a dense layer to 4×4 maps (gain √2/4, the authors' Theano
match) and a 3×3 conv, each further block nearest ×2 up-sampling and two 3×3 convs; D's
blocks two 3×3 convs, the second followed by 2×2 average pooling (before its bias, the
authors' fused conv2d_downscale2d), and at 4×4 minibatch stddev (group 4), a 3×3 conv, a
dense layer and the linear score. Channels at resolution r: min(channel_base / r,
channel_max) (the authors' fmap_base 8192 is channel_base 16384 here).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.equalized import SQRT2, EqualizedConv, EqualizedDense, leaky
from jaxgan.models.equalized import normalize_2nd_moment as pixel_norm
from jaxgan.models.gan_layers import MinibatchStdDev
from jaxgan.models.resample import average_pool2d, nearest_upsample2d
from jaxgan.models.stylegan2 import channels_at, check_image_size, resolutions

Array = jax.Array
PROGRESS = "progress"  # the variable collection of the growth: {"alpha", "resolution"}


def blend(low: Array, high: Array, alpha: Array) -> Array:
  """The fade between two levels: (1 − α)·low + α·high.

  Args:
    low: the lower level's output (or input), at the same size as high.
    high: the new level's.
    alpha: α in [0, 1].

  Returns:
    Exactly `low` at α = 0 and exactly `high` at α = 1.
  """
  return (1.0 - alpha) * low + alpha * high


def check_resolution(resolution: int, image_size: int) -> int:
  """The level a network runs at (0: the data's size), or a ValueError."""
  resolution = resolution or image_size
  if resolution not in resolutions(image_size):
    raise ValueError(
      f"resolution {resolution} is not a level of a {image_size}×{image_size} network "
      f"({', '.join(map(str, resolutions(image_size)))})"
    )
  return resolution


def read_progress(module: nn.Module, resolution: int) -> Array:
  """α of the fade-in from the module's "progress" collection (declared with α = 1 and the
  module's resolution, which jaxgan.kinds.progressive overwrites)."""
  module.variable(PROGRESS, "resolution", lambda: jnp.asarray(resolution, jnp.int32))
  return module.variable(PROGRESS, "alpha", lambda: jnp.ones([], jnp.float32)).value


def _conv(features: int, kernel_size: int = 3, **kwargs) -> EqualizedConv:
  """ProGAN's convolution: equalized with He's gain √2, then leaky ReLU (or linear)."""
  kwargs.setdefault("activation", "leaky")
  return EqualizedConv(features, kernel_size, weight_gain=SQRT2, resample="nearest", **kwargs)


class ProGANGenerator(nn.Module):
  """z → images at `resolution` (G_paper, §4, Table 2). See the module docstring."""

  image_size: int = 32
  channels: int = 3
  channel_base: int = 16384
  channel_max: int = 512
  resolution: int = 0  # the level being trained; 0: image_size
  normalize_latents: bool = True

  def width(self, resolution: int) -> int:
    return channels_at(resolution, self.channel_base, self.channel_max)

  @nn.compact
  def __call__(self, z: Array, train: bool = True) -> Array:
    del train  # no batch statistics, no dropout
    check_image_size(self.image_size)
    resolution = check_resolution(self.resolution, self.image_size)
    alpha = read_progress(self, resolution)
    x = pixel_norm(z) if self.normalize_latents else z
    c = self.width(4)
    x = EqualizedDense(16 * c, weight_gain=SQRT2 / 4, use_bias=False, name="b4_dense")(x)
    x = x.reshape(x.shape[0], 4, 4, c) + self.param("b4_dense_bias", nn.initializers.zeros, (c,))
    x = pixel_norm(leaky(x))
    x = pixel_norm(_conv(c, name="b4_conv")(x))
    low = None
    for r in resolutions(resolution)[1:]:
      if r == resolution or self.is_initializing():  # init makes every level's toRGB
        low = self.to_rgb(x, r // 2)
      x = nearest_upsample2d(x)
      x = pixel_norm(_conv(self.width(r), name=f"b{r}_conv0")(x))
      x = pixel_norm(_conv(self.width(r), name=f"b{r}_conv1")(x))
    image = self.to_rgb(x, resolution)
    return image if low is None else blend(nearest_upsample2d(low), image, alpha)

  def to_rgb(self, x: Array, resolution: int) -> Array:
    return EqualizedConv(self.channels, 1, activation=None, name=f"to_rgb_{resolution}")(x)


class ProGANDiscriminator(nn.Module):
  """images at `resolution` → scores [B] (D_paper, §4, Table 2). See the module docstring.

  mixes_examples tells the GAN step that an example's score depends on the others of its
  batch (minibatch stddev), so real and fake batches go through D separately.
  """

  image_size: int = 32
  channel_base: int = 16384
  channel_max: int = 512
  resolution: int = 0  # the level being trained; 0: image_size
  mbstd_group_size: int = 4

  mixes_examples = True

  def width(self, resolution: int) -> int:
    return channels_at(resolution, self.channel_base, self.channel_max)

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    del train
    check_image_size(self.image_size)
    resolution = check_resolution(self.resolution, self.image_size)
    if x.ndim != 4 or x.shape[1] != x.shape[2] or x.shape[1] != resolution:
      raise ValueError(
        f"ProGANDiscriminator at {resolution}×{resolution} takes [B, {resolution}, "
        f"{resolution}, C] images, got {list(x.shape)}"
      )
    alpha = read_progress(self, resolution)
    h = self.from_rgb(x, resolution)
    for r in reversed(resolutions(resolution)[1:]):
      h = _conv(self.width(r), name=f"b{r}_conv0")(h)
      h = _conv(self.width(r // 2), down=2, name=f"b{r}_conv1")(h)
      x = average_pool2d(x)
      if r == resolution:
        h = blend(self.from_rgb(x, r // 2), h, alpha)
      elif self.is_initializing():  # init makes every level's fromRGB
        self.from_rgb(x, r // 2)
    if self.mbstd_group_size > 1:
      h = MinibatchStdDev(self.mbstd_group_size)(h)
    h = _conv(self.width(4), name="b4_conv")(h)
    h = EqualizedDense(self.width(2), weight_gain=SQRT2, activation="leaky", name="b4_dense0")(
      h.reshape(h.shape[0], -1)
    )
    return EqualizedDense(1, name="b4_dense1")(h)[:, 0]

  def from_rgb(self, x: Array, resolution: int) -> Array:
    return _conv(self.width(resolution), 1, name=f"from_rgb_{resolution}")(x)
