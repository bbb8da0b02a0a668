// Facts of a project: adding, importing, updating and removing with an audit log and undo,
// conversions to and from dataset records, validation, and the conflict rules of a batch.

#include "core/project/project.h"

#include "core/project/projectsupport.h"
#include "core/project/sqlite.h"
#include "core/text/utf8.h"
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

const char *conflictKindName(Conflict::Kind kind)
{
    switch (kind) {
    case Conflict::Kind::DifferentTargets:
        return "different-targets";
    case Conflict::Kind::OverwritesEarlierEdit:
        return "overwrites-earlier-edit";
    case Conflict::Kind::SharedKey:
        return "shared-key";
    }
    return "";
}

Fact factFromRecord(const EvalRecord &r)
{
    Fact f;
    f.caseId = r.caseId;
    f.subject = r.subject;
    f.promptTemplate = r.promptTemplate;
    f.relation = r.relationId;
    f.targetTrue = r.targetTrue;
    f.targetNew = r.targetNew;
    f.paraphrasePrompts = r.paraphrasePrompts;
    f.neighborhoodPrompts = r.neighborhoodPrompts;
    f.attributePrompts = r.attributePrompts;
    f.generationPrompts = r.generationPrompts;
    f.tags = r.tags;
    return f;
}

EvalRecord recordFromFact(const Fact &f)
{
    EvalRecord r;
    r.caseId = f.caseId;
    r.subject = f.subject;
    r.promptTemplate = f.promptTemplate;
    r.relationId = f.relation;
    r.targetTrue = f.targetTrue;
    r.targetNew = f.targetNew;
    r.paraphrasePrompts = f.paraphrasePrompts;
    r.neighborhoodPrompts = f.neighborhoodPrompts;
    r.attributePrompts = f.attributePrompts;
    r.generationPrompts = f.generationPrompts;
    r.tags = f.tags;
    return r;
}

std::string validateFact(const Fact &fact)
{
    const auto first = fact.promptTemplate.find("{}");
    if (first == std::string::npos)
        return "the prompt template needs a {} where the subject goes";
    if (fact.promptTemplate.find("{}", first + 2) != std::string::npos)
        return "the prompt template has more than one {}";
    if (fact.subject.find_first_not_of(" \t") == std::string::npos)
        return "the subject is empty";
    if (fact.targetNew.find_first_not_of(" \t") == std::string::npos)
        return "the new object (target_new) is empty";
    // Text goes into JSON (the audit log, exports) and the tokenizer: it must be well-formed UTF-8.
    const std::pair<const char *, const std::string *> fields[] = {{"subject", &fact.subject},
        {"prompt", &fact.promptTemplate}, {"relation", &fact.relation}, {"true object (target_true)", &fact.targetTrue},
        {"new object (target_new)", &fact.targetNew}, {"provenance", &fact.provenance}};
    for (const auto &[name, text] : fields)
        if (!utf8::isValid(*text))
            return std::string("the ") + name + " is not valid UTF-8 text";
    const std::pair<const char *, const std::vector<std::string> *> lists[] = {
        {"paraphrases", &fact.paraphrasePrompts}, {"neighborhood prompts", &fact.neighborhoodPrompts},
        {"attribute prompts", &fact.attributePrompts}, {"generation prompts", &fact.generationPrompts},
        {"tags", &fact.tags}};
    for (const auto &[name, list] : lists)
        for (const auto &text : *list)
            if (!utf8::isValid(text))
                return std::string("one of the ") + name + " is not valid UTF-8 text";
    return {};
}

