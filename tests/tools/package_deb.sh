#!/usr/bin/env bash
# Builds the Debian package from the build tree into a temporary directory, checks it with
# lintian (no errors or warnings), desktop-file-validate and appstreamcli, extracts it with
# dpkg-deb -x and runs the extracted programs against the extracted prefix: --version of both,
# engram-cli on the packaged demo model, and the GUI creating its demo project from the
# packaged demo. Skips (77) when cpack or dpkg-deb are missing.
set -u
build=$1
src=$2
for tool in cpack dpkg-deb; do
  command -v $tool >/dev/null 2>&1 || { echo "SKIP: $tool not installed"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

(cd "$build" && cpack -G DEB -B "$tmp/out" > "$tmp/cpack.log" 2>&1) || { cat "$tmp/cpack.log"; fail cpack; }
deb=$(ls "$tmp"/out/engram_*_amd64.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "no .deb produced"
echo "package: $(basename "$deb"), $(du -h "$deb" | cut -f1)"
dpkg-deb -f "$deb" Depends | tee "$tmp/depends.txt"
for dep in libqt6widgets6 libqcustomplot2.1-qt6 libtorch1.13 libopenblas0 libsqlite3-0 libutf8proc2; do
  grep -q "$dep" "$tmp/depends.txt" || fail "Depends lacks $dep"
done

if command -v lintian >/dev/null 2>&1; then
  lintian "$deb" > "$tmp/lintian.txt" 2>&1
  grep -E "^(E|W): " "$tmp/lintian.txt" && fail "lintian reports errors or warnings"
  echo "lintian: no errors or warnings"
else
  echo "lintian not installed: not checked"
fi
if command -v desktop-file-validate >/dev/null 2>&1; then
  desktop-file-validate "$src/packaging/io.engram.Engram.desktop" || fail "desktop entry"
fi
if command -v appstreamcli >/dev/null 2>&1; then
  appstreamcli validate --no-net "$src/packaging/io.engram.Engram.metainfo.xml" || fail "metainfo"
fi

root="$tmp/root"
dpkg-deb -x "$deb" "$root" || fail "dpkg-deb -x"
for f in usr/bin/engram usr/bin/engram-cli usr/bin/engram-plot usr/share/man/man1/engram-plot.1.gz usr/share/engram/demo/model/model.safetensors \
         usr/share/applications/io.engram.Engram.desktop usr/share/metainfo/io.engram.Engram.metainfo.xml \
         usr/share/mime/packages/io.engram.Engram.xml usr/share/icons/hicolor/scalable/apps/io.engram.Engram.svg \
         usr/share/icons/hicolor/48x48/apps/io.engram.Engram.png usr/share/man/man1/engram-cli.1.gz \
         usr/share/doc/engram/copyright; do
  [ -e "$root/$f" ] || fail "missing $f"
done
"$root/usr/bin/engram-cli" --version | grep -q "^engram-cli " || fail "engram-cli --version"
"$root/usr/bin/engram-plot" --version | grep -q "^engram-plot " || fail "engram-plot --version"
QT_QPA_PLATFORM=offscreen "$root/usr/bin/engram" --version | grep -q "^Engram " || fail "engram --version"
"$root/usr/bin/engram-cli" info --model "$root/usr/share/engram/demo/model" | grep -q "layers: *6" || fail "engram-cli info"

# The GUI finds its demo through the prefix it runs from and makes the demo project there.
export XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config" ENGRAM_CACHE_DIR="$tmp/cache"
QT_QPA_PLATFORM=offscreen timeout 120 "$root/usr/bin/engram" --quit-after 1500 > "$tmp/gui.log" 2>&1 || { cat "$tmp/gui.log"; fail "engram did not run"; }
project=$(find "$tmp/data" -name demo.engram | head -1)
[ -n "$project" ] || { cat "$tmp/gui.log"; fail "no demo project created"; }
"$root/usr/bin/engram-cli" project info "$project" --json > "$tmp/info.json" || fail "project info"
grep -q "$root/usr/share/engram/demo/model" "$tmp/info.json" || { cat "$tmp/info.json"; fail "the demo project does not use the packaged demo"; }
grep -q '"facts": 50' "$tmp/info.json" || fail "the demo project should hold 50 facts"
echo "package_deb: all checks passed"
