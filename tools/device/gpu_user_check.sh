#!/usr/bin/env bash
# On the GPU machine (carry .devdeps, see prepare.sh), issue 21: the README's GPU path as a
# user takes it (scripts/build.sh --torch <Python torch's LibTorch>), then engram-cli's test
# scripts with every command on CUDA (a wrapper appends --device cuda), bench_memit on CUDA,
# and the LoRA adapter of a project's runs loaded with PEFT (or merged by hand when PEFT is
# absent) against the exported patched model. Logs go to $OUT.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-/tmp/engram-device}
mkdir -p "$out"
t0=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - t0 )) s)"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "cxx11 abi", torch.compiled_with_cxx11_abi())
for m in ("transformers", "peft"):
    try:
        print(m, __import__(m).__version__)
    except Exception as e:
        print(m, "absent:", type(e).__name__)
PY
step "scripts/build.sh --torch (core, CLI, bench; no Qt here)"
torch_dir=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
ENGRAM_BUILD_DIR=/tmp/engram-gpu "$root/scripts/build.sh" --torch "$torch_dir" -DENGRAM_BUILD_UI=OFF \
  -DENGRAM_BUILD_TESTS=OFF -DENGRAM_BUILD_TOOLS=OFF -DENGRAM_DEPS_PREFIX="$root/.devdeps" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 > "$out/build.log" 2>&1 \
  || { grep -E "error|Error" "$out/build.log" | head -30; tail -20 "$out/build.log"; exit 1; }
grep -E "LibTorch" "$out/build.log" | head -3
b=/tmp/engram-gpu
cli=$b/app/engram-cli
$cli --version
step "CLI test scripts, every command with --device cuda"
printf '#!/bin/sh\nexec %s "$@" --device cuda\n' "$cli" > /tmp/cli-cuda; chmod +x /tmp/cli-cuda
demo=$root/resources/demo
export ENGRAM_CACHE_DIR=/tmp/engram-cache
for t in cli_edit cli_json cli_options cli_eval cli_project cli_trace; do
  case $t in
    cli_eval) extra=("$root/.devdeps/fixtures") ;;
    cli_trace) extra=(none) ;;
    *) extra=() ;;
  esac
  s=$(date +%s)
  timeout 150 bash "$root/tests/tools/$t.sh" /tmp/cli-cuda "$demo" "${extra[@]}" > "$out/$t.log" 2>&1
  rc=$?
  echo "$t: rc=$rc in $(( $(date +%s) - s )) s"; [ $rc -eq 0 ] || tail -n 8 "$out/$t.log"
done
step "bench_memit 100 on cuda, batched vs serial"
timeout 150 $b/bench/bench_memit --device cuda --threads 16 --edits 100 --preserve-templates 1 --protect 1 \
  --compare-serial 1 > "$out/bench100.txt" 2>&1; echo "rc=$?"; tail -n 14 "$out/bench100.txt"
step "LoRA adapter vs exported model (transformers, PEFT when present)"
w=/tmp/lora-work; rm -rf $w; mkdir -p $w
$cli project new $w/p.engram --model "$demo/model" --corpus "$demo/corpus.txt" --max-docs 3000 > /dev/null
$cli facts import $w/p.engram --data "$demo/counterfact.json" --limit 40 > /dev/null
$cli edit $w/p.engram --ids 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20 --device cuda --threads 16 | tail -n 2
$cli edit $w/p.engram --ids 21,22,23,24,25 --device cuda --threads 16 | head -n 1
$cli export $w/p.engram --out $w/exported > /dev/null && $cli export $w/p.engram --lora $w/adapter | head -n 3
timeout 120 python3 "$root/tools/device/lora_peft_check.py" "$demo/model" $w/adapter $w/exported 2>&1 | tail -n 12
step done
