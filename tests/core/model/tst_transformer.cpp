// Tests for Transformer: loading, the four families against an independent per-token
// reference, save/reload, padding, dtypes and the errors for bad checkpoints.

#include "core/io/checkpoint.h"
#include "core/model/generator.h"
#include "core/model/transformer.h"
#include "core/util/error.h"
#include "devkit/randomcheckpoint.h"
#include "testsupport.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <fstream>

using namespace engram;

namespace {

std::filesystem::path pathOf(const QTemporaryDir &dir, const char *sub = "")
{
    return std::filesystem::path(dir.path().toStdString()) / sub;
}

// ---- An independent reference: one sequence, one token at a time, one head at a time,
// written from the published architecture descriptions rather than from transformer.cpp.
struct Reference {
    const ModelConfig &c;
    const WeightStore &w;

    at::Tensor p(const std::string &name) const { return w.tensor(name).to(at::kDouble); }
    at::Tensor lin(const at::Tensor &x, const std::string &name, bool bias, bool conv1d = false) const
    {
        at::Tensor y = conv1d ? at::matmul(x, p(name + ".weight")) : at::matmul(x, p(name + ".weight").t());
        return bias ? y + p(name + ".bias") : y;
    }
    at::Tensor layerNorm(const at::Tensor &x, const std::string &name) const
    {
        const at::Tensor mu = x.mean(-1, true);
        const at::Tensor var = (x - mu).pow(2).mean(-1, true);
        return (x - mu) / at::sqrt(var + c.normEps) * p(name + ".weight") + p(name + ".bias");
    }
    at::Tensor rmsNorm(const at::Tensor &x, const std::string &name) const
    {
        return x / at::sqrt(x.pow(2).mean(-1, true) + c.normEps) * p(name + ".weight");
    }
    static at::Tensor geluTanh(const at::Tensor &x)
    {
        return 0.5 * x * (1 + at::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x.pow(3))));
    }
    // Rotates one head vector v [hd] at position pos.
    at::Tensor rotate(const at::Tensor &v, int64_t pos) const
    {
        at::Tensor out = v.clone();
        const int64_t r = c.rotaryDim;
        for (int64_t i = 0; i < r / 2; ++i) {
            const double theta = pos * std::pow(c.ropeTheta, -2.0 * i / r);
            const int64_t a = c.positions == PositionScheme::RotaryInterleaved ? 2 * i : i;
            const int64_t b = c.positions == PositionScheme::RotaryInterleaved ? 2 * i + 1 : i + r / 2;
            const double x = v[a].item<double>(), y = v[b].item<double>();
            out[a] = x * std::cos(theta) - y * std::sin(theta);
            out[b] = y * std::cos(theta) + x * std::sin(theta);
        }
        return out;
    }

    // ids -> logits [T, V] in double
    at::Tensor run(const std::vector<int64_t> &ids) const
    {
        const int64_t T = ids.size(), D = c.hiddenSize, hd = c.headDim, H = c.numHeads;
        const bool gpt2 = c.family == ModelFamily::Gpt2, gptj = c.family == ModelFamily::GptJ,
                   neox = c.family == ModelFamily::GptNeoX;
        const std::string emb = gpt2 || gptj ? "transformer.wte.weight"
            : neox                           ? "gpt_neox.embed_in.weight"
                                             : "model.embed_tokens.weight";
        at::Tensor x = at::zeros({T, D}, at::kDouble);
        for (int64_t t = 0; t < T; ++t) {
            x[t] = p(emb)[ids[t]];
            if (gpt2)
                x[t] += p("transformer.wpe.weight")[t];
        }
        for (int l = 0; l < c.numLayers; ++l) {
            const std::string L = std::to_string(l);
            at::Tensor h1, q, k, v;
            if (gpt2) {
                h1 = layerNorm(x, "transformer.h." + L + ".ln_1");
                const at::Tensor qkv = lin(h1, "transformer.h." + L + ".attn.c_attn", true, true);
                q = qkv.narrow(1, 0, D);
                k = qkv.narrow(1, D, D);
                v = qkv.narrow(1, 2 * D, D);
            } else if (gptj) {
                h1 = layerNorm(x, "transformer.h." + L + ".ln_1");
                q = lin(h1, "transformer.h." + L + ".attn.q_proj", false);
                k = lin(h1, "transformer.h." + L + ".attn.k_proj", false);
                v = lin(h1, "transformer.h." + L + ".attn.v_proj", false);
            } else if (neox) {
                h1 = layerNorm(x, "gpt_neox.layers." + L + ".input_layernorm");
                const at::Tensor qkv = lin(h1, "gpt_neox.layers." + L + ".attention.query_key_value", true);
                // Per head: [q_h | k_h | v_h] consecutive blocks of hd.
                std::vector<at::Tensor> qs, ks, vs;
                for (int64_t h = 0; h < H; ++h) {
                    qs.push_back(qkv.narrow(1, h * 3 * hd, hd));
                    ks.push_back(qkv.narrow(1, h * 3 * hd + hd, hd));
                    vs.push_back(qkv.narrow(1, h * 3 * hd + 2 * hd, hd));
                }
                q = at::cat(qs, 1);
                k = at::cat(ks, 1);
                v = at::cat(vs, 1);
            } else {
                h1 = rmsNorm(x, "model.layers." + L + ".input_layernorm");
                q = lin(h1, "model.layers." + L + ".self_attn.q_proj", c.attentionBias);
                k = lin(h1, "model.layers." + L + ".self_attn.k_proj", c.attentionBias);
                v = lin(h1, "model.layers." + L + ".self_attn.v_proj", c.attentionBias);
            }
            at::Tensor attn = at::zeros({T, H * hd}, at::kDouble);
            const int64_t group = H / c.numKvHeads;
            for (int64_t h = 0; h < H; ++h) {
                const int64_t kvh = h / group;
                for (int64_t t = 0; t < T; ++t) {
                    at::Tensor qv = q[t].narrow(0, h * hd, hd);
                    if (c.rotaryDim > 0)
                        qv = rotate(qv, t);
                    std::vector<double> scores;
                    for (int64_t s = 0; s <= t; ++s) {
                        at::Tensor kv = k[s].narrow(0, kvh * hd, hd);
                        if (c.rotaryDim > 0)
                            kv = rotate(kv, s);
                        scores.push_back(at::dot(qv, kv).item<double>() / std::sqrt(double(hd)));
                    }
                    const double mx = *std::max_element(scores.begin(), scores.end());
                    double z = 0;
                    for (double &sc : scores)
                        z += (sc = std::exp(sc - mx));
                    at::Tensor out = at::zeros({hd}, at::kDouble);
                    for (int64_t s = 0; s <= t; ++s)
                        out += scores[s] / z * v[s].narrow(0, kvh * hd, hd);
                    attn[t].narrow(0, h * hd, hd).copy_(out);
                }
            }
            if (gpt2) {
                attn = lin(attn, "transformer.h." + L + ".attn.c_proj", true, true);
                x = x + attn;
                const at::Tensor h2 = layerNorm(x, "transformer.h." + L + ".ln_2");
                x = x
                    + lin(geluTanh(lin(h2, "transformer.h." + L + ".mlp.c_fc", true, true)),
                        "transformer.h." + L + ".mlp.c_proj", true, true);
            } else if (gptj) {
                attn = lin(attn, "transformer.h." + L + ".attn.out_proj", false);
                const at::Tensor mlp = lin(geluTanh(lin(h1, "transformer.h." + L + ".mlp.fc_in", true)),
                    "transformer.h." + L + ".mlp.fc_out", true);
                x = x + attn + mlp;
            } else if (neox) {
                const std::string P = "gpt_neox.layers." + L + ".";
                attn = lin(attn, P + "attention.dense", true);
                auto mlp = [&](const at::Tensor &h) {
                    return lin(at::gelu(lin(h, P + "mlp.dense_h_to_4h", true)), P + "mlp.dense_4h_to_h", true);
                };
                if (c.wiring == ResidualWiring::Parallel) {
                    x = x + attn + mlp(layerNorm(x, P + "post_attention_layernorm"));
                } else {
                    x = x + attn;
                    x = x + mlp(layerNorm(x, P + "post_attention_layernorm"));
                }
            } else {
                const std::string P = "model.layers." + L + ".";
                x = x + lin(attn, P + "self_attn.o_proj", c.attentionOutBias);
                const at::Tensor h2 = rmsNorm(x, P + "post_attention_layernorm");
                const at::Tensor gate = lin(h2, P + "mlp.gate_proj", false);
                x = x + lin(gate * at::sigmoid(gate) * lin(h2, P + "mlp.up_proj", false), P + "mlp.down_proj", false);
            }
        }
        if (gpt2)
            return at::matmul(layerNorm(x, "transformer.ln_f"), p("transformer.wte.weight").t());
        if (gptj)
            return lin(layerNorm(x, "transformer.ln_f"), "lm_head", true);
        if (neox)
            return lin(layerNorm(x, "gpt_neox.final_layer_norm"), "embed_out", false);
        const at::Tensor head = c.tieWordEmbeddings ? p("model.embed_tokens.weight") : p("lm_head.weight");
        return at::matmul(rmsNorm(x, "model.norm"), head.t());
    }
};

