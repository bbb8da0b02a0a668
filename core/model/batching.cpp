#include "core/model/batching.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace engram {

PaddedBatch padRight(const std::vector<const std::vector<int64_t> *> &sequences)
{
    std::size_t T = 1;
    for (const auto *s : sequences)
        T = std::max(T, s->size());
    PaddedBatch b;
    b.ids = at::zeros({static_cast<int64_t>(sequences.size()), static_cast<int64_t>(T)}, at::kLong);
    b.mask = at::zeros_like(b.ids);
    auto ids = b.ids.accessor<int64_t, 2>();
    auto mask = b.mask.accessor<int64_t, 2>();
    for (std::size_t r = 0; r < sequences.size(); ++r)
        for (std::size_t t = 0; t < sequences[r]->size(); ++t) {
            ids[r][t] = (*sequences[r])[t];
            mask[r][t] = 1;
        }
    return b;
}

PaddedBatch padRight(const std::vector<std::vector<int64_t>> &sequences)
{
    std::vector<const std::vector<int64_t> *> pointers;
    pointers.reserve(sequences.size());
    for (const auto &s : sequences)
        pointers.push_back(&s);
    return padRight(pointers);
}

} // namespace engram
