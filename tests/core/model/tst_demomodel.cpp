// The embedded demo model (issue #3): it loads, completes facts, meets the recall and storage
// gates, its subjects end in unique tokens, and its evaluation set follows the CounterFact schema.

#include "core/eval/recall.h"
#include "core/model/modelsession.h"
#include "core/model/transformer.h"
#include "core/text/subjecttokens.h"
#include "core/text/tokenizer.h"
#include "devkit/demoworld.h"
#include "devkit/subjectswap.h"
#include "testsupport.h"

#include <nlohmann/json.hpp>

#include <QtTest>

#include <fstream>
#include <set>

using namespace engram;

namespace {
const std::filesystem::path kDemo = std::filesystem::path(ENGRAM_SOURCE_DIR) / "resources" / "demo";
}

class TestDemoModel : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void completesAFact();
    void meetsTheRecallGates();
    void storesFactsOnTheSubjectsLastToken();
    void subjectsEndInUniqueTokens();
    void evaluationSetFollowsTheCounterFactSchema();

private:
    DemoWorld m_world;
    std::unique_ptr<Transformer> m_model;
    std::unique_ptr<Tokenizer> m_tok;
};

void TestDemoModel::initTestCase()
{
    m_world = DemoWorld::load(kDemo / "world.json");
    m_model = Transformer::load(kDemo / "model");
    m_tok = std::make_unique<Tokenizer>(Tokenizer::fromDirectory(kDemo / "model"));
    QCOMPARE(m_world.subjects.size(), std::size_t(1100));
    QCOMPARE(m_world.facts.size(), std::size_t(5050));
    QVERIFY(m_world.relations.size() >= 8);
}

void TestDemoModel::completesAFact()
{
    const auto session = ModelSession::open(kDemo / "model");
    const DemoFact &f = m_world.facts.front();
    const std::string prompt = fillTemplate(m_world.relations.at(f.relation).templates[0], f.subject);
    GenerationParams p;
    p.maxNewTokens = 4;
    const auto out = session->generate(prompt, p);
    QVERIFY2(out.continuation.rfind(" " + f.object, 0) == 0, out.continuation.c_str());
}

void TestDemoModel::meetsTheRecallGates()
{
    // Every third fact keeps the test quick; tools/check_demo measures all of them.
    for (int t = 0; t < 6; ++t) {
        std::vector<FactPrompt> qa, other;
        const auto all = m_world.prompts(t);
        for (std::size_t i = 0; i < all.size(); i += 3)
            (m_world.heldoutTrained.count(all[i].subject) ? qa : other).push_back(all[i]);
        if (t < m_world.trainTemplates) {
            const double r = measureRecall(*m_model, *m_tok, qa).rate();
            QVERIFY2(r >= 0.98, qPrintable(QStringLiteral("training template %1: recall %2").arg(t).arg(r)));
        } else {
            const double r = measureRecall(*m_model, *m_tok, other).rate();
            QVERIFY2(r >= 0.90, qPrintable(QStringLiteral("held-out template %1: recall %2").arg(t).arg(r)));
        }
    }
}

void TestDemoModel::storesFactsOnTheSubjectsLastToken()
{
    const auto pairs = m_world.swapPairs(100, /*seed=*/11);
    const SwapResult s = measureSubjectSwap(*m_model, *m_tok, pairs);
    double best = 0;
    for (int l = 0; l < m_model->config().numLayers / 2; ++l)
        best = std::max(best, s.flipRate[l]);
    QVERIFY2(best >= 0.5, qPrintable(QStringLiteral("best lower-half flip rate %1").arg(best)));
    QVERIFY(s.embeddingFlipRate > 0.9); // sanity: swapping the token itself moves the answer
}

void TestDemoModel::subjectsEndInUniqueTokens()
{
    std::set<int64_t> lastTokens;
    for (const auto &subject : m_world.subjects) {
        const SubjectSpan span = locateSubject(*m_tok, "The fact about {} is", subject);
        const auto ids = m_tok->encode(fillTemplate("The fact about {} is", subject));
        QVERIFY(lastTokens.insert(ids.at(span.last)).second);
    }
}

void TestDemoModel::evaluationSetFollowsTheCounterFactSchema()
{
    std::ifstream in(kDemo / "counterfact.json");
    const auto records = nlohmann::json::parse(in);
    QVERIFY(records.is_array());
    QVERIFY(records.size() >= 1000);
    std::set<std::string> subjects;
    for (const auto &r : records) {
        QVERIFY(r.at("case_id").is_number_integer());
        const auto &rw = r.at("requested_rewrite");
        const std::string prompt = rw.at("prompt"), subject = rw.at("subject");
        QVERIFY(prompt.find("{}") != std::string::npos);
        QVERIFY(m_world.relations.count(rw.at("relation_id").get<std::string>()));
        QVERIFY(rw.at("target_new").at("str") != rw.at("target_true").at("str"));
        for (const char *key :
            {"paraphrase_prompts", "neighborhood_prompts", "attribute_prompts", "generation_prompts"}) {
            QVERIFY(r.at(key).is_array());
            QVERIFY(!r.at(key).empty());
            for (const auto &p : r.at(key))
                QVERIFY(p.is_string() && p.get<std::string>().find("{}") == std::string::npos);
        }
        for (const auto &p : r.at("paraphrase_prompts"))
            QVERIFY(p.get<std::string>().find(subject) != std::string::npos);
        QVERIFY(subjects.insert(subject).second); // distinct subjects
    }
}

QTEST_GUILESS_MAIN(TestDemoModel)
#include "tst_demomodel.moc"
