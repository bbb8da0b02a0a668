// Reading trace requests and writing trace results as JSON (no torch here).

#include "core/trace/causaltrace.h"

#include "core/data/datasets.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <nlohmann/json.hpp>

namespace engram {

namespace {

using nlohmann::json;

json effectJson(const EffectEstimate &e)
{
    return json {{"aie", e.mean}, {"ci95", e.ci95}, {"count", e.count}};
}

json effectsJson(const std::vector<EffectEstimate> &v)
{
    json a = json::array();
    for (const auto &e : v)
        a.push_back(effectJson(e));
    return a;
}

json noiseJson(const NoiseSettings &n)
{
    return json {{"mode", n.mode == NoiseMode::Gaussian ? "gaussian" : "uniform"}, {"scale", n.scale},
        {"samples", n.samples}, {"seed", n.seed}, {"origin", n.origin}};
}

} // namespace

std::vector<TraceRequest> readTraceRequests(const std::filesystem::path &file, int64_t limit)
{
    const Dataset data = importDataset(file, limit);
    if (!data.rejected.empty()) {
        const auto &r = data.rejected.front();
        throw Error(ErrorKind::CorruptFile,
            file.string() + ", record " + std::to_string(r.index) + ": field '" + r.field + "' " + r.reason + " ("
                + std::to_string(data.rejected.size()) + " record(s) rejected)");
    }
    std::vector<TraceRequest> out;
    for (const auto &r : data.records)
        out.push_back({r.prompt(), r.subject, r.targetTrue});
    return out;
}

std::string traceResultToJson(const TraceResult &r)
{
    json doc {{"prompt", r.prompt}, {"subject", r.subject}, {"tokens", r.tokens}, {"token_ids", r.tokenIds},
        {"subject_range", {r.subjectBegin, r.subjectEnd}}, {"layers", r.layers}, {"answer", r.answer},
        {"answer_token", r.answerToken}, {"high_score", r.highScore}, {"low_score", r.lowScore},
        {"correct_prediction", r.correct}, {"noise", noiseJson(r.noise)}, {"window", r.window}};
    json matrices = json::object();
    for (const auto &m : r.matrices) {
        json rows = json::array();
        for (std::size_t t = 0; t < r.tokens.size(); ++t)
            rows.push_back(std::vector<double>(m.scores.begin() + static_cast<std::ptrdiff_t>(t * r.layers),
                m.scores.begin() + static_cast<std::ptrdiff_t>((t + 1) * r.layers)));
        matrices[traceKindName(m.kind)] = rows;
    }
    doc["scores"] = matrices;
    return doc.dump(1);
}

std::string averageEffectsToJson(const AverageEffects &a)
{
    json doc {{"layers", a.layers}, {"traced", a.traced}, {"skipped", a.skipped}, {"mean_high_score", a.meanHighScore},
        {"mean_low_score", a.meanLowScore}};
    json effects = json::object();
    for (std::size_t k = 0; k < a.kinds.size(); ++k) {
        json cats = json::object();
        for (int c = 0; c < kTokenCategories; ++c)
            cats[tokenCategoryName(static_cast<TokenCategory>(c))]
                = effectsJson(a.effects[k][static_cast<std::size_t>(c)]);
        effects[traceKindName(a.kinds[k])] = cats;
    }
    doc["effects"] = effects;
    if (!a.severed.ordinary.empty()) {
        doc["severed"]
            = {{"ordinary", effectsJson(a.severed.ordinary)}, {"mlp_severed", effectsJson(a.severed.mlpSevered)},
                {"attn_severed", effectsJson(a.severed.attentionSevered)}};
        doc["suggested_layers"] = {a.suggestedFirst, a.suggestedLast};
    }
    return doc.dump(1);
}

} // namespace engram
