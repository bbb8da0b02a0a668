#pragma once
// The project store: one SQLite file (*.engram) holding the model reference, the curated
// facts (with tags, provenance and an audit log), the history of edit runs with their weight
// patches, evaluations, traces and the statistics files used.
//
// File safety: open() reads the schema version and application id before writing anything,
// so a file from a newer Engram, a file that is not a project, a damaged file or a file locked
// by another process is refused with a specific engram::Error and left byte-for-byte as it
// was. Older files are migrated forward, each step in one transaction (all or nothing).
// Writes are batched in transactions; a crash leaves the last committed state (WAL journal).
//
// Plain types only (no torch): weight deltas travel as raw float32 bytes (StoredDelta);
// core/jobs converts them to WeightPatch.
//
// Thread-safety: a Project is one SQLite connection; use it from one thread. A job opens its
// own Project on the same file (SQLite arbitrates; writers wait up to the busy timeout).

#include "core/data/datasets.h"
#include "core/edit/editparams.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace engram {

class Database;

/// The checkpoint a project edits.
struct ProjectModel {
    std::filesystem::path path; // Hugging Face directory, absolute
    std::string contentHash; // checkpointContentHash of config.json + safetensors at creation
    std::string family; // gpt2 / gptj / gpt_neox / llama
    std::string summaryJson = "{}"; // layers, hidden size, parameters ... for display
};

struct Fact {
    int64_t id = 0;
    int64_t caseId = -1; // id in the source dataset (CounterFact case_id), -1 when none
    std::string subject;
    std::string promptTemplate; // exactly one "{}" for the subject
    std::string relation; // e.g. Wikidata P27; may be empty
    std::string targetTrue; // may be empty
    std::string targetNew;
    std::vector<std::string> paraphrasePrompts;
    std::vector<std::string> neighborhoodPrompts;
    std::vector<std::string> attributePrompts;
    std::vector<std::string> generationPrompts;
    std::vector<std::string> tags;
    bool enabled = true;
    std::string provenance; // where it came from: "counterfact.json#17", "cli", "gui"
    std::string createdAt; // UTC, ISO 8601
    std::string updatedAt;

    /// The relation key used by conflict checks: the relation, or the prompt template when
    /// the relation is unknown.
    std::string relationKey() const { return relation.empty() ? promptTemplate : relation; }
};

/// A dataset record as a fact (case id, prompts, targets; no tags, enabled) and back.
Fact factFromRecord(const EvalRecord &record);
EvalRecord recordFromFact(const Fact &fact);

/// Validation of a fact as the UI and CLI enter it: the template holds exactly one "{}",
/// subject and new target are non-empty. Returns the problem, or an empty string.
std::string validateFact(const Fact &fact);

/// Evaluation prompts for a fact entered by hand, from the project's other facts of its relation
/// (Fact::relationKey): paraphrases are the relation's other templates filled with the fact's
/// subject and those facts' own paraphrase prompts with their subject swapped for it; neighbours are other subjects' prompts of the relation whose recorded true object is
/// the fact's (what CounterFact's neighbourhood prompts are: the answer must stay). At most
/// `limit` of each, in the facts' order, without repeats or the fact's own prompt.
struct SuggestedPrompts {
    std::vector<std::string> paraphrases;
    std::vector<std::string> neighbours;
};
SuggestedPrompts suggestPrompts(const std::vector<Fact> &projectFacts, const Fact &fact, std::size_t limit = 5);

/// Removes from `incoming` the facts already in `existing` or earlier in `incoming`: same
/// subject, prompt template, true and new object (objects compared without surrounding
/// spaces). Returns how many were removed. Re-importing a file adds nothing.
std::size_t dropDuplicateFacts(const std::vector<Fact> &existing, std::vector<Fact> &incoming);

struct FactFilter {
    std::string relation; // empty: any
    std::string tag; // empty: any
    std::optional<bool> enabled;
    std::vector<int64_t> ids; // empty: any
};

/// One row of the fact audit log (schema 2): what changed, when, and the values before/after.
struct FactEvent {
    int64_t id = 0;
    int64_t factId = 0;
    std::string at;
    std::string action; // add, import, update, remove, undo, migrated
    std::string beforeJson; // empty for add/import
    std::string afterJson; // empty for remove
};

/// Held: computed and stored but not applied, because the health guard found it below the
/// project's thresholds; the user applies or discards it. Discarded: a held run the user refused.
enum class RunStatus { Applied, Reverted, Cancelled, Failed, Held, Discarded };
const char *runStatusName(RunStatus status);

/// The request an edit run made for one fact, copied at run time (facts may change later).
struct RunFact {
    int64_t factId = 0; // 0 when the fact was removed since
    std::string subject;
    std::string promptTemplate;
    std::string relation;
    std::string targetNew;
};

