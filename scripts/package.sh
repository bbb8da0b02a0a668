#!/usr/bin/env bash
# One command to the Debian package: installs missing build packages, builds, and writes
# build/package/engram_<version>_amd64.deb (Depends computed from the linked libraries).
# Install it with: sudo apt install ./build/package/engram_*_amd64.deb
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/torchargs.sh" # --torch DIR: build against that LibTorch (in build-torch/)
set -- ${ENGRAM_ARGS[@]+"${ENGRAM_ARGS[@]}"}
export ENGRAM_TORCH_DIR=${torch_dir:-}
build="${ENGRAM_BUILD_DIR:-$root/build}"
"$root/scripts/setup-deps.sh"
"$root/scripts/build.sh"
(cd "$build" && cpack -G DEB)
ls -1 "$build"/package/engram_*_amd64.deb
