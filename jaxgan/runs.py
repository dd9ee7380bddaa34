"""A finished run's workdir, read back: its config.json, its kind's Model and its checkpoint.

Shared by `python -m jaxgan.sample`, `jaxgan.evaluate` and `jaxgan.translate`
(which add the command-line flags); usable from a notebook:

    from jaxgan import runs
    images = runs.sample_run("runs/dcgan_digits", 64, seed=0)
    run = runs.restore("runs/cyclegan_digits_edges_unpaired")
    drawings = run.model.translators["b_to_a"](run.state, digits, jax.random.key(0))

Whatever kind trained the run (jaxgan.trainer.kind_of reads it from
config.json), its networks come back as a jaxgan.trainer.Model and its
newest (or chosen) checkpoint as a state dict, read onto this process's first
device whatever devices and processes wrote it.
"""

from __future__ import annotations

import json
import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import trainer
from jaxgan.checkpoint import Checkpointer
from jaxgan.errors import ConfigError


class Run(NamedTuple):
  """A workdir read back: config.json, the kind's Model, and a checkpoint's state dict."""

  config: dict[str, Any]
  model: trainer.Model
  state: trainer.StateDict


def read_run_config(workdir: str) -> dict[str, Any]:
  """WORKDIR/config.json, or a one-line ConfigError."""
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise ConfigError(f"{path} not found: --workdir must be a directory a jaxgan run wrote")
  with open(path) as f:
    return json.load(f)


def restore(workdir: str, step: int | None = None) -> Run:
  """The run in `workdir`: its kind's Model rebuilt from config.json and the checkpoint at
  `step` (default: the newest)."""
  config = read_run_config(workdir)
  model = trainer.kind_of(config).restore(config)
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    raise ConfigError(f"no checkpoints in {workdir}: the run has not saved one yet")
  checkpoints = Checkpointer(directory, async_save=False)
  try:
    state, _ = checkpoints.restore_raw(step)
  finally:
    checkpoints.close()
  return Run(config, model, state)


def sample_run(
  workdir: str,
  num_samples: int,
  seed: int,
  step: int | None = None,
  label: int | None = None,
  truncation: float | None = None,
) -> np.ndarray:
  """num_samples outputs of a run's generator (its EMA weights when it kept them).

  Args:
    workdir: the run's workdir.
    num_samples: how many.
    seed: the seed of the noise.
    step: the checkpoint (default: the newest).
    label: the class to generate (conditional runs; default: the classes in turn).
    truncation: truncate the noise to [−t, t] (BigGAN's truncation trick).

  Returns:
    float32 array [num_samples, ...].
  """
  return draw(restore(workdir, step), num_samples, seed, label, truncation)


def draw(
  run: Run,
  num_samples: int,
  seed: int,
  label: int | None = None,
  truncation: float | None = None,
  caption: str | None = None,
) -> np.ndarray:
  """num_samples outputs of a restored run's generator (see sample_run).

  Args:
    run: the restored run.
    num_samples: how many.
    seed: the seed of the noise.
    label: the class to generate (conditional runs; default: the classes in turn).
    truncation: truncate the noise to [−t, t].
    caption: the text to draw (text-conditioned runs: their generator's prompt).

  Returns:
    float32 array [num_samples, ...].
  """
  generator = run.model.generator
  if generator is None:
    raise ConfigError(
      "this run translates images and draws no samples from noise: use python -m jaxgan.translate"
    )
  if caption is not None:
    if generator.prompt is None:
      raise ConfigError(
        "--caption is for text-conditioned generators (a view with a prompt); this run's "
        "generator reads no text"
      )
    if label is not None:
      raise ConfigError("give --caption or --label, not both")
    generator = generator.prompt(caption)
  classes = generator.space.num_classes
  labels = None
  if label is not None:
    if not classes:
      raise ConfigError("--label is for class-conditional runs; this run has no classes")
    if not 0 <= label < classes:
      raise ConfigError(f"--label={label}: choose a class from 0 to {classes - 1}")
    labels = jnp.full((num_samples,), label, jnp.int32)
  elif classes:
    labels = jnp.arange(num_samples, dtype=jnp.int32) % classes
  samples, _ = generator.sample(run.state, jax.random.key(seed), num_samples, labels, truncation)
  return samples
