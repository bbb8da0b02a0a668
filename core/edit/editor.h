#pragma once
// Editing entry points for the CLI and the UI, with plain types only (no torch headers):
// covariance statistics to a file, a MEMIT edit saved as a patch, applying a patch file.

#include "core/edit/editmethod.h"
#include "core/edit/editparams.h"
#include "core/util/progress.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace engram {

class ModelSession;
class WeightPatch;

struct StatisticsSummary {
    std::vector<int> layers;
    int64_t documents = 0;
    int64_t tokensPerLayer = 0;
    double seconds = 0;
};

/// Shard `index` of `count` (0-based): the documents [index·M/count, (index+1)·M/count) of the
/// M documents used (the first maxDocuments, or all). Shards of one (corpus, M, count) are
/// disjoint and together are exactly the documents of the one-pass computation.
struct CorpusShard {
    int index = 0;
    int count = 1;
};

/// One pass over `corpus` (.txt: a document per line; .jsonl: {"text": ...}) on the session's
/// (unedited) model; writes the raw sums and counts to `out` atomically. Sums accumulate in
/// float64 (default) or float32 (the reference's choice); the file records which, and the
/// shard ("i/N" and its document range) when `shard` is one of several.
StatisticsSummary computeStatisticsFile(const ModelSession &session, const std::filesystem::path &corpus,
    const std::vector<int> &layers, int64_t maxDocuments, const std::filesystem::path &out,
    const std::function<bool(int64_t, int64_t)> &progress = {}, bool float64 = true, CorpusShard shard = {});

/// "a,b,c" -> paths: how the CLI names several statistics or patch files. Throws
/// engram::Error(InvalidArgument) for an empty list or an empty entry ("a,,b", ",").
std::vector<std::filesystem::path> splitPathList(const std::string &list);

/// Content hash of a checkpoint directory: config.json and every *.safetensors file, whole
/// (a few seconds per 10 GB). Keys cached statistics to the exact weights they describe.
/// With `memoDir`, each file's hash is remembered there under its path, size and modification
/// time, so an unchanged checkpoint is not read again.
std::string checkpointContentHash(const std::filesystem::path &dir, const std::filesystem::path &memoDir = {});

/// $ENGRAM_CACHE_DIR/stats, else $XDG_CACHE_HOME/engram/stats, else ~/.cache/engram/stats.
std::filesystem::path defaultStatisticsCacheDir();

struct CachedStatistics {
    std::vector<std::filesystem::path> files; // one per requested layer, in the order asked
    std::vector<int> computedLayers; // layers that were not in the cache and were computed now
};

/// Statistics of `layers` for the session's (unedited) model over `corpus`, one file per layer
/// in `cacheDir`, named by the checkpoint's content hash, the layer, the corpus file's content
/// hash, the document count and the accumulation dtype. Layers found there are reused; the
/// others are computed in one pass and written atomically. Throws engram::Error.
CachedStatistics cachedStatisticsFiles(const ModelSession &session, const std::filesystem::path &corpus,
    const std::vector<int> &layers, int64_t maxDocuments, const std::filesystem::path &cacheDir,
    const std::function<bool(int64_t, int64_t)> &progress = {}, bool float64 = true);

/// Adds statistics files of the same layers (shards computed on different machines, or
/// different corpora) and writes the sums and counts to `out`. Throws engram::Error when layers
/// or shapes differ. Files written as shards (--shard i/N) must form one complete set: the
/// same corpus file name, document count and N, every index 0..N-1 exactly once (a repeated
/// shard would count its documents twice, a missing one would silently shrink the corpus).
StatisticsSummary mergeStatisticsFiles(
    const std::vector<std::filesystem::path> &shards, const std::filesystem::path &out);

struct EditSummary {
    std::vector<int> layers;
    std::vector<double> relativeNorms; // ‖ΔW‖ / ‖W‖ per layer
    std::vector<double> residualBefore; // mean ‖z − z_cur‖ before each layer's update
    double residualAfter = 0;
    double meanTargetProbability = 0; // after the target optimisation
    double seconds = 0;
    std::vector<std::string> contextTemplates;
    std::shared_ptr<const WeightPatch> patch; // the change made (also saved when a path was given)
    /// MEMIT and AlphaEdit: this run's keys per edited layer, read on the edited model (a project
    /// stores them so later runs can keep this one's edits as memories).
    std::vector<LayerKeys> keysAfter;
    std::vector<int64_t> nullSpaceDims; // AlphaEdit: per edited layer
    int earlierRuns = 0; // earlier runs whose keys the solve kept (C_p)
};

