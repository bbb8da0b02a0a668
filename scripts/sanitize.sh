#!/usr/bin/env bash
# The unit tests under sanitizers, in their own build folder.
# Usage: scripts/sanitize.sh [address,undefined | thread] [ctest options]
#   address,undefined (default): ASan + UBSan over the engine, engram-cli and the unit tests
#     (build-asan/); any report fails the test.
#   thread: TSan over the job controller, the project jobs and the workbench GUI tests
#     (build-tsan/).
# LibTorch, Qt and OpenBLAS are not instrumented; tests/sanitizers/ holds the few suppressions
# their code needs, each with its reason.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:-address,undefined}
[ $# -gt 0 ] && shift
case "$kind" in
  address,undefined|undefined,address|address) dir=${ENGRAM_SANITIZE_BUILD_DIR:-$root/build-asan} ;;
  thread) dir=${ENGRAM_SANITIZE_BUILD_DIR:-$root/build-tsan} ;;
  *) echo "sanitize.sh: unknown sanitizer set '$kind' (address,undefined or thread)" >&2; exit 2 ;;
esac
"$root/scripts/setup-deps.sh"
# -O1 keeps instrumented code fast enough; no benchmarks, tools or GUI programs to build.
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DENGRAM_SANITIZE="$kind" -DENGRAM_BUILD_BENCH=OFF -DENGRAM_BUILD_TOOLS=OFF -DENGRAM_BUILD_UI="$([ "$kind" = thread ] && echo ON || echo OFF)"
sup="$root/tests/sanitizers"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export LSAN_OPTIONS="suppressions=$sup/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$sup/ubsan.supp"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$sup/tsan.supp"
export QT_QPA_PLATFORM=offscreen
# Instrumented code is several times slower: Qt Test's 300 s per-function watchdog would stop
# tst_causaltrace's averaged trace (over 300 s under ASan on 2 cores); allow 30 minutes.
export QTEST_FUNCTION_TIMEOUT=${QTEST_FUNCTION_TIMEOUT:-1800000}
export ENGRAM_FIXTURES=${ENGRAM_FIXTURES:-$root/../shared/fixtures}
cd "$dir"
if [ "$kind" = thread ]; then
  cmake --build . --parallel "$(nproc)" --target tst_jobcontroller tst_projectjobs tst_workbench
  ctest --output-on-failure -R '^tst_(jobcontroller|projectjobs|workbench)$' "$@"
else
  cmake --build . --parallel "$(nproc)"
  ctest --output-on-failure --parallel "$(nproc)" -L unit "$@"
fi
