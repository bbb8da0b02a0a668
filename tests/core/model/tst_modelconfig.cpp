// Tests for ModelConfig parsing of Hugging Face config.json files.

#include "core/model/modelconfig.h"
#include "core/util/error.h"
#include "testsupport.h"

#include <QtTest>

using namespace engram;

class TestModelConfig : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void parsesGpt2();
    void parsesGptJ();
    void parsesNeoX();
    void parsesLlamaFamily();
    void parsesTheFixtures();
    void rejectsUnsupportedArchitecture();
    void rejectsBadFields_data();
    void rejectsBadFields();
    void roundTripsThroughToJson_data();
    void roundTripsThroughToJson();
};

void TestModelConfig::parsesGpt2()
{
    const auto c = ModelConfig::fromJson(
        R"({"model_type":"gpt2","vocab_size":50257,"n_embd":1600,"n_layer":48,"n_head":25,"n_positions":1024,"n_inner":null})");
    QCOMPARE(c.family, ModelFamily::Gpt2);
    QCOMPARE(c.intermediateSize, 6400); // n_inner null -> 4 * n_embd
    QCOMPARE(c.headDim, 64);
    QCOMPARE(c.positions, PositionScheme::Learned);
    QCOMPARE(c.activation, Activation::GeluNew);
    QVERIFY(c.tieWordEmbeddings);
    QCOMPARE(c.wiring, ResidualWiring::Sequential);
}

void TestModelConfig::parsesGptJ()
{
    const auto c = ModelConfig::fromJson(
        R"({"model_type":"gptj","vocab_size":50400,"n_embd":4096,"n_layer":28,"n_head":16,"n_positions":2048,"rotary_dim":64})");
    QCOMPARE(c.family, ModelFamily::GptJ);
    QCOMPARE(c.positions, PositionScheme::RotaryInterleaved);
    QCOMPARE(c.rotaryDim, 64);
    QCOMPARE(c.headDim, 256);
    QCOMPARE(c.wiring, ResidualWiring::Parallel);
    QVERIFY(c.lmHeadBias);
    QVERIFY(!c.tieWordEmbeddings);
    QCOMPARE(c.intermediateSize, 16384);
}

void TestModelConfig::parsesNeoX()
{
    const auto c = ModelConfig::fromJson(
        R"({"model_type":"gpt_neox","vocab_size":50432,"hidden_size":6144,"num_hidden_layers":44,"num_attention_heads":64,
            "intermediate_size":24576,"max_position_embeddings":2048,"rotary_pct":0.25,"rotary_emb_base":10000,
            "use_parallel_residual":true,"hidden_act":"gelu_fast","eos_token_id":0})");
    QCOMPARE(c.family, ModelFamily::GptNeoX);
    QCOMPARE(c.headDim, 96);
    QCOMPARE(c.rotaryDim, 24);
    QCOMPARE(c.positions, PositionScheme::RotaryHalf);
    QCOMPARE(c.activation, Activation::GeluFast);
    QCOMPARE(c.eosTokenIds, std::vector<int> {0});
    const auto seq = ModelConfig::fromJson(
        R"({"model_type":"gpt_neox","vocab_size":10,"hidden_size":16,"num_hidden_layers":1,"num_attention_heads":2,"use_parallel_residual":false})");
    QCOMPARE(seq.wiring, ResidualWiring::Sequential);
}

void TestModelConfig::parsesLlamaFamily()
{
    const auto llama3 = ModelConfig::fromJson(
        R"({"model_type":"llama","vocab_size":128256,"hidden_size":4096,"num_hidden_layers":32,"num_attention_heads":32,
            "num_key_value_heads":8,"intermediate_size":14336,"max_position_embeddings":131072,"rope_theta":500000.0,
            "rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},
            "eos_token_id":[128001,128008,128009],"bos_token_id":128000})");
    QCOMPARE(llama3.numKvHeads, 8);
    QCOMPARE(llama3.headDim, 128);
    QCOMPARE(llama3.ropeScaling.type, RopeScaling::Type::Llama3);
    QCOMPARE(llama3.eosTokenIds.size(), std::size_t(3));
    QCOMPARE(*llama3.bosTokenId, 128000);
    QCOMPARE(llama3.norm, NormKind::RmsNorm);

    const auto qwen = ModelConfig::fromJson(
        R"({"model_type":"qwen2","vocab_size":151936,"hidden_size":896,"num_hidden_layers":24,"num_attention_heads":14,
            "num_key_value_heads":2,"intermediate_size":4864,"tie_word_embeddings":true,"use_sliding_window":false,"sliding_window":32768})");
    QVERIFY(qwen.attentionBias);
    QVERIFY(!qwen.attentionOutBias);
    QVERIFY(qwen.tieWordEmbeddings);
    QVERIFY(!qwen.slidingWindow);

    const auto mistral = ModelConfig::fromJson(
        R"({"model_type":"mistral","vocab_size":32000,"hidden_size":4096,"num_hidden_layers":32,"num_attention_heads":32,
            "num_key_value_heads":8,"intermediate_size":14336,"sliding_window":4096})");
    QCOMPARE(*mistral.slidingWindow, 4096);
}

void TestModelConfig::parsesTheFixtures()
{
    ENGRAM_REQUIRE_FIXTURE(stories, "stories260k-hf/config.json");
    const auto c = ModelConfig::fromFile(stories);
    QCOMPARE(c.family, ModelFamily::Llama);
    QCOMPARE(c.numKvHeads, 4);
    QCOMPARE(c.headDim, 8);
    QCOMPARE(c.intermediateSize, 172);
    QVERIFY(c.tieWordEmbeddings);
    ENGRAM_REQUIRE_FIXTURE(gpt2, "fake-gpt2-hf/config.json");
    QCOMPARE(ModelConfig::fromFile(gpt2).hiddenSize, 2);
}

