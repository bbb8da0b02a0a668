// Edit runs of a project: their records, typed summaries, stored patches and status.

#include "core/project/project.h"

#include "core/project/projectsupport.h"
#include "core/project/sqlite.h"
#include "core/util/error.h"
#include "core/util/progress.h"

#include <nlohmann/json.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

namespace engram {

using nlohmann::json;
using namespace projectdetail;

const char *runStatusName(RunStatus status)
{
    switch (status) {
    case RunStatus::Applied:
        return "applied";
    case RunStatus::Reverted:
        return "reverted";
    case RunStatus::Cancelled:
        return "cancelled";
    case RunStatus::Failed:
        return "failed";
    case RunStatus::Held:
        return "held";
    case RunStatus::Discarded:
        return "discarded";
    }
    return "failed";
}

namespace {

// Run ids in history order, filtered by `where` (an SQL condition on edit_run, or "").
std::vector<int64_t> selectRunIds(Database &db, const std::string &where)
{
    std::vector<int64_t> ids;
    auto st = db.prepare("SELECT id FROM edit_run " + where + " ORDER BY id");
    while (st.step())
        ids.push_back(st.integer(0));
    return ids;
}

} // namespace

std::vector<std::string> HealthGuard::breaches(const RunHealth &health) const
{
    std::vector<std::string> out;
    const auto percent = [](double v) {
        std::ostringstream text;
        text << std::fixed << std::setprecision(1) << v;
        return text.str();
    };
    const double ratio = health.retentionRatio();
    if (minRetention > 0 && ratio >= 0 && ratio < minRetention)
        out.push_back("retention of the project's other facts is " + percent(100 * ratio)
            + " % of the base model's, below the guard's " + percent(100 * minRetention) + " %");
    if (minEsSoFar > 0 && health.esSoFar >= 0 && health.esSoFar < minEsSoFar)
        out.push_back("ES over the " + std::to_string(health.editedFacts) + " facts edited so far is "
            + percent(health.esSoFar) + ", below the guard's " + percent(minEsSoFar));
    return out;
}

void HealthGuard::validate() const
{
    if (!(minRetention >= 0 && minRetention <= 1))
        throw Error(ErrorKind::InvalidArgument,
            "the guard's minimum retention must be a share of the base model's between 0 and 1 (0: off), not "
                + std::to_string(minRetention));
    if (!(minEsSoFar >= 0 && minEsSoFar <= 100))
        throw Error(ErrorKind::InvalidArgument,
            "the guard's minimum ES so far must be between 0 and 100 (0: off), not " + std::to_string(minEsSoFar));
}

HealthGuard Project::healthGuard() const
{
    HealthGuard guard;
    const auto read = [&](const char *key, double &value) {
        const std::string text = setting(key);
        if (text.empty())
            return;
        char *end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0' || !std::isfinite(v))
            throw Error(ErrorKind::CorruptFile,
                m_file.string() + ": the setting " + key + " is '" + text + "', not a number");
        value = v;
    };
    read("guard.min_retention", guard.minRetention);
    read("guard.min_es_so_far", guard.minEsSoFar);
    try {
        guard.validate();
    } catch (const Error &e) {
        throw Error(ErrorKind::CorruptFile, m_file.string() + ": " + e.what());
    }
    return guard;
}

void Project::setHealthGuard(const HealthGuard &guard)
{
    guard.validate();
    const auto text = [](double v) {
        std::ostringstream out;
        out << std::setprecision(17) << v;
        return out.str();
    };
    Transaction t(*m_db);
    setSetting("guard.min_retention", text(guard.minRetention));
    setSetting("guard.min_es_so_far", text(guard.minEsSoFar));
    t.commit();
}

std::string RunSummary::toJson() const
{
    nlohmann::json j {{"layers", layers}, {"relative_norms", relativeNorms}, {"residual_before", residualBefore},
        {"residual_after", residualAfter}, {"mean_target_probability", meanTargetProbability}, {"seconds", seconds},
        {"rebased_history", rebasedHistory}, {"null_space_dims", nullSpaceDims}, {"earlier_runs", earlierRuns}};
    if (health.measured())
        j["health"] = {{"es_so_far", health.esSoFar}, {"edited_facts", health.editedFacts},
            {"retention", health.retention}, {"retention_base", health.retentionBase},
            {"other_facts", health.otherFacts}, {"fluency", health.fluency}, {"fluency_base", health.fluencyBase},
            {"cumulative_relative_norms", health.cumulativeRelativeNorms}};
    return j.dump();
}

RunSummary RunSummary::fromJson(const std::string &text)
{
    const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object())
        throw Error(ErrorKind::CorruptFile, "the run summary is not a JSON object");
    RunSummary s;
    const auto read = [&](const char *key, auto &value) {
        if (const auto it = j.find(key); it != j.end() && !it->is_null())
            it->get_to(value);
    };
    try {
        read("layers", s.layers);
        read("relative_norms", s.relativeNorms);
        read("residual_before", s.residualBefore);
        read("residual_after", s.residualAfter);
        read("mean_target_probability", s.meanTargetProbability);
        read("seconds", s.seconds);
        read("rebased_history", s.rebasedHistory);
        read("null_space_dims", s.nullSpaceDims);
        read("earlier_runs", s.earlierRuns);
        if (const auto h = j.find("health"); h != j.end() && h->is_object()) {
            const auto field = [&](const char *key, auto &value) {
                if (const auto it = h->find(key); it != h->end() && !it->is_null())
                    it->get_to(value);
            };
            field("es_so_far", s.health.esSoFar);
            field("edited_facts", s.health.editedFacts);
            field("retention", s.health.retention);
            field("retention_base", s.health.retentionBase);
            field("other_facts", s.health.otherFacts);
            field("fluency", s.health.fluency);
            field("fluency_base", s.health.fluencyBase);
            field("cumulative_relative_norms", s.health.cumulativeRelativeNorms);
        }
    } catch (const nlohmann::json::exception &e) {
        throw Error(
            ErrorKind::CorruptFile, std::string("the run summary has a value of the wrong type (") + e.what() + ")");
    }
    return s;
}

