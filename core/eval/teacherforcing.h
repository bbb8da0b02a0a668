#pragma once
// Teacher-forced scoring of continuations, the primitive under the CounterFact and zsRE
// metrics: for (prompt ids, target ids) pairs, the mean per-token NLL of the target and which
// target tokens are the argmax. Batched by a token budget; the model is any function from
// right-padded ids and mask to logits, so tests can use a fixed logit table.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace engram {

/// ids, mask: [B, T] int64 on the CPU; index: [N, 2] int64 (row, position) pairs; returns the
/// logits at those pairs, [N, V] (any device, float).
using LogitsFunction
    = std::function<at::Tensor(const at::Tensor &ids, const at::Tensor &mask, const at::Tensor &index)>;

struct Continuation {
    std::vector<int64_t> prompt; // at least one token
    std::vector<int64_t> target; // at least one token
};

struct ContinuationScore {
    double nll = 0; // mean over target tokens of −log p(target_j | prompt, target_<j)
    std::vector<bool> correct; // per target token: argmax == target_j
};

std::vector<ContinuationScore> scoreContinuations(
    const LogitsFunction &logits, const std::vector<Continuation> &items, int64_t tokenBudget = 16384);

} // namespace engram
