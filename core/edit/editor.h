#pragma once
// Editing entry points for the CLI and the UI, with plain types only (no torch headers):
// covariance statistics to a file, a MEMIT edit saved as a patch, applying a patch file.

#include "core/edit/editparams.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace engram {

class ModelSession;

struct StatisticsSummary {
    std::vector<int> layers;
    int64_t documents = 0;
    int64_t tokensPerLayer = 0;
    double seconds = 0;
};

/// One pass over `corpus` (.txt: a document per line; .jsonl: {"text": ...}) on the session's
/// (unedited) model; writes the raw sums and counts to `out` atomically.
StatisticsSummary computeStatisticsFile(const ModelSession &session, const std::filesystem::path &corpus,
    const std::vector<int> &layers, int64_t maxDocuments, const std::filesystem::path &out,
    const std::function<bool(int64_t, int64_t)> &progress = {});

struct EditSummary {
    std::vector<int> layers;
    std::vector<double> relativeNorms; // ‖ΔW‖ / ‖W‖ per layer
    std::vector<double> residualBefore; // mean ‖z − z_cur‖ before each layer's update
    double residualAfter = 0;
    double meanTargetProbability = 0; // after the target optimisation
    double seconds = 0;
    std::vector<std::string> contextTemplates;
};

/// Runs MEMIT on the session's model (which stays edited), and saves the change as a patch
/// file when `patchOut` is not empty. Throws engram::Error.
EditSummary editWithMemit(ModelSession &session, const std::vector<EditRequest> &requests, const MemitParams &params,
    const std::filesystem::path &statisticsFile, const std::filesystem::path &patchOut);

/// ROME, one request after another, on the session's model (which stays edited); the patch
/// holds the summed rank-one updates of the layer. `statisticsFile` must cover params.layer.
EditSummary editWithRome(ModelSession &session, const std::vector<EditRequest> &requests, const RomeParams &params,
    const std::filesystem::path &statisticsFile, const std::filesystem::path &patchOut);

/// The constrained fine-tuning baseline (FT-W) on the session's model; saved like the others.
EditSummary editWithFineTune(ModelSession &session, const std::vector<EditRequest> &requests,
    const FineTuneParams &params, const std::filesystem::path &patchOut);

/// Applies a patch file to the session's model (checks that it was made for these weights).
void applyPatchFile(ModelSession &session, const std::filesystem::path &patchFile);

/// Edit requests from a CounterFact-style JSON list (requested_rewrite: prompt, subject,
/// target_new.str) or a list of {"prompt", "subject", "target_new"} objects. At most `limit`
/// (0 = all). Throws engram::Error naming the record and field.
std::vector<EditRequest> readEditRequests(const std::filesystem::path &file, int64_t limit = 0);

} // namespace engram
