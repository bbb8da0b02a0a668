// Tests for the evaluation metrics (memit-spec §8): teacher-forced NLL position arithmetic on a
// fixed bigram logit table (multi-token targets, shared rows), the harmonic mean, generation
// entropy of fixed texts, and CounterFact / zsRE scores on the demo model.

#include "core/data/datasets.h"
#include "core/eval/counterfact.h"
#include "core/eval/teacherforcing.h"
#include "core/model/transformer.h"
#include "core/text/tokenizer.h"
#include "testsupport.h"

#include <ATen/ATen.h>

#include <QtTest>

#include <cmath>

using namespace engram;

namespace {
const std::filesystem::path kDemo = std::filesystem::path(ENGRAM_SOURCE_DIR) / "resources" / "demo";

// Logits at (row, pos) depend only on the token there: row t of this 5×5 table.
const float kTable[5][5] = {{0, 1, 2, 3, 4}, {4, 0, 0, 0, 0}, {0, 0, 0, 2, 1}, {1, 1, 1, 1, 3}, {0, 5, 0, 0, 0}};

LogitsFunction bigram()
{
    return [](const at::Tensor &ids, const at::Tensor &, const at::Tensor &index) {
        at::Tensor out = at::empty({index.size(0), 5});
        for (int64_t i = 0; i < index.size(0); ++i) {
            const int64_t tok = ids[index[i][0].item<int64_t>()][index[i][1].item<int64_t>()].item<int64_t>();
            for (int v = 0; v < 5; ++v)
                out[i][v] = kTable[tok][v];
        }
        return out;
    };
}

double logSoftmax(int row, int col)
{
    double z = 0;
    for (float v : kTable[row])
        z += std::exp(static_cast<double>(v));
    return kTable[row][col] - std::log(z);
}
} // namespace

class TestCounterFact : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void nllUsesThePredictingPositions();
    void harmonicMeanOfScores();
    void generationEntropyOfFixedTexts();
    void counterFactScoresOnTheDemo();
    void zsreAccuracyOnTheDemo();
    void tfidfSimilarityByHand();
};

void TestCounterFact::nllUsesThePredictingPositions()
{
    // prompt [1, 2], target [3, 4]: t1 = 3 is predicted at token 2, t2 = 4 at token 3.
    // prompt [1, 2], target [2]: shares the input [1, 2] with the first (one pass, one row).
    // prompt [4], target [1, 0]: a shorter, padded row.
    const auto s = scoreContinuations(bigram(), {{{1, 2}, {3, 4}}, {{1, 2}, {2}}, {{4}, {1, 0}}}, /*tokenBudget=*/3);
    QCOMPARE(s.size(), std::size_t(3));
    const double expect0 = -(logSoftmax(2, 3) + logSoftmax(3, 4)) / 2;
    QVERIFY(std::abs(s[0].nll - expect0) < 1e-6);
    QCOMPARE(s[0].correct, (std::vector<bool> {true, true})); // 3 is row 2's argmax, 4 is row 3's
    QVERIFY(std::abs(s[1].nll + logSoftmax(2, 2)) < 1e-6);
    QCOMPARE(s[1].correct, std::vector<bool> {false});
    const double expect2 = -(logSoftmax(4, 1) + logSoftmax(1, 0)) / 2;
    QVERIFY(std::abs(s[2].nll - expect2) < 1e-6);
    QCOMPARE(s[2].correct, (std::vector<bool> {true, true}));
    // Hand-computed: row 2 = (0,0,0,2,1): log p(3) = 2 − log(3 + e² + e).
    QVERIFY(std::abs(logSoftmax(2, 3) - (2 - std::log(3 + std::exp(2.0) + std::exp(1.0)))) < 1e-9);
}

void TestCounterFact::harmonicMeanOfScores()
{
    QVERIFY(std::abs(harmonicMean({100, 50, 25}) - 3 / (0.01 + 0.02 + 0.04)) < 1e-9);
    QCOMPARE(harmonicMean({90, 0, 80}), 0.0);
    QVERIFY(std::abs(harmonicMean({40, std::nan(""), 40}) - 40) < 1e-12);
}

void TestCounterFact::generationEntropyOfFixedTexts()
{
    // "a b a b a b": bigrams ab×3, ba×2 → H2 = H(3/5, 2/5); trigrams aba×2, bab×2 → H3 = 1.
    const double h2 = -(0.6 * std::log2(0.6) + 0.4 * std::log2(0.4));
    QVERIFY(std::abs(generationEntropy("a b a b a b") - (2.0 / 3 * h2 + 4.0 / 3 * 1.0) / 2) < 1e-9);
    QCOMPARE(generationEntropy("same same"), 0.0); // one bigram, no trigram
    QCOMPARE(wordTokens("It's 3 o'clock, Dr. Who!"),
        (std::vector<std::string> {"It's", "3", "o'clock", ",", "Dr", ".", "Who", "!"}));
    // Repetitive text has lower entropy than varied text.
    QVERIFY(
        generationEntropy("the cat the cat the cat the cat") < generationEntropy("the cat sat on a warm mat today"));
}

