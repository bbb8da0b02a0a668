#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/, Clang, ASan+UBSan) and runs each of them in turn.
# Usage: scripts/fuzz.sh [SECONDS] [HARNESS...]      (docs/fuzzing.md)
#   SECONDS             per harness, default 60 (-max_total_time)
#   HARNESS...          e.g. fuzz_npz fuzz_dataset; default: all of them
# Environment:
#   ENGRAM_FUZZ_RUNS=N        run N inputs per harness (-runs=N) instead of a time limit
#   ENGRAM_FUZZ_BUILD_DIR     build folder (default build-fuzz/; configured with clang++)
#   ENGRAM_FUZZ_WORK          scratch folder for corpora, seeds, crash artifacts and logs
#                             (default: a new /tmp/engram-fuzz.XXXXXX, kept and printed)
#   ENGRAM_FIXTURES           third-party fixtures (default ../shared/fixtures next to the checkout):
#                             seeds are cut from them into the scratch folder, never the repository
#   ENGRAM_FUZZ_JOBS          build parallelism (default: the number of CPUs)
#   ENGRAM_FUZZ_FLAGS         extra libFuzzer flags for every harness
#   ENGRAM_FUZZ_TOLERATE      "|"-separated pieces of exception messages to treat as known
#                             findings awaiting a fix, so that a long run goes on past them
# Exit status: 0 when no harness found anything, 1 on any finding (crash, sanitizer report,
# exception other than engram::Error, timeout, out-of-memory), 2 on a usage or build error.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
all=(fuzz_safetensors fuzz_modelconfig fuzz_tokenizer_json fuzz_vocab_merges fuzz_npz fuzz_dataset fuzz_patch
  fuzz_statistics fuzz_project)

seconds=60
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${all[@]}")
for h in "${harnesses[@]}"; do
  [[ " ${all[*]} " == *" $h "* ]] || { echo "fuzz.sh: unknown harness '$h' (known: ${all[*]})" >&2; exit 2; }
done
runs=${ENGRAM_FUZZ_RUNS:-}
if [ -n "$runs" ] && ! [[ $runs =~ ^[0-9]+$ ]]; then
  echo "fuzz.sh: ENGRAM_FUZZ_RUNS must be a number" >&2
  exit 2
fi

build=${ENGRAM_FUZZ_BUILD_DIR:-$root/build-fuzz}
cxx=${CXX:-clang++}
command -v "$cxx" >/dev/null || { echo "fuzz.sh: $cxx not found; the harnesses need Clang (libFuzzer)" >&2; exit 2; }
start=$(date +%s)
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DENGRAM_BUILD_FUZZ=ON -DENGRAM_BUILD_UI=OFF -DENGRAM_BUILD_TESTS=OFF -DENGRAM_BUILD_BENCH=OFF \
    -DENGRAM_BUILD_TOOLS=OFF >/dev/null || exit 2
fi
cmake --build "$build" --target "${harnesses[@]}" --parallel "${ENGRAM_FUZZ_JOBS:-$(nproc)}" || exit 2
built=$(date +%s)
echo "fuzz.sh: built in $((built - start)) s ($build)"