at::Tensor forwardLogits(const Transformer &m, const std::vector<int64_t> &ids)
{
    return m.forward(at::tensor(ids, at::kLong).unsqueeze(0)).logits.squeeze(0);
}

} // namespace

class TestTransformer : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { c10::GradMode::set_enabled(false); }
    void matchesIndependentReference_data() { engram::test::addFamilyRows(); }
    void matchesIndependentReference();
    void neoxSequentialResidualMatchesReference();
    void savedCheckpointReloadsIdentically_data() { engram::test::addFamilyRows(); }
    void savedCheckpointReloadsIdentically();
    void savesHalfPrecisionStorage();
    void shardedCheckpointLoads();
    void rightPaddedBatchEqualsSingleSequences_data() { engram::test::addFamilyRows(); }
    void rightPaddedBatchEqualsSingleSequences();
    void passFromABlockWithACachedPrefixEqualsTheFullPass_data() { engram::test::addFamilyRows(); }
    void passFromABlockWithACachedPrefixEqualsTheFullPass();
    void lowerPrecisionStaysClose();
    void storiesFixtureMatchesReference();
    void gpt2FixtureLoadsWithTiedHead();
    void matchesTransformersGolden_data();
    void matchesTransformersGolden();
    void reportsBadCheckpoints();
    void setParameterChecksShapes();
};

