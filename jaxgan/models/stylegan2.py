"""StyleGAN2's networks (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN"), after the authors' stylegan2-ada-pytorch code.

    G = StyleGAN2Generator(image_size=32, channels=3)            # mapping + skip synthesis
    D = StyleGAN2Discriminator(image_size=32)                     # residual, minibatch stddev
    images = G.apply(variables, z, train=True, rngs={"noise": k1, "mixing": k2},
                     mutable=["w_avg"])
    ws = G.apply(variables, z, method=G.mapping, truncation_psi=0.7)     # [B, num_ws, w_dim]
    images = G.apply(variables, ws, method=G.synthesis)

The pieces, each a pure function or a small module:
- equalized learning rate (jaxgan.models.equalized: `EqualizedDense`, `EqualizedConv`, §4.1
  of ProGAN): weights stored as N(0, 1/lr_mul²) and scaled at run time by lr_mul/√fan_in,
  the bias stored as is and scaled by lr_mul, so that Adam's step is the same size for
  every layer;
- FIR resampling (jaxgan.models.resample: `upfirdn2d`): up-sample by zero insertion, pad,
  FIR-filter, down-sample; with the [1, 3, 3, 1] filter it is the anti-aliased ×2 up- and
  down-sampling of StyleGAN2 and the blur of its resampling convolutions (`conv2d_resample`);
- `modulated_conv2d`: the weight scaled per input channel by the style s and each
  output channel demodulated by 1/√(Σ (w·s)² + 1e-8) (StyleGAN2 eq. 1–3), in either
  exact form: per-example weights as a grouped convolution, or the input scaled by s
  and the output by the demodulation coefficients (the authors' training path);
- `SynthesisLayer` (modulated conv, per-pixel noise × a learned strength starting at 0,
  bias, lrelu·√2), `ToRGB` (modulated 1×1, no demodulation), the constant 4×4 input;
- the mapping network (pixel-normalized z, 8 equalized layers with lr multiplier 0.01),
  which tracks w̄, the average w, in the "w_avg" collection (w̄ ← w̄ + (1 − β)(mean w − w̄),
  β = 0.995) and truncates toward it: w' = w̄ + ψ (w − w̄) on the first `cutoff` ws;
- style mixing regularization in training (with probability p, the ws from a random
  layer on come from a second z; one cutoff per batch, as the authors' loss does);
- the skip generator and the residual discriminator (Fig. 7), minibatch stddev
  (group 4, one feature) in D's 4×4 epilogue.

Randomness in training comes from Flax rng streams: "noise" for the noise inputs,
"mixing" for style mixing. Without a "noise" stream (sampling, evaluation) the noise
inputs take the fixed draws stored at initialization ("noise_const": the authors'
noise_mode="const"), so a run's samples are a function of z alone.

resample="bilinear" swaps the FIR resampling for bilinear ×2 up-sampling and 2×2
average pooling with the convolution after it, the narrowed network of
shared/bench/WORKLOADS.md (`stylegan2_32`).

Departures from the authors' code: the up-sampling 3×3 convolution is computed in the
authors' generic form (FIR up-sampling, then the convolution) rather than their fast
transposed-convolution path, the same function of the weights up to a flip of the kernel;
no fp16 layers or activation clamping (conv_clamp), which the 32–256 px configurations
of this library do not need.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.conv import convolutions_by
from jaxgan.models.equalized import EqualizedConv, EqualizedDense, lrelu, normalize_2nd_moment
from jaxgan.models.gan_layers import MinibatchStdDev
from jaxgan.models.resample import bilinear_upsample2d, conv2d_resample, upsample2d

Array = jax.Array
RESAMPLING = ("fir", "bilinear")  # of the StyleGAN2 networks (jaxgan.models.resample has more)


# ---------------------------------------------------------------------------
# Modulated convolution.
# ---------------------------------------------------------------------------


def demodulation(weight: Array, styles: Array, eps: float = 1e-8) -> Array:
  """StyleGAN2 eq. 3: 1/√(Σ_{i,j,c} (w[i, j, c, o]·s[b, c])² + eps).

  Args:
    weight: [k, k, C, O].
    styles: [B, C].
    eps: keeps the root finite for a zero weight.

  Returns:
    [B, O].
  """
  return jax.lax.rsqrt(jnp.einsum("ijco,bc->bo", jnp.square(weight), jnp.square(styles)) + eps)


def modulated_conv2d(
  x: Array,
  weight: Array,
  styles: Array,
  *,
  demodulate: bool = True,
  up: int = 1,
  grouped: bool = False,
  resample: str = "fir",
) -> Array:
  """StyleGAN2's modulated convolution (eq. 1–3): the weight w[i, j, c, o] scaled by the
  example's style s[b, c] and, with demodulation, each output channel by
  1/√(Σ (w·s)² + 1e-8).

  grouped=False: the authors' training path, conv(x·s, w)·d — one convolution with the
  shared weight. grouped=True: every example convolved with its own weight w·s·d (the
  authors' fused_modconv form). The two are the same function.

  Args:
    x: [B, H, W, C].
    weight: [k, k, C, O].
    styles: [B, C].
    demodulate: normalize each output channel.
    up: 1, or 2 for up-sampling first (conv2d_resample).
    grouped: compute with per-example weights.
    resample: "fir" or "bilinear" (conv2d_resample).

  Returns:
    [B, H·up, W·up, O].
  """
  if grouped:
    per_example = weight[None] * styles[:, None, None, :, None]  # [B, k, k, C, O]
    if demodulate:
      per_example = per_example * demodulation(weight, styles)[:, None, None, None, :]
    return jax.vmap(lambda xb, wb: conv2d_resample(xb[None], wb, up, 1, resample)[0])(
      x, per_example
    )
  y = conv2d_resample(x * styles[:, None, None, :], weight, up, 1, resample)
  if demodulate:
    y = y * demodulation(weight, styles)[:, None, None, :]
  return y


class SynthesisLayer(nn.Module):
  """Modulated 3×3 convolution (optionally up-sampling ×2), demodulated; + noise × a learned
  strength (starting at 0); + bias; lrelu·√2. The style is an equalized affine map of w
  with bias 1."""

  features: int
  resolution: int
  up: int = 1
  kernel_size: int = 3
  resample: str = "fir"
  grouped: bool = False

  @nn.compact
  def __call__(self, x: Array, w: Array) -> Array:
    c = x.shape[-1]
    styles = EqualizedDense(c, bias_init=1.0, name="affine")(w)
    k = self.kernel_size
    weight = self.param("weight", nn.initializers.normal(1.0), (k, k, c, self.features))
    y = modulated_conv2d(
      x, weight, styles, up=self.up, grouped=self.grouped, resample=self.resample
    )
    strength = self.param("noise_strength", nn.initializers.zeros, ())
    res = self.resolution
    if self.has_rng("noise"):
      noise = jax.random.normal(self.make_rng("noise"), (y.shape[0], res, res, 1), y.dtype)
    else:
      noise = (
        self.variable(
          "noise_const",
          "noise",
          lambda: jax.random.normal(self.make_rng("params"), (res, res, 1)),
        )
        .value[None]
        .astype(y.dtype)
      )  # (kept in float32; y may be bfloat16: jaxgan.precision)
    y = y + noise * strength
    return lrelu(y + self.param("bias", nn.initializers.zeros, (self.features,)))


class ToRGB(nn.Module):
  """Modulated 1×1 convolution to the image channels, no demodulation, + bias (the style
  scaled by 1/√C_in: the equalized learning rate of an undemodulated layer)."""

  channels: int
  grouped: bool = False

  @nn.compact
  def __call__(self, x: Array, w: Array) -> Array:
    c = x.shape[-1]
    styles = EqualizedDense(c, bias_init=1.0, name="affine")(w) / math.sqrt(c)
    weight = self.param("weight", nn.initializers.normal(1.0), (1, 1, c, self.channels))
    y = modulated_conv2d(x, weight, styles, demodulate=False, grouped=self.grouped)
    return y + self.param("bias", nn.initializers.zeros, (self.channels,))


# ---------------------------------------------------------------------------
# The generator.
# ---------------------------------------------------------------------------


def check_image_size(image_size: int) -> int:
  """log2(image_size), or a ValueError unless it is a power of two of at least 4."""
  if image_size < 4 or image_size & (image_size - 1):
    raise ValueError(
      f"StyleGAN2 needs a power-of-two image size of at least 4, got "
      f"{image_size}: pass --image_size=4, 8, 16, 32, ..."
    )
  return int(math.log2(image_size))


def resolutions(image_size: int) -> list[int]:
  """4, 8, ..., image_size."""
  return [2**i for i in range(2, check_image_size(image_size) + 1)]


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
  """The authors' width rule: min(channel_base / resolution, channel_max).

  Args:
    resolution: the layer's image size.
    channel_base: the numerator (16384 for config F up to 1024², i.e. 512 up to 32²).
    channel_max: the cap.

  Returns:
    The layer's channels.
  """
  return min(channel_base // resolution, channel_max)


def num_ws(image_size: int) -> int:
  """How many ws the synthesis network reads: one per convolution, and one for the last toRGB
  (each toRGB shares the w of the next block's first convolution): 2·log2(size) − 2."""
  return 2 * check_image_size(image_size) - 2


def truncate(ws: Array, w_avg: Array, psi: float | Array, cutoff: int | None = None) -> Array:
  """The truncation trick in W: w' = w̄ + ψ·(w − w̄) on the first `cutoff` ws (all when None).

  Args:
    ws: [B, num_ws, w_dim].
    w_avg: w̄ [w_dim].
    psi: ψ: 1 = no truncation, 0 = every sample is G(w̄).
    cutoff: how many of the first ws to truncate.

  Returns:
    The truncated ws.
  """
  cutoff = ws.shape[1] if cutoff is None else cutoff
  layer = jnp.arange(ws.shape[1])[None, :, None]
  w_avg = w_avg.astype(ws.dtype)  # (w̄ is kept in float32; ws may be bfloat16)
  return jnp.where(layer < cutoff, w_avg + psi * (ws - w_avg), ws)


def mix_styles(ws: Array, ws_mix: Array, cutoff: Array) -> Array:
  """ws[:, :cutoff] then ws_mix[:, cutoff:] (style mixing).

  Args:
    ws: [B, num_ws, w_dim], the first layers' styles.
    ws_mix: [B, num_ws, w_dim], the styles from the cutoff layer on.
    cutoff: the first layer taken from ws_mix (may be traced).

  Returns:
    The mixed ws.
  """
  layer = jnp.arange(ws.shape[1])[None, :, None]
  return jnp.where(layer < cutoff, ws, ws_mix)


class MappingNetwork(nn.Module):
  """z → w: pixel norm, then `num_layers` equalized dense layers (lrelu·√2, lr multiplier
  0.01), broadcast to [B, num_ws, w_dim]; tracks w̄ in "w_avg" when training."""

  w_dim: int = 512
  num_layers: int = 8
  lr_multiplier: float = 0.01
  w_avg_beta: float = 0.995

  @nn.compact
  def __call__(self, z: Array, num_ws: int, train: bool = False, update_w_avg: bool = True):
    x = normalize_2nd_moment(z)
    for i in range(self.num_layers):
      x = EqualizedDense(
        self.w_dim, lr_multiplier=self.lr_multiplier, activation="lrelu", name=f"fc{i}"
      )(x)
    w_avg = self.variable("w_avg", "w_avg", lambda: jnp.zeros((self.w_dim,), jnp.float32))
    if train and update_w_avg and not self.is_initializing():
      mean = jnp.mean(jax.lax.stop_gradient(x), axis=0)
      w_avg.value = mean + self.w_avg_beta * (w_avg.value - mean)
    return jnp.broadcast_to(x[:, None, :], (x.shape[0], num_ws, self.w_dim))


class StyleGAN2Generator(nn.Module):
  """The StyleGAN2 generator (config F's skip architecture): mapping network, a learned
  constant 4×4 input, per resolution two modulated 3×3 convolutions (the first up-sampling)
  and a toRGB whose image is added to the up-sampled image of the resolutions before.

  Called as G(z, train=...) → images in roughly [−1, 1] (no tanh, as the authors).
  Training with a "mixing" rng stream applies style mixing with probability
  style_mixing_prob; mapping() and synthesis() are the two halves, for truncation and
  style-mixing grids.
  """

  image_size: int = 32
  channels: int = 3
  z_dim: int = 512
  w_dim: int = 512
  mapping_layers: int = 8
  mapping_lr_multiplier: float = 0.01
  w_avg_beta: float = 0.995
  channel_base: int = 16384
  channel_max: int = 512
  style_mixing_prob: float = 0.9
  resample: str = "fir"
  grouped: bool = False
  convolutions: str = ""  # "matmul" or "xla" (jaxgan.models.convolutions_by); "": the caller's

  def setup(self):
    check_image_size(self.image_size)
    if self.resample not in RESAMPLING:
      raise ValueError(f"resample must be one of {RESAMPLING}, got {self.resample!r}")
    self.mapping_network = MappingNetwork(
      self.w_dim, self.mapping_layers, self.mapping_lr_multiplier, self.w_avg_beta
    )
    width = {r: channels_at(r, self.channel_base, self.channel_max) for r in self.resolutions}
    self.const = self.param("const", nn.initializers.normal(1.0), (4, 4, width[4]))
    layers, to_rgbs = [], []
    for r in self.resolutions:
      if r > 4:
        layers.append(SynthesisLayer(width[r], r, 2, resample=self.resample, grouped=self.grouped))
      layers.append(SynthesisLayer(width[r], r, resample=self.resample, grouped=self.grouped))
      to_rgbs.append(ToRGB(self.channels, grouped=self.grouped))
    self.layers, self.to_rgbs = layers, to_rgbs

  @property
  def resolutions(self) -> list[int]:
    return resolutions(self.image_size)

  @property
  def num_ws(self) -> int:
    return num_ws(self.image_size)

  def mapping(
    self,
    z: Array,
    train: bool = False,
    truncation_psi: float | Array = 1.0,
    truncation_cutoff: int | None = None,
    update_w_avg: bool = True,
  ) -> Array:
    """z [B, z_dim] → ws [B, num_ws, w_dim], truncated toward w̄ when ψ ≠ 1.

    Args:
      z: the latents.
      train: update w̄ from this batch (with update_w_avg).
      truncation_psi: ψ of the truncation trick (1: none; may be traced).
      truncation_cutoff: truncate the first this many ws (None: all); a ValueError beyond
        num_ws.
      update_w_avg: False keeps w̄ in training (the second z of style mixing).

    Returns:
      The ws.
    """
    if truncation_cutoff is not None and not 0 <= truncation_cutoff <= self.num_ws:
      raise ValueError(
        f"truncation cutoff {truncation_cutoff} is beyond the generator's {self.num_ws} "
        f"layers of styles: choose 0 to {self.num_ws}"
      )
    ws = self.mapping_network(z, self.num_ws, train, update_w_avg)
    if isinstance(truncation_psi, (int, float)) and truncation_psi == 1:
      return ws  # (a traced ψ always truncates: ψ = 1 gives the same ws)
    w_avg = self.get_variable("w_avg", "mapping_network")["w_avg"]
    return truncate(ws, w_avg, truncation_psi, truncation_cutoff)

  def synthesis(self, ws: Array) -> Array:
    """ws [B, num_ws, w_dim] → images [B, size, size, channels]."""
    if self.convolutions:
      with convolutions_by(self.convolutions):
        return self._synthesis(ws)
    return self._synthesis(ws)

  def _synthesis(self, ws: Array) -> Array:
    x = jnp.broadcast_to(self.const[None], (ws.shape[0], *self.const.shape))
    image, i = None, 0
    for j, to_rgb in enumerate(self.to_rgbs):
      for _ in range(1 if j == 0 else 2):
        x = self.layers[i](x, ws[:, i])
        i += 1
      y = to_rgb(x, ws[:, i])
      if image is None:
        image = y
      elif self.resample == "bilinear":
        image = bilinear_upsample2d(image) + y
      else:
        image = upsample2d(image) + y
    return image

  def mixed_styles(self, z: Array, ws: Array) -> Array:
    """Style mixing regularization (§3.3 of StyleGAN): with probability style_mixing_prob,
    the ws from a random layer (1 to num_ws − 1, one per batch) on are those of a second z."""
    key = self.make_rng("mixing")
    cutoff_key, coin_key, z_key = jax.random.split(key, 3)
    cutoff = jax.random.randint(cutoff_key, (), 1, self.num_ws)
    cutoff = jnp.where(jax.random.uniform(coin_key) < self.style_mixing_prob, cutoff, self.num_ws)
    second = self.mapping(jax.random.normal(z_key, z.shape, z.dtype), True, update_w_avg=False)
    return mix_styles(ws, second, cutoff)

  def __call__(self, z: Array, train: bool = True) -> Array:
    ws = self.mapping(z, train)
    if train and self.style_mixing_prob > 0 and self.has_rng("mixing"):
      ws = self.mixed_styles(z, ws)
    return self.synthesis(ws)


# ---------------------------------------------------------------------------
# The discriminator.
# ---------------------------------------------------------------------------


class DiscriminatorBlock(nn.Module):
  """Residual block: 3×3 conv, 3×3 conv down ×2; skip = 1×1 conv (no bias) down ×2; the sum
  scaled by 1/√2 (each branch's gain √0.5, as the authors)."""

  features: int
  resample: str = "fir"

  @nn.compact
  def __call__(self, x: Array) -> Array:
    c = x.shape[-1]
    skip = EqualizedConv(
      self.features, 1, use_bias=False, activation=None, down=2, resample=self.resample
    )(x, gain=math.sqrt(0.5))
    x = EqualizedConv(c, 3, resample=self.resample)(x)
    x = EqualizedConv(self.features, 3, down=2, resample=self.resample)(x, gain=math.sqrt(0.5))
    return skip + x


class StyleGAN2Discriminator(nn.Module):
  """The residual discriminator (config E/F): fromRGB (1×1), one residual block per
  resolution down to 4×4, then minibatch stddev, a 3×3 conv, FC and the score.

  mixes_examples tells the GAN step that an example's score depends on the others of its
  batch (minibatch stddev), so real and fake batches go through D separately.
  """

  image_size: int = 32
  channel_base: int = 16384
  channel_max: int = 512
  mbstd_group_size: int = 4
  mbstd_num_features: int = 1
  resample: str = "fir"

  mixes_examples = True

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    del train
    if x.ndim != 4 or x.shape[1] != x.shape[2] or x.shape[1] != self.image_size:
      raise ValueError(
        f"StyleGAN2Discriminator(image_size={self.image_size}) takes [B, {self.image_size}, "
        f"{self.image_size}, C] images, got {tuple(x.shape)}"
      )
    sizes = resolutions(self.image_size)
    width = {r: channels_at(r, self.channel_base, self.channel_max) for r in sizes}
    x = EqualizedConv(width[self.image_size], 1, name="from_rgb")(x)
    for r in reversed(sizes[1:]):
      x = DiscriminatorBlock(width[r // 2], self.resample, name=f"block{r}")(x)
    x = MinibatchStdDev(self.mbstd_group_size, num_features=self.mbstd_num_features)(x)
    x = EqualizedConv(width[4], 3, name="conv")(x)
    x = EqualizedDense(width[4], activation="lrelu", name="fc")(x.reshape(x.shape[0], -1))
    return EqualizedDense(1, name="out")(x)[:, 0]
