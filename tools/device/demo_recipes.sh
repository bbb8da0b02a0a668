#!/usr/bin/env bash
# On the GPU machine: bench_trace (CUDA, demo and GPT-2-medium size), then the demo training
# recipe's robustness: trains the demo model for several corpus variants and seeds and runs
# check_demo (recall, subject swap, causal tracing) on each. Logs and weights go to $OUT.
#   tools/device/demo_recipes.sh "name:bios:qa_share:seed" ...
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-/tmp/engram-device}
mkdir -p "$out"
OUT=/tmp/engram-buildlogs "$root/tools/device/build.sh" || exit 1
b=/tmp/engram-build
export ENGRAM_FIXTURES="$root/.devdeps/fixtures"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
if [ "${BENCH:-1}" = 1 ]; then
  $b/bench/bench_trace --device cuda --repeats 5 > "$out/bench_trace.txt" 2>&1; echo "bench_trace rc=$?"
  cat "$out/bench_trace.txt"
fi
for spec in "$@"; do
  IFS=: read -r name bios qa seed <<< "$spec"
  d=/tmp/demo-$name
  rm -rf "$d"; mkdir -p "$d/model"
  cp "$root/resources/demo/model/"{tokenizer.json,tokenizer_config.json,special_tokens_map.json} "$d/model/" 2>/dev/null
  cp "$root/resources/demo/model/"*.json "$d/model/"
  python3 "$root/tools/demo/make_demo_data.py" --out "$d" --bios "$bios" --qa-share "$qa" > /dev/null || exit 1
  start=$(date +%s)
  $b/tools/train_demo --demo "$d" --out "$d/trained" --device cuda --threads 16 --epochs 30 --decay-epochs 4 \
    --seed "$seed" > "/tmp/$name.train.log" 2>&1 || { tail -n 5 "/tmp/$name.train.log"; continue; }
  echo "== $name (bios $bios, qa share $qa, seed $seed): trained in $(( $(date +%s) - start )) s" | tee -a "$out/recipes.txt"
  grep -E "epoch 30 done|saved|skipped" "/tmp/$name.train.log" >> "$out/recipes.txt"
  $b/tools/check_demo --demo "$d" --model "$d/trained" --threads 16 --pairs 200 --trace-facts "${TRACE_FACTS:-100}" \
    >> "$out/recipes.txt" 2>&1
  cp "$d/trained/model.safetensors" "$out/$name.safetensors"
done
