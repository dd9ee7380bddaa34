"""Stopping cleanly when the machine is taken away: SIGTERM (a preempted cloud VM, a
cluster scheduler) or SIGINT (Ctrl-C).

    with StopSignals() as stop:
      for step in ...:
        state = step_fn(state, ...)
        if stop.requested(at_sync_point=...):
          save a checkpoint, then raise Preempted(step, stop.signal_name)

The handler only records the signal; the loop finishes the step it is in,
writes a checkpoint and exits, so the run resumes exactly where it stopped.
A second Ctrl-C while that checkpoint is written is ignored; a third one
gives Python's KeyboardInterrupt back, for a user who does not want to wait.

In a multi-process run the processes must agree on the step to stop at,
since saving a checkpoint is collective: each process's flag is combined
with the others' (any one stops all) only at sync points, the steps where
the loop already fetches metrics from the devices, so there is no extra
host round trip per step.
"""

from __future__ import annotations

import signal
import threading

import jax
import numpy as np


class Preempted(Exception):
  """The run stopped on a signal after writing a checkpoint at `step`."""

  def __init__(self, step: int, signal_name: str, exit_code: int):
    super().__init__(
      f"stopped by {signal_name} after step {step}; its checkpoint is written: run the same "
      "command again to resume"
    )
    self.step, self.signal_name, self.exit_code = step, signal_name, exit_code


class StopSignals:
  """Records SIGTERM and SIGINT while active (a context manager) instead of dying on them."""

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.signal_number: int | None = None
    self._count = 0
    self._previous: dict[int, object] = {}

  def __enter__(self) -> StopSignals:
    if threading.current_thread() is threading.main_thread():  # only it may set handlers
      for number in self.SIGNALS:
        self._previous[number] = signal.signal(number, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for number, handler in self._previous.items():
      signal.signal(number, handler)
    self._previous.clear()

  def _handle(self, number, frame) -> None:
    self._count += 1
    if self.signal_number is None:
      self.signal_number = number
    if number == signal.SIGINT and self._count >= 3:
      raise KeyboardInterrupt

  @property
  def signal_name(self) -> str:
    return signal.Signals(self.signal_number).name if self.signal_number else "signal"

  @property
  def exit_code(self) -> int:
    """128 + the signal's number, the shell's convention for a run ended by a signal."""
    return 128 + (self.signal_number or 0)

  def requested(self, *, at_sync_point: bool) -> bool:
    """Whether to stop now. A single process answers at every step; several processes only
    at sync points, where they agree (one process's signal stops them all)."""
    if jax.process_count() == 1:
      return self.signal_number is not None
    if not at_sync_point:
      return False
    from jax.experimental import multihost_utils

    flags = multihost_utils.process_allgather(np.int32(self.signal_number or 0))
    if self.signal_number is None and np.any(flags):
      self.signal_number = int(np.max(flags))
    return bool(np.any(flags))
