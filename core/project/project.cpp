#include "core/project/project.h"

#include "core/project/sqlite.h"
#include "core/util/error.h"
#include "core/util/progress.h"

#include <nlohmann/json.hpp>

#include <sqlite3.h>

#include <cmath>
#include <ctime>
#include <map>
#include <set>

namespace engram {

namespace {

using nlohmann::json;

// Schema version 1, as first shipped. Frozen: never edit a migration that has shipped; add one.
const char *kMigration1 = R"sql(
CREATE TABLE project_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE model(
  id INTEGER PRIMARY KEY, path TEXT NOT NULL, content_hash TEXT NOT NULL, family TEXT NOT NULL,
  summary_json TEXT NOT NULL, added_at TEXT NOT NULL);
CREATE TABLE fact(
  id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL DEFAULT -1, subject TEXT NOT NULL, prompt TEXT NOT NULL,
  relation TEXT NOT NULL DEFAULT '', target_true TEXT NOT NULL DEFAULT '', target_new TEXT NOT NULL,
  paraphrases TEXT NOT NULL DEFAULT '[]', neighborhood TEXT NOT NULL DEFAULT '[]',
  attribute_prompts TEXT NOT NULL DEFAULT '[]', generation_prompts TEXT NOT NULL DEFAULT '[]',
  tags TEXT NOT NULL DEFAULT '[]', enabled INTEGER NOT NULL DEFAULT 1, provenance TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL);
CREATE TABLE edit_run(
  id INTEGER PRIMARY KEY, model_id INTEGER NOT NULL REFERENCES model(id), method TEXT NOT NULL,
  params_json TEXT NOT NULL, seed INTEGER NOT NULL, device TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('applied', 'reverted', 'cancelled', 'failed')),
  created_at TEXT NOT NULL, seconds REAL NOT NULL DEFAULT 0, summary_json TEXT NOT NULL DEFAULT '{}',
  provenance_json TEXT NOT NULL DEFAULT '{}', base_state TEXT NOT NULL DEFAULT '',
  result_state TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '');
CREATE TABLE run_fact(
  run_id INTEGER NOT NULL REFERENCES edit_run(id) ON DELETE CASCADE, position INTEGER NOT NULL,
  fact_id INTEGER REFERENCES fact(id) ON DELETE SET NULL, subject TEXT NOT NULL, prompt TEXT NOT NULL,
  relation TEXT NOT NULL, target_new TEXT NOT NULL, PRIMARY KEY (run_id, position));
CREATE TABLE patch_tensor(
  run_id INTEGER NOT NULL REFERENCES edit_run(id) ON DELETE CASCADE, name TEXT NOT NULL,
  base_hash TEXT NOT NULL, shape TEXT NOT NULL, relative_norm REAL NOT NULL, delta BLOB NOT NULL,
  PRIMARY KEY (run_id, name));
CREATE TABLE evaluation(
  id INTEGER PRIMARY KEY, run_id INTEGER REFERENCES edit_run(id) ON DELETE SET NULL,
  created_at TEXT NOT NULL, state TEXT NOT NULL, summary_json TEXT NOT NULL);
CREATE TABLE metric(
  evaluation_id INTEGER NOT NULL REFERENCES evaluation(id) ON DELETE CASCADE,
  fact_id INTEGER NOT NULL REFERENCES fact(id) ON DELETE CASCADE, phase TEXT NOT NULL, kind TEXT NOT NULL,
  value REAL, PRIMARY KEY (evaluation_id, fact_id, phase, kind));
CREATE TABLE generation(
  id INTEGER PRIMARY KEY, evaluation_id INTEGER NOT NULL REFERENCES evaluation(id) ON DELETE CASCADE,
  fact_id INTEGER REFERENCES fact(id) ON DELETE CASCADE, prompt TEXT NOT NULL, before TEXT NOT NULL,
  after TEXT NOT NULL);
CREATE TABLE trace(
  id INTEGER PRIMARY KEY, fact_id INTEGER REFERENCES fact(id) ON DELETE CASCADE, state TEXT NOT NULL,
  kind TEXT NOT NULL, created_at TEXT NOT NULL, result_json TEXT NOT NULL);
CREATE TABLE stats_cache(
  key TEXT PRIMARY KEY, layer INTEGER NOT NULL, file TEXT NOT NULL, corpus TEXT NOT NULL,
  samples INTEGER NOT NULL, dtype TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX fact_subject ON fact(subject);
CREATE INDEX run_fact_fact ON run_fact(fact_id);
)sql";

// Schema 2: fact audit log (history, undo) and the time of a fact's last change.
const char *kMigration2 = R"sql(
ALTER TABLE fact ADD COLUMN updated_at TEXT NOT NULL DEFAULT '';
CREATE TABLE fact_event(
  id INTEGER PRIMARY KEY, batch INTEGER NOT NULL, fact_id INTEGER NOT NULL, at TEXT NOT NULL,
  action TEXT NOT NULL, before_json TEXT NOT NULL DEFAULT '', after_json TEXT NOT NULL DEFAULT '',
  undone INTEGER NOT NULL DEFAULT 0);
CREATE INDEX fact_event_fact ON fact_event(fact_id);
UPDATE fact SET updated_at = created_at;
)sql";

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

