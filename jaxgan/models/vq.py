"""Vector quantization: the discrete bottleneck of VQ-VAE and VQGAN.

van den Oord et al. 2017 ("Neural Discrete Representation Learning"), as VQGAN uses it
(Esser et al. 2021; CompVis/taming-transformers, VectorQuantizer2). For encoder outputs
z_e [B, H, W, d] and a codebook e [K, d]:

    k(i) = argmin_k ‖z_e(i) − e_k‖²                  the nearest code of each position
    z_q(i) = z_e(i) + sg[e_k(i) − z_e(i)]            the straight-through estimator: the
                                                      forward value is e_k(i), the gradient
                                                      to the encoder the identity
    L_codebook = ‖sg[z_e] − e_k‖²   (mean)            moves the codes toward the encoder
    L_commit   = β‖z_e − sg[e_k]‖²  (mean, β = 0.25)  keeps the encoder near its codes

(taming's legacy VectorQuantizer put β on the codebook term instead; VectorQuantizer2 with
legacy=False, and the paper, put it on the commitment term, as here.)

With ema_decay = γ the codebook is not a parameter but a running average (van den Oord
et al. 2017, Appendix A.1; Razavi et al. 2019): per code, the count N_k and the sum m_k of
the encoder outputs assigned to it are averaged with decay γ, and e_k = m_k / N_k (with
Laplace smoothing of the counts); L_codebook is then absent. Either way, codes whose
average count falls below dead_threshold are restarted (Dhariwal et al. 2020, Jukebox,
"random restarts"): here at the batch's encoder outputs with the largest quantization
error, one per dead code, which is deterministic and puts the code where the codebook
serves the data worst.

Codebook usage (the share of codes used in a batch) and perplexity exp(−Σ p_k log p_k)
(K for uniform use, 1 for collapse) are returned with every call.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import traverse_util

Array = jax.Array
CODEBOOK = "codebook"  # the collection of the EMA codebook and of the usage averages
RESTARTS = "codebook_restarts"  # a learned codebook's rows after restarts, for the step to apply


class Quantized(NamedTuple):
  """What the quantizer gives: z_q with the straight-through gradient, the codes [B, H, W],
  the two losses (the codebook one 0 under EMA updates), perplexity and usage."""

  z_q: Array
  codes: Array
  codebook_loss: Array
  commitment_loss: Array
  perplexity: Array
  usage: Array


def nearest_codes(z: Array, codebook: Array) -> Array:
  """argmin_k ‖z_i − e_k‖² for every row z_i [N, d] against codebook [K, d] → [N] int32."""
  distances = (
    jnp.sum(z**2, axis=1, keepdims=True) - 2.0 * z @ codebook.T + jnp.sum(codebook**2, axis=1)
  )
  return jnp.argmin(distances, axis=1).astype(jnp.int32)


def perplexity(counts: Array) -> Array:
  """exp(−Σ_k p_k log p_k) of the codes' histogram p = counts / Σ counts."""
  p = counts / jnp.sum(counts)
  return jnp.exp(-jnp.sum(p * jnp.log(p + 1e-10)))


def restart_dead_codes(codebook: Array, dead: Array, z: Array, errors: Array) -> Array:
  """The codebook with each dead code moved onto one of the encoder outputs the codebook
  serves worst (the largest quantization errors, the worst first).

  Args:
    codebook: [K, d].
    dead: [K] bool, the codes to restart.
    z: the batch's encoder outputs [N, d].
    errors: their squared distances to their nearest codes [N].

  Returns:
    The new codebook [K, d].
  """
  k = codebook.shape[0]
  worst = jnp.argsort(-errors)[: min(k, z.shape[0])]  # the worst-served outputs, in order
  rank = jnp.cumsum(dead) - 1  # the j-th dead code takes the j-th worst output
  replacement = z[worst[jnp.clip(rank, 0, worst.shape[0] - 1)]]
  return jnp.where((dead & (rank < worst.shape[0]))[:, None], replacement, codebook)


