"""The toy table of BENCHMARKS.md and the experiments guide: each experiment's defaults, many seeds.

  python benchmarks/toy_table.py [--experiments=gan,wgan,wgan_gp] [--datasets=ring8,grid25]
      [--seeds=5] [--first_seed=0] [--out=benchmarks/toy_table.jsonl]
      [--extra_flags="--num_steps=2000"] [--population]

Runs `python experiments/EXPERIMENT.py --dataset=D --seed=S` as a user would,
one run at a time, and appends one JSON line per run (final mode coverage
and wall time, from the run's results.json) to --out, so an interrupted
table keeps what it has and a rerun skips the runs already there. Prints the
markdown table (means over seeds, min–max in brackets) at the end.

With --population the seeds of an experiment and dataset train as one population in one
command (`--population=SEEDS --seed=FIRST_SEED --data_on_device`, jaxgan.population), and
each member's result is a row as a separate run's would be; the command's wall time is
divided among its members (the table's column stays a run's share of the machine).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

flags.DEFINE_list("experiments", ["gan", "wgan", "wgan_gp"], "Experiment scripts to run.")
flags.DEFINE_list("datasets", ["ring8", "grid25"], "Toy datasets.")
flags.DEFINE_integer("seeds", 5, "Seeds 0..N-1 per experiment and dataset.")
flags.DEFINE_integer("first_seed", 0, "Start at this seed (to share the runs among workers).")
flags.DEFINE_string("out", os.path.join(ROOT, "benchmarks", "toy_table.jsonl"), "JSON lines.")
flags.DEFINE_string("extra_flags", "", "More flags for every run.")
flags.DEFINE_bool(
  "population", False, "Train the seeds of each experiment and dataset as one population."
)
FLAGS = flags.FLAGS


def machine() -> str:
  """The CPU model and the cores this run may use, e.g. AMD EPYC ... (1 of 2 cores)."""
  model = platform.processor() or platform.machine()
  if os.path.exists("/proc/cpuinfo"):
    with open("/proc/cpuinfo") as f:
      names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    model = names[0] if names else model
  usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  if usable == os.cpu_count():
    return f"{model} ({usable} cores)"
  return f"{model} ({usable} of {os.cpu_count()} cores)"


def train(experiment: str, dataset: str, *flags: str) -> tuple[float, dict]:
  """(wall seconds, results.json) of `python experiments/EXPERIMENT.py --dataset=D FLAGS`."""
  with tempfile.TemporaryDirectory() as workdir:
    cmd = [
      sys.executable,
      os.path.join(ROOT, "experiments", f"{experiment}.py"),
      f"--dataset={dataset}",
      *flags,
      f"--workdir={workdir}",
      *shlex.split(FLAGS.extra_flags),
    ]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    with open(os.path.join(workdir, "results.json")) as f:
      return seconds, json.load(f)


def table_row(experiment: str, dataset: str, seed: int, wall_s: float, results: dict, **more):
  """One JSON line of the table: a run's settings, wall time, machine and final evaluation."""
  return {
    "experiment": experiment,
    "dataset": dataset,
    "seed": seed,
    "extra_flags": FLAGS.extra_flags,
    **more,
    "wall_s": round(wall_s, 1),
    "machine": machine(),
    **results,
  }


def run_one(experiment: str, dataset: str, seed: int) -> dict:
  seconds, results = train(experiment, dataset, f"--seed={seed}")
  return table_row(experiment, dataset, seed, seconds, results)


def run_population(experiment: str, dataset: str, seeds: range) -> list[dict]:
  """The rows of seeds `seeds` trained as one population (one command)."""
  seconds, results = train(
    experiment, dataset, f"--seed={seeds[0]}", f"--population={len(seeds)}", "--data_on_device"
  )
  rows = []
  for i, seed in enumerate(seeds):
    prefix = f"member{i}_"
    member = {k.removeprefix(prefix): v for k, v in results.items() if k.startswith(prefix)}
    more = {"population": len(seeds), "command_wall_s": round(seconds, 1)}
    member = {"step": results["step"], **member}
    rows.append(table_row(experiment, dataset, seed, seconds / len(seeds), member, **more))
  return rows


def read_rows(path: str) -> list[dict]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def markdown(rows: list[dict]) -> str:
  lines = [
    "| experiment | dataset | seeds | modes (of K) | % high quality | wall time |",
    "| --- | --- | --- | --- | --- | --- |",
  ]
  for experiment in FLAGS.experiments:
    for dataset in FLAGS.datasets:
      sel = [r for r in rows if r["experiment"] == experiment and r["dataset"] == dataset]
      if not sel:
        continue
      modes = [r["modes"] for r in sel]
      hq = [100 * r["high_quality"] for r in sel]
      wall = [r["wall_s"] for r in sel]
      lines.append(
        f"| {experiment} | {dataset} | {len(sel)} | "
        f"{sum(modes) / len(sel):.1f} [{min(modes)}–{max(modes)}] of {sel[0]['num_modes']} | "
        f"{sum(hq) / len(sel):.1f} [{min(hq):.1f}–{max(hq):.1f}] | "
        f"{sum(wall) / len(sel) / 60:.1f} min |"
      )
  return "\n".join(lines)


def main(argv):
  del argv
  rows = read_rows(FLAGS.out)
  done = {(r["experiment"], r["dataset"], r["seed"], r.get("extra_flags", "")) for r in rows}
  for experiment in FLAGS.experiments:
    for dataset in FLAGS.datasets:
      seeds = range(FLAGS.first_seed, FLAGS.seeds)
      todo = [s for s in seeds if (experiment, dataset, s, FLAGS.extra_flags) not in done]
      if FLAGS.population and todo:  # members are seeds in a row: keep only the rows not there
        members = run_population(experiment, dataset, range(todo[0], todo[-1] + 1))
        new_rows = [row for row in members if row["seed"] in todo]
      else:
        new_rows = (run_one(experiment, dataset, seed) for seed in todo)
      for row in new_rows:
        print(json.dumps(row), flush=True)
        with open(FLAGS.out, "a") as f:
          f.write(json.dumps(row) + "\n")
        rows.append(row)
  rows = [r for r in rows if r.get("extra_flags", "") == FLAGS.extra_flags]
  print(markdown(rows))


if __name__ == "__main__":
  app.run(main)
