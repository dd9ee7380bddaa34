"""Self-attention for convolutional GANs (Zhang et al. 2019, "Self-Attention Generative
Adversarial Networks"), in the form of BigGAN's code (ajbrock/BigGAN-PyTorch, layers.Attention).

    x = SelfAttention()(x, train)                       # [B, H, W, C] → [B, H, W, C]
    x, maps = SelfAttention()(x, train, return_attention=True)    # maps [B, H·W, H·W/4]

For a feature map x with C channels (C divisible by 8) and N = H·W positions:

    θ = x·W_θ  [N, C/8]     φ = maxpool₂(x·W_φ)  [N/4, C/8]     g = maxpool₂(x·W_g)  [N/4, C/2]
    β = softmax_j(θ φᵀ)  [N, N/4]: where each position (query) attends among the pooled keys
    o = (β g)·W_o  [N, C]
    y = x + γ·o,  γ a learned scalar starting at 0 (the block starts as the identity).

W_θ, W_φ, W_g, W_o are 1×1 convolutions without bias, each spectrally normalized (SAGAN
puts spectral norm in G and D alike); the 2×2 max-pooling of keys and values is BigGAN's
(it quarters the cost of the N×N product). The SAGAN paper's own form (no pooling, C/8
for the values) is pool=False with value_divisor=8.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan import precision
from jaxgan.models.conv import Conv, Init

Array = jax.Array
ATTENTION_MAPS = "attention_maps"  # the collection β is sown into (jaxgan.attention_maps)


def max_pool2(x: Array) -> Array:
  """2×2 max pooling, stride 2, NHWC."""
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class SelfAttention(nn.Module):
  """y = x + γ·attention(x), γ starting at 0 (see the module docstring)."""

  spectral_norm: bool = True
  pool: bool = True
  key_divisor: int = 8
  value_divisor: int = 2
  kernel_init: Init = nn.initializers.orthogonal()

  @nn.compact
  def __call__(self, x: Array, train: bool = True, return_attention: bool = False):
    """y [B, H, W, C]; with return_attention, (y, β [B, H·W, keys]): the softmax weights of
    each query position over the (pooled) keys."""
    out, beta = self._attend(x, train)
    gamma = self.param("gamma", nn.initializers.zeros, ())
    if not self.is_initializing():  # kept only where the caller makes the collection mutable
      self.sow(ATTENTION_MAPS, "attention", beta)
    y = x + gamma * out
    return (y, beta) if return_attention else y

  def _attend(self, x: Array, train: bool) -> tuple[Array, Array]:
    b, h, w, c = x.shape
    if c % self.key_divisor or c % self.value_divisor:
      raise ValueError(
        f"self-attention needs channels divisible by {self.key_divisor} and "
        f"{self.value_divisor}, got {c}"
      )
    if self.pool and (h % 2 or w % 2):
      raise ValueError(f"self-attention pools keys 2×2: the map must be of even size, got {h}×{w}")
    key_c, value_c = c // self.key_divisor, c // self.value_divisor
    theta = self._convs("theta", key_c)(x, train)
    phi = self._convs("phi", key_c)(x, train)
    g = self._convs("g", value_c)(x, train)
    if self.pool:
      phi, g = max_pool2(phi), max_pool2(g)
    theta = theta.reshape(b, h * w, key_c)
    phi = phi.reshape(b, -1, key_c)
    g = g.reshape(b, -1, value_c)
    logits = jnp.einsum("bqc,bkc->bqk", theta, phi)
    # the softmax in float32 when the network computes in bfloat16 (jaxgan.precision)
    beta = jax.nn.softmax(precision.at_least_float32(logits), axis=-1)
    beta = beta.astype(g.dtype)
    attended = jnp.einsum("bqk,bkc->bqc", beta, g).reshape(b, h, w, value_c)
    return self._convs("o", c)(attended, train), beta

  def _convs(self, name: str, features: int) -> Conv:
    return Conv(
      features, 1, 1, 0, use_bias=False, spectral_norm=self.spectral_norm,
      kernel_init=self.kernel_init, name=name,
    )  # fmt: skip
