"""Datasets: the 2-D toy mixtures, image datasets, and the streams of batches they feed.

A data stream yields, for each training step, the real data of all its
critic updates: a dict {"x": [n_critic, batch, ...]} (and "label" for image
datasets). `iterate(start_step)` restarts the stream at any step, so a
resumed run sees the same data as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterator

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec

from jaxgan import parallel
from jaxgan.data.images import ImageDataset, ImageStream, load_image_dataset
from jaxgan.data.on_device import DeviceData
from jaxgan.data.toy import TOY_DATASETS, Mixture, ToyDataset, sample_mixture, sample_swissroll
from jaxgan.errors import ConfigError

__all__ = [
  "ImageDataset",
  "ImageStream",
  "get_dataset",
  "load_image_dataset",
  "make_stream",
  "TOY_DATASETS",
  "Mixture",
  "ToyDataset",
  "ToyStream",
  "get_toy",
  "sample_mixture",
  "sample_swissroll",
]


def get_dataset(
  name: str, *, image_size: int = 32, data_dir: str | None = None
) -> ToyDataset | ImageDataset:
  """A toy mixture by name, or an image dataset (digits or TFDS).

  Args:
    name: ring8, grid25, swissroll, digits, or a TFDS image dataset's name.
    image_size: images are served at image_size × image_size.
    data_dir: where TFDS datasets are prepared (default: TFDS's).

  Returns:
    A ToyDataset or an ImageDataset.
  """
  if name in TOY_DATASETS:
    return TOY_DATASETS[name]
  return load_image_dataset(name, image_size, data_dir=data_dir)


def make_stream(dataset, batch_size: int, n_critic: int, seed: int, mesh=None):
  """The batches of `dataset` for training: on-device draws for toys, an ImageStream else.

  Args:
    dataset: a ToyDataset or an ImageDataset.
    batch_size: examples per critic update (the global batch under a mesh).
    n_critic: critic updates per step: batches are [n_critic, batch_size, ...].
    seed: the seed of the draws and the shuffling.
    mesh: split each batch over its devices (each process reads its own rows).

  Returns:
    A stream with batch_at(step) and iterate(start_step).
  """
  if isinstance(dataset, ToyDataset):
    sharding = None if mesh is None else parallel.step_batch_sharding(mesh)
    key = jax.random.fold_in(jax.random.key(seed), 1)
    return ToyStream(dataset, batch_size, n_critic, key, sharding)
  return ImageStream(dataset, batch_size, n_critic, seed, mesh)


def get_toy(name: str) -> ToyDataset:
  """The toy dataset called `name`, or a one-line error listing the known ones."""
  if name not in TOY_DATASETS:
    raise ConfigError(
      f"unknown dataset {name!r}: choose one of {', '.join(TOY_DATASETS)} (--dataset)"
    )
  return TOY_DATASETS[name]


class ToyStream:
  """Real batches of a toy dataset, generated on the device(s) from (key, step).

  With a sharding (jaxgan.parallel.step_batch_sharding), each device draws
  only its own rows of the global batch, and the numbers are the same on any
  device count.
  """

  def __init__(
    self,
    dataset: ToyDataset,
    batch_size: int,
    n_critic: int,
    key: jax.Array,
    sharding: jax.sharding.Sharding | None = None,
  ):
    self.dataset, self.batch_size, self.n_critic, self.key = dataset, batch_size, n_critic, key

    def make(key, step):
      shape = (n_critic, batch_size)
      return {"x": dataset.sample(jax.random.fold_in(key, step), shape)}

    def draw_in_program(key, step):
      batch = make(key, step)
      return batch if sharding is None else jax.lax.with_sharding_constraint(batch, sharding)

    self._draw_in_program = draw_in_program

    self._make = jax.jit(make, out_shardings=None if sharding is None else {"x": sharding})

    def make_block(key, first_step, k):
      return jax.vmap(lambda step: make(key, step))(first_step + jnp.arange(k))

    stacked = None
    if sharding is not None:
      stacked = {"x": NamedSharding(sharding.mesh, PartitionSpec(None, *sharding.spec))}
    self._make_block = jax.jit(make_block, static_argnums=2, out_shardings=stacked)

  def batch_at(self, step: int) -> dict[str, jax.Array]:
    return self._make(self.key, step)

  def iterate(self, start_step: int) -> Iterator[dict[str, jax.Array]]:
    step = start_step
    while True:
      yield self.batch_at(step)
      step += 1

  def block_at(self, step: int, k: int) -> dict[str, jax.Array]:
    """The batches of steps step, ..., step + k − 1 stacked on a leading axis, drawn in one
    call (the loop's --steps_per_call): the same numbers as k calls of batch_at."""
    return self._make_block(self.key, step, k)

  def on_device(self):
    """The draws inside the step's program (the loop's --data_on_device): the same numbers
    as batch_at, with no call of their own."""
    return DeviceData(self.key, self._draw_in_program, f"{self.dataset.name} drawn in the step")