int64_t Project::recordRun(const EditRun &run, const std::vector<StoredDelta> &deltas, const std::vector<LayerKeys> &keys)
{
    Transaction t(*m_db);
    m_db->prepare("INSERT INTO edit_run(model_id, method, params_json, seed, device, status, created_at, seconds, "
                  "summary_json, provenance_json, base_state, result_state, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                  "?7, ?8, ?9, ?10, ?11, ?12, ?13)")
        .bind(1, modelId())
        .bind(2, run.method)
        .bind(3, run.paramsJson)
        .bind(4, static_cast<int64_t>(run.seed))
        .bind(5, run.device)
        .bind(6, runStatusName(run.status))
        .bind(7, run.createdAt.empty() ? utcTimestamp() : run.createdAt)
        .bind(8, run.seconds)
        .bind(9, run.summary.toJson())
        .bind(10, run.provenanceJson)
        .bind(11, run.baseState)
        .bind(12, run.resultState)
        .bind(13, run.message)
        .run();
    const int64_t id = m_db->lastInsertId();
    auto factSt
        = m_db->prepare("INSERT INTO run_fact(run_id, position, fact_id, subject, prompt, relation, target_new) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    for (std::size_t i = 0; i < run.facts.size(); ++i) {
        const auto &f = run.facts[i];
        factSt.bind(1, id).bind(2, static_cast<int64_t>(i));
        if (f.factId > 0)
            factSt.bind(3, f.factId);
        else
            factSt.bindNull(3);
        factSt.bind(4, f.subject).bind(5, f.promptTemplate).bind(6, f.relation).bind(7, f.targetNew);
        factSt.run();
    }
    auto patchSt = m_db->prepare("INSERT INTO patch_tensor(run_id, name, base_hash, shape, relative_norm, delta, "
                                 "delta_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    for (const auto &d : deltas) {
        patchSt.bind(1, id)
            .bind(2, d.name)
            .bind(3, d.baseHash)
            .bind(4, json(d.shape).dump())
            .bind(5, d.relativeNorm)
            .bindBlob(6, d.data.data(), d.data.size())
            .bind(7, patchDeltaHash(d.data.data(), d.data.size()));
        patchSt.run();
    }
    auto keySt = m_db->prepare(
        "INSERT INTO run_key(run_id, layer, dim, count, keys, keys_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    for (const LayerKeys &k : keys) {
        if (static_cast<int64_t>(k.values.size()) != k.dim * k.count)
            throw Error(ErrorKind::InvalidArgument,
                "the keys of layer " + std::to_string(k.layer) + " hold " + std::to_string(k.values.size())
                    + " values, not " + std::to_string(k.dim) + " x " + std::to_string(k.count));
        const auto *bytes = reinterpret_cast<const unsigned char *>(k.values.data());
        const std::size_t size = k.values.size() * sizeof(float);
        keySt.bind(1, id)
            .bind(2, static_cast<int64_t>(k.layer))
            .bind(3, k.dim)
            .bind(4, k.count)
            .bindBlob(5, bytes, size)
            .bind(6, patchDeltaHash(bytes, size));
        keySt.run();
    }
    stallPoint("project:record-run"); // crash-safety tests kill the process here, mid-transaction
    t.commit();
    return id;
}

