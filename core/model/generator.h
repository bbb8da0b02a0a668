#pragma once
// Text continuation: greedy, temperature, top-k and top-p sampling, seeded, with or
// without a KV cache. Works on token ids; tokenisation is the caller's.

#include <cstdint>
#include <functional>
#include <vector>

namespace engram {

class Transformer;

struct GenerationParams {
    int maxNewTokens = 32;
    bool greedy = true; // argmax; the sampling fields below are ignored
    double temperature = 1.0; // > 0
    int topK = 0; // 0 = no top-k filter
    double topP = 1.0; // 1 = no nucleus filter
    uint64_t seed = 0; // sampling is reproducible for a given seed
    bool useCache = true; // KV cache; output is identical either way
    std::vector<int64_t> stopTokens; // generation ends after emitting one of these
};

struct GenerationResult {
    std::vector<int64_t> tokens; // the new tokens only
    bool stoppedOnToken = false;
};

/// Continues `prompt` (must be non-empty). `onToken` (optional) is called after each
/// new token; returning false stops early (cancellation). Throws engram::Error.
GenerationResult generate(const Transformer &model, const std::vector<int64_t> &prompt, const GenerationParams &params,
    const std::function<bool(int64_t token)> &onToken = {});

} // namespace engram
