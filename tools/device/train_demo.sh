#!/usr/bin/env bash
# Trains the demo model on the GPU machine (same recipe as on the CPU, much faster) and
# writes config.json, model.safetensors and the log to $OUT.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/tools/device/build.sh"
out=${OUT:-/tmp/engram-device}
/tmp/engram-build/tools/train_demo --demo "$root/resources/demo" --out "$out" --device cuda --threads 16 "$@" \
  > "$out/train.log" 2>&1 || { tail -20 "$out/train.log"; exit 1; }
grep -E "epoch .* done|saved" "$out/train.log"