std::vector<EditRun> Project::runs() const
{
    const std::vector<int64_t> ids = selectRunIds(*m_db, "");
    std::vector<EditRun> out;
    for (int64_t id : ids) {
        auto r = run(id);
        // Listed by the index but not found by its key: only a damaged file does this.
        if (!r)
            throw Error(ErrorKind::CorruptFile,
                m_file.string() + " is damaged: run " + std::to_string(id) + " is listed but cannot be read");
        out.push_back(std::move(*r));
    }
    return out;
}

std::optional<EditRun> Project::run(int64_t id) const
{
    auto st = m_db->prepare("SELECT id, method, params_json, seed, device, status, created_at, seconds, summary_json, "
                            "provenance_json, base_state, result_state, message FROM edit_run WHERE id = ?1");
    st.bind(1, id);
    if (!st.step())
        return std::nullopt;
    EditRun r;
    r.id = st.integer(0);
    r.method = st.text(1);
    r.paramsJson = st.text(2);
    r.seed = static_cast<uint64_t>(st.integer(3));
    r.device = st.text(4);
    r.status = parseStatus(st.text(5));
    r.createdAt = st.text(6);
    r.seconds = st.real(7);
    try {
        r.summary = RunSummary::fromJson(st.text(8));
    } catch (const Error &e) {
        throw Error(ErrorKind::CorruptFile, m_file.string() + ", run " + std::to_string(id) + ": " + e.what());
    }
    r.provenanceJson = st.text(9);
    r.baseState = st.text(10);
    r.resultState = st.text(11);
    r.message = st.text(12);
    auto fs = m_db->prepare(
        "SELECT fact_id, subject, prompt, relation, target_new FROM run_fact WHERE run_id = ?1 ORDER BY position");
    fs.bind(1, id);
    while (fs.step())
        r.facts.push_back({fs.isNull(0) ? 0 : fs.integer(0), fs.text(1), fs.text(2), fs.text(3), fs.text(4)});
    return r;
}

std::vector<StoredDelta> Project::patch(int64_t runId) const
{
    auto st = m_db->prepare("SELECT name, base_hash, shape, relative_norm, delta, delta_hash FROM patch_tensor "
                            "WHERE run_id = ?1 ORDER BY rowid");
    st.bind(1, runId);
    std::vector<StoredDelta> out;
    while (st.step()) {
        const std::string where = m_file.string() + ": the stored patch of run " + std::to_string(runId) + " for '"
            + st.text(0) + "'";
        StoredDelta d {st.text(0), st.text(1), {}, st.real(3), st.blob(4)};
        try {
            d.shape = parseShape(st.text(2));
        } catch (const Error &e) {
            throw Error(ErrorKind::CorruptFile, where + " is damaged: " + e.what());
        }
        int64_t numel = 1;
        for (auto s : d.shape)
            numel *= s;
        if (static_cast<int64_t>(d.data.size()) != numel * 4)
            throw Error(ErrorKind::CorruptFile,
                where + " has " + std::to_string(d.data.size()) + " bytes, its shape needs "
                    + std::to_string(numel * 4));
        const std::string recorded = st.text(5);
        if (!recorded.empty() && recorded != patchDeltaHash(d.data.data(), d.data.size()))
            throw Error(ErrorKind::CorruptFile,
                where + " is damaged: its bytes do not match their recorded hash (" + recorded
                    + "); the run cannot be rebuilt. Restore the file from a backup, or branch before run "
                    + std::to_string(runId));
        out.push_back(std::move(d));
    }
    return out;
}

