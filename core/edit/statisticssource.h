#pragma once
// Where an edit's covariance statistics come from, and the one place that turns that choice
// into files: given files (checked against the layers, headers only), or a corpus whose
// statistics are computed once and cached. The edit job, the CLI and the Edit tab all use it.
// Torch-free.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace engram {

class ModelSession;

struct StatisticsSource {
    enum class Kind {
        ProjectCorpus, // the project's statistics corpus (its settings); only a project job resolves it
        Corpus, // `corpus`, computed on the base model and cached in `cacheDir`
        Files, // `files`, e.g. computed elsewhere or the published .npz
    };
    Kind kind = Kind::ProjectCorpus;
    std::filesystem::path corpus; // Kind::Corpus
    std::vector<std::filesystem::path> files; // Kind::Files
    /// Documents of the corpus to use: 0 = all; -1 = the project's setting (ProjectCorpus), else all.
    int64_t maxDocuments = -1;
    std::filesystem::path cacheDir; // empty: defaultStatisticsCacheDir()
    bool float64 = true; // accumulate the sums in float64 (false: float32, the reference's choice)

    static StatisticsSource fromFiles(std::vector<std::filesystem::path> files);
    static StatisticsSource fromCorpus(std::filesystem::path corpus, int64_t maxDocuments = 0);
};

struct ResolvedStatistics {
    std::vector<std::filesystem::path> files; // cover the requested layers
    std::vector<int> computedLayers; // computed now (Corpus: not found in the cache)
    std::filesystem::path corpus; // Corpus: the corpus used; empty for Files
    int64_t maxDocuments = 0; // Corpus: documents used (0 = all)
    std::filesystem::path cacheDir; // Corpus: where the files are
};

/// Files holding the statistics of `layers` for `base` (an unedited model): Files are checked
/// to cover the layers (Error(InvalidArgument) naming the missing ones); a Corpus is read
/// from the cache or computed (progress: documents done, total; false cancels). A
/// ProjectCorpus source must have been turned into a Corpus by the project first
/// (Error(InvalidArgument) otherwise). No layers: nothing to resolve, no files.
ResolvedStatistics resolveStatistics(const StatisticsSource &source, const ModelSession &base,
    const std::vector<int> &layers, const std::function<bool(int64_t, int64_t)> &progress = {});

/// The layers of `layers` that `files` do not cover (headers only, cheap). Throws
/// engram::Error for missing, unreadable or foreign files.
std::vector<int> missingStatisticsLayers(
    const std::vector<std::filesystem::path> &files, const std::vector<int> &layers);

/// The layers of `needed` that are not in `have` (each once, in the order of `needed`).
std::vector<int> missingLayers(const std::vector<int> &have, const std::vector<int> &needed);

/// "0, 1, 3".
std::string layerListText(const std::vector<int> &layers);

} // namespace engram
