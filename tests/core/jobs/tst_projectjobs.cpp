// Project jobs on the embedded demo model: edits recorded with their patches, revert and
// re-apply bit-exact against the base, the exported checkpoint reloading to the edited
// weights, cancellation and conflicts leaving the project as it was, patches carried to
// another project, traces and evaluations stored.

#include "testsupport.h"

#include "core/data/datasets.h"
#include "core/edit/editmethod.h"
#include "core/edit/weightpatch.h"
#include "core/io/checkpoint.h"
#include "core/io/safetensors.h"
#include "core/jobs/projectjobs.h"
#include "core/model/modelinfo.h"
#include "core/model/modelsession.h"
#include "core/model/transformer.h"
#include "core/project/sqlite.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <QTemporaryDir>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <fstream>
#include <limits>
#include <set>

using namespace engram;
namespace fs = std::filesystem;

namespace {

const fs::path kDemo = fs::path(ENGRAM_SOURCE_DIR) / "resources" / "demo";

std::vector<Fact> demoFacts(int count)
{
    std::vector<Fact> facts;
    const auto data = importDataset(kDemo / "counterfact.json", count);
    for (const auto &r : data.records)
        facts.push_back(factFromRecord(r));
    return facts;
}

// Every MLP output weight of the session's model, copied.
std::vector<at::Tensor> mlpWeights(const ModelSession &s)
{
    std::vector<at::Tensor> out;
    for (int l = 0; l < s.model().config().numLayers; ++l)
        out.push_back(s.model().parameter(s.model().mlpOutputWeightName(l)).clone());
    return out;
}

bool bitEqual(const std::vector<at::Tensor> &a, const std::vector<at::Tensor> &b)
{
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!at::equal(a[i], b[i]))
            return false;
    return true;
}

} // namespace

