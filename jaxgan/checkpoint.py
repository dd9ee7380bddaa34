"""Orbax checkpoints behind one small interface.

    ckpt = Checkpointer(workdir + "/checkpoints", max_to_keep=3)
    ckpt.save(step, state, {"data_position": step})   # asynchronous
    state, meta = ckpt.restore(template_state)         # newest step
    tree, meta = ckpt.restore_raw()                    # no template: nested dicts
    ckpt.close()

Each checkpoint holds the training state pytree and a small JSON dict of
metadata. Orbax writes a step to a temporary folder and renames it when
complete, so a crash mid-write never leaves a half checkpoint as the newest.

A write that fails because the disk is full (or over its quota) raises
DiskFullError from the `save`, `wait` or `close` that finds it out (orbax
writes in the background): the partial STEP.orbax-checkpoint-tmp folder is
removed, orbax's own error logs of it are held back, and the earlier
checkpoints stay readable.
"""

from __future__ import annotations

import errno
import glob
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import orbax.checkpoint as ocp

from jaxgan.errors import ConfigError, DiskFullError

PARTIAL_PATTERN = "*.orbax-checkpoint-tmp*"  # a save orbax has not finished


class Checkpointer:
  """Saves and restores (state, metadata) pairs by step in one directory."""

  def __init__(self, directory: str, *, max_to_keep: int = 3, async_save: bool = True):
    _ignore_late_orbax_callbacks()  # a failing read's siblings end after orbax's loop closed
    _hold_back_disk_full_logs()  # DiskFullError says it once
    self.directory = os.path.abspath(directory)
    self._disk_full = False
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
    """Starts writing `state` as checkpoint `step`; returns before the write ends.

    Args:
      step: the checkpoint's step.
      state: the training state (a pytree).
      metadata: a small JSON dict saved beside it (the data position, the seed).

    Raises:
      DiskFullError: this write, or an earlier one still in the background, found the disk
        full; the partial checkpoint is removed and the earlier ones are intact.
    """
    args = ocp.args.Composite(
      state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(metadata or {})
    )
    self._guard_disk(lambda: self._manager.save(step, args=args), step)

  def _guard_disk(self, write: Callable[[], Any], step: int | None = None) -> Any:
    """write(), with a full disk turned into DiskFullError after its partial checkpoint is
    removed (once: later calls after one have nothing more to say)."""
    try:
      return write()
    except Exception as e:
      if not is_disk_full(e):
        raise
      if self._disk_full:
        return None
      self._disk_full = True
      self._finish_background_writes()
      partial = self._remove_partial_checkpoints()
      failed = partial[0] if partial else step
      good = [s for s in self.all_steps() if s not in partial]
      kept = "there is no earlier checkpoint"
      if good:
        kept = f"the earlier checkpoints (steps {', '.join(map(str, good))}) are intact"
      raise DiskFullError(
        f"the disk of {self.directory} is full: checkpoint {failed} could not be written and "
        f"was removed; {kept}. Free space there (or use a --workdir on a larger disk) and run "
        "the same command again to resume"
      ) from None

  def _finish_background_writes(self) -> None:
    """Lets orbax's writes still in flight end (each fails on the full disk) before their
    folders are removed."""
    try:
      self._manager.wait_until_finished()
    except Exception as e:
      if not is_disk_full(e):
        raise

  def _remove_partial_checkpoints(self, reload: bool = True) -> list[int]:
    """Removes every STEP.orbax-checkpoint-tmp* folder (process 0); their steps, sorted.
    reload: let the manager list the steps again (not once it is closed)."""
    steps = []
    for path in glob.glob(os.path.join(self.directory, PARTIAL_PATTERN)):
      name = os.path.basename(path).split(".", 1)[0]
      if name.isdigit():
        steps.append(int(name))
      if jax.process_index() == 0:
        shutil.rmtree(path, ignore_errors=True)
    if reload:
      self._manager.reload()
    return sorted(steps)

  def restore(self, template: Any, step: int | None = None) -> tuple[Any, dict[str, Any]]:
    """The state saved at `step` (default: newest), shaped like `template`.

    A checkpoint saved for another model is a ConfigError; so is a damaged
    one (see restore_newest_good to skip those)."""
    step = self._resolve(step)
    self._check_matches(step, template)
    try:
      return self._restore_like(step, template)
    except Exception as e:
      raise DamagedCheckpointError(
        f"checkpoint {step} in {self.directory} cannot be read ({_first_line(e)})"
      ) from e

  def restore_newest_good(self, template: Any, warn=print) -> tuple[Any, dict[str, Any]] | None:
    """The newest checkpoint that reads back whole, shaped like `template`; None if there is
    no checkpoint at all.

    A damaged newer checkpoint (a file truncated or missing, say by a disk that
    filled up) is moved aside to `<directory>.damaged/STEP`, with one warning line,
    and the previous one is tried: the run resumes from the last good state, and
    its next save of that step number is not blocked by the damaged files. If
    every checkpoint is damaged, a ConfigError says so."""
    steps = sorted(self.all_steps(), reverse=True)
    if not steps:
      return None
    for step in steps:
      try:
        return self.restore(template, step)
      except DamagedCheckpointError as e:
        warn(f"warning: {e}; skipping it for the one before")
        self._move_aside(step)
    raise ConfigError(
      f"no readable checkpoint in {self.directory} (damaged ones were moved to "
      f"{self.directory}.damaged): start again with a new --workdir"
    )

  def restore_raw(self, step: int | None = None) -> tuple[Any, dict[str, Any]]:
    """The state saved at `step` (default: newest) as nested dicts of arrays.

    Whatever devices and processes wrote it, it is read onto this process's
    first device, so a run trained on a pod can be sampled on a laptop.
    """
    step = self._resolve(step)
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree.map(
      lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=device),
      self._saved_structure(step),
      is_leaf=_is_array_metadata,
    )
    return self._restore_with(step, abstract)

  def _restore_with(self, step: int, abstract: Any) -> tuple[Any, dict[str, Any]]:
    restored = self._manager.restore(
      step,
      args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
      ),
    )
    return restored.state, restored.meta

  def _restore_like(self, step: int, template: Any) -> tuple[Any, dict[str, Any]]:
    """The saved arrays read in the saved tree's structure, each with the sharding of the
    template's array at the same path, then put into the template's structure.

    The paths of the arrays are checked equal beforehand (_check_matches); the trees may
    still differ in nodes without arrays (a state field added since, holding None or {}),
    which restoring against the template directly would refuse.
    """
    wanted = _by_path(_abstract(template))
    saved = self._saved_structure(step)
    saved = getattr(saved, "tree", saved)
    paths = jax.tree_util.tree_flatten_with_path(saved, is_leaf=_is_array_metadata)
    abstract = jax.tree_util.tree_unflatten(
      paths[1], [wanted[_path_name(path)] for path, _ in paths[0]]
    )
    restored, meta = self._restore_with(step, abstract)
    by_path = _by_path(restored)
    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    return jax.tree_util.tree_unflatten(treedef, [by_path[_path_name(p)] for p, _ in flat]), meta

  def _saved_structure(self, step: int) -> Any:
    """The saved state's tree of array metadata (shapes, dtypes), read from its index files."""
    try:
      structure = self._manager.item_metadata(step)["state"]
    except Exception as e:
      raise DamagedCheckpointError(
        f"checkpoint {step} in {self.directory} has no readable index ({_first_line(e)})"
      ) from e
    if structure is None:
      raise DamagedCheckpointError(f"checkpoint {step} in {self.directory} has no state index")
    return structure

  def _check_matches(self, step: int, template: Any) -> None:
    """A ConfigError when the saved arrays' names or shapes differ from the template's."""
    saved = _shapes_by_path(self._saved_structure(step))
    wanted = _shapes_by_path(template)
    if saved != wanted:
      path = sorted(set(saved.items()) ^ set(wanted.items()))[0][0]
      raise ConfigError(
        f"checkpoint {step} in {self.directory} does not match this model (at {path}: saved "
        f"{saved.get(path, 'nothing')}, the model has {wanted.get(path, 'nothing')}); use a "
        "new --workdir or the flags the run was started with"
      )

  def _move_aside(self, step: int) -> None:
    """Moves a damaged step's folder to <directory>.damaged/STEP (process 0 only)."""
    if jax.process_index() == 0:
      source = os.path.join(self.directory, str(step))
      target_dir = self.directory + ".damaged"
      os.makedirs(target_dir, exist_ok=True)
      target = os.path.join(target_dir, str(step))
      suffix = 0
      while os.path.exists(target):
        suffix += 1
        target = os.path.join(target_dir, f"{step}.{suffix}")
      if os.path.exists(source):
        shutil.move(source, target)
    if jax.process_count() > 1:  # every process sees the folder gone before it looks again
      from jax.experimental import multihost_utils

      multihost_utils.sync_global_devices(f"jaxgan_moved_aside_{step}")
    self._manager.reload()

  def wait(self) -> None:
    """Blocks until every started save has been written (DiskFullError if one could not)."""
    self._guard_disk(self._manager.wait_until_finished)

  def close(self) -> None:
    """Waits for the saves in flight (DiskFullError if one could not be written), then
    releases orbax's threads."""
    try:
      self._guard_disk(self._manager.wait_until_finished)
    finally:
      try:
        self._manager.close()
      except Exception as e:  # the background writer's failure, reported above
        if not is_disk_full(e):
          raise
      if self._disk_full:
        self._settle_partial_checkpoints()

  def _settle_partial_checkpoints(self, patience_s: float = 0.3, limit_s: float = 5.0) -> None:
    """Removes partial checkpoints until none has reappeared for patience_s (at most limit_s):
    TensorStore's writes of a failed save can outlive orbax's threads and recreate folders."""
    deadline = time.monotonic() + limit_s
    quiet_since = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < patience_s:
      if glob.glob(os.path.join(self.directory, PARTIAL_PATTERN)):
        self._remove_partial_checkpoints(reload=False)
        quiet_since = time.monotonic()
      time.sleep(0.05)

  def _resolve(self, step: int | None) -> int:
    steps = sorted(self.all_steps())
    if not steps:
      raise ConfigError(f"no checkpoint in {self.directory}: train first, or check --workdir")
    if step is None:
      return steps[-1]
    if step not in steps:
      raise ConfigError(
        f"no checkpoint {step} in {self.directory}: it holds step(s) {', '.join(map(str, steps))}"
      )
    return step


