// Edit runs: the edit job (facts, facts to keep, statistics, history, the method, the record),
// revert / re-apply with the state check, and the statistics job.

#include "core/jobs/projectjobs.h"

#include "core/edit/weightpatch.h"
#include "core/eval/counterfact.h"
#include "core/eval/recall.h"
#include "core/jobs/jobsupport.h"
#include "core/model/modelconfig.h"
#include "core/model/modelinfo.h"
#include "core/model/modelsession.h"
#include "core/model/transformer.h"
#include "core/project/sqlite.h"
#include "core/util/error.h"
#include "core/text/subjecttokens.h"
#include "core/util/fileutil.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <set>

namespace engram {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

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

// What the health measures ask the model (issue 19): the facts edited by applied runs and this
// batch (ES so far), the project's other facts with a true object (retention) and a few fixed
// prompts (fluency).
constexpr int kFluencyTokens = 40; // new tokens per fluency sample
constexpr const char *kHeldMessage = "held by the health guard: "; // + the guard's findings

struct HealthProbe {
    std::vector<EvalRecord> edited;
    std::vector<FactPrompt> others;
    std::vector<std::string> fluencyPrompts;
};

HealthProbe healthProbe(const Project &project, const std::vector<Fact> &batch, const ModelSession &session)
{
    // Facts too long for the model's context (the edit names them itself) are not measured.
    const int64_t context = session.model().config().maxPositions;
    const auto fits = [&](const std::string &text, int64_t room) {
        return static_cast<int64_t>(session.encode(text).size()) + room <= context;
    };
    std::set<int64_t> edited;
    for (const auto &[fact, run] : project.editedFacts())
        edited.insert(fact);
    for (const auto &f : batch)
        edited.insert(f.id);
    HealthProbe probe;
    for (const Fact &f : project.facts()) {
        const std::string prompt = fillTemplate(f.promptTemplate, f.subject);
        if (probe.fluencyPrompts.size() < 4 && fits(prompt, kFluencyTokens))
            probe.fluencyPrompts.push_back(prompt);
        if (f.targetTrue.empty() || !fits(prompt + " " + f.targetTrue + " " + f.targetNew, 0))
            continue;
        if (edited.count(f.id)) {
            EvalRecord r = recordFromFact(f);
            r.paraphrasePrompts.clear(); // the rewrite prompt alone: cheap enough for every run
            r.neighborhoodPrompts.clear();
            r.attributePrompts.clear();
            r.generationPrompts.clear();
            probe.edited.push_back(std::move(r));
        } else {
            probe.others.push_back({f.promptTemplate, f.subject, f.targetTrue});
        }
    }
    return probe;
}

} // namespace

