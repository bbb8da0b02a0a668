// The project file: schema and migrations, create/open, model and settings, integrity check,
// branches. Facts, runs and results are in projectfacts.cpp, projectruns.cpp, projectresults.cpp.

#include "core/project/project.h"

#include "core/project/projectsupport.h"
#include "core/project/sqlite.h"
#include "core/util/error.h"

#include <nlohmann/json.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <iterator>
#include <map>
#include <set>

namespace engram {

using nlohmann::json;
using namespace projectdetail;

namespace {

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

// Schema 3: a content hash of every stored weight delta, checked whenever a patch is read, so
// damaged patch bytes are found before they reach a model (issue 18). Backfilled on migration.
const char *kMigration3 = R"sql(
ALTER TABLE patch_tensor ADD COLUMN delta_hash TEXT NOT NULL DEFAULT '';
)sql";

// Schema 4: each MEMIT/AlphaEdit run's keys per edited layer, read on the model after the run,
// so later runs can keep earlier ones as memories (C_p) and revert / re-apply stay exact (issue 19).
const char *kMigration4 = R"sql(
CREATE TABLE run_key(
  run_id INTEGER NOT NULL REFERENCES edit_run(id) ON DELETE CASCADE, layer INTEGER NOT NULL,
  dim INTEGER NOT NULL, count INTEGER NOT NULL, keys BLOB NOT NULL, keys_hash TEXT NOT NULL,
  PRIMARY KEY (run_id, layer));
)sql";

// Schema 5: runs the health guard held back (issue 19): 'held' (computed and stored, not applied;
// the user applies or discards it) and 'discarded'. SQLite cannot change a CHECK constraint, so
// edit_run is rebuilt (with foreign keys off: the tables that refer to it keep their rows).
const char *kMigration5 = R"sql(
CREATE TABLE edit_run_v5(
  id INTEGER PRIMARY KEY, model_id INTEGER NOT NULL REFERENCES model(id), method TEXT NOT NULL,
  params_json TEXT NOT NULL, seed INTEGER NOT NULL, device TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('applied', 'reverted', 'cancelled', 'failed', 'held', 'discarded')),
  created_at TEXT NOT NULL, seconds REAL NOT NULL DEFAULT 0, summary_json TEXT NOT NULL DEFAULT '{}',
  provenance_json TEXT NOT NULL DEFAULT '{}', base_state TEXT NOT NULL DEFAULT '',
  result_state TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '');
INSERT INTO edit_run_v5 SELECT id, model_id, method, params_json, seed, device, status, created_at, seconds,
  summary_json, provenance_json, base_state, result_state, message FROM edit_run;
DROP TABLE edit_run;
ALTER TABLE edit_run_v5 RENAME TO edit_run;
)sql";

const char *const kMigrations[] = {kMigration1, kMigration2, kMigration3, kMigration4, kMigration5};
static_assert(std::size(kMigrations) == Project::kSchemaVersion, "one migration per schema version");

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
            // Foreign keys stay off while the schema is built (migration 5 rebuilds a table).
            db.exec("PRAGMA journal_mode = DELETE; PRAGMA foreign_keys = OFF;");
            Transaction t(db);
            for (const char *step : kMigrations)
                db.exec(step);
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
        // Nothing is written into a damaged file: its pages are checked before any write.
        if (!readOnly) {
            std::string damage;
            try {
                auto st = probe.prepare("PRAGMA quick_check(5)");
                while (st.step())
                    if (st.text(0) != "ok")
                        damage += (damage.empty() ? "" : "; ") + st.text(0);
            } catch (const Error &e) {
                damage = e.what(); // SQLite gives up on pages it cannot read
            }
            if (!damage.empty())
                throw Error(ErrorKind::CorruptFile,
                    file.string() + " is damaged (" + damage
                        + "); it was not opened for writing and not changed. `engram-cli project check` lists "
                          "the damage; restore the file from a backup");
        }
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
        project->verifyStoredPatches();
    } else if (project->schemaVersion() < kSchemaVersion) {
        throw Error(ErrorKind::Unsupported,
            file.string() + " uses project schema " + std::to_string(project->schemaVersion())
                + " and must be upgraded; open it read-write once");
    }
    return project;
}

