"""Datasets: the 2-D toy mixtures and, through `stream`, batches for the training loop.

A data stream yields, for each training step, the real data of all its
critic updates: a dict {"x": [n_critic, batch, ...]}. `iterate(start_step)`
restarts the stream at any step, so a resumed run sees the same data as an
uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import jax

from jaxgan.data.toy import TOY_DATASETS, Mixture, ToyDataset, sample_mixture, sample_swissroll
from jaxgan.errors import ConfigError

__all__ = [
  "TOY_DATASETS",
  "Mixture",
  "ToyDataset",
  "ToyStream",
  "get_toy",
  "sample_mixture",
  "sample_swissroll",
]


def get_toy(name: str) -> ToyDataset:
  """The toy dataset called `name`, or a one-line error listing the known ones."""
  if name not in TOY_DATASETS:
    raise ConfigError(
      f"unknown dataset {name!r}: choose one of {', '.join(TOY_DATASETS)} (--dataset)"
    )
  return TOY_DATASETS[name]


class ToyStream(NamedTuple):
  """Real batches of a toy dataset, generated on the device from (seed, step)."""

  dataset: ToyDataset
  batch_size: int
  n_critic: int
  key: jax.Array

  def batch_at(self, step: int) -> dict[str, jax.Array]:
    return _toy_batch(self.dataset.name, self.batch_size, self.n_critic, self.key, step)

  def iterate(self, start_step: int) -> Iterator[dict[str, jax.Array]]:
    step = start_step
    while True:
      yield self.batch_at(step)
      step += 1


@jax.jit(static_argnums=(0, 1, 2))
def _toy_batch(name, batch_size, n_critic, key, step):
  return {"x": TOY_DATASETS[name].sample(jax.random.fold_in(key, step), (n_critic, batch_size))}
