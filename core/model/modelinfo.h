#pragma once
// Plain-value summaries of checkpoints and of the runtime, for the CLI and the UI
// (which must not include torch headers).

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace engram {

class Tokenizer;

struct CheckpointSummary {
    std::filesystem::path directory;
    std::string modelType; // config.json model_type
    std::string family; // "GPT-2", "GPT-J", "GPT-NeoX", "Llama"
    int layers = 0;
    int hiddenSize = 0;
    int heads = 0;
    int kvHeads = 0;
    int vocabSize = 0;
    int contextLength = 0;
    int64_t parameters = 0; // counted from the tensors on disk
    uint64_t weightBytes = 0;
    std::vector<std::string> shards;
    std::string tokenizerKind; // empty when no tokenizer files are present
    /// Weights holding NaN or infinite values (filled when ModelSession::open loads them): such a
    /// checkpoint loads, but every output is garbage, so front ends warn.
    std::vector<std::string> nonFiniteTensors;
};

/// Reads config.json, the safetensors headers and the tokenizer of `dir` without loading
/// weights. Throws engram::Error.
/// `tokenizer`, when given, is used instead of reading the tokenizer files again.
CheckpointSummary summarizeCheckpoint(const std::filesystem::path &dir, const Tokenizer *tokenizer = nullptr);

/// What `engram-cli info` checks beyond the headers: the floating-point weights holding NaN
/// or infinite values (every weight is read once, memory-mapped), and why the tokenizer does
/// not load (empty when it does).
struct CheckpointCheck {
    std::vector<std::string> nonFiniteTensors;
    std::string tokenizerProblem;
};
CheckpointCheck checkCheckpoint(const std::filesystem::path &dir);

struct RuntimeInfo {
    std::string torchVersion;
    bool cudaAvailable = false;
    int cudaDevices = 0;
    int threads = 0;
};

RuntimeInfo runtimeInfo();
/// Sets LibTorch's intra-op thread count for the process (0 = all hardware threads).
void configureThreads(int threads);

} // namespace engram
