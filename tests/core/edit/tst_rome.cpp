// Tests for ROME (memit-spec §5, §12: ΔW k₀ = v* − m₀), its consistent-key variant, and the
// constrained fine-tuning baseline, on the embedded demo model.

#include "core/edit/covariance.h"
#include "core/edit/editor.h"
#include "core/edit/finetune.h"
#include "core/edit/rome.h"
#include "core/edit/weightpatch.h"
#include "core/model/interventions.h"
#include "core/model/modelsession.h"
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
const std::vector<std::string> kContexts = {"{}", "The river flowed slowly. {}", "Many visitors came. {}"};

// The MLP output of `layer` at the subject's last token of the bare prompt.
at::Tensor mlpOutputAt(const Transformer &model, const Tokenizer &tok, const EditRequest &r, int layer)
{
    const auto ids = tok.encode(fillTemplate(r.promptTemplate, r.subject));
    const int64_t last = locateSubject(tok, r.promptTemplate, r.subject).last;
    at::Tensor out;
    Interventions iv;
    iv.recordAt(Site::MlpOutput, layer, {{0, last}}, &out);
    ForwardOptions fo;
    fo.interventions = &iv;
    fo.stopAfterLayer = layer;
    model.forward(at::tensor(ids, at::kLong).unsqueeze(0), {}, fo);
    return out[0].to(at::kFloat);
}

int64_t nextToken(const Transformer &model, const Tokenizer &tok, const std::string &prompt)
{
    const auto ids = tok.encode(prompt);
    return model.forward(at::tensor(ids, at::kLong).unsqueeze(0))
        .logits[0][static_cast<int64_t>(ids.size()) - 1]
        .argmax()
        .item<int64_t>();
}
} // namespace

class TestRome : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void romeWritesTheTargetValueExactly();
    void consistentKeyHoldsForTheAveragedKey();
    void sequentialEditsAllLand();
    void fineTuningStaysInsideTheLInfinityBall();
    void fineTuningLearnsTheTargets();
    void rejectsBadSettings();
    void cancellingAnEditRestoresTheWeights();

private:
    std::vector<SecondMoment> m_stats;
};

void TestRome::initTestCase()
{
    const auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    CovarianceParams cp;
    cp.layers = {0, 1};
    cp.maxDocuments = 400;
    m_stats = collectSecondMoments(*model, tok, readCorpus(kDemo / "corpus.txt"), cp);
}

void TestRome::romeWritesTheTargetValueExactly()
{
    auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    const EditRequest req {"{} was born in", "Oscar Koutex", "Japan"};
    RomeParams p;
    p.layer = 0;
    p.vLr = 4.0;
    p.contextTemplates = kContexts;
    const at::Tensor before = model->parameter(model->mlpOutputWeightName(0)).clone();
    const RomeResult r = applyRome(*model, tok, {req}, p, m_stats);
    QCOMPARE(r.steps.size(), std::size_t(1));
    // ΔW k₀ = v* − m₀: the edited layer now outputs v* for the bare prompt's key.
    const at::Tensor after = mlpOutputAt(*model, tok, req, 0);
    const double err = (after - r.steps[0].target).norm().item<double>() / r.steps[0].target.norm().item<double>();
    QVERIFY2(err < 1e-4, qPrintable(QString::number(err)));
    // The summed update is what changed in the weight, in GPT-2's Conv1D orientation.
    QCOMPARE(r.update.delta.sizes().vec(), (std::vector<int64_t> {768, 192}));
    QVERIFY(at::allclose(model->parameter(model->mlpOutputWeightName(0)), before + r.update.delta, 1e-5, 1e-5));
    // Rank one.
    const at::Tensor sv = at::linalg_svdvals(r.update.delta.to(at::kDouble));
    QVERIFY(sv[1].item<double>() < 1e-6 * sv[0].item<double>());
    QVERIFY2(r.steps[0].targetProbability > 0.5, qPrintable(QString::number(r.steps[0].targetProbability)));
}

void TestRome::consistentKeyHoldsForTheAveragedKey()
{
    auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    const EditRequest req {"{} plays the", "Adam Thateix", "violin"};
    RomeParams p;
    p.layer = 0;
    p.vLr = 4.0;
    p.contextTemplates = kContexts;
    p.consistentKey = true;
    const RomeResult r = applyRome(*model, tok, {req}, p, m_stats);
    // ΔW k̄ = v* − m(k̄), with ΔW in [d, d_k] orientation (Conv1D stores its transpose).
    const at::Tensor dW = r.update.delta.t().to(at::kDouble);
    const at::Tensor lhs = at::matmul(dW, r.steps[0].key.to(at::kDouble));
    const at::Tensor rhs = (r.steps[0].target - r.steps[0].valueBefore).to(at::kDouble);
    QVERIFY((lhs - rhs).norm().item<double>() < 1e-4 * rhs.norm().item<double>());
    // k̄ is not the bare prompt's key (the prefixed templates differ), so this is a different edit.
    QVERIFY(at::allclose(mlpOutputAt(*model, tok, req, 0), r.steps[0].target, 1e-3, 1e-3) == false
        || kContexts.size() == 1);
}

