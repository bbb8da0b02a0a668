#pragma once
// Scores the benchmark programs share on the embedded demo's CounterFact-format records
// (memit-spec §8.2): efficacy, paraphrase and neighbourhood success by mean-token NLL.

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

namespace engram {

class Transformer;
class Tokenizer;

/// Mean per-token NLL of `candidates[i]` after `prompts[i]` (a space is put before the candidate).
std::vector<double> candidateNll(const Transformer &model, const Tokenizer &tok,
    const std::vector<std::string> &prompts, const std::vector<std::string> &candidates);

struct DemoScores {
    double es = 0, ps = 0, ns = 0; // percentages
};

/// ES: share of rewrite prompts where p(target_new) > p(target_true); PS the same on the
/// paraphrase prompts; NS: share of neighbourhood prompts where p(true) > p(new).
DemoScores scoreRecords(const Transformer &model, const Tokenizer &tok, const nlohmann::json &records);

} // namespace engram