void TestTransformer::matchesIndependentReference()
{
    QFETCH(ModelFamily, family);
    QTemporaryDir dir;
    ModelConfig config = tinyConfig(family, /*vocab=*/40, /*hidden=*/16, /*layers=*/2, /*heads=*/4);
    writeRandomCheckpoint(config, pathOf(dir), /*seed=*/11);
    const auto model = Transformer::load(pathOf(dir));
    const WeightStore store = WeightStore::openDirectory(pathOf(dir));
    const std::vector<int64_t> ids = {3, 17, 5, 39, 0, 22, 8};
    const at::Tensor ours = forwardLogits(*model, ids).to(at::kDouble);
    const at::Tensor ref = Reference {model->config(), store}.run(ids);
    const double diff = (ours - ref).abs().max().item<double>();
    QVERIFY2(diff < 1e-4, qPrintable(QStringLiteral("max |logit diff| = %1").arg(diff)));
}

void TestTransformer::neoxSequentialResidualMatchesReference()
{
    QTemporaryDir dir;
    auto json = nlohmann::json::parse(tinyConfig(ModelFamily::GptNeoX, 40, 16, 2, 4).toJson());
    json["use_parallel_residual"] = false;
    const ModelConfig config = ModelConfig::fromJson(json.dump());
    writeRandomCheckpoint(config, pathOf(dir), 5);
    const auto model = Transformer::load(pathOf(dir));
    const WeightStore store = WeightStore::openDirectory(pathOf(dir));
    const std::vector<int64_t> ids = {1, 2, 3, 4};
    const double diff
        = (forwardLogits(*model, ids).to(at::kDouble) - Reference {config, store}.run(ids)).abs().max().item<double>();
    QVERIFY(diff < 1e-4);
}

