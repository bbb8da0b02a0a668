#pragma once
// The jobs of a project: each opens the project file through its own connection, loads the
// project's model in the state its history gives (base ⊕ applied runs, in order), does its
// work with progress and cancel through the JobContext, and commits its results in one
// transaction at the end. Cancelling or killing the process at any moment therefore leaves
// the project at its last committed state; a cancelled or failed edit is recorded as such,
// without a patch.
//
// Model state: a hash over every tensor Engram edits (the MLP output weights, plus any
// tensor a stored patch names) identifies the weights a run started from and produced, so
// reverting can be verified against the history.

#include "core/edit/editmethod.h"
#include "core/edit/editor.h"
#include "core/edit/editparams.h"
#include "core/edit/lora.h"
#include "core/edit/statisticssource.h"
#include "core/eval/counterfact.h"
#include "core/eval/probe.h"
#include "core/eval/recall.h"
#include "core/jobs/export.h"
#include "core/jobs/job.h"
#include "core/model/loadoptions.h"
#include "core/model/modelsession.h"
#include "core/project/project.h"
#include "core/trace/causaltrace.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace engram {

class ModelSession;
class Transformer;

/// Describes `dir` for a new project: absolute path, content hash (memoised in the
/// statistics cache directory), family and a JSON summary. Throws engram::Error.
ProjectModel describeProjectModel(const std::filesystem::path &dir);

/// Hash of the weights Engram edits (see above), 16 hex digits.
std::string modelStateHash(const Transformer &model, const Project &project);

struct HistoryState {
    std::string stateHash;
    std::vector<int64_t> appliedRuns;
    /// Runs applied on weights other than the ones they were computed on (an earlier run was
    /// reverted): their changes were added all the same; listed so the user knows.
    std::vector<int64_t> rebasedRuns;
};

/// Applies the project's applied runs, in order, to `session`'s (base) model; stops after
/// `upToRun` when it is > 0.
HistoryState applyHistory(ModelSession &session, const Project &project, int64_t upToRun = 0);

/// Opens the project's model and applies its history. Checks that the checkpoint still has
/// the content hash recorded in the project (Io error naming both hashes otherwise).
std::unique_ptr<ModelSession> openProjectModel(
    const Project &project, const LoadOptions &load, JobContext &context, HistoryState *state = nullptr);

// ---- Edit ---------------------------------------------------------------------------------

struct EditJobSpec {
    EditConfig config; // the method and its parameters
    std::vector<int64_t> factIds; // empty: every enabled fact that no applied run has edited
    /// Statistics: files, a corpus, or (default) the project's corpus setting ("stats.corpus",
    /// "stats.max_docs" when maxDocuments is -1), computed once and cached.
    StatisticsSource statistics;
    bool allowConflicts = false; // false: refuse a batch with conflicts (listed in the error)
    /// Keep the project's other facts (our extension): facts about an edited subject become
    /// preservation prompts (MEMIT, ROME; weight memit/rome.preserveFactor), facts about other
    /// subjects protected keys (MEMIT, when memit.protectWeight > 0).
    bool keepProjectFacts = false;
    /// Apply the run even when its health falls below the project's guard (the run records that
    /// it was forced); false: such a run is held.
    bool force = false;
    LoadOptions load;
};

struct EditJobResult {
    int64_t runId = 0;
    EditSummary summary;
    std::vector<Conflict> conflicts;
    std::string stateBefore, stateAfter;
    std::size_t facts = 0;
    RunHealth health; // as recorded with the run
    /// The project's health guard found the result below its thresholds (one sentence each).
    std::vector<std::string> guardBreaches;
    /// Recorded as held (stored, not applied) because of guardBreaches: the model is as it was;
    /// revertRun(reapply = true) applies it, discardHeldRun() discards it.
    bool held = false;
};

/// Edits the selected facts on top of the project's current state and records the run, its
/// patch and the model's health after it (ES over every fact edited so far, retention of the
/// project's other facts and fluency against the base model, cumulative norm growth). When the
/// health falls below the project's guard (Project::healthGuard) and spec.force is off, the run
/// is recorded as held instead of applied. A cancelled or failed edit is recorded with that
/// status (no patch) and rethrown.
EditJobResult runEditJob(const std::filesystem::path &projectFile, const EditJobSpec &spec, JobContext &context);

// ---- History ------------------------------------------------------------------------------

struct RevertResult {
    std::string stateBefore, stateAfter;
    std::string expectedState; // the state the history says must result; empty when it says nothing
    bool verified = false; // stateAfter == expectedState
    std::vector<int64_t> rebasedRuns;
};

/// Marks `runId` reverted (or, with reapply, applied again: a reverted run, or a run the health
/// guard held), rebuilds the model from the base and the remaining runs and checks its state
/// hash: reverting the latest applied run must give the state that run started from;
/// re-applying it the state it produced. Refuses (and changes nothing) when the check fails.
RevertResult revertRun(const std::filesystem::path &projectFile, int64_t runId, bool reapply, const LoadOptions &load,
    JobContext &context);

