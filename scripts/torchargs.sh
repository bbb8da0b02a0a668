# Sourced by the scripts: takes "--torch DIR" (or ENGRAM_TORCH_DIR) out of the arguments and
# checks that DIR is a LibTorch: the unpacked official archive (libtorch/), its share/cmake, or
# a Python torch (python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' or the torch
# package folder). Sets ENGRAM_TORCH_CMAKE (cmake options) and ENGRAM_ARGS (the other arguments).
ENGRAM_ARGS=()
torch_dir=${ENGRAM_TORCH_DIR:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --torch) [ $# -ge 2 ] || { echo "$(basename "$0"): --torch needs a folder" >&2; exit 2; }; torch_dir=$2; shift 2 ;;
    --torch=*) torch_dir=${1#--torch=}; shift ;;
    *) ENGRAM_ARGS+=("$1"); shift ;;
  esac
done
ENGRAM_TORCH_CMAKE=()
if [ -n "$torch_dir" ]; then
  [ -d "$torch_dir" ] || { echo "$(basename "$0"): --torch $torch_dir: no such folder" >&2; exit 2; }
  config=$(find "$torch_dir" -maxdepth 5 -name TorchConfig.cmake -path '*Torch/TorchConfig.cmake' -print -quit 2>/dev/null)
  if [ -z "$config" ]; then
    echo "$(basename "$0"): $torch_dir is not a LibTorch: no share/cmake/Torch/TorchConfig.cmake in it." >&2
    echo "  Give the unpacked libtorch/ folder of the official archive (pytorch.org, 'LibTorch', cxx11 ABI)" >&2
    echo "  or Python's: python3 -c 'import torch; print(torch.utils.cmake_prefix_path)'" >&2
    exit 2
  fi
  # The build folder is kept apart from the Debian LibTorch one: one CMake cache per LibTorch.
  export ENGRAM_BUILD_DIR=${ENGRAM_BUILD_DIR:-$root/build-torch}
  ENGRAM_TORCH_CMAKE=(-DTorch_DIR="$(dirname "$config")")
  echo "$(basename "$0"): LibTorch from $(dirname "$config"), building in $ENGRAM_BUILD_DIR" >&2
fi