/// The model's health after a run, measured on the project's own facts (issue 19), so an
/// analyst sees degradation coming run after run. Negative values: not measured (older runs,
/// failed ones, or no facts of that kind).
struct RunHealth {
    double esSoFar = -1; // % of the facts edited by applied runs (this one included) whose new object beats the true one
    int64_t editedFacts = 0; // facts ES-so-far counts (those with a true object)
    double retention = -1; // top-1 recall of the project's other facts (with a true object), 0-1
    double retentionBase = -1; // the same facts on the base model
    int64_t otherFacts = 0;
    double fluency = -1; // mean GE of one sample from each of a few fixed prompts
    double fluencyBase = -1;
    std::vector<double> cumulativeRelativeNorms; // per edited layer: ‖W − W₀‖ / ‖W₀‖ against the base model

    bool measured() const { return esSoFar >= 0 || retention >= 0 || fluency >= 0; }
    /// retention / retentionBase, or -1.
    double retentionRatio() const { return retention >= 0 && retentionBase > 0 ? retention / retentionBase : -1; }
};

/// The health guard (issue 19): a run whose measured health falls below these thresholds is
/// held (stored, not applied) until the user applies or discards it. Kept in the project's
/// settings; a threshold of 0 is off.
struct HealthGuard {
    double minRetention = 0.95; // retention as a share of the base model's, 0-1
    double minEsSoFar = 90; // ES over every fact edited so far, 0-100

    /// One sentence per threshold the health falls below (empty: the run may be applied).
    /// Measures that were not taken (no facts of that kind) never hold a run.
    std::vector<std::string> breaches(const RunHealth &health) const;
    /// Error(InvalidArgument) naming a threshold outside its range.
    void validate() const;
};

/// What an edit run reports about its change; stored as JSON in edit_run.summary_json and read
/// back typed (the one place that knows the JSON keys).
struct RunSummary {
    std::vector<int> layers;
    std::vector<double> relativeNorms; // ‖ΔW‖ / ‖W‖ per layer
    std::vector<double> residualBefore; // MEMIT: mean ‖z − z_cur‖ before each layer's update
    double residualAfter = 0;
    double meanTargetProbability = 0; // after the target optimisation
    double seconds = 0; // of the method itself (the run's seconds include loading)
    std::vector<int64_t> rebasedHistory; // earlier runs applied on other weights than recorded
    std::vector<int64_t> nullSpaceDims; // AlphaEdit: the null space's dimension per edited layer
    std::vector<int64_t> earlierRuns; // applied runs whose keys the solve kept as memories (C_p)
    RunHealth health;

    std::string toJson() const;
    /// Reads what toJson wrote; keys it lacks keep their defaults (failed runs store "{}").
    /// Error(CorruptFile) for text that is not a JSON object of these types.
    static RunSummary fromJson(const std::string &json);
};

struct EditRun {
    int64_t id = 0;
    std::string method; // memit, rome, r-rome, ftw, imported
    std::string paramsJson = "{}";
    uint64_t seed = 0;
    std::string device;
    RunStatus status = RunStatus::Applied;
    std::string createdAt;
    double seconds = 0;
    RunSummary summary; // empty for runs that did not finish
    std::string provenanceJson = "{}"; // the patch's provenance
    std::string baseState; // model state hash before the run (see modelStateHash in core/jobs)
    std::string resultState; // after it
    std::string message; // why it failed or was cancelled
    std::vector<RunFact> facts;
};

/// A weight delta as stored: float32 little-endian, the parameter's shape and stored orientation.
struct StoredDelta {
    std::string name;
    std::string baseHash;
    std::vector<int64_t> shape;
    double relativeNorm = 0;
    std::vector<unsigned char> data; // numel * 4 bytes
};

struct Conflict {
    enum class Kind {
        DifferentTargets, // the same subject and relation asked to become two different objects
        OverwritesEarlierEdit, // the fact re-edits a subject/relation an applied run already changed
        SharedKey, // the same subject twice in one batch: one key, two targets (MEMIT averages them)
    };
    Kind kind;
    std::vector<int64_t> factIds;
    int64_t runId = 0; // OverwritesEarlierEdit: the earlier run
    std::string message;
};
const char *conflictKindName(Conflict::Kind kind);

struct Evaluation {
    int64_t id = 0;
    int64_t runId = 0; // the latest applied run when it was made; 0: the base model
    std::string createdAt;
    std::string state; // model state hash evaluated as "post"
    std::string summaryJson = "{}"; // {"pre": {...}, "post": {...}}
};

struct Metric {
    int64_t factId = 0;
    std::string phase; // pre | post
    std::string kind; // es, ps, ns, em, pm, nm, p_new, p_true, fluency
    double value = 0;
};

struct Generation {
    int64_t factId = 0;
    std::string prompt;
    std::string before;
    std::string after;
};

struct StoredTrace {
    int64_t id = 0;
    int64_t factId = 0;
    std::string state;
    std::string kind; // hidden / mlp / attn / all
    std::string createdAt;
    std::string resultJson;
};

class Project
{
public:
    static constexpr int kSchemaVersion = 5;
    static constexpr int64_t kApplicationId = 0x456e6772; // "Engr"