/// Marks a held run discarded (its record and patch stay, for the history; it is never applied
/// again). Error(InvalidArgument) for a run that is not held.
void discardHeldRun(const std::filesystem::path &projectFile, int64_t runId);

// ---- Evaluation, tracing, statistics, generation -----------------------------------------

struct EvalJobSpec {
    std::vector<int64_t> factIds; // empty: facts edited by applied runs, else all enabled facts
    int generationInterval = 0; // generations before/after for every K-th fact (0 = none)
    uint64_t seed = 0;
    LoadOptions load;
};

struct EvalJobResult {
    int64_t evaluationId = 0;
    EvalSummary pre, post; // pre: the base model; post: the current state
    std::size_t facts = 0;
    // Retention: top-1 recall of the true object of the project's facts that no applied run
    // edited (the rest of the model's knowledge), on the base model and on the current state.
    RecallResult retentionPre, retentionPost;
    std::vector<int64_t> retentionFacts; // the facts retention measured, in perFact order
    std::vector<int64_t> appliedRuns; // the history the "post" model had, in order
};

/// {"pre": phase, "post": phase} as stored with an evaluation, a phase in the one evaluation
/// schema (evalPhaseToJson: the summary with its "retention").
std::string evaluationSummaryJson(const EvalJobResult &result);

/// CounterFact metrics of the facts on the base model and on the current state, stored per
/// fact (phase pre/post) with the generations; retention per fact as metric "kept" (1 or 0).
EvalJobResult runEvalJob(const std::filesystem::path &projectFile, const EvalJobSpec &spec, JobContext &context);

/// A stored evaluation read back: what the Before / after panel shows.
struct StoredScores {
    Evaluation evaluation;
    EvalSummary pre, post;
    RecallResult retentionPre, retentionPost; // counts only (no per-fact values)
    /// Collateral damage, per fact: unedited facts whose true object the base model answered and
    /// the evaluated model no longer does ("kept" 1 → 0) ...
    std::vector<int64_t> lostFacts;
    /// ... and evaluated facts whose neighbourhood score fell, with the fall (0..1), largest first.
    std::vector<std::pair<int64_t, double>> neighbourhoodFalls;
};

/// The latest stored evaluation made on the model as the history gives it now (the same applied
/// runs, in the same order); nullopt when there is none, i.e. any scores shown would be stale.
/// Evaluations stored before the applied runs were recorded with them count when they were
/// made after the latest applied run and no run has been reverted since.
std::optional<StoredScores> currentScores(const Project &project);

struct TraceJobSpec {
    std::vector<int64_t> factIds; // required
    TraceParams params; // params.noise.scale <= 0: 3σ of the project's subjects' embeddings
    int window = 0; // 0: defaultTraceWindow(layers)
    LoadOptions load;
};

struct TraceJobResult {
    std::vector<int64_t> traceIds;
    std::vector<TraceResult> results;
};

/// Causal traces of facts (prompt with subject, expecting target_true) on the current state,
/// stored in the project.
TraceJobResult runTraceJob(const std::filesystem::path &projectFile, const TraceJobSpec &spec, JobContext &context);

struct ModelTraceJobSpec {
    std::filesystem::path model; // checkpoint directory, read when no session is given
    /// When set: trace this project's current model (its checkpoint with the applied runs),
    /// loaded for this trace; `model` and the session are not used.
    std::filesystem::path project;
    TraceRequest request; // the full prompt and its subject; the model's own answer is traced
    int samples = 10; // noise samples per restoration
    uint64_t seed = 1;
    /// Subjects whose embeddings set the noise scale (3σ, subjectNoise); empty: the traced one.
    std::vector<std::string> noiseSubjects;
    LoadOptions load;
};

struct ModelTraceJobResult {
    TraceResult trace;
    std::shared_ptr<ModelSession> session; // the model traced, for the next trace to reuse
    bool currentModel = false; // a project's current model was traced (spec.project)
    std::vector<int64_t> appliedRuns; // its applied runs, in order
};

/// A causal trace of one prompt on a model (not a project), with progress over all kinds:
/// the workbench's Causal trace tab. Uses `session` when given (read only; one job at a time
/// uses it), else loads spec.model.
ModelTraceJobResult runModelTraceJob(
    const ModelTraceJobSpec &spec, std::shared_ptr<ModelSession> session, JobContext &context);

struct AverageTraceJobSpec {
    std::vector<int64_t> factIds; // empty: the first `limit` enabled facts
    int64_t limit = 20;
    // params.trace.noise.scale <= 0: 3σ of the traced subjects' embeddings;
    // params.trace.window <= 0: defaultTraceWindow of the model's depth (the default here).
    /// false: the checkpoint as stored (where the model kept its facts before any edit); true: the
    /// current model, facts edited by applied runs expected to give their new object.
    bool currentModel = false;
    AverageParams params = [] {
        AverageParams p;
        p.trace.window = 0;
        return p;
    }();
    LoadOptions load;
};

