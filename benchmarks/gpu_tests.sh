#!/usr/bin/env bash
# jaxgan's correctness on a lent GPU in one call (about 3 minutes on an H200), and the toy
# workload's figure against PyTorch.
#
#   bash benchmarks/gpu_tests.sh BENCH_DIR [OUT_DIR]
#
# The CPU suite's tests that need no TFDS and no fake CPU devices, run with the GPU
# as JAX's default device:
# 1. exact: every loss, penalty, layer and step against numpy, with float32 products
#    computed as float32 (JAX_DEFAULT_MATMUL_PRECISION=highest; by default an H100/H200
#    multiplies float32 as TF32, whose 10-bit mantissa the numpy tolerances don't allow),
#    and orbax checkpoints of GPU arrays;
# 2. training at the GPU's default precision: the 2-D mixtures' modes are found, the
#    dynamics tests' figures hold.
# BENCH_DIR holds shared/bench's compare.py and torch_reference.py (for toy_wgan_gp).
# Exits 1 if either group of tests failed.
set -u
bench=${1:?usage: gpu_tests.sh BENCH_DIR [OUT_DIR]}
out=${2:-/tmp/jaxgan_gpu_tests}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
workers=${WORKERS:-8}
started=$SECONDS
failed=0

timeout 100 python3 "$bench/compare.py" --workload=toy_wgan_gp --steps=200 --rounds=3 \
  --project="python3 benchmarks/step.py" >"$out/toy.txt" 2>&1
echo "toy compare: rc $? after $((SECONDS - started)) s"
tail -n 2 "$out/toy.txt"

EXACT_TESTS=(
  tests/test_losses.py tests/test_penalties.py tests/test_models.py tests/test_features.py
  tests/test_optim.py tests/test_train.py tests/test_checkpoint.py
)
JAX_DEFAULT_MATMUL_PRECISION=highest timeout 200 python3 -m pytest -q -n "$workers" \
  -p no:cacheprovider "${EXACT_TESTS[@]}" >"$out/exact.txt" 2>&1 || failed=1
echo "exact: after $((SECONDS - started)) s"
tail -n 25 "$out/exact.txt"

TRAINING_TESTS=(tests/test_toy_training.py tests/test_dynamics.py)
timeout 200 python3 -m pytest -q -n "$workers" -p no:cacheprovider "${TRAINING_TESTS[@]}" \
  >"$out/training.txt" 2>&1 || failed=1
echo "training: after $((SECONDS - started)) s"
tail -n 25 "$out/training.txt"
exit $failed
