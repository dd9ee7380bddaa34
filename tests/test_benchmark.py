"""benchmarks/step.py prints the one JSON line that shared/bench/compare.py reads."""

import json
import os
import subprocess
import sys

from conftest import ROOT


def test_step_benchmark_prints_compare_json():
  proc = subprocess.run(
    [
      sys.executable,
      os.path.join(ROOT, "benchmarks", "step.py"),
      "--workload=toy_wgan_gp",
      "--batch=16",
      "--steps=2",
      "--warmup=1",
    ],
    capture_output=True,
    text=True,
    cwd=ROOT,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  line = [x for x in proc.stdout.splitlines() if x.startswith("{")][-1]
  result = json.loads(line)
  assert result["workload"] == "toy_wgan_gp" and result["framework"] == "jaxgan"
  assert result["batch"] == 16 and result["device"] == "cpu"
  assert result["steps_per_s"] > 0
  assert result["conv"] == "matmul" and result["trace_s"] > 0 and result["compile_s"] > 0
  # The first step holds tracing and compilation, and one step.
  assert result["first_step_s"] >= result["trace_s"] + result["compile_s"] - 0.02  # rounding
  assert result["first_step_s"] > 1 / result["steps_per_s"]
  assert (
    abs(result["items_per_s"] - 16 * result["steps_per_s"]) < 1e-2 * result["items_per_s"] + 0.1
  )