EditJobResult runEditJob(const fs::path &projectFile, const EditJobSpec &spec, JobContext &context)
{
    auto project = Project::open(projectFile);
    const HealthGuard guard = project->healthGuard(); // a damaged setting fails here, not after the edit
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
    json params = config.paramsObject();
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
        // The base model's side of the health measures, and its edited weights (W₀).
        context.stage("measuring the base model");
        // Weights holding NaN or Inf are refused by the edit itself, with its message; nothing
        // is measured on them (sampling from NaN probabilities fails).
        const bool finite = session->summary().nonFiniteTensors.empty();
        const HealthProbe probe = finite ? healthProbe(*project, facts, *session) : HealthProbe {};
        RunHealth &health = run.summary.health;
        health.otherFacts = static_cast<int64_t>(probe.others.size());
        // Retention and fluency of the session's model as it is now (base, then edited).
        const auto measureKept = [&](double &retention, double &fluency) {
            if (!probe.others.empty())
                retention = measureRecall(session->model(), session->tokenizer(), probe.others).rate();
            if (!probe.fluencyPrompts.empty())
                fluency = sampledFluency(session->model(), session->tokenizer(), probe.fluencyPrompts, kFluencyTokens);
        };
        measureKept(health.retentionBase, health.fluencyBase);
        const std::vector<std::string> edited = editedWeightNames(session->model(), config.editedLayers());
        std::vector<at::Tensor> original; // W₀ of each edited weight
        for (const auto &n : edited)
            original.push_back(session->model().parameter(n).detach().to(at::kFloat).clone());
        context.throwIfCancelled();
        context.stage("applying the project's history");
        before = applyHistory(*session, *project);
        result.stateBefore = run.baseState = before.stateHash;
        // Earlier runs kept as memories: the keys every applied run recorded (a reverted run's
        // are left out, a re-applied one's come back, a branch has its own history's).
        if (usesMemitParams(config.method()) && config.memit().preserveEarlierRuns)
            config.memit().earlierKeys = project->appliedRunKeys(&run.summary.earlierRuns);

        // The weights the edit will change, to rebuild "before ⊕ patch" exactly afterwards.
        std::vector<std::pair<std::string, at::Tensor>> saved;
        for (const auto &n : edited)
            saved.emplace_back(n, session->model().parameter(n).detach().clone());

        result.summary = runEdit(*session, requests, config, stats.files, {}, context.progress());
        context.throwIfCancelled();
        // The state a replay of the history gives: the pre-edit weights plus the patch.
        for (const auto &[name, w] : saved)
            session->model().setParameter(name, w);
        result.summary.patch->apply(session->model());
        result.stateAfter = modelStateHash(session->model(), *project);

        context.stage("measuring the model's health");
        if (!probe.edited.empty()) {
            health.esSoFar
                = summarize(evaluateRecords(session->model(), session->tokenizer(), probe.edited, {})).es.mean;
            health.editedFacts = static_cast<int64_t>(probe.edited.size());
        }
        measureKept(health.retention, health.fluency);
        for (std::size_t i = 0; i < edited.size(); ++i)
            health.cumulativeRelativeNorms.push_back(
                (session->model().parameter(edited[i]).to(at::kFloat) - original[i]).norm().item<double>()
                / std::max(1e-30, original[i].norm().item<double>()));
        result.health = health;
        result.guardBreaches = guard.breaches(health);
    } catch (const Error &e) {
        // A damaged project gets no record written into it.
        if (e.kind() == ErrorKind::CorruptFile)
            throw;
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
    run.summary.nullSpaceDims = result.summary.nullSpaceDims;
    if (!result.guardBreaches.empty()) {
        std::string why;
        for (const auto &b : result.guardBreaches)
            why += (why.empty() ? "" : "; ") + b;
        result.held = !spec.force;
        run.status = result.held ? RunStatus::Held : RunStatus::Applied;
        run.message = (result.held ? kHeldMessage : "applied despite the health guard (forced): ") + why;
    }
    context.stage(result.held ? "saving the run (held)" : "saving the run");
    result.runId = project->recordRun(run, toStored(*result.summary.patch), result.summary.keysAfter);
    return result;
}

RevertResult revertRun(
    const fs::path &projectFile, int64_t runId, bool reapply, const LoadOptions &load, JobContext &context)
{
    auto project = Project::open(projectFile);
    const auto run = project->run(runId);
    if (!run)
        throw Error(ErrorKind::InvalidArgument, "no run " + std::to_string(runId) + " in " + projectFile.string());
    const bool allowed = reapply ? run->status == RunStatus::Reverted || run->status == RunStatus::Held
                                 : run->status == RunStatus::Applied;
    if (!allowed)
        throw Error(ErrorKind::InvalidArgument,
            "run " + std::to_string(runId) + " is " + runStatusName(run->status) + "; only "
                + (reapply ? "reverted or held" : "applied") + " runs can be " + (reapply ? "applied" : "reverted"));

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
    if (run->status == RunStatus::Held) { // the record says who overrode the guard
        std::string why = run->message;
        if (why.rfind(kHeldMessage, 0) == 0)
            why.erase(0, std::strlen(kHeldMessage));
        project->setRunMessage(runId, "applied by the user after the health guard held it: " + why);
    }
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

void discardHeldRun(const fs::path &projectFile, int64_t runId)
{
    auto project = Project::open(projectFile);
    const auto run = project->run(runId);
    if (!run)
        throw Error(ErrorKind::InvalidArgument, "no run " + std::to_string(runId) + " in " + projectFile.string());
    if (run->status != RunStatus::Held)
        throw Error(ErrorKind::InvalidArgument,
            "run " + std::to_string(runId) + " is " + runStatusName(run->status) + "; only held runs can be discarded");
    project->setRunStatus(runId, RunStatus::Discarded);
}

ResolvedStatistics runStatisticsJob(const fs::path &projectFile, const StatisticsSource &source,
    const std::vector<int> &layers, const LoadOptions &load, JobContext &context)
{
    auto project = Project::open(projectFile);
    auto session = openBaseModel(*project, load, context);
    return statisticsFor(*project, *session, source, layers, context);
}

} // namespace engram