void TestTransformer::savedCheckpointReloadsIdentically()
{
    QFETCH(ModelFamily, family);
    QTemporaryDir dir;
    writeRandomCheckpoint(tinyConfig(family), pathOf(dir, "a"), 3);
    const auto a = Transformer::load(pathOf(dir, "a"));
    saveCheckpoint(*a, pathOf(dir, "b"));
    const auto b = Transformer::load(pathOf(dir, "b"));
    const std::vector<int64_t> ids = {1, 2, 3, 60, 4};
    QVERIFY(at::equal(forwardLogits(*a, ids), forwardLogits(*b, ids)));
    QCOMPARE(b->namedParameters().size(), a->namedParameters().size());
}

void TestTransformer::savesHalfPrecisionStorage()
{
    // fp16 storage: torch_dtype says so, the file holds F16 tensors, and loading it in fp32
    // gives exactly the fp32 model's weights rounded to fp16.
    QTemporaryDir dir;
    writeRandomCheckpoint(tinyConfig(ModelFamily::Gpt2), pathOf(dir, "a"), 5);
    const auto a = Transformer::load(pathOf(dir, "a"));
    saveCheckpoint(*a, pathOf(dir, "half"), "fp16");
    const auto config = nlohmann::json::parse(std::ifstream(pathOf(dir, "half") / "config.json"));
    QCOMPARE(config["torch_dtype"].get<std::string>(), std::string("float16"));
    const WeightStore store = WeightStore::openDirectory(pathOf(dir, "half"));
    for (const auto &name : store.names())
        QVERIFY2(store.info(name).dtype == DType::F16, name.c_str());
    const auto b = Transformer::load(pathOf(dir, "half"));
    for (const auto &[name, t] : a->namedParameters())
        QVERIFY2(at::equal(b->parameter(name), t.to(at::kHalf).to(at::kFloat)), name.c_str());

    // A weight beyond fp16's range (65504) is refused and nothing is written.
    const std::string big = a->mlpOutputWeightName(0);
    a->setParameter(big, a->parameter(big) * 1e6);
    ENGRAM_EXPECT_ERROR(
        saveCheckpoint(*a, pathOf(dir, "overflow"), "fp16"), ErrorKind::InvalidArgument, "does not fit fp16");
    QVERIFY(!std::filesystem::exists(pathOf(dir, "overflow") / "model.safetensors"));
    QVERIFY(!std::filesystem::exists(pathOf(dir, "overflow") / "config.json"));
    ENGRAM_EXPECT_ERROR(saveCheckpoint(*a, pathOf(dir, "x"), "fp8"), ErrorKind::InvalidArgument, "unknown dtype");
}

void TestTransformer::shardedCheckpointLoads()
{
    QTemporaryDir dir;
    const auto config = tinyConfig(ModelFamily::Llama);
    writeRandomCheckpoint(config, pathOf(dir, "one"), 9, 1);
    writeRandomCheckpoint(config, pathOf(dir, "three"), 9, 3);
    QVERIFY(std::filesystem::exists(pathOf(dir, "three") / "model.safetensors.index.json"));
    QVERIFY(std::filesystem::exists(pathOf(dir, "three") / "model-00003-of-00003.safetensors"));
    const auto one = Transformer::load(pathOf(dir, "one"));
    const auto three = Transformer::load(pathOf(dir, "three"));
    const std::vector<int64_t> ids = {5, 6, 7};
    QVERIFY(at::equal(forwardLogits(*one, ids), forwardLogits(*three, ids)));
}

