#pragma once
// Element types as named by the safetensors format, independent of LibTorch.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace engram {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool };

/// Size in bytes of one element.
std::size_t dtypeSize(DType dtype);
/// Safetensors spelling ("F32", "BF16", ...).
std::string_view dtypeName(DType dtype);
/// Parses a safetensors dtype string; nullopt for unknown names (e.g. "F8_E4M3").
std::optional<DType> parseDType(std::string_view name);

} // namespace engram
