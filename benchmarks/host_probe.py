"""How fast this host is right now, measured in a second, to read a benchmark's figures by.

    python benchmarks/host_probe.py     # {"matmul_gflops": ..., "matmul_gflops_1thread": ..., ...}

These hosts drift: the same 2-core machine ran the toy step at 11.7 steps/s one hour and
22–23.5 another, with nothing else running (BENCHMARKS.md, "A slow hour"). A ratio against
PyTorch taken at one hour and a figure taken at another cannot be compared without knowing
how fast the host was at each. benchmarks/step.py records this probe beside every figure:

- matmul_gflops: numpy's float32 256×256 matrix product, on the BLAS threads numpy uses;
- matmul_gflops_1thread: the same product on one thread (threadpoolctl), the host's core speed;
- python_mops: a pure-Python loop, millions of iterations a second (the host's dispatch speed).
"""

from __future__ import annotations

import json
import time

import numpy as np
from threadpoolctl import threadpool_limits

PROBE_SECONDS = 0.25


def _rate(work, seconds: float = PROBE_SECONDS) -> float:
  """Calls of work() per second, over about `seconds` (after one warm-up call)."""
  work()
  calls, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    work()
    calls += 1
  return calls / (time.perf_counter() - start)


def _python_loop() -> int:
  total = 0
  for i in range(100_000):
    total += i
  return total


def probe() -> dict[str, float]:
  """The host's speed now: matrix products (all threads, one thread) and a Python loop."""
  rng = np.random.default_rng(0)
  a, b = (rng.standard_normal((256, 256), dtype=np.float32) for _ in range(2))
  flops = 2 * 256**3
  matmul = _rate(lambda: a @ b) * flops / 1e9
  with threadpool_limits(limits=1):
    matmul_1thread = _rate(lambda: a @ b) * flops / 1e9
  python = _rate(_python_loop) * 100_000 / 1e6
  return {
    "matmul_gflops": round(matmul, 1),
    "matmul_gflops_1thread": round(matmul_1thread, 1),
    "python_mops": round(python, 1),
  }


if __name__ == "__main__":
  print(json.dumps(probe()))