void TestTransformer::rightPaddedBatchEqualsSingleSequences()
{
    QFETCH(ModelFamily, family);
    QTemporaryDir dir;
    writeRandomCheckpoint(tinyConfig(family), pathOf(dir), 4);
    const auto model = Transformer::load(pathOf(dir));
    const std::vector<std::vector<int64_t>> seqs = {{1, 2, 3, 4, 5, 6}, {7, 8}, {9, 10, 11, 12}};
    const int64_t T = 6;
    at::Tensor ids = at::zeros({3, T}, at::kLong), mask = at::zeros({3, T}, at::kLong);
    for (int r = 0; r < 3; ++r)
        for (std::size_t t = 0; t < seqs[r].size(); ++t) {
            ids[r][t] = seqs[r][t];
            mask[r][t] = 1;
        }
    const at::Tensor batched = model->forward(ids, mask).logits;
    for (int r = 0; r < 3; ++r) {
        const int64_t n = seqs[r].size();
        const at::Tensor single = forwardLogits(*model, seqs[r]);
        QVERIFY(at::allclose(batched[r].narrow(0, 0, n), single, 1e-5, 1e-5));
    }
}

void TestTransformer::passFromABlockWithACachedPrefixEqualsTheFullPass()
{
    // Target optimisation's suffix pass: rows split at a per-row point; the prefixes (right
    // padded to the longest) go through every block into a cache; the suffixes start at block 2
    // from the full pass's block-1 output, attend to the cache without growing it, and logits
    // are asked at a few (row, slot) pairs. Rotary positions must follow the real token count.
    QFETCH(ModelFamily, family);
    QTemporaryDir dir;
    writeRandomCheckpoint(tinyConfig(family, 64, 32, 4), pathOf(dir), 6);
    const auto model = Transformer::load(pathOf(dir));
    const std::vector<std::vector<int64_t>> seqs = {{1, 2, 3, 4, 5, 6, 7}, {8, 9, 10}, {11, 12, 13, 14, 15}};
    const std::vector<int64_t> split = {4, 0, 2}; // prefix lengths: the middle row has none
    const int64_t B = 3, T = 7, P = 4, Q = 3, d = 32, first = 2;
    at::Tensor ids = at::zeros({B, T}, at::kLong), mask = at::zeros({B, T}, at::kLong);
    at::Tensor preIds = at::zeros({B, P}, at::kLong), preMask = at::zeros({B, P}, at::kLong);
    at::Tensor sufMask = at::zeros({B, Q}, at::kLong);
    for (int64_t r = 0; r < B; ++r)
        for (int64_t t = 0; t < static_cast<int64_t>(seqs[r].size()); ++t) {
            ids[r][t] = seqs[r][t];
            mask[r][t] = 1;
            if (t < split[r]) {
                preIds[r][t] = seqs[r][t];
                preMask[r][t] = 1;
            } else {
                sufMask[r][t - split[r]] = 1;
            }
        }
    const at::Tensor full = model->forward(ids, mask).logits; // [B, T, V]
    ForwardOptions upTo;
    upTo.stopAfterLayer = first - 1;
    const at::Tensor below = model->forward(ids, mask, upTo).hidden; // [B, T, d]
    at::Tensor suffixIn = at::zeros({B, Q, d}, below.options());
    for (int64_t r = 0; r < B; ++r) {
        const int64_t len = static_cast<int64_t>(seqs[r].size()) - split[r];
        suffixIn[r].narrow(0, 0, len).copy_(below[r].narrow(0, split[r], len));
    }
    KvCache prefix;
    ForwardOptions pre;
    pre.cache = &prefix;
    pre.computeLogits = false;
    model->forward(preIds, preMask, pre);
    QCOMPARE(prefix.length, P);
    // (row, slot) pairs: each row's suffix start and its last token.
    const at::Tensor at = at::tensor(std::vector<int64_t> {0, 0, 0, 2, 1, 0, 1, 2, 2, 0, 2, 2}, at::kLong).view({6, 2});
    ForwardOptions suf;
    suf.firstLayer = first;
    suf.hiddenIn = suffixIn;
    suf.cache = &prefix;
    suf.appendToCache = false;
    suf.logitIndex = at;
    for (int pass = 0; pass < 2; ++pass) { // the cache serves again, unchanged
        const at::Tensor logits = model->forward({}, at::cat({preMask, sufMask}, 1), suf).logits; // [6, V]
        QCOMPARE(prefix.length, P);
        QCOMPARE(prefix.keys[first].size(2), P);
        for (int64_t k = 0; k < 6; ++k) {
            const int64_t r = at[k][0].item<int64_t>(), slot = at[k][1].item<int64_t>();
            const at::Tensor expected = full[r][split[r] + slot];
            const double scale = expected.abs().max().item<double>();
            QVERIFY2(at::allclose(logits[k], expected, 1e-5, 1e-5 * scale),
                qPrintable(QStringLiteral("row %1 slot %2: %3").arg(r).arg(slot).arg(
                    (logits[k] - expected).abs().max().item<double>())));
        }
    }
    // From past the last block: the head alone.
    ForwardOptions head;
    head.firstLayer = model->config().numLayers;
    head.hiddenIn = model->forward(ids, mask, ForwardOptions {}).hidden;
    QVERIFY(at::allclose(model->forward({}, mask, head).logits, full, 1e-6, 1e-6));
    head.firstLayer = model->config().numLayers + 1;
    try {
        model->forward({}, mask, head);
        QFAIL("a pass from beyond the last block was accepted");
    } catch (const Error &e) {
        QCOMPARE(e.kind(), ErrorKind::InvalidArgument);
    }
}

