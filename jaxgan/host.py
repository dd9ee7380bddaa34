"""glibc's allocator set up for XLA:CPU's training steps (Linux; done when jaxgan is imported).

Every execution of a compiled step allocates its intermediate arrays afresh
and frees them at the end. For the DCGAN step on the CPU these are tens of
megabytes each (the critic's im2col patches: 128 × 8 × 8 × 1024 floats).
With glibc's defaults they cost far more than their arithmetic:

- XLA's worker threads allocate from per-thread arenas, which cannot hold a
  block larger than 64 MiB of heap and fall back to a fresh `mmap`: every
  step then page-faults each of those pages in again (33,000 faults, 135 MB of
  zeroed pages per DCGAN step);
- blocks above the mmap threshold (dynamic, at most 32 MiB) are mapped and
  unmapped on every step the same way, and freed heap is trimmed back to the
  kernel and faulted in again.

One arena, a 1 GiB mmap threshold and a 2 GiB trim threshold keep those
blocks in the heap and reuse them from step to step, which makes the DCGAN
step markedly faster (BENCHMARKS.md, "What closed the dcgan32 gap", has the
figures). The price is that the process keeps its peak heap instead of
returning it between steps.

The arena limit only binds threads that have not allocated yet, so this runs
before JAX starts its CPU client (importing jaxgan does it). It is for hosts
where XLA:CPU runs the step: where a JAX GPU or TPU plugin is installed it is
skipped unless JAX_PLATFORMS=cpu: a GPU step's buffers live on the device, and
one arena for every thread of a many-core CUDA process is contention (the one GPU
run with it applied stalled; BENCHMARKS.md). Set JAXGAN_TUNE_MALLOC=0 to keep glibc's
defaults, JAXGAN_TUNE_MALLOC=1 to apply them with a plugin installed; the
variables glibc reads itself (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`,
`MALLOC_TRIM_THRESHOLD_`, `GLIBC_TUNABLES`) are never overridden.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os
import pkgutil
import sys

# mallopt(3) parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

SETTINGS = {  # parameter: (value, the environment variable that would set it instead)
  M_ARENA_MAX: (1, "MALLOC_ARENA_MAX"),
  M_MMAP_THRESHOLD: (1 << 30, "MALLOC_MMAP_THRESHOLD_"),
  M_TRIM_THRESHOLD: (1 << 31, "MALLOC_TRIM_THRESHOLD_"),
}


def accelerator_plugin_installed() -> bool:
  """Whether JAX would find a GPU or TPU plugin, looked up the way JAX looks (no import).

  JAX's GPU plugins (jax-cuda12-pjrt, jax-cuda13-pjrt, the ROCm ones) are modules of the
  `jax_plugins` namespace package, and its TPU runtime is the `libtpu` module
  (jax/_src/xla_bridge.py, jax/_src/cloud_tpu_init.py). Finding them costs a few path
  lookups, where walking every installed distribution's metadata cost 18 ms per import.
  """
  if importlib.util.find_spec("libtpu") is not None:
    return True
  namespace = importlib.util.find_spec("jax_plugins")
  if namespace is None or not namespace.submodule_search_locations:
    return False
  return any(True for _ in pkgutil.iter_modules(namespace.submodule_search_locations))


def wants_tuning(environ=os.environ) -> bool:
  """JAXGAN_TUNE_MALLOC=0/1 decides; else on unless a JAX accelerator plugin is installed
  (JAX_PLATFORMS=cpu turns it back on), and never over GLIBC_TUNABLES."""
  if "GLIBC_TUNABLES" in environ:
    return False
  choice = environ.get("JAXGAN_TUNE_MALLOC")
  if choice is not None:
    return choice == "1"
  return environ.get("JAX_PLATFORMS") == "cpu" or not accelerator_plugin_installed()


def tune_malloc(environ=os.environ) -> dict[int, int]:
  """Apply SETTINGS through glibc's mallopt: {parameter: value} of those applied.

  Does nothing (returns {}) off Linux, without glibc, or when `wants_tuning`
  says no; skips a parameter whose own environment variable is set.
  """
  if not sys.platform.startswith("linux") or not wants_tuning(environ):
    return {}
  try:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    mallopt = libc.mallopt
  except (OSError, AttributeError):  # musl or another libc: no mallopt
    return {}
  mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
  applied = {}
  for parameter, (value, variable) in SETTINGS.items():
    if variable not in environ and mallopt(parameter, value) == 1:
      applied[parameter] = value
  return applied
