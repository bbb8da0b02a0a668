#!/usr/bin/env bash
# Runs on the GPU machine (see prepare.sh): builds engram_core, engram-cli and the tools
# against the machine's LibTorch 2.x with CUDA, then compares our logits and greedy output on
# CPU and CUDA with Hugging Face transformers for every family. Results go to $OUT.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-/tmp/engram-crosscheck}
mkdir -p "$out"
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__, "cuda", torch.cuda.is_available())'
"$root/tools/device/build.sh"
python3 "$root/tools/device/hf_crosscheck.py" --bin /tmp/engram-build --fixtures "$root/.devdeps/fixtures" \
  --work /tmp/engram-work --out "$out"
