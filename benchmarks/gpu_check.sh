#!/usr/bin/env bash
# The GPU figures of BENCHMARKS.md in one call of a lent GPU machine (at most ~9.5 minutes).
#
#   bash benchmarks/gpu_check.sh BENCH_DIR [OUT_DIR]
#
# BENCH_DIR holds shared/bench's compare.py and torch_reference.py (copy them
# into the checkout: ../shared does not travel to the device machine). Every
# run has its own time limit, so a slow compilation costs one line, not the
# call. What it prints is also written to OUT_DIR/gpu_check.log, and each
# run's JSON lines to OUT_DIR/gpu_check.jsonl.
#
# For each workload in turn (dcgan32 first, so that a short call still gives
# one whole figure), each run skipped when too little of BUDGET_S (default
# 560 s) is left:
# 1. jaxgan's step with a cold compilation cache, with the convolutions as
#    matrix products (--conv=matmul) and as XLA's, that is cuDNN's (--conv=xla);
#    trace_s and compile_s say where a first step's time goes, XLA's GPU
#    autotuning included. If dcgan32 gives no step within its limit, the call
#    goes on with XLA's autotuning off, and says so;
# 2. the PyTorch reference;
# 3. compare.py (alternating rounds) with the faster of the two convolutions;
#    its jaxgan runs reuse the persistent compilation cache that step 1 filled.
# Last, if time is left: dcgan32's PyTorch reference under torch.compile.
#
# DRY_RUN=1 prints the worst-case plan (every run taking its whole limit) and runs nothing.
set -u
bench=${1:?usage: gpu_check.sh BENCH_DIR [OUT_DIR]}
out=${2:-/tmp/jaxgan_gpu_check}
mkdir -p "$out"
log=$out/gpu_check.log
jsonl=$out/gpu_check.jsonl
: >"$log"
: >"$jsonl"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/jaxgan_xla_cache}
STEPS=${STEPS:-200}
WORKLOADS=(dcgan32 dcgan32_wgan_gp)
BUDGET_S=${BUDGET_S:-560}

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
  grep '^{' "$out/last.txt" >>"$jsonl"
  grep -v '^[IW][0-9]' "$out/last.txt" | tail -n 4 | tee -a "$log"
  ((rc == 124)) && echo "  stopped at its limit" | tee -a "$log"
  echo "  rc $rc after $((SECONDS - started)) s" | tee -a "$log"
}

# faster_conv WORKLOAD: the --conv value whose cold run gave more items/s (matmul if neither ran).
faster_conv() {
  python3 - "$jsonl" "$1" <<'PY'
import json, sys
best = {}
for line in open(sys.argv[1]):
  row = json.loads(line)
  if row.get("framework") == "jaxgan" and row.get("workload") == sys.argv[2]:
    best[row["conv"]] = row["items_per_s"]
print(max(best, key=best.get) if best else "matmul")
PY
}

[[ -z ${DRY_RUN:-} ]] && {
  date -u
  nvidia-smi -L
  python3 -c 'import jax, flax, optax, chex, torch; from jaxgan import host
print("jax", jax.__version__, jax.devices(), "flax", flax.__version__, "optax", optax.__version__,
      "chex", chex.__version__, "torch", torch.__version__)
print("accelerator plugin:", host.accelerator_plugin_installed(), "malloc tuned:", host.wants_tuning())'
} 2>&1 | tee -a "$log"

for workload in "${WORKLOADS[@]}"; do
  step=(python3 benchmarks/step.py --workload="$workload" --steps="$STEPS" --warmup=2)
  run 130 "${step[@]}" --conv=matmul
  if [[ $workload == dcgan32 ]] && ! grep -q '"framework": "jaxgan"' "$jsonl" 2>/dev/null; then
    # No step in 130 s: XLA's autotuning (every product's kernels compiled and timed) is the
    # first suspect; the rest of the call runs without it, and says so.
    export XLA_FLAGS="${XLA_FLAGS:+$XLA_FLAGS }--xla_gpu_autotune_level=0"
    echo "from here on XLA_FLAGS=$XLA_FLAGS" | tee -a "$log"
    run 100 "${step[@]}" --conv=matmul
  fi
  run 100 "${step[@]}" --conv=xla
  run 60 python3 "$bench/torch_reference.py" --workload="$workload" --steps="$STEPS"
  conv=$(faster_conv "$workload")
  run 120 python3 "$bench/compare.py" --workload="$workload" --steps="$STEPS" --rounds=3 \
    --project="python3 benchmarks/step.py --conv=$conv"
done
# torch.compile's aot_autograd has no double backward, which the gradient penalty needs.
run 90 python3 "$bench/torch_reference.py" --workload=dcgan32 --steps="$STEPS" --compile
rm -f "$out/last.txt"
echo "done in $(elapsed) s" | tee -a "$log"
