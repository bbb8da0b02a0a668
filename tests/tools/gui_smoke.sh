#!/usr/bin/env bash
# Launches the real engram binary on an X server (Xvfb) with a model and lets it close
# itself; fails if it crashes or does not exit cleanly. Skips (77) without xvfb-run.
set -u
app=$1
fixtures=${ENGRAM_FIXTURES:-$2}
command -v xvfb-run >/dev/null 2>&1 || { echo "SKIP: xvfb-run not installed"; exit 77; }
args=(--quit-after 2500)
[ -d "$fixtures/stories260k-hf" ] && args+=(--model "$fixtures/stories260k-hf")
unset QT_QPA_PLATFORM
XDG_CONFIG_HOME=$(mktemp -d) timeout 60 xvfb-run -a "$app" "${args[@]}"
