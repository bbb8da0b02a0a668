#pragma once
// Reader for NumPy .npz archives (zip files of .npy arrays), as written by numpy.savez
// (stored entries, zip64 extra fields) and numpy.savez_compressed (deflate). Used to read the
// published MEMIT/ROME covariance statistics (`mom2.mom2`, `mom2.count`) so users who have
// them skip the computation.
//
// Supported .npy: format versions 1-3, little-endian or byte-order-free bool/int8-64/uint8/
// float16/32/64 arrays, C or Fortran order (Fortran arrays are returned in C order). Object
// arrays (pickles) are rejected, never executed.

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>

namespace engram {

/// Reads the arrays named in `only` (all when empty), keyed by name without ".npy".
/// Throws engram::Error(Io, CorruptFile, DTypeMismatch) naming the file and entry.
std::map<std::string, at::Tensor> readNpz(const std::filesystem::path &file, const std::set<std::string> &only = {});

/// Parses one .npy image (header + data) into a CPU tensor; `what` names it in errors.
at::Tensor parseNpy(const std::string &bytes, const std::string &what);

} // namespace engram