class TestProjectJobs : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    fs::path m_file;
    EditJobSpec m_spec;

    fs::path path(const char *name) const { return fs::path(m_dir.path().toStdString()) / name; }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        qputenv("ENGRAM_CACHE_DIR", m_dir.filePath(QStringLiteral("cache")).toUtf8());
        configureThreads(2);
        m_file = path("demo.engram");
        auto project = Project::create(m_file, describeProjectModel(kDemo / "model"));
        project->setSetting("stats.corpus", (kDemo / "corpus.txt").string());
        project->setSetting("stats.max_docs", "400");
        project->addFacts(demoFacts(12));
        // These tests are about other things than the health guard (aRunThatBreaksTheModelIsHeld
        // is): a run the guard held would change what they see.
        project->setHealthGuard({0, 0});
        m_spec.config.memit().layers = {0};
        m_spec.config.memit().lambda = 100;
        m_spec.config.memit().vLr = 4;
        m_spec.statistics.cacheDir = path("stats");
    }

    void editsRevertsAndReappliesBitExact()
    {
        JobContext context;
        const auto base = ModelSession::open(kDemo / "model");
        const auto baseWeights = mlpWeights(*base);

        EditJobSpec first = m_spec;
        first.factIds = {1, 2, 3, 4};
        const auto r1 = runEditJob(m_file, first, context);
        QCOMPARE(r1.runId, int64_t(1));
        QCOMPARE(r1.facts, std::size_t(4));
        QVERIFY(r1.stateBefore != r1.stateAfter);

        EditJobSpec second = m_spec;
        second.factIds = {5, 6, 7};
        const auto r2 = runEditJob(m_file, second, context);
        QCOMPARE(r2.stateBefore, r1.stateAfter);

        // The state after run 1, rebuilt from the base and the stored patch.
        std::vector<at::Tensor> afterRun1;
        {
            auto project = Project::open(m_file, /*readOnly=*/true);
            auto s = ModelSession::open(kDemo / "model");
            const auto state = applyHistory(*s, *project, /*upToRun=*/1);
            QCOMPARE(state.stateHash, r1.stateAfter);
            afterRun1 = mlpWeights(*s);
        }
        QVERIFY(!bitEqual(afterRun1, baseWeights));

        const auto rev2 = revertRun(m_file, 2, /*reapply=*/false, {}, context);
        QVERIFY(rev2.verified);
        QCOMPARE(rev2.stateAfter, r1.stateAfter);
        {
            auto project = Project::open(m_file, true);
            HistoryState state;
            auto s = openProjectModel(*project, {}, context, &state);
            QVERIFY(bitEqual(mlpWeights(*s), afterRun1));
            QCOMPARE(state.appliedRuns, std::vector<int64_t>({1}));
        }
        const auto rev1 = revertRun(m_file, 1, false, {}, context);
        QVERIFY(rev1.verified);
        {
            auto project = Project::open(m_file, true);
            auto s = openProjectModel(*project, {}, context);
            QVERIFY(bitEqual(mlpWeights(*s), baseWeights)); // back to the base, bit for bit
        }
        ENGRAM_EXPECT_ERROR(revertRun(m_file, 1, false, {}, context), ErrorKind::InvalidArgument, "is reverted");
        QVERIFY(revertRun(m_file, 1, /*reapply=*/true, {}, context).verified);
        QVERIFY(revertRun(m_file, 2, true, {}, context).verified);
        auto project = Project::open(m_file, true);
        QCOMPARE(project->run(2)->status, RunStatus::Applied);
        QVERIFY(project->check().empty());
    }

    void probeShowsBaseAndCurrent()
    {
        // Runs 1 and 2 (facts 1-7) are applied.
        auto project = Project::open(m_file, true);
        const Fact edited = *project->fact(1);
        JobContext context;
        ProbeJobSpec spec;
        spec.subject = edited.subject;
        const auto r = runProbeJob(m_file, spec, context);
        QCOMPARE(r.appliedRuns, (std::vector<int64_t> {1, 2}));
        std::set<std::string> relations;
        for (const auto &f : project->facts())
            relations.insert(f.relationKey());
        QCOMPARE(r.rows.size(), relations.size()); // every relation the project knows
        const auto row = std::find_if(r.rows.begin(), r.rows.end(),
            [&](const ProbeRow &x) { return x.relation.relation == edited.relationKey(); });
        QVERIFY(row != r.rows.end());
        QVERIFY(row->relation.edited);
        QCOMPARE(row->relation.factIds, std::vector<int64_t> {1});
        QCOMPARE(row->relation.recordedNew, std::vector<std::string> {edited.targetNew});
        QVERIFY(row->current.has_value());
        QCOMPARE(row->changed, answersDiffer(row->base, *row->current));
        // The base model answers with the true object, the edited one with the new object.
        QCOMPARE(row->base.top[0].text, " " + edited.targetTrue);
        QCOMPARE(row->current->top[0].text, " " + edited.targetNew);
        QVERIFY(row->changed);

        // Only some relations; an unknown one is refused with the known ones listed.
        spec.relations = {edited.relationKey()};
        QCOMPARE(runProbeJob(m_file, spec, context).rows.size(), std::size_t(1));
        spec.relations = {"P_NOPE"};
        ENGRAM_EXPECT_ERROR(runProbeJob(m_file, spec, context), ErrorKind::InvalidArgument, edited.relationKey());
        const auto parsed = nlohmann::json::parse(probeResultJson(r));
        QCOMPARE(parsed["rows"].size(), r.rows.size());
        QCOMPARE(parsed["applied_runs"].size(), std::size_t(2));
    }

    void keepingTheProjectsOtherFactsIsRecorded()
    {
        // A project with two records and, disabled, their subjects' other relations and a few
        // facts of other subjects (the demo's retention set): an edit that keeps the project's
        // facts preserves the edited subject's other relations and protects the others' keys.
        const fs::path file = path("keep.engram");
        auto project = Project::create(file, describeProjectModel(kDemo / "model"));
        project->setSetting("stats.corpus", (kDemo / "corpus.txt").string());
        project->setSetting("stats.max_docs", "300");
        const auto records = demoFacts(2);
        project->addFacts(records);
        std::vector<Fact> known;
        int outside = 0;
        for (const auto &r : importDataset(kDemo / "retention.json").records) {
            const bool recordSubject = r.subject == records[0].subject || r.subject == records[1].subject;
            if (!recordSubject && ++outside > 5)
                continue;
            Fact f = factFromRecord(r);
            f.targetNew = f.targetTrue; // a project fact needs a target; these stay disabled
            f.enabled = false;
            known.push_back(f);
        }
        project->addFacts(known);
        project.reset();
        EditJobSpec spec = m_spec;
        spec.factIds = {1};
        spec.keepProjectFacts = true;
        spec.config.memit().protectWeight = 0.01;
        JobContext context;
        const auto r = runEditJob(file, spec, context);
        project = Project::open(file, true);
        const auto params = nlohmann::json::parse(project->run(r.runId)->paramsJson);
        const auto &keep = params.at("keep_project_facts");
        QVERIFY2(keep.at("preserve_prompts").get<int>() >= 2, params.dump().c_str());
        QCOMPARE(keep.at("subjects_preserved").get<int>(), 1);
        // The second record's subject (its record and its other relations) and 5 other facts.
        QVERIFY2(keep.at("protected_keys").get<int>() >= 6, params.dump().c_str());
        QCOMPARE(params.at("protect_weight").get<double>(), 0.01);
    }

    void revertingAnEarlierRunRebasesTheLaterOne()
    {
        JobContext context;
        const auto r = revertRun(m_file, 1, false, {}, context);
        QVERIFY(!r.verified); // nothing in the history to compare with: run 2 now sits on the base
        QCOMPARE(r.rebasedRuns, std::vector<int64_t>({2}));
        QVERIFY(revertRun(m_file, 1, true, {}, context).verified);
    }

    void rebuildingChecksTheRecordedState()
    {
        // A recorded result state that the stored patches no longer give (stored data changed
        // since): every job that rebuilds the model refuses, naming the run.
        const fs::path copy = path("state-changed.engram");
        fs::copy_file(m_file, copy);
        int64_t last = 0;
        {
            auto project = Project::open(copy);
            for (const auto &r : project->runs())
                if (r.status == RunStatus::Applied)
                    last = r.id;
            QVERIFY(last > 0);
            project->database()
                .prepare("UPDATE edit_run SET result_state = '00000000deadbeef' WHERE id = ?1")
                .bind(1, last)
                .run();
        }
        JobContext context;
        auto project = Project::open(copy, true);
        ENGRAM_EXPECT_ERROR(
            openProjectModel(*project, {}, context), ErrorKind::CorruptFile, "run " + std::to_string(last) + " recorded");
        ExportJobSpec exportSpec;
        exportSpec.out = path("state-export");
        ENGRAM_EXPECT_ERROR(runExportJob(copy, exportSpec, context), ErrorKind::CorruptFile,
            "rebuilding the model from its history");
        QVERIFY(!fs::exists(path("state-export")));
    }

    void nonFiniteWeightsGiveNoPatch()
    {
        // A checkpoint with NaN in the edited layer's MLP: the session names the tensor, and the
        // edit stops before a patch is written.
        const fs::path model = path("nan-model");
        fs::create_directories(model);
        for (const auto &e : fs::directory_iterator(kDemo / "model"))
            if (e.path().filename() != "model.safetensors")
                fs::copy_file(e.path(), model / e.path().filename());
        std::string poisoned;
        {
            const WeightStore store = WeightStore::openDirectory(kDemo / "model");
            auto session = ModelSession::open(kDemo / "model");
            poisoned = session->model().mlpOutputWeightName(0);
            std::vector<TensorSource> tensors;
            for (const auto &name : store.names()) {
                at::Tensor t = store.tensor(name).clone();
                if (name.size() >= 21 && name.compare(name.size() - 21, 21, "h.0.mlp.c_proj.weight") == 0)
                    t.view(-1)[7] = std::numeric_limits<float>::quiet_NaN();
                tensors.push_back(tensorSource(name, t));
            }
            writeSafetensors(model / "model.safetensors", std::move(tensors));
        }
        const auto session = ModelSession::open(model);
        QVERIFY(!session->summary().nonFiniteTensors.empty());
        const auto &named = session->summary().nonFiniteTensors;
        QVERIFY(std::find(named.begin(), named.end(), poisoned) != named.end());
        const auto onDisk = checkCheckpoint(model).nonFiniteTensors;
        QVERIFY(std::find(onDisk.begin(), onDisk.end(), poisoned) != onDisk.end());
        QVERIFY(checkCheckpoint(kDemo / "model").nonFiniteTensors.empty());
        QVERIFY(checkCheckpoint(kDemo / "model").tokenizerProblem.empty());

        const fs::path file = path("nan.engram");
        auto project = Project::create(file, describeProjectModel(model));
        project->setSetting("stats.corpus", (kDemo / "corpus.txt").string());
        project->setSetting("stats.max_docs", "100");
        project->addFacts(demoFacts(2));
        project.reset();
        JobContext context;
        EditJobSpec spec = m_spec;
        spec.statistics.cacheDir = path("nan-stats");
        ENGRAM_EXPECT_ERROR(runEditJob(file, spec, context), ErrorKind::InvalidArgument,
            "weights hold NaN or infinite values (1 tensor(s), first '" + poisoned + "')");
        auto after = Project::open(file, true);
        QCOMPARE(after->runs().size(), std::size_t(1));
        QCOMPARE(after->runs()[0].status, RunStatus::Failed);
        QVERIFY(after->patch(1).empty());
    }

    void aRequestLongerThanTheContextIsNamed()
    {
        const fs::path file = path("long.engram");
        auto project = Project::create(file, describeProjectModel(kDemo / "model"));
        project->setSetting("stats.corpus", (kDemo / "corpus.txt").string());
        project->setSetting("stats.max_docs", "400");
        auto facts = demoFacts(2);
        std::string longPrompt;
        for (int i = 0; i < 60; ++i)
            longPrompt += "and then, much later, ";
        facts[1].promptTemplate = longPrompt + facts[1].promptTemplate;
        project->addFacts(facts);
        project.reset();
        JobContext context;
        ENGRAM_EXPECT_ERROR(runEditJob(file, m_spec, context), ErrorKind::InvalidArgument,
            "request 2 ('" + facts[1].subject + "') is ");
        QVERIFY(Project::open(file, true)->patch(1).empty());
    }

    void exportReloadsToTheEditedWeights()
    {
        JobContext context;
        ExportJobSpec spec;
        spec.out = path("exported");
        std::vector<std::string> stages;
        JobContext watched([&](const ProgressUpdate &u) {
            if (stages.empty() || stages.back() != u.stage)
                stages.push_back(u.stage);
            return true;
        });
        const auto summary = runExportJob(m_file, spec, watched);
        QCOMPARE(summary.tensorsPatched, 1);
        QVERIFY(stages.size() >= 3);
        QVERIFY(checkExportLayout(kDemo / "model", spec.out).empty());

        auto project = Project::open(m_file, true);
        auto edited = openProjectModel(*project, {}, context);
        const auto exported = ModelSession::open(spec.out);
        QVERIFY(bitEqual(mlpWeights(*exported), mlpWeights(*edited)));
        // Every other tensor is the base's.
        const WeightStore a = WeightStore::openDirectory(kDemo / "model"), b = WeightStore::openDirectory(spec.out);
        int same = 0;
        for (const auto &n : a.names())
            same += at::equal(a.tensor(n), b.tensor(n));
        QCOMPARE(same, static_cast<int>(a.names().size()) - 1);
        const auto manifest = nlohmann::json::parse(readTextFile(spec.out / "engram-manifest.json"));
        QCOMPARE(manifest["runs"].size(), std::size_t(2));
        QCOMPARE(manifest["base"]["content_hash"].template get<std::string>(), project->model().contentHash);
        // No absolute paths of the exporting machine; the scores of this history when there are any.
        QCOMPARE(manifest["base"]["name"].template get<std::string>(), std::string("model"));
        QCOMPARE(manifest["project"].template get<std::string>(), m_file.filename().string());
        QVERIFY(manifest.dump().find(m_dir.path().toStdString()) == std::string::npos);
        QVERIFY(manifest.dump().find(kDemo.string()) == std::string::npos);
        QVERIFY(manifest.contains("scores"));
        // The greedy continuation of an edited fact is its new object.
        const auto fact = *project->fact(1);
        std::string prompt = fact.promptTemplate;
        prompt.replace(prompt.find("{}"), 2, fact.subject);
        GenerationParams g;
        g.maxNewTokens = 4;
        const std::string said = exported->generate(prompt, g).continuation;
        const std::string target = fact.targetNew.substr(fact.targetNew.find_first_not_of(' '));
        QVERIFY2(said.rfind(" " + target, 0) == 0, said.c_str());

        ENGRAM_EXPECT_ERROR(runExportJob(m_file, spec, context), ErrorKind::Io, "already exists");
        // An existing empty directory is accepted (a file dialog makes one with "New Folder").
        ExportJobSpec intoEmpty = spec;
        intoEmpty.out = path("made-by-dialog");
        fs::create_directory(intoEmpty.out);
        runExportJob(m_file, intoEmpty, context);
        QVERIFY(fs::exists(intoEmpty.out / "engram-manifest.json"));
        spec.options.overwrite = true;
        QVERIFY(runExportJob(m_file, spec, context).shardsRewritten == 1);
    }

    void exportKeepsTheShardLayout()
    {
        // The demo re-saved as three shards with an index, tokenizer and config alongside.
        const fs::path sharded = path("sharded-model");
        fs::create_directories(sharded);
        for (const char *f : {"config.json", "tokenizer.json", "tokenizer_config.json"})
            fs::copy_file(kDemo / "model" / f, sharded / f);
        const WeightStore demo = WeightStore::openDirectory(kDemo / "model");
        const auto names = demo.names();
        nlohmann::json index {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
        for (int s = 0; s < 3; ++s) {
            const std::string shard = "model-0000" + std::to_string(s + 1) + "-of-00003.safetensors";
            std::vector<TensorSource> sources;
            for (std::size_t i = static_cast<std::size_t>(s); i < names.size(); i += 3) {
                sources.push_back(tensorSource(names[i], demo.tensor(names[i])));
                index["weight_map"][names[i]] = shard;
            }
            writeSafetensors(sharded / shard, std::move(sources));
        }
        {
            std::ofstream(sharded / "model.safetensors.index.json") << index.dump(2);
        }
        const fs::path file = path("sharded.engram");
        auto project = Project::create(file, describeProjectModel(sharded));
        project->setSetting("stats.corpus", (kDemo / "corpus.txt").string());
        project->setSetting("stats.max_docs", "300");
        project->addFacts(demoFacts(3));
        project.reset();
        JobContext context;
        runEditJob(file, m_spec, context);
        ExportJobSpec spec;
        spec.out = path("sharded-export");
        const auto summary = runExportJob(file, spec, context);
        QCOMPARE(summary.shardsRewritten, 1);
        QCOMPARE(summary.shardsLinked, 2);
        QVERIFY(checkExportLayout(sharded, spec.out).empty());
        const auto written = nlohmann::json::parse(readTextFile(spec.out / "model.safetensors.index.json"));
        QCOMPARE(written["weight_map"], index["weight_map"]);
        QVERIFY(written["metadata"]["total_size"].get<uint64_t>() > 0);
        // Linked shards are the base's files (same inode); the base is untouched.
        int linked = 0;
        for (int s = 0; s < 3; ++s) {
            const std::string shard = "model-0000" + std::to_string(s + 1) + "-of-00003.safetensors";
            linked += fs::equivalent(sharded / shard, spec.out / shard);
        }
        QCOMPARE(linked, 2);
        auto reopened = Project::open(file, true);
        auto edited = openProjectModel(*reopened, {}, context);
        QVERIFY(bitEqual(mlpWeights(*ModelSession::open(spec.out)), mlpWeights(*edited)));
        QVERIFY(checkExportLayout(kDemo / "model", spec.out).size() > 0); // another layout than the unsharded demo
    }

    void cancelledExportLeavesNothing()
    {
        std::atomic<bool> cancel {false};
        JobContext context(
            [&](const ProgressUpdate &u) {
                if (u.stage == "writing weights")
                    cancel = true;
                return true;
            },
            &cancel);
        ExportJobSpec spec;
        spec.out = path("cancelled-export");
        ENGRAM_EXPECT_ERROR(runExportJob(m_file, spec, context), ErrorKind::Cancelled, "");
        QVERIFY(!fs::exists(spec.out));
        for (const auto &e : fs::directory_iterator(m_dir.path().toStdString()))
            QVERIFY2(e.path().filename().string().find(".partial-") == std::string::npos, e.path().c_str());
    }

    void failedWriteLeavesNothing()
    {
        // A write that fails halfway (here: a 1 MiB file-size limit, as a full disk would) must
        // leave neither the target nor the hidden partial directory.
        JobContext context;
        ExportJobSpec spec;
        spec.out = path("too-big-export");
        rlimit old {};
        QCOMPARE(getrlimit(RLIMIT_FSIZE, &old), 0);
        const auto oldHandler = std::signal(SIGXFSZ, SIG_IGN);
        rlimit small = old;
        small.rlim_cur = 1 << 20;
        QCOMPARE(setrlimit(RLIMIT_FSIZE, &small), 0);
        bool failed = false;
        std::string message;
        try {
            runExportJob(m_file, spec, context);
        } catch (const Error &e) {
            failed = e.kind() == ErrorKind::Io;
            message = e.what();
        }
        setrlimit(RLIMIT_FSIZE, &old);
        std::signal(SIGXFSZ, oldHandler);
        QVERIFY2(failed, message.c_str());
        QVERIFY(!fs::exists(spec.out));
        for (const auto &e : fs::directory_iterator(m_dir.path().toStdString()))
            QVERIFY2(
                e.path().filename().string().find("too-big-export.partial") == std::string::npos, e.path().c_str());
        QVERIFY(runExportJob(m_file, spec, context).shardsRewritten == 1); // and works once space is back
    }

    void cancelledEditIsRecordedWithoutPatch()
    {
        auto before = Project::open(m_file, true)->runs().size();
        std::atomic<bool> cancel {false};
        JobContext context(
            [&](const ProgressUpdate &u) {
                if (u.stage.find("optimising") != std::string::npos)
                    cancel = true;
                return true;
            },
            &cancel);
        EditJobSpec spec = m_spec;
        spec.factIds = {8, 9};
        ENGRAM_EXPECT_ERROR(runEditJob(m_file, spec, context), ErrorKind::Cancelled, "");
        auto project = Project::open(m_file, true);
        const auto runs = project->runs();
        QCOMPARE(runs.size(), before + 1);
        QCOMPARE(runs.back().status, RunStatus::Cancelled);
        QVERIFY(project->patch(runs.back().id).empty());
        // The facts are still unedited: a plain edit takes them next.
        QCOMPARE(project->editedFacts().size(), std::size_t(7));
    }

    void conflictsRefuseTheBatch()
    {
        JobContext context;
        auto project = Project::open(m_file);
        Fact f = *project->fact(8);
        f.id = 0;
        f.targetNew = " something else";
        f.promptTemplate = "{} is best known for";
        const int64_t twin = project->addFact(f);
        const auto runs = project->runs().size();
        EditJobSpec spec = m_spec;
        spec.factIds = {8, twin};
        ENGRAM_EXPECT_ERROR(runEditJob(m_file, spec, context), ErrorKind::Conflict, "share one key");
        spec.factIds = {1};
        ENGRAM_EXPECT_ERROR(runEditJob(m_file, spec, context), ErrorKind::Conflict, "already edited");
        QCOMPARE(project->runs().size(), runs);
        project->removeFacts({twin});
    }

    void earlierRunsStayExactThroughRevertAndBranch()
    {
        // Issue 19: AlphaEdit keeps every applied run's keys as memories (C_p). Reverting a middle
        // run takes its keys out: a run made after the revert equals the same run made on a
        // branch that never had the reverted one; re-applying brings the keys back.
        const fs::path file = path("sequential.engram"), branchFile = path("sequential-branch.engram");
        {
            auto project = Project::create(file, describeProjectModel(kDemo / "model"));
            project->setSetting("stats.corpus", (kDemo / "corpus.txt").string());
            project->setSetting("stats.max_docs", "400"); // the statistics other tests cached
            project->addFacts(demoFacts(12));
            project->setHealthGuard({0, 0}); // the guard has its own test
        }
        MemitParams p = m_spec.config.memit(); // layer 0, λ 100, lr 4
        p.vSteps = 20;
        p.contextTemplates = {"{}", "The river flowed slowly. {}"};
        p.preserveEarlierRuns = true;
        p.nullSpaceThreshold = 0.1;
        p.nullSpaceAlpha = 0.1;
        JobContext context;
        auto edit = [&](const fs::path &f, std::vector<int64_t> ids) {
            EditJobSpec s = m_spec;
            s.config = EditConfig::make(EditMethod::AlphaEdit, p);
            s.factIds = std::move(ids);
            return runEditJob(f, s, context);
        };
        const auto a = edit(file, {1, 2});
        const auto b = edit(file, {3, 4});
        {
            auto project = Project::open(file, true);
            QCOMPARE(project->run(a.runId)->method, std::string("alphaedit"));
            QVERIFY(project->run(a.runId)->summary.earlierRuns.empty());
            QCOMPARE(project->run(b.runId)->summary.earlierRuns, std::vector<int64_t> {a.runId});
            const auto keys = project->runKeys(a.runId);
            QCOMPARE(keys.size(), std::size_t(1));
            QCOMPARE(keys[0].layer, 0);
            QCOMPARE(keys[0].count, int64_t(2));
            const auto dims = project->run(a.runId)->summary.nullSpaceDims;
            QCOMPARE(dims.size(), std::size_t(1));
            QVERIFY(dims[0] > 0 && dims[0] < keys[0].dim);
            project->branch(a.runId, branchFile);
        }
        QVERIFY(revertRun(file, b.runId, false, {}, context).verified);
        const auto c = edit(file, {5, 6});
        const auto cOnBranch = edit(branchFile, {5, 6});
        {
            auto project = Project::open(file, true), branch = Project::open(branchFile, true);
            QCOMPARE(project->run(c.runId)->summary.earlierRuns, std::vector<int64_t> {a.runId});
            QCOMPARE(branch->run(cOnBranch.runId)->summary.earlierRuns, std::vector<int64_t> {a.runId});
            const auto pc = project->patch(c.runId), pb = branch->patch(cOnBranch.runId);
            QCOMPARE(pc.size(), pb.size());
            for (std::size_t i = 0; i < pc.size(); ++i) {
                QCOMPARE(pc[i].name, pb[i].name);
                QCOMPARE(pc[i].data.size(), pb[i].data.size());
                const auto *x = reinterpret_cast<const float *>(pc[i].data.data());
                const auto *y = reinterpret_cast<const float *>(pb[i].data.data());
                double largest = 0, diff = 0;
                for (std::size_t k = 0; k < pc[i].data.size() / 4; ++k) {
                    largest = std::max(largest, std::abs(double(x[k])));
                    diff = std::max(diff, std::abs(double(x[k]) - double(y[k])));
                }
                // The same computation on the same weights and keys; only thread scheduling of
                // float32 sums may differ.
                QVERIFY2(largest > 0 && diff <= 1e-5 * largest, qPrintable(QStringLiteral("%1 of %2").arg(diff).arg(largest)));
            }
        }
        revertRun(file, b.runId, /*reapply=*/true, {}, context); // run c now sits on a, b
        const auto d = edit(file, {7, 8});
        auto project = Project::open(file, true);
        QCOMPARE(project->run(d.runId)->summary.earlierRuns, (std::vector<int64_t> {a.runId, b.runId, c.runId}));
        QVERIFY(project->check().empty());
        // Each run records the model's health on the project's facts: ES over every fact edited
        // so far (the 8 of runs a-d), recall of the other 4 against the base, fluency, norm growth.
        const RunHealth h = project->run(d.runId)->summary.health;
        QCOMPARE(h.editedFacts, int64_t(8));
        QCOMPARE(h.otherFacts, int64_t(4));
        QCOMPARE(d.health.editedFacts, h.editedFacts);
        QVERIFY2(h.esSoFar >= 50 && h.esSoFar <= 100, qPrintable(QString::number(h.esSoFar)));
        QVERIFY(h.retention >= 0 && h.retention <= 1 && h.retentionBase > 0);
        QVERIFY(h.fluency > 0 && h.fluencyBase > 0);
        QCOMPARE(h.cumulativeRelativeNorms.size(), std::size_t(1));
        // The norm grows with the history: after four runs more than after the first.
        QVERIFY(h.cumulativeRelativeNorms[0] > project->run(a.runId)->summary.health.cumulativeRelativeNorms.at(0));
        QCOMPARE(project->run(a.runId)->summary.health.editedFacts, int64_t(2));
    }

    void aRunThatBreaksTheModelIsHeld()
    {
        // Issue 19, the guard: a run whose health falls below the project's thresholds is held
        // (stored with its patch, not applied: the model and the pending facts are as they
        // were). Applying it puts it into the history with the state it recorded; a held run
        // can be discarded instead; force applies at once and says so.
        const fs::path file = path("guard.engram");
        {
            auto project = Project::create(file, describeProjectModel(kDemo / "model"));
            project->setSetting("stats.corpus", (kDemo / "corpus.txt").string());
            project->setSetting("stats.max_docs", "400");
            project->addFacts(demoFacts(12));
            // Wide margins on both sides: the sane run keeps far above, the broken one falls far below.
            project->setHealthGuard({0.7, 50});
        }
        JobContext context;
        EditJobSpec sane = m_spec; // layer 0, λ 100
        sane.factIds = {1, 2};
        const auto a = runEditJob(file, sane, context);
        QVERIFY2(!a.held && a.guardBreaches.empty(),
            qPrintable(QStringLiteral("retention %1 of %2, ES %3")
                           .arg(a.health.retention)
                           .arg(a.health.retentionBase)
                           .arg(a.health.esSoFar)));
        // Broken on purpose: almost no covariance term, a huge clamp and learning rate, four layers.
        EditJobSpec broken = m_spec;
        broken.config.memit().layers = {0, 1, 2, 3};
        broken.config.memit().lambda = 1e-4;
        broken.config.memit().clampNormFactor = 1000;
        broken.config.memit().vLr = 50;
        broken.factIds = {3, 4};
        const auto b = runEditJob(file, broken, context);
        QVERIFY2(b.held, qPrintable(QStringLiteral("retention %1 of %2").arg(b.health.retention).arg(b.health.retentionBase)));
        QVERIFY(!b.guardBreaches.empty());
        QVERIFY2(b.guardBreaches.front().find("retention") != std::string::npos, b.guardBreaches.front().c_str());
        const auto stateNow = [&] {
            auto project = Project::open(file, /*readOnly=*/true);
            auto s = ModelSession::open(kDemo / "model");
            return applyHistory(*s, *project).stateHash;
        };
        {
            auto project = Project::open(file, true);
            const auto run = project->run(b.runId);
            QCOMPARE(run->status, RunStatus::Held);
            QVERIFY(run->message.find("held by the health guard") != std::string::npos);
            QVERIFY(run->summary.health.measured());
            QVERIFY(!project->patch(b.runId).empty());
            std::set<int64_t> edited;
            for (const auto &[fact, run] : project->editedFacts())
                edited.insert(fact);
            QCOMPARE(edited, (std::set<int64_t> {1, 2})); // 3 and 4 still pending
        }
        QCOMPARE(stateNow(), a.stateAfter); // the model is as the sane run left it

        // Apply: the held run joins the history with the state it recorded.
        const auto applied = revertRun(file, b.runId, /*reapply=*/true, {}, context);
        QVERIFY(applied.verified);
        QCOMPARE(applied.stateAfter, b.stateAfter);
        {
            auto project = Project::open(file, true);
            QCOMPARE(project->run(b.runId)->status, RunStatus::Applied);
            QVERIFY(project->run(b.runId)->message.rfind("applied by the user after the health guard held it", 0) == 0);
        }
        QVERIFY(revertRun(file, b.runId, false, {}, context).verified);
        QCOMPARE(stateNow(), a.stateAfter);

        // Discard: recorded, never applied again.
        const auto c = runEditJob(file, broken, context);
        QVERIFY(c.held);
        discardHeldRun(file, c.runId);
        ENGRAM_EXPECT_ERROR(discardHeldRun(file, c.runId), ErrorKind::InvalidArgument, "only held runs");
        ENGRAM_EXPECT_ERROR(revertRun(file, c.runId, true, {}, context), ErrorKind::InvalidArgument, "is discarded");
        ENGRAM_EXPECT_ERROR(discardHeldRun(file, a.runId), ErrorKind::InvalidArgument, "is applied");
        QCOMPARE(stateNow(), a.stateAfter);

        // Force: applied at once, the breach on record.
        EditJobSpec forced = broken;
        forced.force = true;
        const auto d = runEditJob(file, forced, context);
        QVERIFY(!d.held && !d.guardBreaches.empty());
        auto project = Project::open(file, true);
        QCOMPARE(project->run(d.runId)->status, RunStatus::Applied);
        QVERIFY(project->run(d.runId)->message.find("forced") != std::string::npos);
        QCOMPARE(stateNow(), d.stateAfter);
        QVERIFY(project->check().empty());
    }

    void patchTravelsToAnotherProject()
    {
        JobContext context;
        exportPatchFile(m_file, 0, path("all.patch"), {}, context);
        const auto other = path("other.engram");
        Project::create(other, describeProjectModel(kDemo / "model")).reset();
        const int64_t run = importPatchFile(other, path("all.patch"), {}, context);
        auto a = Project::open(m_file, true), b = Project::open(other, true);
        HistoryState sa, sb;
        auto ma = openProjectModel(*a, {}, context, &sa);
        auto mb = openProjectModel(*b, {}, context, &sb);
        QCOMPARE(b->run(run)->facts.size(), std::size_t(7));
        // Composed deltas add up to float tolerance, not bit for bit.
        const auto wa = mlpWeights(*ma), wb = mlpWeights(*mb);
        for (std::size_t i = 0; i < wa.size(); ++i)
            QVERIFY(at::allclose(wa[i], wb[i], 1e-5, 1e-6));
        // A patch for other weights is refused.
        ENGRAM_EXPECT_ERROR(importPatchFile(other, path("all.patch"), {}, context), ErrorKind::ShapeMismatch,
            "computed for different weights");
    }

    void tracesAndEvaluationsAreStored()
    {
        JobContext context;
        TraceJobSpec trace;
        trace.factIds = {10};
        trace.params.kinds = {TraceKind::Mlp};
        trace.params.noise.samples = 3;
        trace.params.noise.scale = 0;
        const auto t = runTraceJob(m_file, trace, context);
        QCOMPARE(t.traceIds.size(), std::size_t(1));
        QVERIFY(t.results[0].highScore > t.results[0].lowScore);

        EvalJobSpec eval;
        const auto e = runEvalJob(m_file, eval, context);
        QCOMPARE(e.facts, std::size_t(7)); // the edited facts
        QVERIFY(e.pre.es.mean < 30);
        QVERIFY(e.post.es.mean > 70);
        // Retention: the 12 - 7 unedited facts' true objects, recalled before and after.
        QCOMPARE(e.retentionPre.total, int64_t(5));
        QVERIFY(e.retentionPre.rate() >= 0.8);
        QCOMPARE(e.retentionPost.total, int64_t(5));
        auto project = Project::open(m_file, true);
        QCOMPARE(project->traces(10).size(), std::size_t(1));
        const auto metrics = project->metrics(e.evaluationId);
        // Nine metrics per edited fact and phase, and "kept" (1/0) per retention fact and phase.
        QCOMPARE(metrics.size(), std::size_t(7 * 2 * 9 + 5 * 2));
        int64_t keptPost = 0;
        for (const auto &m : metrics)
            keptPost += m.kind == "kept" && m.phase == "post" && m.value > 0.5;
        QCOMPARE(keptPost, e.retentionPost.recalled);
        // The stored evaluation describes the history as it is: read back for the score panel.
        const auto stored = currentScores(*project);
        QVERIFY(stored.has_value());
        QCOMPARE(stored->evaluation.id, e.evaluationId);
        QVERIFY(std::abs(stored->post.es.mean - e.post.es.mean) < 1e-9); // JSON round trip of one double
        QCOMPARE(stored->retentionPost.recalled, e.retentionPost.recalled);
        QCOMPARE(static_cast<int64_t>(stored->lostFacts.size()),
            [&] {
                int64_t lost = 0;
                for (std::size_t i = 0; i < e.retentionFacts.size(); ++i)
                    lost += e.retentionPre.perFact[i] && !e.retentionPost.perFact[i];
                return lost;
            }());
        QVERIFY(nlohmann::json::parse(project->traces(10)[0].resultJson)["scores"].contains("mlp"));
        // An export now carries these scores in its manifest.
        ExportJobSpec scored;
        scored.out = path("scored-export");
        runExportJob(m_file, scored, context);
        const auto manifest = nlohmann::json::parse(readTextFile(scored.out / "engram-manifest.json"));
        QCOMPARE(manifest["scores"]["evaluation"].template get<int64_t>(), e.evaluationId);
        QVERIFY(std::abs(manifest["scores"]["post"]["es"]["mean"].template get<double>() - e.post.es.mean) < 1e-9);
    }
};

QTEST_GUILESS_MAIN(TestProjectJobs)
#include "tst_projectjobs.moc"