Fact factFromJson(const json &j)
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
    return RunStatus::Failed;
}

std::vector<int64_t> parseShape(const std::string &text)
{
    const json j = json::parse(text, nullptr, false);
    std::vector<int64_t> shape;
    if (j.is_array())
        for (const auto &e : j)
            shape.push_back(e.get<int64_t>());
    return shape;
}

} // namespace

std::string utcTimestamp()
{
    const std::time_t now = std::time(nullptr);
    std::tm tm {};
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

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
    }
    return "failed";
}

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
        return "the new target is empty";
    return {};
}

Project::Project(std::filesystem::path file, std::unique_ptr<Database> db)
    : m_file(std::move(file))
    , m_db(std::move(db))
{
}

Project::~Project() = default;

std::unique_ptr<Project> Project::create(const std::filesystem::path &file, const ProjectModel &model)
{
    if (std::filesystem::exists(file))
        throw Error(ErrorKind::InvalidArgument, file.string() + " already exists; choose another name or remove it");
    // Build the file under a temporary name so a failure leaves nothing behind.
    const std::filesystem::path temp = file.string() + ".creating";
    std::filesystem::remove(temp);
    try {
        {
            Database db(temp, Database::Mode::Create);
            db.exec("PRAGMA journal_mode = DELETE; PRAGMA foreign_keys = ON;");
            Transaction t(db);
            db.exec(kMigration1);
            db.exec(kMigration2);
            db.exec("PRAGMA application_id = " + std::to_string(kApplicationId)
                + "; PRAGMA user_version = " + std::to_string(kSchemaVersion));
            db.prepare(
                  "INSERT INTO model(path, content_hash, family, summary_json, added_at) VALUES (?1, ?2, ?3, ?4, ?5)")
                .bind(1, model.path.string())
                .bind(2, model.contentHash)
                .bind(3, model.family)
                .bind(4, model.summaryJson)
                .bind(5, utcTimestamp())
                .run();
            db.prepare("INSERT INTO project_meta(key, value) VALUES ('created_at', ?1), ('created_by', ?2)")
                .bind(1, utcTimestamp())
                .bind(2, std::string("Engram ") + ENGRAM_VERSION)
                .run();
            t.commit();
        }
        std::filesystem::rename(temp, file);
    } catch (...) {
        std::error_code ec;
        std::filesystem::remove(temp, ec);
        throw;
    }
    return open(file);
}

