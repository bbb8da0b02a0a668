#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the running app: installs missing Debian
# packages, builds, and launches the Engram workbench. Extra arguments go to engram
# (e.g. --model DIR). Without a display it starts the app under Xvfb.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/torchargs.sh" # --torch DIR: build against that LibTorch (in build-torch/)
set -- ${ENGRAM_ARGS[@]+"${ENGRAM_ARGS[@]}"}
export ENGRAM_TORCH_DIR=${torch_dir:-}
"$root/scripts/setup-deps.sh"
"$root/scripts/build.sh"
app="${ENGRAM_BUILD_DIR:-$root/build}/app/engram"
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "run: no display found; starting under xvfb-run (nothing will be visible)" >&2
  exec xvfb-run -a "$app" "$@"
fi
exec "$app" "$@"
