"""--data_on_device: the dataset in device memory, shuffled per epoch by a key and gathered
inside the compiled step (jaxgan.data.on_device, jaxgan.step.repeat_step_on_data)."""

import jax
import numpy as np
import pytest
import scipy.stats
from conftest import experiment_module, newest_checkpoint, with_default_emitters
from test_steps_per_call import DIGITS, TOY, train, training_records

from jaxgan import data, parallel
from jaxgan.data import on_device
from jaxgan.errors import ConfigError


def numpy_feistel(round_keys, n, offset):
  """The cycle-walking Feistel permutation, one integer at a time in Python."""

  def mix(x):
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & 0xFFFFFFFF
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & 0xFFFFFFFF
    return x ^ (x >> 16)

  half = max(1, ((n - 1).bit_length() + 1) // 2)
  mask = (1 << half) - 1

  def network(x):
    left, right = x >> half, x & mask
    for k in round_keys:
      left, right = right, left ^ (mix(right ^ int(k)) & mask)
    return (left << half) | right

  x = network(offset)
  while x >= n:
    x = network(x)
  return x


@pytest.mark.parametrize("n", [10, 1797, 50_000])
def test_each_epoch_visits_every_example_once_in_a_fresh_order(n):
  key, per_step = jax.random.key(5), min(n, 640)
  steps = -(-3 * n // per_step)  # three epochs and a bit
  order = jax.jit(jax.vmap(lambda s: on_device.shuffled_indices(key, n, s, per_step)))
  epochs = np.asarray(order(np.arange(steps))).reshape(-1)[: 3 * n].reshape(3, n)
  for epoch in epochs:
    np.testing.assert_array_equal(np.sort(epoch), np.arange(n))
  assert not np.array_equal(epochs[0], epochs[1])
  # shuffled: the order is unrelated to the position (Spearman's rank correlation)
  if n >= 1797:
    assert abs(scipy.stats.spearmanr(np.arange(n), epochs[1]).statistic) < 0.1
    # neighbours in the order are no closer in the dataset than random pairs (n/3 on average)
    assert np.mean(np.abs(np.diff(epochs[1]))) > 0.3 * n
  # the formula, one integer at a time, for the second epoch
  round_keys = np.asarray(on_device.epoch_keys(key, 1))
  expected = [numpy_feistel(round_keys, n, o) for o in range(min(n, 200))]
  np.testing.assert_array_equal(epochs[1][: len(expected)], expected)


def test_positions_do_not_overflow_at_large_steps():
  key, n, per_step = jax.random.key(0), 1437, 640
  step = 3_000_000  # step · per_step = 1.9e9, close to int32's limit; the next is past it
  for s in (step, step + 1_000_000):
    indices = np.asarray(on_device.shuffled_indices(key, n, s, per_step))
    epoch, offset = divmod(s * per_step, n)  # Python's integers
    expected = []
    for position in range(offset, offset + per_step):
      e, o = divmod(position, n)
      keys = np.asarray(on_device.epoch_keys(key, epoch + e))
      expected.append(numpy_feistel(keys, n, o))
    np.testing.assert_array_equal(indices, expected)


@pytest.mark.parametrize("num_devices", [None, 8])
def test_device_batches_equal_the_host_preprocessing_of_their_examples(num_devices):
  mesh = None if num_devices is None else parallel.make_mesh(num_devices)
  dataset = data.get_dataset("digits", image_size=16)
  device_data = data.make_stream(dataset, 8, 2, seed=1, mesh=mesh).on_device()
  batch_of = jax.jit(device_data.batch_of)
  for step in (0, 7, 300):  # 300 · 16 examples: past the first epochs
    batch = batch_of(device_data.arrays, step)
    indices = on_device.shuffled_indices(device_data.arrays["key"], len(dataset.source), step, 16)
    images, labels = dataset.examples(np.asarray(indices))
    np.testing.assert_array_equal(np.asarray(batch["x"]), images.reshape(2, 8, 16, 16, 1))
    np.testing.assert_array_equal(np.asarray(batch["label"]), labels.reshape(2, 8))
    if mesh is not None:
      assert batch["x"].sharding.spec[1] == parallel.DATA_AXIS
  if mesh is not None:
    assert device_data.arrays["images"].sharding.spec[0] == parallel.DATA_AXIS


def test_toy_draws_in_the_program_equal_the_host_driven_run_bit_for_bit(tmp_path):
  # the toy's draws do not change, only where they happen: calls of 4 steps drawing their
  # batches inside (and single steps drawing theirs, 9 and 10) equal a plain run
  train("wgan_gp.py", tmp_path / "plain", num_steps=10, **TOY)
  train("wgan_gp.py", tmp_path / "fast", num_steps=10, steps_per_call=4, data_on_device=True, **TOY)
  jax.tree.map(
    np.testing.assert_array_equal,
    newest_checkpoint(tmp_path / "fast")[1],
    newest_checkpoint(tmp_path / "plain")[1],
  )


def test_digits_on_the_device_resume_exactly_equal_any_k_and_split_over_eight_devices(tmp_path):
  settings = dict(DIGITS, data_on_device=True)
  env = with_default_emitters()
  train("dcgan.py", tmp_path / "single", env, num_steps=8, **settings)
  resumed = dict(settings, steps_per_call=2, checkpoint_every=2)
  train("dcgan.py", tmp_path / "resumed", env, num_steps=3, **resumed)
  train("dcgan.py", tmp_path / "resumed", env, num_steps=8, **resumed)
  (step_a, a), (step_b, b) = (
    newest_checkpoint(tmp_path / "single"),
    newest_checkpoint(tmp_path / "resumed"),
  )
  assert step_a == step_b == 8
  jax.tree.map(np.testing.assert_array_equal, a, b)
  assert all(np.isfinite(r["d_loss"]) for r in training_records(tmp_path / "single"))
  module = experiment_module("dcgan.py")  # the data split over 8 devices: as on one
  eight = dict(settings, steps_per_call=2, num_devices=8)
  module.main(module.Config(workdir=str(tmp_path / "eight"), num_steps=8, **eight))
  for x, y in zip(
    jax.tree.leaves(a), jax.tree.leaves(newest_checkpoint(tmp_path / "eight")[1]), strict=True
  ):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=5e-3)  # BatchNorm's sums


def test_data_a_stream_cannot_hold_on_the_device_get_one_line():
  with pytest.raises(ConfigError, match="needs a step's examples to fit in one epoch"):
    on_device.shuffled_indices(jax.random.key(0), 10, 0, 11)

  class HostOnly:
    def batch_at(self, step):
      return {}

  from jaxgan import loop
  from jaxgan.trainer import Trainer

  trainer = Trainer(init=None, step=None, batches=HostOnly(), evaluators=(), describe=dict)
  config = experiment_module("wgan_gp.py").Config(data_on_device=True, **TOY)
  with pytest.raises(ConfigError, match="HostOnly.*drop --data_on_device"):
    loop.device_data_of(trainer, config)