void TestTransformer::lowerPrecisionStaysClose()
{
    QTemporaryDir dir;
    writeRandomCheckpoint(tinyConfig(ModelFamily::Llama), pathOf(dir), 2);
    const auto fp32 = Transformer::load(pathOf(dir));
    const auto bf16 = Transformer::load(pathOf(dir), LoadOptions {"cpu", "bf16"});
    QCOMPARE(bf16->dtype(), at::kBFloat16);
    const std::vector<int64_t> ids = {1, 2, 3};
    const at::Tensor a = forwardLogits(*fp32, ids), b = forwardLogits(*bf16, ids);
    QCOMPARE(b.scalar_type(), at::kFloat); // logits come back in float32
    QVERIFY((a - b).abs().max().item<double>() < 0.05);
    ENGRAM_EXPECT_ERROR(Transformer::load(pathOf(dir), LoadOptions {"cpu", "fp8"}), ErrorKind::InvalidArgument, "fp8");
    if (!at::hasCUDA())
        ENGRAM_EXPECT_ERROR(
            Transformer::load(pathOf(dir), LoadOptions {"cuda", "fp32"}), ErrorKind::Unsupported, "no CUDA");
}

void TestTransformer::storiesFixtureMatchesReference()
{
    ENGRAM_REQUIRE_FIXTURE(dir, "stories260k-hf");
    const auto model = Transformer::load(dir);
    const WeightStore store = WeightStore::openDirectory(dir);
    const std::vector<int64_t> ids = {1, 403, 407, 261, 378};
    const double diff = (forwardLogits(*model, ids).to(at::kDouble) - Reference {model->config(), store}.run(ids))
                            .abs()
                            .max()
                            .item<double>();
    QVERIFY2(diff < 1e-3, qPrintable(QString::number(diff)));
}

void TestTransformer::gpt2FixtureLoadsWithTiedHead()
{
    ENGRAM_REQUIRE_FIXTURE(dir, "fake-gpt2-hf");
    const auto model = Transformer::load(dir);
    QCOMPARE(model->config().vocabSize, 50257);
    QVERIFY(model->mlpOutputIsConv1D());
    // No lm_head.weight in the file: the head is the token embedding (tied).
    const WeightStore store = WeightStore::openDirectory(dir);
    QVERIFY(!store.contains("lm_head.weight"));
    const std::vector<int64_t> ids = {15496, 11, 995, 0};
    const at::Tensor ours = forwardLogits(*model, ids).to(at::kDouble);
    const at::Tensor ref = Reference {model->config(), store}.run(ids);
    QVERIFY((ours - ref).abs().max().item<double>() < 1e-4);
    QCOMPARE(ours.sizes().vec(), (std::vector<int64_t> {4, 50257}));
}

