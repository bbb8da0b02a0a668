// Tests for the editing presets: the published hyperparameter files in the fixtures are
// reproduced for their models, the demo gets its measured values, and scaled presets stay
// inside the model for every depth.

#include "core/edit/presets.h"
#include "testsupport.h"

#include <nlohmann/json.hpp>

#include <QtTest>

#include <fstream>

using namespace engram;

namespace {
nlohmann::json readJson(const std::filesystem::path &p)
{
    std::ifstream in(p);
    return nlohmann::json::parse(in);
}

void checkMemit(const MemitParams &m, const nlohmann::json &h)
{
    QCOMPARE(m.layers, h["layers"].get<std::vector<int>>());
    QCOMPARE(m.lambda, h["mom2_update_weight"].get<double>());
    QCOMPARE(m.vSteps, h["v_num_grad_steps"].get<int>());
    QCOMPARE(m.vLr, h["v_lr"].get<double>());
    QCOMPARE(m.clampNormFactor, h["clamp_norm_factor"].get<double>());
    QCOMPARE(m.klFactor, h["kl_factor"].get<double>());
    QCOMPARE(m.vWeightDecay, h["v_weight_decay"].get<double>());
}

void checkRome(const RomeParams &r, const nlohmann::json &h)
{
    QCOMPARE(r.layer, h["layers"][0].get<int>());
    QCOMPARE(r.vSteps, h["v_num_grad_steps"].get<int>());
    QCOMPARE(r.vLr, h["v_lr"].get<double>());
    QCOMPARE(r.clampNormFactor, h["clamp_norm_factor"].get<double>());
    QCOMPARE(r.klFactor, h["kl_factor"].get<double>());
}
} // namespace

class TestPresets : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void publishedMemitFiles();
    void publishedRomeFiles();
    void demoUsesMeasuredValues();
    void scaledPresetsStayInsideTheModel();
};

void TestPresets::publishedMemitFiles()
{
    ENGRAM_REQUIRE_FIXTURE(dir, "hparams/MEMIT");
    checkMemit(editPresetFor(ModelFamily::GptJ, 28, 4096).memit, readJson(dir / "EleutherAI_gpt-j-6B.json"));
    checkMemit(editPresetFor(ModelFamily::Gpt2, 48, 1600).memit, readJson(dir / "gpt2-xl.json"));
    checkMemit(editPresetFor(ModelFamily::Llama, 32, 4096).memit, readJson(dir / "Llama3-8B.json"));
}

void TestPresets::publishedRomeFiles()
{
    ENGRAM_REQUIRE_FIXTURE(dir, "hparams/ROME");
    checkRome(editPresetFor(ModelFamily::Gpt2, 48, 1600).rome, readJson(dir / "gpt2-xl.json"));
    checkRome(editPresetFor(ModelFamily::GptNeoX, 44, 6144).rome, readJson(dir / "EleutherAI_gpt-neox-20b.json"));
    QCOMPARE(editPresetFor(ModelFamily::GptJ, 28, 4096).rome.layer, 5);
    QCOMPARE(editPresetFor(ModelFamily::Gpt2, 24, 1024).rome.clampNormFactor, 3.0);
}

void TestPresets::demoUsesMeasuredValues()
{
    const EditPreset p = editPresetFor(ModelFamily::Gpt2, 6, 192);
    QCOMPARE(p.memit.layers, (std::vector<int> {0, 1, 2, 3}));
    QCOMPARE(p.memit.lambda, 100.0);
    QCOMPARE(p.memit.vLr, 4.0);
    QCOMPARE(p.memit.vSteps, 40);
    QCOMPARE(p.memit.protectWeight, 0.03);
    QCOMPARE(p.rome.layer, 0);
    QVERIFY(p.name.find("demo") != std::string::npos);
    // AlphaEdit: MEMIT's values, the published threshold, α measured on the demo, earlier runs kept.
    QCOMPARE(p.alphaEdit.layers, p.memit.layers);
    QCOMPARE(p.alphaEdit.nullSpaceThreshold, 2e-2);
    QCOMPARE(p.alphaEdit.nullSpaceAlpha, 1.0);
    // MEMIT keeps earlier runs on the demo (measured over 20 sequential runs); published presets
    // stay the published MEMIT.
    QVERIFY(p.alphaEdit.preserveEarlierRuns && p.memit.preserveEarlierRuns);
    QVERIFY(!editPresetFor(ModelFamily::GptJ, 28, 4096).memit.preserveEarlierRuns);
    // Published models keep AlphaEdit's published values (threshold 2e-2, α 10).
    const EditPreset j = editPresetFor(ModelFamily::GptJ, 28, 4096);
    QCOMPARE(j.alphaEdit.nullSpaceAlpha, 10.0);
    QCOMPARE(j.alphaEdit.layers, j.memit.layers);
    QCOMPARE(j.configFor(EditMethod::AlphaEdit).method(), EditMethod::AlphaEdit);
    QVERIFY(j.configFor(EditMethod::AlphaEdit).memit().nullSpace);
}

void TestPresets::scaledPresetsStayInsideTheModel()
{
    for (int layers = 1; layers <= 96; ++layers) {
        const EditPreset p = editPresetFor(ModelFamily::GptNeoX, layers, 512);
        QVERIFY(!p.memit.layers.empty());
        for (std::size_t i = 0; i < p.memit.layers.size(); ++i) {
            QVERIFY(p.memit.layers[i] >= 0 && p.memit.layers[i] < layers);
            if (i > 0)
                QCOMPARE(p.memit.layers[i], p.memit.layers[i - 1] + 1);
        }
        QVERIFY(p.rome.layer >= 0 && p.rome.layer < layers);
        QVERIFY(p.fineTune.layer >= 0 && p.fineTune.layer < layers);
    }
    // GPT-J's depth without GPT-J's family: the scaled window lands where GPT-J's is.
    const EditPreset s = editPresetFor(ModelFamily::GptNeoX, 28, 4096);
    QCOMPARE(s.memit.layers.front(), 3);
    QCOMPARE(static_cast<int>(s.memit.layers.size()), 5);
}

QTEST_GUILESS_MAIN(TestPresets)
#include "tst_presets.moc"