std::unique_ptr<Project> Project::open(const std::filesystem::path &file, bool readOnly)
{
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec))
        throw Error(ErrorKind::Io, "no project file at " + file.string());
    // Read-only first: nothing is written before we know the file is ours and not newer.
    {
        Database probe(file, Database::Mode::ReadOnly);
        const int64_t app = probe.scalar("PRAGMA application_id");
        const int64_t version = probe.scalar("PRAGMA user_version");
        if (app != kApplicationId)
            throw Error(ErrorKind::CorruptFile,
                file.string()
                    + " is not an Engram project (an SQLite database of another program); it was not changed");
        if (version > kSchemaVersion)
            throw Error(ErrorKind::Unsupported,
                file.string() + " was saved by a newer Engram (project schema " + std::to_string(version)
                    + "; this version reads up to " + std::to_string(kSchemaVersion)
                    + "). Update Engram to open it; the file was not changed");
        if (version < 1)
            throw Error(
                ErrorKind::CorruptFile, file.string() + " has no project schema (version 0); it was not changed");
    }
    auto db = std::make_unique<Database>(file, readOnly ? Database::Mode::ReadOnly : Database::Mode::ReadWrite);
    db->exec("PRAGMA foreign_keys = ON");
    std::unique_ptr<Project> project(new Project(file, std::move(db)));
    if (!readOnly) {
        // Take and release the write lock now: a file another process is writing is refused
        // here, with a clear message, instead of failing halfway through the user's work.
        {
            Transaction probe(*project->m_db);
        }
        project->m_db->exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL");
        project->migrate();
    } else if (project->schemaVersion() < kSchemaVersion) {
        throw Error(ErrorKind::Unsupported,
            file.string() + " uses project schema " + std::to_string(project->schemaVersion())
                + " and must be upgraded; open it read-write once");
    }
    return project;
}

void Project::migrate()
{
    const char *steps[] = {kMigration1, kMigration2};
    for (int v = schemaVersion(); v < kSchemaVersion; ++v) {
        Transaction t(*m_db);
        m_db->exec(steps[v]); // steps[v] takes version v to v + 1
        if (v + 1 == 2) {
            // Backfill the audit log so that every existing fact has a first entry.
            std::vector<Fact> existing;
            {
                auto st = m_db->prepare(std::string("SELECT ") + kFactColumns + " FROM fact ORDER BY id");
                while (st.step())
                    existing.push_back(readFact(st));
            }
            for (const auto &f : existing)
                logEvent(*m_db, 1, f.id, "migrated", {}, factJson(f).dump());
        }
        m_db->exec("PRAGMA user_version = " + std::to_string(v + 1));
        t.commit();
    }
}

int Project::schemaVersion() const
{
    return static_cast<int>(m_db->scalar("PRAGMA user_version"));
}

ProjectModel Project::model() const
{
    auto st = m_db->prepare("SELECT path, content_hash, family, summary_json FROM model ORDER BY id LIMIT 1");
    if (!st.step())
        throw Error(ErrorKind::CorruptFile, m_file.string() + " names no model");
    return {st.text(0), st.text(1), st.text(2), st.text(3)};
}

int64_t Project::modelId() const
{
    return m_db->scalar("SELECT id FROM model ORDER BY id LIMIT 1");
}

std::string Project::setting(const std::string &key, const std::string &fallback) const
{
    auto st = m_db->prepare("SELECT value FROM project_meta WHERE key = ?1");
    st.bind(1, "setting." + key);
    return st.step() ? st.text(0) : fallback;
}

void Project::setSetting(const std::string &key, const std::string &value)
{
    m_db->prepare("INSERT INTO project_meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2")
        .bind(1, "setting." + key)
        .bind(2, value)
        .run();
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
            Fact before = factFromJson(json::parse(s.before, nullptr, false));
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

std::string RunSummary::toJson() const
{
    return nlohmann::json {{"layers", layers}, {"relative_norms", relativeNorms}, {"residual_before", residualBefore},
        {"residual_after", residualAfter}, {"mean_target_probability", meanTargetProbability}, {"seconds", seconds},
        {"rebased_history", rebasedHistory}}
        .dump();
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
    } catch (const nlohmann::json::exception &e) {
        throw Error(
            ErrorKind::CorruptFile, std::string("the run summary has a value of the wrong type (") + e.what() + ")");
    }
    return s;
}

