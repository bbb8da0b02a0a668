// Tests for AlphaEdit and for earlier runs kept as memories (issue 19): the null-space
// projection, the update's confinement to it, C_p in the MEMIT solve, and on the demo model an
// AlphaEdit update that leaves the outputs of corpus keys outside the null space alone where
// plain MEMIT's moves them.

#include "core/edit/covariance.h"
#include "core/edit/editrows.h"
#include "core/edit/memit.h"
#include "core/edit/presets.h"
#include "core/model/interventions.h"
#include "core/model/transformer.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "testsupport.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <QtTest>

#include <cmath>

using namespace engram;

namespace {

const std::filesystem::path kDemo = std::filesystem::path(ENGRAM_SOURCE_DIR) / "resources" / "demo";

// A symmetric positive semi-definite d × d matrix with the given eigenvalues and a random basis.
at::Tensor withEigenvalues(const std::vector<double> &values, at::Tensor *basis = nullptr)
{
    const int64_t d = static_cast<int64_t>(values.size());
    const at::Tensor Q = std::get<0>(at::linalg_qr(at::randn({d, d}, at::kDouble)));
    if (basis)
        *basis = Q;
    return at::matmul(at::matmul(Q, at::diag(at::tensor(values, at::kDouble))), Q.t());
}

double maxAbs(const at::Tensor &t)
{
    return t.abs().max().item<double>();
}

// ΔW in mathematical orientation [d, d_k] from a stored delta of either orientation.
at::Tensor mathematical(const at::Tensor &delta, int64_t dk)
{
    return (delta.size(1) == dk ? delta : delta.t()).to(at::kDouble);
}

} // namespace

