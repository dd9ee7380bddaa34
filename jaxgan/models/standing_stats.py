"""Standing statistics: a generator's BatchNorm statistics recomputed before it is sampled.

Brock et al. 2019 (BigGAN), Appendix C and the authors' `utils.accumulate_standing_stats`:
G's BatchNorm running averages were collected while G's weights moved, and the EMA
generator's weights never produced them at all. Before sampling, run G in training
mode over n batches of fresh noise and classes, and use

    μ = (1/n) Σ_i μ_i,    σ² = (1/n) Σ_i σ²_i

(the mean of the per-batch means and of the per-batch variances, as the authors' `myBN`
accumulates them) as the statistics of eval mode.

    model_state = standing_statistics(G, params, model_state, zs, labels)   # zs [n, B, ...]

Only the "batch_stats" collection changes; every BatchNorm of jaxgan.models (and the
conditional ones, which hold one) reports its batch moments for this.
"""

from __future__ import annotations

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import traverse_util

from jaxgan.models.layers import BATCH_MOMENTS

Array = jax.Array


def batch_moments(G: nn.Module, params, model_state, z: Array, labels: Array | None) -> dict:
  """Every BatchNorm's (mean, var) of one training-mode pass of G on (z, labels), as a flat
  dict {(module path..., "mean" | "var"): [features]}.

  Args:
    G: the generator.
    params: its parameters.
    model_state: its other variables (left unchanged).
    z: the noise [B, ...].
    labels: the classes [B], for a conditional G.

  Returns:
    The flat dict of the batch's moments.
  """
  variables = {"params": params, **model_state}
  args = (z,) if labels is None else (z, labels)
  _, updated = G.apply(variables, *args, train=True, mutable=True)
  moments = traverse_util.flatten_dict(flax.core.unfreeze(updated.get(BATCH_MOMENTS, {})))
  # a BatchNorm called more than once in a pass sows once per call: their mean
  return {path: jnp.mean(jnp.stack(values), axis=0) for path, values in moments.items()}


def standing_statistics(
  G: nn.Module, params, model_state, zs: Array, labels: Array | None = None
) -> dict[str, Any]:
  """G's model state with its BatchNorm statistics replaced by standing statistics.

  Args:
    G: the generator.
    params: the parameters to sample with (the EMA average, usually).
    model_state: G's other variables; a G without "batch_stats" gets it back unchanged.
    zs: n batches of noise [n, B, ...].
    labels: their classes [n, B], for a conditional G.

  Returns:
    model_state with "batch_stats" = the means over the n batches of each BatchNorm's
    batch mean and batch variance.
  """
  if "batch_stats" not in model_state:
    return model_state

  def accumulate(total, xs):
    z, y = xs
    moments = batch_moments(G, params, model_state, z, y)
    return jax.tree.map(jnp.add, total, moments), None

  first = batch_moments(G, params, model_state, zs[0], None if labels is None else labels[0])
  rest = (zs[1:], None if labels is None else labels[1:])
  total, _ = jax.lax.scan(accumulate, first, rest)
  n = zs.shape[0]
  standing = {path: value / n for path, value in total.items()}
  stats = traverse_util.flatten_dict(flax.core.unfreeze(model_state["batch_stats"]))
  missing = set(stats) - set(standing)
  if missing:
    raise ValueError(f"these BatchNorm statistics report no batch moments: {sorted(missing)}")
  return {**model_state, "batch_stats": traverse_util.unflatten_dict(standing)}


def standing_sampler(G: nn.Module, space, batches: int, batch_size: int, seed: int = 0):
  """A function (params, model_state) → model_state with standing statistics over `batches`
  batches of `batch_size` draws from `space` (uniform classes for a conditional G), always
  the same draws (from `seed`). It remembers its last answer: the evaluators sample one
  state many times, and the statistics are computed once per state.

  Args:
    G: the generator.
    space: its jaxgan.latent.LatentSpace.
    batches: n, the batches averaged (BigGAN's num_standing_accumulations; the authors: 16).
    batch_size: the examples in each (the authors: the training batch).
    seed: the seed of the draws.

  Returns:
    The function.
  """

  @jax.jit
  def compute(params, model_state):
    latent = space.sample(jax.random.key(seed), (batches, batch_size))
    return standing_statistics(G, params, model_state, latent.z, latent.labels)

  last: dict[str, Any] = {}

  def standing(params, model_state):
    leaves = jax.tree.leaves((params, model_state))
    if len(leaves) != len(last.get("leaves", ())) or any(
      a is not b for a, b in zip(leaves, last["leaves"], strict=True)
    ):
      last.update(leaves=leaves, result=compute(params, model_state))
    return last["result"]

  return standing
