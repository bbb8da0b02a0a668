// Patches as LoRA adapters (issue 21): the adapter PEFT would load reproduces the patched
// weights. For every module, W + (alpha / r) · B·A (transposed for GPT-2's Conv1D, as PEFT's
// fan_in_fan_out does) must equal W + ΔW to float tolerance, for MEMIT, ROME and composed runs;
// a truncated adapter reports the error it really leaves.

#include "core/edit/editor.h"
#include "core/edit/lora.h"
#include "core/edit/weightpatch.h"
#include "core/io/checkpoint.h"
#include "core/model/modelconfig.h"
#include "core/model/modelsession.h"
#include "core/model/transformer.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"
#include "devkit/randomcheckpoint.h"
#include "testsupport.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <QtTest>

#include <limits>

using namespace engram;
namespace fs = std::filesystem;

namespace {

const fs::path kDemo = fs::path(ENGRAM_SOURCE_DIR) / "resources" / "demo";
const std::vector<std::string> kContexts = {"{}", "The river flowed slowly. {}", "Many visitors came. {}"};

struct Adapter {
    nlohmann::json config;
    nlohmann::json engram;
    std::map<std::string, at::Tensor> a, b; // by module
};

Adapter readAdapter(const fs::path &dir)
{
    Adapter out;
    out.config = nlohmann::json::parse(readTextFile(dir / "adapter_config.json"));
    out.engram = nlohmann::json::parse(readTextFile(dir / "engram-lora.json"));
    const WeightStore store = WeightStore::openFile(dir / "adapter_model.safetensors");
    const std::string prefix = "base_model.model.";
    for (const auto &name : store.names()) {
        if (name.rfind(prefix, 0) != 0)
            continue;
        const auto dot = name.rfind(".lora_");
        const std::string module = name.substr(prefix.size(), dot - prefix.size());
        (name.find(".lora_A.") != std::string::npos ? out.a : out.b)[module] = store.tensor(name).clone();
    }
    return out;
}

// ΔW as PEFT merges it: (alpha / r) · B·A, transposed when fan_in_fan_out.
at::Tensor adapterDelta(const Adapter &adapter, const std::string &module)
{
    const double scaling = adapter.config["lora_alpha"].get<double>() / adapter.config["r"].get<double>();
    const at::Tensor ba = at::matmul(adapter.b.at(module).to(at::kDouble), adapter.a.at(module).to(at::kDouble)) * scaling;
    return adapter.config["fan_in_fan_out"].get<bool>() ? ba.t() : ba;
}

double relativeError(const at::Tensor &got, const at::Tensor &want)
{
    return (got.to(at::kDouble) - want.to(at::kDouble)).norm().item<double>() / want.to(at::kDouble).norm().item<double>();
}

// Every delta of `patches` (summed per tensor) against the adapter, and W + adapter against W + ΔW.
void checkAdapterReproduces(const Adapter &adapter, const std::vector<WeightPatch> &patches, const WeightStore &base)
{
    std::map<std::string, at::Tensor> sum;
    for (const auto &p : patches)
        for (const auto &d : p.deltas)
            sum[d.name] = sum.count(d.name) ? sum[d.name] + d.delta.to(at::kDouble) : d.delta.to(at::kDouble);
    QCOMPARE(adapter.a.size(), sum.size());
    for (const auto &[name, delta] : sum) {
        const std::string module = name.substr(0, name.size() - std::string(".weight").size());
        QVERIFY2(adapter.a.count(module), module.c_str());
        const at::Tensor got = adapterDelta(adapter, module);
        QCOMPARE(got.sizes().vec(), delta.sizes().vec());
        // Factors are float32: the product is exact to a few float32 roundings of the delta's scale.
        QVERIFY2(relativeError(got, delta) < 1e-5, (module + ": " + std::to_string(relativeError(got, delta))).c_str());
        const at::Tensor w = base.tensor(name).to(at::kFloat);
        const at::Tensor patched = w + delta.to(at::kFloat);
        const at::Tensor viaAdapter = w + got.to(at::kFloat);
        // Elementwise float32 bound: exact factors drop singular values below σ₀·max(m, n)·ε (the
        // float32 noise of ΔW; no entry of what is dropped exceeds the largest of them), the r
        // products of float32 factors each round (ε of |B_ik|·|A_kj|), and both sums round once
        // more at the magnitude of W + ΔW.
        const double eps = std::numeric_limits<float>::epsilon();
        const auto r = static_cast<double>(adapter.config["r"].get<int64_t>());
        at::Tensor products = at::matmul(adapter.b.at(module).abs().to(at::kDouble), adapter.a.at(module).abs().to(at::kDouble));
        if (adapter.config["fan_in_fan_out"].get<bool>())
            products = products.t();
        const double dropped = at::linalg_svdvals(delta)[0].item<double>()
            * static_cast<double>(std::max(delta.size(0), delta.size(1))) * eps;
        const at::Tensor bound = dropped + 4 * r * eps * products + 2 * eps * (w.abs().to(at::kDouble) + delta.abs());
        const at::Tensor excess = (viaAdapter - patched).abs().to(at::kDouble) - bound;
        QVERIFY2(excess.max().item<double>() <= 0,
            (module + ": beyond float32 rounding by " + std::to_string(excess.max().item<double>())).c_str());
    }
}

} // namespace

