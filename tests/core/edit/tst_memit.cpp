// Tests for the MEMIT engine: the closed-form solve (memit-spec §12), batched target
// optimisation equal to the one-fact-at-a-time loop, and an end-to-end edit of the demo model.

#include "core/edit/covariance.h"
#include "core/edit/memit.h"
#include "core/model/interventions.h"
#include "core/model/transformer.h"
#include "core/text/subjecttokens.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "testsupport.h"

#include <ATen/ATen.h>

#include <QTemporaryDir>
#include <QtTest>

using namespace engram;

namespace {
const std::filesystem::path kDemo = std::filesystem::path(ENGRAM_SOURCE_DIR) / "resources" / "demo";
// Fixed context templates so results do not depend on sampling.
const std::vector<std::string> kContexts = {"{}", "The river flowed slowly. {}", "Many visitors came. {}"};
} // namespace

class TestMemit : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void singleEditObeysShermanMorrison();
    void hugeLambdaGivesNoUpdate();
    void batchedTargetsEqualSerialTargets();
    void targetVectorsMakeTheModelSayTheNewObject();
    void editMovesTheDemoModelTowardTheTargets();
    void secondMomentsMergeByAddition();
    void rejectsBadRequests();
};

void TestMemit::singleEditObeysShermanMorrison()
{
    // n = 1: ΔW k = r · s / (1 + s) with s = kᵀ (λC)⁻¹ k.
    at::manual_seed(3);
    const int64_t d = 4, dk = 8;
    const at::Tensor X = at::randn({dk, 32}, at::kDouble);
    const at::Tensor C = at::matmul(X, X.t()) / 32.0 + 0.1 * at::eye(dk, at::kDouble);
    const at::Tensor k = at::randn({dk, 1}, at::kDouble), r = at::randn({d, 1}, at::kDouble);
    const double lambda = 2.5;
    const at::Tensor dW = solveMemitUpdate(r, k, C, lambda);
    QCOMPARE(dW.sizes().vec(), (std::vector<int64_t> {d, dk}));
    const double s = at::matmul(k.t(), at::linalg_solve(lambda * C, k)).item<double>();
    QVERIFY(at::allclose(at::matmul(dW, k), r * (s / (1 + s)), 1e-10, 1e-10));
}

void TestMemit::hugeLambdaGivesNoUpdate()
{
    at::manual_seed(5);
    const at::Tensor C = at::eye(6, at::kDouble);
    const at::Tensor K = at::randn({6, 3}, at::kDouble), R = at::randn({5, 3}, at::kDouble);
    QVERIFY(solveMemitUpdate(R, K, C, 1e12).abs().max().item<double>() < 1e-9);
    QVERIFY(solveMemitUpdate(R, K, C, 1.0).abs().max().item<double>() > 1e-3);
}

void TestMemit::batchedTargetsEqualSerialTargets()
{
    const auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    const std::vector<EditRequest> requests = {{"{} was born in", "Oscar Koutex", "Japan"},
        {"{} plays the", "Adam Thateix", "violin"}, {"The {} is made of", "Tower of Sample", "glass"},
        {"{} is headquartered in", "Casa Nobody", "South America"}};
    MemitParams p;
    p.layers = {1, 2};
    p.vSteps = 8;
    p.vLr = 4.0;
    const TargetResult batched = computeTargets(*model, tok, requests, p, kContexts);
    p.batchedTargets = false;
    const TargetResult serial = computeTargets(*model, tok, requests, p, kContexts);
    QVERIFY(at::allclose(batched.hStar, serial.hStar, 1e-4, 1e-3));
    const double diff = (batched.z - serial.z).abs().max().item<double>();
    QVERIFY2(diff < 1e-2 * serial.z.abs().max().item<double>(), qPrintable(QString::number(diff)));
    QCOMPARE(batched.steps, serial.steps);
    // The optimisation moved every target away from the clean state, within the clamp.
    for (int64_t i = 0; i < 4; ++i) {
        const double moved = (batched.z[i] - batched.hStar[i]).norm().item<double>();
        QVERIFY(moved > 0);
        QVERIFY(moved <= 0.75 * batched.hStar[i].norm().item<double>() * 1.0001);
    }
}

