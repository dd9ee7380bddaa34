"""What an experiment's main starts before it trains: the compilation cache, the devices.

    runtime.use_compilation_cache(config.compilation_cache)
    mesh = runtime.start_devices(config)        # joins a multi-process run when asked
    config = runtime.with_default_workdir(config, "wgan_gp")   # runs/wgan_gp_grid25

Every function takes a config (jaxgan.config.RunConfig); nothing here reads flags.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from typing import Any

import jax

from jaxgan import config as config_lib
from jaxgan import parallel


def start_devices(config):
  """Joins a multi-process run when the config asks for one; the mesh of config.num_devices,
  with the batch size checked against it."""
  parallel.initialize_distributed(
    config.distributed,
    config.coordinator_address,
    config.num_processes,
    config.process_id,
    config.coordinator_timeout,
  )
  mesh = parallel.make_mesh(config.num_devices)
  parallel.check_batch_size(config.batch_size, mesh)
  return mesh


def with_default_workdir(config, experiment: str):
  """The config, its workdir defaulting to runs/EXPERIMENT_DATASET."""
  if config.workdir:
    return config
  dataset_name = config.dataset.replace("/", "_")
  return dataclasses.replace(config, workdir=f"runs/{experiment}_{dataset_name}")


def run_config(experiment: str, config) -> dict[str, Any]:
  """config.json's record of how the run was asked for: the experiment and its settings."""
  return {"experiment": experiment, "flags": config_lib.as_dict(config)}


COMPILATION_CACHE_MAX_BYTES = 4 * 2**30


def use_compilation_cache(directory: str) -> None:
  """JAX's persistent compilation cache in directory (programs that took ≥ 1 s to compile),
  kept under COMPILATION_CACHE_MAX_BYTES by evicting the least recently used programs (JAX
  does that with a file lock from the filelock package; without it the cache is unbounded)."""
  if os.environ.get("JAX_COMPILATION_CACHE_DIR") or not directory:
    return
  path = os.path.expanduser(directory)
  try:
    os.makedirs(path, exist_ok=True)
  except OSError:
    return  # a read-only home: run without the cache
  jax.config.update("jax_compilation_cache_dir", path)
  if importlib.util.find_spec("filelock") is not None:
    _date_unused_entries(path)
    jax.config.update("jax_compilation_cache_max_size", COMPILATION_CACHE_MAX_BYTES)


def _date_unused_entries(path: str) -> None:
  """Gives every "KEY-cache" entry without a "KEY-atime" file one (its modification time).

  JAX's evicting cache reads an access time for every entry it holds; entries written
  without eviction (an earlier jaxgan, JAX_COMPILATION_CACHE_DIR runs) or by a process
  killed between the two writes have none, and then every later write fails.
  """
  try:
    names = set(os.listdir(path))
    for name in names:
      key = name.removesuffix("-cache")
      if key != name and f"{key}-atime" not in names:
        modified = os.stat(os.path.join(path, name)).st_mtime_ns
        with open(os.path.join(path, f"{key}-atime"), "wb") as f:
          f.write(modified.to_bytes(8, "little"))
  except OSError:
    pass  # an unreadable entry: JAX warns when it meets it; the run goes on