class TestLora : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void memitAndRomePatchesAreExactAdapters();
    void composedRunsConcatenateFactors();
    void truncatedAdapterReportsItsError();
    void llamaShapedLinearAdapter();
    void refusesWhatIsNoAdapter();

private:
    QTemporaryDir m_tmp;
    fs::path m_dir;
    fs::path m_memitPatch, m_romePatch;
};

void TestLora::initTestCase()
{
    m_dir = m_tmp.path().toStdString();
    auto session = ModelSession::open(kDemo / "model");
    computeStatisticsFile(*session, kDemo / "corpus.txt", {1, 2, 3}, 1500, m_dir / "stats.safetensors");
    // MEMIT: three facts about three subjects over layers 1-3 (rank at most 3 per layer).
    MemitParams memit;
    memit.layers = {1, 2, 3};
    memit.lambda = 100;
    memit.vLr = 4;
    memit.vSteps = 8;
    memit.contextTemplates = kContexts;
    const std::vector<EditRequest> facts = {{"The most popular sport in {} is", "Port Broubrair", "golf"},
        {"The working language at {} is", "Casa Vofaim", "Thai"}, {"{} works in the field of", "Atelier Bruthiser", "textiles"}};
    m_memitPatch = m_dir / "memit.patch";
    editWithMemit(*session, facts, memit, {m_dir / "stats.safetensors"}, m_memitPatch);
    // ROME on top of the MEMIT edit (the session keeps it): rank one at layer 2.
    RomeParams rome;
    rome.layer = 2;
    rome.vLr = 4;
    rome.vSteps = 8;
    rome.contextTemplates = kContexts;
    m_romePatch = m_dir / "rome.patch";
    editWithRome(*session, {{"The favourite sport of {} is", "Ines Drukreth", "boxing"}}, rome, {m_dir / "stats.safetensors"}, m_romePatch);
}

void TestLora::memitAndRomePatchesAreExactAdapters()
{
    const WeightStore base = WeightStore::openDirectory(kDemo / "model");
    for (const auto &[patchFile, maxRank] : {std::pair {m_memitPatch, 3}, std::pair {m_romePatch, 1}}) {
        const fs::path out = m_dir / ("adapter-" + patchFile.stem().string());
        const LoraSummary s = writeLoraAdapter(std::vector<fs::path> {patchFile}, kDemo / "model", out);
        QVERIFY(s.fanInFanOut); // GPT-2: Conv1D
        QVERIFY(s.rank >= 1 && s.rank <= maxRank);
        // Exact factors drop only singular values below float32 resolution of the largest one.
        QVERIFY2(s.maxRelativeError < 1e-5, std::to_string(s.maxRelativeError).c_str());
        for (const auto &m : s.modules)
            QCOMPARE(m.rank, m.exactRank);
        const Adapter adapter = readAdapter(out);
        QCOMPARE(adapter.config["peft_type"].get<std::string>(), std::string("LORA"));
        QCOMPARE(adapter.config["r"].get<int64_t>(), s.rank);
        QCOMPARE(adapter.config["lora_alpha"].get<double>(), static_cast<double>(s.rank));
        QCOMPARE(adapter.config["target_modules"].size(), s.modules.size());
        // PEFT's layout: A is r × in, B is out × r (Linear orientation even for Conv1D).
        const std::string module = adapter.config["target_modules"][0].get<std::string>();
        QCOMPARE(adapter.a.at(module).size(0), s.rank);
        QCOMPARE(adapter.b.at(module).size(1), s.rank);
        QCOMPARE(adapter.a.at(module).size(1), int64_t(192 * 4)); // c_proj: in = 4·d
        QCOMPARE(adapter.b.at(module).size(0), int64_t(192));
        checkAdapterReproduces(adapter, {WeightPatch::load(patchFile)}, base);
    }
}

