#include "core/eval/evaljson.h"

#include <nlohmann/json.hpp>

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

} // namespace engram
