"""Convolutions of the image GANs: convolutions as matrix products, the stride-2
transposed convolution without zeros, and spectral normalization of any kernel.

Images are NHWC. Kernels are [kh, kw, in, out].

`conv2d` computes a convolution as one matrix product of image patches
(im2col) with the kernel. Its derivatives of every order are matrix products,
slices and pads, which XLA compiles well everywhere. XLA's own convolution
is as fast on the CPU in straight-line code, but inside a loop body (the
critic's `lax.scan`) its weight gradient falls back to a naive kernel that is
far slower (jax-ml/jax#12868): a WGAN-GP step with n_critic = 5 would
spend seconds there (BENCHMARKS.md has the measurements).

Kernels larger than 4×4 (CycleGAN's 7×7 first and last layers) are the
exception: their im2col patches hold 49·C values per pixel, and XLA's own
convolution is faster there (they sit in no scan). Keep them out of a
critic's n_critic loop.

`conv_transpose_4x4_s2` computes PyTorch's ConvTranspose2d(kernel 4, stride 2,
padding 1), the up-sampling layer of DCGAN, without inserting zeros, in one
of two exact forms: each of the four output phases (even/odd row × even/odd
column) as an ordinary 2×2 convolution of the input, interleaved; or one
matrix product giving each input pixel's whole 4×4 contribution, then shifted
sums (cheaper when the layer narrows the channels, as every generator layer
does). XLA's `lax.conv_transpose` dilates the input with zeros instead and
multiplies them too (4× the work). All are tested against
`lax.conv_general_dilated` and `lax.conv_transpose`.

Every one of these ends in `weight_matmul`, a matrix product whose weight
gradient XLA:CPU sends to its fast matrix library (see its docstring).

`convolutions_by("xla")` switches conv2d and the transposed convolution to
XLA's own convolutions (cuDNN's on a GPU) while a model is traced, for
comparing the two on an accelerator (`benchmarks/step.py --conv=xla`). The
matrix products are the default everywhere: they were the faster on the CPU
and on an H200 too (BENCHMARKS.md, "The convolutions").
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan import precision

Array = jax.Array

# ---------------------------------------------------------------------------
# Convolution as a matrix product of patches.
# ---------------------------------------------------------------------------


@jax.custom_jvp
def weight_matmul(x: Array, weights: Array) -> Array:
  """x @ weights (x [..., K], weights [K, N]), with a weight gradient XLA:CPU computes fast.

  The weight gradient of y = x·W is xᵀ·dy, a product over the long example
  axis of both operands. XLA:CPU gives that shape (both operands contracted
  on their leading axis) to Eigen's contraction, which spends most of its time
  repacking x; with xᵀ materialized first it is an ordinary product that goes
  to XLA's YNNPACK kernels: the DCGAN critic's 8192×1024 patches ·
  8192×128 gradient takes 9.5 ms instead of 15.4 ms on a 2-core AVX-512 CPU
  (transposing x included). Values and derivatives of every order are those
  of x @ weights; on other backends it is x @ weights.
  """
  return x @ weights


@weight_matmul.defjvp
def _weight_matmul_jvp(primals, tangents):
  """d(x·W) = dx·W + x·dW, with x·dW written as (xᵀ)ᵀ·dW on a materialized xᵀ, so that
  reverse mode transposes it into the canonical product xᵀ·dy."""
  x, weights = primals
  dx, dweights = tangents
  y = x @ weights
  if jax.default_backend() != "cpu":
    return y, dx @ weights + x @ dweights
  rows = x.reshape(-1, x.shape[-1])
  rows_t = jax.lax.optimization_barrier(rows.T)  # [K, M]: kept as its own array by XLA
  x_dweights = (rows_t.T @ dweights).reshape(y.shape)
  return y, dx @ weights + x_dweights


CONVOLUTION_IMPLEMENTATIONS = ("matmul", "xla")
_implementation = contextvars.ContextVar("convolution_implementation", default="matmul")


@contextlib.contextmanager
def convolutions_by(implementation: str) -> Iterator[None]:
  """Within the block, conv2d and conv_transpose_4x4_s2 trace as `implementation`.

  "matmul" (the default): the patch and contribution matrix products of this
  module. "xla": `lax.conv_general_dilated` and `lax.conv_transpose`. Only
  tracing reads it: enter it around the first call (or `.lower`) of a jitted
  step, whose compiled program then keeps the choice.
  """
  if implementation not in CONVOLUTION_IMPLEMENTATIONS:
    raise ValueError(
      f"unknown convolution implementation {implementation!r}: "
      f"use one of {', '.join(CONVOLUTION_IMPLEMENTATIONS)}"
    )
  token = _implementation.set(implementation)
  try:
    yield
  finally:
    _implementation.reset(token)


def _by_xla() -> bool:
  return _implementation.get() == "xla"


Padding = tuple[tuple[int, int], tuple[int, int]]
LARGEST_IM2COL_KERNEL = 16  # taps; larger kernels (CycleGAN's 7×7) go to XLA's convolution


def conv2d(
  x: Array,
  kernel: Array,
  stride: int = 1,
  padding: Padding = ((0, 0), (0, 0)),
  dilation: int = 1,
) -> Array:
  """Cross-correlation y[b, p, q, o] = Σ x_pad[b, s·p + d·i, s·q + d·j, c]·kernel[i, j, c, o].

  x [B, H, W, C], kernel [kh, kw, C, O], padding ((top, bottom), (left, right))
  with zeros, dilation d (the taps d pixels apart: Yu & Koltun 2016's dilated
  convolution); the same as lax.conv_general_dilated with NHWC/HWIO and rhs_dilation d.

  Args:
    x: [B, H, W, C].
    kernel: [kh, kw, C, O].
    stride: the stride s.
    padding: ((top, bottom), (left, right)) zeros.
    dilation: the dilation d.

  Returns:
    [B, H', W', O].
  """
  kh, kw, c, o = kernel.shape
  x = jnp.pad(x, ((0, 0), *padding, (0, 0)))
  span_h, span_w = dilation * (kh - 1) + 1, dilation * (kw - 1) + 1
  rows = (x.shape[1] - span_h) // stride + 1
  cols = (x.shape[2] - span_w) // stride + 1
  if kh == kw == 1 and stride == 1:
    return weight_matmul(x, kernel.reshape(c, o))
  if kh * kw > LARGEST_IM2COL_KERNEL or _by_xla():  # XLA's convolution: see the module doc
    return jax.lax.conv_general_dilated(
      x,
      kernel,
      (stride, stride),
      "VALID",
      rhs_dilation=(dilation, dilation),
      dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
  d = dilation
  patches = jnp.concatenate(
    [
      x[
        :,
        d * i : d * i + stride * (rows - 1) + 1 : stride,
        d * j : d * j + stride * (cols - 1) + 1 : stride,
      ]
      for i in range(kh)
      for j in range(kw)
    ],
    axis=-1,
  )  # [B, rows, cols, kh·kw·C], tap-major like kernel.reshape
  return weight_matmul(patches, kernel.reshape(kh * kw * c, o))


# ---------------------------------------------------------------------------
# The 4×4, stride-2 transposed convolution as four 2×2 convolutions.
# ---------------------------------------------------------------------------

# In the scatter form of a transposed convolution (PyTorch's), input pixel i
# adds x[i]·W[k] to output 2i − 1 + k, k = 0..3. Solving for the inputs that
# reach output o: an even output 2m gets x[m − 1]·W[3] + x[m]·W[1]; an odd one
# 2m + 1 gets x[m]·W[2] + x[m + 1]·W[0]. Per phase: the kernel taps in input
# order, and the padding (before, after) that lines the 2×2 window up.
_PHASE_TAPS = ((3, 1), (2, 0))
_PHASE_PADDING = ((1, 0), (0, 1))


def conv_transpose_4x4_s2(x: Array, kernel: Array) -> Array:
  """ConvTranspose2d(k=4, s=2, p=1) in scatter form: [B, H, W, I] → [B, 2H, 2W, O].

  kernel[kh, kw, i, o] is what input pixel (r, c) adds, times x[r, c, i], to
  output pixel (2r − 1 + kh, 2c − 1 + kw), channel o (PyTorch's weight
  [i, o, kh, kw], transposed). Two exact ways to compute it, chosen by which
  moves less memory on a CPU: `_by_contributions` when O ≤ I (every DCGAN
  generator layer, and by far the faster for the narrowing 64 → 3 output layer),
  `_by_phases` otherwise; `conv_transpose_reference` under convolutions_by("xla").
  """
  if _by_xla():
    return conv_transpose_reference(x, kernel)
  if kernel.shape[-1] <= kernel.shape[-2]:
    return conv_transpose_by_contributions(x, kernel)
  return conv_transpose_by_phases(x, kernel)


def conv_transpose_by_phases(x: Array, kernel: Array) -> Array:
  """The transposed convolution as four 2×2 stride-1 convolutions whose outputs interleave.

  Output row 2m takes x[m − 1]·W[3] + x[m]·W[1], row 2m + 1 takes
  x[m]·W[2] + x[m + 1]·W[0] (the same for columns): each of the four
  (row, column) phases is a 2×2 correlation of x (sub-pixel convolution).
  Its im2col patches hold 4·I values per output pixel.
  """
  phases = []
  for row_phase in (0, 1):
    row = []
    for col_phase in (0, 1):
      taps = kernel[jnp.array(_PHASE_TAPS[row_phase])][:, jnp.array(_PHASE_TAPS[col_phase])]
      padding = (_PHASE_PADDING[row_phase], _PHASE_PADDING[col_phase])
      row.append(conv2d(x, taps, 1, padding))
    phases.append(jnp.stack(row, axis=3))  # [B, H, W, 2 (col phase), O]
  out = jnp.stack(phases, axis=2)  # [B, H, 2 (row phase), W, 2, O]
  b, h, _, w, _, o = out.shape
  return out.reshape(b, 2 * h, 2 * w, o)


def conv_transpose_by_contributions(x: Array, kernel: Array) -> Array:
  """The transposed convolution as one matrix product, then shifted sums.

  Every input pixel's whole 4×4×O contribution is x[r, c] @ W[I, 16·O] (one
  matrix product for the batch). With kh = 2a + p, the contribution lands at
  output row 2(r + a) + p − 1: for each of the four (p, q) phases, the four
  (a, b) tap groups are shifted by (a, b) and added, the phases interleave,
  and the one-pixel border (the − 1) is cropped. 16·O values per input pixel.
  """
  b, h, w, c = x.shape
  o = kernel.shape[-1]
  weights = jnp.transpose(kernel, (2, 0, 1, 3)).reshape(c, 16 * o)
  contributions = weight_matmul(x.reshape(-1, c), weights).reshape(b, h, w, 4, 4, o)
  phase_rows = []
  for p in (0, 1):
    phase_row = []
    for q in (0, 1):
      total = 0.0
      for a in (0, 1):
        for bb in (0, 1):
          tap = contributions[:, :, :, 2 * a + p, 2 * bb + q]  # lands at (r + a, c + bb)
          total = total + jnp.pad(tap, ((0, 0), (a, 1 - a), (bb, 1 - bb), (0, 0)))
      phase_row.append(total)  # [B, H + 1, W + 1, O]
    phase_rows.append(jnp.stack(phase_row, axis=3))
  full = jnp.stack(phase_rows, axis=2).reshape(b, 2 * h + 2, 2 * w + 2, o)
  return full[:, 1 : 2 * h + 1, 1 : 2 * w + 1]


def conv_transpose_reference(x: Array, kernel: Array) -> Array:
  """The same layer through `lax.conv_transpose` (zeros inserted): for tests and comparison.

  A scatter-form transposed convolution is a correlation of the zero-dilated
  input, padded by k − 1 − p = 2, with the spatially flipped kernel.
  """
  return jax.lax.conv_transpose(
    x,
    kernel[::-1, ::-1],
    strides=(2, 2),
    padding=((2, 2), (2, 2)),
    dimension_numbers=("NHWC", "HWIO", "NHWC"),
  )


# ---------------------------------------------------------------------------
# Spectral normalization (Miyato et al. 2018).
# ---------------------------------------------------------------------------


def _l2_normalize(v: Array, eps: float = 1e-12) -> Array:
  return v * jax.lax.rsqrt(jnp.maximum(jnp.sum(v * v), eps))


def power_iteration(matrix: Array, u: Array) -> tuple[Array, Array, Array]:
  """One step of power iteration on matrix [m, n] from u [n] → (σ, u', v').

    v' = normalize(M u),  u' = normalize(Mᵀ v'),  σ = v'ᵀ M u'

  σ estimates the largest singular value; repeated steps converge to it.
  """
  v = _l2_normalize(matrix @ u)
  u = _l2_normalize(matrix.T @ v)
  return v @ matrix @ u, u, v


class SpectralNorm(nn.Module):
  """W / σ(W): the kernel divided by its largest singular value.

  Miyato et al. 2018, "Spectral Normalization for Generative Adversarial
  Networks": σ is estimated by one power-iteration step per training call,
  the vector u kept across calls in the "spectral_norm" collection (so σ
  follows W as it trains); u and v are constants for the gradient, as in the
  paper's Algorithm 1. The kernel is read as the matrix [fan_in, fan_out].

  Under bfloat16 compute (jaxgan.precision) σ is estimated in float32, like a
  normalization's statistics, and W/σ returned in the kernel's dtype.
  """

  @nn.compact
  def __call__(self, kernel: Array, train: bool) -> Array:
    matrix = kernel.reshape(-1, kernel.shape[-1])
    matrix = precision.at_least_float32(matrix)
    u = self.variable(
      "spectral_norm",
      "u",
      lambda: _l2_normalize(jax.random.normal(self.make_rng("params"), (matrix.shape[1],))),
    )
    sigma, new_u, v = power_iteration(matrix, jax.lax.stop_gradient(u.value))
    new_u, v = jax.lax.stop_gradient(new_u), jax.lax.stop_gradient(v)
    sigma = v @ matrix @ new_u  # differentiable in W, u and v held fixed
    if train and not self.is_initializing():
      u.value = new_u
    return (kernel / sigma).astype(kernel.dtype)


# ---------------------------------------------------------------------------
# Layers with an optional spectral norm.
# ---------------------------------------------------------------------------

Init = Callable[..., Array]
DCGAN_INIT: Init = nn.initializers.normal(0.02)  # Radford et al. 2016, §4


def _kernel(layer: nn.Module, shape: tuple[int, ...], train: bool) -> Array:
  """The layer's "kernel" parameter, divided by its largest singular value when the
  layer has spectral_norm (called from the layer's compact __call__)."""
  kernel = layer.param("kernel", layer.kernel_init, shape)
  return SpectralNorm()(kernel, train) if layer.spectral_norm else kernel


def _add_bias(layer: nn.Module, y: Array) -> Array:
  """y plus the layer's "bias" parameter (zeros at init) when it has one."""
  if not layer.use_bias:
    return y
  return y + layer.param("bias", nn.initializers.zeros, (layer.features,))


class Conv(nn.Module):
  """A convolution (NHWC), optionally spectrally normalized and dilated.

  padding is PyTorch's: the same number of pixels on every side.
  """

  features: int
  kernel_size: int = 3
  stride: int = 1
  padding: int = 1
  use_bias: bool = True
  spectral_norm: bool = False
  kernel_init: Init = DCGAN_INIT
  dilation: int = 1

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    k = self.kernel_size
    kernel = _kernel(self, (k, k, x.shape[-1], self.features), train)
    y = conv2d(x, kernel, self.stride, ((self.padding, self.padding),) * 2, self.dilation)
    return _add_bias(self, y)


class UpConv(nn.Module):
  """ConvTranspose2d(k=4, s=2, p=1): doubles height and width (see conv_transpose_4x4_s2)."""

  features: int
  use_bias: bool = True
  spectral_norm: bool = False
  kernel_init: Init = DCGAN_INIT

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    kernel = _kernel(self, (4, 4, x.shape[-1], self.features), train)
    return _add_bias(self, conv_transpose_4x4_s2(x, kernel))


class Dense(nn.Module):
  """A dense layer on the last axis, optionally spectrally normalized."""

  features: int
  use_bias: bool = True
  spectral_norm: bool = False
  kernel_init: Init = DCGAN_INIT

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    kernel = _kernel(self, (x.shape[-1], self.features), train)
    return _add_bias(self, x @ kernel)
