// Evaluation of a project's facts before and after its runs, and generation on its state.

#include "core/jobs/projectjobs.h"

#include "core/edit/weightpatch.h"
#include "core/eval/evaljson.h"
#include "core/jobs/jobsupport.h"
#include "core/model/modelconfig.h"
#include "core/model/modelinfo.h"
#include "core/model/modelsession.h"
#include "core/model/transformer.h"
#include "core/project/sqlite.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

namespace engram {

namespace fs = std::filesystem;
using nlohmann::json;

std::string evaluationSummaryJson(const EvalJobResult &r)
{
    return json {{"pre", evalPhaseToJson(r.pre, r.retentionPre)}, {"post", evalPhaseToJson(r.post, r.retentionPost)},
        {"applied_runs", r.appliedRuns}}
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
    EvalJobResult result;
    for (const auto &f : project->facts())
        if (!edited.count(f.id) && !f.targetTrue.empty()) {
            retention.push_back({f.promptTemplate, f.subject, f.targetTrue});
            result.retentionFacts.push_back(f.id);
        }

    auto session = openBaseModel(*project, spec.load, context);
    const auto pre = evaluateRecords(session->model(), session->tokenizer(), records, params, context.progress());
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

    result.appliedRuns = state.appliedRuns;
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
    for (std::size_t i = 0; i < result.retentionFacts.size(); ++i) {
        if (i < result.retentionPre.perFact.size())
            metrics.push_back({result.retentionFacts[i], "pre", "kept", result.retentionPre.perFact[i] ? 1.0 : 0.0});
        if (i < result.retentionPost.perFact.size())
            metrics.push_back({result.retentionFacts[i], "post", "kept", result.retentionPost.perFact[i] ? 1.0 : 0.0});
    }
    Evaluation evaluation;
    evaluation.runId = state.appliedRuns.empty() ? 0 : state.appliedRuns.back();
    evaluation.state = state.stateHash;
    evaluation.summaryJson = evaluationSummaryJson(result);
    context.stage("saving the scores");
    result.evaluationId = project->recordEvaluation(evaluation, metrics, generations);
    return result;
}

std::optional<StoredScores> currentScores(const Project &project)
{
    std::vector<int64_t> applied;
    bool anyReverted = false;
    for (const EditRun &r : project.runs()) {
        if (r.status == RunStatus::Applied)
            applied.push_back(r.id);
        anyReverted = anyReverted || r.status == RunStatus::Reverted;
    }
    const int64_t lastApplied = applied.empty() ? 0 : applied.back();
    const std::vector<Evaluation> all = project.evaluations();
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
        const std::string where = project.file().string() + ", evaluation " + std::to_string(it->id);
        json j;
        try {
            j = json::parse(it->summaryJson);
        } catch (const json::exception &) {
            continue; // unreadable summaries describe nothing; `project check` reports them
        }
        if (!j.is_object())
            continue;
        const auto runs = j.find("applied_runs");
        bool matches = false;
        if (runs != j.end() && runs->is_array()) {
            std::vector<int64_t> recorded;
            for (const auto &v : *runs)
                if (v.is_number_integer())
                    recorded.push_back(v.get<int64_t>());
            matches = recorded == applied;
        } else {
            matches = it->runId == lastApplied && !anyReverted;
        }
        if (!matches)
            continue;
        StoredScores s;
        s.evaluation = *it;
        try {
            s.pre = evalSummaryFromJson(j.value("pre", json::object()), where + " (pre)");
            s.post = evalSummaryFromJson(j.value("post", json::object()), where + " (post)");
            s.retentionPre = recallFromJson(j["pre"].value("retention", json()), where);
            s.retentionPost = recallFromJson(j["post"].value("retention", json()), where);
        } catch (const Error &) {
            continue;
        } catch (const json::exception &) {
            continue;
        }
        std::map<int64_t, double> keptPre, nsPre;
        const std::vector<Metric> metrics = project.metrics(it->id);
        for (const Metric &m : metrics)
            if (m.phase == "pre" && m.kind == "kept")
                keptPre[m.factId] = m.value;
            else if (m.phase == "pre" && m.kind == "ns")
                nsPre[m.factId] = m.value;
        for (const Metric &m : metrics) {
            if (m.phase != "post")
                continue;
            if (m.kind == "kept" && m.value < 0.5 && keptPre.count(m.factId) && keptPre[m.factId] > 0.5)
                s.lostFacts.push_back(m.factId);
            if (m.kind == "ns" && std::isfinite(m.value) && nsPre.count(m.factId) && std::isfinite(nsPre[m.factId])
                && nsPre[m.factId] - m.value > 1e-9)
                s.neighbourhoodFalls.push_back({m.factId, nsPre[m.factId] - m.value});
        }
        std::sort(s.neighbourhoodFalls.begin(), s.neighbourhoodFalls.end(),
            [](const auto &a, const auto &b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
        return s;
    }
    return std::nullopt;
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

} // namespace engram
