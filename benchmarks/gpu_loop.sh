#!/usr/bin/env bash
# How fast the experiments' training loop runs on a lent GPU, next to its bare step (about
# 2 minutes on an H200; run alone: processes sharing one GPU time-slice it).
#
#   bash benchmarks/gpu_loop.sh [OUT_DIR]
#
# 1. the loop's own cost per step: WGAN-GP on grid25 with 8-wide MLPs and batch 8, so the step
#    is almost free and steps/s is what the host can drive (next batch, dispatch, metrics),
#    under cProfile (OUT_DIR/loop_profile.txt: the 40 costliest functions by own time);
# 2. the main job's loop (wgan_gp's default) and the digits DCGAN recipe's, 8,000 and 4,000
#    steps with no evaluation or checkpoint in between (a plot at step 5,000 slows the
#    interval after it).
# Compare their steps/s with benchmarks/step.py's bare steps (gpu_check.sh).
set -u
out=${1:-/tmp/jaxgan_gpu_loop}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
quiet=(--log_every=1000 --eval_every=100000 --checkpoint_every=100000)
# Fresh workdirs: a rerun into the last ones would resume from their final checkpoint and
# train nothing.
runs=$(mktemp -d /tmp/jaxgan_loop.XXXX)

timeout 60 python3 -m cProfile -o "$out/loop.prof" experiments/wgan_gp.py --g_hidden=8 \
  --d_hidden=8 --batch_size=8 --n_critic=1 --num_steps=8000 "${quiet[@]}" \
  --workdir="$runs"/tiny >"$out/tiny.log" 2>&1
python3 - "$out/loop.prof" "$out/loop_profile.txt" <<'PY'
import pstats, sys
with open(sys.argv[2], "w") as report:
  pstats.Stats(sys.argv[1], stream=report).sort_stats("tottime").print_stats(40)
PY
timeout 60 python3 experiments/wgan_gp.py --num_steps=8000 "${quiet[@]}" \
  --workdir="$runs"/wgan_gp >"$out/wgan_gp.log" 2>&1
timeout 60 python3 experiments/dcgan.py --flagfile=experiments/configs/dcgan_digits.flags \
  --num_steps=4000 "${quiet[@]}" --workdir="$runs"/dcgan >"$out/dcgan.log" 2>&1
for run in tiny wgan_gp dcgan; do
  echo "== $run"
  grep -E '^(training|compiled)|steps/s' "$out/$run.log" | cut -c1-64
done
