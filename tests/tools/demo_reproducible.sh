#!/usr/bin/env bash
# Regenerates the demo world, corpus, evaluation sets and tokenizer into a temporary folder
# and compares them byte for byte with resources/demo. Skips (77) without python3.
set -u
root=$1
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$root/tools/demo/make_demo_data.py" --out "$tmp" >/dev/null || exit 1
python3 "$root/tools/demo/train_tokenizer.py" --demo "$tmp" >/dev/null || exit 1
status=0
for f in world.json corpus.txt counterfact.json retention.json model/tokenizer.json model/tokenizer_config.json; do
  if cmp -s "$tmp/$f" "$root/resources/demo/$f"; then echo "same: $f"; else echo "DIFFERS: $f"; status=1; fi
done
exit $status
