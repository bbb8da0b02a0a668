#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a tested build: installs missing Debian
# packages, builds everything, runs the whole Qt Test suite headless (offscreen).
# Usage: scripts/test.sh [ctest options, e.g. -L unit]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/torchargs.sh" # --torch DIR: build against that LibTorch (in build-torch/)
set -- ${ENGRAM_ARGS[@]+"${ENGRAM_ARGS[@]}"}
export ENGRAM_TORCH_DIR=${torch_dir:-}
"$root/scripts/setup-deps.sh"
"$root/scripts/build.sh"
export QT_QPA_PLATFORM=offscreen
export ENGRAM_FIXTURES=${ENGRAM_FIXTURES:-$root/../shared/fixtures}
cd "${ENGRAM_BUILD_DIR:-$root/build}"
ctest --output-on-failure --parallel "$(nproc)" "$@"
