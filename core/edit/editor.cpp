#include "core/edit/editor.h"

#include "core/edit/covariance.h"
#include "core/edit/finetune.h"
#include "core/edit/memit.h"
#include "core/edit/rome.h"
#include "core/edit/weightpatch.h"
#include "core/model/modelsession.h"
#include "core/model/transformer.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>

namespace engram {
namespace {
double secondsSince(std::chrono::steady_clock::time_point t)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// "a.safetensors,b.npz" -> two paths (published statistics come one file per layer).
std::vector<std::filesystem::path> splitPaths(const std::filesystem::path &list)
{
    std::vector<std::filesystem::path> out;
    const std::string text = list.string();
    for (std::size_t p = 0; p <= text.size();) {
        const std::size_t comma = text.find(',', p);
        const std::string item = text.substr(p, comma == std::string::npos ? std::string::npos : comma - p);
        if (!item.empty())
            out.emplace_back(item);
        if (comma == std::string::npos)
            break;
        p = comma + 1;
    }
    return out;
}

// A patch whose deltas record the current (pre-edit) hashes of the layers' MLP output weights.
WeightPatch patchFor(const Transformer &model, const std::vector<int> &layers)
{
    WeightPatch patch;
    for (int l : layers) {
        TensorDelta d;
        d.name = model.mlpOutputWeightName(l);
        d.baseHash = tensorHash(model.parameter(d.name));
        patch.deltas.push_back(d);
    }
    return patch;
}

nlohmann::json requestsJson(const std::vector<EditRequest> &requests)
{
    nlohmann::json list = nlohmann::json::array();
    for (const auto &q : requests)
        list.push_back({{"prompt", q.promptTemplate}, {"subject", q.subject}, {"target_new", q.targetNew}});
    return list;
}

// Fills the patch from the per-layer updates, saves it when asked, and summarises.
EditSummary finish(WeightPatch &patch, const std::vector<LayerUpdate> &updates, nlohmann::json prov,
    const std::vector<EditRequest> &requests, const std::filesystem::path &patchOut)
{
    EditSummary s;
    for (std::size_t i = 0; i < updates.size(); ++i) {
        patch.deltas[i].delta = updates[i].delta;
        patch.deltas[i].relativeNorm = updates[i].relativeNorm;
        s.layers.push_back(updates[i].layer);
        s.relativeNorms.push_back(updates[i].relativeNorm);
        s.residualBefore.push_back(updates[i].residualBefore);
    }
    prov["requests"] = requestsJson(requests);
    patch.provenanceJson = prov.dump();
    if (!patchOut.empty())
        patch.save(patchOut);
    return s;
}
} // namespace

StatisticsSummary computeStatisticsFile(const ModelSession &session, const std::filesystem::path &corpus,
    const std::vector<int> &layers, int64_t maxDocuments, const std::filesystem::path &out,
    const std::function<bool(int64_t, int64_t)> &progress)
{
    const auto start = std::chrono::steady_clock::now();
    CovarianceParams p;
    p.layers = layers;
    p.maxDocuments = maxDocuments;
    const auto docs = readCorpus(corpus);
    const auto stats = collectSecondMoments(session.model(), session.tokenizer(), docs, p, progress);
    saveSecondMoments(out, stats,
        {{"model", session.summary().directory.string()}, {"corpus", corpus.string()},
            {"documents",
                std::to_string(maxDocuments > 0 ? std::min<int64_t>(maxDocuments, docs.size())
                                                : static_cast<int64_t>(docs.size()))},
            {"dtype", "float64"}});
    StatisticsSummary s;
    s.layers = layers;
    s.documents = maxDocuments > 0 ? std::min<int64_t>(maxDocuments, docs.size()) : static_cast<int64_t>(docs.size());
    s.tokensPerLayer = stats.empty() ? 0 : stats.front().count;
    s.seconds = secondsSince(start);
    return s;
}

EditSummary editWithMemit(ModelSession &session, const std::vector<EditRequest> &requests, const MemitParams &params,
    const std::filesystem::path &statisticsFile, const std::filesystem::path &patchOut)
{
    const auto start = std::chrono::steady_clock::now();
    Transformer &model = session.model();
    const auto stats = loadStatistics(splitPaths(statisticsFile));
    WeightPatch patch = patchFor(model, params.layers);
    const MemitResult r = applyMemit(model, session.tokenizer(), requests, params, stats);
    nlohmann::json prov;
    prov["method"] = "memit";
    prov["model"] = session.summary().directory.string();
    prov["statistics"] = statisticsFile.string();
    prov["layers"] = params.layers;
    prov["lambda"] = params.lambda;
    prov["v_steps"] = params.vSteps;
    prov["v_lr"] = params.vLr;
    prov["clamp_norm_factor"] = params.clampNormFactor;
    prov["kl_factor"] = params.klFactor;
    prov["v_weight_decay"] = params.vWeightDecay;
    prov["seed"] = params.seed;
    prov["context_templates"] = r.contextTemplates;
    EditSummary s = finish(patch, r.updates, prov, requests, patchOut);
    s.residualAfter = r.residualAfter;
    for (double p : r.targets.targetProb)
        s.meanTargetProbability += p / static_cast<double>(r.targets.targetProb.size());
    s.contextTemplates = r.contextTemplates;
    s.seconds = secondsSince(start);
    return s;
}

EditSummary editWithRome(ModelSession &session, const std::vector<EditRequest> &requests, const RomeParams &params,
    const std::filesystem::path &statisticsFile, const std::filesystem::path &patchOut)
{
    const auto start = std::chrono::steady_clock::now();
    Transformer &model = session.model();
    const auto stats = loadStatistics(splitPaths(statisticsFile));
    WeightPatch patch = patchFor(model, {params.layer});
    const RomeResult r = applyRome(model, session.tokenizer(), requests, params, stats);
    nlohmann::json prov;
    prov["method"] = params.consistentKey ? "r-rome" : "rome";
    prov["model"] = session.summary().directory.string();
    prov["statistics"] = statisticsFile.string();
    prov["layer"] = params.layer;
    prov["v_steps"] = params.vSteps;
    prov["v_lr"] = params.vLr;
    prov["clamp_norm_factor"] = params.clampNormFactor;
    prov["kl_factor"] = params.klFactor;
    prov["v_weight_decay"] = params.vWeightDecay;
    prov["seed"] = params.seed;
    prov["context_templates"] = r.contextTemplates;
    EditSummary s = finish(patch, {r.update}, prov, requests, patchOut);
    for (const auto &st : r.steps)
        s.meanTargetProbability += st.targetProbability / static_cast<double>(r.steps.size());
    s.contextTemplates = r.contextTemplates;
    s.seconds = secondsSince(start);
    return s;
}

EditSummary editWithFineTune(ModelSession &session, const std::vector<EditRequest> &requests,
    const FineTuneParams &params, const std::filesystem::path &patchOut)
{
    const auto start = std::chrono::steady_clock::now();
    Transformer &model = session.model();
    WeightPatch patch = patchFor(model, {params.layer});
    const FineTuneResult r = applyFineTune(model, session.tokenizer(), requests, params);
    nlohmann::json prov;
    prov["method"] = "ft-w";
    prov["model"] = session.summary().directory.string();
    prov["layer"] = params.layer;
    prov["steps"] = params.steps;
    prov["lr"] = params.lr;
    prov["norm_constraint"] = params.normConstraint;
    EditSummary s = finish(patch, {r.update}, prov, requests, patchOut);
    s.meanTargetProbability = std::exp(-r.finalLoss); // per-token geometric mean
    s.seconds = secondsSince(start);
    return s;
}

void applyPatchFile(ModelSession &session, const std::filesystem::path &patchFile)
{
    WeightPatch::load(patchFile).apply(session.model());
}

std::vector<EditRequest> readEditRequests(const std::filesystem::path &file, int64_t limit)
{
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(readTextFile(file));
    } catch (const nlohmann::json::parse_error &e) {
        throw Error(ErrorKind::CorruptFile, file.string() + " is not valid JSON: " + e.what());
    }
    if (!j.is_array())
        throw Error(ErrorKind::CorruptFile, file.string() + ": expected a JSON list of records");
    std::vector<EditRequest> out;
    for (std::size_t i = 0; i < j.size() && (limit <= 0 || static_cast<int64_t>(out.size()) < limit); ++i) {
        const auto &r = j[i];
        try {
            if (r.contains("requested_rewrite")) {
                const auto &rw = r.at("requested_rewrite");
                out.push_back({rw.at("prompt").get<std::string>(), rw.at("subject").get<std::string>(),
                    rw.at("target_new").at("str").get<std::string>()});
            } else {
                out.push_back({r.at("prompt").get<std::string>(), r.at("subject").get<std::string>(),
                    r.at("target_new").get<std::string>()});
            }
        } catch (const nlohmann::json::exception &e) {
            throw Error(ErrorKind::CorruptFile,
                file.string() + ": record " + std::to_string(i) + " lacks a field (" + e.what() + ")");
        }
    }
    return out;
}

} // namespace engram