std::vector<LayerKeys> Project::runKeys(int64_t runId) const
{
    auto st = m_db->prepare("SELECT layer, dim, count, keys, keys_hash FROM run_key WHERE run_id = ?1 ORDER BY layer");
    st.bind(1, runId);
    std::vector<LayerKeys> out;
    while (st.step()) {
        LayerKeys k;
        k.layer = static_cast<int>(st.integer(0));
        k.dim = st.integer(1);
        k.count = st.integer(2);
        const auto blob = st.blob(3);
        const std::string where = m_file.string() + ": the stored keys of run " + std::to_string(runId)
            + " at layer " + std::to_string(k.layer);
        if (k.dim < 0 || k.count < 0 || k.dim > (int64_t(1) << 24) || k.count > (int64_t(1) << 24)
            || static_cast<int64_t>(blob.size()) != k.dim * k.count * 4)
            throw Error(ErrorKind::CorruptFile,
                where + " are damaged: " + std::to_string(blob.size()) + " bytes for " + std::to_string(k.count)
                    + " keys of " + std::to_string(k.dim) + " values");
        if (patchDeltaHash(blob.data(), blob.size()) != st.text(4))
            throw Error(ErrorKind::CorruptFile,
                where + " are damaged: their bytes do not match their recorded hash. Restore the file from a "
                        "backup, or branch before run " + std::to_string(runId));
        k.values.resize(static_cast<std::size_t>(k.dim * k.count));
        if (!blob.empty())
            std::memcpy(k.values.data(), blob.data(), blob.size());
        out.push_back(std::move(k));
    }
    return out;
}

std::vector<LayerKeys> Project::appliedRunKeys(std::vector<int64_t> *runIds) const
{
    const std::vector<int64_t> applied = selectRunIds(*m_db, "WHERE status = 'applied'");
    std::vector<LayerKeys> out;
    for (int64_t id : applied) {
        auto keys = runKeys(id);
        if (keys.empty())
            continue;
        if (runIds)
            runIds->push_back(id);
        for (auto &k : keys)
            out.push_back(std::move(k));
    }
    return out;
}

std::vector<std::string> Project::patchedTensorNames() const
{
    auto st = m_db->prepare("SELECT DISTINCT name FROM patch_tensor ORDER BY name");
    std::vector<std::string> out;
    while (st.step())
        out.push_back(st.text(0));
    return out;
}

void Project::setRunStatus(int64_t runId, RunStatus status, const std::string &resultState)
{
    auto st = m_db->prepare("UPDATE edit_run SET status = ?2, result_state = CASE WHEN ?3 = '' THEN result_state ELSE "
                            "?3 END WHERE id = ?1");
    st.bind(1, runId).bind(2, runStatusName(status)).bind(3, resultState);
    st.run();
    if (sqlite3_changes(m_db->handle()) == 0)
        throw Error(ErrorKind::InvalidArgument, "no run " + std::to_string(runId) + " in " + m_file.string());
}

void Project::setRunMessage(int64_t runId, const std::string &message)
{
    m_db->prepare("UPDATE edit_run SET message = ?2 WHERE id = ?1").bind(1, runId).bind(2, message).run();
    if (sqlite3_changes(m_db->handle()) == 0)
        throw Error(ErrorKind::InvalidArgument, "no run " + std::to_string(runId) + " in " + m_file.string());
}

std::vector<std::pair<int64_t, int64_t>> Project::editedFacts() const
{
    auto st
        = m_db->prepare("SELECT f.fact_id, MAX(r.id) FROM run_fact f JOIN edit_run r ON r.id = f.run_id "
                        "WHERE r.status = 'applied' AND f.fact_id IS NOT NULL GROUP BY f.fact_id ORDER BY f.fact_id");
    std::vector<std::pair<int64_t, int64_t>> out;
    while (st.step())
        out.emplace_back(st.integer(0), st.integer(1));
    return out;
}

} // namespace engram