void TestTransformer::matchesTransformersGolden_data()
{
    QTest::addColumn<QString>("name");
    for (const char *name : {"gpt2", "gptj", "gpt_neox", "llama", "gpt_neox_sequential"})
        QTest::newRow(name) << QString::fromLatin1(name);
}

void TestTransformer::matchesTransformersGolden()
{
    // tests/fixtures/hf-golden.json holds Hugging Face transformers' logits and greedy ids
    // for our seeded random checkpoints (tools/device/hf_crosscheck.py made it).
    QFETCH(QString, name);
    std::ifstream in(std::string(ENGRAM_TEST_DATA) + "/hf-golden.json");
    QVERIFY(in.good());
    const auto golden = nlohmann::json::parse(in);
    nlohmann::json entry;
    for (const auto &m : golden["models"])
        if (m["name"] == name.toStdString())
            entry = m;
    QVERIFY(!entry.is_null());
    const bool sequential = name == QStringLiteral("gpt_neox_sequential");
    const std::string familyName = sequential ? "gpt_neox" : name.toStdString();
    auto configJson = nlohmann::json::parse(tinyConfig(*familyFromModelType(familyName), 64, 32, 2, 4).toJson());
    if (sequential)
        configJson["use_parallel_residual"] = false;
    QTemporaryDir dir;
    writeRandomCheckpoint(ModelConfig::fromJson(configJson.dump()), pathOf(dir), /*seed=*/7);
    const auto model = Transformer::load(pathOf(dir));
    const auto ids = entry["ids"].get<std::vector<int64_t>>();
    const at::Tensor last = forwardLogits(*model, ids)[-1];
    const at::Tensor want = at::tensor(entry["last_logits"].get<std::vector<float>>());
    const double diff = (last - want).abs().max().item<double>();
    QVERIFY2(diff < 1e-4, qPrintable(QStringLiteral("max |logit diff| vs transformers = %1").arg(diff)));
    GenerationParams p;
    p.maxNewTokens = 16;
    QCOMPARE(generate(*model, ids, p).tokens, entry["greedy"].get<std::vector<int64_t>>());
}

