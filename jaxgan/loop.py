"""The training loop every kind of training shares: resume, step, log, checkpoint, evaluate,
draw. It knows no kind: what it trains comes as a jaxgan.trainer.Trainer.

    trainer = gan.make_trainer(spec, dataset, config)        # or any kind's trainer
    results = loop.run_training(trainer, config, run_config={...})

What a run leaves in its workdir:
  config.json      the flags and the trainer's description (its kind, its networks: what
                   jaxgan.sample, jaxgan.evaluate and jaxgan.translate rebuild)
  metrics.jsonl    one JSON record per log interval (means over the interval), and one
                   per evaluation (the evaluators' metrics, keys prefixed "eval_")
  events.out.tfevents.*  the same numbers and the pictures, for `tensorboard --logdir WORKDIR`
  checkpoints/     orbax checkpoints, the newest `max_checkpoints` kept
  plots/           the evaluators' pictures (samples_STEP.png, translations_STEP.png, ...),
                   losses.png
  results.json     the final evaluation

Re-running the same command on the same workdir resumes from the newest
checkpoint. The loop never waits on the device between log intervals: the
step's metrics stay on the device until they are logged. With
--steps_per_call=k it calls the step repeated k times in one compiled program
(jaxgan.step.repeat_step) from each multiple of k, single steps elsewhere. A trainer with later
phases (jaxgan.trainer.Phase) switches to a phase's step and stream at its first step; no call
spans two phases. A checkpoint that
cannot be written because the disk is full stops the run with a DiskFullError
(exit status 4 from the command line); the partial checkpoint is removed and
the earlier ones stay valid.
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys
import time
from typing import Any

import jax
import numpy as np
from flax.serialization import to_state_dict
from jax.sharding import Mesh

from jaxgan import evaluators, parallel, plots
from jaxgan.checkpoint import Checkpointer, is_disk_full
from jaxgan.config import LoopConfig
from jaxgan.errors import ConfigError, DiskFullError, NonFiniteError
from jaxgan.preemption import Preempted, StopSignals
from jaxgan.tensorboard import EventWriter
from jaxgan.trainer import Phase, Trainer, phase_at, run_keys


def log(message: str) -> None:
  """Prints a progress line; in a multi-process run only process 0 does."""
  if parallel.is_primary():
    print(message, flush=True)


def append_jsonl(path: str, record: dict[str, Any]) -> None:
  """Appends one JSON line (process 0 only; JSON has no inf/NaN, so those become null)."""
  if parallel.is_primary():
    with open(path, "a") as f:
      f.write(json.dumps(_json_safe(record)) + "\n")


class RunLog:
  """Where a run's numbers and pictures go: WORKDIR/metrics.jsonl and TensorBoard event files
  in WORKDIR (process 0 only; `tensorboard --logdir WORKDIR` shows them)."""

  def __init__(self, workdir: str):
    self.metrics_path = os.path.join(workdir, "metrics.jsonl")
    self.events = EventWriter(workdir) if parallel.is_primary() else None

  def record(self, step: int, values: dict[str, Any]) -> None:
    append_jsonl(self.metrics_path, {"step": step, **values})
    if self.events is not None:
      self.events.scalars(step, values)

  def pictures(self, step: int, paths: list[str]) -> None:
    """Adds PNG files to TensorBoard's image tab, tagged by their kind (samples, ...)."""
    if self.events is None:
      return
    for path in paths:
      with open(path, "rb") as f:
        png = f.read()
      width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
      kind = os.path.basename(path).rsplit("_", 1)[0]
      self.events.image(step, kind, png, height, width)

  def close(self) -> None:
    if self.events is not None:
      self.events.close()


def prepare_workdir(path: str) -> str:
  """Creates the workdir and proves it writable, or raises a one-line ConfigError."""
  path = os.path.abspath(os.path.expanduser(path))
  try:
    os.makedirs(path, exist_ok=True)
    probe = os.path.join(path, f".write_test_{jax.process_index()}")
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as e:
    reason = e.strerror or type(e).__name__
    raise ConfigError(
      f"cannot write to workdir {path!r} ({reason}): pass --workdir=A_WRITABLE_DIRECTORY"
    ) from None
  return path


