// Results kept in a project: evaluations with per-fact metrics and generations, traces, and the
// statistics files used.

#include "core/project/project.h"

#include "core/project/projectsupport.h"
#include "core/project/sqlite.h"
#include "core/util/error.h"

#include <nlohmann/json.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <set>

namespace engram {

using nlohmann::json;
using namespace projectdetail;

int64_t Project::recordEvaluation(
    const Evaluation &evaluation, const std::vector<Metric> &metrics, const std::vector<Generation> &generations)
{
    Transaction t(*m_db);
    auto st = m_db->prepare("INSERT INTO evaluation(run_id, created_at, state, summary_json) VALUES (?1, ?2, ?3, ?4)");
    if (evaluation.runId > 0)
        st.bind(1, evaluation.runId);
    else
        st.bindNull(1);
    st.bind(2, utcTimestamp()).bind(3, evaluation.state).bind(4, evaluation.summaryJson).run();
    const int64_t id = m_db->lastInsertId();
    auto ms
        = m_db->prepare("INSERT INTO metric(evaluation_id, fact_id, phase, kind, value) VALUES (?1, ?2, ?3, ?4, ?5)");
    for (const auto &m : metrics) {
        ms.bind(1, id).bind(2, m.factId).bind(3, m.phase).bind(4, m.kind);
        if (m.value == m.value)
            ms.bind(5, m.value);
        else
            ms.bindNull(5); // NaN: the record lacks that part
        ms.run();
    }
    auto gs = m_db->prepare(
        "INSERT INTO generation(evaluation_id, fact_id, prompt, before, after) VALUES (?1, ?2, ?3, ?4, ?5)");
    for (const auto &g : generations)
        gs.bind(1, id).bind(2, g.factId).bind(3, g.prompt).bind(4, g.before).bind(5, g.after).run();
    t.commit();
    return id;
}

std::vector<Evaluation> Project::evaluations() const
{
    auto st
        = m_db->prepare("SELECT id, COALESCE(run_id, 0), created_at, state, summary_json FROM evaluation ORDER BY id");
    std::vector<Evaluation> out;
    while (st.step())
        out.push_back({st.integer(0), st.integer(1), st.text(2), st.text(3), st.text(4)});
    return out;
}

std::vector<Metric> Project::metrics(int64_t evaluationId) const
{
    auto st = m_db->prepare("SELECT fact_id, phase, kind, value FROM metric WHERE evaluation_id = ?1 ORDER BY fact_id, "
                            "phase DESC, kind");
    st.bind(1, evaluationId);
    std::vector<Metric> out;
    while (st.step())
        out.push_back({st.integer(0), st.text(1), st.text(2), st.isNull(3) ? std::nan("") : st.real(3)});
    return out;
}

std::vector<Generation> Project::generations(int64_t evaluationId) const
{
    auto st = m_db->prepare(
        "SELECT COALESCE(fact_id, 0), prompt, before, after FROM generation WHERE evaluation_id = ?1 ORDER BY id");
    st.bind(1, evaluationId);
    std::vector<Generation> out;
    while (st.step())
        out.push_back({st.integer(0), st.text(1), st.text(2), st.text(3)});
    return out;
}

int64_t Project::recordTrace(const StoredTrace &trace)
{
    auto st
        = m_db->prepare("INSERT INTO trace(fact_id, state, kind, created_at, result_json) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (trace.factId > 0)
        st.bind(1, trace.factId);
    else
        st.bindNull(1);
    st.bind(2, trace.state).bind(3, trace.kind).bind(4, utcTimestamp()).bind(5, trace.resultJson).run();
    return m_db->lastInsertId();
}

std::vector<StoredTrace> Project::traces(int64_t factId) const
{
    auto st = m_db->prepare("SELECT id, COALESCE(fact_id, 0), state, kind, created_at, result_json FROM trace "
                            "WHERE ?1 = 0 OR fact_id = ?1 ORDER BY id");
    st.bind(1, factId);
    std::vector<StoredTrace> out;
    while (st.step())
        out.push_back({st.integer(0), st.integer(1), st.text(2), st.text(3), st.text(4), st.text(5)});
    return out;
}

void Project::recordStatistics(const std::string &key, int layer, const std::filesystem::path &file,
    const std::string &corpus, int64_t samples, const std::string &dtype)
{
    m_db->prepare(
            "INSERT OR REPLACE INTO stats_cache(key, layer, file, corpus, samples, dtype, created_at) VALUES (?1, "
            "?2, ?3, ?4, ?5, ?6, ?7)")
        .bind(1, key)
        .bind(2, layer)
        .bind(3, file.string())
        .bind(4, corpus)
        .bind(5, samples)
        .bind(6, dtype)
        .bind(7, utcTimestamp())
        .run();
}

} // namespace engram
