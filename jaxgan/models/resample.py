"""Up- and down-sampling of NHWC image batches for the generators and discriminators of
StyleGAN2 and Progressive GAN.

    y = upsample2d(x)                        # ×2, anti-aliased by the [1, 3, 3, 1] FIR filter
    y = conv2d_resample(x, kernel, down=2)   # a 'same' convolution with ×2 down-sampling
    y = nearest_upsample2d(x)                # ×2 by repeating pixels (ProGAN's upscale2d)

- `upfirdn2d` (the authors' stylegan2-ada-pytorch): up-sample by zero insertion, pad,
  FIR-filter, down-sample; with the [1, 3, 3, 1] filter it is StyleGAN2's anti-aliased ×2
  resampling and the blur of its resampling convolutions;
- "bilinear": bilinear up-sampling and 2×2 average pooling (shared/bench's narrowed network);
- "nearest": ProGAN's nearest-neighbour up-sampling and 2×2 box down-sampling, whose fused
  forms (the authors' upscale2d_conv2d and conv2d_downscale2d) are the same functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.models.conv import conv2d

Array = jax.Array
FIR_FILTER = (1.0, 3.0, 3.0, 1.0)
RESAMPLING = ("fir", "bilinear", "nearest")


def _pad_axis(x: Array, axis: int, before: int, after: int) -> Array:
  """Pads with zeros (positive) or crops (negative) along one axis."""
  if before < 0:
    x = jax.lax.slice_in_dim(x, -before, x.shape[axis], axis=axis)
    before = 0
  if after < 0:
    x = jax.lax.slice_in_dim(x, 0, x.shape[axis] + after, axis=axis)
    after = 0
  widths = [(0, 0)] * x.ndim
  widths[axis] = (before, after)
  return jnp.pad(x, widths)


def _upfirdn_axis(x, f: np.ndarray, axis: int, up: int, down: int, pad: tuple[int, int]):
  """upfirdn along one axis: zero insertion, pad, convolution with f, decimation."""
  if up > 1:
    n = x.shape[axis]
    x = jnp.expand_dims(x, axis + 1)
    widths = [(0, 0)] * x.ndim
    widths[axis + 1] = (0, up - 1)
    x = jnp.pad(x, widths)
    x = x.reshape(*x.shape[:axis], n * up, *x.shape[axis + 2 :])
  x = _pad_axis(x, axis, *pad)
  taps = len(f)
  length = x.shape[axis] - taps + 1
  # True convolution: the output at i is Σ_t f[t] · x[i + taps − 1 − t].
  y = sum(
    float(f[taps - 1 - t]) * jax.lax.slice_in_dim(x, t, t + length, axis=axis) for t in range(taps)
  )
  if down > 1:
    y = jax.lax.slice_in_dim(y, 0, length, stride=down, axis=axis)
  return y


def upfirdn2d(
  x: Array,
  f: Sequence[float] = FIR_FILTER,
  up: int = 1,
  down: int = 1,
  padding: tuple[int, int, int, int] = (0, 0, 0, 0),
  gain: float = 1.0,
) -> Array:
  """Up-sample, FIR-filter and down-sample an NHWC batch, as the authors' upfirdn2d.

  1. insert up − 1 zeros after every pixel (rows and columns);
  2. pad with zeros (or crop, when negative) by padding = (left, right, top, bottom);
  3. convolve with the separable filter f ⊗ f, normalized to sum 1 and scaled by gain
     (gain = up² keeps the mean of an up-sampled image);
  4. keep every down-th pixel.

  The output has ((H·up + top + bottom − len(f) + 1) / down, rounded up) rows.

  Args:
    x: [B, H, W, C].
    f: the 1-D filter taps (default [1, 3, 3, 1]).
    up: the up-sampling factor.
    down: the down-sampling factor.
    padding: (left, right, top, bottom), in up-sampled pixels.
    gain: the overall gain of the filter.

  Returns:
    The resampled batch.
  """
  f = np.asarray(f, np.float64)
  f = f / f.sum() * math.sqrt(gain)
  left, right, top, bottom = padding
  x = _upfirdn_axis(x, f, 1, up, down, (top, bottom))
  return _upfirdn_axis(x, f, 2, up, down, (left, right))


def upsample2d(x: Array, f: Sequence[float] = FIR_FILTER) -> Array:
  """×2 FIR up-sampling (the skip generator's image path): [B, H, W, C] → [B, 2H, 2W, C]."""
  taps = len(f)
  p0, p1 = (taps + 1) // 2, (taps - 2) // 2
  return upfirdn2d(x, f, up=2, padding=(p0, p1, p0, p1), gain=4.0)


def downsample2d(x: Array, f: Sequence[float] = FIR_FILTER) -> Array:
  """×2 FIR down-sampling: [B, H, W, C] → [B, H/2, W/2, C]."""
  taps = len(f)
  p0, p1 = (taps - 1) // 2, (taps - 2) // 2
  return upfirdn2d(x, f, down=2, padding=(p0, p1, p0, p1))


def bilinear_upsample2d(x: Array) -> Array:
  """×2 bilinear up-sampling with half-pixel centres (PyTorch's align_corners=False)."""
  b, h, w, c = x.shape
  return jax.image.resize(x, (b, 2 * h, 2 * w, c), "bilinear")


def average_pool2d(x: Array, factor: int = 2) -> Array:
  """factor×factor average pooling, stride factor (ProGAN's downscale2d, a box filter)."""
  b, h, w, c = x.shape
  return x.reshape(b, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def nearest_upsample2d(x: Array, factor: int = 2) -> Array:
  """Each pixel repeated factor×factor times (ProGAN's upscale2d)."""
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def conv2d_resample(
  x: Array, kernel: Array, up: int = 1, down: int = 1, resample: str = "fir"
) -> Array:
  """A 'same' convolution with optional ×2 up- or down-sampling (the authors'
  conv2d_resample with padding = k // 2).

  "fir": up = FIR up-sampling then the convolution; down = the FIR blur, then the
  convolution at stride 2 (1×1 kernels: FIR down-sampling, then the convolution).
  "bilinear": bilinear up-sampling or 2×2 average pooling, with the convolution after
  up-sampling and before pooling (EqualizedConv pools after its activation instead).
  "nearest": nearest-neighbour up-sampling or 2×2 average pooling, the convolution after
  up-sampling and before pooling (ProGAN's fused upscale2d_conv2d, conv2d_downscale2d).

  Args:
    x: [B, H, W, C].
    kernel: [k, k, C, O], k odd.
    up: 1 or 2.
    down: 1 or 2.
    resample: "fir", "bilinear" or "nearest".

  Returns:
    [B, H·up/down, W·up/down, O].
  """
  k = kernel.shape[0]
  p = k // 2
  same = ((p, p), (p, p))
  if resample in ("bilinear", "nearest"):
    if up > 1:
      x = bilinear_upsample2d(x) if resample == "bilinear" else nearest_upsample2d(x)
    y = conv2d(x, kernel, padding=same)
    return average_pool2d(y) if down > 1 else y
  taps = len(FIR_FILTER)
  if up > 1:
    p0, p1 = p + (taps + up - 1) // 2, p + (taps - up) // 2
    x = upfirdn2d(x, FIR_FILTER, up=up, padding=(p0, p1, p0, p1), gain=up**2)
    return conv2d(x, kernel)
  if down > 1:
    p0, p1 = p + (taps - down + 1) // 2, p + (taps - down) // 2
    if k == 1:
      return conv2d(upfirdn2d(x, FIR_FILTER, down=down, padding=(p0, p1, p0, p1)), kernel)
    x = upfirdn2d(x, FIR_FILTER, padding=(p0, p1, p0, p1))
    return conv2d(x, kernel, stride=down)
  return conv2d(x, kernel, padding=same)
