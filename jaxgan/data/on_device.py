"""Data that lives on the device(s): the whole dataset in device memory, shuffled per epoch by a
key and gathered inside the compiled training program (the loop's --data_on_device).

A stream that can hold its data on the device gives the loop a `DeviceData`:

    data = stream.on_device()               # arrays placed once, sharded over the mesh
    batch = data.batch_of(data.arrays, step)  # pure: traced inside the step's program

so a step reads its batch without the host: no per-step transfer, no input thread, and with
--steps_per_call=k one program runs k steps with their k gathers. What is stored is what the
host pipeline would serve before its last operation: the images already cropped and resized,
as uint8 (a quarter of float32's memory), scaled to [−1, 1] inside the program with the host's
formula, so a batch equals the host's batch of the same examples bit for bit.

The order differs from the host stream's (jaxgan.data.images.example_indices draws numpy
permutations): epoch e visits the examples in the order of a keyed Feistel permutation
(feistel_permutation, keyed by fold_in(key, e)), computed for a batch's positions alone: a
sorted permutation of the whole epoch every step (jax.random.permutation) cost the digits
DCGAN a fifth of its speed on CPU, where XLA's sort is slow. Step s reads the positions
[s·n·B, (s + 1)·n·B) of that endless sequence, as the host stream does with its own
permutations. A run with --data_on_device is as resumable as one without: the
position comes from the state's step counter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import parallel
from jaxgan.errors import ConfigError

MAX_DEVICE_BYTES = 4 << 30  # a dataset larger than this stays on the host pipeline
READ_CHUNK = 4096  # examples read and resized per call of the source while loading


class DeviceData(NamedTuple):
  """A dataset in device memory and how a step's batch is gathered from it.

  arrays: the stored data, a pytree of device arrays (sharded over the mesh's 'data' axis).
  batch_of(arrays, step) -> the step's batch: pure, traceable with a traced step.
  description: what is stored, for the log ("1,437 images 32×32×1 uint8, 1.5 MB").
  """

  arrays: Any
  batch_of: Callable[[Any, jax.Array], Any]
  description: str = ""


FEISTEL_ROUNDS = 4  # Luby–Rackoff: 3 rounds give a pseudo-random permutation, 4 a strong one


def _mix32(x: jax.Array) -> jax.Array:
  """MurmurHash3's 32-bit finalizer: every input bit flips each output bit with p ≈ ½."""
  x = x ^ (x >> 16)
  x = x * jnp.uint32(0x85EBCA6B)
  x = x ^ (x >> 13)
  x = x * jnp.uint32(0xC2B2AE35)
  return x ^ (x >> 16)


def feistel_permutation(round_keys: jax.Array, n: int, offsets: jax.Array) -> jax.Array:
  """The images of `offsets` under a keyed pseudo-random permutation of range(n), computed
  element by element: no sort, O(len(offsets)) work whatever n is.

  A balanced Feistel network on 2h-bit integers (2^(2h) ≥ n; each round L, R ← R, L ⊕ F(R, k)
  with F MurmurHash3's finalizer of R ⊕ k, masked to h bits) is a permutation of [0, 2^(2h));
  cycle walking (Black & Rogaway 2002) applies it again to the values ≥ n until they fall in
  range, which restricts it to a permutation of [0, n). grain shuffles its index the same way.

  Args:
    round_keys: uint32 [FEISTEL_ROUNDS], the permutation's key.
    n: the size of the permuted range.
    offsets: int32 positions in [0, n).

  Returns:
    int32 [len(offsets)]: the permuted positions.
  """
  half_bits = max(1, (max(n - 1, 1).bit_length() + 1) // 2)
  mask = jnp.uint32((1 << half_bits) - 1)

  def network(x):
    left, right = x >> half_bits, x & mask
    for r in range(FEISTEL_ROUNDS):
      left, right = right, left ^ (_mix32(right ^ round_keys[r]) & mask)
    return (left << half_bits) | right

  def outside(x):
    return jnp.any(x >= n)

  x = network(offsets.astype(jnp.uint32))
  x = jax.lax.while_loop(outside, lambda x: jnp.where(x >= n, network(x), x), x)
  return x.astype(jnp.int32)


def shuffled_indices(key: jax.Array, n: int, step: jax.Array, per_step: int) -> jax.Array:
  """The dataset indices a step reads: positions [step·per_step, (step + 1)·per_step) of the
  endless sequence whose epoch e visits the examples in the order of feistel_permutation keyed
  by fold_in(key, e).

  Traceable (step may be traced); per_step ≤ n, so a step spans at most two epochs. The
  position is split as step = q·n + r so that step·per_step never overflows int32.

  Args:
    key: the data's key.
    n: the number of examples.
    step: the step (an integer scalar, traced or not).
    per_step: examples per step (n_critic · batch size).

  Returns:
    int32 indices [per_step].
  """
  if per_step > n:
    raise ConfigError(
      f"a step reads {per_step} examples but the dataset has {n}: --data_on_device needs a "
      "step's examples to fit in one epoch; lower --batch_size or drop --data_on_device"
    )
  step = jnp.asarray(step, jnp.int32)
  quotient, remainder = step // n, step % n
  first_epoch = quotient * per_step + (remainder * per_step) // n
  offsets = (remainder * per_step) % n + jnp.arange(per_step, dtype=jnp.int32)
  wraps = offsets >= n
  epochs = jnp.where(wraps, first_epoch + 1, first_epoch)
  return epoch_order(key, n, epochs, offsets % n)


def epoch_order(key: jax.Array, n: int, epochs: jax.Array, offsets: jax.Array) -> jax.Array:
  """The example at each (epoch, offset): offset's image under epoch's permutation.

  Args:
    key: the data's key.
    n: the number of examples.
    epochs: int32 [B], at most two distinct values, the first one first (a step's batch).
    offsets: int32 [B] in [0, n).

  Returns:
    int32 [B]: the examples' indices.
  """
  round_keys = jax.vmap(lambda e: epoch_keys(key, e))(epochs[jnp.array([0, -1])])
  first = feistel_permutation(round_keys[0], n, offsets)
  second = feistel_permutation(round_keys[1], n, offsets)
  return jnp.where(epochs == epochs[0], first, second)


def epoch_keys(key: jax.Array, epoch: jax.Array) -> jax.Array:
  """The round keys of one epoch's permutation: uint32 [FEISTEL_ROUNDS] from fold_in(key, e)."""
  return jax.random.bits(jax.random.fold_in(key, epoch), (FEISTEL_ROUNDS,), jnp.uint32)


def place(mesh, host: np.ndarray) -> jax.Array:
  """A host array on the device, or under a mesh split over its 'data' axis along axis 0
  (padded with zero rows to a multiple of the device count; the padding is never read)."""
  if mesh is None:
    return jnp.asarray(host)
  pad = -len(host) % mesh.size
  if pad:
    host = np.concatenate([host, np.zeros((pad, *host.shape[1:]), host.dtype)])
  sharding = parallel.sharded_along(mesh, 0)
  return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def read_resized(dataset) -> tuple[np.ndarray, np.ndarray]:
  """Every example of an ImageDataset as the host pipeline serves it before scaling: uint8
  [N, S, S, C] cropped and resized, labels int32 [N]; a one-line ConfigError when it would
  not fit the device budget."""
  n = len(dataset.source)
  size = n * dataset.image_size**2 * dataset.channels
  if size > MAX_DEVICE_BYTES:
    raise ConfigError(
      f"{dataset.name} would take {size / 2**30:.1f} GiB on the device (at most "
      f"{MAX_DEVICE_BYTES / 2**30:.0f} GiB): drop --data_on_device; the host pipeline reads it "
      "ahead of the step"
    )
  images, labels = [], []
  for start in range(0, n, READ_CHUNK):
    chunk_images, chunk_labels = dataset.source.read(np.arange(start, min(n, start + READ_CHUNK)))
    images.append(dataset.resized(chunk_images))
    labels.append(np.asarray(chunk_labels, np.int32))
  return np.concatenate(images), np.concatenate(labels)


def image_device_data(dataset, batch_size: int, n_critic: int, seed: int, mesh=None) -> DeviceData:
  """An ImageDataset on the device: batches {"x": [n_critic, B, S, S, C] in [−1, 1], "label":
  [n_critic, B]} gathered from it by step, split over the mesh like the host's batches.

  Args:
    dataset: the jaxgan.data.images.ImageDataset.
    batch_size: examples per critic update (the global batch).
    n_critic: critic updates per step.
    seed: the run's seed (the data's key is drawn from it).
    mesh: store the data, and serve the batches, split over its devices.

  Returns:
    The DeviceData.
  """
  images, labels = read_resized(dataset)
  n, per_step = len(images), n_critic * batch_size
  shuffled_indices(jax.random.key(0), n, 0, per_step)  # a one-line error now, not in a trace
  key = jax.random.fold_in(jax.random.key(seed), 2)
  arrays = {"images": place(mesh, images), "labels": place(mesh, labels), "key": key}
  batch_sharding = None if mesh is None else parallel.step_batch_sharding(mesh)

  def batch_of(arrays, step):
    indices = shuffled_indices(arrays["key"], n, step, per_step)
    x = arrays["images"][indices].astype(jnp.float32) * (2.0 / 255.0) - 1.0  # to_model_range
    batch = {
      "x": x.reshape(n_critic, batch_size, *images.shape[1:]),
      "label": arrays["labels"][indices].reshape(n_critic, batch_size),
    }
    return (
      batch if batch_sharding is None else jax.lax.with_sharding_constraint(batch, batch_sharding)
    )

  shape = "×".join(map(str, images.shape[1:]))
  description = f"{n:,} images {shape} uint8, {images.nbytes / 2**20:.1f} MiB"
  return DeviceData(arrays, batch_of, description)