def format_duration(seconds: float) -> str:
  """42s, 14m51s, 2h03m."""
  seconds = max(0, int(round(seconds)))
  if seconds < 60:
    return f"{seconds}s"
  if seconds < 3600:
    return f"{seconds // 60}m{seconds % 60:02d}s"
  return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


# ---------------------------------------------------------------------------
# Metrics: device values accumulated per interval, averaged and written at log time.
# ---------------------------------------------------------------------------


def _unstacked(pending: list[tuple[int, dict[str, Any]]]) -> list[dict[str, float]]:
  """Per-step metric records from what the calls returned: (1, a step's metrics) or
  (k, k steps' metrics stacked on a leading axis), fetched from the device in one transfer."""
  fetched = jax.device_get([metrics for _, metrics in pending])
  records = []
  for count, metrics in zip([c for c, _ in pending], fetched, strict=True):
    if count == 1:
      records.append(metrics)
    else:
      records.extend({k: v[i] for k, v in metrics.items()} for i in range(count))
  return records


def _stack_batches(batches: list[Any]) -> Any:
  """k batches → one with a leading axis of k, where they are (devices, layout)."""
  return jax.tree.map(lambda *parts: jax.numpy.stack(parts), *batches)


def repeated_step(trainer: Trainer | Phase, k: int):
  """The trainer's (or a phase's) step k times in one compiled program (jaxgan.step.repeat_step),
  or None for k = 1; a one-line ConfigError for a step that cannot be repeated."""
  if k == 1:
    return None
  repeated = getattr(trainer.step, "repeated", None)
  if repeated is None:
    raise ConfigError(
      f"--steps_per_call={k} repeats the step inside one program, but this trainer's step was "
      "not made by jaxgan.step.compile_step: build it with compile_step, or pass 1"
    )
  return repeated(k)


def device_data_of(trainer: Trainer | Phase, config: LoopConfig):
  """--data_on_device: the trainer's (or a phase's) data in device memory
  (jaxgan.data.on_device.DeviceData), placed now; None without the flag; a one-line ConfigError
  for data read on the host."""
  if not config.data_on_device:
    return None
  on_device = getattr(trainer.batches, "on_device", None)
  if on_device is None or not hasattr(trainer.step, "on_data"):
    raise ConfigError(
      f"--data_on_device: this run's data ({type(trainer.batches).__name__}) are read on the "
      "host by its stream, which cannot hold them on the device: drop --data_on_device"
    )
  data = on_device()
  log(f"data on the device: {data.description}")
  return data


AUTO_PROBES = 3  # single steps timed (after the compiling one) before k is chosen
TARGET_CALL_S = 0.05  # --steps_per_call=0 makes a call last at least this long, if it can
MAX_STEPS_PER_CALL = 256


def choose_steps_per_call(step_seconds: float, config: LoopConfig) -> int:
  """--steps_per_call=0: the smallest k that divides the log, checkpoint, evaluation and plot
  intervals and makes a call last TARGET_CALL_S or more (the largest such divisor up to
  MAX_STEPS_PER_CALL when none does).

  Args:
    step_seconds: one step's measured time.
    config: the loop's intervals.

  Returns:
    k ≥ 1.
  """
  g = math.gcd(config.log_every, config.checkpoint_every, config.eval_every, config.plot_every)
  divisors = [d for d in range(1, min(g, MAX_STEPS_PER_CALL) + 1) if g % d == 0]
  for d in divisors:
    if d * step_seconds >= TARGET_CALL_S:
      return d
  return divisors[-1]


def _check_finite(records: list[dict[str, float]], first_step: int) -> None:
  for offset, record in enumerate(records):
    if record["finite"] < 1.0:
      bad = sorted(k for k, v in record.items() if not np.isfinite(v))
      raise NonFiniteError(
        f"non-finite {', '.join(bad) or 'value'} at step {first_step + offset + 1}: the run "
        "diverged; lower --g_lr/--d_lr or add a penalty (the newest checkpoint is still finite)"
      )


