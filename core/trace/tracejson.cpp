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

TraceResult traceResultFromJson(const std::string &text, const std::string &where)
{
    const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object())
        throw Error(
            ErrorKind::CorruptFile, where + " is not a trace (JSON object) written by 'engram-cli trace --json'");
    TraceResult r;
    try {
        doc.at("prompt").get_to(r.prompt);
        doc.at("subject").get_to(r.subject);
        doc.at("tokens").get_to(r.tokens);
        r.tokenIds = doc.value("token_ids", std::vector<int64_t>());
        const auto range = doc.at("subject_range").get<std::vector<int64_t>>();
        if (range.size() != 2)
            throw Error(ErrorKind::CorruptFile, where + ": subject_range must hold two numbers");
        r.subjectBegin = range[0];
        r.subjectEnd = range[1];
        doc.at("layers").get_to(r.layers);
        r.answer = doc.value("answer", "");
        r.answerToken = doc.value("answer_token", int64_t(-1));
        r.highScore = doc.value("high_score", 0.0);
        r.lowScore = doc.value("low_score", 0.0);
        r.correct = doc.value("correct_prediction", true);
        r.window = doc.value("window", 10);
        if (const auto n = doc.find("noise"); n != doc.end() && n->is_object()) {
            r.noise.mode = n->value("mode", "gaussian") == "uniform" ? NoiseMode::Uniform : NoiseMode::Gaussian;
            r.noise.scale = n->value("scale", 0.0);
            r.noise.samples = n->value("samples", 0);
            r.noise.seed = n->value("seed", uint64_t(0));
            r.noise.origin = n->value("origin", "");
        }
        const std::size_t tokens = r.tokens.size();
        if (r.layers <= 0 || r.subjectBegin < 0 || r.subjectBegin > r.subjectEnd
            || r.subjectEnd > static_cast<int64_t>(tokens))
            throw Error(ErrorKind::CorruptFile, where + ": layers or subject range out of bounds");
        for (const auto &[name, rows] : doc.at("scores").items()) {
            const auto kind = parseTraceKind(name);
            if (!kind)
                throw Error(ErrorKind::CorruptFile, where + ": unknown trace kind '" + name + "'");
            TraceMatrix m;
            m.kind = *kind;
            if (!rows.is_array() || rows.size() != tokens)
                throw Error(ErrorKind::CorruptFile, where + ": scores." + name + " needs one row per token");
            for (const auto &row : rows) {
                const auto values = row.get<std::vector<double>>();
                if (values.size() != static_cast<std::size_t>(r.layers))
                    throw Error(ErrorKind::CorruptFile, where + ": scores." + name + " needs one value per layer");
                m.scores.insert(m.scores.end(), values.begin(), values.end());
            }
            r.matrices.push_back(std::move(m));
        }
    } catch (const json::exception &e) {
        throw Error(ErrorKind::CorruptFile, where + ": " + e.what());
    }
    return r;
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
