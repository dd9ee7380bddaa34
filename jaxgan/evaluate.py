"""Evaluates a finished (or running) run: python -m jaxgan.evaluate.

  python -m jaxgan.evaluate --workdir=runs/IMAGE_RUN [--num_samples=10000] [--step=S]
      [--fid_features=auto|digits_classifier|inception:PATH|none] [--seed=0]
      [--evaluators=features,digits_judge]

Loads the newest checkpoint (or --step), rebuilds the run's networks from its
config.json, and runs the evaluators the run was trained with (or
--evaluators, by name; jaxgan.evaluators lists them) on it: the same code as
the training loop's evaluations, with --num_samples samples (and at most as
many real images) from noise of --seed:
  - toy mixtures: mode coverage and % high quality;
  - images: FID, KID, precision/recall and IS on the features of --fid_features
    (default: the one the run used); on digits also the independent judge's
    class coverage (or class accuracy for conditional runs);
  - image-to-image runs: the held-out translation checks.
Prints one summary line and writes WORKDIR/evaluation.json. Compare FIDs only at
equal --num_samples: FID is biased upward for small samples.

  python -m jaxgan.evaluate --workdir=runs/CONDITIONAL_RUN --truncation_sweep=0.25,0.5,1,1.5,2,0

evaluates any run that draws from noise once per truncation threshold t (z from N(0, I)
truncated to [−t, t]; 0: not truncated) on the same noise key, and draws the trade-off as Brock et
al. 2019 (Fig. 17) do: FID and IS against t, IS against FID, and precision, recall and (for a
class-conditional run on digits) the judge's class accuracy against t, in
WORKDIR/truncation_sweep.png, with the numbers in WORKDIR/truncation_sweep.json.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import jax
from absl import flags

from jaxgan import cli, evaluators, features, plots, runs
from jaxgan.errors import ConfigError

flags.DEFINE_string("workdir", None, "The run's workdir (holds config.json and checkpoints/).")
flags.DEFINE_integer("num_samples", 2500, "Generated samples (and at most as many real ones).")
flags.DEFINE_integer("seed", 0, "Seed of the noise z.")
flags.DEFINE_integer("step", None, "Checkpoint step to evaluate (default: the newest).")
flags.DEFINE_string("fid_features", None, "Default: the run's own. " + features.FEATURES_HELP)
flags.DEFINE_list(
  "evaluators", None, f"Default: the run's own. Any of {', '.join(evaluators.EVALUATORS)}."
)
flags.DEFINE_list(
  "truncation_sweep",
  None,
  "Truncation thresholds t to evaluate at, comma-separated (0: untruncated), e.g. "
  "0.25,0.5,1,2,0; writes truncation_sweep.png and .json.",
)
FLAGS = flags.FLAGS


def evaluate_run(
  workdir: str,
  num_samples: int = 2500,
  *,
  fid_features: str | None = None,
  seed: int = 0,
  step: int | None = None,
  evaluator_names: Sequence[str] | None = None,
  truncations: Sequence[float | None] = (None,),
) -> dict[str, Any] | list[dict[str, Any]]:
  """The evaluation of the module docstring.

  Args:
    workdir: the run's workdir.
    num_samples: generated samples (and at most as many real ones).
    fid_features: the feature network (default: the run's own).
    seed: the seed of the noise.
    step: the checkpoint (default: the newest).
    evaluator_names: the evaluators (default: the run's own, or those that fit its data).
    truncations: evaluate once per threshold (None: untruncated noise).

  Returns:
    The evaluators' metrics and a one-line "summary"; with several truncations, a list of
    them, each with its "truncation".
  """
  run = runs.restore(workdir, step)
  spec = fid_features or run.config.get("flags", {}).get("fid_features", "auto")
  features.check_features_flag(spec)
  names = evaluator_names or run.config.get("evaluators") or evaluators.default_names(run.model)
  sweep = []
  for truncation in truncations:
    settings = evaluators.EvalSettings(
      jax.random.key(seed), num_samples, spec, truncation=truncation
    )
    results = evaluators.run_all(evaluators.build(names, run.model, settings), run.state)
    if "summary" not in results:
      raise ConfigError(
        f"nothing to compute for {run.config.get('dataset')} with {', '.join(names)} and "
        f"--fid_features={spec}: pass --fid_features=inception:PATH (see BUILD.md)"
      )
    sweep.append({"truncation": truncation, **results})
  return sweep if len(truncations) > 1 else results


def parse_truncations(values: Sequence[str]) -> list[float | None]:
  """--truncation_sweep's thresholds: positive floats, 0 for untruncated (None), or a
  one-line ConfigError."""
  thresholds = []
  for value in values:
    try:
      t = float(value)
    except ValueError:
      t = -1.0
    if t < 0:
      raise ConfigError(
        f"--truncation_sweep takes thresholds t ≥ 0 (0: untruncated), got {value!r}"
      )
    thresholds.append(t or None)
  if len(thresholds) < 2:
    raise ConfigError("--truncation_sweep needs at least two thresholds, e.g. 0.5,1,2,0")
  return thresholds


def write_sweep(workdir: str, sweep: list[dict[str, Any]]) -> str:
  """truncation_sweep.json and the plot (jaxgan.plots.save_truncation_sweep); its path."""
  rows = [{k: v for k, v in r.items() if k != "summary"} for r in sweep]
  with open(os.path.join(workdir, "truncation_sweep.json"), "w") as f:
    json.dump(rows, f, indent=2)
  path = os.path.join(workdir, "truncation_sweep.png")
  plots.save_truncation_sweep(path, rows, title=os.path.basename(os.path.normpath(workdir)))
  return path


def main(argv):
  del argv
  if not FLAGS.workdir:
    raise ConfigError("--workdir is required: the directory of a trained run")
  if FLAGS.num_samples < 2:
    raise ConfigError(f"--num_samples must be at least 2, got {FLAGS.num_samples}")
  truncations = parse_truncations(FLAGS.truncation_sweep) if FLAGS.truncation_sweep else [None]
  results = evaluate_run(
    FLAGS.workdir,
    FLAGS.num_samples,
    fid_features=FLAGS.fid_features,
    seed=FLAGS.seed,
    step=FLAGS.step,
    evaluator_names=FLAGS.evaluators,
    truncations=truncations,
  )
  if isinstance(results, list):
    for row in results:
      print(f"truncation {row['truncation'] or 'none'}: {row['summary']}")
    print(f"wrote {write_sweep(FLAGS.workdir, results)}")
    return
  results["num_samples"] = FLAGS.num_samples
  with open(os.path.join(FLAGS.workdir, "evaluation.json"), "w") as f:
    json.dump({k: v for k, v in results.items() if k != "summary"}, f, indent=2)
  print(results["summary"])


if __name__ == "__main__":
  cli.run(main)