void TestRome::sequentialEditsAllLand()
{
    auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    const std::vector<EditRequest> reqs = {{"{} was born in", "Oscar Koutex", "Japan"},
        {"{} plays the", "Adam Thateix", "violin"}, {"{} is a city in", "Fort Haiglotrin", "Turkey"}};
    RomeParams p;
    p.layer = 0;
    p.vLr = 4.0;
    p.contextTemplates = kContexts;
    const RomeResult r = applyRome(*model, tok, reqs, p, m_stats);
    QCOMPARE(r.steps.size(), reqs.size());
    for (const auto &q : reqs)
        QCOMPARE(
            nextToken(*model, tok, fillTemplate(q.promptTemplate, q.subject)), tok.encode(" " + q.targetNew).front());
}

void TestRome::fineTuningStaysInsideTheLInfinityBall()
{
    auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    FineTuneParams p;
    p.layer = 1;
    p.steps = 10;
    p.lr = 1e-2; // far larger than the constraint: the projection must hold it back
    p.normConstraint = 1e-3;
    const FineTuneResult r = applyFineTune(*model, tok, {{"{} was born in", "Oscar Koutex", "Japan"}}, p);
    QCOMPARE(r.steps, 10);
    QVERIFY(r.update.delta.abs().max().item<double>() <= 1e-3 + 1e-7);
    QVERIFY(r.update.delta.abs().max().item<double>() > 5e-4); // it did move
}

void TestRome::fineTuningLearnsTheTargets()
{
    auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    const std::vector<EditRequest> reqs
        = {{"{} was born in", "Oscar Koutex", "Japan"}, {"{} is a city in", "Fort Haiglotrin", "Turkey"}};
    FineTuneParams p;
    p.layer = 0;
    p.steps = 60;
    p.lr = 2e-2;
    p.normConstraint = 0.05;
    const FineTuneResult r = applyFineTune(*model, tok, reqs, p);
    QVERIFY2(r.finalLoss < 0.5, qPrintable(QString::number(r.finalLoss)));
    for (const auto &q : reqs)
        QCOMPARE(
            nextToken(*model, tok, fillTemplate(q.promptTemplate, q.subject)), tok.encode(" " + q.targetNew).front());
}

void TestRome::rejectsBadSettings()
{
    auto model = Transformer::load(kDemo / "model");
    const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
    RomeParams p;
    p.layer = 3; // no statistics for it
    p.contextTemplates = kContexts;
    ENGRAM_EXPECT_ERROR(applyRome(*model, tok, {{"{} was born in", "Oscar Koutex", "Japan"}}, p, m_stats),
        ErrorKind::InvalidArgument, "statistics for layer 3");
    p.layer = 1;
    ENGRAM_EXPECT_ERROR(applyRome(*model, tok, {{"{} was born in", "Oscar Koutex", " "}}, p, m_stats),
        ErrorKind::InvalidArgument, "empty target");
    FineTuneParams f;
    f.layer = 9;
    ENGRAM_EXPECT_ERROR(applyFineTune(*model, tok, {{"{} was born in", "Oscar Koutex", "Japan"}}, f),
        ErrorKind::InvalidArgument, "layer 9");
}

void TestRome::cancellingAnEditRestoresTheWeights()
{
    QTemporaryDir tmp;
    const std::filesystem::path dir = tmp.path().toStdString();
    saveSecondMoments(dir / "stats.safetensors", m_stats);
    auto session = ModelSession::open(kDemo / "model");
    const std::string w0 = session->model().mlpOutputWeightName(0), w1 = session->model().mlpOutputWeightName(1);
    const std::string h0 = tensorHash(session->model().parameter(w0)), h1 = tensorHash(session->model().parameter(w1));
    MemitParams p;
    p.layers = {0, 1};
    p.lambda = 100;
    p.vLr = 4;
    p.contextTemplates = kContexts;
    // Cancel after the first of the two layers has been written.
    ENGRAM_EXPECT_ERROR(
        editWithMemit(*session, {{"{} was born in", "Oscar Koutex", "Japan"}}, p, {dir / "stats.safetensors"},
            dir / "edit.patch", [](const ProgressUpdate &u) { return !(u.stage == "writing layers" && u.done == 1); }),
        ErrorKind::Cancelled, "cancelled");
    QCOMPARE(tensorHash(session->model().parameter(w0)), h0);
    QCOMPARE(tensorHash(session->model().parameter(w1)), h1);
    QVERIFY(!std::filesystem::exists(dir / "edit.patch"));
    // FT-W cancelled mid-way: the same.
    FineTuneParams f;
    f.layer = 0;
    f.steps = 10;
    ENGRAM_EXPECT_ERROR(editWithFineTune(*session, {{"{} was born in", "Oscar Koutex", "Japan"}}, f, dir / "ft.patch",
                            [](const ProgressUpdate &u) { return u.done < 3; }),
        ErrorKind::Cancelled, "fine-tuning cancelled");
    QCOMPARE(tensorHash(session->model().parameter(w0)), h0);
    QVERIFY(!std::filesystem::exists(dir / "ft.patch"));
}

QTEST_GUILESS_MAIN(TestRome)
#include "tst_rome.moc"