/// Average indirect effects over facts (prompt with subject, expecting target_true) on the
/// base model: where the model stores them, and the suggested MEMIT layer range. Stored in the
/// project as a trace of kind "average".
AverageEffects runAverageTraceJob(
    const std::filesystem::path &projectFile, const AverageTraceJobSpec &spec, JobContext &context);

/// Statistics of `layers` for the project's base model from `source` (see EditJobSpec), from
/// the cache or computed; statistics computed from a corpus are recorded in the project.
ResolvedStatistics runStatisticsJob(const std::filesystem::path &projectFile, const StatisticsSource &source,
    const std::vector<int> &layers, const LoadOptions &load, JobContext &context);

/// Generation on the current state.
TextGeneration runGenerateJob(const std::filesystem::path &projectFile, const std::string &prompt,
    const GenerationParams &params, const LoadOptions &load, JobContext &context);

struct GenerationPair {
    std::string prompt;
    std::string before; // continuation on the base model
    std::string after; // continuation on the current state
};

/// The same prompts continued on the base model and on the current state (same parameters and
/// seed, so any difference comes from the edits).
std::vector<GenerationPair> runCompareGenerationJob(const std::filesystem::path &projectFile,
    const std::vector<std::string> &prompts, const GenerationParams &params, const LoadOptions &load,
    JobContext &context);

// ---- Probe ---------------------------------------------------------------------------------

/// One relation the project knows, asked about one subject.
struct ProbeRelation {
    std::string relation; // the relation id, or the prompt template when the facts give none
    std::string promptTemplate; // the subject's own fact's template, else the relation's commonest
    std::string prompt; // the template filled with the subject
    /// The project's facts about this subject and relation, with their recorded objects.
    std::vector<int64_t> factIds;
    std::vector<std::string> recordedTrue, recordedNew;
    bool edited = false; // an applied run edited one of these facts
};

/// Every relation of `facts` (grouped by Fact::relationKey, in order of first appearance) as a
/// question about `subject`.
std::vector<ProbeRelation> probeRelations(
    const std::vector<Fact> &facts, const std::vector<int64_t> &editedFactIds, const std::string &subject);

struct ProbeJobSpec {
    std::string subject; // required
    std::vector<std::string> relations; // empty: every relation the project knows
    ProbeParams params;
    LoadOptions load;
};

struct ProbeRow {
    ProbeRelation relation;
    ProbeAnswer base; // the checkpoint without the project's edits
    std::optional<ProbeAnswer> current; // the current state; nullopt when no run is applied
    bool changed = false; // current differs from base (answersDiffer)
};

struct ProbeJobResult {
    std::string subject;
    std::vector<ProbeRow> rows;
    std::vector<int64_t> appliedRuns;
    double seconds = 0; // the probing itself, after loading
};

/// What the model answers about `spec.subject` for each relation, on the base model and (when
/// runs are applied) on the current state, each batched over the relations. Read only.
ProbeJobResult runProbeJob(const std::filesystem::path &projectFile, const ProbeJobSpec &spec, JobContext &context);

/// The result as JSON: {"subject", "applied_runs", "rows": [{"relation", "template", "prompt",
/// "fact_ids", "recorded_true", "recorded_new", "edited", "base": answer, "current": answer|null,
/// "changed"}]}, an answer being {"top": [{"token", "text", "p"}], "continuation"}.
std::string probeResultJson(const ProbeJobResult &result);

// ---- Export and patches -------------------------------------------------------------------

struct ExportJobSpec {
    std::filesystem::path out;
    ExportOptions options;
    bool check = true; // run checkExportLayout afterwards (throws when it finds problems)
};

/// Exports base ⊕ applied runs as a Hugging Face directory with engram-manifest.json.
ExportSummary runExportJob(const std::filesystem::path &projectFile, const ExportJobSpec &spec, JobContext &context);

/// The manifest an export writes (also useful on its own): base, runs, facts, hashes.
std::string exportManifest(const Project &project, const std::string &resultState);

/// Writes the applied runs' patches (or one run's) composed into one patch file.
void exportPatchFile(const std::filesystem::path &projectFile, int64_t runId, const std::filesystem::path &out,
    const LoadOptions &load, JobContext &context);

/// Writes run `runId`'s patch (0: every applied run, composed: factors concatenated, ranks
/// adding up) as a PEFT LoRA adapter directory for the project's base model (see lora.h).
/// Reads only the stored deltas: no model is loaded.
LoraSummary exportLoraAdapter(const std::filesystem::path &projectFile, int64_t runId,
    const std::filesystem::path &out, const LoraOptions &options, JobContext &context);

/// Records a patch file (made elsewhere for the same base) as a run on top of the current
/// state, after checking that it applies to it. Returns the run id.
int64_t importPatchFile(const std::filesystem::path &projectFile, const std::filesystem::path &patchFile,
    const LoadOptions &load, JobContext &context);

} // namespace engram
