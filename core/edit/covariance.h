#pragma once
// Uncentred second moments C_l = E[k kᵀ] of the MLP keys (input of the MLP output
// projection) for a set of layers, collected in one pass over a corpus on the unedited model
// (memit-spec §4.2). Stored as the raw sum and the token count, so statistics computed on
// different machines or corpus shards merge by addition.

#include "core/edit/statisticsfiles.h"

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace engram {

class Transformer;
class Tokenizer;

struct SecondMoment {
    int layer = 0;
    at::Tensor sum; // [d_k, d_k], Σ k kᵀ over counted tokens, float64 or float32 (accumulation type)
    int64_t count = 0; // tokens counted
    /// E[k kᵀ] in float64.
    at::Tensor mean() const;
    /// Adds another shard's statistics of the same layer (same shape). Throws engram::Error.
    void merge(const SecondMoment &other);
};

struct CovarianceParams {
    std::vector<int> layers;
    int contextLength = 0; // documents are truncated to this many tokens (0 = model context)
    int64_t tokenBudget = 4096; // tokens per forward batch (padded size)
    int64_t maxDocuments = 0; // 0 = all
    bool float64 = true; // accumulate in fp64 (the reference uses fp32)
};

/// Progress: (documents done, documents total); return false to cancel (throws engram::Error
/// with ErrorKind::Runtime "cancelled" then, leaving nothing half-written).
using CovarianceProgress = std::function<bool(int64_t done, int64_t total)>;

/// One pass over `documents`; returns one SecondMoment per requested layer (in that order).
std::vector<SecondMoment> collectSecondMoments(const Transformer &model, const Tokenizer &tokenizer,
    const std::vector<std::string> &documents, const CovarianceParams &params, const CovarianceProgress &progress = {});

/// Reads documents: a .jsonl file (one object per line, field "text") or plain text (one
/// document per non-empty line). Throws engram::Error naming the file and line.
std::vector<std::string> readCorpus(const std::filesystem::path &path);

/// Saves/loads statistics as safetensors: one tensor "layer.<l>.sum" per layer, counts and
/// provenance (`key` entries) in the metadata. Written atomically.
void saveSecondMoments(const std::filesystem::path &path, const std::vector<SecondMoment> &stats,
    const std::map<std::string, std::string> &provenance = {});
std::vector<SecondMoment> loadSecondMoments(const std::filesystem::path &path);

/// Reads a statistics file published with the MEMIT/ROME code (`.npz` with the raw sum
/// `mom2.mom2` and the token count `mom2.count`) for one layer. layer < 0: taken from the file
/// name (".h.<n>." or ".layers.<n>.", as the reference names them). Throws engram::Error.
SecondMoment loadPublishedStatistics(const std::filesystem::path &path, int layer = -1);

/// Statistics from several files: ours (.safetensors, any number of layers) and published
/// .npz files (one layer each); later files add layers, a layer given twice is an error.
std::vector<SecondMoment> loadStatistics(const std::vector<std::filesystem::path> &paths);

} // namespace engram
