// Tests for dataset import: the fixtures' CounterFact, zsRE and known-facts files import
// completely; malformed records are named and skipped while the rest import; CSV and
// EasyEdit lists.

#include "core/data/datasets.h"
#include "core/util/error.h"
#include "testsupport.h"

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace engram;

namespace {
std::filesystem::path writeFile(const QTemporaryDir &dir, const char *name, const std::string &text)
{
    const std::filesystem::path p = std::filesystem::path(dir.path().toStdString()) / name;
    std::ofstream(p) << text;
    return p;
}
} // namespace

class TestDatasets : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void counterFactFixtureImportsCompletely();
    void zsreFixtureImportsCompletely();
    void knownFactsFixtureImports();
    void malformedRecordsAreNamedAndSkipped();
    void csvAndEasyEdit();
    void unreadableFilesFail();
    void exportsReimport_data();
    void exportsReimport();
    void filesAsOtherProgramsWriteThem();
};

void TestDatasets::counterFactFixtureImportsCompletely()
{
    ENGRAM_REQUIRE_FIXTURE(file, "counterfact/counterfact_500.json");
    const Dataset d = importDataset(file);
    QCOMPARE(d.format, DatasetFormat::CounterFact);
    QCOMPARE(d.records.size(), std::size_t(500));
    QVERIFY(d.rejected.empty());
    const EvalRecord &r = d.records[0];
    QCOMPARE(r.subject, std::string("Angola"));
    QCOMPARE(r.prompt(), std::string("Angola is located in"));
    QCOMPARE(r.targetNew, std::string("Antarctica"));
    QCOMPARE(r.targetTrue, std::string("Africa"));
    QCOMPARE(r.relationId, std::string("P30"));
    QVERIFY(!r.paraphrasePrompts.empty() && !r.neighborhoodPrompts.empty() && !r.generationPrompts.empty());
    QCOMPARE(importDataset(file, 7).records.size(), std::size_t(7));
}

void TestDatasets::zsreFixtureImportsCompletely()
{
    ENGRAM_REQUIRE_FIXTURE(file, "zsre/zsre_1037.json");
    const Dataset d = importDataset(file);
    QCOMPARE(d.format, DatasetFormat::Zsre);
    QCOMPARE(d.records.size() + d.rejected.size(), std::size_t(1037));
    for (const auto &r : d.rejected) // every rejected record is named with its reason
        QVERIFY2(!r.field.empty() && !r.reason.empty() && r.index >= 1, qPrintable(QString::number(r.index)));
    const EvalRecord &first = d.records[0];
    QCOMPARE(first.subject, std::string("IAAF Combined Events Challenge"));
    QCOMPARE(first.promptTemplate, std::string("When was the inception of {}?"));
    QCOMPARE(first.targetNew, std::string("1998")); // the gold answer, as the reference loads it
    QCOMPARE(first.localityPrompt, std::string("nq question: what is the name of the last episode of spongebob?"));
    QCOMPARE(first.localityAnswer, std::string("The String"));
    QCOMPARE(first.paraphrasePrompts.size(), std::size_t(1));
    // The fixture's records all contain their subject in src: none is lost.
    QVERIFY2(d.rejected.empty(), d.rejected.empty() ? "" : d.rejected[0].reason.c_str());
}

void TestDatasets::knownFactsFixtureImports()
{
    ENGRAM_REQUIRE_FIXTURE(file, "known-facts/known_1000.json");
    const Dataset d = importDataset(file);
    QCOMPARE(d.format, DatasetFormat::KnownFacts);
    QCOMPARE(d.records.size() + d.rejected.size(), std::size_t(1209));
    QCOMPARE(d.records[0].promptTemplate, std::string("{} is located in the continent of"));
    QCOMPARE(d.records[0].targetTrue, std::string("Antarctica"));
}