def _ignore_late_orbax_callbacks() -> None:
  """When one read of a damaged checkpoint fails, the reads orbax started for its other
  files still complete in TensorStore's threads, and their callbacks find orbax's event loop
  already closed: each would print a "RuntimeError: Event loop is closed" traceback (an
  unraisable exception) around the run's one-line report. Those, and only those, are
  dropped (from the first Checkpointer on: they can come before the failure is raised, from
  reading the index as well as the arrays); every other unraisable exception is reported
  as before."""
  previous = sys.unraisablehook
  if getattr(previous, "drops_closed_loop_errors", False):
    return

  def unraisablehook(unraisable):
    closed_loop = isinstance(unraisable.exc_value, RuntimeError) and (
      str(unraisable.exc_value) == "Event loop is closed"
    )
    if not closed_loop:
      previous(unraisable)

  unraisablehook.drops_closed_loop_errors = True
  sys.unraisablehook = unraisablehook


DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
DISK_FULL_TEXTS = ("No space left on device", "Disk quota exceeded")


def is_disk_full(e: BaseException) -> bool:
  """Whether an exception, or one it was raised from, says the disk is full: an OSError with
  ENOSPC or EDQUOT, or orbax's and TensorStore's errors that quote the system's message."""
  seen = set()
  while e is not None and id(e) not in seen:
    seen.add(id(e))
    if isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS:
      return True
    if any(text in str(e) for text in DISK_FULL_TEXTS):
      return True
    e = e.__cause__ or e.__context__
  return False


