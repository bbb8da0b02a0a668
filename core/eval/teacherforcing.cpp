#include "core/eval/teacherforcing.h"

#include "core/model/batching.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <map>

namespace engram {

std::vector<ContinuationScore> scoreContinuations(
    const LogitsFunction &logits, const std::vector<Continuation> &items, int64_t tokenBudget)
{
    c10::NoGradGuard noGrad;
    // The input a continuation needs is prompt + target without its last token (the last token
    // is only predicted). Identical inputs share one row: the two one-token candidates of a
    // prompt, for instance, are read from the same pass.
    std::map<std::vector<int64_t>, std::size_t> rowOf;
    std::vector<std::vector<int64_t>> inputs;
    std::vector<std::size_t> itemRow(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (items[i].prompt.empty() || items[i].target.empty())
            throw Error(ErrorKind::InvalidArgument, "a scored continuation needs a prompt and a target token");
        std::vector<int64_t> in = items[i].prompt;
        in.insert(in.end(), items[i].target.begin(), items[i].target.end() - 1);
        const auto [it, added] = rowOf.emplace(in, inputs.size());
        if (added)
            inputs.push_back(std::move(in));
        itemRow[i] = it->second;
    }
    std::vector<std::vector<std::size_t>> itemsOfRow(inputs.size());
    for (std::size_t i = 0; i < items.size(); ++i)
        itemsOfRow[itemRow[i]].push_back(i);

    std::vector<ContinuationScore> out(items.size());
    // Longest first within the budget keeps padding small.
    std::vector<std::size_t> order(inputs.size());
    for (std::size_t r = 0; r < order.size(); ++r)
        order[r] = r;
    std::stable_sort(
        order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return inputs[a].size() > inputs[b].size(); });
    for (std::size_t b0 = 0; b0 < order.size();) {
        const int64_t width = static_cast<int64_t>(inputs[order[b0]].size());
        const std::size_t rows = static_cast<std::size_t>(std::max<int64_t>(1, tokenBudget / width));
        const std::size_t b1 = std::min(order.size(), b0 + rows);
        std::vector<const std::vector<int64_t> *> seqs;
        std::vector<int64_t> gRow, gPos, gTok; // per scored target token: row, predicting position, id
        std::vector<std::size_t> gItem;
        for (std::size_t k = b0; k < b1; ++k) {
            seqs.push_back(&inputs[order[k]]);
            for (std::size_t i : itemsOfRow[order[k]]) {
                const Continuation &c = items[i];
                for (std::size_t j = 0; j < c.target.size(); ++j) {
                    gRow.push_back(static_cast<int64_t>(k - b0));
                    gPos.push_back(
                        static_cast<int64_t>(c.prompt.size() + j) - 1); // t_j is predicted one position earlier
                    gTok.push_back(c.target[j]);
                    gItem.push_back(i);
                }
            }
        }
        const PaddedBatch batch = padRight(seqs);
        const at::Tensor index
            = at::stack({at::tensor(gRow, at::kLong), at::tensor(gPos, at::kLong)}, 1); // [tokens, 2]
        const at::Tensor lp = at::log_softmax(logits(batch.ids, batch.mask, index).to(at::kFloat), -1); // [tokens, V]
        const at::Tensor tokT = at::tensor(gTok, at::kLong).to(lp.device());
        const at::Tensor picked = lp.gather(1, tokT.unsqueeze(1)).squeeze(1).to(at::kDouble).to(at::kCPU);
        const at::Tensor hit = (lp.argmax(1) == tokT).to(at::kCPU);
        const double *pv = picked.data_ptr<double>();
        const bool *hv = hit.data_ptr<bool>();
        for (std::size_t g = 0; g < gItem.size(); ++g) {
            ContinuationScore &s = out[gItem[g]];
            s.nll -= pv[g];
            s.correct.push_back(hv[g]);
        }
        b0 = b1;
    }
    for (std::size_t i = 0; i < items.size(); ++i)
        out[i].nll /= static_cast<double>(items[i].target.size());
    return out;
}

} // namespace engram
