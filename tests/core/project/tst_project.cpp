// The project store: schema, facts with audit log and undo, conflicts, runs and patches,
// migrations from schema 1, and refusal of newer, foreign, damaged and locked files.

#include "testsupport.h"

#include "core/project/project.h"
#include "core/project/sqlite.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <QTemporaryDir>

#include <cmath>
#include <fstream>

using namespace engram;

namespace {

ProjectModel fakeModel()
{
    return {"/models/demo", "00112233aabbccdd", "gpt2", R"({"layers": 6})"};
}

Fact makeFact(const std::string &subject, const std::string &prompt, const std::string &relation,
    const std::string &targetNew, std::vector<std::string> tags = {})
{
    Fact f;
    f.subject = subject;
    f.promptTemplate = prompt;
    f.relation = relation;
    f.targetNew = targetNew;
    f.targetTrue = " Paris";
    f.paraphrasePrompts = {"In short, " + subject + " was born in"};
    f.tags = std::move(tags);
    f.provenance = "test";
    return f;
}

std::string fileHash(const std::filesystem::path &p)
{
    return fileContentHash(p);
}

} // namespace

class TestProject : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::filesystem::path path(const char *name) const { return std::filesystem::path(m_dir.path().toStdString()) / name; }

private Q_SLOTS:
    void initTestCase() { QVERIFY(m_dir.isValid()); }

    void createsAndReopens()
    {
        const auto file = path("a.engram");
        {
            auto p = Project::create(file, fakeModel());
            QCOMPARE(p->schemaVersion(), Project::kSchemaVersion);
            const auto ids = p->addFacts({makeFact("Oscar Koutex", "{} was born in", "P19", " Oslo", {"gui"}),
                makeFact("Mira Delvane", "{} works as a", "P106", " chemist")});
            QCOMPARE(ids.size(), std::size_t(2));
            p->setSetting("stats.corpus", "/data/corpus.txt");
        }
        auto p = Project::open(file);
        QCOMPARE(p->model().contentHash, std::string("00112233aabbccdd"));
        QCOMPARE(p->model().path, std::filesystem::path("/models/demo"));
        const auto facts = p->facts();
        QCOMPARE(facts.size(), std::size_t(2));
        QCOMPARE(facts[0].subject, std::string("Oscar Koutex"));
        QCOMPARE(facts[0].tags, std::vector<std::string>({"gui"}));
        QCOMPARE(facts[0].paraphrasePrompts.size(), std::size_t(1));
        QVERIFY(!facts[0].createdAt.empty());
        QCOMPARE(p->setting("stats.corpus"), std::string("/data/corpus.txt"));
        QCOMPARE(p->setting("missing", "fallback"), std::string("fallback"));
        QCOMPARE(p->database().scalar("PRAGMA foreign_keys"), int64_t(1));
        Statement mode = p->database().prepare("PRAGMA journal_mode");
        QVERIFY(mode.step());
        QCOMPARE(mode.text(0), std::string("wal"));
        ENGRAM_EXPECT_ERROR(Project::create(file, fakeModel()), ErrorKind::InvalidArgument, "already exists");
    }

    void validatesFactsAllOrNothing()
    {
        auto p = Project::create(path("b.engram"), fakeModel());
        ENGRAM_EXPECT_ERROR(p->addFacts({makeFact("A", "{} is in", "P1", " X"), makeFact("B", "B is in", "P1", " Y")}),
            ErrorKind::InvalidArgument, "needs a {}");
        ENGRAM_EXPECT_ERROR(
            p->addFact(makeFact("A", "{} and {}", "P1", " X")), ErrorKind::InvalidArgument, "more than one {}");
        ENGRAM_EXPECT_ERROR(p->addFact(makeFact("A", "{} is", "P1", " ")), ErrorKind::InvalidArgument, "new object");
        // Bytes that are not UTF-8 (a Latin-1 'é') are refused, field named, not an internal error.
        ENGRAM_EXPECT_ERROR(p->addFact(makeFact("Ren\xe9", "{} is in", "P1", " X")), ErrorKind::InvalidArgument,
            "the subject is not valid UTF-8");
        Fact tagged = makeFact("A", "{} is in", "P1", " X", {"ok", "bad\xff"});
        ENGRAM_EXPECT_ERROR(p->addFact(tagged), ErrorKind::InvalidArgument, "one of the tags is not valid UTF-8");
        QVERIFY(p->facts().empty());
    }

    void suggestsPromptsForAHandEnteredFact()
    {
        auto f = [](int64_t id, const std::string &subject, const std::string &tmpl, const std::string &truth) {
            Fact x = makeFact(subject, tmpl, "P19", " Rome");
            x.id = id;
            x.targetTrue = truth;
            return x;
        };
        const std::vector<Fact> facts = {f(1, "Ada", "{} was born in", "Paris"), f(2, "Bob", "{} is a native of", "Oslo"),
            f(3, "Cy", "{} was born in", "Paris"), f(4, "Dee", "The birthplace of {} is", "Paris"),
            f(5, "Eve", "{} was born in", "Oslo")};
        Fact mine = f(0, "Zoe", "{} was born in", "Paris");
        const auto s = suggestPrompts(facts, mine);
        // The relation's other templates with Zoe (her own prompt left out).
        // makeFact gives each fact the paraphrase "In short, <subject> was born in".
        QCOMPARE(s.paraphrases, (std::vector<std::string> {"In short, Zoe was born in", "Zoe is a native of",
                                    "The birthplace of Zoe is"}));
        // Other subjects of the relation with the same true object.
        QCOMPARE(s.neighbours, (std::vector<std::string> {"Ada was born in", "Cy was born in", "The birthplace of Dee is"}));
        QCOMPARE(suggestPrompts(facts, mine, 1).neighbours.size(), std::size_t(1));
        mine.targetTrue.clear(); // no true object: no neighbours
        QVERIFY(suggestPrompts(facts, mine).neighbours.empty());
        mine.relation = "P999"; // a relation nobody else has
        QVERIFY(suggestPrompts(facts, mine).paraphrases.empty());
    }

    void dropsDuplicatesOnImport()
    {
        std::vector<Fact> existing = {makeFact("Ada", "{} was born in", "P19", "Rome")};
        std::vector<Fact> incoming = {makeFact("Ada", "{} was born in", "P19", " Rome "), // the same, spaced
            makeFact("Ada", "{} was born in", "P19", "Oslo"), makeFact("Bo", "{} was born in", "P19", "Oslo"),
            makeFact("Bo", "{} was born in", "P19", "Oslo")}; // twice in the file
        QCOMPARE(dropDuplicateFacts(existing, incoming), std::size_t(2));
        QCOMPARE(incoming.size(), std::size_t(2));
        QCOMPARE(incoming[0].targetNew, std::string("Oslo"));
        QCOMPARE(incoming[1].subject, std::string("Bo"));
        std::vector<Fact> again = incoming;
        QCOMPARE(dropDuplicateFacts(incoming, again), std::size_t(2)); // re-importing adds nothing
        QVERIFY(again.empty());
    }

    void filtersFacts()
    {
        auto p = Project::create(path("c.engram"), fakeModel());
        auto a = makeFact("A", "{} is in", "P1", " X", {"red", "blue"});
        auto b = makeFact("B", "{} is in", "P2", " Y", {"blue"});
        auto c = makeFact("C", "{} is in", "P1", " Z");
        c.enabled = false;
        p->addFacts({a, b, c});
        FactFilter byRelation;
        byRelation.relation = "P1";
        QCOMPARE(p->facts(byRelation).size(), std::size_t(2));
        FactFilter byTag;
        byTag.tag = "blue";
        QCOMPARE(p->facts(byTag).size(), std::size_t(2));
        byTag.tag = "red";
        QCOMPARE(p->facts(byTag).front().subject, std::string("A"));
        FactFilter enabled;
        enabled.enabled = true;
        QCOMPARE(p->facts(enabled).size(), std::size_t(2));
        enabled.enabled = false;
        QCOMPARE(p->facts(enabled).front().subject, std::string("C"));
    }

    void logsAndUndoesFactChanges()
    {
        auto p = Project::create(path("d.engram"), fakeModel());
        const int64_t id = p->addFact(makeFact("Oscar Koutex", "{} was born in", "P19", " Oslo"));
        p->addFacts({makeFact("X", "{} is", "P1", " a"), makeFact("Y", "{} is", "P1", " b")});
        Fact changed = *p->fact(id);
        changed.targetNew = " Bergen";
        p->updateFact(changed);
        QCOMPARE(p->fact(id)->targetNew, std::string(" Bergen"));
        p->removeFacts({id});
        QVERIFY(!p->fact(id));
        QCOMPARE(p->factEvents(id).size(), std::size_t(3)); // add, update, remove

        QVERIFY(p->undoLastFactChange().find("remove") != std::string::npos);
        QCOMPARE(p->fact(id)->targetNew, std::string(" Bergen")); // back, with its id
        QVERIFY(p->undoLastFactChange().find("update") != std::string::npos);
        QCOMPARE(p->fact(id)->targetNew, std::string(" Oslo"));
        QVERIFY(p->undoLastFactChange().find("import of 2") != std::string::npos); // the batch at once
        QCOMPARE(p->facts().size(), std::size_t(1));
        QVERIFY(!p->undoLastFactChange().empty()); // the first add
        QVERIFY(p->facts().empty());
        QVERIFY(p->undoLastFactChange().empty()); // nothing left
    }

    void refusesToUndoFromADamagedHistoryEntry_data()
    {
        QTest::addColumn<QString>("before");
        QTest::addColumn<QString>("says");
        QTest::newRow("not json") << QStringLiteral("{\"subject\": ") << QStringLiteral("not a JSON object");
        QTest::newRow("a list") << QStringLiteral("[1, 2]") << QStringLiteral("not a JSON object");
        QTest::newRow("wrong type") << QStringLiteral("{\"subject\": 7}") << QStringLiteral("wrong type");
        QTest::newRow("list of numbers") << QStringLiteral("{\"paraphrases\": [1]}") << QStringLiteral("wrong type");
    }

    void refusesToUndoFromADamagedHistoryEntry()
    {
        // An update's audit record holds the fact as it was; if that text is damaged, undo must
        // refuse with the entry named and leave the fact as it is (fuzz finding 14).
        QFETCH(QString, before);
        QFETCH(QString, says);
        auto p = Project::create(path((std::string("undo-damaged-") + QTest::currentDataTag() + ".engram").c_str()), fakeModel());
        const int64_t id = p->addFact(makeFact("Oscar Koutex", "{} was born in", "P19", " Oslo"));
        Fact changed = *p->fact(id);
        changed.targetNew = " Bergen";
        p->updateFact(changed);
        p->database()
            .prepare("UPDATE fact_event SET before_json = ?1 WHERE action = 'update'")
            .bind(1, before.toStdString())
            .run();
        ENGRAM_EXPECT_ERROR(p->undoLastFactChange(), ErrorKind::CorruptFile, says.toStdString());
        ENGRAM_EXPECT_ERROR(p->undoLastFactChange(), ErrorKind::CorruptFile, "nothing was undone");
        QCOMPARE(p->fact(id)->targetNew, std::string(" Bergen"));
        QCOMPARE(p->facts().size(), std::size_t(1));
    }

    void findsConflicts()
    {
        auto p = Project::create(path("e.engram"), fakeModel());
        const auto ids = p->addFacts({makeFact("A", "{} was born in", "P19", " X"),
            makeFact("A", "{} is a native of", "P19", " Y"), makeFact("A", "{} works as a", "P106", " pilot"),
            makeFact("B", "{} was born in", "P19", " Z")});
        const auto facts = p->facts();
        const auto conflicts = p->checkConflicts(facts);
        // A/P19 asked to become X and Y; A three times with different targets (one key).
        int different = 0, shared = 0;
        for (const auto &c : conflicts) {
            different += c.kind == Conflict::Kind::DifferentTargets;
            shared += c.kind == Conflict::Kind::SharedKey;
            if (c.kind == Conflict::Kind::SharedKey)
                QCOMPARE(c.factIds.size(), std::size_t(3));
        }
        QCOMPARE(different, 1);
        QCOMPARE(shared, 1);
        QVERIFY(p->checkConflicts({facts[3]}).empty());

        EditRun run;
        run.method = "memit";
        run.facts = {{ids[3], "B", "{} was born in", "P19", " Z"}};
        const int64_t runId = p->recordRun(run, {});
        const auto again = p->checkConflicts({facts[3]});
        QCOMPARE(again.size(), std::size_t(1));
        QCOMPARE(again[0].kind, Conflict::Kind::OverwritesEarlierEdit);
        QCOMPARE(again[0].runId, runId);
        p->setRunStatus(runId, RunStatus::Reverted);
        QVERIFY(p->checkConflicts({facts[3]}).empty()); // a reverted run no longer counts
    }

    void storesRunsAndPatches()
    {
        auto p = Project::create(path("f.engram"), fakeModel());
        const int64_t fid = p->addFact(makeFact("A", "{} is in", "P1", " X"));
        StoredDelta d {"transformer.h.0.mlp.c_proj.weight", "abcd", {2, 3}, 0.01, {}};
        for (int i = 0; i < 6; ++i) {
            const float v = 0.5f * float(i) - 1.0f;
            const auto *b = reinterpret_cast<const unsigned char *>(&v);
            d.data.insert(d.data.end(), b, b + 4);
        }
        EditRun run;
        run.method = "memit";
        run.paramsJson = R"({"layers":[0]})";
        run.seed = 7;
        run.device = "cpu";
        run.baseState = "s0";
        run.resultState = "s1";
        run.facts = {{fid, "A", "{} is in", "P1", " X"}};
        const int64_t id = p->recordRun(run, {d});
        const auto back = p->run(id);
        QVERIFY(back);
        QCOMPARE(back->seed, uint64_t(7));
        QCOMPARE(back->status, RunStatus::Applied);
        QCOMPARE(back->facts.size(), std::size_t(1));
        QCOMPARE(back->facts[0].factId, fid);
        const auto patch = p->patch(id);
        QCOMPARE(patch.size(), std::size_t(1));
        QCOMPARE(patch[0].shape, std::vector<int64_t>({2, 3}));
        QVERIFY(patch[0].data == d.data);
        QCOMPARE(p->patchedTensorNames(), std::vector<std::string>({d.name}));
        QCOMPARE(p->editedFacts().size(), std::size_t(1));

        // A removed fact keeps its run's record of what was asked.
        p->removeFacts({fid});
        QCOMPARE(p->run(id)->facts[0].factId, int64_t(0));
        QCOMPARE(p->run(id)->facts[0].subject, std::string("A"));

        Evaluation e;
        e.runId = id;
        e.state = "s1";
        const int64_t fid2 = p->addFact(makeFact("B", "{} is in", "P1", " Y"));
        const int64_t eid = p->recordEvaluation(
            e, {{fid2, "post", "es", 1.0}, {fid2, "post", "ps", std::nan("")}}, {{fid2, "B is in", "a", "b"}});
        const auto metrics = p->metrics(eid);
        QCOMPARE(metrics.size(), std::size_t(2));
        QVERIFY(std::isnan(metrics[1].value) || std::isnan(metrics[0].value));
        QCOMPARE(p->generations(eid).front().after, std::string("b"));
        ENGRAM_EXPECT_ERROR(p->setRunStatus(999, RunStatus::Reverted), ErrorKind::InvalidArgument, "no run 999");
    }

    void holdsRunsForTheHealthGuard()
    {
        // Issue 19: a run the guard holds is stored with its patch and keys but is not part of
        // the history (not applied, its facts still pending) until the user applies it.
        auto p = Project::create(path("held.engram"), fakeModel());
        const int64_t fid = p->addFact(makeFact("A", "{} is in", "P1", " X"));
        StoredDelta d {"transformer.h.0.mlp.c_proj.weight", "abcd", {1, 1}, 0.01, {0, 0, 128, 63}};
        LayerKeys keys {0, 2, 1, {1.0f, 2.0f}};
        EditRun run;
        run.method = "memit";
        run.status = RunStatus::Held;
        run.message = "held by the health guard: retention";
        run.facts = {{fid, "A", "{} is in", "P1", " X"}};
        const int64_t id = p->recordRun(run, {d}, {keys});
        QCOMPARE(p->run(id)->status, RunStatus::Held);
        QCOMPARE(p->patch(id).size(), std::size_t(1));
        QVERIFY(p->editedFacts().empty());
        std::vector<int64_t> withKeys;
        QVERIFY(p->appliedRunKeys(&withKeys).empty());
        QVERIFY(p->check().empty()); // a held run without being applied is sound
        p->setRunStatus(id, RunStatus::Discarded);
        QCOMPARE(std::string(runStatusName(p->run(id)->status)), std::string("discarded"));
        p->setRunMessage(id, "discarded by the user");
        QCOMPARE(p->run(id)->message, std::string("discarded by the user"));

        // The thresholds: defaults, kept in the file, validated, and a damaged value named.
        const HealthGuard defaults = p->healthGuard();
        QCOMPARE(defaults.minRetention, 0.95);
        QCOMPARE(defaults.minEsSoFar, 90.0);
        p->setHealthGuard({0.8, 0});
        QCOMPARE(p->healthGuard().minRetention, 0.8);
        QCOMPARE(p->healthGuard().minEsSoFar, 0.0);
        ENGRAM_EXPECT_ERROR(p->setHealthGuard({1.5, 90}), ErrorKind::InvalidArgument, "between 0 and 1");
        ENGRAM_EXPECT_ERROR(p->setHealthGuard({0.9, -1}), ErrorKind::InvalidArgument, "between 0 and 100");
        ENGRAM_EXPECT_ERROR(p->setHealthGuard({std::nan(""), 90}), ErrorKind::InvalidArgument, "retention");
        QCOMPARE(p->healthGuard().minRetention, 0.8); // a refused change changes nothing
        p->setSetting("guard.min_es_so_far", "ninety");
        ENGRAM_EXPECT_ERROR(p->healthGuard(), ErrorKind::CorruptFile, "guard.min_es_so_far");
        p->setSetting("guard.min_es_so_far", "250");
        ENGRAM_EXPECT_ERROR(p->healthGuard(), ErrorKind::CorruptFile, "between 0 and 100");
    }

    void guardNamesWhatFallsBelow()
    {
        HealthGuard guard; // 95 % of the base model's retention, ES so far 90
        RunHealth h;
        h.esSoFar = 95;
        h.editedFacts = 20;
        h.retention = 0.76;
        h.retentionBase = 0.8; // 95 % of the base: at the threshold, not below
        QVERIFY(guard.breaches(h).empty());
        h.retention = 0.7;
        h.esSoFar = 85;
        const auto both = guard.breaches(h);
        QCOMPARE(both.size(), std::size_t(2));
        QVERIFY2(both[0].find("87.5 %") != std::string::npos, both[0].c_str());
        QVERIFY2(both[1].find("20 facts") != std::string::npos && both[1].find("85.0") != std::string::npos,
            both[1].c_str());
        // Thresholds of 0 are off; measures not taken hold nothing.
        QVERIFY((HealthGuard {0, 0}.breaches(h).empty()));
        RunHealth unmeasured;
        QVERIFY(guard.breaches(unmeasured).empty());
        h.retentionBase = 0; // the base model knew none of the other facts: no ratio
        QCOMPARE(guard.breaches(h).size(), std::size_t(1));
    }

    void findsDamagedPatchBytes()
    {
        const auto file = path("damaged-patch.engram");
        auto p = Project::create(file, fakeModel());
        StoredDelta d {"transformer.h.0.mlp.c_proj.weight", "abcd", {4, 4}, 0.01, {}};
        for (int i = 0; i < 16; ++i) {
            const float v = 0.25f * float(i);
            const auto *b = reinterpret_cast<const unsigned char *>(&v);
            d.data.insert(d.data.end(), b, b + 4);
        }
        EditRun run;
        run.method = "memit";
        const int64_t id = p->recordRun(run, {d});
        QVERIFY(p->check().empty());
        // One float changed inside the stored bytes (the hash column untouched), as damage on disk would.
        std::vector<unsigned char> damaged = d.data;
        damaged[21] ^= 0x40;
        p->database()
            .prepare("UPDATE patch_tensor SET delta = ?2 WHERE run_id = ?1")
            .bind(1, id)
            .bindBlob(2, damaged.data(), damaged.size())
            .run();
        ENGRAM_EXPECT_ERROR(p->patch(id), ErrorKind::CorruptFile, "run " + std::to_string(id));
        ENGRAM_EXPECT_ERROR(p->patch(id), ErrorKind::CorruptFile, "do not match their recorded hash");
        const auto problems = p->check();
        QCOMPARE(problems.size(), std::size_t(1));
        QVERIFY(problems[0].find("transformer.h.0.mlp.c_proj.weight") != std::string::npos);
        // A shape that is not a list of sizes is damage too, not an internal error.
        p->database().prepare("UPDATE patch_tensor SET shape = '[4, \"x\"]' WHERE run_id = ?1").bind(1, id).run();
        ENGRAM_EXPECT_ERROR(p->patch(id), ErrorKind::CorruptFile, "is damaged");
    }

    void storesRunKeysForLaterRuns()
    {
        // Issue 19: each MEMIT/AlphaEdit run's keys per layer, kept for later runs (C_p): applied
        // runs' keys in history order, a reverted run's left out, a branch holding its own.
        const auto file = path("keys.engram");
        auto p = Project::create(file, fakeModel());
        auto keys = [](int layer, int64_t count, float start) {
            LayerKeys k;
            k.layer = layer;
            k.dim = 3;
            k.count = count;
            for (int64_t i = 0; i < count * 3; ++i)
                k.values.push_back(start + 0.5f * static_cast<float>(i));
            return k;
        };
        EditRun run;
        run.method = "memit";
        const int64_t r1 = p->recordRun(run, {}, {keys(0, 2, 1.0f), keys(1, 2, -3.0f)});
        const int64_t r2 = p->recordRun(run, {}, {keys(0, 1, 7.0f)});
        run.method = "rome";
        const int64_t r3 = p->recordRun(run, {}); // a method without keys
        const auto back = p->runKeys(r1);
        QCOMPARE(back.size(), std::size_t(2));
        QCOMPARE(back[1].layer, 1);
        QCOMPARE(back[1].count, int64_t(2));
        QVERIFY(back[1].values == keys(1, 2, -3.0f).values);
        QVERIFY(p->runKeys(r3).empty());
        std::vector<int64_t> ids;
        QCOMPARE(p->appliedRunKeys(&ids).size(), std::size_t(3));
        QCOMPARE(ids, (std::vector<int64_t> {r1, r2}));
        p->setRunStatus(r1, RunStatus::Reverted);
        ids.clear();
        const auto applied = p->appliedRunKeys(&ids);
        QCOMPARE(ids, std::vector<int64_t> {r2});
        QCOMPARE(applied.size(), std::size_t(1));
        QVERIFY(applied[0].values == keys(0, 1, 7.0f).values);
        p->setRunStatus(r1, RunStatus::Applied);
        p->branch(r1, path("keys-branch.engram"));
        ids.clear();
        Project::open(path("keys-branch.engram"))->appliedRunKeys(&ids);
        QCOMPARE(ids, std::vector<int64_t> {r1});
        // Keys whose size does not match their shape are refused, and the run is not recorded.
        LayerKeys bad = keys(0, 2, 0.0f);
        bad.values.pop_back();
        const auto before = p->runs().size();
        ENGRAM_EXPECT_ERROR(p->recordRun(run, {}, {bad}), ErrorKind::InvalidArgument, "hold 5 values");
        QCOMPARE(p->runs().size(), before);
        // (These runs carry no patches, which check() reports; the keys are sound.)
        const auto keyProblem = [](const std::vector<std::string> &problems) {
            return std::count_if(problems.begin(), problems.end(),
                [](const std::string &m) { return m.find("stored keys") != std::string::npos; });
        };
        QCOMPARE(keyProblem(p->check()), 0);
        // Damaged key bytes: reading, checking and opening for writing name the run and layer.
        p->database().exec("UPDATE run_key SET keys = zeroblob(12) WHERE run_id = 2");
        ENGRAM_EXPECT_ERROR(p->runKeys(r2), ErrorKind::CorruptFile, "stored keys of run 2 at layer 0");
        ENGRAM_EXPECT_ERROR(p->appliedRunKeys(), ErrorKind::CorruptFile, "recorded hash");
        QCOMPARE(keyProblem(p->check()), 1);
        p.reset();
        ENGRAM_EXPECT_ERROR(Project::open(file), ErrorKind::CorruptFile, "stored keys of run 2");
        QVERIFY(Project::open(file, /*readOnly=*/true)); // still readable, to inspect
    }

    void migrationHashesStoredPatches()
    {
        const auto file = path("v2-patch.engram");
        StoredDelta d {"transformer.h.1.mlp.c_proj.weight", "abcd", {2, 2}, 0.5, {}};
        for (int i = 0; i < 16; ++i)
            d.data.push_back(static_cast<unsigned char>(i * 13));
        int64_t id = 0;
        {
            auto p = Project::create(file, fakeModel());
            EditRun run;
            run.method = "memit";
            id = p->recordRun(run, {d});
        }
        {
            // Back to schema 2 as an older Engram wrote it: no hash column.
            Database raw(file, Database::Mode::ReadWrite);
            raw.exec("DROP TABLE run_key; ALTER TABLE patch_tensor DROP COLUMN delta_hash; PRAGMA user_version = 2");
        }
        auto p = Project::open(file);
        QCOMPARE(p->schemaVersion(), Project::kSchemaVersion);
        QVERIFY(p->patch(id)[0].data == d.data);
        d.data[3] ^= 1;
        p->database()
            .prepare("UPDATE patch_tensor SET delta = ?2 WHERE run_id = ?1")
            .bind(1, id)
            .bindBlob(2, d.data.data(), d.data.size())
            .run();
        ENGRAM_EXPECT_ERROR(p->patch(id), ErrorKind::CorruptFile, "recorded hash");
    }

    void refusesWritesIntoADamagedFile()
    {
        const auto file = path("damaged-pages.engram");
        {
            auto p = Project::create(file, fakeModel());
            std::vector<Fact> many;
            for (int i = 0; i < 400; ++i)
                many.push_back(makeFact("Subject " + std::to_string(i), "{} lives in", "P" + std::to_string(i),
                    " City" + std::to_string(i)));
            p->addFacts(many);
        }
        {
            Database raw(file, Database::Mode::ReadWrite);
            raw.exec("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE");
        }
        const auto size = std::filesystem::file_size(file);
        QVERIFY(size > 16 * 4096);
        // Zeros over a middle page of the fact table, as a failing disk leaves them.
        {
            std::fstream io(file, std::ios::binary | std::ios::in | std::ios::out);
            io.seekp(static_cast<std::streamoff>(size / 2 / 4096 * 4096));
            const std::string zeros(4096, '\0');
            io.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
        }
        const std::string before = fileHash(file);
        ENGRAM_EXPECT_ERROR(Project::open(file), ErrorKind::CorruptFile, "is damaged");
        ENGRAM_EXPECT_ERROR(Project::open(file), ErrorKind::CorruptFile, "not changed");
        QCOMPARE(fileHash(file), before);
        // Read-only opening still works, so the damage can be inspected and reported.
        auto readOnly = Project::open(file, /*readOnly=*/true);
        QVERIFY(!readOnly->check().empty());
        readOnly.reset();
        QCOMPARE(fileHash(file), before);
    }

    void branchesAtARun()
    {
        const auto file = path("g.engram");
        auto p = Project::create(file, fakeModel());
        EditRun run;
        run.method = "memit";
        const int64_t first = p->recordRun(run, {});
        p->recordRun(run, {});
        p->branch(first, path("g-branch.engram"));
        auto b = Project::open(path("g-branch.engram"));
        QCOMPARE(b->runs().size(), std::size_t(1));
        QCOMPARE(p->runs().size(), std::size_t(2));
        ENGRAM_EXPECT_ERROR(p->branch(first, path("g-branch.engram")), ErrorKind::InvalidArgument, "already exists");
        QVERIFY(!std::filesystem::exists(path("g-branch.engram.creating")));
    }

    void migratesFromSchemaVersion1()
    {
        const std::filesystem::path fixture = std::filesystem::path(ENGRAM_TEST_DATA) / "project" / "v1.engram";
        const std::string fixtureHash = fileHash(fixture);
        const auto file = path("v1.engram");
        std::filesystem::copy_file(fixture, file);
        {
            Database raw(file, Database::Mode::ReadOnly);
            QCOMPARE(raw.scalar("PRAGMA user_version"), int64_t(1));
        }
        auto p = Project::open(file);
        QCOMPARE(p->schemaVersion(), Project::kSchemaVersion);
        const auto facts = p->facts();
        QCOMPARE(facts.size(), std::size_t(3));
        QCOMPARE(facts[0].subject, std::string("Oscar Koutex"));
        QCOMPARE(facts[0].tags, std::vector<std::string>({"gui"}));
        QCOMPARE(facts[0].updatedAt, facts[0].createdAt); // backfilled
        const auto events = p->factEvents();
        QCOMPARE(events.size(), std::size_t(3));
        QCOMPARE(events[0].action, std::string("migrated"));
        QCOMPARE(p->runs().size(), std::size_t(1));
        QCOMPARE(p->runs()[0].status, RunStatus::Cancelled);
        QCOMPARE(p->runs()[0].facts[0].subject, std::string("Mira Delvane"));
        // Schema 5 rebuilt edit_run for the held status without losing the rows that refer to it.
        p->setRunStatus(p->runs()[0].id, RunStatus::Held);
        QCOMPARE(p->runs()[0].status, RunStatus::Held);
        QVERIFY(p->check().empty());
        // The migrated file works like a new one, and migrating again is a no-op.
        p->addFact(makeFact("New", "{} is in", "P1", " X"));
        p.reset();
        QCOMPARE(Project::open(file)->facts().size(), std::size_t(4));
        QCOMPARE(fileHash(fixture), fixtureHash);
    }

    void refusesToMigrateTextThatIsNotUtf8()
    {
        // Fuzz finding 16: a schema-1 fact holding bytes that are not UTF-8 cannot be copied
        // into the audit log as JSON: the upgrade is refused, naming the fact, and rolled back.
        const auto file = path("v1-bad-text.engram");
        std::filesystem::copy_file(std::filesystem::path(ENGRAM_TEST_DATA) / "project" / "v1.engram", file);
        {
            Database raw(file, Database::Mode::ReadWrite);
            raw.exec("UPDATE fact SET subject = CAST(X'4fb86b' AS TEXT) WHERE id = 2");
        }
        ENGRAM_EXPECT_ERROR(Project::open(file), ErrorKind::CorruptFile, "fact 2 holds text that is not valid UTF-8");
        Database raw(file, Database::Mode::ReadOnly); // the upgrade's transaction rolled back
        QCOMPARE(raw.scalar("PRAGMA user_version"), int64_t(1));
        QCOMPARE(raw.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'fact_event'"), int64_t(0));
    }

    void refusesNewerSchemaUntouched()
    {
        const auto file = path("newer.engram");
        Project::create(file, fakeModel()).reset();
        {
            Database raw(file, Database::Mode::ReadWrite);
            raw.exec("PRAGMA journal_mode = DELETE; PRAGMA user_version = 99");
        }
        const std::string before = fileHash(file);
        ENGRAM_EXPECT_ERROR(Project::open(file), ErrorKind::Unsupported, "newer Engram (project schema 99");
        ENGRAM_EXPECT_ERROR(Project::open(file, /*readOnly=*/true), ErrorKind::Unsupported, "not changed");
        QCOMPARE(fileHash(file), before);
    }

    void refusesForeignAndDamagedFiles()
    {
        const auto garbage = path("garbage.engram");
        {
            std::ofstream out(garbage, std::ios::binary);
            for (int i = 0; i < 4096; ++i)
                out.put(static_cast<char>((i * 7919) & 0xff));
        }
        const std::string before = fileHash(garbage);
        ENGRAM_EXPECT_ERROR(Project::open(garbage), ErrorKind::CorruptFile, "garbage.engram");
        QCOMPARE(fileHash(garbage), before);

        const auto foreign = path("foreign.engram");
        {
            Database raw(foreign, Database::Mode::Create);
            raw.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1)");
        }
        const std::string foreignBefore = fileHash(foreign);
        ENGRAM_EXPECT_ERROR(Project::open(foreign), ErrorKind::CorruptFile, "not an Engram project");
        QCOMPARE(fileHash(foreign), foreignBefore);

        ENGRAM_EXPECT_ERROR(Project::open(path("missing.engram")), ErrorKind::Io, "no project file");
    }

    void refusesLockedFileUntouched()
    {
        const auto file = path("locked.engram");
        Project::create(file, fakeModel())->addFact(makeFact("A", "{} is in", "P1", " X"));
        Database other(file, Database::Mode::ReadWrite);
        other.exec("BEGIN EXCLUSIVE; INSERT INTO project_meta(key, value) VALUES ('x', 'y')");
        const std::string before = fileHash(file);
        ENGRAM_EXPECT_ERROR(Project::open(file), ErrorKind::Io, "locked by another program");
        QCOMPARE(fileHash(file), before);
        other.exec("ROLLBACK");
        QCOMPARE(Project::open(file)->facts().size(), std::size_t(1));
    }
};

QTEST_GUILESS_MAIN(TestProject)
#include "tst_project.moc"
