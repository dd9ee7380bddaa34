"""benchmarks/step.py prints the one JSON line that shared/bench/compare.py reads."""

import json
import os
import re
import subprocess
import sys

from conftest import ROOT, defined_flag_names


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
  host = result["host"]  # the host's speed beside the figure
  assert host["matmul_gflops"] > 0 and host["matmul_gflops_1thread"] > 0 and host["python_mops"] > 0
  assert result["conv"] == "matmul" and result["trace_s"] > 0 and result["compile_s"] > 0
  # The first step holds tracing and compilation, and one step.
  assert result["first_step_s"] >= result["trace_s"] + result["compile_s"] - 0.02  # rounding
  assert result["first_step_s"] > 1 / result["steps_per_s"]
  assert (
    abs(result["items_per_s"] - 16 * result["steps_per_s"]) < 1e-2 * result["items_per_s"] + 0.1
  )


def gpu_check_plan(tmp_path, budget_s):
  """benchmarks/gpu_check.sh's worst-case plan (DRY_RUN: every run taking its whole limit)."""
  proc = subprocess.run(
    ["bash", os.path.join(ROOT, "benchmarks", "gpu_check.sh"), "BENCH", str(tmp_path)],
    capture_output=True,
    text=True,
    cwd=ROOT,
    env={**os.environ, "DRY_RUN": "1", "BUDGET_S": str(budget_s)},
    timeout=60,
  )
  assert proc.returncode == 0, proc.stderr
  return proc.stdout.splitlines()


def test_gpu_check_runs_in_order_within_its_budget(tmp_path):
  """The one-call GPU check, one workload after the other: both convolutions cold, PyTorch, then
  compare.py with the faster convolution; without a first dcgan32 step it goes on with XLA's
  autotuning off; nothing outlasts the budget (in the worst case the second workload's runs are
  what gets skipped, so dcgan32's figure is whole)."""
  plan = gpu_check_plan(tmp_path, 2000)
  ran = [line for line in plan if line.startswith("$ ")]
  one_workload = ["step.py", "step.py", "torch_reference.py", "compare.py"]
  assert [line.split()[2].split("/")[-1] for line in ran] == [
    *["step.py", *one_workload, *one_workload, "torch_reference.py"]
  ]
  assert "--workload=dcgan32 " in ran[0] and "(limit 130 s)" in ran[0]
  assert plan[1].startswith("from here on XLA_FLAGS=")
  assert plan[1].endswith("--xla_gpu_autotune_level=0")
  assert [("--conv=xla" in line) for line in ran[:3]] == [False, False, True]
  assert "--workload=dcgan32 " in ran[4] and "--conv=matmul" in ran[4]  # no cold run: matmul
  assert all("--workload=dcgan32_wgan_gp" in line for line in ran[5:9])
  assert "--compile" in ran[-1] and "--workload=dcgan32 " in ran[-1]
  assert plan[-1] == "done in 1010 s"

  plan = gpu_check_plan(tmp_path, 560)
  assert plan[-1] == "done in 560 s"
  skipped = [line for line in plan if line.startswith("skipped")]
  assert len(skipped) == 4 and all("dcgan32_wgan_gp" in s or "--compile" in s for s in skipped)


def test_gpu_tests_names_test_files_that_exist():
  """benchmarks/gpu_tests.sh runs named test files on a lent GPU: a file renamed or removed here
  would cost that call its run, so every name must be a test file of this suite."""
  with open(os.path.join(ROOT, "benchmarks", "gpu_tests.sh")) as script:
    named = re.findall(r"tests/test_\w+\.py", script.read())
  assert len(named) >= 9
  missing = [name for name in named if not os.path.isfile(os.path.join(ROOT, name))]
  assert missing == []


def test_gpu_loop_passes_flags_its_experiments_define():
  """benchmarks/gpu_loop.sh runs wgan_gp.py and dcgan.py on a lent GPU: a flag renamed here would
  cost that call its run, so every flag it passes must be one those scripts define."""
  with open(os.path.join(ROOT, "benchmarks", "gpu_loop.sh")) as script:
    text = script.read()
  passed = set(re.findall(r"--(\w+)=", text))
  assert {"g_hidden", "num_steps", "eval_every", "flagfile"} <= passed
  defined = defined_flag_names("wgan_gp.py") | defined_flag_names("dcgan.py")
  assert sorted(passed - defined) == []
  assert os.path.isfile(os.path.join(ROOT, "experiments", "configs", "dcgan_digits.flags"))