void TestModelConfig::rejectsUnsupportedArchitecture()
{
    ENGRAM_EXPECT_ERROR(ModelConfig::fromJson(R"({"model_type":"bert","vocab_size":3})"),
        ErrorKind::UnsupportedArchitecture,
        "unsupported architecture: bert (supported: gpt2, gptj, gpt_neox, llama, mistral, qwen2)");
}

void TestModelConfig::rejectsBadFields_data()
{
    QTest::addColumn<QString>("json");
    QTest::addColumn<QString>("needle");
    QTest::newRow("not json") << QStringLiteral("{oops") << QStringLiteral("not valid JSON");
    QTest::newRow("no model_type") << QStringLiteral(R"({"vocab_size":3})") << QStringLiteral("missing \"model_type\"");
    QTest::newRow("missing field") << QStringLiteral(R"({"model_type":"gpt2","vocab_size":3,"n_layer":1,"n_head":1})")
                                   << QStringLiteral("missing required field \"n_embd\"");
    QTest::newRow("string for int") << QStringLiteral(
        R"({"model_type":"gpt2","vocab_size":"many","n_embd":4,"n_layer":1,"n_head":1})")
                                    << QStringLiteral("\"vocab_size\" must be an integer");
    QTest::newRow("heads do not divide") << QStringLiteral(
        R"({"model_type":"gpt2","vocab_size":3,"n_embd":10,"n_layer":1,"n_head":3})")
                                         << QStringLiteral("not divisible");
    QTest::newRow("kv heads") << QStringLiteral(
        R"({"model_type":"llama","vocab_size":3,"hidden_size":12,"num_hidden_layers":1,"num_attention_heads":3,"num_key_value_heads":2,"intermediate_size":8})")
                              << QStringLiteral("multiple of num_key_value_heads");
    QTest::newRow("activation") << QStringLiteral(
        R"({"model_type":"gpt2","vocab_size":3,"n_embd":4,"n_layer":1,"n_head":1,"activation_function":"mish"})")
                                << QStringLiteral("unsupported activation \"mish\"");
    QTest::newRow("rope scaling") << QStringLiteral(
        R"({"model_type":"llama","vocab_size":3,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":8,"rope_scaling":{"type":"yarn","factor":4}})")
                                  << QStringLiteral("unsupported rope_scaling type \"yarn\"");
    // Found by fuzzing (fuzz/corpus/fuzz_modelconfig).
    QTest::newRow("number beyond double") << QStringLiteral(
        R"({"model_type":"gpt2","vocab_size":3,"n_embd":4,"n_layer":1,"n_head":1,"layer_norm_epsilon":-1e400})")
                                          << QStringLiteral("beyond the range of a double");
    QTest::newRow("rope scaling factor") << QStringLiteral(
        R"({"model_type":"llama","vocab_size":3,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":8,"rope_scaling":{"type":"linear","factor":"big"}})")
                                         << QStringLiteral("rope_scaling: field \"factor\" must be a number");
    QTest::newRow("rotary pct") << QStringLiteral(
        R"({"model_type":"gpt_neox","vocab_size":3,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"rotary_pct":1e300})")
                                << QStringLiteral("must be between 0 and 1");
    QTest::newRow("derived width") << QStringLiteral(
        R"({"model_type":"gpt2","vocab_size":3,"n_embd":1073741824,"n_layer":1,"n_head":1})")
                                   << QStringLiteral("4 x n_embd, is out of range");
}

void TestModelConfig::rejectsBadFields()
{
    QFETCH(QString, json);
    QFETCH(QString, needle);
    ENGRAM_EXPECT_ERROR(
        ModelConfig::fromJson(json.toStdString(), "x/config.json"), ErrorKind::InvalidConfig, needle.toStdString());
}

void TestModelConfig::roundTripsThroughToJson_data()
{
    QTest::addColumn<QString>("json");
    QTest::newRow("gpt2") << QStringLiteral(
        R"({"model_type":"gpt2","vocab_size":50,"n_embd":8,"n_layer":2,"n_head":2})");
    QTest::newRow("gptj") << QStringLiteral(
        R"({"model_type":"gptj","vocab_size":50,"n_embd":16,"n_layer":2,"n_head":2,"rotary_dim":4})");
    QTest::newRow("neox") << QStringLiteral(
        R"({"model_type":"gpt_neox","vocab_size":50,"hidden_size":16,"num_hidden_layers":2,"num_attention_heads":2,"rotary_pct":0.5,"use_parallel_residual":false})");
    QTest::newRow("llama") << QStringLiteral(
        R"({"model_type":"llama","vocab_size":50,"hidden_size":16,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"intermediate_size":24,"rope_theta":500000,"eos_token_id":[1,2]})");
}

void TestModelConfig::roundTripsThroughToJson()
{
    QFETCH(QString, json);
    const auto a = ModelConfig::fromJson(json.toStdString());
    const auto b = ModelConfig::fromJson(a.toJson());
    QCOMPARE(b.toJson(), a.toJson());
    QCOMPARE(b.family, a.family);
    QCOMPARE(b.rotaryDim, a.rotaryDim);
    QCOMPARE(b.wiring, a.wiring);
    QCOMPARE(b.numKvHeads, a.numKvHeads);
    QCOMPARE(b.eosTokenIds, a.eosTokenIds);
    QCOMPARE(b.ropeTheta, a.ropeTheta);
}

QTEST_GUILESS_MAIN(TestModelConfig)
#include "tst_modelconfig.moc"