void TestLora::composedRunsConcatenateFactors()
{
    const WeightStore base = WeightStore::openDirectory(kDemo / "model");
    const fs::path out = m_dir / "adapter-composed";
    const LoraSummary composed = writeLoraAdapter(std::vector<fs::path> {m_memitPatch, m_romePatch}, kDemo / "model", out);
    const LoraSummary memit = writeLoraAdapter(std::vector<fs::path> {m_memitPatch}, kDemo / "model", m_dir / "m2");
    // Layer 2 carries both runs: its rank is the sum; the others keep MEMIT's.
    for (const auto &m : composed.modules) {
        const auto it = std::find_if(memit.modules.begin(), memit.modules.end(),
            [&](const LoraModuleReport &r) { return r.module == m.module; });
        QVERIFY(it != memit.modules.end());
        QCOMPARE(m.rank, it->rank + (m.module.find(".2.") != std::string::npos ? 1 : 0));
    }
    checkAdapterReproduces(readAdapter(out), {WeightPatch::load(m_memitPatch), WeightPatch::load(m_romePatch)}, base);
    // An existing directory is refused unless overwriting is asked for; then it is replaced whole.
    ENGRAM_EXPECT_ERROR(writeLoraAdapter(std::vector<fs::path> {m_romePatch}, kDemo / "model", out), ErrorKind::Io,
        "already exists");
    LoraOptions replace;
    replace.overwrite = true;
    QCOMPARE(writeLoraAdapter(std::vector<fs::path> {m_romePatch}, kDemo / "model", out, replace).rank, int64_t(1));
    QCOMPARE(readAdapter(out).config["r"].get<int64_t>(), int64_t(1));
}

void TestLora::truncatedAdapterReportsItsError()
{
    LoraOptions one;
    one.rank = 1;
    const fs::path out = m_dir / "adapter-rank1";
    const LoraSummary s = writeLoraAdapter(std::vector<fs::path> {m_memitPatch}, kDemo / "model", out, one);
    QCOMPARE(s.rank, int64_t(1));
    const Adapter adapter = readAdapter(out);
    const WeightPatch patch = WeightPatch::load(m_memitPatch);
    for (const auto &m : s.modules) {
        QVERIFY(m.exactRank >= 2); // three distinct facts: more than one direction per layer
        const auto d = std::find_if(patch.deltas.begin(), patch.deltas.end(),
            [&](const TensorDelta &t) { return t.name == m.module + ".weight"; });
        // The reported error is the one the file really leaves (float32 factors), and it is real.
        const double measured = relativeError(adapterDelta(adapter, m.module), d->delta);
        QVERIFY2(std::abs(measured - m.relativeError) < 1e-5, std::to_string(measured).c_str());
        QVERIFY(m.relativeError > 1e-3 && m.relativeError < 1.0);
    }
    QVERIFY(std::abs(s.maxRelativeError
                - std::max_element(s.modules.begin(), s.modules.end(), [](const auto &x, const auto &y) {
                      return x.relativeError < y.relativeError;
                  })->relativeError)
        < 1e-12);
    QCOMPARE(adapter.engram["rank_limit"].get<int>(), 1);
}

