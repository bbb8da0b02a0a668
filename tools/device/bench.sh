#!/usr/bin/env bash
# Runs bench_model on the GPU machine: CPU (16 cores) and CUDA, fp32 and bf16.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/tools/device/build.sh" || exit 1
b=/tmp/engram-build/bench/bench_model
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
$b --device cuda; echo "rc=$?"
$b --device cuda --dtype bf16; echo "rc=$?"
$b --device cuda --batch 32 --tokens 256 --hidden 1024 --layers 24 --heads 16; echo "rc=$?"
$b --threads 4 --layers 2 --hidden 256 --heads 4 --vocab 1000; echo "rc=$?"
$b --threads 16; rc=$?; echo "rc=$rc"
if [ "$rc" -ge 128 ] && command -v cuda-gdb >/dev/null; then
  cuda-gdb -batch -ex run -ex bt --args $b --threads 16 2>&1 | tail -40
fi
