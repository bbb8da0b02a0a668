// Tests for the intervention sites of Transformer::forward.

#include "core/model/interventions.h"
#include "core/model/transformer.h"
#include "core/util/error.h"
#include "devkit/randomcheckpoint.h"
#include "testsupport.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <QTemporaryDir>
#include <QtTest>

using namespace engram;

namespace {

struct Fixture {
    QTemporaryDir dir;
    std::unique_ptr<Transformer> model;
    explicit Fixture(ModelFamily family)
    {
        writeRandomCheckpoint(tinyConfig(family), dir.path().toStdString(), 21);
        model = Transformer::load(dir.path().toStdString());
    }
};

const at::Tensor kIds = at::tensor(std::vector<int64_t> {4, 9, 2, 33, 7, 1}, at::kLong).view({2, 3});

} // namespace

class TestInterventions : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void residualStreamDecomposes_data() { engram::test::addFamilyRows(); }
    void residualStreamDecomposes();
    void mlpKeyFeedsTheOutputProjection_data() { engram::test::addFamilyRows(); }
    void mlpKeyFeedsTheOutputProjection();
    void replacingWithCleanValuesRestoresTheRun();
    void stopAfterLayerMatchesTheFullRun();
    void gradientsFlowIntoAddedDelta();
    void rejectsPositionsOutsideTheBatch();
};

void TestInterventions::residualStreamDecomposes()
{
    // For every wiring: block_out[l] = block_out[l-1] + attn_out[l] + mlp_out[l].
    QFETCH(ModelFamily, family);
    Fixture f(family);
    c10::NoGradGuard noGrad;
    Interventions iv;
    at::Tensor prev, attn, mlp, out;
    iv.record(Site::BlockOutput, 0, &prev);
    iv.record(Site::AttentionOutput, 1, &attn);
    iv.record(Site::MlpOutput, 1, &mlp);
    iv.record(Site::BlockOutput, 1, &out);
    ForwardOptions opts;
    opts.interventions = &iv;
    f.model->forward(kIds, {}, opts);
    QCOMPARE(out.sizes().vec(), (std::vector<int64_t> {2, 3, 32}));
    QVERIFY(at::allclose(out, prev + attn + mlp, 1e-5, 1e-5));
}

void TestInterventions::mlpKeyFeedsTheOutputProjection()
{
    QFETCH(ModelFamily, family);
    Fixture f(family);
    c10::NoGradGuard noGrad;
    Interventions iv;
    at::Tensor key, mlp;
    iv.record(Site::MlpKey, 0, &key);
    iv.record(Site::MlpOutput, 0, &mlp);
    ForwardOptions opts;
    opts.interventions = &iv;
    f.model->forward(kIds, {}, opts);
    QCOMPARE(key.size(-1), int64_t(f.model->config().intermediateSize));
    const std::string name = f.model->mlpOutputWeightName(0);
    const at::Tensor w = f.model->parameter(name);
    at::Tensor expected = f.model->mlpOutputIsConv1D() ? at::matmul(key, w) : at::matmul(key, w.t());
    const std::string bias = name.substr(0, name.size() - 6) + "bias";
    for (const auto &[n, t] : f.model->namedParameters())
        if (n == bias)
            expected = expected + t;
    QVERIFY(at::allclose(mlp, expected, 1e-5, 1e-5));
}

void TestInterventions::replacingWithCleanValuesRestoresTheRun()
{
    Fixture f(ModelFamily::Llama);
    c10::NoGradGuard noGrad;
    const at::Tensor clean = f.model->forward(kIds).logits;
    Interventions rec;
    at::Tensor cleanBlock;
    rec.record(Site::BlockOutput, 0, &cleanBlock);
    ForwardOptions o1;
    o1.interventions = &rec;
    f.model->forward(kIds, {}, o1);

    // Corrupt the embedding of row 0 position 1, then restore block 0's output at every position.
    Interventions iv;
    iv.replaceAt(Site::Embedding, 0, {{0, 1}}, at::randn({1, 32}) * 3);
    ForwardOptions o2;
    o2.interventions = &iv;
    const at::Tensor corrupted = f.model->forward(kIds, {}, o2).logits;
    QVERIFY(!at::allclose(corrupted, clean, 1e-4, 1e-4));
    std::vector<TokenPosition> all;
    for (int64_t r = 0; r < 2; ++r)
        for (int64_t t = 0; t < 3; ++t)
            all.push_back({r, t});
    iv.replaceAt(Site::BlockOutput, 0, all, cleanBlock.reshape({6, 32}));
    const at::Tensor restored = f.model->forward(kIds, {}, o2).logits;
    QVERIFY(at::allclose(restored, clean, 1e-5, 1e-5));
}

void TestInterventions::stopAfterLayerMatchesTheFullRun()
{
    Fixture f(ModelFamily::GptNeoX);
    c10::NoGradGuard noGrad;
    Interventions iv;
    at::Tensor block0;
    iv.record(Site::BlockOutput, 0, &block0);
    ForwardOptions full;
    full.interventions = &iv;
    f.model->forward(kIds, {}, full);
    ForwardOptions stop;
    stop.stopAfterLayer = 0;
    const ForwardOutput out = f.model->forward(kIds, {}, stop);
    QVERIFY(!out.logits.defined());
    QVERIFY(at::equal(out.hidden, block0));
}

void TestInterventions::gradientsFlowIntoAddedDelta()
{
    Fixture f(ModelFamily::Gpt2);
    c10::GradMode::set_enabled(true);
    at::Tensor delta = at::zeros({32}, at::kFloat).set_requires_grad(true);
    Interventions iv;
    iv.addAt(Site::BlockOutput, 0, {{0, 2}, {1, 2}}, delta);
    ForwardOptions opts;
    opts.interventions = &iv;
    const at::Tensor logits = f.model->forward(kIds, {}, opts).logits;
    const at::Tensor loss = -at::log_softmax(logits.select(1, 2), -1).select(1, 5).sum();
    loss.backward();
    QVERIFY(delta.grad().defined());
    QVERIFY(delta.grad().abs().sum().item<double>() > 0);
    // No weight accumulated a gradient: they are not leaves that require grad.
    for (const auto &[name, t] : f.model->namedParameters())
        QVERIFY2(!t.requires_grad(), name.c_str());
}

void TestInterventions::rejectsPositionsOutsideTheBatch()
{
    Fixture f(ModelFamily::Gpt2);
    c10::NoGradGuard noGrad;
    Interventions iv;
    at::Tensor out;
    iv.recordAt(Site::MlpOutput, 1, {{0, 5}}, &out);
    ForwardOptions opts;
    opts.interventions = &iv;
    ENGRAM_EXPECT_ERROR(f.model->forward(kIds, {}, opts), ErrorKind::InvalidArgument, "mlp-output layer 1");
}

QTEST_GUILESS_MAIN(TestInterventions)
#include "tst_interventions.moc"
