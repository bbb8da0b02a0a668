// Reading trace requests and writing trace results as JSON (no torch here).

#include "core/trace/causaltrace.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <nlohmann/json.hpp>

namespace engram {

namespace {

using nlohmann::json;

std::string requireString(const json &obj, const char *field, const std::string &where)
{
    const auto it = obj.find(field);
    if (it == obj.end() || !it->is_string() || it->get<std::string>().empty())
        throw Error(ErrorKind::CorruptFile, where + ": field '" + field + "' is missing or not a non-empty string");
    return it->get<std::string>();
}

std::string fill(const std::string &prompt, const std::string &subject)
{
    const auto at = prompt.find("{}");
    return at == std::string::npos ? prompt : prompt.substr(0, at) + subject + prompt.substr(at + 2);
}

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
    json doc;
    try {
        doc = json::parse(readTextFile(file));
    } catch (const json::parse_error &e) {
        throw Error(ErrorKind::CorruptFile, file.string() + ": not valid JSON (" + e.what() + ")");
    }
    if (!doc.is_array())
        throw Error(ErrorKind::CorruptFile, file.string() + ": expected a JSON list of facts");
    std::vector<TraceRequest> out;
    for (std::size_t i = 0; i < doc.size(); ++i) {
        if (limit > 0 && static_cast<int64_t>(out.size()) >= limit)
            break;
        const std::string where = file.string() + ", record " + std::to_string(i + 1);
        const json &r = doc[i];
        if (!r.is_object())
            throw Error(ErrorKind::CorruptFile, where + ": not a JSON object");
        TraceRequest t;
        if (r.contains("requested_rewrite")) {
            const json &rw = r["requested_rewrite"];
            if (!rw.is_object())
                throw Error(ErrorKind::CorruptFile, where + ": 'requested_rewrite' is not an object");
            t.subject = requireString(rw, "subject", where + ", requested_rewrite");
            t.prompt = fill(requireString(rw, "prompt", where + ", requested_rewrite"), t.subject);
            if (rw.contains("target_true") && rw["target_true"].is_object())
                t.expected = requireString(rw["target_true"], "str", where + ", requested_rewrite.target_true");
        } else {
            t.subject = requireString(r, "subject", where);
            t.prompt = fill(requireString(r, "prompt", where), t.subject);
            for (const char *field : {"expected", "attribute", "target_true"})
                if (r.contains(field) && r[field].is_string())
                    t.expected = r[field].get<std::string>();
        }
        out.push_back(std::move(t));
    }
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