std::size_t dropDuplicateFacts(const std::vector<Fact> &existing, std::vector<Fact> &incoming)
{
    const auto trimmed = [](const std::string &s) {
        const auto a = s.find_first_not_of(" \t");
        return a == std::string::npos ? std::string() : s.substr(a, s.find_last_not_of(" \t") - a + 1);
    };
    const auto key = [&](const Fact &f) {
        return f.subject + '\x1f' + f.promptTemplate + '\x1f' + trimmed(f.targetTrue) + '\x1f' + trimmed(f.targetNew);
    };
    std::set<std::string> seen;
    for (const Fact &f : existing)
        seen.insert(key(f));
    const std::size_t before = incoming.size();
    incoming.erase(std::remove_if(incoming.begin(), incoming.end(), [&](const Fact &f) { return !seen.insert(key(f)).second; }),
        incoming.end());
    return before - incoming.size();
}

SuggestedPrompts suggestPrompts(const std::vector<Fact> &projectFacts, const Fact &fact, std::size_t limit)
{
    const auto fill = [](const std::string &tmpl, const std::string &subject) {
        const auto at = tmpl.find("{}");
        return at == std::string::npos ? tmpl : tmpl.substr(0, at) + subject + tmpl.substr(at + 2);
    };
    const std::string key = fact.relationKey();
    const std::string own = fill(fact.promptTemplate, fact.subject);
    SuggestedPrompts out;
    std::set<std::string> seen = {own};
    for (const Fact &f : projectFacts) {
        if (f.id == fact.id && fact.id != 0)
            continue;
        if (f.relationKey() != key || validateFact(f) != "")
            continue;
        if (out.paraphrases.size() < limit) {
            const std::string p = fill(f.promptTemplate, fact.subject);
            if (seen.insert(p).second)
                out.paraphrases.push_back(p);
        }
        // The other fact's own paraphrases, its subject swapped for this one.
        for (const std::string &q : f.paraphrasePrompts) {
            if (out.paraphrases.size() >= limit || f.subject.empty())
                break;
            const auto at = q.find(f.subject);
            if (at == std::string::npos)
                continue;
            const std::string p = q.substr(0, at) + fact.subject + q.substr(at + f.subject.size());
            if (seen.insert(p).second)
                out.paraphrases.push_back(p);
        }
        if (out.neighbours.size() < limit && f.subject != fact.subject && !fact.targetTrue.empty()
            && f.targetTrue == fact.targetTrue) {
            const std::string n = fill(f.promptTemplate, f.subject);
            if (seen.insert(n).second)
                out.neighbours.push_back(n);
        }
    }
    return out;
}

int64_t Project::addFact(Fact fact)
{
    return addFacts({std::move(fact)}, "add").front();
}

std::vector<int64_t> Project::addFacts(std::vector<Fact> facts, const std::string &action)
{
    for (std::size_t i = 0; i < facts.size(); ++i)
        if (const auto problem = validateFact(facts[i]); !problem.empty())
            throw Error(ErrorKind::InvalidArgument,
                "fact " + std::to_string(i + 1) + " (" + facts[i].subject + "): " + problem + "; nothing was added");
    Transaction t(*m_db);
    const int64_t batch = nextBatch(*m_db);
    const std::string now = utcTimestamp();
    std::vector<int64_t> ids;
    for (auto &f : facts) {
        f.createdAt = f.updatedAt = now;
        insertFact(*m_db, f, /*keepId=*/false);
        logEvent(*m_db, batch, f.id, action, {}, factJson(f).dump());
        ids.push_back(f.id);
    }
    t.commit();
    return ids;
}

void Project::updateFact(const Fact &fact)
{
    if (const auto problem = validateFact(fact); !problem.empty())
        throw Error(ErrorKind::InvalidArgument, "fact " + std::to_string(fact.id) + ": " + problem);
    Transaction t(*m_db);
    const auto before = this->fact(fact.id);
    if (!before)
        throw Error(ErrorKind::InvalidArgument, "no fact " + std::to_string(fact.id) + " in " + m_file.string());
    Fact f = fact;
    f.createdAt = before->createdAt;
    f.updatedAt = utcTimestamp();
    auto st = m_db->prepare("UPDATE fact SET case_id = ?2, subject = ?3, prompt = ?4, relation = ?5, target_true = ?6, "
                            "target_new = ?7, paraphrases = ?8, neighborhood = ?9, attribute_prompts = ?10, "
                            "generation_prompts = ?11, tags = ?12, enabled = ?13, provenance = ?14, created_at = ?15, "
                            "updated_at = ?16 WHERE id = ?1");
    st.bind(1, f.id);
    bindFact(st, f);
    st.run();
    logEvent(*m_db, nextBatch(*m_db), f.id, "update", factJson(*before).dump(), factJson(f).dump());
    t.commit();
}

