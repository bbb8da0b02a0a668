// Causal tracing jobs: facts of a project, their average effects, and one prompt on a model.

#include "core/jobs/projectjobs.h"

#include "core/edit/weightpatch.h"
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

#include <chrono>
#include <cstring>
#include <map>
#include <set>

namespace engram {

namespace fs = std::filesystem;
using nlohmann::json;

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
    // On the current model a fact an applied run edited is expected to give its new object.
    std::set<int64_t> edited;
    if (spec.currentModel)
        for (const auto &[factId, runId] : project->editedFacts())
            edited.insert(factId);
    std::vector<TraceRequest> requests;
    std::vector<std::string> subjects;
    for (const auto &f : facts) {
        const std::string &expected = edited.count(f.id) ? f.targetNew : f.targetTrue;
        if (expected.empty())
            continue; // nothing to expect: the reference skips such facts too
        std::string prompt = f.promptTemplate;
        prompt.replace(prompt.find("{}"), 2, f.subject);
        requests.push_back({prompt, f.subject, expected});
        subjects.push_back(f.subject);
    }
    if (requests.empty())
        throw Error(ErrorKind::InvalidArgument, "no facts with a true object to trace in " + projectFile.string());
    // By default the unedited model: where the model stores facts before anything is written.
    auto session
        = spec.currentModel ? openProjectModel(*project, spec.load, context) : openBaseModel(*project, spec.load, context);
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
    ModelTraceJobResult out;
    if (!spec.project.empty()) {
        auto project = Project::open(spec.project, /*readOnly=*/true);
        HistoryState state;
        session = std::shared_ptr<ModelSession>(openProjectModel(*project, spec.load, context, &state));
        out.appliedRuns = state.appliedRuns;
        out.currentModel = true;
    } else if (!session) {
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

} // namespace engram
