#include "core/io/dtype.h"

#include <array>
#include <utility>

namespace engram {
namespace {
struct DTypeRow {
    DType dtype;
    std::string_view name;
    std::size_t size;
};
constexpr std::array kDTypes {
    DTypeRow {DType::F64, "F64", 8},
    DTypeRow {DType::F32, "F32", 4},
    DTypeRow {DType::F16, "F16", 2},
    DTypeRow {DType::BF16, "BF16", 2},
    DTypeRow {DType::I64, "I64", 8},
    DTypeRow {DType::I32, "I32", 4},
    DTypeRow {DType::I16, "I16", 2},
    DTypeRow {DType::I8, "I8", 1},
    DTypeRow {DType::U8, "U8", 1},
    DTypeRow {DType::Bool, "BOOL", 1},
};
} // namespace

std::size_t dtypeSize(DType dtype)
{
    for (const auto &row : kDTypes)
        if (row.dtype == dtype)
            return row.size;
    return 0;
}

std::string_view dtypeName(DType dtype)
{
    for (const auto &row : kDTypes)
        if (row.dtype == dtype)
            return row.name;
    return "?";
}

std::optional<DType> parseDType(std::string_view name)
{
    for (const auto &row : kDTypes)
        if (row.name == name)
            return row.dtype;
    return std::nullopt;
}

} // namespace engram
