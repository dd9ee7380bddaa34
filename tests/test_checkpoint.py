"""The orbax checkpoint interface: round trip, newest-K retention, raw restore, mismatch errors."""

import sys
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.checkpoint import Checkpointer
from jaxgan.errors import ConfigError


def state(value=1.0):
  return {"params": {"w": jnp.full((3, 2), value), "b": jnp.arange(2.0)}, "step": jnp.int32(4)}


def test_round_trip_and_retention(tmp_path):
  ckpt = Checkpointer(str(tmp_path / "ckpt"), max_to_keep=2)
  for step in (1, 2, 3):
    ckpt.save(step, state(step), {"data_position": step})
  ckpt.wait()
  assert ckpt.all_steps() == [2, 3] and ckpt.latest_step() == 3
  restored, meta = ckpt.restore(state(0.0))
  np.testing.assert_array_equal(restored["params"]["w"], np.full((3, 2), 3.0))
  assert meta == {"data_position": 3}
  older, _ = ckpt.restore(state(0.0), step=2)
  np.testing.assert_array_equal(older["params"]["w"], np.full((3, 2), 2.0))
  for restore in (ckpt.restore, ckpt.restore_raw):
    args = (state(0.0),) if restore == ckpt.restore else ()
    with pytest.raises(ConfigError, match=r"no checkpoint 1 in .*: it holds step\(s\) 2, 3$"):
      restore(*args, step=1)  # retention removed it
  raw, _ = ckpt.restore_raw()
  np.testing.assert_array_equal(raw["params"]["b"], [0.0, 1.0])
  ckpt.close()


def test_mismatched_template_is_a_config_error(tmp_path):
  ckpt = Checkpointer(str(tmp_path / "ckpt"))
  ckpt.save(1, state())
  ckpt.wait()
  other = {"params": {"w": jnp.zeros((5, 5)), "b": jnp.zeros(2)}, "step": jnp.int32(0)}
  with pytest.raises(ConfigError, match="does not match this model"):
    ckpt.restore(other)
  ckpt.close()


def test_no_checkpoint_is_a_config_error(tmp_path):
  ckpt = Checkpointer(str(tmp_path / "empty"))
  with pytest.raises(ConfigError, match="no checkpoint in"):
    ckpt.restore(state())
  ckpt.close()


def test_save_then_donate(tmp_path):
  """An asynchronous save must not read buffers that the next step donates."""
  ckpt = Checkpointer(str(tmp_path / "ckpt"))
  s = state(2.0)
  ckpt.save(1, s)
  jax.jit(lambda x: jax.tree.map(lambda a: a + 1, x), donate_argnums=0)(s)
  ckpt.wait()
  restored, _ = ckpt.restore(state(0.0))
  np.testing.assert_array_equal(restored["params"]["w"], np.full((3, 2), 2.0))
  ckpt.close()


def test_late_closed_loop_callbacks_of_a_failed_read_are_dropped(tmp_path, monkeypatch):
  """TensorStore reads that finish after orbax's event loop closed (a damaged checkpoint) raise
  "Event loop is closed" as unraisable exceptions; a Checkpointer keeps them off stderr and
  passes every other unraisable exception on."""
  seen = []
  monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: seen.append(unraisable.exc_value))
  Checkpointer(str(tmp_path / "checkpoints")).close()
  sys.unraisablehook(SimpleNamespace(exc_value=RuntimeError("Event loop is closed")))
  sys.unraisablehook(SimpleNamespace(exc_value=ValueError("something else")))
  assert [str(e) for e in seen] == ["something else"]