    /// Creates a new project file for `model`. Refuses to overwrite an existing file.
    static std::unique_ptr<Project> create(const std::filesystem::path &file, const ProjectModel &model);
    /// Opens (and migrates, when older and not read-only) a project. Before it is opened for
    /// writing, its pages (SQLite's quick check) and every stored patch (its hash) are checked:
    /// nothing is written into a damaged file. Read-only opening skips those checks, so damage
    /// can be inspected (check()). Throws engram::Error: CorruptFile (damaged, not a project),
    /// Unsupported (newer schema), Io (locked, missing).
    static std::unique_ptr<Project> open(const std::filesystem::path &file, bool readOnly = false);
    ~Project();

    const std::filesystem::path &file() const { return m_file; }
    int schemaVersion() const;
    ProjectModel model() const;
    int64_t modelId() const;

    /// Free-form settings (statistics corpus, defaults) kept in the file.
    std::string setting(const std::string &key, const std::string &fallback = {}) const;
    void setSetting(const std::string &key, const std::string &value);
    /// The guard's thresholds (defaults when the project sets none). Error(CorruptFile) for a
    /// stored value that is not a number in range.
    HealthGuard healthGuard() const;
    void setHealthGuard(const HealthGuard &guard);

    // Facts. Every change is logged in fact_event in the same transaction.
    int64_t addFact(Fact fact);
    /// All in one transaction; returns the new ids. Validates every fact first.
    std::vector<int64_t> addFacts(std::vector<Fact> facts, const std::string &action = "import");
    void updateFact(const Fact &fact);
    void removeFacts(const std::vector<int64_t> &ids);
    std::vector<Fact> facts(const FactFilter &filter = {}) const;
    std::optional<Fact> fact(int64_t id) const;
    std::vector<FactEvent> factEvents(int64_t factId = 0) const;
    /// Reverses the most recent fact change (add, import batch, update, remove); returns a
    /// description, or an empty string when there is nothing to undo.
    std::string undoLastFactChange();

    /// Conflicts of editing `batch` now (within the batch, and against applied runs).
    std::vector<Conflict> checkConflicts(const std::vector<Fact> &batch) const;

    // Edit runs and their patches.
    /// Records a finished run with its patch (applied) or a cancelled/failed one (no deltas),
    /// and the run's keys per edited layer (MEMIT, AlphaEdit), all in one transaction. Returns
    /// the run id.
    int64_t recordRun(const EditRun &run, const std::vector<StoredDelta> &deltas,
        const std::vector<LayerKeys> &keys = {});
    /// The keys a run recorded (empty for runs of other methods or older files). Error(CorruptFile)
    /// when their bytes do not match their size or recorded hash.
    std::vector<LayerKeys> runKeys(int64_t runId) const;
    /// The keys of every applied run, in history order (what a run that keeps earlier runs as
    /// memories solves with); `runIds` receives the runs that had keys.
    std::vector<LayerKeys> appliedRunKeys(std::vector<int64_t> *runIds = nullptr) const;
    std::vector<EditRun> runs() const; // in history order (ascending id)
    std::optional<EditRun> run(int64_t id) const;
    std::vector<StoredDelta> patch(int64_t runId) const;
    /// Every tensor name any stored patch edits.
    std::vector<std::string> patchedTensorNames() const;
    /// Marks a run reverted or applied again (with the model state it now yields).
    void setRunStatus(int64_t runId, RunStatus status, const std::string &resultState = {});
    /// Replaces the run's message (why it failed, was held, or was applied although held).
    void setRunMessage(int64_t runId, const std::string &message);
    /// Fact ids edited by applied runs, with the run that edited them last.
    std::vector<std::pair<int64_t, int64_t>> editedFacts() const;

    // Evaluations, traces, statistics.
    int64_t recordEvaluation(
        const Evaluation &evaluation, const std::vector<Metric> &metrics, const std::vector<Generation> &generations);
    std::vector<Evaluation> evaluations() const;
    std::vector<Metric> metrics(int64_t evaluationId) const;
    std::vector<Generation> generations(int64_t evaluationId) const;
    int64_t recordTrace(const StoredTrace &trace);
    std::vector<StoredTrace> traces(int64_t factId = 0) const;
    void recordStatistics(const std::string &key, int layer, const std::filesystem::path &file,
        const std::string &corpus, int64_t samples, const std::string &dtype);

    /// A copy of this project holding the history up to and including `runId` (later runs,
    /// their evaluations and patches dropped): a branch to explore another path.
    void branch(int64_t runId, const std::filesystem::path &out) const;

    /// Consistency check: SQLite's integrity and foreign-key checks, and every stored patch's
    /// (and run's keys') size against its shape and its bytes against their recorded hash. Returns the problems found (empty: sound).
    std::vector<std::string> check() const;

    Database &database() { return *m_db; }

private:
    Project(std::filesystem::path file, std::unique_ptr<Database> db);
    void migrate();
    /// Throws engram::Error(CorruptFile) naming the first stored delta whose bytes do not match
    /// their recorded hash.
    void verifyStoredPatches() const;
    std::filesystem::path m_file;
    std::unique_ptr<Database> m_db;
};

/// Current time as "YYYY-MM-DDTHH:MM:SSZ".
std::string utcTimestamp();

} // namespace engram
