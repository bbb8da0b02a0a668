#!/usr/bin/env bash
# Runs on the GPU machine (see prepare.sh): builds engram_core, engram-cli and the tools
# against the machine's LibTorch 2.x with CUDA, then compares our logits and greedy output on
# CPU and CUDA with Hugging Face transformers for every family. Results go to $OUT.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-/tmp/engram-crosscheck}
mkdir -p "$out"
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__, "cuda", torch.cuda.is_available())'
cmake -S "$root" -B /tmp/engram-build -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DENGRAM_BUILD_UI=OFF -DENGRAM_BUILD_TESTS=OFF -DENGRAM_DEPS_PREFIX="$root/.devdeps" \
  -DCMAKE_PREFIX_PATH="$torch_prefix" -DCMAKE_CUDA_ARCHITECTURES=90 > "$out/configure.log" 2>&1 \
  || { tail -40 "$out/configure.log"; exit 1; }
ninja -C /tmp/engram-build > "$out/build.log" 2>&1 || { grep -E "error|Error" "$out/build.log" | head -40; exit 1; }
echo "build ok"
/tmp/engram-build/app/engram-cli --version
python3 "$root/tools/device/hf_crosscheck.py" --bin /tmp/engram-build --fixtures "$root/.devdeps/fixtures" \
  --work /tmp/engram-work --out "$out"
/tmp/engram-build/bench/bench_model --threads 16 --batch 8 --tokens 128 | tee "$out/bench_cpu.txt"
