#pragma once
// Probing: what does the model answer after a prompt? For each prompt, the k likeliest next
// tokens with their probabilities and the greedy continuation, computed for all prompts in one
// batch (left-padded, with a KV cache, so every row decodes in step with the others).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace engram {

class Transformer;
class Tokenizer;

struct ProbeParams {
    int topK = 5; // next-token candidates per prompt (1..100)
    int continuationTokens = 8; // greedy tokens per prompt (0..256); stops at the EOS token
    int batchSize = 64; // prompts per forward pass
};

struct ProbeCandidate {
    int64_t token = 0;
    std::string text; // the token decoded on its own (leading space kept)
    double probability = 0;
};

struct ProbeAnswer {
    std::vector<ProbeCandidate> top; // likeliest first
    std::string continuation; // decoded greedy tokens (EOS dropped)
    std::vector<int64_t> continuationTokens;
};

/// The same on token ids (each row non-empty), without texts: greedy decoding stops a row at
/// `eos` (not included). For callers that tokenise themselves, and for tests on random weights.
std::vector<ProbeAnswer> probeTokenRows(const Transformer &model, const std::vector<std::vector<int64_t>> &rows,
    const ProbeParams &params, std::optional<int64_t> eos, const std::function<bool()> &cancelled = {});

/// Throws engram::Error (InvalidArgument for bad params or an empty prompt, Cancelled when
/// `cancelled` returns true; it is asked after every forward pass).
/// Thread-safety: runs forward passes on the calling thread; the model must not change meanwhile.
std::vector<ProbeAnswer> probePrompts(const Transformer &model, const Tokenizer &tokenizer,
    const std::vector<std::string> &prompts, const ProbeParams &params = {},
    const std::function<bool()> &cancelled = {});

/// The answer as an object phrase: the greedy continuation up to the first punctuation or line
/// end, at most `maxWords` words, trimmed (" South America. It is" -> "South America"). Empty when
/// the continuation starts with punctuation.
std::string answerPhrase(const ProbeAnswer &answer, int maxWords = 4);

/// Whether two answers to the same prompt differ as a reader sees them: another likeliest
/// token, or another continuation.
bool answersDiffer(const ProbeAnswer &a, const ProbeAnswer &b);

} // namespace engram