void TestDatasets::malformedRecordsAreNamedAndSkipped()
{
    QTemporaryDir dir;
    const auto file = writeFile(dir, "cf.json", R"([
 {"case_id": 0, "requested_rewrite": {"prompt": "{} plays", "subject": "Ann", "target_new": {"str": "jazz"}, "target_true": {"str": "rock"}}},
 {"case_id": 1, "requested_rewrite": {"prompt": "{} plays", "subject": "Bob", "target_new": {"str": ""}, "target_true": {"str": "rock"}}},
 {"case_id": 2, "requested_rewrite": {"prompt": "{} and {} play", "subject": "Cid", "target_new": {"str": "a"}, "target_true": {"str": "b"}}},
 {"case_id": 3, "requested_rewrite": {"prompt": "Someone plays", "subject": "Dan", "target_new": {"str": "a"}, "target_true": {"str": "b"}}},
 {"case_id": 4, "requested_rewrite": {"prompt": "{} sings", "subject": "Eve", "target_new": {"str": "pop"}, "target_true": {"str": "soul"}}, "paraphrase_prompts": [3]},
 "not an object",
 {"case_id": 6, "requested_rewrite": {"prompt": "{} sings", "subject": "Fay", "target_new": {"str": "pop"}, "target_true": {"str": "soul"}}}
])");
    const Dataset d = importDataset(file);
    QCOMPARE(d.records.size(), std::size_t(2));
    QCOMPARE(d.records[1].subject, std::string("Fay"));
    QCOMPARE(d.rejected.size(), std::size_t(5));
    QCOMPARE(d.rejected[0].index, int64_t(2));
    QCOMPARE(d.rejected[0].field, std::string("str"));
    QCOMPARE(d.rejected[1].reason, std::string("has more than one {}"));
    QVERIFY(d.rejected[2].reason.find("does not contain the subject 'Dan'") != std::string::npos);
    QCOMPARE(d.rejected[3].field, std::string("paraphrase_prompts"));
    QCOMPARE(d.rejected[4].index, int64_t(6));
}

void TestDatasets::csvAndEasyEdit()
{
    QTemporaryDir dir;
    const auto csv = writeFile(dir, "facts.csv",
        "subject,prompt,target_new,target_true,paraphrases,neighborhood\n"
        "Ann,{} plays the,violin,piano,\"Ann, the musician, plays the|Ann plays\",Bob plays the\n"
        ",{} sings,pop,,,\n"
        "\"Carl \"\"CJ\"\" Jones\",{} works as a,baker,,,\n");
    const Dataset c = importDataset(csv);
    QCOMPARE(c.format, DatasetFormat::Csv);
    QCOMPARE(c.records.size(), std::size_t(2));
    QCOMPARE(c.records[0].paraphrasePrompts, (std::vector<std::string> {"Ann, the musician, plays the", "Ann plays"}));
    QCOMPARE(c.records[1].subject, std::string("Carl \"CJ\" Jones"));
    QCOMPARE(c.rejected.size(), std::size_t(1));
    QCOMPARE(c.rejected[0].index, int64_t(2));
    QCOMPARE(c.rejected[0].field, std::string("subject"));

    const auto ee = writeFile(dir, "ee.json", R"([{"prompt": "The capital of France is", "subject": "France",
        "target_new": "Lyon", "ground_truth": "Paris", "rephrase_prompt": "France's capital is",
        "locality_prompt": "The capital of Spain is", "locality_ground_truth": "Madrid"}])");
    const Dataset e = importDataset(ee);
    QCOMPARE(e.format, DatasetFormat::EasyEdit);
    QCOMPARE(e.records[0].promptTemplate, std::string("The capital of {} is"));
    QCOMPARE(e.records[0].targetTrue, std::string("Paris"));
    QCOMPARE(e.records[0].paraphrasePrompts, std::vector<std::string> {"France's capital is"});
}

void TestDatasets::unreadableFilesFail()
{
    QTemporaryDir dir;
    ENGRAM_EXPECT_ERROR(
        importDataset(writeFile(dir, "bad.json", "{not json")), ErrorKind::CorruptFile, "not valid JSON");
    ENGRAM_EXPECT_ERROR(importDataset(writeFile(dir, "obj.json", "{}")), ErrorKind::CorruptFile, "JSON list");
    ENGRAM_EXPECT_ERROR(
        importDataset(writeFile(dir, "odd.json", "[{\"x\": 1}]")), ErrorKind::CorruptFile, "no known format");
    ENGRAM_EXPECT_ERROR(
        importDataset(std::filesystem::path(dir.path().toStdString()) / "none.json"), ErrorKind::Io, "none.json");
}

void TestDatasets::exportsReimport_data()
{
    QTest::addColumn<QString>("extension");
    QTest::newRow("counterfact json") << QStringLiteral(".json");
    QTest::newRow("csv") << QStringLiteral(".csv");
}

