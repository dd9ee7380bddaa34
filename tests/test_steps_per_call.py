"""--steps_per_call: k training steps in one compiled program (jaxgan.step.repeat_step, the
loop's calls) give the results of k = 1 bit for bit, resume exactly from any step, and keep
logs and checkpoints on their steps. (Two processes at k = 2 against one at k = 1:
test_parallel.test_two_processes_agree_with_one.)"""

import json
import os

import jax
import numpy as np
import pytest
from conftest import (
  assert_ok,
  config_flags,
  experiment_module,
  newest_checkpoint,
  run,
  with_default_emitters,
)

from jaxgan.errors import ConfigError


def training_records(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  return [{k: v for k, v in r.items() if k != "steps_per_s"} for r in records if "d_loss" in r]


def train(script, workdir, env=None, **settings):
  """Trains experiments/`script` on one device: in this process, or with env as a command."""
  if env is not None:
    flags = config_flags(workdir=workdir, num_devices=1, **settings)
    assert_ok(run([os.path.join("experiments", script), *flags], env=env))
    return
  module = experiment_module(script)
  module.main(module.Config(workdir=str(workdir), num_devices=1, **settings))


TOY = dict(
  dataset="ring8",
  batch_size=16,
  g_hidden=(16, 16),
  d_hidden=(16, 16),
  log_every=4,
  checkpoint_every=4,
  eval_every=8,
  plot_every=8,
  num_eval_samples=200,
  lr_schedule="constant",  # the tests resume runs with more steps (see conftest.TINY)
)
DIGITS = dict(
  dataset="digits",
  image_size=16,
  batch_size=8,
  width=4,
  log_every=2,
  checkpoint_every=2,
  eval_every=4,
  plot_every=4,
  num_eval_samples=100,
  fid_features="none",
)


@pytest.mark.parametrize(
  "script, settings, k",
  [("wgan_gp.py", TOY, 4), ("dcgan.py", DIGITS, 2)],
  ids=["wgan_gp_toy", "dcgan_digits"],
)
def test_k_steps_per_call_equal_k_single_steps_bit_for_bit(tmp_path, script, settings, k):
  # 10 steps: two or five calls of k, then single steps for the rest
  env = with_default_emitters()
  train(script, tmp_path / "single", env, num_steps=10, **settings)
  train(script, tmp_path / "repeated", env, num_steps=10, steps_per_call=k, **settings)
  (step_a, a), (step_b, b) = (
    newest_checkpoint(tmp_path / "single"),
    newest_checkpoint(tmp_path / "repeated"),
  )
  assert step_a == step_b == 10
  jax.tree.map(np.testing.assert_array_equal, a, b)
  assert training_records(tmp_path / "single") == training_records(tmp_path / "repeated")


def test_resumed_and_automatic_runs_match_a_straight_one(tmp_path, capsys):
  settings = dict(TOY, checkpoint_every=4)
  train("wgan_gp.py", tmp_path / "resumed", num_steps=6, steps_per_call=4, **settings)
  assert newest_checkpoint(tmp_path / "resumed")[0] == 6  # 4 in one call, then 5 and 6
  train("wgan_gp.py", tmp_path / "resumed", num_steps=14, steps_per_call=4, **settings)
  steps = [r["step"] for r in training_records(tmp_path / "resumed")]
  assert steps == [4, 6, 8, 12, 14]
  capsys.readouterr()
  train("wgan_gp.py", tmp_path / "auto", num_steps=14, steps_per_call=0, **settings)
  assert "steps per call: " in capsys.readouterr().out
  train("wgan_gp.py", tmp_path / "straight", num_steps=14, **settings)
  straight = newest_checkpoint(tmp_path / "straight")[1]
  for name in ("resumed", "auto"):
    jax.tree.map(np.testing.assert_array_equal, newest_checkpoint(tmp_path / name)[1], straight)


def test_steps_per_call_must_divide_the_intervals():
  module = experiment_module("wgan_gp.py")
  with pytest.raises(ConfigError, match="--steps_per_call=3 does not divide --log_every=4"):
    module.Config(steps_per_call=3, **TOY)
  with pytest.raises(ConfigError, match="--steps_per_call must be at least 0"):
    module.Config(steps_per_call=-1, **TOY)


def test_automatic_steps_per_call_divides_the_intervals_and_fills_a_call():
  from jaxgan import loop

  config = experiment_module("wgan_gp.py").Config(
    **dict(TOY, log_every=100, checkpoint_every=1000, eval_every=500, plot_every=1000)
  )
  assert loop.choose_steps_per_call(0.003, config) == 20  # 50 ms: 17 steps, 20 divides 100
  assert loop.choose_steps_per_call(0.01, config) == 5
  assert loop.choose_steps_per_call(1.0, config) == 1
  assert loop.choose_steps_per_call(1e-4, config) == 100  # the intervals' largest divisor


def test_a_toy_streams_block_is_its_batches_stacked():
  from jaxgan import data

  stream = data.ToyStream(data.get_toy("grid25"), 8, 2, jax.random.key(3))
  block = stream.block_at(5, 3)
  expected = np.stack([np.asarray(stream.batch_at(s)["x"]) for s in (5, 6, 7)])
  np.testing.assert_array_equal(block["x"], expected)


def test_k_steps_per_call_on_eight_devices_equal_single_steps(tmp_path):
  settings = dict(TOY, batch_size=16, num_devices=8)
  for name, k in (("single", 1), ("repeated", 4)):
    module = experiment_module("wgan_gp.py")
    config = module.Config(workdir=str(tmp_path / name), num_steps=8, steps_per_call=k, **settings)
    module.main(config)
  (_, a), (_, b) = newest_checkpoint(tmp_path / "single"), newest_checkpoint(tmp_path / "repeated")
  jax.tree.map(np.testing.assert_array_equal, a, b)


@pytest.mark.parametrize("num_devices", [None, 8])
def test_an_image_streams_block_is_its_batches_stacked(num_devices):
  from jaxgan import data, parallel

  mesh = None if num_devices is None else parallel.make_mesh(num_devices)
  dataset = data.get_dataset("digits", image_size=16)
  stream = data.make_stream(dataset, 8, 2, seed=1, mesh=mesh)
  for step in (3, 5, 7):  # the second and third blocks were read ahead
    block = stream.block_at(step, 2)
    for name, value in block.items():
      expected = np.stack([np.asarray(stream.batch_at(s)[name]) for s in (step, step + 1)])
      np.testing.assert_array_equal(np.asarray(value), expected)
      if mesh is not None:
        assert value.sharding.spec[2] == parallel.DATA_AXIS  # the example axis, shifted by one


def test_a_step_not_made_by_compile_step_cannot_be_repeated():
  from jaxgan import loop, trainer

  plain = trainer.Trainer(
    init=None, step=jax.jit(lambda s, b, k: (s, {})), batches=None, evaluators=(), describe=dict
  )
  assert loop.repeated_step(plain, 1) is None
  with pytest.raises(ConfigError, match="not made by jaxgan.step.compile_step"):
    loop.repeated_step(plain, 4)
