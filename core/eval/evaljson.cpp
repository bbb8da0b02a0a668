#include "core/eval/evaljson.h"

#include <nlohmann/json.hpp>

#include "core/util/error.h"

#include <cmath>

namespace engram {

using nlohmann::json;

namespace {

json number(double v)
{
    return std::isfinite(v) ? json(v) : json(nullptr);
}

json metric(const MetricSummary &m)
{
    if (m.count == 0 || !std::isfinite(m.mean))
        return nullptr;
    return {{"mean", m.mean}, {"ci95", number(m.ci95)}, {"count", m.count}};
}

} // namespace

json evalSummaryToJson(const EvalSummary &e)
{
    return {{"records", e.records}, {"score", number(e.score)}, {"es", metric(e.es)}, {"ps", metric(e.ps)},
        {"ns", metric(e.ns)}, {"em", metric(e.em)}, {"pm", metric(e.pm)}, {"nm", metric(e.nm)},
        {"rewrite_acc", metric(e.rewriteAcc)}, {"paraphrase_acc", metric(e.paraphraseAcc)},
        {"neighborhood_acc", metric(e.neighborhoodAcc)}, {"fluency", metric(e.fluency)},
        {"reference_score", metric(e.consistency)}};
}

json recordScoresToJson(const RecordScores &r)
{
    json j {{"es", number(r.es)}, {"em", number(r.em)}, {"ps", number(r.ps)}, {"pm", number(r.pm)},
        {"ns", number(r.ns)}, {"nm", number(r.nm)}, {"rewrite_acc", number(r.rewriteAcc)},
        {"paraphrase_acc", number(r.paraphraseAcc)}, {"neighborhood_acc", number(r.neighborhoodAcc)},
        {"p_new", number(r.pNew)}, {"p_true", number(r.pTrue)}, {"fluency", number(r.fluency)},
        {"reference_score", number(r.consistency)}};
    if (!r.generations.empty())
        j["generations"] = r.generations;
    return j;
}

json recallToJson(const RecallResult &recall)
{
    return {{"recalled", recall.recalled}, {"total", recall.total}};
}

json evalPhaseToJson(const EvalSummary &summary, const RecallResult &retention)
{
    json j = evalSummaryToJson(summary);
    j["retention"] = recallToJson(retention);
    return j;
}

namespace {

double numberFrom(const json &j, const char *key, double fallback)
{
    const auto it = j.find(key);
    return it == j.end() || !it->is_number() ? fallback : it->get<double>();
}

MetricSummary metricFrom(const json &j, const char *key)
{
    MetricSummary m;
    const auto it = j.find(key);
    if (it == j.end() || it->is_null())
        return m;
    if (!it->is_object())
        throw Error(ErrorKind::CorruptFile, std::string("metric \"") + key + "\" is not an object");
    m.mean = numberFrom(*it, "mean", 0);
    m.ci95 = numberFrom(*it, "ci95", 0);
    m.count = static_cast<int64_t>(numberFrom(*it, "count", 0));
    return m;
}

} // namespace

EvalSummary evalSummaryFromJson(const json &j, const std::string &where)
{
    if (!j.is_object())
        throw Error(ErrorKind::CorruptFile, where + ": evaluation summary is not a JSON object");
    EvalSummary e;
    try {
        e.records = static_cast<int64_t>(numberFrom(j, "records", 0));
        e.score = numberFrom(j, "score", std::nan(""));
        e.es = metricFrom(j, "es");
        e.ps = metricFrom(j, "ps");
        e.ns = metricFrom(j, "ns");
        e.em = metricFrom(j, "em");
        e.pm = metricFrom(j, "pm");
        e.nm = metricFrom(j, "nm");
        e.rewriteAcc = metricFrom(j, "rewrite_acc");
        e.paraphraseAcc = metricFrom(j, "paraphrase_acc");
        e.neighborhoodAcc = metricFrom(j, "neighborhood_acc");
        e.fluency = metricFrom(j, "fluency");
        e.consistency = metricFrom(j, "reference_score");
    } catch (const Error &err) {
        throw Error(ErrorKind::CorruptFile, where + ": " + err.what());
    }
    return e;
}

RecallResult recallFromJson(const json &j, const std::string &where)
{
    RecallResult r;
    if (j.is_null())
        return r;
    if (!j.is_object())
        throw Error(ErrorKind::CorruptFile, where + ": retention is not a JSON object");
    r.recalled = static_cast<int64_t>(numberFrom(j, "recalled", 0));
    r.total = static_cast<int64_t>(numberFrom(j, "total", 0));
    return r;
}

} // namespace engram