void TestDatasets::exportsReimport()
{
    // Export then import gives the same records, whatever characters the fields hold.
    QFETCH(QString, extension);
    QTemporaryDir dir;
    EvalRecord a;
    a.caseId = 17;
    a.subject = "Oscar \"Ox\" Koutex";
    a.promptTemplate = "{}, the painter,\nwas born in";
    a.relationId = "P19";
    a.targetNew = " Oslo";
    a.targetTrue = "Lyon, France";
    a.paraphrasePrompts = {"Where was Oscar \"Ox\" Koutex born?\r\nIn", "Oscar | Ox \\ Koutex, born in"};
    a.neighborhoodPrompts = {"Mira Delvane was born in"};
    a.attributePrompts = {"Zoë Ångström was born in"};
    a.generationPrompts = {"Oscar Koutex's childhood was", "Oscar's home town"};
    a.tags = {"review", "batch|2"};
    EvalRecord b;
    b.caseId = 42;
    b.subject = "Mira";
    b.promptTemplate = "{} works as a";
    b.targetNew = "pilot";
    const auto file = std::filesystem::path(dir.path().toStdString()) / ("facts" + extension.toStdString());
    exportDataset({a, b}, file);
    const Dataset back = importDataset(file);
    QVERIFY(back.rejected.empty());
    QCOMPARE(back.records.size(), std::size_t(2));
    for (int i = 0; i < 2; ++i) {
        const EvalRecord &want = i == 0 ? a : b;
        const EvalRecord &r = back.records[static_cast<std::size_t>(i)];
        QCOMPARE(r.caseId, want.caseId);
        QCOMPARE(r.subject, want.subject);
        QCOMPARE(r.promptTemplate, want.promptTemplate);
        QCOMPARE(r.relationId, want.relationId);
        QCOMPARE(r.targetNew, want.targetNew);
        QCOMPARE(r.targetTrue, want.targetTrue);
        QCOMPARE(r.paraphrasePrompts, want.paraphrasePrompts);
        QCOMPARE(r.neighborhoodPrompts, want.neighborhoodPrompts);
        QCOMPARE(r.attributePrompts, want.attributePrompts);
        QCOMPARE(r.generationPrompts, want.generationPrompts);
        QCOMPARE(r.tags, want.tags);
    }
    ENGRAM_EXPECT_ERROR(exportDataset({a}, file.parent_path() / "facts.txt"), ErrorKind::InvalidArgument, ".json");

    // Bytes that are not UTF-8 (fuzz finding 13) are refused, naming the record and field, and
    // no file is written; the earlier export stays as it was.
    const auto bad = file.parent_path() / ("bad" + extension.toStdString());
    EvalRecord c = b;
    c.paraphrasePrompts = {"fine", std::string("caf\xC3", 4)};
    ENGRAM_EXPECT_ERROR(exportDataset({a, c}, bad), ErrorKind::InvalidArgument, "record 2 (case_id 42)");
    ENGRAM_EXPECT_ERROR(exportDataset({a, c}, bad), ErrorKind::InvalidArgument, "paraphrase prompts");
    QVERIFY(!std::filesystem::exists(bad));
    EvalRecord d = a;
    d.subject = std::string("\xFF", 1);
    ENGRAM_EXPECT_ERROR(exportDataset({d}, file), ErrorKind::InvalidArgument, "the subject is not valid UTF-8");
    QCOMPARE(importDataset(file).records.size(), std::size_t(2));
}

void TestDatasets::filesAsOtherProgramsWriteThem()
{
    QTemporaryDir dir;
    // A spreadsheet's CSV: byte order mark, CRLF line ends, a quoted field over two lines.
    const auto csv = writeFile(dir, "sheet.csv",
        "\xEF\xBB\xBFsubject,prompt,target_new,relation\r\n"
        "Ann,\"{} plays the\r\nfamous\",violin,P1303\r\n"
        "Bob,{} sings,,P1\r\n");
    const Dataset c = importDataset(csv);
    QCOMPARE(c.records.size(), std::size_t(1));
    QCOMPARE(c.records[0].subject, std::string("Ann"));
    QCOMPARE(c.records[0].promptTemplate, std::string("{} plays the\r\nfamous"));
    QCOMPARE(c.records[0].relationId, std::string("P1303"));
    QCOMPARE(c.rejected.size(), std::size_t(1));
    QCOMPARE(c.rejected[0].index, int64_t(2)); // records count from 1 after the header
    QVERIFY(c.rejected[0].reason.find("line 4") != std::string::npos); // the record after the 2-line one
    ENGRAM_EXPECT_ERROR(importDataset(writeFile(dir, "open.csv", "subject,prompt,target_new\nA,\"{} is,x\n")),
        ErrorKind::CorruptFile, "line 2: a quoted field is never closed");
    // JSON with a byte order mark reads; a number beyond double range is named as such.
    const auto bom = writeFile(dir, "bom.json",
        "\xEF\xBB\xBF[{\"prompt\": \"{} is in\", \"subject\": \"A\", \"target_new\": \"B\"}]");
    QCOMPARE(importDataset(bom).records.size(), std::size_t(1));
    ENGRAM_EXPECT_ERROR(importDataset(writeFile(dir, "huge.json", "[{\"case_id\": 1e400}]")), ErrorKind::CorruptFile,
        "huge.json: not valid JSON (the number 1e400 is beyond the range of a double)");
}

QTEST_GUILESS_MAIN(TestDatasets)
#include "tst_datasets.moc"
