// Tests for probing (core/eval/probe.h, the probe job's relation table): the batched,
// left-padded answers equal one prompt at a time (next-token distribution and greedy
// continuation) for every family, rotary positions included; the demo model's own answers;
// how the project's facts become relation questions.

#include "core/eval/probe.h"
#include "core/jobs/projectjobs.h"
#include "core/model/generator.h"
#include "core/model/modelsession.h"
#include "core/model/transformer.h"
#include "core/util/error.h"
#include "devkit/randomcheckpoint.h"
#include "testsupport.h"

#include <ATen/ATen.h>

#include <QTemporaryDir>
#include <QtTest>

#include <atomic>

using namespace engram;

namespace {
const std::filesystem::path kDemo = std::filesystem::path(ENGRAM_SOURCE_DIR) / "resources" / "demo";

Fact fact(int64_t id, const std::string &subject, const std::string &tmpl, const std::string &relation,
    const std::string &targetTrue, const std::string &targetNew)
{
    Fact f;
    f.id = id;
    f.subject = subject;
    f.promptTemplate = tmpl;
    f.relation = relation;
    f.targetTrue = targetTrue;
    f.targetNew = targetNew;
    return f;
}
} // namespace

class TestProbe : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void batchedEqualsOneAtATime_data();
    void batchedEqualsOneAtATime();
    void demoModelAnswersWhatItKnows();
    void relationsFromTheProjectsFacts();
    void rejectsBadInput();
    void answerPhraseStopsAtPunctuation();
};

void TestProbe::batchedEqualsOneAtATime_data()
{
    engram::test::addFamilyRows();
}

