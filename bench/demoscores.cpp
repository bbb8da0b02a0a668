#include "demoscores.h"

#include "core/model/batching.h"
#include "core/model/transformer.h"
#include "core/text/subjecttokens.h"
#include "core/text/tokenizer.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <nlohmann/json.hpp>

namespace engram {

std::vector<double> candidateNll(const Transformer &model, const Tokenizer &tok,
    const std::vector<std::string> &prompts, const std::vector<std::string> &candidates)
{
    c10::NoGradGuard noGrad;
    std::vector<double> out;
    for (std::size_t b0 = 0; b0 < prompts.size(); b0 += 256) {
        const std::size_t b1 = std::min(prompts.size(), b0 + 256);
        std::vector<std::vector<int64_t>> p, c, inputs;
        for (std::size_t i = b0; i < b1; ++i) {
            p.push_back(tok.encode(prompts[i]));
            c.push_back(tok.encode(" " + candidates[i]));
            inputs.push_back(p.back());
            inputs.back().insert(inputs.back().end(), c.back().begin(), c.back().end());
        }
        const PaddedBatch batch = padRight(inputs);
        const at::Tensor logp = at::log_softmax(model.forward(batch.ids, batch.mask).logits, -1);
        for (std::size_t i = 0; i < p.size(); ++i) {
            double nll = 0;
            for (std::size_t k = 0; k < c[i].size(); ++k)
                nll -= logp[i][p[i].size() - 1 + k][c[i][k]].item<double>();
            out.push_back(nll / c[i].size());
        }
    }
    return out;
}

DemoScores scoreRecords(const Transformer &model, const Tokenizer &tok, const nlohmann::json &records)
{
    std::vector<std::string> prompts, news, trues;
    std::vector<int> kind; // 0 rewrite, 1 paraphrase, 2 neighborhood
    for (const auto &r : records) {
        const auto &rw = r["requested_rewrite"];
        const auto nw = rw["target_new"]["str"].get<std::string>(), tr = rw["target_true"]["str"].get<std::string>();
        auto add = [&](const std::string &prompt, int k) {
            prompts.push_back(prompt);
            news.push_back(nw);
            trues.push_back(tr);
            kind.push_back(k);
        };
        add(fillTemplate(rw["prompt"].get<std::string>(), rw["subject"].get<std::string>()), 0);
        for (const auto &p : r["paraphrase_prompts"])
            add(p.get<std::string>(), 1);
        for (const auto &p : r["neighborhood_prompts"])
            add(p.get<std::string>(), 2);
    }
    const auto nNew = candidateNll(model, tok, prompts, news), nTrue = candidateNll(model, tok, prompts, trues);
    double hit[3] = {0, 0, 0}, cnt[3] = {0, 0, 0};
    for (std::size_t i = 0; i < prompts.size(); ++i) {
        const bool newWins = nNew[i] < nTrue[i];
        hit[kind[i]] += kind[i] == 2 ? !newWins : newWins;
        cnt[kind[i]] += 1;
    }
    const auto pct = [&](int k) { return cnt[k] > 0 ? 100 * hit[k] / cnt[k] : 0.0; };
    return {pct(0), pct(1), pct(2)};
}

} // namespace engram