def _mean_metrics(records: list[dict[str, float]]) -> dict[str, float]:
  keys = [k for k in records[0] if k != "finite"]
  return {k: float(np.mean([r[k] for r in records])) for k in keys}


LOG_ORDER = ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm")


def _format_metrics(means: dict[str, float], penalty_names) -> str:
  """The log line's metrics: losses, penalties, D's outputs, gradient norms, then the
  loss's own state (e.g. BEGAN's k and M). The totals (loss + penalties) and the metrics of
  a part ("member3/d_loss", a population's) stay in the file."""
  names = [*LOG_ORDER[:2], *penalty_names, *LOG_ORDER[2:]]
  others = sorted(
    k for k in means if k not in names and not k.endswith("_total_loss") and "/" not in k
  )
  return "  ".join(f"{k} {means[k]:.4g}" for k in [*names, *others] if k in means)


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
  """Non-finite floats become None: JSON has no inf or NaN."""
  return {
    k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in values.items()
  }


def _read_jsonl(path: str) -> list[dict[str, Any]]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------------------
# The loop.
# ---------------------------------------------------------------------------


def write_config(workdir: str, config: dict) -> None:
  """WORKDIR/config.json (process 0)."""
  if parallel.is_primary():
    with open(os.path.join(workdir, "config.json"), "w") as f:
      json.dump(config, f, indent=2, default=str)


def _log_evaluation(run_log: RunLog, step: int, results: dict[str, Any]) -> None:
  """Logs the evaluation's summary line and records {"eval_...": ...} at step."""
  if "summary" not in results:
    return
  log(f"step {step}: {results['summary']}")
  values = {f"eval_{k}": v for k, v in results.items() if k not in ("summary", "num_samples")}
  run_log.record(step, values)


def _close_all(checkpoints: Checkpointer, run_log: RunLog) -> None:
  """Closes both; while an error is on its way out, a full disk met here adds nothing."""
  leaving_with_error = sys.exc_info()[0] is not None
  for close in (checkpoints.close, run_log.close):
    try:
      close()
    except OSError as e:
      if not (leaving_with_error and is_disk_full(e)):
        raise


def _draw(workdir, evaluators, state, step, log_terms, run_log: RunLog) -> None:
  """The evaluators' pictures of step (also sent to TensorBoard), and losses.png."""
  paths = [path for evaluator in evaluators for path in evaluator.draw(workdir, state, step)]
  if parallel.is_primary():
    plots.save_loss_curves(
      os.path.join(workdir, "plots", "losses.png"), _read_jsonl(run_log.metrics_path), log_terms
    )
    run_log.pictures(step, sorted(paths))


def dry_run(trainer: Trainer, config: LoopConfig) -> dict[str, Any]:
  """What `run_training` would train, built and traced but not compiled or run (--dry_run).

  jax.eval_shape traces the trainer's init and one step on the first batch: every shape,
  every flag value the networks and losses read, and the metrics' names are checked in the
  time of a trace (seconds), not of a compilation. Nothing is written.

  Args:
    trainer: what would be trained.
    config: the loop's settings (its seed).

  Returns:
    {"dry_run": True, "state_size": numbers in the training state, "metrics": the step's
    metric names}.
  """
  init_key, step_key, _ = run_keys(config.seed)
  batch = trainer.batches.batch_at(0)
  state = jax.eval_shape(trainer.init, init_key, batch)
  _, metrics = jax.eval_shape(trainer.step, state, batch, step_key)
  for phase in trainer.phases:  # each later phase's program the run reaches, on its first batch
    if phase.start < config.num_steps:
      jax.eval_shape(phase.step, state, phase.batches.batch_at(phase.start), step_key)
  size = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(state))
  names = sorted(name for name in metrics if "/" not in name)  # not each population member's
  log(
    f"dry run: {config.num_steps} steps {trainer.summary} would train a state of {size:,} "
    f"numbers; the step returns {', '.join(names)}"
  )
  return {"dry_run": True, "state_size": size, "metrics": names}


