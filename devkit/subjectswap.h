#pragma once
// Subject swap (activation patching): for pairs of facts of one relation with different
// objects, replace the block output at A's subject-last token with B's, at one layer, and see
// whether A's prediction becomes B's object. A high flip rate at a layer means the subject's
// last token carries the attribute there, which is where MEMIT writes.

#include "core/eval/recall.h"

#include <vector>

namespace engram {

class Transformer;
class Tokenizer;

struct SwapPair {
    FactPrompt a; // the run that is patched
    FactPrompt b; // the run that donates its hidden state; b.object != a.object
};

struct SwapResult {
    std::vector<double> flipRate; // per layer: share of pairs whose first predicted token became b's object's
    std::vector<double> keptRate; // per layer: share that still predicted a's object
    double embeddingFlipRate = 0; // the same for the token embedding (swapping the token itself)
    double embeddingKeptRate = 0;
    int64_t pairs = 0;
};

/// Patches the token embedding, then the block output of every layer, in turn. Thread-safety as measureRecall.
SwapResult measureSubjectSwap(const Transformer &model, const Tokenizer &tokenizer, const std::vector<SwapPair> &pairs);

} // namespace engram
