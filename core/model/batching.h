#pragma once
// Right-padded batches of token sequences, the layout Transformer::forward expects.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace engram {

struct PaddedBatch {
    at::Tensor ids; // [rows, T] int64, padded with 0
    at::Tensor mask; // [rows, T] int64, 1 for real tokens
};

/// T is the longest sequence (at least 1). Tensors are on the CPU.
PaddedBatch padRight(const std::vector<const std::vector<int64_t> *> &sequences);
PaddedBatch padRight(const std::vector<std::vector<int64_t>> &sequences);

} // namespace engram