void TestProbe::batchedEqualsOneAtATime()
{
    QFETCH(ModelFamily, family);
    QTemporaryDir dir;
    writeRandomCheckpoint(tinyConfig(family), dir.path().toStdString(), 21);
    const auto model = Transformer::load(dir.path().toStdString());
    // Rows of different lengths: the short ones are left-padded in the batch, so their
    // positions (learned or rotary) must follow the mask, not the column.
    const std::vector<std::vector<int64_t>> rows = {{5, 9, 12, 3, 7, 1}, {2}, {40, 41, 8}, {17, 30, 11, 11}};
    ProbeParams params;
    params.topK = 4;
    params.continuationTokens = 10;
    const auto batched = probeTokenRows(*model, rows, params, std::nullopt);
    QCOMPARE(batched.size(), rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const at::Tensor ids = at::tensor(rows[i], at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
        const at::Tensor logits = model->forward(ids).logits[0][static_cast<int64_t>(rows[i].size()) - 1];
        const auto [p, tok] = at::softmax(logits, -1).topk(4);
        QCOMPARE(batched[i].top.size(), std::size_t(4));
        for (int64_t k = 0; k < 4; ++k) {
            QCOMPARE(batched[i].top[static_cast<std::size_t>(k)].token, tok[k].item<int64_t>());
            // float32 softmax of logits computed in another batch shape: equal to rounding.
            QVERIFY(std::abs(batched[i].top[static_cast<std::size_t>(k)].probability - p[k].item<double>()) < 1e-5);
        }
        GenerationParams g;
        g.maxNewTokens = 10;
        QCOMPARE(batched[i].continuationTokens, generate(*model, rows[i], g).tokens);
    }
    // One row per batch gives the same answers.
    params.batchSize = 1;
    const auto single = probeTokenRows(*model, rows, params, std::nullopt);
    for (std::size_t i = 0; i < rows.size(); ++i)
        QCOMPARE(single[i].continuationTokens, batched[i].continuationTokens);
    // A row stops at the end-of-text token, which it does not keep.
    const int64_t stop = batched[0].continuationTokens[2];
    const auto stopped = probeTokenRows(*model, {rows[0]}, params, stop);
    QVERIFY(stopped[0].continuationTokens.size() <= 2);
    QVERIFY(std::find(stopped[0].continuationTokens.begin(), stopped[0].continuationTokens.end(), stop)
        == stopped[0].continuationTokens.end());
}

void TestProbe::demoModelAnswersWhatItKnows()
{
    const auto session = ModelSession::open(kDemo / "model");
    // The demo world (resources/demo/world.json) gives these subjects these objects.
    const std::vector<std::string> prompts = {
        "The most popular sport in Port Broubrair is", "The working language at Casa Vofaim is"};
    const auto answers = probePrompts(session->model(), session->tokenizer(), prompts);
    QCOMPARE(answers.size(), std::size_t(2));
    QCOMPARE(answers[0].top[0].text, std::string(" football"));
    QVERIFY(answers[0].top[0].probability > 0.5);
    QCOMPARE(answers[1].top[0].text, std::string(" Swahili"));
    QCOMPARE(answers[0].top.size(), std::size_t(5));
    for (std::size_t k = 1; k < answers[0].top.size(); ++k)
        QVERIFY(answers[0].top[k].probability <= answers[0].top[k - 1].probability);
    // The greedy continuation starts with the likeliest word, decoded in context.
    QVERIFY(answers[0].continuation.rfind(" football", 0) == 0);
    QVERIFY(!answersDiffer(answers[0], answers[0]));
    QVERIFY(answersDiffer(answers[0], answers[1]));
    // Cancelled after the first forward pass.
    ENGRAM_EXPECT_ERROR(
        probePrompts(session->model(), session->tokenizer(), prompts, {}, [] { return true; }), ErrorKind::Cancelled,
        "cancelled");
}

void TestProbe::relationsFromTheProjectsFacts()
{
    const std::vector<Fact> facts = {
        fact(1, "Paris", "{} is the capital of", "P1376", "France", "Italy"),
        fact(2, "Rome", "The capital {} is in", "P1376", "Italy", "Spain"),
        fact(3, "Rome", "{} is the capital of", "P1376", "Italy", "Spain"),
        fact(4, "Oslo", "{} is the capital of", "P1376", "Norway", "Spain"),
        fact(5, "Paris", "The mayor of {} is", "", "Hidalgo", "Smith"),
        fact(6, "Paris", "People in {} speak", "P37", "French", "German"),
        fact(7, "Paris", "In {}, they speak", "P37", "", "Dutch"),
    };
    // Fact 6 is edited by an applied run.
    const auto rows = probeRelations(facts, {6}, "Paris");
    QCOMPARE(rows.size(), std::size_t(3)); // P1376, the template of the relation-less fact 5, P37
    QCOMPARE(rows[0].relation, std::string("P1376"));
    QCOMPARE(rows[0].promptTemplate, std::string("{} is the capital of")); // Paris's own fact
    QCOMPARE(rows[0].prompt, std::string("Paris is the capital of"));
    QCOMPARE(rows[0].factIds, std::vector<int64_t> {1});
    QCOMPARE(rows[0].recordedTrue, std::vector<std::string> {"France"});
    QCOMPARE(rows[0].recordedNew, std::vector<std::string> {"Italy"});
    QVERIFY(!rows[0].edited);
    QCOMPARE(rows[1].relation, std::string("The mayor of {} is"));
    QCOMPARE(rows[2].relation, std::string("P37"));
    QCOMPARE(rows[2].promptTemplate, std::string("People in {} speak")); // the subject's first fact
    QCOMPARE(rows[2].factIds, (std::vector<int64_t> {6, 7}));
    QCOMPARE(rows[2].recordedTrue, std::vector<std::string> {"French"}); // fact 7 records none
    QCOMPARE(rows[2].recordedNew, (std::vector<std::string> {"German", "Dutch"}));
    QVERIFY(rows[2].edited);

    // A subject the project has no fact about: every relation, with its commonest template.
    const auto other = probeRelations(facts, {}, "Berlin");
    QCOMPARE(other.size(), std::size_t(3));
    QCOMPARE(other[0].prompt, std::string("Berlin is the capital of")); // 3 of 4 P1376 facts use it
    QVERIFY(other[0].factIds.empty() && other[0].recordedNew.empty());
    QCOMPARE(other[2].prompt, std::string("People in Berlin speak")); // a tie: the first seen
}

void TestProbe::rejectsBadInput()
{
    QTemporaryDir dir;
    writeRandomCheckpoint(tinyConfig(ModelFamily::Gpt2), dir.path().toStdString(), 3);
    const auto model = Transformer::load(dir.path().toStdString());
    ProbeParams p;
    p.topK = 0;
    ENGRAM_EXPECT_ERROR(probeTokenRows(*model, {{1}}, p, std::nullopt), ErrorKind::InvalidArgument, "top-k");
    ENGRAM_EXPECT_ERROR(probeTokenRows(*model, {{1}, {}}, {}, std::nullopt), ErrorKind::InvalidArgument,
        "prompt 2 has no tokens");
    p = {};
    p.continuationTokens = static_cast<int>(model->config().maxPositions);
    ENGRAM_EXPECT_ERROR(probeTokenRows(*model, {{1, 2}}, p, std::nullopt), ErrorKind::InvalidArgument, "context");
}

void TestProbe::answerPhraseStopsAtPunctuation()
{
    const auto phrase = [](const std::string &continuation, int words = 4) {
        ProbeAnswer a;
        a.continuation = continuation;
        return answerPhrase(a, words);
    };
    QCOMPARE(phrase(" South America. It is"), std::string("South America"));
    QCOMPARE(phrase(" football\nThe"), std::string("football"));
    QCOMPARE(phrase(" a b c d e f"), std::string("a b c d"));
    QCOMPARE(phrase(" a b c", 2), std::string("a b"));
    QCOMPARE(phrase(". Then"), std::string());
    QCOMPARE(phrase(""), std::string());
}

QTEST_GUILESS_MAIN(TestProbe)
#include "tst_probe.moc"
