#!/usr/bin/env bash
# On the GPU machine (see prepare.sh; carry .devdeps): after the typed edit pipeline of issue 17,
# builds core, engram-cli, bench/ and tools/ against the machine's LibTorch 2.x with CUDA,
# cross-checks the forward pass with transformers, runs the CLI's file commands on CUDA
# (statistics, a 100-fact MEMIT edit through the shared recipe, evaluation as JSON) and
# bench_memit on the demo preset (100 edits batched vs one fact at a time; 1,000 batched).
# Logs and JSON go to $OUT.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-/tmp/engram-device}
mkdir -p "$out"
t0=$(date +%s)
OUT=/tmp/engram-buildlogs "$root/tools/device/build.sh" || exit 1
echo "built in $(( $(date +%s) - t0 )) s"
b=/tmp/engram-build
demo=$root/resources/demo
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
step() { echo "== $* ($(( $(date +%s) - t0 )) s)"; }
step crosscheck
timeout 150 python3 "$root/tools/device/hf_crosscheck.py" --bin $b --fixtures "$root/.devdeps/fixtures" \
  --work /tmp/engram-work --out "$out" > "$out/crosscheck.log" 2>&1; echo "crosscheck rc=$?"; tail -n 15 "$out/crosscheck.log"
step "cli stats/edit/eval on cuda"
cli=$b/app/engram-cli
$cli stats --model "$demo/model" --corpus "$demo/corpus.txt" --layers 0,1,2,3 --max-docs 3000 \
  --out /tmp/stats.safetensors --device cuda --threads 16 2>/dev/null | tail -n 1
/usr/bin/time -f "edit: %e s, %M KB peak RSS" $cli edit --model "$demo/model" --facts "$demo/counterfact.json" --limit 100 \
  --stats /tmp/stats.safetensors --out /tmp/e.patch --device cuda --threads 16 2> "$out/edit.err" > "$out/edit.txt"
echo "edit rc=$?"; tail -n 8 "$out/edit.txt"; grep -E "^preset|edit:" "$out/edit.err"
$cli eval --model "$demo/model" --data "$demo/counterfact.json" --limit 100 --patch /tmp/e.patch --device cuda \
  --threads 16 --json "$out/eval.json" 2>/dev/null | tail -n 4
step "bench_memit 100, batched vs serial"
$b/bench/bench_memit --device cuda --threads 16 --edits 100 --preserve-templates 1 --protect 1 --compare-serial 1 \
  > "$out/bench100.txt" 2>&1; echo "rc=$?"; tail -n 25 "$out/bench100.txt"
step "bench_memit 1000, batched"
timeout 200 $b/bench/bench_memit --device cuda --threads 16 --edits 1000 --preserve-templates 1 --protect 1 \
  > "$out/bench1000.txt" 2>&1; echo "rc=$?"; tail -n 25 "$out/bench1000.txt"
step done