int64_t Project::recordRun(const EditRun &run, const std::vector<StoredDelta> &deltas)
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
    auto patchSt = m_db->prepare("INSERT INTO patch_tensor(run_id, name, base_hash, shape, relative_norm, delta) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    for (const auto &d : deltas) {
        patchSt.bind(1, id)
            .bind(2, d.name)
            .bind(3, d.baseHash)
            .bind(4, json(d.shape).dump())
            .bind(5, d.relativeNorm)
            .bindBlob(6, d.data.data(), d.data.size());
        patchSt.run();
    }
    stallPoint("project:record-run"); // crash-safety tests kill the process here, mid-transaction
    t.commit();
    return id;
}

std::vector<EditRun> Project::runs() const
{
    std::vector<int64_t> ids;
    {
        auto st = m_db->prepare("SELECT id FROM edit_run ORDER BY id");
        while (st.step())
            ids.push_back(st.integer(0));
    }
    std::vector<EditRun> out;
    for (int64_t id : ids)
        out.push_back(*run(id));
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
    auto st = m_db->prepare(
        "SELECT name, base_hash, shape, relative_norm, delta FROM patch_tensor WHERE run_id = ?1 ORDER BY rowid");
    st.bind(1, runId);
    std::vector<StoredDelta> out;
    while (st.step()) {
        StoredDelta d {st.text(0), st.text(1), parseShape(st.text(2)), st.real(3), st.blob(4)};
        int64_t numel = 1;
        for (auto s : d.shape)
            numel *= s;
        if (static_cast<int64_t>(d.data.size()) != numel * 4)
            throw Error(ErrorKind::CorruptFile,
                m_file.string() + ": the stored patch of run " + std::to_string(runId) + " for '" + d.name + "' has "
                    + std::to_string(d.data.size()) + " bytes, its shape needs " + std::to_string(numel * 4));
        out.push_back(std::move(d));
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

std::vector<std::string> Project::check() const
{
    std::vector<std::string> problems;
    {
        auto st = m_db->prepare("PRAGMA integrity_check");
        while (st.step())
            if (st.text(0) != "ok")
                problems.push_back("integrity: " + st.text(0));
    }
    {
        auto st = m_db->prepare("PRAGMA foreign_key_check");
        while (st.step())
            problems.push_back("foreign key: table " + st.text(0) + " row " + std::to_string(st.integer(1))
                + " refers to a missing " + st.text(2));
    }
    for (const auto &r : runs()) {
        try {
            const auto deltas = patch(r.id);
            if (r.status == RunStatus::Applied && deltas.empty())
                problems.push_back("run " + std::to_string(r.id) + " is applied but has no stored patch");
        } catch (const Error &e) {
            problems.push_back(e.what());
        }
    }
    return problems;
}

void Project::branch(int64_t runId, const std::filesystem::path &out) const
{
    if (runId > 0 && !run(runId))
        throw Error(ErrorKind::InvalidArgument, "no run " + std::to_string(runId) + " in " + m_file.string());
    if (std::filesystem::exists(out))
        throw Error(ErrorKind::InvalidArgument, out.string() + " already exists; choose another name");
    const std::filesystem::path temp = out.string() + ".creating";
    std::filesystem::remove(temp);
    try {
        m_db->prepare("VACUUM INTO ?1").bind(1, temp.string()).run();
        {
            Database copy(temp, Database::Mode::ReadWrite);
            copy.exec("PRAGMA foreign_keys = ON");
            Transaction t(copy);
            copy.prepare("DELETE FROM evaluation WHERE run_id > ?1").bind(1, runId).run();
            copy.prepare("DELETE FROM edit_run WHERE id > ?1").bind(1, runId).run();
            copy.prepare("INSERT OR REPLACE INTO project_meta(key, value) VALUES ('branched_from', ?1)")
                .bind(1, m_file.string() + " at run " + std::to_string(runId))
                .run();
            t.commit();
            copy.exec("PRAGMA journal_mode = DELETE");
        }
        std::filesystem::rename(temp, out);
    } catch (...) {
        std::error_code ec;
        std::filesystem::remove(temp, ec);
        throw;
    }
}

} // namespace engram