void Project::removeFacts(const std::vector<int64_t> &ids)
{
    Transaction t(*m_db);
    const int64_t batch = nextBatch(*m_db);
    for (int64_t id : ids) {
        const auto before = fact(id);
        if (!before)
            throw Error(ErrorKind::InvalidArgument, "no fact " + std::to_string(id) + " in " + m_file.string());
        m_db->prepare("DELETE FROM fact WHERE id = ?1").bind(1, id).run();
        logEvent(*m_db, batch, id, "remove", factJson(*before).dump(), {});
    }
    t.commit();
}

std::vector<Fact> Project::facts(const FactFilter &filter) const
{
    std::string sql = std::string("SELECT ") + kFactColumns + " FROM fact WHERE 1";
    if (!filter.relation.empty())
        sql += " AND relation = ?1";
    if (filter.enabled)
        sql += *filter.enabled ? " AND enabled = 1" : " AND enabled = 0";
    if (!filter.tag.empty())
        sql += " AND EXISTS (SELECT 1 FROM json_each(fact.tags) WHERE json_each.value = ?2)";
    sql += " ORDER BY id";
    auto st = m_db->prepare(sql);
    if (!filter.relation.empty())
        st.bind(1, filter.relation);
    if (!filter.tag.empty())
        st.bind(2, filter.tag);
    const std::set<int64_t> wanted(filter.ids.begin(), filter.ids.end());
    std::vector<Fact> out;
    while (st.step()) {
        Fact f = readFact(st);
        if (wanted.empty() || wanted.count(f.id))
            out.push_back(std::move(f));
    }
    return out;
}

std::optional<Fact> Project::fact(int64_t id) const
{
    auto st = m_db->prepare(std::string("SELECT ") + kFactColumns + " FROM fact WHERE id = ?1");
    st.bind(1, id);
    if (!st.step())
        return std::nullopt;
    return readFact(st);
}

std::vector<FactEvent> Project::factEvents(int64_t factId) const
{
    auto st = m_db->prepare("SELECT id, fact_id, at, action, before_json, after_json FROM fact_event "
                            "WHERE ?1 = 0 OR fact_id = ?1 ORDER BY id");
    st.bind(1, factId);
    std::vector<FactEvent> out;
    while (st.step())
        out.push_back({st.integer(0), st.integer(1), st.text(2), st.text(3), st.text(4), st.text(5)});
    return out;
}