class TestAlphaEdit : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void nullSpaceKeepsTheSmallDirections()
    {
        at::manual_seed(7);
        std::vector<double> values;
        for (int i = 0; i < 24; ++i)
            values.push_back(i < 10 ? 1e-4 * (i + 1) : 0.5 + i); // ten below 2e-2
        at::Tensor Q;
        const at::Tensor C = withEigenvalues(values, &Q);
        const NullSpace ns = nullSpaceProjection(C, 2e-2);
        QCOMPARE(ns.dimension, int64_t(10));
        const at::Tensor &P = ns.projection;
        QVERIFY(maxAbs(P - P.t()) < 1e-12);
        QVERIFY(maxAbs(at::matmul(P, P) - P) < 1e-10); // a projection
        // It removes the directions the keys use and keeps the ones they do not.
        QVERIFY(maxAbs(at::matmul(P, Q.narrow(1, 10, 14))) < 1e-10);
        QVERIFY(maxAbs(at::matmul(P, Q.narrow(1, 0, 10)) - Q.narrow(1, 0, 10)) < 1e-10);
        QVERIFY(at::linalg_matrix_norm(at::matmul(P, C), 2).item<double>() <= 1e-3 * (1 + 1e-9));
        // Thresholds at the ends: nothing, or everything.
        QCOMPARE(nullSpaceProjection(C, 0).dimension, int64_t(0));
        QCOMPARE(nullSpaceProjection(C, 1e9).dimension, int64_t(24));
        ENGRAM_EXPECT_ERROR(nullSpaceProjection(at::zeros({3, 4}, at::kDouble), 1), ErrorKind::ShapeMismatch, "square");
    }

    void alphaEditUpdateLivesInTheNullSpace()
    {
        at::manual_seed(11);
        std::vector<double> values;
        for (int i = 0; i < 24; ++i)
            values.push_back(i < 12 ? 1e-3 : 2.0 + i);
        const NullSpace ns = nullSpaceProjection(withEigenvalues(values), 2e-2);
        QCOMPARE(ns.dimension, int64_t(12));
        const at::Tensor K = at::randn({24, 3}, at::kDouble), R = at::randn({8, 3}, at::kDouble);
        const at::Tensor Kold = at::randn({24, 5}, at::kDouble);
        const at::Tensor Cp = at::matmul(Kold, Kold.t());
        for (const at::Tensor &earlier : {at::Tensor(), Cp}) {
            const at::Tensor dW = solveAlphaEditUpdate(R, K, ns.projection, 10.0, earlier); // [8, 24]
            QCOMPARE(dW.sizes(), (at::IntArrayRef {8, 24}));
            const double size = dW.norm().item<double>();
            QVERIFY(size > 1e-3);
            // ΔW (I − P) = 0: keys outside the null space see no change.
            const at::Tensor outside = at::eye(24, at::kDouble) - ns.projection;
            QVERIFY2(at::matmul(dW, outside).norm().item<double>() < 1e-9 * size,
                qPrintable(QString::number(at::matmul(dW, outside).norm().item<double>() / size)));
            // The reference's equation: (P(KKᵀ + C_p) + αI) X = P K Rᵀ with X = ΔWᵀ.
            at::Tensor M = at::matmul(K, K.t());
            if (earlier.defined())
                M = M + earlier;
            const at::Tensor lhs = at::matmul(at::matmul(ns.projection, M) + 10.0 * at::eye(24, at::kDouble), dW.t());
            const at::Tensor rhs = at::matmul(ns.projection, at::matmul(K, R.t()));
            QVERIFY(maxAbs(lhs - rhs) < 1e-9 * (1 + maxAbs(rhs)));
        }
        // With C_p, the earlier keys' outputs move less than without it.
        const at::Tensor without = solveAlphaEditUpdate(R, K, ns.projection, 0.01);
        const at::Tensor with = solveAlphaEditUpdate(R, K, ns.projection, 0.01, at::matmul(Kold, Kold.t()));
        QVERIFY(at::matmul(with, Kold).norm().item<double>() < at::matmul(without, Kold).norm().item<double>());
    }

    void earlierRunsJoinTheMemitSolve()
    {
        at::manual_seed(5);
        const at::Tensor C = withEigenvalues(std::vector<double>(16, 0.5));
        const at::Tensor K = at::randn({16, 3}, at::kDouble), R = at::randn({6, 3}, at::kDouble);
        // Keys of two earlier runs at layer 3 (and one at layer 4, which layer 3 ignores).
        const at::Tensor first = at::randn({4, 16}), second = at::randn({2, 16}), other = at::randn({5, 16});
        auto keysOf = [](int layer, const at::Tensor &k) {
            LayerKeys out;
            out.layer = layer;
            out.count = k.size(0);
            out.dim = k.size(1);
            const at::Tensor c = k.contiguous();
            out.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
            return out;
        };
        const std::vector<LayerKeys> earlier = {keysOf(3, first), keysOf(4, other), keysOf(3, second)};
        const at::Tensor both = at::cat({first, second}).to(at::kDouble); // [6, 16]
        const at::Tensor Cp = earlierKeysProduct(earlier, 3, 16);
        QVERIFY(maxAbs(Cp - at::matmul(both.t(), both)) < 1e-12 * maxAbs(Cp));
        QVERIFY(!earlierKeysProduct(earlier, 7, 16).defined()); // no keys at that layer
        ENGRAM_EXPECT_ERROR(earlierKeysProduct(earlier, 3, 12), ErrorKind::InvalidArgument, "16 dimensions");
        // C_p enters unweighted: the same as protecting the earlier keys with μ = 1.
        const at::Tensor viaCache = solveMemitUpdate(R, K, C, 50.0, {}, 1.0, Cp);
        const at::Tensor viaProtect = solveMemitUpdate(R, K, C, 50.0, both.t(), 1.0);
        QVERIFY(maxAbs(viaCache - viaProtect) < 1e-9 * maxAbs(viaProtect));
        QVERIFY(maxAbs(viaCache - solveMemitUpdate(R, K, C, 50.0)) > 1e-6); // and it changes the update
    }

    void alphaEditLeavesCorpusKeysOutsideTheNullSpaceAlone()
    {
        auto base = Transformer::load(kDemo / "model");
        const Tokenizer tok = Tokenizer::fromDirectory(kDemo / "model");
        const ModelConfig &mc = base->config();
        const EditPreset preset = editPresetFor(mc.family, mc.numLayers, mc.hiddenSize);
        CovarianceParams cp;
        cp.layers = preset.alphaEdit.layers;
        cp.maxDocuments = 300;
        const auto docs = readCorpus(kDemo / "corpus.txt");
        const auto stats = collectSecondMoments(*base, tok, docs, cp);
        const std::vector<EditRequest> requests = {{"{} was born in", "Oscar Koutex", "Japan"},
            {"The most popular sport in {} is", "Port Broubrair", "golf"}, {"{} plays the", "Adam Thateix", "violin"}};
        const std::vector<std::string> contexts = {"{}", "The river flowed slowly. {}", "Many visitors came. {}"};

        // Keys drawn from the statistics corpus: every token of 30 of its documents, per layer.
        std::vector<at::Tensor> corpusKeys(cp.layers.size());
        {
            c10::NoGradGuard noGrad;
            for (std::size_t d = 0; d < 30; ++d) {
                const auto ids = at::tensor(tok.encode(docs[d * 7]), at::kLong).unsqueeze(0);
                std::vector<at::Tensor> out(cp.layers.size());
                Interventions iv;
                for (std::size_t j = 0; j < cp.layers.size(); ++j)
                    iv.record(Site::MlpKey, cp.layers[j], &out[j]);
                ForwardOptions fo;
                fo.interventions = &iv;
                base->forward(ids, {}, fo);
                for (std::size_t j = 0; j < cp.layers.size(); ++j) {
                    const at::Tensor k = out[j].squeeze(0).to(at::kDouble);
                    corpusKeys[j] = corpusKeys[j].defined() ? at::cat({corpusKeys[j], k}) : k;
                }
            }
        }

        // The relative change of the layer outputs on corpus keys: all of them, and their parts
        // outside the null space, (I − P)k.
        struct Change {
            double all = 0, outside = 0;
        };
        auto change = [&](const MemitResult &r, const MemitParams &alphaParams) {
            Change c;
            double allNum = 0, allDen = 0, outNum = 0, outDen = 0;
            for (std::size_t j = 0; j < cp.layers.size(); ++j) {
                const at::Tensor W = editrows::mlpOutputMatrix(*base, cp.layers[j]); // [d, d_k], unedited
                const int64_t dk = W.size(1);
                const at::Tensor dW = mathematical(r.updates[j].delta, dk);
                const NullSpace ns = nullSpaceProjection(stats[j].mean(), alphaParams.nullSpaceThreshold);
                const at::Tensor keys = corpusKeys[j].t(); // [d_k, tokens]
                const at::Tensor outside = at::matmul(at::eye(dk, at::kDouble) - ns.projection, keys);
                allNum += at::matmul(dW, keys).norm().item<double>();
                allDen += at::matmul(W, keys).norm().item<double>();
                outNum += at::matmul(dW, outside).norm().item<double>();
                outDen += at::matmul(W, outside).norm().item<double>();
            }
            c.all = allNum / allDen;
            c.outside = outNum / outDen;
            return c;
        };

        MemitParams memit = preset.memit;
        memit.contextTemplates = contexts;
        memit.vSteps = 25;
        MemitParams alpha = preset.alphaEdit;
        alpha.contextTemplates = contexts;
        alpha.vSteps = 25;
        QVERIFY(alpha.nullSpace && !memit.nullSpace);
        auto edited = Transformer::load(kDemo / "model");
        const MemitResult byMemit = applyMemit(*edited, tok, requests, memit, stats);
        edited = Transformer::load(kDemo / "model");
        const MemitResult byAlpha = applyMemit(*edited, tok, requests, alpha, stats);
        // Both edit: the residual to the targets shrinks.
        QVERIFY(byMemit.residualAfter < 0.5 * byMemit.updates.front().residualBefore);
        QVERIFY2(byAlpha.residualAfter < 0.5 * byAlpha.updates.front().residualBefore,
            qPrintable(QStringLiteral("%1 -> %2").arg(byAlpha.updates.front().residualBefore).arg(byAlpha.residualAfter)));
        QCOMPARE(byAlpha.nullSpaceDims.size(), cp.layers.size());
        QVERIFY(byMemit.nullSpaceDims.empty());
        // This run's keys, for later runs: one per request and edited layer.
        QCOMPARE(byAlpha.keysAfter.size(), cp.layers.size());
        QCOMPARE(byAlpha.keysAfter.front().count, int64_t(3));

        const Change m = change(byMemit, alpha), a = change(byAlpha, alpha);
        qInfo("output change on corpus keys: MEMIT %.3g (outside the null space %.3g), AlphaEdit %.3g (outside %.3g)",
            m.all, m.outside, a.all, a.outside);
        // Outside the null space AlphaEdit changes nothing but float32 rounding of the stored delta;
        // MEMIT's change there is many orders of magnitude larger.
        QVERIFY2(a.outside < 1e-5, qPrintable(QString::number(a.outside)));
        QVERIFY2(m.outside > 1e3 * a.outside, qPrintable(QStringLiteral("%1 vs %2").arg(m.outside).arg(a.outside)));
        // On all corpus keys (null-space parts included) AlphaEdit's change is not smaller than
        // MEMIT's on the demo (0.050 vs 0.031 with the demo preset): the null space holds most of
        // layers 1-3 (README, Edits that accumulate). Only its size is checked here.
        QVERIFY(a.all > 0 && std::isfinite(a.all));
    }
};

QTEST_GUILESS_MAIN(TestAlphaEdit)
#include "tst_alphaedit.moc"