void TestMemit::targetVectorsMakeTheModelSayTheNewObject()
{
    // Regression: the labels must sit at the positions that predict the target (t_1 at the last
    // prompt token). Writing z into the residual stream then makes the model say the new object.
    const auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    const EditRequest req {"{} was born in", "Oscar Koutex", "Japan"};
    MemitParams p;
    p.layers = {2};
    p.vLr = 4.0;
    const TargetResult t = computeTargets(*model, tok, {req}, p, {"{}"});
    const auto ids = tok.encode(fillTemplate(req.promptTemplate, req.subject));
    const SubjectSpan span = locateSubject(tok, req.promptTemplate, req.subject);
    Interventions iv;
    iv.replaceAt(Site::BlockOutput, 2, {{0, span.last}}, t.z);
    ForwardOptions fo;
    fo.interventions = &iv;
    const at::Tensor logits = model->forward(at::tensor(ids, at::kLong).unsqueeze(0), {}, fo).logits[0][-1];
    const int64_t japan = tok.encode(" Japan").front();
    const double prob = at::softmax(logits, -1)[japan].item<double>();
    QVERIFY2(prob > 0.5, qPrintable(QStringLiteral("p(Japan) = %1").arg(prob)));
}

void TestMemit::editMovesTheDemoModelTowardTheTargets()
{
    auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    CovarianceParams cp;
    cp.layers = {1, 2};
    cp.maxDocuments = 300;
    const auto stats = collectSecondMoments(*model, tok, readCorpus(kDemo / "corpus.txt"), cp);
    const std::vector<EditRequest> requests
        = {{"{} was born in", "Oscar Koutex", "Japan"}, {"{} plays the", "Adam Thateix", "violin"}};
    MemitParams p;
    p.layers = {1, 2};
    p.lambda = 100;
    p.vLr = 4.0;
    p.contextTemplates = kContexts;
    const std::string w1 = model->mlpOutputWeightName(1);
    const at::Tensor before = model->parameter(w1).clone();
    const MemitResult r = applyMemit(*model, tok, requests, p, stats);
    QCOMPARE(r.updates.size(), std::size_t(2));
    // GPT-2 stores c_proj as Conv1D [d_k, d]: the delta comes back in that orientation.
    QCOMPARE(r.updates[0].delta.sizes().vec(), (std::vector<int64_t> {768, 192}));
    QVERIFY(at::allclose(model->parameter(w1), before + r.updates[0].delta, 1e-5, 1e-5));
    // Writing the layers brings the block-L states closer to the optimised targets.
    QVERIFY(r.residualAfter < r.updates[0].residualBefore);
}

void TestMemit::secondMomentsMergeByAddition()
{
    const auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    auto docs = readCorpus(kDemo / "corpus.txt");
    docs.resize(60);
    CovarianceParams cp;
    cp.layers = {0, 3};
    const auto whole = collectSecondMoments(*model, tok, docs, cp);
    // Two shards, and one layer at a time: the sums add up to the one-pass result.
    const std::vector<std::string> a(docs.begin(), docs.begin() + 25), b(docs.begin() + 25, docs.end());
    auto shardA = collectSecondMoments(*model, tok, a, cp);
    const auto shardB = collectSecondMoments(*model, tok, b, cp);
    for (std::size_t i = 0; i < 2; ++i)
        shardA[i].merge(shardB[i]);
    CovarianceParams only3 = cp;
    only3.layers = {3};
    const auto layer3 = collectSecondMoments(*model, tok, docs, only3);
    QCOMPARE(shardA[1].count, whole[1].count);
    QVERIFY(at::allclose(shardA[1].sum, whole[1].sum, 1e-9, 1e-6));
    QVERIFY(at::allclose(layer3[0].sum, whole[1].sum, 1e-9, 1e-9));
    // Save and load keep the raw sums and counts.
    QTemporaryDir dir;
    const std::filesystem::path file = std::filesystem::path(dir.path().toStdString()) / "stats.safetensors";
    saveSecondMoments(file, whole, {{"corpus", "demo"}});
    const auto loaded = loadSecondMoments(file);
    QCOMPARE(loaded.size(), std::size_t(2));
    QCOMPARE(loaded[1].layer, 3);
    QCOMPARE(loaded[1].count, whole[1].count);
    QVERIFY(at::equal(loaded[1].sum, whole[1].sum));
}

void TestMemit::rejectsBadRequests()
{
    auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    MemitParams p;
    p.layers = {1};
    p.contextTemplates = kContexts;
    ENGRAM_EXPECT_ERROR(
        applyMemit(*model, tok, {{"no placeholder", "X", "Y"}}, p, {}), ErrorKind::InvalidArgument, "exactly one {}");
    ENGRAM_EXPECT_ERROR(applyMemit(*model, tok, {{"{} is", "X", "Y"}}, p, {}), ErrorKind::InvalidArgument,
        "no covariance statistics for layer 1");
    p.layers = {2, 1};
    ENGRAM_EXPECT_ERROR(applyMemit(*model, tok, {{"{} is", "X", "Y"}}, p, {}), ErrorKind::InvalidArgument, "ascending");
}

QTEST_GUILESS_MAIN(TestMemit)
#include "tst_memit.moc"
