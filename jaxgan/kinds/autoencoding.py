"""What the autoencoding kinds (VQGAN, VAE-GAN, adversarial autoencoders) share: the training
and held-out splits, and the "reconstruction" evaluator.

    train, test = autoencoding.load_splits("digits", 16)       # the 80% and the held-out 20%
    model = trainer.Model(datasets=lambda: trainer.Datasets(train, test),
                          translators={"a_to_b": reconstruct, "codes": encode})

An autoencoding kind exposes its reconstruction x → x̂ as the translator "a_to_b" (so
`python -m jaxgan.translate --input=FOLDER` reconstructs a user's images) and, for a
discrete bottleneck, its code grids as "codes" (a CodeGrids: images → integer codes [N, h, w]).

The reconstruction evaluator measures held-out images (never trained on): L1 in the models'
[−1, 1] units, PSNR and SSIM from skimage.metrics (data range 2, SSIM over the channels),
the FID of the reconstructions against the held-out images on the run's feature network,
and, with codes, the codebook usage (the share of the K codes that some held-out position
uses) and perplexity exp(H) of the codes' histogram. It draws originals over their
reconstructions.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from skimage import metrics as skimage_metrics

from jaxgan import evaluators, loop, parallel, plots, runtime
from jaxgan import features as features_lib
from jaxgan.data import images as image_data
from jaxgan.errors import ConfigError
from jaxgan.trainer import Datasets, Model

# The held-out split of each offline dataset (TFDS sets: their "test" split).
HELD_OUT = {
  "digits": ("train80", "test20"),
  "faces100": (None, None),
  "imagenet2012": ("train", "validation"),
}
GRID_COLUMNS = 10


def load_splits(name: str, image_size: int, data_dir: str | None = None):
  """(training, held-out) ImageDatasets: the digits' 80% and 20%; the 100 faces for both
  (there is no more); ImageNet's "train" and "validation"; another TFDS set's "train" and
  "test" splits.

  Args:
    name: digits, faces100 or a TFDS image dataset.
    image_size: the size images are served at.
    data_dir: where TFDS datasets are prepared.

  Returns:
    (train, test).
  """
  train_split, test_split = HELD_OUT.get(name, ("train", "test"))
  load = image_data.load_image_dataset
  if train_split is None:
    dataset = load(name, image_size, data_dir=data_dir)
    return dataset, dataset
  return (
    load(name, image_size, split=train_split, data_dir=data_dir),
    load(name, image_size, split=test_split, data_dir=data_dir),
  )


def datasets_of_run(config: dict[str, Any]) -> Callable[[], Datasets]:
  """A restored run's datasets: () -> Datasets(training, held-out) of its config.json's
  dataset at its image size, loaded when first asked for (jaxgan.sample never asks).

  Args:
    config: the run's config.json.

  Returns:
    The datasets function of its trainer.Model.
  """
  size = config["image_shape"][0]
  data_dir = config.get("flags", {}).get("data_dir")
  splits = functools.cache(lambda: load_splits(config["dataset"], size, data_dir))
  return lambda: Datasets(*splits())


@dataclasses.dataclass(frozen=True)
class CodeGrids:
  """The "codes" translator of a discrete autoencoder: (state, images, key) → the integer
  code grids [N, h, w] of a codebook of num_codes codes."""

  encode: Callable[[Any, np.ndarray, Any], np.ndarray]
  num_codes: int

  def __call__(self, state, images, key) -> np.ndarray:
    return self.encode(state, images, key)


def run_experiment(experiment: str, config, make_spec: Callable, make_trainer: Callable):
  """An autoencoding experiment's main: its training and held-out splits, devices, spec,
  trainer and the loop.

  Args:
    experiment: the experiment's name (config.json, the default workdir).
    config: its Config (a jaxgan.config.RunConfig with fid_features).
    make_spec: make_spec(config, dataset) -> the kind's spec.
    make_trainer: the kind's make_trainer(spec, dataset, test, config, mesh=, fid_features=).

  Returns:
    The final evaluation (also in WORKDIR/results.json).
  """
  config = runtime.with_default_workdir(config, experiment)
  runtime.use_compilation_cache(config.compilation_cache)
  dataset, test = load_splits(config.dataset, config.image_size, config.data_dir)
  mesh = runtime.start_devices(config)
  spec = make_spec(config, dataset)
  run = make_trainer(spec, dataset, test, config, mesh=mesh, fid_features=config.fid_features)
  return loop.run_training(
    run, config, mesh=mesh, run_config=runtime.run_config(experiment, config)
  )


def codebook_statistics(codes: np.ndarray, num_codes: int) -> dict[str, float]:
  """The share of the num_codes codes used at least once, and the perplexity exp(−Σ p log p)
  of the codes' histogram (num_codes when all are used equally, 1 when one is)."""
  counts = np.bincount(np.asarray(codes).reshape(-1), minlength=num_codes)
  p = counts / counts.sum()
  entropy = -np.sum(p[p > 0] * np.log(p[p > 0]))
  return {"codebook_usage": float(np.mean(counts > 0)), "perplexity": float(np.exp(entropy))}


