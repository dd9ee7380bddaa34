"""What the image-to-image kinds (pix2pix, CycleGAN) share: batches of two domains, applying a
translator, the trainer around a step, and the data of a run read back from its config.json.

A batch is {"a": [B, H, W, C], "b": [B, H, W, C]}: images of domain A and of
domain B, in [−1, 1], paired (pix2pix) or not (CycleGAN), from a
jaxgan.data.pairs.TranslationStream. A kind builds its Trainer with
`make_trainer` and its Model (what `python -m jaxgan.translate` and the
"translation" evaluator use) from `translator_view` values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import Mesh

from jaxgan import evaluators, loop, models, parallel, runtime, trainer
from jaxgan.data import pairs
from jaxgan.errors import ConfigError
from jaxgan.kinds import translation_checks  # noqa: F401 - registers the "translation" evaluator
from jaxgan.step import apply_model

Array = jax.Array


def apply_translator(
  module: nn.Module, params, model_state, images: Array, key: Array | None, training: bool = True
):
  """module(images) with `key` for dropout (pix2pix's noise).

  Args:
    module: a translator (U-Net, ResNet translator).
    params: its parameters.
    model_state: its other variables (BatchNorm statistics; they change only when training).
    images: [B, H, W, C] in [−1, 1].
    key: the dropout key, or None.
    training: training mode (dropout on, batch statistics).

  Returns:
    (outputs, new model_state).
  """
  rngs = None if key is None else {"dropout": key}
  return apply_model(module, params, model_state, images, training, rngs=rngs)


def check_batch(batch: dict[str, Array]) -> None:
  """A ConfigError naming what is wrong with a batch of two domains the step cannot take."""
  for name in ("a", "b"):
    if name not in batch or batch[name].ndim != 4:
      shapes = {k: tuple(v.shape) for k, v in batch.items()}
      raise ConfigError(
        f"a translation batch needs images 'a' and 'b' of shape [B, H, W, C], got {shapes}"
      )
  if batch["a"].shape[:3] != batch["b"].shape[:3]:
    raise ConfigError(
      f"domains A and B must come at one size: got {tuple(batch['a'].shape)} and "
      f"{tuple(batch['b'].shape)}"
    )


def translator_view(
  module: nn.Module,
  variables: Callable[[trainer.StateDict], tuple[Any, Any]],
  *,
  sample_in_training_mode: bool,
  mesh: Mesh | None = None,
) -> trainer.Translate:
  """A trainer.Translate: module on the (params, model_state) that `variables` reads from a
  state dict.

  Args:
    module: the translator.
    variables: state dict -> (params, model_state).
    sample_in_training_mode: dropout on and BatchNorm on the batch's statistics (pix2pix
      samples so, as in the paper); else eval mode.
    mesh: the devices it runs on; outputs come back replicated.

  Returns:
    translate(state, images, key) -> translations as numpy.
  """
  out_shardings = None if mesh is None else parallel.replicated(mesh)

  @functools.partial(jax.jit, out_shardings=out_shardings)
  def apply(params, model_state, images, key):
    return apply_translator(module, params, model_state, images, key, sample_in_training_mode)[0]

  def translate(state, images, key) -> np.ndarray:
    return np.asarray(apply(*variables(state), images, key))

  return translate


def make_trainer(
  kind: trainer.Kind,
  spec,
  steps: tuple[Callable, Callable],
  *,
  networks: Mapping[str, nn.Module],
  translators: Mapping[str, trainer.Translate],
  dataset: pairs.TranslationDataset,
  test: pairs.TranslationDataset,
  config,
  mesh: Mesh | None = None,
  log_terms: tuple[str, ...] = (),
  name: str = "",
) -> trainer.Trainer:
  """The Trainer of an image-to-image kind.

  Args:
    kind: the registered kind (for config.json).
    spec: the kind's spec.
    steps: the kind's (init_state(spec, key, batch), make_train_step(spec, mesh=...)).
    networks: {config.json entry: module}, what the kind's restore rebuilds.
    translators: {"a_to_b": ..., "b_to_a": ...} of the trained networks.
    dataset: the training data; test: the held-out data the evaluator uses.
    config: a jaxgan.config.TranslationConfig: images are loaded at the dataset's size and
      cropped (jittered) to config.image_size, mirrored with config.flip.
    mesh: train data-parallel over its devices.
    log_terms: metric names shown right after the losses.
    name: the kind's name for the log line ("pix2pix").

  Returns:
    The Trainer.
  """
  init_state, make_train_step = steps
  crop_size = config.image_size
  flip = config.flip
  stream = pairs.TranslationStream(dataset, config.batch_size, crop_size, config.seed, mesh, flip)
  model = trainer.Model(
    datasets=lambda: trainer.Datasets(dataset, test), translators=translators, image_size=crop_size
  )
  names = ["translation"]

  def describe() -> dict[str, Any]:
    return {
      **trainer.describe_kind(kind),
      "dataset": dataset.name,
      "domains": list(dataset.names),
      "image_shape": [crop_size, crop_size, dataset.channels[1]],
      "channels": list(dataset.channels),
      **{entry: models.describe(module) for entry, module in networks.items()},
      "evaluators": names,
    }

  a, b = dataset.names
  return trainer.Trainer(
    init=functools.partial(init_state, spec),
    step=make_train_step(spec, mesh=mesh),
    batches=stream,
    evaluators=evaluators.for_training(names, model, config, mesh=mesh),
    describe=describe,
    log_terms=log_terms,
    summary=f"of {name} on {dataset.name} ({a} → {b}), batch {config.batch_size}",
  )


def train_and_test(
  name: str, load_size: int, data_dir: str | None, *, swap: bool = False, log=None
) -> trainer.Datasets:
  """A two-domain dataset's training and held-out splits, loaded at load_size.

  Args:
    name: the dataset (jaxgan.data.pairs.load_translation_dataset).
    load_size: images are loaded at this size (the crop comes later).
    data_dir: TFDS's data_dir, or the folder's PATH.
    swap: A and B swapped (pix2pix's --direction=BtoA).
    log: where to say that a folder without a test split is evaluated on its training
      images (None: say nothing).

  Returns:
    Datasets(train, test).
  """
  load = functools.partial(pairs.load_translation_dataset, name, load_size, data_dir=data_dir)
  train = load(split="train")
  if name == "folder" and not pairs.has_test_split(data_dir):
    if log is not None:
      log("note: no test/, val/ or testA/ and testB/ folders: evaluating on training images")
    test = train
  else:
    test = load(split="test")
  if swap:
    train, test = train.swapped(), test.swapped()
  return trainer.Datasets(train, test)


def load_datasets(config, experiment: str, *, paired: bool, swap: bool = False):
  """The (train, test) TranslationDatasets of a TranslationConfig, loaded at --load_size.

  Args:
    config: a jaxgan.config.TranslationConfig.
    experiment: its name, for the error message.
    paired: the experiment needs pairs: unpaired data is a one-line ConfigError.
    swap: A and B swapped (pix2pix's --direction=BtoA).

  Returns:
    (train, test); a folder without a test split evaluates on its training images.
  """
  load_size = config.load_size or config.image_size
  dataset, test = train_and_test(
    config.dataset, load_size, config.data_dir, swap=swap, log=loop.log
  )
  if paired and not dataset.paired:
    raise ConfigError(
      f"{experiment} learns from pairs and {dataset.name} is unpaired: use a paired dataset "
      "(digits_edges, a pix2pix folder), or experiments/cyclegan.py"
    )
  return dataset, test


def run_datasets(config: dict[str, Any]) -> trainer.Datasets:
  """The (train, test) data of a finished run, from its config.json."""
  run_flags = config.get("flags", {})
  size = run_flags.get("load_size") or config["image_shape"][0]
  swap = run_flags.get("direction") == "BtoA"
  return train_and_test(config["dataset"], size, run_flags.get("data_dir"), swap=swap)


def run_experiment(
  experiment: str,
  config,
  make_spec: Callable,
  make_kind_trainer: Callable,
  *,
  paired: bool,
  swap: bool = False,
) -> dict[str, Any]:
  """An image-to-image experiment's main: its data, devices, spec, trainer and the loop.

  Args:
    experiment: the experiment's name (config.json, the default workdir).
    config: a jaxgan.config.TranslationConfig (the experiment's Config).
    make_spec: make_spec(config, dataset) -> the kind's spec.
    make_kind_trainer: the kind's make_trainer(spec, dataset, test, config, mesh=...).
    paired: the experiment needs paired data.
    swap: A and B swapped.

  Returns:
    The final evaluation (also in WORKDIR/results.json).
  """
  config = runtime.with_default_workdir(config, experiment)
  runtime.use_compilation_cache(config.compilation_cache)
  dataset, test = load_datasets(config, experiment, paired=paired, swap=swap)
  mesh = runtime.start_devices(config)
  spec = make_spec(config, dataset)
  run = make_kind_trainer(spec, dataset, test, config, mesh=mesh)
  return loop.run_training(
    run, config, mesh=mesh, run_config=runtime.run_config(experiment, config)
  )