void TestTransformer::reportsBadCheckpoints()
{
    QTemporaryDir dir;
    const auto root = pathOf(dir);
    const ModelConfig config = tinyConfig(ModelFamily::Gpt2);
    writeRandomCheckpoint(config, root / "good", 1);

    // Missing tensor.
    {
        const WeightStore full = WeightStore::openDirectory(root / "good");
        std::vector<TensorSource> kept;
        for (const auto &name : full.names())
            if (name != "transformer.h.1.mlp.c_fc.weight")
                kept.push_back(tensorSource(name, full.tensor(name)));
        std::filesystem::create_directories(root / "missing");
        std::filesystem::copy_file(root / "good" / "config.json", root / "missing" / "config.json");
        writeSafetensors(root / "missing" / "model.safetensors", std::move(kept));
        ENGRAM_EXPECT_ERROR(Transformer::load(root / "missing"), ErrorKind::MissingTensor,
            "tensor 'transformer.h.1.mlp.c_fc.weight' required by the GPT-2 architecture is missing");
    }
    // Wrong vocab size: config says 100, weights hold 64 rows.
    {
        std::filesystem::create_directories(root / "vocab");
        std::filesystem::copy_file(root / "good" / "model.safetensors", root / "vocab" / "model.safetensors");
        auto json = nlohmann::json::parse(config.toJson());
        json["vocab_size"] = 100;
        std::ofstream(root / "vocab" / "config.json") << json.dump();
        ENGRAM_EXPECT_ERROR(Transformer::load(root / "vocab"), ErrorKind::ShapeMismatch, "wrong vocab size");
    }
    // Layer shape mismatch: config asks for a wider MLP.
    {
        std::filesystem::create_directories(root / "shape");
        std::filesystem::copy_file(root / "good" / "model.safetensors", root / "shape" / "model.safetensors");
        auto json = nlohmann::json::parse(config.toJson());
        json["n_inner"] = 200;
        std::ofstream(root / "shape" / "config.json") << json.dump();
        ENGRAM_EXPECT_ERROR(
            Transformer::load(root / "shape"), ErrorKind::ShapeMismatch, "'transformer.h.0.mlp.c_fc.weight'");
    }
    // Fewer layers in config.json than the weights hold: refused, not run truncated.
    {
        std::filesystem::create_directories(root / "layers");
        std::filesystem::copy_file(root / "good" / "model.safetensors", root / "layers" / "model.safetensors");
        auto json = nlohmann::json::parse(config.toJson());
        json["n_layer"] = config.numLayers - 1;
        std::ofstream(root / "layers" / "config.json") << json.dump();
        ENGRAM_EXPECT_ERROR(Transformer::load(root / "layers"), ErrorKind::InvalidConfig,
            "of layer " + std::to_string(config.numLayers - 1) + ", but config.json says "
                + std::to_string(config.numLayers - 1) + " layers");
    }
    // Truncated weights file.
    {
        std::filesystem::create_directories(root / "trunc");
        std::filesystem::copy_file(root / "good" / "config.json", root / "trunc" / "config.json");
        std::filesystem::copy_file(root / "good" / "model.safetensors", root / "trunc" / "model.safetensors");
        std::filesystem::resize_file(root / "trunc" / "model.safetensors",
            std::filesystem::file_size(root / "trunc" / "model.safetensors") - 100);
        ENGRAM_EXPECT_ERROR(Transformer::load(root / "trunc"), ErrorKind::CorruptFile, "probably truncated");
    }
    // Unsupported architecture and missing config.
    {
        std::filesystem::create_directories(root / "bert");
        std::ofstream(root / "bert" / "config.json") << R"({"model_type":"bert"})";
        ENGRAM_EXPECT_ERROR(
            Transformer::load(root / "bert"), ErrorKind::UnsupportedArchitecture, "unsupported architecture: bert");
        ENGRAM_EXPECT_ERROR(Transformer::load(root / "nothing"), ErrorKind::Io, "does not exist");
        std::filesystem::create_directories(root / "noconfig");
        ENGRAM_EXPECT_ERROR(Transformer::load(root / "noconfig"), ErrorKind::Io, "no config.json");
    }
    // Token ids outside the vocabulary.
    {
        const auto model = Transformer::load(root / "good");
        ENGRAM_EXPECT_ERROR(model->forward(at::tensor(std::vector<int64_t> {1, 64}, at::kLong).unsqueeze(0)),
            ErrorKind::InvalidArgument, "token id 64 is outside the vocabulary");
    }
}

void TestTransformer::setParameterChecksShapes()
{
    QTemporaryDir dir;
    writeRandomCheckpoint(tinyConfig(ModelFamily::Gpt2), pathOf(dir), 1);
    const auto model = Transformer::load(pathOf(dir));
    const std::string name = model->mlpOutputWeightName(1);
    QVERIFY(model->mlpOutputIsConv1D());
    const at::Tensor w = model->parameter(name);
    QCOMPARE(w.sizes().vec(), (std::vector<int64_t> {128, 32})); // Conv1D [d_k, d]
    const std::vector<int64_t> ids = {1, 2, 3};
    const at::Tensor before = forwardLogits(*model, ids);
    model->setParameter(name, w + 0.5);
    QVERIFY(!at::equal(before, forwardLogits(*model, ids)));
    ENGRAM_EXPECT_ERROR(
        model->setParameter(name, at::zeros({32, 128})), ErrorKind::ShapeMismatch, "has shape [128, 32]");
    ENGRAM_EXPECT_ERROR(model->parameter("nope"), ErrorKind::MissingTensor, "no parameter 'nope'");
}

QTEST_GUILESS_MAIN(TestTransformer)
#include "tst_transformer.moc"
