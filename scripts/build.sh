#!/usr/bin/env bash
# Configures and builds Engram into build/ (Ninja, RelWithDebInfo, ccache when present).
# Usage: scripts/build.sh [--torch DIR] [extra cmake -D options]
#   --torch DIR (or ENGRAM_TORCH_DIR): build against that LibTorch 2.x (e.g. CUDA) instead of
#   Debian's CPU LibTorch 1.13, in build-torch/ (see README, "Using an NVIDIA GPU").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/torchargs.sh"
build=${ENGRAM_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${ENGRAM_TORCH_CMAKE[@]+"${ENGRAM_TORCH_CMAKE[@]}"} \
  ${ENGRAM_ARGS[@]+"${ENGRAM_ARGS[@]}"}
cmake --build "$build" --parallel "$(nproc)"