def image_quality(originals: np.ndarray, reconstructions: np.ndarray) -> dict[str, float]:
  """Mean L1, PSNR and SSIM of reconstructions in [−1, 1] (skimage.metrics, data range 2,
  SSIM over the channel axis with skimage's 7×7 window, or the image's odd side if smaller)."""
  x = np.asarray(originals, np.float64)
  y = np.clip(np.asarray(reconstructions, np.float64), -1.0, 1.0)
  window = min(7, x.shape[1] - (1 - x.shape[1] % 2))
  pairs = list(zip(x, y, strict=True))
  psnr = [skimage_metrics.peak_signal_noise_ratio(a, b, data_range=2.0) for a, b in pairs]
  ssim = [
    skimage_metrics.structural_similarity(a, b, data_range=2.0, channel_axis=-1, win_size=window)
    for a, b in pairs
  ]
  return {
    "l1": float(np.mean(np.abs(x - y))),
    "psnr": float(np.mean(psnr)),
    "ssim": float(np.mean(ssim)),
  }


def reconstruction(model: Model, settings: evaluators.EvalSettings) -> evaluators.Evaluator:
  """The held-out reconstruction metrics and pictures (see the module docstring)."""
  if "a_to_b" not in model.translators:
    raise ConfigError("the reconstruction evaluator needs an autoencoder's run (a VQGAN, ...)")
  reconstruct = model.translators["a_to_b"]
  encode = model.translators.get("codes")
  data = model.datasets()
  test = data.test if data.test is not None else data.train
  n = min(settings.num_samples, len(test.source))
  originals = test.examples(np.arange(n))[0]
  extractor = features_lib.extractor_for(settings.fid_features, test.name, test.image_size)
  real_features = []  # computed at the first evaluation

  def apply(function, state, images, chunk=250):
    return evaluators.in_chunks(lambda _, part: function(state, part, settings.key), chunk, images)

  def run(state) -> dict[str, Any]:
    reconstructed = apply(reconstruct, state, originals)
    results: dict[str, Any] = {"held_out_images": n, **image_quality(originals, reconstructed)}
    parts = [
      f"held-out L1 {results['l1']:.4f}, PSNR {results['psnr']:.2f} dB, SSIM {results['ssim']:.3f}"
    ]
    if extractor is not None:
      if not real_features:
        real_features.append(extractor(originals)[0])
      scores = evaluators.feature_scores(extractor, real_features[0], reconstructed)
      results["reconstruction_fid"] = scores["fid"]  # beside the samples' "fid" of a generator
      parts.append(f"reconstruction FID {scores['fid']:.2f} ({extractor.name})")
    if encode is not None:
      codes = apply(encode, state, originals)
      num_codes = encode.num_codes
      results.update(codebook_statistics(codes, num_codes))
      parts.append(
        f"{100 * results['codebook_usage']:.1f}% of {num_codes} codes used, perplexity "
        f"{results['perplexity']:.1f}"
      )
    return {"summary": f"{n} held-out images: " + "; ".join(parts), **results}

  def draw(workdir, state, step):
    shown = originals[: 2 * GRID_COLUMNS]
    reconstructed = apply(reconstruct, state, shown)
    grid = plots.paired_rows(shown, reconstructed, GRID_COLUMNS)
    path = evaluators.plot_path(workdir, "reconstructions", step)
    if parallel.is_primary():
      labels = ["held out", "reconstructed"] * (len(grid) // 2)
      plots.save_image_grid(path, grid, row_labels=labels, title=f"{test.name}, step {step}")
    return [path]

  return evaluators.Evaluator("reconstruction", run, draw)


evaluators.register("reconstruction", reconstruction)