void Project::migrate()
{
    if (schemaVersion() >= kSchemaVersion)
        return;
    // Rebuilding edit_run (schema 5) must not cascade into the tables that refer to it: foreign
    // keys are off during the upgrade (SQLite only switches them outside a transaction).
    m_db->exec("PRAGMA foreign_keys = OFF");
    struct ForeignKeysBackOn {
        Database &db;
        ~ForeignKeysBackOn()
        {
            try {
                db.exec("PRAGMA foreign_keys = ON");
            } catch (...) {
                // Nothing to do: the connection is closed with the failure that got us here.
            }
        }
    } restore {*m_db};
    for (int v = schemaVersion(); v < kSchemaVersion; ++v) {
        Transaction t(*m_db);
        m_db->exec(kMigrations[v]); // kMigrations[v] takes version v to v + 1
        if (v + 1 == 2) {
            // Backfill the audit log so that every existing fact has a first entry.
            std::vector<Fact> existing;
            {
                auto st = m_db->prepare(std::string("SELECT ") + kFactColumns + " FROM fact ORDER BY id");
                while (st.step())
                    existing.push_back(readFact(st));
            }
            for (const auto &f : existing) {
                std::string after;
                try {
                    after = factJson(f).dump();
                } catch (const json::exception &) {
                    // Text an older Engram stored without checking; the audit log needs JSON.
                    throw Error(ErrorKind::CorruptFile,
                        m_file.string() + ": fact " + std::to_string(f.id)
                            + " holds text that is not valid UTF-8; the file was not upgraded (it stays at schema 1)");
                }
                logEvent(*m_db, 1, f.id, "migrated", {}, after);
            }
        }
        if (v + 1 == 3) {
            // Hash the patches as they are now: later damage is then found when they are read.
            std::vector<std::pair<int64_t, std::string>> rows;
            {
                auto st = m_db->prepare("SELECT rowid, delta FROM patch_tensor");
                while (st.step()) {
                    const auto blob = st.blob(1);
                    rows.emplace_back(st.integer(0), patchDeltaHash(blob.data(), blob.size()));
                }
            }
            auto up = m_db->prepare("UPDATE patch_tensor SET delta_hash = ?2 WHERE rowid = ?1");
            for (const auto &[row, hash] : rows)
                up.bind(1, row).bind(2, hash).run();
        }
        m_db->exec("PRAGMA user_version = " + std::to_string(v + 1));
        t.commit();
    }
}

void Project::verifyStoredPatches() const
{
    // Every stored delta against its recorded hash (reads each patch once: about a second per
    // few GB). Damaged patch bytes would otherwise reach a model, or be copied into new runs.
    auto st = m_db->prepare("SELECT run_id, name, delta, delta_hash FROM patch_tensor ORDER BY run_id, rowid");
    while (st.step()) {
        const std::string recorded = st.text(3);
        if (recorded.empty())
            continue;
        const auto blob = st.blob(2);
        if (patchDeltaHash(blob.data(), blob.size()) != recorded)
            throw Error(ErrorKind::CorruptFile,
                m_file.string() + " is damaged: the stored patch of run " + std::to_string(st.integer(0)) + " for '"
                    + st.text(1)
                    + "' does not match its recorded hash. It was not opened for writing and not changed; "
                      "`engram-cli project check` lists the damage, `project branch` can copy the history "
                      "before that run; or restore the file from a backup");
    }
    auto keys = m_db->prepare("SELECT run_id, layer, keys, keys_hash FROM run_key ORDER BY run_id, layer");
    while (keys.step()) {
        const auto blob = keys.blob(2);
        if (patchDeltaHash(blob.data(), blob.size()) != keys.text(3))
            throw Error(ErrorKind::CorruptFile,
                m_file.string() + " is damaged: the stored keys of run " + std::to_string(keys.integer(0))
                    + " at layer " + std::to_string(keys.integer(1))
                    + " do not match their recorded hash. It was not opened for writing and not changed; "
                      "`engram-cli project check` lists the damage; restore the file from a backup");
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

std::vector<std::string> Project::check() const
{
    std::vector<std::string> problems;
    // SQLite stops with an error on pages it cannot read at all: that is a finding too.
    const auto guarded = [&](auto &&step) {
        try {
            step();
        } catch (const Error &e) {
            problems.push_back(e.what());
        }
    };
    guarded([&] {
        auto st = m_db->prepare("PRAGMA integrity_check");
        while (st.step())
            if (st.text(0) != "ok")
                problems.push_back("integrity: " + st.text(0));
    });
    guarded([&] {
        auto st = m_db->prepare("PRAGMA foreign_key_check");
        while (st.step())
            problems.push_back("foreign key: table " + st.text(0) + " row " + std::to_string(st.integer(1))
                + " refers to a missing " + st.text(2));
    });
    guarded([&] {
        for (const auto &r : runs()) {
            try {
                const auto deltas = patch(r.id);
                if (r.status == RunStatus::Applied && deltas.empty())
                    problems.push_back("run " + std::to_string(r.id) + " is applied but has no stored patch");
                (void)runKeys(r.id);
            } catch (const Error &e) {
                problems.push_back(e.what());
            }
        }
    });
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
