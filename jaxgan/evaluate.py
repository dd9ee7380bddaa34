"""Evaluates a finished (or running) run: python -m jaxgan.evaluate.

  python -m jaxgan.evaluate --workdir=runs/dcgan_digits [--num_samples=10000] [--step=S]
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
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import jax
from absl import flags

from jaxgan import cli, evaluators, features, runs
from jaxgan.errors import ConfigError

flags.DEFINE_string("workdir", None, "The run's workdir (holds config.json and checkpoints/).")
flags.DEFINE_integer("num_samples", 2500, "Generated samples (and at most as many real ones).")
flags.DEFINE_integer("seed", 0, "Seed of the noise z.")
flags.DEFINE_integer("step", None, "Checkpoint step to evaluate (default: the newest).")
flags.DEFINE_string("fid_features", None, "Default: the run's own. " + features.FEATURES_HELP)
flags.DEFINE_list(
  "evaluators", None, f"Default: the run's own. Any of {', '.join(evaluators.EVALUATORS)}."
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
) -> dict[str, Any]:
  """The evaluation of the module docstring.

  Args:
    workdir: the run's workdir.
    num_samples: generated samples (and at most as many real ones).
    fid_features: the feature network (default: the run's own).
    seed: the seed of the noise.
    step: the checkpoint (default: the newest).
    evaluator_names: the evaluators (default: the run's own, or those that fit its data).

  Returns:
    The evaluators' metrics and a one-line "summary".
  """
  run = runs.restore(workdir, step)
  spec = fid_features or run.config.get("flags", {}).get("fid_features", "auto")
  features.check_features_flag(spec)
  names = evaluator_names or run.config.get("evaluators") or evaluators.default_names(run.model)
  settings = evaluators.EvalSettings(jax.random.key(seed), num_samples, spec)
  results = evaluators.run_all(evaluators.build(names, run.model, settings), run.state)
  if "summary" not in results:
    raise ConfigError(
      f"nothing to compute for {run.config.get('dataset')} with {', '.join(names)} and "
      f"--fid_features={spec}: pass --fid_features=inception:PATH (see BUILD.md)"
    )
  return results


def main(argv):
  del argv
  if not FLAGS.workdir:
    raise ConfigError("--workdir is required: the directory of a trained run")
  if FLAGS.num_samples < 2:
    raise ConfigError(f"--num_samples must be at least 2, got {FLAGS.num_samples}")
  results = evaluate_run(
    FLAGS.workdir,
    FLAGS.num_samples,
    fid_features=FLAGS.fid_features,
    seed=FLAGS.seed,
    step=FLAGS.step,
    evaluator_names=FLAGS.evaluators,
  )
  results["num_samples"] = FLAGS.num_samples
  with open(os.path.join(FLAGS.workdir, "evaluation.json"), "w") as f:
    json.dump({k: v for k, v in results.items() if k != "summary"}, f, indent=2)
  print(results["summary"])


if __name__ == "__main__":
  cli.run(main)
