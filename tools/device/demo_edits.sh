#!/usr/bin/env bash
# On the GPU machine: trains the demo model with the committed recipe (resources/demo) for each
# seed, runs check_demo on it (recall, subject swap, causal tracing), then runs bench_memit once
# per line of SWEEP_FILE on the first seed's model (CUDA; SWEEP_ON=committed: on the committed
# model instead, so the sweep can run with SEEDS=""). TRAIN_ARGS adds train_demo options (a
# recipe variant, e.g. TRAIN_ARGS="--inner 1536 --save-dtype fp16"). Logs and weights go to $OUT.
#   SEEDS="1 2" SWEEP_FILE=tools/device/edit_sweep.txt tools/device/demo_edits.sh
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-/tmp/engram-device}
mkdir -p "$out"
t0=$(date +%s)
OUT=/tmp/engram-buildlogs "$root/tools/device/build.sh" || exit 1
echo "built in $(( $(date +%s) - t0 )) s"
b=/tmp/engram-build
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
first=""
for seed in ${SEEDS-1 2}; do
  d=/tmp/demo-seed$seed
  rm -rf "$d"; mkdir -p "$d"
  for f in world.json corpus.txt counterfact.json retention.json; do ln -s "$root/resources/demo/$f" "$d/$f"; done
  start=$(date +%s)
  # shellcheck disable=SC2086 # TRAIN_ARGS is a list of options
  $b/tools/train_demo --demo "$root/resources/demo" --out "$d/model" --device cuda --threads 16 --epochs 30 \
    --decay-epochs 4 --seed "$seed" ${TRAIN_ARGS:-} > "$out/train-seed$seed.log" 2>&1 || { tail -n 5 "$out/train-seed$seed.log"; continue; }
  cp "$root/resources/demo/model/"tokenizer*.json "$d/model/"
  echo "== seed $seed: trained in $(( $(date +%s) - start )) s" | tee -a "$out/recipes.txt"
  $b/tools/check_demo --demo "$d" --threads 16 --pairs 200 --trace-facts "${TRACE_FACTS:-100}" >> "$out/recipes.txt" 2>&1
  tail -n 12 "$out/recipes.txt"
  cp "$d/model/model.safetensors" "$out/seed$seed.safetensors"
  [ -z "$first" ] && first=$d
done
[ "${SWEEP_ON:-}" = committed ] && first=$root/resources/demo
[ -n "$first" ] || exit 1
while IFS= read -r args; do
  case "$args" in ''|'#'*) continue ;; esac
  echo "## $args" | tee -a "$out/sweep.txt"
  # shellcheck disable=SC2086
  $b/bench/bench_memit --demo "$first" --device cuda --threads 16 $args 2>&1 \
    | tee -a "$out/sweep.txt" | grep -E "edit   |targets alone|after  "
done < "${SWEEP_FILE:-$root/tools/device/edit_sweep.txt}"
echo "total $(( $(date +%s) - t0 )) s"
