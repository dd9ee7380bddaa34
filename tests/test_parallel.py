"""Data parallelism: results do not depend on the device count or the process count.

In-process tests use the 8 fake CPU devices of conftest.py; the end-to-end
tests run the experiment scripts in subprocesses, one of them as two
processes joined through jax.distributed on 127.0.0.1 (gloo collectives).
"""

import os
import re
import signal
import socket
import threading

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import (
  NUM_FAKE_DEVICES,
  TINY,
  assert_ok,
  fake_devices,
  one_line_error,
  run,
  wait_for_first_metrics,
)

import jaxgan.runs
from jaxgan import data, loss_pairs, models, parallel, penalties
from jaxgan import step as step_lib
from jaxgan.errors import ConfigError
from jaxgan.kinds import gan

# ---------------------------------------------------------------------------
# BatchNorm: global (cross-replica) and per-group (per-device) statistics.
# ---------------------------------------------------------------------------


def np_batchnorm(x, groups, eps=1e-5):
  g = x.reshape(groups, -1, x.shape[-1]).astype(np.float64)
  mean, var = g.mean(1, keepdims=True), g.var(1, keepdims=True)
  return ((g - mean) / np.sqrt(var + eps)).reshape(x.shape), mean[:, 0], var[:, 0]


@pytest.mark.parametrize("groups", [1, 4])
def test_batchnorm_matches_numpy(rng, groups):
  x = rng.normal(2.0, 3.0, (16, 5)).astype(np.float32)
  bn = models.BatchNorm(num_groups=groups)
  variables = bn.init(jax.random.key(0), x, train=True)
  variables = {**variables, "params": {"scale": jnp.full(5, 1.5), "bias": jnp.full(5, -0.5)}}
  y, updates = bn.apply(variables, x, train=True, mutable=["batch_stats"])
  expected, means, vars_ = np_batchnorm(x, groups)
  np.testing.assert_allclose(y, 1.5 * expected - 0.5, rtol=1e-4, atol=1e-5)
  stats = updates["batch_stats"]
  np.testing.assert_allclose(stats["mean"], 0.1 * means.mean(0), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * vars_.mean(0), rtol=1e-5)
  # At sampling time the running averages are used, whatever the batch.
  y_eval = bn.apply({**variables, **updates}, x[:3], train=False)
  expected_eval = (x[:3] - stats["mean"]) / np.sqrt(stats["var"] + 1e-5) * 1.5 - 0.5
  np.testing.assert_allclose(y_eval, expected_eval, rtol=1e-5, atol=1e-5)


def test_batchnorm_groups_must_divide_the_batch():
  bn = models.BatchNorm(num_groups=3)
  with pytest.raises(ValueError, match="divides by it"):
    bn.init(jax.random.key(0), jnp.ones((8, 2)), train=True)


# ---------------------------------------------------------------------------
# The sharded step.
# ---------------------------------------------------------------------------

BATCH = 32


def small_spec(g_norm="none", groups=1):
  def gp(inputs):
    return penalties.gradient_penalty(inputs.d_fn, inputs.real, inputs.fake, inputs.key)

  return gan.GANSpec(
    generator=models.MLPGenerator(
      (32, 32), (2,), normalization=g_norm, batchnorm_groups=groups, weight_init="pytorch"
    ),
    discriminator=models.MLPDiscriminator((32, 32), weight_init="pytorch"),
    latent_dim=2,
    loss=loss_pairs.loss_pair("wasserstein"),
    discriminator_regularizers=(gan.Regularizer("gradient_penalty", 0.1, gp),),
    generator_optimizer=optax.adam(1e-3, b1=0.5, b2=0.9),
    discriminator_optimizer=optax.adam(1e-3, b1=0.5, b2=0.9),
    n_critic=3,
    ema_decay=0.9,
  )


