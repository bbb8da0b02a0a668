#pragma once
// Top-1 recall of a fact set: does greedy decoding after the prompt produce the object?
// Computed teacher-forced in batches: a fact counts as recalled when the argmax at every
// object position is the object's token, which is exactly "greedy decoding yields the object".
// The object gets a leading space unless it has one (memit-spec §2.1).

#include <cstdint>
#include <string>
#include <vector>

namespace engram {

class Transformer;
class Tokenizer;

struct FactPrompt {
    std::string promptTemplate; // contains one "{}"
    std::string subject;
    std::string object;
};

struct RecallResult {
    int64_t total = 0;
    int64_t recalled = 0;
    std::vector<bool> perFact;
    double rate() const { return total ? double(recalled) / double(total) : 0.0; }
};

/// Thread-safety: runs forward passes on the calling thread; the model must not change meanwhile.
RecallResult measureRecall(
    const Transformer &model, const Tokenizer &tokenizer, const std::vector<FactPrompt> &facts, int batchSize = 256);

} // namespace engram
