#include "core/eval/recall.h"

#include "core/model/batching.h"
#include "core/model/transformer.h"
#include "core/text/subjecttokens.h"
#include "core/text/tokenizer.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

namespace engram {

RecallResult measureRecall(
    const Transformer &model, const Tokenizer &tokenizer, const std::vector<FactPrompt> &facts, int batchSize)
{
    c10::NoGradGuard noGrad;
    RecallResult result;
    result.total = static_cast<int64_t>(facts.size());
    result.perFact.assign(facts.size(), false);
    for (std::size_t b0 = 0; b0 < facts.size(); b0 += batchSize) {
        const std::size_t n = std::min<std::size_t>(batchSize, facts.size() - b0);
        std::vector<std::vector<int64_t>> prompts(n), objects(n), inputs(n);
        for (std::size_t i = 0; i < n; ++i) {
            const FactPrompt &f = facts[b0 + i];
            prompts[i] = tokenizer.encode(fillTemplate(f.promptTemplate, f.subject));
            const std::string object = (!f.object.empty() && f.object[0] == ' ') ? f.object : " " + f.object;
            objects[i] = tokenizer.encode(object);
            inputs[i] = prompts[i];
            // The last object token is only predicted, never fed.
            inputs[i].insert(inputs[i].end(), objects[i].begin(), objects[i].end() - 1);
        }
        const PaddedBatch batch = padRight(inputs);
        const at::Tensor predicted = model.forward(batch.ids, batch.mask).logits.argmax(-1).to(at::kCPU); // [n, T]
        auto predA = predicted.accessor<int64_t, 2>();
        for (std::size_t i = 0; i < n; ++i) {
            bool ok = true;
            const std::size_t p = prompts[i].size();
            for (std::size_t k = 0; k < objects[i].size() && ok; ++k)
                ok = predA[i][p - 1 + k] == objects[i][k];
            result.perFact[b0 + i] = ok;
            result.recalled += ok;
        }
    }
    return result;
}

} // namespace engram