void TestCounterFact::counterFactScoresOnTheDemo()
{
    const auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    const Dataset data = importDataset(kDemo / "counterfact.json", 40);
    QCOMPARE(data.records.size(), std::size_t(40));
    const auto scores = evaluateRecords(*model, tok, data.records, {});
    for (const auto &s : scores) {
        QCOMPARE(s.es, s.pNew > s.pTrue ? 1.0 : 0.0);
        QVERIFY(std::abs(s.em - (s.pNew - s.pTrue)) < 1e-12);
        QVERIFY(s.ns >= 0 && s.ns <= 1);
    }
    const EvalSummary e = summarize(scores);
    QCOMPARE(e.records, int64_t(40));
    QVERIFY(e.es.mean < 10); // the unedited model believes the true objects
    QVERIFY(e.ns.mean > 90);
    QCOMPARE(e.score, harmonicMean({e.es.mean, e.ps.mean, e.ns.mean}));
    // The test's own arithmetic of the same record through scoreContinuations.
    const EvalRecord &r = data.records[0];
    const LogitsFunction f = [&](const at::Tensor &ids, const at::Tensor &mask, const at::Tensor &index) {
        ForwardOptions fo;
        fo.logitIndex = index;
        return model->forward(ids, mask, fo).logits;
    };
    const auto p = tok.encode(r.prompt(), true);
    const auto c = scoreContinuations(f, {{p, tok.encode(" " + r.targetNew)}, {p, tok.encode(" " + r.targetTrue)}});
    QVERIFY(std::abs(std::exp(-c[0].nll) - scores[0].pNew) < 1e-9);
    QVERIFY(std::abs(std::exp(-c[1].nll) - scores[0].pTrue) < 1e-9);
}

void TestCounterFact::zsreAccuracyOnTheDemo()
{
    // A zsRE-style record whose answer is a fact the model knows: every answer token is the
    // teacher-forced argmax, so efficacy is 1; an answer it does not know scores below 1.
    const auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    EvalRecord known;
    known.promptTemplate = "{} was born in";
    known.subject = "Oscar Koutex";
    known.targetNew = "Morocco";
    known.paraphrasePrompts = {"Oscar Koutex is a native of"};
    EvalRecord wrong = known;
    wrong.targetNew = "South Korea"; // two tokens
    QVERIFY(tok.encode(" South Korea").size() >= 2);
    const auto s = evaluateRecords(*model, tok, {known, wrong}, {});
    QCOMPARE(s[0].rewriteAcc, 1.0);
    QCOMPARE(s[0].paraphraseAcc, 1.0);
    QVERIFY(s[1].rewriteAcc < 1.0);
    QVERIFY(std::isnan(s[0].es)); // no true object: no CounterFact success
    const EvalSummary e = summarize(s);
    QCOMPARE(e.es.count, int64_t(0));
    QVERIFY(e.rewriteAcc.count == 2);
}

void TestCounterFact::tfidfSimilarityByHand()
{
    const TfidfModel m = TfidfModel::fit({"The cat sat.", "the dog sat", "a cat ran"});
    QCOMPARE(tfidfTokens("A Cat's 2 dogs_x!"), (std::vector<std::string> {"cat", "dogs_x"}));
    QCOMPARE(m.vocabularySize(), std::size_t(5)); // the, cat, sat, dog, ran ("a" is too short)
    const double idfCat = std::log(4.0 / 3.0) + 1, idfDog = std::log(4.0 / 2.0) + 1;
    // "cat" against "cat dog": cosine = idf_cat / sqrt(idf_cat² + idf_dog²).
    QVERIFY(std::abs(m.similarity("cat", "cat dog") - idfCat / std::sqrt(idfCat * idfCat + idfDog * idfDog)) < 1e-12);
    QVERIFY(std::abs(m.similarity("the cat", "The CAT") - 1.0) < 1e-12);
    QCOMPARE(m.similarity("dog", "ran"), 0.0);
    QCOMPARE(m.similarity("unseen words", "cat"), 0.0); // terms outside the fitted vocabulary are ignored
}

QTEST_GUILESS_MAIN(TestCounterFact)
#include "tst_counterfact.moc"