std::string Project::undoLastFactChange()
{
    Transaction t(*m_db);
    const int64_t batch = m_db->scalar(
        "SELECT COALESCE(MAX(batch), 0) FROM fact_event WHERE undone = 0 AND action NOT IN ('undo', 'migrated')");
    if (batch == 0)
        return {};
    struct Step {
        int64_t id, factId;
        std::string action, before;
    };
    std::vector<Step> steps;
    {
        auto st = m_db->prepare(
            "SELECT id, fact_id, action, before_json FROM fact_event WHERE batch = ?1 ORDER BY id DESC");
        st.bind(1, batch);
        while (st.step())
            steps.push_back({st.integer(0), st.integer(1), st.text(2), st.text(3)});
    }
    const int64_t undoBatch = nextBatch(*m_db);
    std::string action;
    for (const auto &s : steps) {
        action = s.action;
        const auto current = fact(s.factId);
        if (s.action == "add" || s.action == "import") {
            if (current)
                m_db->prepare("DELETE FROM fact WHERE id = ?1").bind(1, s.factId).run();
        } else {
            Fact before;
            try {
                before = factFromJson(json::parse(s.before, nullptr, /*allow_exceptions=*/false));
            } catch (const Error &e) {
                throw Error(ErrorKind::CorruptFile,
                    m_file.string() + ": fact history entry " + std::to_string(s.id) + " (fact "
                        + std::to_string(s.factId) + "): " + e.what() + "; nothing was undone");
            }
            m_db->prepare("DELETE FROM fact WHERE id = ?1").bind(1, s.factId).run();
            insertFact(*m_db, before, /*keepId=*/true);
        }
        logEvent(*m_db, undoBatch, s.factId, "undo", current ? factJson(*current).dump() : std::string(),
            s.action == "add" || s.action == "import" ? std::string() : s.before);
        m_db->prepare("UPDATE fact_event SET undone = 1 WHERE id = ?1").bind(1, s.id).run();
    }
    t.commit();
    return "undid " + action + " of " + std::to_string(steps.size()) + " fact(s)";
}

std::vector<Conflict> Project::checkConflicts(const std::vector<Fact> &batch) const
{
    std::vector<Conflict> out;
    // Within the batch.
    std::map<std::pair<std::string, std::string>, std::vector<const Fact *>> byKey;
    std::map<std::string, std::vector<const Fact *>> bySubject;
    for (const auto &f : batch) {
        byKey[{f.subject, f.relationKey()}].push_back(&f);
        bySubject[f.subject].push_back(&f);
    }
    for (const auto &[key, list] : byKey) {
        std::set<std::string> targets;
        for (const auto *f : list)
            targets.insert(f->targetNew);
        if (targets.size() > 1) {
            Conflict c {Conflict::Kind::DifferentTargets, {}, 0, {}};
            for (const auto *f : list)
                c.factIds.push_back(f->id);
            c.message = "'" + key.first + "' (" + key.second + ") is asked to become " + std::to_string(targets.size())
                + " different objects in one run";
            out.push_back(std::move(c));
        }
    }
    for (const auto &[subject, list] : bySubject) {
        std::set<std::string> targets;
        for (const auto *f : list)
            targets.insert(f->targetNew);
        if (list.size() > 1 && targets.size() > 1) {
            Conflict c {Conflict::Kind::SharedKey, {}, 0, {}};
            for (const auto *f : list)
                c.factIds.push_back(f->id);
            c.message = "'" + subject + "' appears in " + std::to_string(list.size())
                + " facts of one run: they share one key at the subject's last token, so the edit averages "
                  "their targets; edit them in separate runs";
            out.push_back(std::move(c));
        }
    }
    // Against applied runs.
    auto st = m_db->prepare("SELECT r.id, f.subject, f.relation, f.prompt, f.target_new FROM run_fact f "
                            "JOIN edit_run r ON r.id = f.run_id WHERE r.status = 'applied' ORDER BY r.id");
    std::map<std::pair<std::string, std::string>, std::pair<int64_t, std::string>> edited;
    while (st.step()) {
        const std::string relationKey = st.text(2).empty() ? st.text(3) : st.text(2);
        edited[{st.text(1), relationKey}] = {st.integer(0), st.text(4)};
    }
    for (const auto &f : batch) {
        const auto it = edited.find({f.subject, f.relationKey()});
        if (it == edited.end())
            continue;
        Conflict c {Conflict::Kind::OverwritesEarlierEdit, {f.id}, it->second.first, {}};
        c.message = "'" + f.subject + "' (" + f.relationKey() + ") was already edited to '" + it->second.second
            + "' by run " + std::to_string(it->second.first) + "; this run overwrites it";
        out.push_back(std::move(c));
    }
    return out;
}

} // namespace engram