def train_on(spec, num_devices, steps=5):
  """`steps` steps on a mesh of num_devices devices; the final state as numpy."""
  mesh = parallel.make_mesh(num_devices)
  stream = data.ToyStream(
    data.get_toy("grid25"),
    BATCH,
    spec.n_critic,
    jax.random.key(1),
    parallel.step_batch_sharding(mesh),
  )
  state = parallel.replicate(gan.init_state(spec, jax.random.key(0), stream.batch_at(0)), mesh)
  step = gan.make_train_step(spec, mesh=mesh)
  for i in range(steps):
    state, metrics = step(state, stream.batch_at(i), jax.random.key(2))
  assert float(metrics["finite"]) == 1.0
  return jax.tree.map(np.asarray, state), state


def generate(spec, state, n=256):
  """Samples of the EMA generator at fixed noise."""
  z = jax.random.normal(jax.random.key(9), (n, spec.latent_dim))
  g = state.generator
  return np.asarray(
    step_lib.apply_model(spec.generator, state.generator_ema.average, g.model_state, z, False)[0]
  )


def test_step_is_the_same_on_1_2_and_8_devices():
  spec = small_spec()
  one, _ = train_on(spec, 1)
  for n in (2, NUM_FAKE_DEVICES):
    many, _ = train_on(spec, n)
    chex.assert_trees_all_close(many, one, rtol=1e-5, atol=1e-6)


def test_cross_replica_batchnorm_is_the_same_on_1_and_8_devices():
  """Statistics over the global batch on any mesh. Sums in another order differ in the last
  bits, which Adam's normalized steps magnify for near-zero gradients: equal to 1e-3."""
  spec = small_spec("batch")
  one, _ = train_on(spec, 1)
  eight, _ = train_on(spec, NUM_FAKE_DEVICES)
  np.testing.assert_allclose(generate(spec, eight), generate(spec, one), atol=1e-3)
  chex.assert_trees_all_close(eight, one, atol=1e-3)


def test_per_device_batchnorm_uses_each_shards_statistics():
  """Groups of B/8 examples: on 8 devices each device's own shard, and the same math on 1."""
  per_device = small_spec("batch", groups=NUM_FAKE_DEVICES)
  on_eight, _ = train_on(per_device, NUM_FAKE_DEVICES)
  on_one, _ = train_on(per_device, 1)
  np.testing.assert_allclose(
    generate(per_device, on_eight), generate(per_device, on_one), atol=1e-3
  )
  global_stats, _ = train_on(small_spec("batch"), NUM_FAKE_DEVICES)
  difference = generate(per_device, on_eight) - generate(per_device, global_stats)
  assert np.abs(difference).max() > 1e-2  # the option changes the statistics


