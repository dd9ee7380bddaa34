"""--n_critic_from: the number of critic updates changes during a run (another compiled program
from the phase's first step on, jaxgan.trainer.Phase). A run with phases equals its segments run
one after the other by hand, under --steps_per_call, on the device's data, resumed in the middle
and in a population; the critic's learning rate follows the steps."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import experiment_module, newest_checkpoint, with_default_emitters
from test_population import assert_states_close
from test_steps_per_call import TOY
from test_steps_per_call import train as by_command

from jaxgan import optim
from jaxgan.errors import ConfigError
from jaxgan.kinds.gan_spec import step_of_critic_update

SETTINGS = dict(TOY, num_devices=1, n_critic=3)


def train(workdir, **settings):
  module = experiment_module("wgan_gp.py")
  module.main(module.Config(workdir=str(workdir), **dict(SETTINGS, **settings)))


def test_a_run_with_phases_equals_its_segments_run_one_after_the_other(tmp_path, capsys):
  train(tmp_path / "phased", num_steps=14, n_critic_from="6:1,10:2")
  log = capsys.readouterr().out
  assert "n_critic 3 (1 from step 6, 2 from step 10)" in log
  assert "from step 6: n_critic 1" in log and "from step 10: n_critic 2" in log
  # by hand: the same workdir resumed with the next n_critic (the rate is constant)
  for n_critic, num_steps in ((3, 6), (1, 10), (2, 14)):
    train(tmp_path / "by_hand", num_steps=num_steps, n_critic=n_critic)
  step, phased = newest_checkpoint(tmp_path / "phased")
  assert step == 14
  jax.tree.map(np.testing.assert_array_equal, phased, newest_checkpoint(tmp_path / "by_hand")[1])
  with open(tmp_path / "phased" / "config.json") as f:
    assert json.load(f)["n_critic_from"] == [[6, 1], [10, 2]]


def test_k_steps_per_call_and_the_devices_data_change_nothing_bit_for_bit(tmp_path):
  # k = 4: single steps 4 and 5 (a call never spans two phases), then 6..9 in one call
  settings = dict(TOY, n_critic=3, n_critic_from="6:1", lr_schedule="linear", num_steps=14)
  env = with_default_emitters()  # the bit-for-bit claim is about XLA's default code
  by_command("wgan_gp.py", tmp_path / "single", env, **settings)
  by_command("wgan_gp.py", tmp_path / "k4", env, steps_per_call=4, data_on_device=True, **settings)
  jax.tree.map(
    np.testing.assert_array_equal,
    newest_checkpoint(tmp_path / "k4")[1],
    newest_checkpoint(tmp_path / "single")[1],
  )


def test_a_run_resumed_inside_a_phase_equals_a_straight_one(tmp_path):
  phases = dict(n_critic_from="6:1")  # a constant rate: a schedule's length is --num_steps
  train(tmp_path / "straight", num_steps=14, **phases)
  train(tmp_path / "resumed", num_steps=9, **phases)  # stopped inside the second phase
  train(tmp_path / "resumed", num_steps=14, **phases)
  jax.tree.map(
    np.testing.assert_array_equal,
    newest_checkpoint(tmp_path / "resumed")[1],
    newest_checkpoint(tmp_path / "straight")[1],
  )


def test_a_population_trains_the_phases_of_each_member(tmp_path):
  grid = dict(population=2, population_grid="g_lr:1e-4,1e-3", n_critic_from="4:1")
  train(tmp_path / "grid", num_steps=8, lr_schedule="linear", **grid)
  train(tmp_path / "single", num_steps=8, lr_schedule="linear", g_lr=1e-3, n_critic_from="4:1")
  assert_states_close(
    newest_checkpoint(tmp_path / "grid" / "member1")[1], newest_checkpoint(tmp_path / "single")[1]
  )


def test_the_critics_update_count_maps_to_the_step_it_is_made_at():
  n_critic, later, num_steps = 5, ((3, 2), (6, 1), (8, 4)), 10
  counts = {0: n_critic, **dict(later)}
  expected, n = [], n_critic  # every update's step, listed one by one: t + i / n(t)
  for t in range(num_steps):
    n = counts.get(t, n)
    expected.extend(t + i / n for i in range(n))
  got = step_of_critic_update(n_critic, later, jnp.arange(len(expected)))
  np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
  assert float(step_of_critic_update(n_critic, (), jnp.asarray(7))) == pytest.approx(7 / 5)


def test_the_critics_rate_is_the_generators_rate_at_the_same_step():
  module = experiment_module("wgan_gp.py")
  config = module.Config(
    num_steps=20, n_critic=5, n_critic_from="8:2", lr_schedule="constant_then_linear"
  )
  from jaxgan import builders

  g_rate, d_rate = (builders.learning_rate(config, p) for p in ("generator", "discriminator"))
  # update 40 + 2·6 + 1 is the second update of step 14
  for count, step in ((0, 0.0), (39, 7.8), (40, 8.0), (53, 14.5)):
    assert float(d_rate(count)) == pytest.approx(float(g_rate(step)), rel=1e-6)
  rate = optim.learning_rate_schedule(1e-4, "constant_then_linear", 20, 0.5)
  assert float(rate(14.5)) == pytest.approx(1e-4 * (20 - 14.5) / 10)


@pytest.mark.parametrize(
  "flag, message",
  [
    ("7000", "'7000' is not STEP:N"),
    ("0:2", "must start at increasing steps after 0"),
    ("9:2,5:1", "must start at increasing steps after 0"),
    ("5:0", "the phase at step 5 has n_critic 0"),
  ],
)
def test_a_malformed_schedule_is_one_line(flag, message):
  module = experiment_module("wgan_gp.py")
  with pytest.raises(ConfigError, match=message) as error:
    module.Config(**dict(SETTINGS, num_steps=14, n_critic_from=flag))
  assert "\n" not in str(error.value) and str(error.value).startswith("--n_critic_from")


def test_a_growing_gan_refuses_them(tmp_path):
  module = experiment_module("progan.py")
  config = module.Config(workdir=str(tmp_path), num_steps=8, n_critic_from="4:2", dry_run=True)
  with pytest.raises(ConfigError, match="a growing GAN's phases are its levels"):
    module.main(config)
