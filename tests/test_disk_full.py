"""A disk that fills during a checkpoint write: one line, exit status 4, the partial checkpoint
removed, the earlier ones readable, and the run resumes once there is room."""

import errno
import os
import subprocess

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY, one_line_error, run

from jaxgan.checkpoint import Checkpointer, is_disk_full
from jaxgan.errors import DiskFullError


def test_disk_full_errors_are_recognized():
  assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
  assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
  tensorstore = ValueError("RESOURCE_EXHAUSTED: ... No space left on device [os_error_code='28']")
  try:
    try:
      raise tensorstore
    except ValueError as e:
      raise RuntimeError("Save Finalize thread failed") from e
  except RuntimeError as chained:
    assert is_disk_full(chained)
  assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
  assert not is_disk_full(ValueError("shapes do not match"))


def test_an_injected_write_error_removes_the_partial_checkpoint(tmp_path):
  """The write of step 2 fails in the background as TensorStore fails on a full disk: the
  next save raises DiskFullError naming step 2, its temporary folder is gone, step 1 reads."""
  directory = str(tmp_path / "checkpoints")
  checkpoints = Checkpointer(directory, async_save=False)
  state = {"w": jnp.arange(4.0)}
  checkpoints.save(1, state)
  real_save = checkpoints._manager.save

  def failing_save(step, args):
    os.makedirs(os.path.join(directory, f"{step}.orbax-checkpoint-tmp", "state"))
    raise ValueError(
      f"RESOURCE_EXHAUSTED: Error writing local file {directory}/{step}.orbax-checkpoint-tmp/"
      "state/_sharding: Failed to write 11131 bytes to file 7: No space left on device "
      "[os_error_code='28']"
    )

  checkpoints._manager.save = failing_save
  with pytest.raises(DiskFullError) as error:
    checkpoints.save(2, state)
  message = str(error.value)
  assert "is full" in message and "checkpoint 2 could not be written" in message
  assert (
    "the earlier checkpoints (steps 1) are intact" in message
    and "run the same command again" in message
  )
  assert sorted(os.listdir(directory)) == ["1"]
  checkpoints.close()  # nothing more to say
  checkpoints._manager.save = real_save
  restored, _ = Checkpointer(directory, async_save=False).restore(state)
  np.testing.assert_array_equal(restored["w"], np.arange(4.0))


@pytest.fixture
def small_disk(tmp_path):
  """A 400 KB tmpfs (root only): the real ENOSPC of the kernel, through orbax and TensorStore."""
  mount_point = tmp_path / "disk"
  mount_point.mkdir()
  mounted = subprocess.run(
    ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount_point)], capture_output=True
  )
  if mounted.returncode != 0:
    pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
  yield mount_point
  subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_run_on_a_full_disk_stops_with_one_line_and_resumes(small_disk):
  workdir = small_disk / "run"
  flags = [
    f"--workdir={workdir}",
    "--dataset=ring8",
    "--checkpoint_every=1",
    "--plot_every=100",
    "--eval_every=100",
    "--max_checkpoints=10",
    *TINY,
  ]
  proc = run(["experiments/wgan_gp.py", "--num_steps=20", *flags])
  one_line_error(proc, "is full", "could not be written and was removed", "are intact", code=4)
  checkpoints = sorted(os.listdir(workdir / "checkpoints"), key=int)
  assert checkpoints and not any("tmp" in name for name in checkpoints), checkpoints
  last_good = int(checkpoints[-1])
  grown = subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk)], capture_output=True)
  assert grown.returncode == 0, grown.stderr  # space is freed
  proc = run(["experiments/wgan_gp.py", f"--num_steps={last_good + 2}", *flags])
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert f"resuming from the checkpoint at step {last_good}" in proc.stdout