work=${ENGRAM_FUZZ_WORK:-$(mktemp -d /tmp/engram-fuzz.XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
fixtures=${ENGRAM_FIXTURES:-$root/../shared/fixtures}

# Seeds from real files, cut down to a few KiB each, into $work/seeds/<harness>/.
seed() { # seed <harness> <name> <shrink kind or "copy"> <input files...>
  local h=$1 name=$2 kind=$3
  shift 3
  for f in "$@"; do [ -f "$f" ] || return 0; done
  mkdir -p "$work/seeds/$h"
  rm -f "$work/seeds/$h/$name"
  if [ "$kind" = copy ]; then
    cp "$1" "$work/seeds/$h/$name" && chmod u+w "$work/seeds/$h/$name"
  elif command -v python3 >/dev/null; then
    python3 "$root/fuzz/shrink_seed.py" "$kind" "$@" "$work/seeds/$h/$name" \
      || echo "fuzz.sh: could not cut a seed from $*" >&2
  fi
}
demo=$root/resources/demo
seed fuzz_safetensors demo-model.safetensors safetensors "$demo/model/model.safetensors"
seed fuzz_safetensors fake-gpt2.safetensors safetensors "$fixtures/fake-gpt2-hf/model.safetensors"
seed fuzz_safetensors stories260k.safetensors safetensors "$fixtures/stories260k-hf/model.safetensors"
seed fuzz_modelconfig demo-config.json copy "$demo/model/config.json"
seed fuzz_modelconfig fake-gpt2-config.json copy "$fixtures/fake-gpt2-hf/config.json"
seed fuzz_modelconfig stories260k-config.json copy "$fixtures/stories260k-hf/config.json"
seed fuzz_tokenizer_json demo-tokenizer.json tokenizer "$demo/model/tokenizer.json"
seed fuzz_tokenizer_json gpt2-tokenizer.json tokenizer "$fixtures/fake-gpt2-hf/tokenizer.json"
seed fuzz_tokenizer_json stories260k-tokenizer.json copy "$fixtures/stories260k-hf/tokenizer.json"
seed fuzz_vocab_merges gpt2-vocab-merges.txt vocab-merges "$fixtures/fake-gpt2-hf/vocab.json" \
  "$fixtures/fake-gpt2-hf/merges.txt"
for f in "$root"/tests/fixtures/npz/*.npz; do
  seed fuzz_npz "$(basename "$f")" copy "$f"
  seed fuzz_statistics "$(basename "$f")" copy "$f"
done
for f in "$demo"/counterfact.json "$demo"/retention.json; do
  seed fuzz_dataset "demo-$(basename "$f")" json-list "$f"
done
seed fuzz_dataset counterfact.json json-list "$fixtures/counterfact/counterfact_500.json"
seed fuzz_dataset zsre.json json-list "$fixtures/zsre/zsre_1037.json"
seed fuzz_dataset known-facts.json json-list "$fixtures/known-facts/known_1000.json"
[ -d "$fixtures" ] || echo "fuzz.sh: no fixtures at $fixtures (set ENGRAM_FIXTURES); using the repository's seeds only"

# libFuzzer's own checks; sanitizer reports end the run with a stack trace.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ENGRAM_FUZZ_SCRATCH=$work/tmp
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  ENGRAM_FUZZ_SCRATCH=$(mktemp -d /dev/shm/engram-fuzz.XXXXXX) # the harnesses' files, in memory
  trap 'rm -rf "$ENGRAM_FUZZ_SCRATCH"' EXIT
fi
mkdir -p "$ENGRAM_FUZZ_SCRATCH"

if [ -n "$runs" ]; then limit=(-runs="$runs"); else limit=(-max_total_time="$seconds"); fi
echo "fuzz.sh: ${runs:+$runs runs}${runs:-$seconds s} per harness; corpora, artifacts and logs in $work"
printf '%-22s %11s %8s %7s %7s %7s %6s  %s\n' harness executions exec/s cov ft corpus new result
findings=0
for h in "${harnesses[@]}"; do
  mkdir -p "$work/corpus/$h" "$work/artifacts/$h" "$work/seeds/$h"
  cat "$root/fuzz/dict/json.dict" "$root/fuzz/dict/$h.dict" >"$work/$h.dict" 2>/dev/null || true
  log=$work/$h.log
  marker=$work/artifacts/.start-$h # artifacts of earlier runs in a reused folder are not counted
  touch "$marker"
  rc=0
  # shellcheck disable=SC2086
  "$build/fuzz/$h" "${limit[@]}" -print_final_stats=1 -timeout=30 -rss_limit_mb=2048 \
    -dict="$work/$h.dict" -artifact_prefix="$work/artifacts/$h/" ${ENGRAM_FUZZ_FLAGS:-} \
    "$work/corpus/$h" "$root/fuzz/corpus/$h" "$work/seeds/$h" >"$log" 2>&1 || rc=$?
  final_stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  execs=$(final_stat number_of_executed_units)
  speed=$(final_stat average_exec_per_sec)
  added=$(final_stat new_units_added)
  # The last status line: "#N DONE cov: C ft: F corp: U/SIZE ..." (or, with -fork, "#N: cov: C ft: F corp: U exec/s E ...").
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9/]*[a-zA-Z]*\).*/\1/p' <<<"$last")
  [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
  [ -n "$speed" ] || speed=$(sed -n 's/.* exec\/s:* \([0-9]*\).*/\1/p' <<<"$last")
  # crash-, timeout-, oom- and leak- inputs are findings; slow-unit- ones (over 10 s, under the
  # 30 s timeout) are reported only: on a busy machine they are usually the machine.
  artifacts=$(find "$work/artifacts/$h" -type f -newer "$marker" ! -name 'slow-unit-*' | wc -l)
  slow=$(find "$work/artifacts/$h" -type f -newer "$marker" -name 'slow-unit-*' | wc -l)
  if [ "$rc" -eq 0 ] && [ "$artifacts" -eq 0 ]; then
    result=ok
  else
    findings=$((findings + 1))
    kind=$(grep -m1 -oE "runtime error: .{0,60}|terminate called after throwing an instance of '[^']*'|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer): [a-z-]+|fuzz_[a-z_]+: .{0,60}" "$log" || true)
    result="FINDING (exit $rc${kind:+: $kind}); $artifacts artifact(s) in $work/artifacts/$h, log $log"
  fi
  [ "$slow" -eq 0 ] || result="$result; $slow slow input(s) (over 10 s) in $work/artifacts/$h"
  tolerated=$(grep -c '^fuzz: tolerated' "$log" || true)
  [ "${tolerated:-0}" -eq 0 ] || result="$result; $tolerated known exception(s) tolerated (ENGRAM_FUZZ_TOLERATE)"
  printf '%-22s %11s %8s %7s %7s %7s %6s  %s\n' "$h" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" \
    "${added:-?}" "$result"
done
echo "fuzz.sh: $((${#harnesses[@]})) harness(es) in $(($(date +%s) - start)) s, $findings with findings; new corpus entries in $work/corpus"
[ "$findings" -eq 0 ] || exit 1
