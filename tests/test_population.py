"""--population: N GANs in one compiled program (jaxgan.population). Members equal the separate
runs of their flags, a grid's numbers are traced per member, a diverging member stops alone,
and a member's directory is a run of its own."""

import dataclasses
import json
import os

import jax
import numpy as np
import pytest
from conftest import experiment_module, newest_checkpoint
from test_steps_per_call import TOY

from jaxgan import population, runs
from jaxgan.errors import ConfigError

SETTINGS = dict(TOY, num_devices=1)


def train(workdir, **settings):
  module = experiment_module("wgan_gp.py")
  module.main(module.Config(workdir=str(workdir), **dict(SETTINGS, **settings)))


def assert_states_close(a, b):
  """Equal up to the float rounding of batched against single matrix products."""

  def close(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind == "f":
      np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    else:
      np.testing.assert_array_equal(x, y)

  jax.tree.map(close, a, b)


def test_members_equal_the_separate_runs_of_their_seeds(tmp_path):
  train(tmp_path / "population", num_steps=8, population=2, seed=3)
  for i, seed in enumerate((3, 4)):
    train(tmp_path / f"seed{seed}", num_steps=8, seed=seed)
    step, member = newest_checkpoint(tmp_path / "population" / f"member{i}")
    assert step == 8
    assert_states_close(member, newest_checkpoint(tmp_path / f"seed{seed}")[1])
  # a member's directory is a run: its flags, its pictures, read back by jaxgan.sample's code
  member_dir = tmp_path / "population" / "member1"
  with open(member_dir / "config.json") as f:
    assert json.load(f)["flags"]["seed"] == 4
  assert (member_dir / "plots" / "samples_0000008.png").exists()
  samples = runs.sample_run(str(member_dir), 16, seed=0)
  assert samples.shape == (16, 2) and np.all(np.isfinite(samples))
  with open(tmp_path / "population" / "results.json") as f:
    results = json.load(f)
  assert {"member0_modes", "member1_modes", "modes", "modes_min", "modes_max"} <= set(results)
  with pytest.raises(ConfigError, match="population of 2 runs.*member0"):
    runs.restore(str(tmp_path / "population"))


def test_a_grid_traces_its_numbers_and_members_equal_their_flags(tmp_path):
  grid = "g_lr:1e-4,1e-3;gp_weight:0.1,1"
  train(tmp_path / "grid", num_steps=4, population=4, population_grid=grid)
  train(tmp_path / "single", num_steps=4, g_lr=1e-3, gp_weight=1.0)
  assert_states_close(
    newest_checkpoint(tmp_path / "grid" / "member3")[1], newest_checkpoint(tmp_path / "single")[1]
  )
  with open(tmp_path / "grid" / "config.json") as f:
    assert json.load(f)["traced_flags"] == ["g_lr", "gp_weight"]


def test_a_diverging_member_stops_and_the_others_train_on(tmp_path, capsys):
  # member 1's critic learns at 1e30: its parameters overflow in its first steps
  train(tmp_path / "run", num_steps=8, population=2, population_grid="d_lr:1e-4,1e30")
  out = capsys.readouterr().out
  assert "alive 1" in out and "1/2 alive" in out
  train(tmp_path / "healthy", num_steps=8, d_lr=1e-4)
  assert_states_close(
    newest_checkpoint(tmp_path / "run" / "member0")[1], newest_checkpoint(tmp_path / "healthy")[1]
  )
  diverged = newest_checkpoint(tmp_path / "run" / "member1")[1]
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(diverged) if x.dtype.kind == "f")
  with open(tmp_path / "run" / "results.json") as f:
    results = json.load(f)
  assert (results["member0_alive"], results["member1_alive"], results["alive"]) == (1, 0, 1)