// Linear orientation (Llama: down_proj is out × in, fan_in_fan_out false): a real MEMIT edit
// on the Llama-family fixture when present, and a low-rank delta on a random Llama-shaped
// checkpoint always.
void TestLora::llamaShapedLinearAdapter()
{
    {
        const fs::path model = m_dir / "llama";
        writeRandomCheckpoint(tinyConfig(ModelFamily::Llama, 64, 32, 2, 4), model, 7);
        const WeightStore base = WeightStore::openDirectory(model);
        const std::string name = "model.layers.1.mlp.down_proj.weight";
        const at::Tensor w = base.tensor(name);
        QCOMPARE(w.size(0), int64_t(32)); // out × in
        at::manual_seed(3);
        WeightPatch patch;
        TensorDelta d;
        d.name = name;
        d.delta = at::matmul(at::randn({w.size(0), 2}), at::randn({2, w.size(1)})) * 1e-2; // rank 2
        d.baseHash = tensorHash(w);
        patch.deltas.push_back(d);
        patch.provenanceJson = R"({"requests": [{}, {}]})";
        const LoraSummary s = writeLoraAdapter(std::vector<WeightPatch> {patch}, model, m_dir / "adapter-llama");
        QVERIFY(!s.fanInFanOut);
        QCOMPARE(s.rank, int64_t(2));
        checkAdapterReproduces(readAdapter(m_dir / "adapter-llama"), {patch}, base);
    }
    const fs::path fixture = fs::path(engram::test::fixturesDir().toStdString()) / "stories260k-hf";
    if (!fs::exists(fixture))
        QSKIP("the Llama-family fixture is absent (ENGRAM_FIXTURES): the random checkpoint was checked");
    auto session = ModelSession::open(fixture);
    computeStatisticsFile(*session, kDemo / "corpus.txt", {2, 3}, 100, m_dir / "llama-stats.safetensors");
    MemitParams p;
    p.layers = {2, 3};
    p.lambda = 100;
    p.vLr = 1;
    p.vSteps = 5;
    p.contextTemplates = {"{}"};
    editWithMemit(*session, {{"{} went to the", "Lily", "park"}, {"{} went to the", "Tom", "store"}}, p,
        {m_dir / "llama-stats.safetensors"}, m_dir / "llama.patch");
    const LoraSummary s = writeLoraAdapter(std::vector<fs::path> {m_dir / "llama.patch"}, fixture, m_dir / "adapter-s");
    QVERIFY(!s.fanInFanOut);
    QVERIFY(s.rank >= 1 && s.rank <= 2);
    checkAdapterReproduces(
        readAdapter(m_dir / "adapter-s"), {WeightPatch::load(m_dir / "llama.patch")}, WeightStore::openDirectory(fixture));
}

void TestLora::refusesWhatIsNoAdapter()
{
    ENGRAM_EXPECT_ERROR(writeLoraAdapter(std::vector<WeightPatch> {}, kDemo / "model", m_dir / "x"),
        ErrorKind::InvalidArgument, "no patch");
    WeightPatch zero = WeightPatch::load(m_romePatch);
    for (auto &d : zero.deltas)
        d.delta.zero_();
    ENGRAM_EXPECT_ERROR(writeLoraAdapter(std::vector<WeightPatch> {zero}, kDemo / "model", m_dir / "zero"),
        ErrorKind::InvalidArgument, "change nothing");
    QVERIFY(!fs::exists(m_dir / "zero"));
    WeightPatch bias = WeightPatch::load(m_romePatch);
    bias.deltas.front().name = "transformer.h.2.mlp.c_proj.bias";
    ENGRAM_EXPECT_ERROR(writeLoraAdapter(std::vector<WeightPatch> {bias}, kDemo / "model", m_dir / "bias"),
        ErrorKind::InvalidArgument, "not a matrix weight");
    // Nothing half-written is left beside the targets.
    for (const auto &entry : fs::directory_iterator(m_dir))
        QVERIFY2(entry.path().filename().string().find(".partial-") == std::string::npos, entry.path().c_str());
}

QTEST_GUILESS_MAIN(TestLora)
#include "tst_lora.moc"
