"""A finished run's workdir, read back: its config.json and its generator's samples.

Shared by `python -m jaxgan.sample` and `python -m jaxgan.evaluate` (which add
the command-line flags); usable from a notebook:

    from jaxgan import runs
    images = runs.draw_samples("runs/dcgan_digits", 64, seed=0)
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import models, train
from jaxgan.checkpoint import Checkpointer
from jaxgan.errors import ConfigError


def read_run_config(workdir: str) -> dict:
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise ConfigError(f"{path} not found: --workdir must be a directory a jaxgan run wrote")
  with open(path) as f:
    return json.load(f)


def latent_space(config: dict) -> train.LatentSpace:
  """The run's LatentSpace from its config.json."""
  if "latent_space" not in config and "latent_dim" not in config:
    raise ConfigError(
      "this run translates images and draws no samples from noise: use python -m jaxgan.translate"
    )
  space = config.get("latent_space") or {"latent_dim": config["latent_dim"]}
  space = {k: tuple(v) if isinstance(v, list) else v for k, v in space.items()}
  return train.LatentSpace(**space)


def load_generator(workdir: str, step: int | None = None):
  """(generator module, params, model_state, config) from a run's newest checkpoint.

  params are the EMA average when the run kept one, else G's own.
  """
  config = read_run_config(workdir)
  latent_space(config)  # a one-line error for a translation run
  generator = models.build(config["generator"])
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    raise ConfigError(f"no checkpoints in {workdir}: the run has not saved one yet")
  checkpoints = Checkpointer(directory, async_save=False)
  try:
    state, _ = checkpoints.restore_raw(step)
  finally:
    checkpoints.close()
  ema = state.get("generator_ema")
  params = ema["average"] if ema else state["generator"]["params"]
  return generator, params, state["generator"]["model_state"], config


def draw_samples(
  workdir: str,
  num_samples: int,
  seed: int,
  step: int | None = None,
  label: int | None = None,
  truncation: float | None = None,
) -> np.ndarray:
  """num_samples generator outputs as a float32 array [N, ...]."""
  from jaxgan import monitors  # deferred: builds compiled functions

  generator, params, model_state, config = load_generator(workdir, step)
  space = latent_space(config)
  labels = None
  if label is not None:
    if not space.num_classes:
      raise ConfigError("--label is for class-conditional runs; this run has no classes")
    if not 0 <= label < space.num_classes:
      raise ConfigError(f"--label={label}: choose a class from 0 to {space.num_classes - 1}")
    labels = jnp.full((num_samples,), label, jnp.int32)
  elif space.num_classes:
    labels = jnp.arange(num_samples, dtype=jnp.int32) % space.num_classes
  generate = monitors.make_generate(generator)
  samples, _ = monitors.draw_samples(
    generate, space, params, model_state, jax.random.key(seed), num_samples, labels, truncation
  )
  return np.asarray(samples, dtype=np.float32)
