// The project's model and its state: opening the base checkpoint (content hash checked), applying
// the history of applied runs, the state hash, and the conversions of stored patches.

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

std::string modelStateHash(const Transformer &model, const Project &project)
{
    ContentHash h;
    for (const auto &n : stateTensorNames(model, project)) {
        h.update(n);
        h.update(tensorHash(model.parameter(n)));
    }
    return h.hex();
}

namespace {

// When every applied patch went onto the weights it was computed on, the rebuilt model must be
// the state the last applied run recorded (or, with none applied, the state the history started
// from): anything else means stored data changed since. Skipped when a patch was rebased, and
// when a stored patch edits tensors outside the MLP output weights (an imported patch): states
// recorded before it was imported were hashed over fewer tensors.
void verifyHistoryState(const Transformer &model, const Project &project, const HistoryState &state, int64_t upToRun)
{
    if (!state.rebasedRuns.empty())
        return;
    std::set<std::string> mlp;
    for (int l = 0; l < model.config().numLayers; ++l)
        mlp.insert(model.mlpOutputWeightName(l));
    for (const auto &n : project.patchedTensorNames())
        if (!mlp.count(n))
            return;
    std::string expected;
    std::string source;
    if (!state.appliedRuns.empty()) {
        expected = project.run(state.appliedRuns.back())->resultState;
        source = "run " + std::to_string(state.appliedRuns.back()) + " recorded";
    } else {
        for (const auto &r : project.runs())
            if ((upToRun <= 0 || r.id <= upToRun) && !r.baseState.empty()) {
                expected = r.baseState;
                source = "run " + std::to_string(r.id) + " started from";
                break;
            }
    }
    if (!expected.empty() && expected != state.stateHash)
        throw Error(ErrorKind::CorruptFile,
            project.file().string() + ": rebuilding the model from its history gives state " + state.stateHash
                + ", but " + source + " " + expected
                + "; the project's stored runs have changed since they were recorded. Nothing was written; "
                  "`engram-cli project check` lists damaged patches");
}

} // namespace

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
    verifyHistoryState(session.model(), project, state, upToRun);
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

} // namespace engram
