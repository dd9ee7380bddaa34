"""Compares trained runs on a small dataset: FID/KID in a fixed random CNN's features, how close
samples come to copying training images, sample grids side by side, and ADA's p curve.

  python benchmarks/few_shot.py --workdirs=runs/faces100_none,runs/faces100_diffaugment,\\
      runs/faces100_ada --output=runs/faces100_comparison

For each workdir: its newest checkpoint's generator (the EMA weights) draws --num_samples
images; FID and KID against every real training image are computed in
jaxgan.features.random_features() (the digits classifier knows no faces and Inception's
weights cannot be downloaded here), and the mean distance of each sample to its nearest
training image in pixels (a memorizing G drives it toward 0). Writes OUTPUT.json (one row per
run), OUTPUT_samples.png (the real images on top, then a row per run) and, when a run kept
ADA's p, OUTPUT_ada_p.png.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from jaxgan import evaluators, features, metrics, plots, runs  # noqa: E402
from jaxgan.errors import ConfigError  # noqa: E402

flags.DEFINE_list("workdirs", None, "The trained runs to compare.")
flags.DEFINE_string("output", None, "The prefix of the files written (OUTPUT.json, ...).")
flags.DEFINE_integer("num_samples", 1000, "Generated images per run.")
flags.DEFINE_integer("grid_columns", 12, "Images per row in the grid.")
flags.DEFINE_integer("seed", 0, "Seed of the samples.")
FLAGS = flags.FLAGS


def nearest_distances(samples: np.ndarray, real: np.ndarray) -> np.ndarray:
  """Each sample's RMS pixel distance to its nearest real image."""
  a = samples.reshape(len(samples), -1).astype(np.float64)
  b = real.reshape(len(real), -1).astype(np.float64)
  squared = (a**2).sum(1)[:, None] + (b**2).sum(1)[None] - 2 * a @ b.T
  return np.sqrt(np.maximum(squared.min(1), 0.0) / a.shape[1])


def compare(workdir: str, real: np.ndarray, real_features: np.ndarray, extractor) -> dict:
  """One run's row: its FID, KID, nearest-image distance, and its samples."""
  run = runs.restore(workdir)
  samples = runs.draw(run, FLAGS.num_samples, FLAGS.seed)
  fake_features = extractor(samples)[0]
  flags_of_run = run.config.get("flags", {})
  return {
    "workdir": workdir,
    "augment": flags_of_run.get("augment", "") or "none",
    "steps": int(run.state["step"]),
    "fid": metrics.fid_from_features(real_features, fake_features),
    "kid_x1000": 1000 * metrics.kid_from_features(real_features, fake_features).mean,
    "nearest_real_rms": float(nearest_distances(samples, real).mean()),
    "real_to_real_rms": float(nearest_distances(real[::2], real[1::2]).mean()),
    "features": extractor.name,
    "samples": samples,
  }


def ada_curve(workdir: str):
  """(steps, p) from a run's metrics.jsonl, or None when it kept no ADA p."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    records = [json.loads(line) for line in f if line.strip()]
  points = [(r["step"], r["ada_p"]) for r in records if "ada_p" in r]
  return None if not points else tuple(np.array(v) for v in zip(*points, strict=True))


def main(argv):
  del argv
  if not FLAGS.workdirs or not FLAGS.output:
    raise ConfigError("--workdirs and --output are required")
  first = runs.restore(FLAGS.workdirs[0])
  dataset = first.model.datasets().train
  real = evaluators.real_images(dataset, len(dataset.source))
  extractor = features.random_features()
  real_features = extractor(real)[0]
  rows = [compare(w, real, real_features, extractor) for w in FLAGS.workdirs]
  columns = FLAGS.grid_columns
  grid = np.stack([real[:columns], *[r["samples"][:columns] for r in rows]])
  labels = ["real"] + [r["augment"] for r in rows]
  plots.save_image_grid(
    FLAGS.output + "_samples.png", grid, row_labels=labels, title=f"{dataset.name}: real, then runs"
  )
  table = [{k: v for k, v in r.items() if k != "samples"} for r in rows]
  with open(FLAGS.output + ".json", "w") as f:
    json.dump(table, f, indent=1)
  for row in table:
    print(json.dumps(row))
  curves = [(r["augment"], ada_curve(r["workdir"])) for r in rows]
  curves = [(name, c) for name, c in curves if c is not None]
  if curves:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    for name, (steps, p) in curves:
      ax.plot(steps, p, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("ADA p")
    ax.set_title(f"ADA's augmentation probability on {dataset.name}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(FLAGS.output + "_ada_p.png", dpi=120)


if __name__ == "__main__":
  app.run(main)
