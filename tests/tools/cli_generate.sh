#!/usr/bin/env bash
# engram-cli generate on the trained Llama fixture must print the documented continuation.
set -u
cli=$1
fixtures=${ENGRAM_FIXTURES:-$2}
model="$fixtures/stories260k-hf"
if [ ! -d "$model" ]; then
  echo "SKIP: fixture $model not found (set ENGRAM_FIXTURES)"
  exit 77
fi
out=$("$cli" generate --model "$model" --prompt "Lily and Tom went to the" --max-new-tokens 24 --greedy --threads 2) || exit 1
echo "$out"
expected="Lily and Tom went to the park. They saw a big box with a big box. They wanted to play"
case "$out" in
  "$expected"*) exit 0 ;;
  *) echo "expected to start with: $expected"; exit 1 ;;
esac
