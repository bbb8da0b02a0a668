#!/usr/bin/env bash
# Installs the Debian 12 packages Engram builds and tests against.
# Idempotent: when every package is already installed, apt is not touched.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  qt6-base-dev qt6-base-dev-tools qt6-svg-dev libgl-dev
  libqcustomplot-dev libqcustomplot2.1-qt6
  libtorch-dev libopenblas0-openmp
  libsqlite3-dev zlib1g-dev nlohmann-json3-dev libutf8proc-dev libpcre2-dev
  xvfb xauth clang-format python3
  clang libclang-rt-14-dev
  desktop-file-utils appstream lintian
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "setup-deps: error: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
if ! "${sudo_cmd[@]}" apt-get update -qq; then
  echo "setup-deps: error: 'apt-get update' failed; check the network/apt sources" >&2
  exit 1
fi
if ! "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  echo "setup-deps: error: could not install: ${missing[*]}" >&2
  echo "setup-deps: this project targets Debian 12 (bookworm); see README.md" >&2
  exit 1
fi
echo "setup-deps: done"