class _DiskFullLogFilter(logging.Filter):
  """Drops orbax's error logs of a write that failed on a full disk (DiskFullError reports
  it once, in one line)."""

  def filter(self, record: logging.LogRecord) -> bool:
    if record.exc_info and is_disk_full(record.exc_info[1]):
      return False
    message = record.getMessage()
    return not any(text in message for text in DISK_FULL_TEXTS)


def _hold_back_disk_full_logs() -> None:
  absl_logger = logging.getLogger("absl")
  if not any(isinstance(f, _DiskFullLogFilter) for f in absl_logger.filters):
    absl_logger.addFilter(_DiskFullLogFilter())


class DamagedCheckpointError(ConfigError):
  """A checkpoint whose files cannot be read back (truncated, missing, corrupt)."""


def _abstract(template: Any) -> Any:
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, template)


def _is_array_metadata(leaf: Any) -> bool:
  return hasattr(leaf, "shape") and hasattr(leaf, "dtype")


def _shapes_by_path(tree: Any) -> dict[str, tuple[int, ...]]:
  """{"generator/params/Dense_0/kernel": (3, 16), ...} for a state or orbax's saved metadata."""
  return {path: tuple(jax.numpy.shape(leaf)) for path, leaf in _by_path(tree).items()}


def _by_path(tree: Any) -> dict[str, Any]:
  """{"generator/params/Dense_0/kernel": leaf, ...} for a state or orbax's saved metadata.

  Orbax saves dataclasses and named tuples as dicts of their fields and tuples
  as lists; naming each path element by its key, attribute or index makes
  the two spellings of one tree equal."""
  tree = getattr(tree, "tree", tree)  # orbax's TreeMetadata wraps the tree
  leaves = jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_array_metadata)[0]
  return {_path_name(path): leaf for path, leaf in leaves}


def _path_name(path) -> str:
  return "/".join(_key_name(k) for k in path)


def _key_name(key: Any) -> str:
  for attribute in ("key", "name", "idx"):
    if hasattr(key, attribute):
      return str(getattr(key, attribute))
  return str(key)


def _first_line(e: Exception) -> str:
  text = str(e).strip().splitlines()
  return text[0][:200] if text else type(e).__name__