def test_k_steps_per_call_data_on_the_device_and_resuming_serve_a_population(tmp_path):
  train(tmp_path / "plain", num_steps=8, population=2)
  fast = dict(population=2, steps_per_call=4, data_on_device=True)
  train(tmp_path / "fast", num_steps=6, **fast)  # 4 in one call, then 5 and 6
  train(tmp_path / "fast", num_steps=8, **fast)  # resumed at 6
  jax.tree.map(
    np.testing.assert_array_equal,
    newest_checkpoint(tmp_path / "fast")[1],
    newest_checkpoint(tmp_path / "plain")[1],
  )


@pytest.mark.parametrize(
  "settings, message",
  [
    (dict(population=3, population_grid="g_lr:1e-4,2e-4"), "--population=3 but .* has 2 points"),
    (dict(population=2, population_grid="lr:1e-4,2e-4"), "'lr' is not a flag"),
    (dict(population=2, population_grid="g_lr:fast,slow"), "g_lr takes float values"),
    (dict(population=2, population_grid="g_lr"), "is not KEY:VALUE"),
    (dict(population=2, population_grid="dataset:ring8,grid25"), "dataset shapes the program"),
    (dict(population=2, population_grid="n_critic:1,2"), "n_critic shapes the program"),
    (dict(population=2, population_grid="ema_decay:0,0.99"), "states differ in structure"),
    (dict(population=2, num_devices=2), "pass --num_devices=1"),
  ],
  ids=["size", "unknown", "type", "syntax", "string", "structural", "state", "devices"],
)
def test_bad_populations_get_one_line(tmp_path, settings, message):
  with pytest.raises(ConfigError, match=message):
    train(tmp_path / "run", num_steps=4, **settings)


def test_a_dry_run_traces_the_population_and_writes_nothing(tmp_path, capsys):
  train(
    tmp_path / "run", num_steps=4, population=3, population_grid="gp_weight:0.1,1,10", dry_run=True
  )
  out = capsys.readouterr().out
  assert "as a population of 3" in out and "alive" in out and "member0/" not in out
  assert not (tmp_path / "run").exists()


def test_the_population_plot_draws_the_metrics_that_vary(tmp_path):
  from jaxgan import plots

  records = [
    {
      "step": s,
      "eval_member0_modes": 25,
      "eval_member1_modes": 25,
      "eval_member0_hq": h0,
      "eval_member1_hq": h1,
      "eval_member0_num_samples": 2500,
      "eval_member1_num_samples": 2500,
    }
    for s, h0, h1 in ((1000, 0.2, 0.3), (2000, 0.8, 0.9))
  ]
  assert plots.save_population_curves(str(tmp_path / "population.png"), records, 2)
  assert (tmp_path / "population.png").read_bytes()[:4] == b"\x89PNG"
  constant = [{k: (v if k == "step" else 1.0) for k, v in r.items()} for r in records]
  assert not plots.save_population_curves(str(tmp_path / "none.png"), constant, 2)
  assert not (tmp_path / "none.png").exists()


def test_members_are_named_in_the_plots_by_the_flags_that_differ():
  @dataclasses.dataclass(frozen=True)
  class Flags:
    workdir: str
    seed: int
    d_lr: float
    n_critic: int = 5

  grid = [Flags(f"run/member{i}", i % 2, lr) for i, lr in enumerate((1e-4, 1e-4, 2e-4, 2e-4))]
  assert population.member_labels(grid) == [
    "seed 0, d_lr 0.0001",
    "seed 1, d_lr 0.0001",
    "seed 0, d_lr 0.0002",
    "seed 1, d_lr 0.0002",
  ]
  same = [Flags(f"run/member{i}", 0, 1e-4) for i in range(2)]
  assert population.member_labels(same) == ["member 0", "member 1"]


def test_the_grid_is_the_product_of_its_values():
  config = experiment_module("wgan_gp.py").Config(**SETTINGS)
  points = population.parse_grid("g_lr:1,2; seed:0,1,2", config)
  assert points[:4] == [
    {"g_lr": 1.0, "seed": 0},
    {"g_lr": 1.0, "seed": 1},
    {"g_lr": 1.0, "seed": 2},
    {"g_lr": 2.0, "seed": 0},
  ]
  assert len(points) == 6 and os.sep not in str(points)
