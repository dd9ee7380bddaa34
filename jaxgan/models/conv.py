"""Convolutions of the image GANs: the stride-2 transposed convolution by phases, and
spectral normalization of any kernel.

Images are NHWC. Kernels are [kh, kw, in, out].

`conv2d` computes a convolution as one matrix product of image patches
(im2col) with the kernel. Its derivatives of every order are matrix products,
slices and pads, which XLA compiles well everywhere. XLA's own convolution
is as fast on the CPU in straight-line code, but inside a loop body (the
critic's `lax.scan`) its weight gradient falls back to a naive kernel that is
30-50× slower (jax-ml/jax#12868): a WGAN-GP step with n_critic = 5 would
spend seconds there.

`conv_transpose_4x4_s2` computes PyTorch's ConvTranspose2d(kernel 4, stride 2,
padding 1), the up-sampling layer of DCGAN, without inserting zeros: each of
the four output phases (even/odd row × even/odd column) is an ordinary 2×2
convolution of the input, and the phases are interleaved. XLA's
`lax.conv_transpose` dilates the input with zeros instead and multiplies them
too (4× the work). Both are tested against `lax.conv_general_dilated` and
`lax.conv_transpose`.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array

# ---------------------------------------------------------------------------
# Convolution as a matrix product of patches.
# ---------------------------------------------------------------------------

Padding = tuple[tuple[int, int], tuple[int, int]]


def conv2d(x: Array, kernel: Array, stride: int = 1, padding: Padding = ((0, 0), (0, 0))) -> Array:
  """Cross-correlation y[b, p, q, o] = Σ x_pad[b, s·p + i, s·q + j, c]·kernel[i, j, c, o].

  x [B, H, W, C], kernel [kh, kw, C, O], padding ((top, bottom), (left, right))
  with zeros; the same as lax.conv_general_dilated with NHWC/HWIO.
  """
  kh, kw, c, o = kernel.shape
  x = jnp.pad(x, ((0, 0), *padding, (0, 0)))
  rows = (x.shape[1] - kh) // stride + 1
  cols = (x.shape[2] - kw) // stride + 1
  if kh == kw == 1 and stride == 1:
    return x @ kernel.reshape(c, o)
  patches = jnp.concatenate(
    [
      x[:, i : i + stride * (rows - 1) + 1 : stride, j : j + stride * (cols - 1) + 1 : stride]
      for i in range(kh)
      for j in range(kw)
    ],
    axis=-1,
  )  # [B, rows, cols, kh·kw·C], tap-major like kernel.reshape
  return patches @ kernel.reshape(kh * kw * c, o)


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
  [i, o, kh, kw], transposed).
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
  """

  @nn.compact
  def __call__(self, kernel: Array, train: bool) -> Array:
    matrix = kernel.reshape(-1, kernel.shape[-1])
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
    return kernel / sigma


# ---------------------------------------------------------------------------
# Layers with an optional spectral norm.
# ---------------------------------------------------------------------------

Init = Callable[..., Array]
DCGAN_INIT: Init = nn.initializers.normal(0.02)  # Radford et al. 2016, §4


class Conv(nn.Module):
  """A convolution (NHWC), optionally spectrally normalized.

  padding is PyTorch's: the same number of pixels on every side.
  """

  features: int
  kernel_size: int = 3
  stride: int = 1
  padding: int = 1
  use_bias: bool = True
  spectral_norm: bool = False
  kernel_init: Init = DCGAN_INIT

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    k = self.kernel_size
    kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
    if self.spectral_norm:
      kernel = SpectralNorm()(kernel, train)
    y = conv2d(x, kernel, self.stride, ((self.padding, self.padding),) * 2)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y


class UpConv(nn.Module):
  """ConvTranspose2d(k=4, s=2, p=1): doubles height and width (see conv_transpose_4x4_s2)."""

  features: int
  use_bias: bool = True
  spectral_norm: bool = False
  kernel_init: Init = DCGAN_INIT

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    kernel = self.param("kernel", self.kernel_init, (4, 4, x.shape[-1], self.features))
    if self.spectral_norm:
      kernel = SpectralNorm()(kernel, train)
    y = conv_transpose_4x4_s2(x, kernel)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y


class Dense(nn.Module):
  """A dense layer on the last axis, optionally spectrally normalized."""

  features: int
  use_bias: bool = True
  spectral_norm: bool = False
  kernel_init: Init = DCGAN_INIT

  @nn.compact
  def __call__(self, x: Array, train: bool = True) -> Array:
    kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features))
    if self.spectral_norm:
      kernel = SpectralNorm()(kernel, train)
    y = x @ kernel
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y
