#include "core/jobs/projectjobs.h"

#include "core/edit/weightpatch.h"
#include "core/eval/evaljson.h"
#include "core/model/modelconfig.h"
#include "core/model/modelinfo.h"
#include "core/model/modelsession.h"
#include "core/model/transformer.h"
#include "core/project/sqlite.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <map>
#include <set>

namespace engram {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

double secondsSince(std::chrono::steady_clock::time_point t)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

fs::path hashMemoDir()
{
    return defaultStatisticsCacheDir() / "hashes";
}

WeightPatch toWeightPatch(const std::vector<StoredDelta> &stored, const std::string &provenance)
{
    WeightPatch patch;
    patch.provenanceJson = provenance;
    for (const auto &s : stored) {
        TensorDelta d;
        d.name = s.name;
        d.baseHash = s.baseHash;
        d.relativeNorm = s.relativeNorm;
        d.delta = at::empty(s.shape, at::kFloat);
        std::memcpy(d.delta.data_ptr(), s.data.data(), s.data.size());
        patch.deltas.push_back(std::move(d));
    }
    return patch;
}

std::vector<StoredDelta> toStored(const WeightPatch &patch)
{
    std::vector<StoredDelta> out;
    for (const auto &d : patch.deltas) {
        const at::Tensor t = d.delta.to(at::kCPU).to(at::kFloat).contiguous();
        StoredDelta s {
            d.name, d.baseHash, std::vector<int64_t>(t.sizes().begin(), t.sizes().end()), d.relativeNorm, {}};
        const auto *p = static_cast<const unsigned char *>(t.data_ptr());
        s.data.assign(p, p + t.nbytes());
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<Fact> selectFacts(const Project &project, const std::vector<int64_t> &ids)
{
    if (!ids.empty()) {
        FactFilter filter;
        filter.ids = ids;
        auto facts = project.facts(filter);
        if (facts.size() != std::set<int64_t>(ids.begin(), ids.end()).size()) {
            std::set<int64_t> found;
            for (const auto &f : facts)
                found.insert(f.id);
            for (int64_t id : ids)
                if (!found.count(id))
                    throw Error(
                        ErrorKind::InvalidArgument, "no fact " + std::to_string(id) + " in " + project.file().string());
        }
        return facts;
    }
    std::set<int64_t> edited;
    for (const auto &[fact, run] : project.editedFacts())
        edited.insert(fact);
    FactFilter filter;
    filter.enabled = true;
    std::vector<Fact> out;
    for (auto &f : project.facts(filter))
        if (!edited.count(f.id))
            out.push_back(std::move(f));
    return out;
}

EditRequest editRequestOf(const Fact &f)
{
    EditRequest req {f.promptTemplate, f.subject, f.targetNew};
    req.relation = f.relation;
    return req;
}

std::vector<std::string> editedWeightNames(const Transformer &model, const std::vector<int> &layers)
{
    std::vector<std::string> names;
    for (int l : layers)
        names.push_back(model.mlpOutputWeightName(l));
    return names;
}

// The project's corpus setting in place of StatisticsSource::Kind::ProjectCorpus.
StatisticsSource withProjectDefaults(StatisticsSource source, const Project &project)
{
    if (source.kind == StatisticsSource::Kind::ProjectCorpus) {
        source.kind = StatisticsSource::Kind::Corpus;
        source.corpus = project.setting("stats.corpus");
        if (source.corpus.empty())
            throw Error(ErrorKind::InvalidArgument,
                "no statistics for the edit: give statistics files or a corpus (or set the project's statistics "
                "corpus)");
    }
    if (source.kind == StatisticsSource::Kind::Corpus && source.maxDocuments < 0)
        source.maxDocuments = std::stoll(project.setting("stats.max_docs", "0"));
    return source;
}

// Statistics for an edit on the project's base model, from files or the cache (computed when
// missing); corpus statistics are recorded in the project.
ResolvedStatistics statisticsFor(Project &project, const ModelSession &base, const StatisticsSource &source,
    const std::vector<int> &layers, JobContext &context)
{
    if (layers.empty())
        return {};
    const StatisticsSource resolved = withProjectDefaults(source, project);
    const ResolvedStatistics stats = resolveStatistics(resolved, base, layers, [&](int64_t done, int64_t total) {
        ProgressUpdate u;
        u.stage = "covariance statistics (documents)";
        u.done = done;
        u.total = total;
        return context.progress()(u);
    });
    if (!stats.corpus.empty())
        for (std::size_t i = 0; i < layers.size(); ++i)
            project.recordStatistics(stats.files[i].filename().string(), layers[i], stats.files[i],
                stats.corpus.string(), stats.maxDocuments, resolved.float64 ? "float64" : "float32");
    return stats;
}

std::unique_ptr<ModelSession> openBaseModel(const Project &project, const LoadOptions &load, JobContext &context)
{
    const ProjectModel model = project.model();
    context.stage("checking the model");
    if (!fs::is_directory(model.path))
        throw Error(
            ErrorKind::Io, "the project's model is not at " + model.path.string() + " any more (moved or deleted)");
    const std::string hash = checkpointContentHash(model.path, hashMemoDir());
    if (hash != model.contentHash)
        throw Error(ErrorKind::Io,
            "the checkpoint at " + model.path.string() + " has changed since the project was made (content hash " + hash
                + ", the project recorded " + model.contentHash + "); its edits were computed for other weights");
    context.stage("loading the model");
    return ModelSession::open(model.path, load);
}

} // namespace

ProjectModel describeProjectModel(const fs::path &dir)
{
    const auto summary = summarizeCheckpoint(dir);
    ProjectModel m;
    m.path = fs::absolute(dir).lexically_normal();
    if (m.path.filename().empty())
        m.path = m.path.parent_path();
    m.contentHash = checkpointContentHash(dir, hashMemoDir());
    m.family = summary.modelType;
    m.summaryJson = json {{"family", summary.family}, {"model_type", summary.modelType}, {"layers", summary.layers},
        {"hidden_size", summary.hiddenSize}, {"heads", summary.heads}, {"vocab_size", summary.vocabSize},
        {"context_length", summary.contextLength}, {"parameters", summary.parameters},
        {"weight_bytes", summary.weightBytes}, {"tokenizer", summary.tokenizerKind}}
                        .dump();
    return m;
}

namespace {
// The tensors Engram edits: every MLP output weight, plus any tensor a stored patch names.
std::set<std::string> stateTensorNames(const Transformer &model, const Project &project)
{
    std::set<std::string> names;
    for (int l = 0; l < model.config().numLayers; ++l)
        names.insert(model.mlpOutputWeightName(l));
    for (const auto &n : project.patchedTensorNames())
        names.insert(n);
    return names;
}
} // namespace

std::string modelStateHash(const Transformer &model, const Project &project)
{
    ContentHash h;
    for (const auto &n : stateTensorNames(model, project)) {
        h.update(n);
        h.update(tensorHash(model.parameter(n)));
    }
    return h.hex();
}

HistoryState applyHistory(ModelSession &session, const Project &project, int64_t upToRun)
{
    HistoryState state;
    for (const auto &run : project.runs()) {
        if (upToRun > 0 && run.id > upToRun)
            break;
        if (run.status != RunStatus::Applied)
            continue;
        const WeightPatch patch = toWeightPatch(project.patch(run.id), run.provenanceJson);
        try {
            patch.apply(session.model());
        } catch (const Error &e) {
            if (e.kind() != ErrorKind::ShapeMismatch)
                throw;
            // Computed on weights an earlier (now reverted) run produced: add it anyway.
            patch.apply(session.model(), /*checkBase=*/false);
            state.rebasedRuns.push_back(run.id);
        }
        state.appliedRuns.push_back(run.id);
    }
    state.stateHash = modelStateHash(session.model(), project);
    return state;
}

std::unique_ptr<ModelSession> openProjectModel(
    const Project &project, const LoadOptions &load, JobContext &context, HistoryState *state)
{
    auto session = openBaseModel(project, load, context);
    context.stage("applying the project's history");
    const HistoryState s = applyHistory(*session, project);
    if (state)
        *state = s;
    return session;
}

EditJobResult runEditJob(const fs::path &projectFile, const EditJobSpec &spec, JobContext &context)
{
    auto project = Project::open(projectFile);
    const std::vector<Fact> facts = selectFacts(*project, spec.factIds);
    if (facts.empty())
        throw Error(ErrorKind::InvalidArgument,
            "nothing to edit in " + projectFile.string()
                + ": every enabled fact is already edited (or there are none)");
    EditJobResult result;
    result.facts = facts.size();
    result.conflicts = project->checkConflicts(facts);
    if (!result.conflicts.empty() && !spec.allowConflicts) {
        std::string list;
        for (std::size_t i = 0; i < result.conflicts.size() && i < 5; ++i)
            list += "\n  " + result.conflicts[i].message;
        throw Error(ErrorKind::Conflict,
            std::to_string(result.conflicts.size()) + " conflict(s) in this batch; nothing was edited:" + list
                + (result.conflicts.size() > 5 ? "\n  ..." : "") + "\nresolve them, or allow conflicts to edit anyway");
    }

    // The run as it will be recorded, whatever happens from here (done, cancelled, failed).
    std::vector<EditRequest> requests;
    EditRun run;
    for (const auto &f : facts) {
        requests.push_back(editRequestOf(f));
        run.facts.push_back({f.id, f.subject, f.promptTemplate, f.relation, f.targetNew});
    }
    EditConfig config = spec.config;
    KeepPlan keep;
    if (spec.keepProjectFacts && config.method() != EditMethod::FineTune) {
        std::set<int64_t> inBatch;
        for (const auto &f : facts)
            inBatch.insert(f.id);
        std::vector<FactToKeep> others;
        for (const auto &f : project->facts())
            if (!inBatch.count(f.id))
                others.push_back({f.promptTemplate, f.subject, f.relation});
        keep = keepFacts(config, requests, others);
    }
    run.method = std::string(editMethodName(config.method()));
    run.device = spec.load.device;
    run.seed = config.seed();
    json params = json::parse(config.paramsJson());
    params["dtype"] = spec.load.dtype;
    if (spec.keepProjectFacts)
        params["keep_project_facts"] = {{"preserve_prompts", keep.preservePrompts},
            {"subjects_preserved", keep.subjectsPreserved}, {"protected_keys", keep.protectedKeys}};
    run.paramsJson = params.dump();

    const auto start = std::chrono::steady_clock::now();
    HistoryState before;
    try {
        auto session = openBaseModel(*project, spec.load, context);
        const ResolvedStatistics stats
            = statisticsFor(*project, *session, spec.statistics, config.statisticsLayers(), context);
        std::vector<std::string> statsFiles;
        for (const auto &f : stats.files)
            statsFiles.push_back(f.string());
        params["statistics"] = statsFiles;
        run.paramsJson = params.dump();
        context.stage("applying the project's history");
        before = applyHistory(*session, *project);
        result.stateBefore = run.baseState = before.stateHash;

        // The weights the edit will change, to rebuild "before ⊕ patch" exactly afterwards.
        std::vector<std::pair<std::string, at::Tensor>> saved;
        for (const auto &n : editedWeightNames(session->model(), config.editedLayers()))
            saved.emplace_back(n, session->model().parameter(n).detach().clone());

        result.summary = runEdit(*session, requests, config, stats.files, {}, context.progress());
        context.throwIfCancelled();
        // The state a replay of the history gives: the pre-edit weights plus the patch.
        for (const auto &[name, w] : saved)
            session->model().setParameter(name, w);
        result.summary.patch->apply(session->model());
        result.stateAfter = modelStateHash(session->model(), *project);
    } catch (const Error &e) {
        run.status = e.kind() == ErrorKind::Cancelled ? RunStatus::Cancelled : RunStatus::Failed;
        run.message = e.what();
        run.seconds = secondsSince(start);
        try {
            project->recordRun(run, {});
        } catch (const Error &) {
            // The original error matters more than the failed record of it.
        }
        throw;
    }
    run.seconds = secondsSince(start);
    run.resultState = result.stateAfter;
    run.provenanceJson = result.summary.patch->provenanceJson;
    run.summary.layers = result.summary.layers;
    run.summary.relativeNorms = result.summary.relativeNorms;
    run.summary.residualBefore = result.summary.residualBefore;
    run.summary.residualAfter = result.summary.residualAfter;
    run.summary.meanTargetProbability = result.summary.meanTargetProbability;
    run.summary.seconds = result.summary.seconds;
    run.summary.rebasedHistory = before.rebasedRuns;
    context.stage("saving the run");
    result.runId = project->recordRun(run, toStored(*result.summary.patch));
    return result;
}

RevertResult revertRun(
    const fs::path &projectFile, int64_t runId, bool reapply, const LoadOptions &load, JobContext &context)
{
    auto project = Project::open(projectFile);
    const auto run = project->run(runId);
    if (!run)
        throw Error(ErrorKind::InvalidArgument, "no run " + std::to_string(runId) + " in " + projectFile.string());
    const RunStatus from = reapply ? RunStatus::Reverted : RunStatus::Applied;
    if (run->status != from)
        throw Error(ErrorKind::InvalidArgument,
            "run " + std::to_string(runId) + " is " + runStatusName(run->status) + "; only "
                + (reapply ? "reverted" : "applied") + " runs can be " + (reapply ? "re-applied" : "reverted"));

    RevertResult result;
    auto session = openBaseModel(*project, load, context);
    // Keep the base values of the edited tensors, so the model is loaded once for both states.
    std::vector<std::pair<std::string, at::Tensor>> base;
    for (const auto &n : stateTensorNames(session->model(), *project))
        base.emplace_back(n, session->model().parameter(n).detach().clone());
    context.stage("rebuilding the current state");
    result.stateBefore = applyHistory(*session, *project).stateHash;
    for (const auto &[name, w] : base)
        session->model().setParameter(name, w);
    // Rebuild with the change in a transaction that commits only when the check passes.
    Transaction t(project->database());
    project->setRunStatus(runId, reapply ? RunStatus::Applied : RunStatus::Reverted);
    context.stage(reapply ? "re-applying" : "reverting");
    const HistoryState after = applyHistory(*session, *project);
    result.stateAfter = after.stateHash;
    result.rebasedRuns = after.rebasedRuns;
    // When every remaining patch applied to the weights it was computed on, the history says
    // what the state must be: the last applied run's result, or the base the first run started from.
    if (after.rebasedRuns.empty()) {
        const auto runs = project->runs();
        if (!after.appliedRuns.empty())
            result.expectedState = project->run(after.appliedRuns.back())->resultState;
        else if (!runs.empty())
            result.expectedState = runs.front().baseState;
    }
    result.verified = !result.expectedState.empty() && result.expectedState == result.stateAfter;
    if (!result.expectedState.empty() && !result.verified)
        throw Error(ErrorKind::Runtime,
            "rebuilding the model " + std::string(reapply ? "with" : "without") + " run " + std::to_string(runId)
                + " gave state " + result.stateAfter + ", the history says " + result.expectedState
                + "; the project was not changed");
    t.commit();
    return result;
}

std::string evaluationSummaryJson(const EvalJobResult &r)
{
    return json {{"pre", evalPhaseToJson(r.pre, r.retentionPre)}, {"post", evalPhaseToJson(r.post, r.retentionPost)}}
        .dump();
}

EvalJobResult runEvalJob(const fs::path &projectFile, const EvalJobSpec &spec, JobContext &context)
{
    auto project = Project::open(projectFile);
    std::vector<Fact> facts;
    if (!spec.factIds.empty()) {
        facts = selectFacts(*project, spec.factIds);
    } else {
        std::vector<int64_t> ids;
        for (const auto &[fact, run] : project->editedFacts())
            ids.push_back(fact);
        FactFilter filter;
        if (ids.empty())
            filter.enabled = true;
        else
            filter.ids = ids;
        facts = project->facts(filter);
    }
    if (facts.empty())
        throw Error(ErrorKind::InvalidArgument, "no facts to evaluate in " + projectFile.string());
    std::vector<EvalRecord> records;
    for (const auto &f : facts) {
        records.push_back(recordFromFact(f));
        records.back().caseId = f.id; // scores are stored per fact
    }
    EvalParams params;
    params.generationInterval = spec.generationInterval;
    params.seed = spec.seed;

    // Retention set: every fact with a true object that no applied run edited.
    std::set<int64_t> edited;
    for (const auto &[fact, run] : project->editedFacts())
        edited.insert(fact);
    std::vector<FactPrompt> retention;
    for (const auto &f : project->facts())
        if (!edited.count(f.id) && !f.targetTrue.empty())
            retention.push_back({f.promptTemplate, f.subject, f.targetTrue});

    auto session = openBaseModel(*project, spec.load, context);
    const auto pre = evaluateRecords(session->model(), session->tokenizer(), records, params, context.progress());
    EvalJobResult result;
    if (!retention.empty()) {
        context.stage("measuring retention on the base model");
        result.retentionPre = measureRecall(session->model(), session->tokenizer(), retention);
    }
    context.stage("applying the project's history");
    const HistoryState state = applyHistory(*session, *project);
    const auto post = evaluateRecords(session->model(), session->tokenizer(), records, params, context.progress());
    if (!retention.empty()) {
        context.stage("measuring retention on the edited model");
        result.retentionPost = measureRecall(session->model(), session->tokenizer(), retention);
    }

    result.facts = facts.size();
    result.pre = summarize(pre);
    result.post = summarize(post);
    std::vector<Metric> metrics;
    std::vector<Generation> generations;
    for (std::size_t i = 0; i < facts.size(); ++i) {
        for (const auto &[phase, s] :
            {std::pair<const char *, const RecordScores *> {"pre", &pre[i]}, {"post", &post[i]}}) {
            const std::pair<const char *, double> values[]
                = {{"es", s->es}, {"ps", s->ps}, {"ns", s->ns}, {"em", s->em}, {"pm", s->pm}, {"nm", s->nm},
                    {"p_new", s->pNew}, {"p_true", s->pTrue}, {"fluency", s->fluency}};
            for (const auto &[kind, value] : values)
                metrics.push_back({facts[i].id, phase, kind, value});
        }
        for (std::size_t g = 0; g < pre[i].generations.size() && g < post[i].generations.size(); ++g) {
            const std::string prompt
                = g < facts[i].generationPrompts.size() ? facts[i].generationPrompts[g] : records[i].prompt();
            generations.push_back({facts[i].id, prompt, pre[i].generations[g], post[i].generations[g]});
        }
    }
    Evaluation evaluation;
    evaluation.runId = state.appliedRuns.empty() ? 0 : state.appliedRuns.back();
    evaluation.state = state.stateHash;
    evaluation.summaryJson = evaluationSummaryJson(result);
    context.stage("saving the scores");
    result.evaluationId = project->recordEvaluation(evaluation, metrics, generations);
    return result;
}

TraceJobResult runTraceJob(const fs::path &projectFile, const TraceJobSpec &spec, JobContext &context)
{
    auto project = Project::open(projectFile);
    if (spec.factIds.empty())
        throw Error(ErrorKind::InvalidArgument, "choose the facts to trace");
    const auto facts = selectFacts(*project, spec.factIds);
    HistoryState state;
    auto session = openProjectModel(*project, spec.load, context, &state);
    TraceParams params = spec.params;
    params.window = spec.window > 0 ? spec.window : defaultTraceWindow(session->model().config().numLayers);
    if (params.noise.scale <= 0) {
        std::vector<std::string> subjects;
        for (const auto &f : project->facts())
            subjects.push_back(f.subject);
        params.noise = subjectNoise(
            session->model(), session->tokenizer(), subjects, "project subjects", /*multiple=*/3.0, params.noise);
    }
    TraceJobResult result;
    for (const auto &f : facts) {
        TraceRequest request;
        request.subject = f.subject;
        request.prompt = f.promptTemplate;
        request.prompt.replace(request.prompt.find("{}"), 2, f.subject);
        result.results.push_back(
            traceFact(session->model(), session->tokenizer(), request, params, context.progress()));
    }
    std::string kinds;
    for (auto k : params.kinds)
        kinds += (kinds.empty() ? "" : ",") + std::string(traceKindName(k));
    for (std::size_t i = 0; i < facts.size(); ++i)
        result.traceIds.push_back(
            project->recordTrace({0, facts[i].id, state.stateHash, kinds, {}, traceResultToJson(result.results[i])}));
    return result;
}

AverageEffects runAverageTraceJob(const fs::path &projectFile, const AverageTraceJobSpec &spec, JobContext &context)
{
    auto project = Project::open(projectFile);
    std::vector<Fact> facts;
    if (!spec.factIds.empty()) {
        facts = selectFacts(*project, spec.factIds);
    } else {
        FactFilter filter;
        filter.enabled = true;
        for (auto &f : project->facts(filter))
            if (static_cast<int64_t>(facts.size()) < spec.limit)
                facts.push_back(std::move(f));
    }
    std::vector<TraceRequest> requests;
    std::vector<std::string> subjects;
    for (const auto &f : facts) {
        if (f.targetTrue.empty())
            continue; // nothing to expect: the reference skips such facts too
        std::string prompt = f.promptTemplate;
        prompt.replace(prompt.find("{}"), 2, f.subject);
        requests.push_back({prompt, f.subject, f.targetTrue});
        subjects.push_back(f.subject);
    }
    if (requests.empty())
        throw Error(ErrorKind::InvalidArgument, "no facts with a true object to trace in " + projectFile.string());
    // The unedited model: where the model stores facts before anything is written.
    auto session = openBaseModel(*project, spec.load, context);
    AverageParams params = spec.params;
    if (params.trace.window <= 0)
        params.trace.window = defaultTraceWindow(session->model().config().numLayers);
    if (params.trace.noise.scale <= 0) {
        params.trace.noise = subjectNoise(session->model(), session->tokenizer(), subjects, "traced subjects",
            /*multiple=*/3.0, params.trace.noise);
    }
    AverageEffects effects
        = averageEffects(session->model(), session->tokenizer(), requests, params, context.progress());
    project->recordTrace(
        {0, 0, modelStateHash(session->model(), *project), "average", {}, averageEffectsToJson(effects)});
    return effects;
}

ModelTraceJobResult runModelTraceJob(
    const ModelTraceJobSpec &spec, std::shared_ptr<ModelSession> session, JobContext &context)
{
    if (!session) {
        context.stage("loading the model");
        session = std::shared_ptr<ModelSession>(ModelSession::open(spec.model, spec.load));
    }
    context.stage("estimating the noise scale");
    TraceParams params;
    params.noise.samples = spec.samples;
    params.noise.seed = spec.seed;
    const bool own = spec.noiseSubjects.empty();
    params.noise = subjectNoise(session->model(), session->tokenizer(),
        own ? std::vector<std::string> {spec.request.subject} : spec.noiseSubjects, own ? "traced subject" : "subjects",
        /*multiple=*/3.0, params.noise);
    params.window = defaultTraceWindow(session->model().config().numLayers);
    // One bar over every kind: each kind's scan is a stage of equal weight.
    const ProgressSink sink = context.progress();
    const double kinds = static_cast<double>(params.kinds.size());
    int stage = 0;
    std::string lastStage;
    ModelTraceJobResult out;
    out.trace = traceFact(session->model(), session->tokenizer(), spec.request, params, [&](const ProgressUpdate &u) {
        if (u.stage != lastStage && u.stage.rfind("tracing", 0) == 0) {
            lastStage = u.stage;
            ++stage;
        }
        ProgressUpdate whole = u;
        const double f = stage == 0 ? 0.0 : ((stage - 1) + u.fraction()) / kinds;
        whole.total = 1000;
        whole.done = static_cast<int64_t>(1000 * f);
        whole.etaSeconds = f > 0.01 ? u.elapsedSeconds * (1 - f) / f : -1;
        return sink(whole);
    });
    context.throwIfCancelled();
    out.session = std::move(session);
    return out;
}

ResolvedStatistics runStatisticsJob(const fs::path &projectFile, const StatisticsSource &source,
    const std::vector<int> &layers, const LoadOptions &load, JobContext &context)
{
    auto project = Project::open(projectFile);
    auto session = openBaseModel(*project, load, context);
    return statisticsFor(*project, *session, source, layers, context);
}

TextGeneration runGenerateJob(const fs::path &projectFile, const std::string &prompt, const GenerationParams &params,
    const LoadOptions &load, JobContext &context)
{
    auto project = Project::open(projectFile, /*readOnly=*/true);
    auto session = openProjectModel(*project, load, context);
    context.stage("generating");
    return session->generate(prompt, params, [&](int64_t) { return !context.cancelled(); });
}

std::vector<GenerationPair> runCompareGenerationJob(const fs::path &projectFile,
    const std::vector<std::string> &prompts, const GenerationParams &params, const LoadOptions &load,
    JobContext &context)
{
    auto project = Project::open(projectFile, /*readOnly=*/true);
    auto session = openBaseModel(*project, load, context);
    std::vector<GenerationPair> out;
    ProgressTracker tracker(context.progress(), "generating on the base model", static_cast<int64_t>(prompts.size()));
    const auto stop = [&](int64_t) { return !context.cancelled(); };
    for (const auto &p : prompts) {
        out.push_back({p, session->generate(p, params, stop).continuation, {}});
        tracker.advance();
    }
    context.stage("applying the project's history");
    applyHistory(*session, *project);
    tracker.stage("generating on the edited model", static_cast<int64_t>(prompts.size()));
    for (auto &pair : out) {
        pair.after = session->generate(pair.prompt, params, stop).continuation;
        tracker.advance();
    }
    return out;
}

std::string exportManifest(const Project &project, const std::string &resultState)
{
    const ProjectModel model = project.model();
    json runs = json::array();
    for (const auto &r : project.runs()) {
        if (r.status != RunStatus::Applied)
            continue;
        json facts = json::array();
        for (const auto &f : r.facts)
            facts.push_back({{"fact_id", f.factId}, {"subject", f.subject}, {"prompt", f.promptTemplate},
                {"relation", f.relation}, {"target_new", f.targetNew}});
        runs.push_back({{"run", r.id}, {"method", r.method}, {"params", json::parse(r.paramsJson, nullptr, false)},
            {"seed", r.seed}, {"device", r.device}, {"created_at", r.createdAt}, {"base_state", r.baseState},
            {"result_state", r.resultState}, {"facts", facts}});
    }
    return json {{"format", "engram-manifest"}, {"version", 1}, {"engram_version", ENGRAM_VERSION},
        {"exported_at", utcTimestamp()}, {"project", project.file().string()},
        {"base", {{"path", model.path.string()}, {"content_hash", model.contentHash}, {"model_type", model.family}}},
        {"result_state", resultState}, {"runs", runs}}
        .dump(2);
}

ExportSummary runExportJob(const fs::path &projectFile, const ExportJobSpec &spec, JobContext &context)
{
    auto project = Project::open(projectFile, /*readOnly=*/true);
    // Rebuild the state first: it verifies that every patch still applies, and gives the
    // state hash the manifest records. The export itself reads the base from disk.
    LoadOptions load;
    HistoryState state;
    auto session = openProjectModel(*project, load, context, &state);
    session.reset();
    std::vector<WeightPatch> patches;
    for (int64_t id : state.appliedRuns)
        patches.push_back(toWeightPatch(project->patch(id), project->run(id)->provenanceJson));
    const ExportSummary summary = exportPatchedCheckpoint(project->model().path, patches,
        exportManifest(*project, state.stateHash), spec.out, spec.options, context.progress());
    if (spec.check) {
        const auto problems = checkExportLayout(project->model().path, summary.directory);
        if (!problems.empty())
            throw Error(ErrorKind::Runtime,
                "the export in " + summary.directory.string() + " failed its layout check: " + problems.front());
    }
    return summary;
}

void exportPatchFile(
    const fs::path &projectFile, int64_t runId, const fs::path &out, const LoadOptions &load, JobContext &context)
{
    auto project = Project::open(projectFile, /*readOnly=*/true);
    if (runId > 0) {
        const auto run = project->run(runId);
        if (!run)
            throw Error(ErrorKind::InvalidArgument, "no run " + std::to_string(runId) + " in " + projectFile.string());
        toWeightPatch(project->patch(runId), run->provenanceJson).save(out);
        return;
    }
    auto session = openBaseModel(*project, load, context);
    std::vector<WeightPatch> patches;
    for (const auto &r : project->runs())
        if (r.status == RunStatus::Applied)
            patches.push_back(toWeightPatch(project->patch(r.id), r.provenanceJson));
    if (patches.empty())
        throw Error(ErrorKind::InvalidArgument, projectFile.string() + " has no applied runs to export as a patch");
    WeightPatch::compose(session->model(), patches).save(out);
}

int64_t importPatchFile(
    const fs::path &projectFile, const fs::path &patchFile, const LoadOptions &load, JobContext &context)
{
    const WeightPatch patch = WeightPatch::load(patchFile);
    auto project = Project::open(projectFile);
    HistoryState state;
    auto session = openProjectModel(*project, load, context, &state);
    patch.apply(session->model()); // refuses a patch made for other weights, changing nothing
    EditRun run;
    run.method = "imported";
    run.device = load.device;
    run.baseState = state.stateHash;
    run.provenanceJson = patch.provenanceJson;
    run.paramsJson = json {{"file", fs::absolute(patchFile).string()}}.dump();
    for (const auto &q : patchRequests(patchFile))
        run.facts.push_back({0, q.subject, q.promptTemplate, "", q.targetNew});
    // The run's tensors join the state hash once stored; hash with them included.
    std::vector<StoredDelta> stored = toStored(patch);
    const int64_t id = project->recordRun(run, stored);
    project->setRunStatus(id, RunStatus::Applied, modelStateHash(session->model(), *project));
    return id;
}

} // namespace engram