/// Runs MEMIT (AlphaEdit when params.nullSpace) on the session's model (which stays edited), and
/// saves the change as a patch file when `patchOut` is not empty. `statistics` must cover params.layers. Throws engram::Error.
/// On any failure or cancellation (via `progress`) the session's weights are restored and no
/// patch file is written.
EditSummary editWithMemit(ModelSession &session, const std::vector<EditRequest> &requests, const MemitParams &params,
    const std::vector<std::filesystem::path> &statistics, const std::filesystem::path &patchOut,
    const ProgressSink &progress = {});

/// ROME, one request after another, on the session's model (which stays edited); the patch
/// holds the summed rank-one updates of the layer. `statistics` must cover params.layer.
EditSummary editWithRome(ModelSession &session, const std::vector<EditRequest> &requests, const RomeParams &params,
    const std::vector<std::filesystem::path> &statistics, const std::filesystem::path &patchOut,
    const ProgressSink &progress = {});

/// The constrained fine-tuning baseline (FT-W) on the session's model; saved like the others.
EditSummary editWithFineTune(ModelSession &session, const std::vector<EditRequest> &requests,
    const FineTuneParams &params, const std::filesystem::path &patchOut, const ProgressSink &progress = {});

/// The edit `config` names, with the method's entry point above (statistics ignored for FT-W).
/// The one dispatch from an EditConfig to a method, used by project jobs and the CLI.
EditSummary runEdit(ModelSession &session, const std::vector<EditRequest> &requests, const EditConfig &config,
    const std::vector<std::filesystem::path> &statistics, const std::filesystem::path &patchOut,
    const ProgressSink &progress = {});

/// Applies a patch file to the session's model (checks that it was made for these weights);
/// "a.patch,b.patch" applies several in order (composed first, so a wrong order changes nothing).
void applyPatchFile(ModelSession &session, const std::filesystem::path &patchFile);

/// The requests recorded in patch files' provenance (composed patches: all parts), in order.
std::vector<EditRequest> patchRequests(const std::filesystem::path &patchFiles);

/// Edit requests from any dataset importDataset reads (CounterFact, EasyEdit, CSV, ...), at most
/// `limit` (0 = all). Refuses the whole file (engram::Error naming the record, counted from 1,
/// and the field) when a record is malformed or lacks a new object, and (Conflict) when two
/// records give one subject and relation different new objects.
std::vector<EditRequest> readEditRequests(const std::filesystem::path &file, int64_t limit = 0);

/// A fact the model should keep saying while others are edited (our extension of the methods).
struct FactToKeep {
    std::string promptTemplate; // one "{}"
    std::string subject;
    std::string relation; // "" when unknown
};

struct KeepPlan {
    std::size_t preservePrompts = 0; // added to the requests' preservePrompts
    std::size_t subjectsPreserved = 0; // edited subjects that got at least one
    std::size_t protectedKeys = 0; // added to *protect
};

/// Facts about an edited subject become that request's preservation prompts (its other
/// relations: another relation id, or another prompt when either relation is unknown; at most
/// `maxPerRequest` each). Facts about other subjects become MEMIT protected keys when `protect`
/// is given (one per distinct prompt). Throws engram::Error(InvalidArgument) for a bad template.
KeepPlan attachFactsToKeep(std::vector<EditRequest> &requests, const std::vector<FactToKeep> &keep,
    std::vector<KeyPrompt> *protect, std::size_t maxPerRequest = 8);

/// attachFactsToKeep for an edit of `config`: protected keys only for MEMIT with a protect
/// weight > 0 (added to config's MEMIT parameters). Error(InvalidArgument) for FT-W, which
/// has no way to keep facts.
KeepPlan keepFacts(EditConfig &config, std::vector<EditRequest> &requests, const std::vector<FactToKeep> &keep);

/// True when keepFacts adds protected keys for `config`.
bool protectsKeys(const EditConfig &config);

} // namespace engram
