#!/usr/bin/env bash
# Builds engram_core, engram-cli, bench/ and tools/ on the GPU machine against its Python
# LibTorch 2.x (CUDA), using the C dependencies carried in .devdeps/ (see prepare.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-/tmp/engram-device}
mkdir -p "$out"
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
cmake -S "$root" -B /tmp/engram-build -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DENGRAM_BUILD_UI=OFF -DENGRAM_BUILD_TESTS=OFF -DENGRAM_DEPS_PREFIX="$root/.devdeps" \
  -DCMAKE_PREFIX_PATH="$torch_prefix" -DCMAKE_CUDA_ARCHITECTURES=90 > "$out/configure.log" 2>&1 \
  || { tail -40 "$out/configure.log"; exit 1; }
ninja -C /tmp/engram-build > "$out/build.log" 2>&1 || { grep -E "error|Error" "$out/build.log" | head -40; exit 1; }
echo "build ok: $(/tmp/engram-build/app/engram-cli --version)"
