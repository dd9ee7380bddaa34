"""Evaluates a finished (or running) run: python -m jaxgan.evaluate.

  python -m jaxgan.evaluate --workdir=runs/dcgan_digits [--num_samples=10000] [--step=S]
      [--fid_features=auto|digits_classifier|inception:PATH|none] [--seed=0]

Loads the newest checkpoint (or --step), draws --num_samples samples from the
EMA generator when the run kept one (class-balanced for conditional runs), and
computes what fits the data:
  - toy mixtures: mode coverage and % high quality (jaxgan.metrics.mode_coverage);
  - images: FID, KID, precision/recall and IS on the features of --fid_features
    (default: the one the run used), against as many real images of the training
    set (all of them when it is smaller); on digits also the independent judge's
    class coverage (or class accuracy for conditional runs).
Prints one summary line and writes WORKDIR/evaluation.json. Compare FIDs only at
equal --num_samples: FID is biased upward for small samples.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from absl import flags

from jaxgan import cli, data, features, metrics, monitors, runs
from jaxgan.data import ToyDataset
from jaxgan.errors import ConfigError

flags.DEFINE_string("workdir", None, "The run's workdir (holds config.json and checkpoints/).")
flags.DEFINE_integer("num_samples", 2500, "Generated samples (and at most as many real ones).")
flags.DEFINE_integer("seed", 0, "Seed of the noise z.")
flags.DEFINE_integer("step", None, "Checkpoint step to evaluate (default: the newest).")
flags.DEFINE_string("fid_features", None, "Default: the run's own. " + features.FEATURES_HELP)
FLAGS = flags.FLAGS


def run_dataset(config: dict):
  """The dataset the run trained on, from its config.json."""
  run_flags = config.get("flags", {})
  image_size = (config.get("image_shape") or [run_flags.get("image_size", 32)])[0]
  return data.get_dataset(
    config["dataset"], image_size=image_size, data_dir=run_flags.get("data_dir")
  )


def evaluate_run(
  workdir: str,
  num_samples: int = 2500,
  *,
  fid_features: str | None = None,
  seed: int = 0,
  step: int | None = None,
) -> dict[str, Any]:
  """The evaluation of the module docstring, as a dict with a one-line "summary"."""
  config = runs.read_run_config(workdir)
  dataset = run_dataset(config)
  samples = runs.draw_samples(workdir, num_samples, seed, step)
  if isinstance(dataset, ToyDataset):
    if dataset.mixture is None:
      raise ConfigError(f"{dataset.name} has no modes to count: evaluate a mixture run")
    coverage = metrics.mode_coverage(samples, dataset.mixture.means, dataset.mixture.std)
    return {**coverage._asdict(), "summary": coverage.summary()}
  spec = fid_features or config.get("flags", {}).get("fid_features", "auto")
  features.check_features_flag(spec)
  extractor = features.extractor_for(spec, dataset.name, dataset.image_size)
  results: dict[str, Any] = {}
  parts = []
  if extractor is not None:
    real_features = extractor(monitors.real_images(dataset, num_samples))[0]
    results.update(monitors.feature_scores(extractor, real_features, samples))
    parts.append(monitors.feature_summary(results, extractor.name, num_samples))
  if dataset.name == "digits" and dataset.image_size % 8 == 0:
    from jaxgan.judges import digits_judge

    predicted = digits_judge().predict(samples)
    num_classes = runs.latent_space(config).num_classes
    if num_classes:  # runs.draw_samples asks for the classes in turn
      intended = np.arange(num_samples) % num_classes
      results["class_accuracy"] = metrics.class_accuracy(predicted, intended)
      parts.append(f"{100 * results['class_accuracy']:.1f}% classified as the class asked for")
    else:
      coverage = metrics.class_coverage(predicted, dataset.num_classes)
      results.update(classes=coverage.classes, class_reverse_kl=coverage.reverse_kl)
      parts.append(f"{coverage.classes}/{coverage.num_classes} digit classes")
  if not parts:
    raise ConfigError(
      f"nothing to compute for {dataset.name} with --fid_features={spec}: pass "
      "--fid_features=inception:PATH (see BUILD.md)"
    )
  return {**results, "summary": "; ".join(parts)}


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
  )
  results["num_samples"] = FLAGS.num_samples
  with open(os.path.join(FLAGS.workdir, "evaluation.json"), "w") as f:
    json.dump({k: v for k, v in results.items() if k != "summary"}, f, indent=2)
  print(results["summary"])


if __name__ == "__main__":
  cli.run(main)
