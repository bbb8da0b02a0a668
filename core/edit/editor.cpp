#include "core/edit/editor.h"

#include "core/edit/covariance.h"
#include "core/edit/memit.h"
#include "core/edit/weightpatch.h"
#include "core/model/modelsession.h"
#include "core/model/transformer.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <chrono>

namespace engram {
namespace {
double secondsSince(std::chrono::steady_clock::time_point t)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
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
    const auto stats = loadSecondMoments(statisticsFile);
    WeightPatch patch;
    for (int l : params.layers) {
        TensorDelta d;
        d.name = model.mlpOutputWeightName(l);
        d.baseHash = tensorHash(model.parameter(d.name));
        patch.deltas.push_back(d);
    }
    const MemitResult r = applyMemit(model, session.tokenizer(), requests, params, stats);
    EditSummary s;
    for (std::size_t i = 0; i < r.updates.size(); ++i) {
        patch.deltas[i].delta = r.updates[i].delta;
        patch.deltas[i].relativeNorm = r.updates[i].relativeNorm;
        s.layers.push_back(r.updates[i].layer);
        s.relativeNorms.push_back(r.updates[i].relativeNorm);
        s.residualBefore.push_back(r.updates[i].residualBefore);
    }
    s.residualAfter = r.residualAfter;
    for (double p : r.targets.targetProb)
        s.meanTargetProbability += p / static_cast<double>(r.targets.targetProb.size());
    s.contextTemplates = r.contextTemplates;
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
    for (const auto &q : requests)
        prov["requests"].push_back({{"prompt", q.promptTemplate}, {"subject", q.subject}, {"target_new", q.targetNew}});
    patch.provenanceJson = prov.dump();
    if (!patchOut.empty())
        patch.save(patchOut);
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