class VectorQuantizer(nn.Module):
  """z_e [B, H, W, d] → Quantized (see the module docstring)."""

  num_codes: int = 512
  code_dim: int = 64
  beta: float = 0.25
  ema_decay: float | None = None  # None: the codebook is a parameter learned by L_codebook
  dead_threshold: float = 0.0  # restart codes whose average count per batch is below this
  usage_decay: float = 0.99  # of the per-code counts that decide which codes are dead
  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, z: Array, train: bool = True) -> Quantized:
    if self.num_codes < 2:
      raise ValueError(f"a codebook needs at least 2 codes, got {self.num_codes}")
    if z.shape[-1] != self.code_dim:
      raise ValueError(f"expected codes of dimension {self.code_dim}, got {z.shape[-1]}")
    k, d = self.num_codes, self.code_dim
    init = nn.initializers.uniform(2.0 / k)  # U(0, 2/K) − 1/K below: taming's U(−1/K, 1/K)
    if self.ema_decay is None:
      codebook = self.param("embedding", lambda key, s: init(key, s) - 1.0 / k, (k, d))
      ema = None
    else:
      ema = {
        "embedding": self.variable(
          CODEBOOK, "embedding", lambda: init(self.make_rng("params"), (k, d)) - 1.0 / k
        ),
        "cluster_size": self.variable(CODEBOOK, "cluster_size", jnp.zeros, (k,)),
      }
      ema["embed_sum"] = self.variable(CODEBOOK, "embed_sum", lambda: ema["embedding"].value)
      codebook = ema["embedding"].value
    counts_average = self.variable(CODEBOOK, "usage", jnp.ones, (k,))

    flat = z.reshape(-1, d)
    codes = nearest_codes(jax.lax.stop_gradient(flat), codebook)
    quantized = codebook[codes]
    commitment = self.beta * jnp.mean((flat - jax.lax.stop_gradient(quantized)) ** 2)
    codebook_loss = jnp.zeros([])
    if ema is None:
      codebook_loss = jnp.mean((jax.lax.stop_gradient(flat) - quantized) ** 2)
    one_hot = jax.nn.one_hot(codes, k, dtype=flat.dtype)
    counts = jnp.sum(one_hot, axis=0)

    if train and not self.is_initializing() and self.is_mutable_collection(CODEBOOK):
      sg_flat = jax.lax.stop_gradient(flat)
      usage = self.usage_decay * counts_average.value + (1 - self.usage_decay) * counts
      if ema is not None:
        self._update_ema(ema, one_hot, counts, sg_flat)
        codebook = ema["embedding"].value
      if self.dead_threshold > 0:
        dead = usage < self.dead_threshold
        errors = jnp.sum((sg_flat - jax.lax.stop_gradient(quantized)) ** 2, axis=1)
        restarted = restart_dead_codes(jax.lax.stop_gradient(codebook), dead, sg_flat, errors)
        if ema is not None:
          ema["embedding"].value = restarted
          ema["embed_sum"].value = jnp.where(dead[:, None], restarted, ema["embed_sum"].value)
          ema["cluster_size"].value = jnp.where(dead, 1.0, ema["cluster_size"].value)
        else:  # a parameter: the training step writes it in after the update (restarted_params)
          self.sow(RESTARTS, "dead", dead)
          self.sow(RESTARTS, "rows", restarted)
        usage = jnp.where(dead, max(1.0, self.dead_threshold), usage)
      counts_average.value = usage

    z_q = flat + jax.lax.stop_gradient(quantized - flat)
    return Quantized(
      z_q.reshape(z.shape),
      codes.reshape(z.shape[:-1]),
      codebook_loss,
      commitment,
      perplexity(counts),
      jnp.mean(counts > 0),
    )

  def _update_ema(self, ema, one_hot, counts, flat) -> None:
    """N_k ← γN_k + (1 − γ)n_k, m_k ← γm_k + (1 − γ)Σ_{i→k} z_i, e_k = m_k / Ñ_k with
    Ñ_k = (N_k + ε)/(N + Kε)·N (Laplace smoothing, as in Sonnet's VectorQuantizerEMA)."""
    g, k = self.ema_decay, self.num_codes
    cluster_size = g * ema["cluster_size"].value + (1 - g) * counts
    embed_sum = g * ema["embed_sum"].value + (1 - g) * one_hot.T @ flat
    n = jnp.sum(cluster_size)
    smoothed = (cluster_size + self.epsilon) / (n + k * self.epsilon) * n
    ema["cluster_size"].value = cluster_size
    ema["embed_sum"].value = embed_sum
    ema["embedding"].value = embed_sum / smoothed[:, None]

  def lookup(self, codes: Array) -> Array:
    """The code vectors of integer codes [...] → [..., d] (decoding a transformer's codes)."""
    if self.ema_decay is None:
      return self.get_variable("params", "embedding")[codes]
    return self.get_variable(CODEBOOK, "embedding")[codes]


def restarted_params(params, restarts) -> dict:
  """params with the dead rows of every learned codebook replaced by their restarts, as the
  quantizer proposed them in the same step's forward pass (the RESTARTS collection); the
  other rows keep their optimizer update.

  Args:
    params: the model's parameters (after the optimizer update).
    restarts: the RESTARTS collection of the step's training call ({} for none).

  Returns:
    The parameters.
  """
  if not restarts:
    return params
  flat = traverse_util.flatten_dict(dict(params))
  proposals = traverse_util.flatten_dict(dict(restarts))
  for path, dead in proposals.items():
    if path[-1] != "dead":
      continue
    module = path[:-1]
    rows = proposals[(*module, "rows")][-1]
    current = flat[(*module, "embedding")]
    flat[(*module, "embedding")] = jnp.where(dead[-1][:, None], rows, current)
  return traverse_util.unflatten_dict(flat)