def test_state_stays_replicated_and_batches_sharded():
  _, state = train_on(small_spec(), NUM_FAKE_DEVICES, steps=1)
  for leaf in jax.tree.leaves(state):
    assert leaf.sharding.is_fully_replicated and len(leaf.sharding.device_set) == 8
  mesh = parallel.make_mesh(NUM_FAKE_DEVICES)
  stream = data.ToyStream(
    data.get_toy("grid25"), BATCH, 3, jax.random.key(1), parallel.step_batch_sharding(mesh)
  )
  x = stream.batch_at(0)["x"]
  assert [s.data.shape for s in x.addressable_shards] == [(3, BATCH // 8, 2)] * 8


def test_data_is_the_same_on_any_device_count():
  key = jax.random.key(4)
  plain = data.ToyStream(data.get_toy("ring8"), BATCH, 2, key).batch_at(7)["x"]
  for n in (2, 8):
    sharding = parallel.step_batch_sharding(parallel.make_mesh(n))
    sharded = data.ToyStream(data.get_toy("ring8"), BATCH, 2, key, sharding).batch_at(7)["x"]
    np.testing.assert_array_equal(np.asarray(sharded), np.asarray(plain))


def test_global_batch_from_process_local_rows():
  mesh = parallel.make_mesh(4)
  local = {"x": np.arange(2 * 8 * 3, dtype=np.float32).reshape(2, 8, 3)}
  batch = parallel.global_batch(mesh, local)
  assert batch["x"].shape == (2, 8, 3)  # one process: its rows are the whole batch
  assert batch["x"].sharding.spec == jax.sharding.PartitionSpec(None, "data")
  np.testing.assert_array_equal(np.asarray(batch["x"]), local["x"])
  assert parallel.process_rows(8) == slice(0, 8)


def test_mesh_and_batch_size_errors():
  with pytest.raises(ConfigError, match="pass a number from 1 to 8"):
    parallel.make_mesh(9)
  with pytest.raises(
    ConfigError, match=r"--batch_size=20 does not divide over 8 devices.*16 or 24"
  ):
    parallel.check_batch_size(20, parallel.make_mesh(8))
  parallel.check_batch_size(24, parallel.make_mesh(8))


# ---------------------------------------------------------------------------
# The rendezvous before jax.distributed (threads stand in for processes).
# ---------------------------------------------------------------------------


def free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def rendezvous_all(ids_and_counts, timeout=5.0):
  """Runs rendezvous for each (process_id, num_processes) in a thread: {id: error or None}."""
  address = f"127.0.0.1:{free_port()}"
  errors = {}

  def join(pid, count):
    try:
      parallel.rendezvous(address, count, pid, timeout)
      errors[pid] = None
    except ConfigError as e:
      errors[pid] = str(e)

  threads = [threading.Thread(target=join, args=pc) for pc in ids_and_counts]
  for t in threads:
    t.start()
  for t in threads:
    t.join(timeout + 5)
  return errors


def test_rendezvous_of_three_processes():
  assert rendezvous_all([(2, 3), (0, 3), (1, 3)]) == {0: None, 1: None, 2: None}


def test_rendezvous_rejects_a_different_process_count():
  errors = rendezvous_all([(0, 2), (1, 3)])
  assert "--num_processes=3, process 0 with 2" in errors[0]
  assert errors[1] == errors[0]


def test_rendezvous_times_out_with_a_missing_process():
  errors = rendezvous_all([(0, 3), (1, 3)], timeout=1.5)
  assert errors[0].startswith("only 2 of 3 processes joined")
  assert "--process_id=1 to 2" in errors[0]


# ---------------------------------------------------------------------------
# End to end: the experiment script on 1 vs 8 devices, and as two processes.
# ---------------------------------------------------------------------------


def train_and_sample(workdir, *flags, env=None):
  """30 steps of wgan_gp on ring8, then 256 samples of its newest checkpoint."""
  assert_ok(
    run(
      [
        "experiments/wgan_gp.py",
        f"--workdir={workdir}",
        "--dataset=ring8",
        "--num_steps=30",
        "--checkpoint_every=15",
        *TINY,
        *flags,
      ],
      env=env,
    )
  )
  return sample(workdir)


def sample(workdir):
  """256 samples of the run's newest checkpoint, as jaxgan.sample draws them."""
  return jaxgan.runs.sample_run(str(workdir), 256, seed=0)


def sample_with_the_cli(workdir):
  out = os.path.join(workdir, "samples.npy")
  assert_ok(
    run(["-m", "jaxgan.sample", f"--workdir={workdir}", "--num_samples=256", f"--output={out}"])
  )
  return np.load(out)


@pytest.mark.parametrize("g_norm", ["none", "batch"])
def test_experiment_on_1_and_8_devices(tmp_path, g_norm):
  env = fake_devices(8)
  flags = [f"--g_normalization={g_norm}"]
  one = train_and_sample(tmp_path / "one", "--num_devices=1", *flags, env=env)
  eight = train_and_sample(tmp_path / "eight", "--num_devices=8", *flags, env=env)
  np.testing.assert_allclose(eight, one, atol=1e-3)
  assert np.abs(one).max() > 0.01  # the generator is not trivially zero


def start_two_processes(args):
  """python ARGS as processes 0 and 1 of a jax.distributed run on 127.0.0.1, 2 devices each."""
  address = f"127.0.0.1:{free_port()}"
  return [
    run(
      [
        *args,
        f"--coordinator_address={address}",
        "--num_processes=2",
        f"--process_id={i}",
        "--coordinator_timeout=60",
      ],
      env=fake_devices(2),
      background=True,
    )
    for i in range(2)
  ]


def finish_two_processes(procs):
  """(stdout, stderr) of both processes, once both exited with status 0."""
  outputs = [p.communicate(timeout=240) for p in procs]
  for p, (out, err) in zip(procs, outputs, strict=True):
    assert p.returncode == 0, out[-2000:] + err[-3000:]
  return outputs


def test_two_processes_agree_with_one(tmp_path):
  """2 processes × 2 devices on 127.0.0.1 running 2 steps per call (--steps_per_call) vs 1
  process × 4 devices stepping one at a time; the checkpoint is readable."""
  common = [
    "experiments/wgan_gp.py",
    "--dataset=ring8",
    "--num_steps=8",
    "--checkpoint_every=4",
    *TINY,  # --log_every=2
  ]
  one = str(tmp_path / "one")
  assert_ok(run([*common, f"--workdir={one}"], env=fake_devices(4)))
  two = str(tmp_path / "two")
  outputs = finish_two_processes(
    start_two_processes([*common, "--steps_per_call=2", f"--workdir={two}"])
  )
  assert "on 4 cpu device(s) in 2 processes" in outputs[0][0]
  assert "2 steps in one call" in outputs[0][0]
  assert "training" not in outputs[1][0]  # only process 0 logs
  assert sorted(os.listdir(os.path.join(two, "checkpoints"))) == ["4", "8"]
  np.testing.assert_allclose(sample_with_the_cli(two), sample(one), atol=1e-3)


def test_a_signal_to_one_process_stops_both_at_one_checkpoint(tmp_path):
  """SIGTERM to process 1 of 2 (a preempted worker VM): at the next sync point both processes
  agree to stop, write one checkpoint of the same step together and exit with 128 + 15; the
  checkpoint reads back, and the two processes resume from it."""
  workdir = str(tmp_path / "run")

  def start(num_steps):
    return start_two_processes(
      [
        "experiments/wgan_gp.py",
        f"--workdir={workdir}",
        "--dataset=ring8",
        f"--num_steps={num_steps}",
        "--checkpoint_every=100000",
        *TINY,
      ]
    )

  procs = start(1_000_000)
  wait_for_first_metrics(workdir, timeout=180)  # process 0 writes them, at the first sync point
  assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
  procs[1].send_signal(signal.SIGTERM)
  outputs = [p.communicate(timeout=120) for p in procs]
  stopped_at = set()
  for p, (out, err) in zip(procs, outputs, strict=True):
    assert p.returncode == 128 + signal.SIGTERM, out[-2000:] + err[-3000:]
    stopped_at.add(int(re.search(r"stopped by SIGTERM after step (\d+)", err).group(1)))
  assert len(stopped_at) == 1, stopped_at  # the same step in both
  (step,) = stopped_at
  assert os.listdir(os.path.join(workdir, "checkpoints")) == [str(step)]
  assert np.isfinite(sample(workdir)).all()

  outputs = finish_two_processes(start(step + 2))
  assert f"resuming from the checkpoint at step {step}" in outputs[0][0]
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == sorted(
    [str(step), str(step + 2)]
  )


@pytest.mark.parametrize(
  "flags, env_devices, fragments",
  [
    (["--batch_size=16"], 3, ["--batch_size=16 does not divide over 3 devices", "15 or 18"]),
    (["--num_devices=5"], 2, ["--num_devices=5 but 2 cpu device(s)"]),
    (
      ["--coordinator_address=127.0.0.1:1", "--num_processes=2", "--process_id=2"],
      1,
      ["--process_id=2 is out of range for --num_processes=2"],
    ),
    (
      [
        "--coordinator_address=127.0.0.1:PORT",
        "--num_processes=2",
        "--process_id=1",
        "--coordinator_timeout=2",
      ],
      1,
      ["could not reach the coordinator at 127.0.0.1:", "within 2s"],
    ),
    (["--coordinator_address=localhost", "--num_processes=2", "--process_id=0"], 1, ["HOST:PORT"]),
  ],
)
def test_parallel_bad_input_gets_one_line(tmp_path, flags, env_devices, fragments):
  flags = [f.replace("PORT", str(free_port())) for f in flags]
  proc = run(
    ["experiments/wgan_gp.py", f"--workdir={tmp_path}", "--num_steps=2", *flags],
    env=fake_devices(env_devices),
  )
  one_line_error(proc, *fragments)
