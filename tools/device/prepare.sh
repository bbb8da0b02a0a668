#!/usr/bin/env bash
# Fills .devdeps/ (git-ignored) with what a Qt-less GPU machine lacks: headers and static
# libraries of the C dependencies, nlohmann_json, and the fixtures the cross-check reads.
# Run here, then pass .devdeps as `carry` to the device tool and run tools/device/crosscheck.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
d="$root/.devdeps"
rm -rf "$d"
mkdir -p "$d/include" "$d/lib" "$d/fixtures"
cp /usr/include/pcre2.h /usr/include/utf8proc.h /usr/include/sqlite3.h /usr/include/zlib.h /usr/include/zconf.h "$d/include/"
cp -r /usr/include/nlohmann "$d/include/"
cp /usr/lib/x86_64-linux-gnu/libpcre2-8.a /usr/lib/x86_64-linux-gnu/libutf8proc.a \
   /usr/lib/x86_64-linux-gnu/libsqlite3.a /usr/lib/x86_64-linux-gnu/libz.a "$d/lib/"
fixtures=${ENGRAM_FIXTURES:-$root/../shared/fixtures}
cp -r "$fixtures/stories260k-hf" "$fixtures/fake-gpt2-hf" "$d/fixtures/"
du -sh "$d"
