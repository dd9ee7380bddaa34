#!/usr/bin/env bash
# The GPU figures of BENCHMARKS.md in one call of a lent GPU machine (at most ~9 minutes).
#
#   bash benchmarks/gpu_check.sh BENCH_DIR [OUT_DIR]
#
# BENCH_DIR holds shared/bench's compare.py and torch_reference.py (copy them
# into the checkout: ../shared does not travel to the device machine). Every
# run has its own time limit, so a slow compilation costs one line, not the
# call. What it prints is also written to OUT_DIR/gpu_check.log, and each
# run's JSON lines to OUT_DIR/gpu_check.jsonl.
#
# In order, each skipped when too little of BUDGET_S (default 540 s) is left:
# 1. jaxgan's steps with a cold compilation cache (trace_s and compile_s say
#    where a first step's time goes, XLA's GPU autotuning included) and the
#    PyTorch reference, for each workload; if dcgan32 gives no step within its
#    limit, the call goes on with XLA's autotuning off;
# 2. compare.py for both workloads (alternating rounds; jaxgan's runs reuse the
#    persistent compilation cache filled by step 1);
# 3. the same steps with XLA's (cuDNN's) convolutions: --conv=xla.
#
# DRY_RUN=1 prints the worst-case plan (every run taking its whole limit) and runs nothing.
set -u
bench=${1:?usage: gpu_check.sh BENCH_DIR [OUT_DIR]}
out=${2:-/tmp/jaxgan_gpu_check}
mkdir -p "$out"
log=$out/gpu_check.log
: >"$log"
: >"$out/gpu_check.jsonl"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/jaxgan_xla_cache}
STEPS=${STEPS:-200}
WORKLOADS=(dcgan32 dcgan32_wgan_gp)
BUDGET_S=${BUDGET_S:-540}

dry_clock=0
elapsed() { if [[ -n ${DRY_RUN:-} ]]; then echo "$dry_clock"; else echo "$SECONDS"; fi; }

# run LIMIT_S COMMAND...: the command's JSON lines and last lines, or what stopped it.
run() {
  local limit=$1
  shift
  local left=$((BUDGET_S - $(elapsed)))
  if ((left < 20)); then
    echo "skipped (${left} s left): $*" | tee -a "$log"
    return
  fi
  ((limit > left)) && limit=$left
  echo "\$ $* (limit ${limit} s)" | tee -a "$log"
  if [[ -n ${DRY_RUN:-} ]]; then
    dry_clock=$((dry_clock + limit))
    return
  fi
  local started=$SECONDS
  timeout "$limit" "$@" >"$out/last.txt" 2>&1
  local rc=$?
  grep '^{' "$out/last.txt" >>"$out/gpu_check.jsonl"
  grep -v '^[IW][0-9]' "$out/last.txt" | tail -n 4 | tee -a "$log"
  ((rc == 124)) && echo "  stopped at its limit" | tee -a "$log"
  echo "  rc $rc after $((SECONDS - started)) s" | tee -a "$log"
}

[[ -z ${DRY_RUN:-} ]] && {
  date -u
  nvidia-smi -L
  python3 -c 'import jax, torch; print("jax", jax.__version__, jax.devices(), "torch", torch.__version__)'
} 2>&1 | tee -a "$log"

for workload in "${WORKLOADS[@]}"; do
  run 150 python3 benchmarks/step.py --workload=$workload --steps="$STEPS" --warmup=2
  if [[ $workload == dcgan32 ]] && ! grep -q '"framework": "jaxgan"' "$out/gpu_check.jsonl" 2>/dev/null; then
    # No step in 150 s: XLA's autotuning (every matrix product's kernels compiled and timed) is
    # the first suspect; the rest of the call runs without it, and says so.
    export XLA_FLAGS="${XLA_FLAGS:+$XLA_FLAGS }--xla_gpu_autotune_level=0"
    echo "from here on XLA_FLAGS=$XLA_FLAGS" | tee -a "$log"
    run 120 python3 benchmarks/step.py --workload=$workload --steps="$STEPS" --warmup=2
  fi
  run 60 python3 "$bench/torch_reference.py" --workload=$workload --steps="$STEPS"
done
for workload in "${WORKLOADS[@]}"; do
  run 100 python3 "$bench/compare.py" --workload=$workload --steps="$STEPS" --rounds=3 \
    --project="python3 benchmarks/step.py"
done
for workload in "${WORKLOADS[@]}"; do
  run 120 python3 benchmarks/step.py --workload=$workload --conv=xla --steps="$STEPS" --warmup=2
done
rm -f "$out/last.txt"
echo "done in $(elapsed) s" | tee -a "$log"