def run_training(
  trainer: Trainer,
  config: LoopConfig,
  *,
  mesh: Mesh | None = None,
  run_config: dict | None = None,
) -> dict[str, Any]:
  """Trains `trainer` for config.num_steps steps: resume, step, log, checkpoint, evaluate, draw.

  Args:
    trainer: what is trained (jaxgan.trainer.Trainer, built by a kind).
    config: the loop's settings (workdir, num_steps, seed, intervals).
    mesh: train data-parallel over its devices (jaxgan.parallel); every process of a
      multi-process run calls this with the same arguments.
    run_config: written to config.json beside the trainer's description (the flags).

  Returns:
    The final evaluation, also written to WORKDIR/results.json.
  """
  if mesh is not None:
    parallel.check_batch_size(config.batch_size, mesh)
  if config.dry_run:
    return dry_run(trainer, config)
  if not config.workdir:
    raise ConfigError("the run needs a workdir: pass --workdir=A_WRITABLE_DIRECTORY")
  workdir = prepare_workdir(config.workdir)
  write_config(workdir, {**(run_config or {}), **trainer.describe()})
  init_key, step_key, _ = run_keys(config.seed)
  state = trainer.init(init_key, trainer.batches.batch_at(0))
  log_terms = list(trainer.log_terms)
  run_log = RunLog(workdir)
  if mesh is not None:
    state = parallel.replicate(state, mesh)
  checkpoints = Checkpointer(
    os.path.join(workdir, "checkpoints"), max_to_keep=config.max_checkpoints
  )
  start = 0
  try:
    restored = checkpoints.restore_newest_good(state, warn=log)
  except ConfigError:
    checkpoints.close()  # orbax's background threads end before the error is reported
    run_log.close()
    raise
  if restored is not None:
    state, _ = restored
    start = int(state.step)
    log(f"resuming from the checkpoint at step {start} in {checkpoints.directory}")

  devices = 1 if mesh is None else mesh.size
  processes = f" in {jax.process_count()} processes" if jax.process_count() > 1 else ""
  log(
    f"training {config.num_steps} steps {trainer.summary}, "
    f"on {devices} {jax.devices()[0].platform} device(s){processes}; workdir {workdir}"
  )

  pending: list[tuple[int, dict[str, jax.Array]]] = []  # (steps, their metrics) per call
  interval_start, interval_first_step = time.perf_counter(), start
  timed_from_step = start  # steps/s counts the steps after this one

  def flush(step: int) -> None:
    """Fetches the interval's metrics, stops on non-finite ones, logs and appends them."""
    nonlocal pending, interval_start, interval_first_step, timed_from_step
    if not pending:
      return
    records = _unstacked(pending)
    _check_finite(records, interval_first_step)
    elapsed = time.perf_counter() - interval_start
    rate = max(step - timed_from_step, 1) / max(elapsed, 1e-9)
    means = _mean_metrics(records)
    eta = format_duration((config.num_steps - step) / rate)
    log(
      f"step {step:>{len(str(config.num_steps))}}/{config.num_steps}  {rate:.1f} steps/s  "
      f"ETA {eta}  {_format_metrics(means, log_terms)}"
    )
    run_log.record(step, {"steps_per_s": rate, **means})
    pending = []
    interval_start, interval_first_step, timed_from_step = time.perf_counter(), step, step

  def save(step: int) -> None:
    flush(step)  # a checkpoint is written only after its metrics were checked finite
    checkpoints.save(step, state, {"data_position": step, "seed": config.seed})

  auto = config.steps_per_call == 0  # k chosen from the step's time, after a few steps
  k = 1 if auto else config.steps_per_call
  probe_times: list[float] = []
  step = start

  def enter_phase(step: int):
    """The parts of the phase that trains `step` (jaxgan.trainer.Phase): its compiled step,
    repeated and on the device's data, its stream, and the step where it ends. At a switch
    (after the run's first step) the interval so far is logged first."""
    phase, end = phase_at(trainer, step)
    if step > start:
      flush(step)
      log(f"from step {step}: {phase.summary}")
    device_data = device_data_of(phase, config)
    # a stream that draws k batches in one call (block_at) is read by position
    block_at = getattr(phase.batches, "block_at", None) if config.steps_per_call != 1 else None
    iterator = None if block_at is not None or device_data is not None else phase.batches
    return (
      phase,
      min(config.num_steps, end or config.num_steps),
      repeated_step(phase, k),
      device_data,
      block_at,
      None if iterator is None else iterator.iterate(step),
    )

  try:
    with StopSignals() as stop:
      phase_end = start  # the first pass enters the phase that trains `start`
      while step < config.num_steps:
        if step == phase_end:  # a phase's first step: its own program (compiled on its first call)
          phase, phase_end, repeated, device_data, block_at, batches = enter_phase(step)
          phase_start, ran_repeated = step, False
        called = time.perf_counter()
        # k steps a call from a multiple of k on; single steps up to it and after the last
        count = k if repeated and step % k == 0 and step + k <= phase_end else 1
        if device_data is not None:  # the batches are gathered inside the program
          steps_on_data = phase.step.on_data(device_data.batch_of, count)
          state, step_metrics = steps_on_data(state, device_data.arrays, step_key)
        elif count > 1:
          if block_at is not None:
            block = block_at(step, k)
          else:
            block = _stack_batches([next(batches) for _ in range(k)])
          state, step_metrics = repeated(state, block, step_key)
        else:
          batch = next(batches) if block_at is None else phase.batches.batch_at(step)
          state, step_metrics = phase.step(state, batch, step_key)
        if count == 1 and auto and step > phase_start:  # the first call compiles: time the next
          jax.block_until_ready(step_metrics)
          probe_times.append(time.perf_counter() - called)
          if len(probe_times) == AUTO_PROBES:
            auto, k = False, choose_steps_per_call(min(probe_times), config)
            repeated = repeated_step(phase, k) if hasattr(phase.step, "repeated") else None
            log(
              f"steps per call: {k if repeated else 1} (a step takes "
              f"{1e3 * min(probe_times):.2f} ms; calls of about {TARGET_CALL_S * 1e3:.0f} ms "
              "or more keep the dispatch's cost small)"
            )
        pending.append((count, step_metrics))
        first_call = step == phase_start or (count > 1 and not ran_repeated)
        ran_repeated = ran_repeated or count > 1
        step += count
        if first_call:  # keep compilation (of the step, of its repetition) out of steps/s, ETA
          jax.block_until_ready(step_metrics)
          what = "step" if count == 1 else f"{count} steps in one call"
          log(f"compiled and ran the first {what} in {time.perf_counter() - called:.1f}s")
          interval_start, timed_from_step = time.perf_counter(), step
        log_now = step % config.log_every == 0 or step == config.num_steps
        if log_now:
          flush(step)
        if stop.requested(at_sync_point=log_now):
          save(step)
          checkpoints.wait()
          raise Preempted(step, stop.signal_name, stop.exit_code)
        if step % config.checkpoint_every == 0 or step == config.num_steps:
          save(step)
        evaluate_now = step % config.eval_every == 0 or step == config.num_steps
        draw_now = step % config.plot_every == 0 or step == config.num_steps
        if evaluate_now or draw_now:
          state_dict = to_state_dict(state)  # what the evaluators read, as from a checkpoint
        if evaluate_now:
          results = evaluators.run_all(trainer.evaluators, state_dict)
          _log_evaluation(run_log, step, results)
        if draw_now:
          _draw(workdir, trainer.evaluators, state_dict, step, log_terms, run_log)
    if start >= config.num_steps:  # the run was already complete: evaluate what it left
      results = evaluators.run_all(trainer.evaluators, to_state_dict(state))
  except DiskFullError:
    raise
  except OSError as e:  # metrics, events or pictures on a full disk
    if not is_disk_full(e):
      raise
    raise DiskFullError(
      f"the disk of {workdir} is full at step {step}: free space there (or use a --workdir on "
      "a larger disk) and run the same command again to resume from its newest checkpoint"
    ) from None
  finally:
    _close_all(checkpoints, run_log)

  results = {"step": int(state.step), **_json_safe(results)}
  results.pop("summary", None)
  if parallel.is_primary():
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(results, f, indent=2)
  return results
