// Exporting the patched model, and patch files out of and into a project.

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

namespace {

// Absolute paths in recorded parameters (statistics files, corpus) become file names: the
// manifest ships with the model and must not reveal the exporting user's directories.
void stripAbsolutePaths(json &value)
{
    if (value.is_string()) {
        const std::string text = value.get<std::string>();
        if (!text.empty() && text.find('\n') == std::string::npos && fs::path(text).is_absolute())
            value = fs::path(text).filename().string();
    } else if (value.is_structured()) {
        for (auto &item : value)
            stripAbsolutePaths(item);
    }
}

} // namespace

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
        json params = json::parse(r.paramsJson, nullptr, false);
        stripAbsolutePaths(params);
        runs.push_back({{"run", r.id}, {"method", r.method}, {"params", params},
            {"seed", r.seed}, {"device", r.device}, {"created_at", r.createdAt}, {"base_state", r.baseState},
            {"result_state", r.resultState}, {"facts", facts}});
    }
    // The scores of the exported weights: the latest evaluation made on exactly this history.
    json scores = nullptr;
    if (const auto stored = currentScores(project)) {
        scores = json::parse(stored->evaluation.summaryJson, nullptr, false);
        if (scores.is_discarded() || !scores.is_object())
            scores = json::object();
        scores["evaluation"] = stored->evaluation.id;
        scores["created_at"] = stored->evaluation.createdAt;
        scores["state"] = stored->evaluation.state;
    }
    // Names, not absolute paths: a manifest travels with the model and must not carry the
    // exporting user's directories. The content hash identifies the base.
    return json {{"format", "engram-manifest"}, {"version", 2}, {"engram_version", ENGRAM_VERSION},
        {"exported_at", utcTimestamp()}, {"project", project.file().filename().string()},
        {"base", {{"name", model.path.filename().string()}, {"content_hash", model.contentHash},
                     {"model_type", model.family}}},
        {"result_state", resultState}, {"runs", runs}, {"scores", scores}}
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

LoraSummary exportLoraAdapter(
    const fs::path &projectFile, int64_t runId, const fs::path &out, const LoraOptions &options, JobContext &context)
{
    context.stage("reading the runs' patches");
    auto project = Project::open(projectFile, /*readOnly=*/true);
    std::vector<WeightPatch> patches;
    for (const auto &r : project->runs())
        if (runId > 0 ? r.id == runId : r.status == RunStatus::Applied)
            patches.push_back(toWeightPatch(project->patch(r.id), r.provenanceJson));
    if (patches.empty())
        throw Error(ErrorKind::InvalidArgument,
            runId > 0 ? "no run " + std::to_string(runId) + " in " + projectFile.string()
                      : projectFile.string() + " has no applied runs to export as an adapter");
    context.throwIfCancelled();
    context.stage("factoring the changes (SVD) and writing the adapter");
    return writeLoraAdapter(patches, project->model().path, out, options);
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
