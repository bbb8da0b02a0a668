// Row conversions the parts of Project share (facts as rows and JSON, run status, shapes).

#include "core/project/projectsupport.h"

#include "core/project/sqlite.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <nlohmann/json.hpp>

namespace engram::projectdetail {

using nlohmann::json;

json toJson(const std::vector<std::string> &v)
{
    return json(v);
}

std::vector<std::string> stringList(const std::string &text)
{
    const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    std::vector<std::string> out;
    if (j.is_array())
        for (const auto &e : j)
            if (e.is_string())
                out.push_back(e.get<std::string>());
    return out;
}

json factJson(const Fact &f)
{
    return {{"id", f.id}, {"case_id", f.caseId}, {"subject", f.subject}, {"prompt", f.promptTemplate},
        {"relation", f.relation}, {"target_true", f.targetTrue}, {"target_new", f.targetNew},
        {"paraphrases", f.paraphrasePrompts}, {"neighborhood", f.neighborhoodPrompts},
        {"attribute_prompts", f.attributePrompts}, {"generation_prompts", f.generationPrompts}, {"tags", f.tags},
        {"enabled", f.enabled}, {"provenance", f.provenance}, {"created_at", f.createdAt}, {"updated_at", f.updatedAt}};
}

namespace {
Fact factFromJsonObject(const json &j)
{
    Fact f;
    f.id = j.value("id", int64_t {0});
    f.caseId = j.value("case_id", int64_t {-1});
    f.subject = j.value("subject", "");
    f.promptTemplate = j.value("prompt", "");
    f.relation = j.value("relation", "");
    f.targetTrue = j.value("target_true", "");
    f.targetNew = j.value("target_new", "");
    f.paraphrasePrompts = j.value("paraphrases", std::vector<std::string>());
    f.neighborhoodPrompts = j.value("neighborhood", std::vector<std::string>());
    f.attributePrompts = j.value("attribute_prompts", std::vector<std::string>());
    f.generationPrompts = j.value("generation_prompts", std::vector<std::string>());
    f.tags = j.value("tags", std::vector<std::string>());
    f.enabled = j.value("enabled", true);
    f.provenance = j.value("provenance", "");
    f.createdAt = j.value("created_at", "");
    f.updatedAt = j.value("updated_at", "");
    return f;
}
} // namespace

Fact factFromJson(const json &j)
{
    if (!j.is_object())
        throw Error(ErrorKind::CorruptFile, "the stored fact is not a JSON object");
    try {
        return factFromJsonObject(j);
    } catch (const json::exception &e) {
        throw Error(ErrorKind::CorruptFile, "the stored fact has a value of the wrong type (" + jsonErrorText(e) + ")");
    }
}

const char *kFactColumns = "id, case_id, subject, prompt, relation, target_true, target_new, paraphrases, "
                           "neighborhood, attribute_prompts, generation_prompts, tags, enabled, provenance, "
                           "created_at, updated_at";

Fact readFact(const Statement &st)
{
    Fact f;
    f.id = st.integer(0);
    f.caseId = st.integer(1);
    f.subject = st.text(2);
    f.promptTemplate = st.text(3);
    f.relation = st.text(4);
    f.targetTrue = st.text(5);
    f.targetNew = st.text(6);
    f.paraphrasePrompts = stringList(st.text(7));
    f.neighborhoodPrompts = stringList(st.text(8));
    f.attributePrompts = stringList(st.text(9));
    f.generationPrompts = stringList(st.text(10));
    f.tags = stringList(st.text(11));
    f.enabled = st.integer(12) != 0;
    f.provenance = st.text(13);
    f.createdAt = st.text(14);
    f.updatedAt = st.text(15);
    return f;
}

// Binds a fact's columns 2.. (after the id) in kFactColumns order.
void bindFact(Statement &st, const Fact &f)
{
    st.bind(2, f.caseId)
        .bind(3, f.subject)
        .bind(4, f.promptTemplate)
        .bind(5, f.relation)
        .bind(6, f.targetTrue)
        .bind(7, f.targetNew)
        .bind(8, toJson(f.paraphrasePrompts).dump())
        .bind(9, toJson(f.neighborhoodPrompts).dump())
        .bind(10, toJson(f.attributePrompts).dump())
        .bind(11, toJson(f.generationPrompts).dump())
        .bind(12, toJson(f.tags).dump())
        .bind(13, f.enabled ? 1 : 0)
        .bind(14, f.provenance)
        .bind(15, f.createdAt)
        .bind(16, f.updatedAt);
}

void insertFact(Database &db, Fact &f, bool keepId)
{
    auto st = db.prepare(std::string("INSERT INTO fact(") + kFactColumns
        + ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
    if (keepId)
        st.bind(1, f.id);
    else
        st.bindNull(1);
    bindFact(st, f);
    st.run();
    f.id = db.lastInsertId();
}

void logEvent(Database &db, int64_t batch, int64_t factId, const std::string &action, const std::string &before,
    const std::string &after)
{
    db.prepare("INSERT INTO fact_event(batch, fact_id, at, action, before_json, after_json) VALUES (?1, ?2, ?3, ?4, "
               "?5, ?6)")
        .bind(1, batch)
        .bind(2, factId)
        .bind(3, utcTimestamp())
        .bind(4, action)
        .bind(5, before)
        .bind(6, after)
        .run();
}

int64_t nextBatch(Database &db)
{
    return db.scalar("SELECT COALESCE(MAX(batch), 0) + 1 FROM fact_event");
}

RunStatus parseStatus(const std::string &s)
{
    if (s == "applied")
        return RunStatus::Applied;
    if (s == "reverted")
        return RunStatus::Reverted;
    if (s == "cancelled")
        return RunStatus::Cancelled;
    if (s == "held")
        return RunStatus::Held;
    if (s == "discarded")
        return RunStatus::Discarded;
    return RunStatus::Failed;
}

std::string patchDeltaHash(const unsigned char *data, std::size_t size)
{
    ContentHash h;
    h.update(data, size);
    return h.hex();
}

std::vector<int64_t> parseShape(const std::string &text)
{
    const json j = json::parse(text, nullptr, false);
    std::vector<int64_t> shape;
    if (!j.is_array())
        throw Error(ErrorKind::CorruptFile, "stored shape '" + text + "' is not a list");
    for (const auto &e : j) {
        if (!e.is_number_integer() || e.get<int64_t>() < 0)
            throw Error(ErrorKind::CorruptFile, "stored shape '" + text + "' holds " + e.dump());
        shape.push_back(e.get<int64_t>());
    }
    return shape;
}

} // namespace engram::projectdetail
