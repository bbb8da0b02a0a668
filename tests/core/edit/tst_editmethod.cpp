// EditMethod names, EditConfig consistency and its one JSON shape, and StatisticsSource's
// coverage check (headers only) — the typed middle of the edit pipeline.

#include "core/edit/editmethod.h"
#include "core/edit/editor.h"
#include "core/edit/presets.h"
#include "core/edit/statisticssource.h"
#include "core/util/error.h"
#include "testsupport.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace engram;

class TestEditMethod : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void namesRoundTrip()
    {
        for (EditMethod m : kEditMethods) {
            QCOMPARE(parseEditMethod(editMethodName(m)), std::optional<EditMethod>(m));
            QVERIFY(!editMethodLabel(m).empty());
        }
        QCOMPARE(parseEditMethod("ft-w"), std::optional<EditMethod>(EditMethod::FineTune)); // older patches
        QVERIFY(!parseEditMethod("MEMIT"));
        QCOMPARE(editMethodNames(), std::string("memit, alphaedit, rome, r-rome, ftw"));
        ENGRAM_EXPECT_ERROR(requireEditMethod("lora"), ErrorKind::InvalidArgument, "memit, alphaedit, rome, r-rome, ftw");
    }

    void configIsConsistentByConstruction()
    {
        ENGRAM_EXPECT_ERROR(EditConfig::make(EditMethod::Memit, RomeParams {}), ErrorKind::InvalidArgument, "MEMIT");
        ENGRAM_EXPECT_ERROR(EditConfig::make(EditMethod::FineTune, MemitParams {}), ErrorKind::InvalidArgument, "FT-W");
        RomeParams r;
        r.layer = 3;
        r.consistentKey = true;
        const EditConfig rome = EditConfig::make(EditMethod::Rome, r);
        QVERIFY(!rome.rome().consistentKey); // the method decides
        QVERIFY(EditConfig::make(EditMethod::RRome, r).rome().consistentKey);
        QCOMPARE(rome.editedLayers(), std::vector<int>({3}));
        QCOMPARE(rome.statisticsLayers(), std::vector<int>({3}));
        ENGRAM_EXPECT_ERROR((void)rome.memit(), ErrorKind::InvalidArgument, "ROME has no MEMIT parameters");

        // MEMIT and AlphaEdit share MemitParams; the method decides whether the null space is used.
        MemitParams m;
        m.layers = {1, 2};
        m.nullSpace = true;
        QVERIFY(!EditConfig::make(EditMethod::Memit, m).memit().nullSpace);
        const EditConfig alpha = EditConfig::make(EditMethod::AlphaEdit, m);
        QVERIFY(alpha.memit().nullSpace);
        QCOMPARE(alpha.statisticsLayers(), std::vector<int>({1, 2}));
        ENGRAM_EXPECT_ERROR(EditConfig::make(EditMethod::AlphaEdit, RomeParams {}), ErrorKind::InvalidArgument, "AlphaEdit");

        FineTuneParams f;
        f.layer = 2;
        const EditConfig ft = EditConfig::make(EditMethod::FineTune, f);
        QCOMPARE(ft.editedLayers(), std::vector<int>({2}));
        QVERIFY(ft.statisticsLayers().empty());
        QVERIFY(!ft.needsStatistics());
        QCOMPARE(ft.seed(), uint64_t(0));
    }

    void paramsJsonRoundTrips_data()
    {
        QTest::addColumn<int>("method");
        for (EditMethod m : kEditMethods)
            QTest::newRow(std::string(editMethodName(m)).c_str()) << static_cast<int>(m);
    }

    void paramsJsonRoundTrips()
    {
        QFETCH(int, method);
        const auto m = static_cast<EditMethod>(method);
        // The demo preset's values (not the defaults), with a few changed, survive a round trip.
        EditConfig c = editPresetFor(ModelFamily::Gpt2, 6, 192).configFor(m);
        if (usesMemitParams(m)) {
            c.memit().layers = {1, 4};
            c.memit().seed = 7;
            c.memit().contextTemplates = {"{}", "Hello. {}"};
            c.memit().batchedTargets = false;
            c.memit().preserveEarlierRuns = !c.memit().preserveEarlierRuns; // the opposite of each default
            c.memit().nullSpaceThreshold = 0.125;
            c.memit().nullSpaceAlpha = 3;
        } else if (m == EditMethod::FineTune) {
            c.fineTune().normConstraint = 0.25;
        } else {
            c.rome().seed = 9;
        }
        const EditConfig back = EditConfig::fromJson(m, c.paramsJson());
        QCOMPARE(back.method(), m);
        QCOMPARE(back.paramsJson(), c.paramsJson());
        QCOMPARE(back.editedLayers(), c.editedLayers());
        QCOMPARE(back.seed(), c.seed());
        // One shape: snake_case keys, no method inside (records store it beside).
        const auto j = nlohmann::json::parse(c.paramsJson());
        QVERIFY(!j.contains("method"));
        QVERIFY(j.contains(usesMemitParams(m) ? "layers" : "layer"));
        if (m == EditMethod::AlphaEdit) {
            QCOMPARE(back.memit().nullSpaceThreshold, 0.125);
            QCOMPARE(back.memit().nullSpaceAlpha, 3.0);
            QVERIFY(!back.memit().preserveEarlierRuns);
            QVERIFY(back.memit().nullSpace);
        }
        if (m == EditMethod::Memit) {
            QVERIFY(!back.memit().preserveEarlierRuns); // the demo preset keeps them
            QVERIFY(!j.contains("null_space_threshold")); // MEMIT has no null space to record
        }
    }

    void fromJsonRefusesBadRecords()
    {
        ENGRAM_EXPECT_ERROR(
            EditConfig::fromJson(EditMethod::Memit, "[1]"), ErrorKind::CorruptFile, "not a JSON object");
        ENGRAM_EXPECT_ERROR(
            EditConfig::fromJson(EditMethod::Memit, "{\"lambda\": \"big\"}"), ErrorKind::CorruptFile, "wrong type");
        // Missing keys keep the defaults.
        QCOMPARE(EditConfig::fromJson(EditMethod::Memit, "{}").memit().lambda, MemitParams {}.lambda);
    }

    void statisticsFilesAreCheckedAgainstTheLayers()
    {
        const std::filesystem::path npz = std::filesystem::path(ENGRAM_TEST_DATA) / "npz";
        // Published statistics are named by layer: 3 (GPT-2 names) and 7 (Llama names).
        const std::vector<std::filesystem::path> files {npz / "transformer.h.3.mlp.c_proj_float32_mom2_100.npz",
            npz / "model.layers.7.mlp.down_proj_float32_mom2_100.npz"};
        QCOMPARE(missingStatisticsLayers(files, {3, 7}), std::vector<int>());
        QCOMPARE(missingStatisticsLayers(files, {0, 3, 5, 7, 0}), std::vector<int>({0, 5}));
        QCOMPARE(layerListText({0, 1, 3}), std::string("0, 1, 3"));
        ENGRAM_EXPECT_ERROR(missingStatisticsLayers({npz / "missing.h.2.npz"}, {2}), ErrorKind::Io, "does not exist");
    }

    void editRequestsComeFromAnyDatasetAndRefuseBadRecords()
    {
        QTemporaryDir dir;
        const auto write = [&](const char *name, const std::string &text) {
            const std::filesystem::path p = std::filesystem::path(dir.path().toStdString()) / name;
            std::ofstream(p, std::ios::binary) << text;
            return p;
        };
        const auto csv = write("facts.csv", "subject,prompt,target_new,relation\nAnn,{} plays the,violin,P1303\n"
                                            "Bob,{} was born in,Oslo,P19\n");
        const auto requests = readEditRequests(csv);
        QCOMPARE(requests.size(), std::size_t(2));
        QCOMPARE(requests[1].relation, std::string("P19"));
        QCOMPARE(readEditRequests(csv, 1).size(), std::size_t(1));
        // Records count from 1, as everywhere else; one bad record refuses the file.
        const auto bad = write("bad.json",
            R"([{"prompt": "{} is in", "subject": "A", "target_new": "B"}, {"prompt": "{} is in", "subject": "C"}])");
        ENGRAM_EXPECT_ERROR(readEditRequests(bad), ErrorKind::CorruptFile, "record 2, target_new");
        // One subject and relation with two new objects is a conflict, named by both records.
        const auto twice = write("twice.csv", "subject,prompt,target_new,relation\nAnn,{} plays the,violin,P1303\n"
                                              "Ann,{} performs on the,drums,P1303\n");
        ENGRAM_EXPECT_ERROR(readEditRequests(twice), ErrorKind::Conflict, "records 1 and 2 give 'Ann' two new objects");
        ENGRAM_EXPECT_ERROR(readEditRequests(write("none.json", "[]")), ErrorKind::CorruptFile, "holds no records");
        ENGRAM_EXPECT_ERROR(splitPathList(","), ErrorKind::InvalidArgument, "empty entry");
        ENGRAM_EXPECT_ERROR(splitPathList(""), ErrorKind::InvalidArgument, "empty file list");
        QCOMPARE(splitPathList("a,b").size(), std::size_t(2));
    }
};

QTEST_GUILESS_MAIN(TestEditMethod)
#include "tst_editmethod.moc"
