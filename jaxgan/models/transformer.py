"""An autoregressive transformer over code grids: VQGAN's second stage (Esser et al. 2021, §3.2;
the GPT of taming-transformers, after minGPT).

    prior = CodeTransformer(vocab_size=K, num_start_tokens=10, context=16)
    logits = prior.apply(variables, tokens, train=False)      # [B, T, K]
    codes = sample_codes(prior, variables, starts, uniforms, temperature=1.0, top_k=0)

A code grid [h, w] is read in raster order as a sequence s_1 … s_L (L = h·w). The input
is the start token, then s_1 … s_{L−1}; position t predicts s_t from the start token and
s_{<t}: p(s) = Π_t p(s_t | s_{<t}, c). The start token is the class c (K + c in the
vocabulary) for a class-conditional prior, a single start-of-sequence token (K) otherwise.

Each block (GPT-2's pre-norm form, as minGPT): x + Attn(LN(x)) with causal masking, then
x + MLP(LN(x)), MLP = Dense(4C) → GELU → Dense(C); learned token and position embeddings,
a final LayerNorm, a head to the K codes. Initialization as minGPT: N(0, 0.02) for the
dense and embedding weights, zero biases.

Sampling draws position by position (lax.fori_loop; each step reruns the sequence, O(L²),
fine for the grids here; a key-value cache would make it O(L)). Each draw inverts the
cumulative distribution at a given uniform u_t, so the codes are a deterministic function of
(start tokens, uniforms): the sampler takes its noise like a GAN's generator takes z.
Temperature divides the logits; top-k keeps the k most likely codes (0: all).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
INIT = nn.initializers.normal(0.02)


class CausalSelfAttention(nn.Module):
  """Multi-head self-attention in which position t attends to positions ≤ t only."""

  num_heads: int
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x: Array, train: bool = False) -> Array:
    b, t, c = x.shape
    if c % self.num_heads:
      raise ValueError(f"embedding width {c} does not split into {self.num_heads} heads")
    head = c // self.num_heads
    qkv = nn.Dense(3 * c, kernel_init=INIT, name="qkv")(x)
    q, k, v = jnp.split(qkv.reshape(b, t, 3, self.num_heads, head), 3, axis=2)
    q, k, v = (a[:, :, 0].transpose(0, 2, 1, 3) for a in (q, k, v))  # [B, heads, T, head]
    scores = q @ k.transpose(0, 1, 3, 2) / jnp.sqrt(head)
    causal = jnp.tril(jnp.ones((t, t), bool))
    weights = jax.nn.softmax(jnp.where(causal, scores, -jnp.inf), axis=-1)
    weights = nn.Dropout(self.dropout)(weights, deterministic=not train)
    out = (weights @ v).transpose(0, 2, 1, 3).reshape(b, t, c)
    out = nn.Dense(c, kernel_init=INIT, name="proj")(out)
    return nn.Dropout(self.dropout)(out, deterministic=not train)


class Block(nn.Module):
  """x + Attn(LN(x)), then x + MLP(LN(x))."""

  num_heads: int
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x: Array, train: bool = False) -> Array:
    c = x.shape[-1]
    x = x + CausalSelfAttention(self.num_heads, self.dropout)(nn.LayerNorm()(x), train)
    h = nn.Dense(4 * c, kernel_init=INIT)(nn.LayerNorm()(x))
    h = nn.Dense(c, kernel_init=INIT)(nn.gelu(h, approximate=False))
    return x + nn.Dropout(self.dropout)(h, deterministic=not train)


class CodeTransformer(nn.Module):
  """tokens [B, T] (codes 0…K−1, start tokens K…K+S−1) → logits over the K codes [B, T, K].

  context: the longest sequence (the code grid's length L); a longer input is an error.
  """

  vocab_size: int
  num_start_tokens: int = 1
  context: int = 256
  num_layers: int = 4
  num_heads: int = 4
  embed_dim: int = 128
  dropout: float = 0.0

  @nn.compact
  def __call__(self, tokens: Array, train: bool = False) -> Array:
    t = tokens.shape[1]
    if t > self.context:
      raise ValueError(f"a sequence of {t} codes is longer than the context of {self.context}")
    vocabulary = self.vocab_size + self.num_start_tokens
    x = nn.Embed(vocabulary, self.embed_dim, embedding_init=INIT, name="tokens")(tokens)
    positions = self.param("positions", nn.initializers.zeros, (self.context, self.embed_dim))
    x = nn.Dropout(self.dropout)(x + positions[:t], deterministic=not train)
    for _ in range(self.num_layers):
      x = Block(self.num_heads, self.dropout)(x, train)
    return nn.Dense(self.vocab_size, use_bias=False, kernel_init=INIT, name="head")(
      nn.LayerNorm()(x)
    )


def teacher_forcing_inputs(codes: Array, start_tokens: Array) -> Array:
  """[start, s_1 … s_{L−1}]: what predicts s_1 … s_L, for codes [B, L] and start tokens [B]."""
  return jnp.concatenate([start_tokens[:, None], codes[:, :-1]], axis=1)


def filtered_logits(logits: Array, temperature: float, top_k: int) -> Array:
  """Logits for sampling: divided by the temperature, those below the k-th largest set to −∞.

  Args:
    logits: [..., K].
    temperature: > 0; below 1 sharpens the distribution, above 1 flattens it.
    top_k: keep the k largest (0: all).

  Returns:
    The filtered logits.
  """
  logits = logits / temperature
  if top_k and top_k < logits.shape[-1]:
    kth = jax.lax.top_k(logits, top_k)[0][..., -1:]
    logits = jnp.where(logits < kth, -jnp.inf, logits)
  return logits


def inverse_cdf(probabilities: Array, uniforms: Array) -> Array:
  """The category whose cumulative probability first exceeds u, per row: a draw from
  `probabilities` [B, K] for u ~ U(0, 1) [B]."""
  cumulative = jnp.cumsum(probabilities, axis=-1)
  index = jnp.sum(cumulative < uniforms[:, None] * cumulative[:, -1:], axis=-1)
  return jnp.minimum(index, probabilities.shape[-1] - 1)


def sample_codes(
  model: CodeTransformer,
  variables,
  start_tokens: Array,
  uniforms: Array,
  temperature: float = 1.0,
  top_k: int = 0,
) -> Array:
  """Codes [B, L] drawn position by position (see the module docstring).

  Args:
    model: the prior.
    variables: its Flax variables.
    start_tokens: [B] (K + class, or K).
    uniforms: [B, L] in (0, 1), one per position: the sampler's noise.
    temperature: divides the logits.
    top_k: draw among the k most likely codes only (0: all).

  Returns:
    int32 codes [B, L].
  """
  b, length = uniforms.shape

  def draw(t, codes):
    logits = model.apply(variables, teacher_forcing_inputs(codes, start_tokens), train=False)
    probabilities = jax.nn.softmax(filtered_logits(logits[:, t], temperature, top_k), axis=-1)
    return codes.at[:, t].set(inverse_cdf(probabilities, uniforms[:, t]).astype(jnp.int32))

  return jax.lax.fori_loop(0, length, draw, jnp.zeros((b, length), jnp.int32))
