"""Orbax checkpoints behind one small interface.

    ckpt = Checkpointer(workdir + "/checkpoints", max_to_keep=3)
    ckpt.save(step, state, {"data_position": step})   # asynchronous
    state, meta = ckpt.restore(template_state)         # newest step
    tree, meta = ckpt.restore_raw()                    # no template: nested dicts
    ckpt.close()

Each checkpoint holds the training state pytree and a small JSON dict of
metadata. Orbax writes a step to a temporary folder and renames it when
complete, so a crash mid-write never leaves a half checkpoint as the newest.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp

from jaxgan.errors import ConfigError


class Checkpointer:
  """Saves and restores (state, metadata) pairs by step in one directory."""

  def __init__(self, directory: str, *, max_to_keep: int = 3, async_save: bool = True):
    self.directory = os.path.abspath(directory)
    options = ocp.CheckpointManagerOptions(
      max_to_keep=max_to_keep, create=True, enable_async_checkpointing=async_save
    )
    self._manager = ocp.CheckpointManager(
      self.directory,
      options=options,
      item_handlers={"state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()},
    )

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def save(self, step: int, state: Any, metadata: dict[str, Any] | None = None) -> None:
    """Starts writing `state` as checkpoint `step`; returns before the write ends."""
    self._manager.save(
      step,
      args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(metadata or {})
      ),
    )

  def restore(self, template: Any, step: int | None = None) -> tuple[Any, dict[str, Any]]:
    """The state saved at `step` (default: newest), shaped like `template`."""
    step = self._resolve(step)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    try:
      restored = self._manager.restore(
        step,
        args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
        ),
      )
    except (ValueError, KeyError, TypeError) as e:
      raise ConfigError(
        f"checkpoint {step} in {self.directory} does not match this model ({_first_line(e)}); "
        "use a new --workdir or the flags the run was started with"
      ) from e
    return restored.state, restored.meta

  def restore_raw(self, step: int | None = None) -> tuple[Any, dict[str, Any]]:
    """The state saved at `step` (default: newest) as nested dicts of arrays.

    Whatever devices and processes wrote it, it is read onto this process's
    first device, so a run trained on a pod can be sampled on a laptop.
    """
    step = self._resolve(step)
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree.map(
      lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=device),
      self._manager.item_metadata(step)["state"],
      is_leaf=lambda leaf: hasattr(leaf, "shape"),
    )
    restored = self._manager.restore(
      step,
      args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
      ),
    )
    return restored.state, restored.meta

  def wait(self) -> None:
    """Blocks until every started save has been written."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()

  def _resolve(self, step: int | None) -> int:
    step = self.latest_step() if step is None else step
    if step is None:
      raise ConfigError(f"no checkpoint in {self.directory}: train first, or check --workdir")
    return step


def _first_line(e: Exception) -> str:
  text = str(e).strip().splitlines()
  return text[0][:200] if text else type(e).__name__
