// Tests for WeightPatch: apply checks the base hash, revert is bit-exact, files round-trip.

#include "core/edit/weightpatch.h"
#include "core/io/checkpoint.h"
#include "core/io/safetensors.h"
#include "core/jobs/export.h"
#include "core/model/transformer.h"
#include "core/util/error.h"
#include "devkit/randomcheckpoint.h"
#include "testsupport.h"

#include <ATen/ATen.h>

#include <QTemporaryDir>

#include <cmath>
#include <iomanip>
#include <sstream>
#include <QtTest>

using namespace engram;

namespace {
WeightPatch makePatch(const Transformer &model, int layer, float scale)
{
    WeightPatch patch;
    TensorDelta d;
    d.name = model.mlpOutputWeightName(layer);
    const at::Tensor w = model.parameter(d.name);
    d.baseHash = tensorHash(w);
    d.delta = at::full(w.sizes(), scale, at::kFloat);
    d.relativeNorm = d.delta.norm().item<double>() / w.norm().item<double>();
    patch.deltas.push_back(d);
    patch.provenanceJson = R"({"method":"test"})";
    return patch;
}
} // namespace

class TestWeightPatch : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void appliesAndRevertsBitExactly();
    void refusesOtherWeights();
    void roundTripsThroughAFile();
    void composesInOrder();
    void exportRefusesAnOverflowingHalfWeight();
    void refusesPatchesThatWouldApplyPartlyOrWrongly();
};

void TestWeightPatch::appliesAndRevertsBitExactly()
{
    QTemporaryDir dir;
    const std::filesystem::path root = dir.path().toStdString();
    writeRandomCheckpoint(tinyConfig(ModelFamily::GptNeoX), root, 3);
    const WeightStore base = WeightStore::openDirectory(root);
    auto model = Transformer::load(root);
    const WeightPatch patch = makePatch(*model, 1, 0.125f);
    const std::string name = patch.deltas[0].name;
    const at::Tensor before = model->parameter(name).clone();
    patch.apply(*model);
    QVERIFY(at::allclose(model->parameter(name), before + 0.125f));
    patch.revert(*model, base);
    QVERIFY(at::equal(model->parameter(name), before));
    QCOMPARE(tensorHash(model->parameter(name)), patch.deltas[0].baseHash);
}

void TestWeightPatch::refusesOtherWeights()
{
    QTemporaryDir dir;
    const std::filesystem::path root = dir.path().toStdString();
    writeRandomCheckpoint(tinyConfig(ModelFamily::Gpt2), root, 3);
    auto model = Transformer::load(root);
    const WeightPatch first = makePatch(*model, 0, 0.5f);
    first.apply(*model);
    const at::Tensor edited = model->parameter(first.deltas[0].name).clone();
    // Applying the same patch again would double the edit: its base hash no longer matches.
    ENGRAM_EXPECT_ERROR(first.apply(*model), ErrorKind::ShapeMismatch, "computed for different weights");
    QVERIFY(at::equal(model->parameter(first.deltas[0].name), edited)); // untouched
    // The same base loaded as bf16 is other weights too; the message names the weight type.
    auto bf16 = Transformer::load(root, LoadOptions {"cpu", "bf16"});
    ENGRAM_EXPECT_ERROR(first.apply(*bf16), ErrorKind::ShapeMismatch, "as BFloat16");
}

void TestWeightPatch::roundTripsThroughAFile()
{
    QTemporaryDir dir;
    const std::filesystem::path root = dir.path().toStdString();
    writeRandomCheckpoint(tinyConfig(ModelFamily::Llama), root / "model", 3);
    auto model = Transformer::load(root / "model");
    const WeightPatch patch = makePatch(*model, 1, -0.25f);
    patch.save(root / "edit.patch");
    const WeightPatch loaded = WeightPatch::load(root / "edit.patch");
    QCOMPARE(loaded.deltas.size(), std::size_t(1));
    QCOMPARE(loaded.deltas[0].name, patch.deltas[0].name);
    QCOMPARE(loaded.deltas[0].baseHash, patch.deltas[0].baseHash);
    QVERIFY(at::equal(loaded.deltas[0].delta, patch.deltas[0].delta));
    QCOMPARE(loaded.provenanceJson, patch.provenanceJson);
    // A weights file is not a patch.
    ENGRAM_EXPECT_ERROR(
        WeightPatch::load(root / "model" / "model.safetensors"), ErrorKind::CorruptFile, "not an Engram patch");
}

void TestWeightPatch::composesInOrder()
{
    QTemporaryDir dir;
    const std::filesystem::path root = dir.path().toStdString();
    writeRandomCheckpoint(tinyConfig(ModelFamily::Gpt2), root, 5);
    const WeightStore base = WeightStore::openDirectory(root);
    auto model = Transformer::load(root);
    // Patch A edits layer 0; patch B (made on top of A) edits layer 0 again and layer 1.
    const WeightPatch a = makePatch(*model, 0, 0.25f);
    a.apply(*model);
    WeightPatch b = makePatch(*model, 0, -0.125f);
    b.deltas.push_back(makePatch(*model, 1, 0.5f).deltas[0]);
    b.apply(*model);
    const at::Tensor w0 = model->parameter(a.deltas[0].name).clone(), w1 = model->parameter(b.deltas[1].name).clone();
    a.revert(*model, base);
    b.revert(*model, base);

    const WeightPatch ab = WeightPatch::compose(*model, {a, b});
    QCOMPARE(ab.deltas.size(), std::size_t(2));
    QVERIFY(ab.provenanceJson.find("composed") != std::string::npos);
    ab.apply(*model);
    QVERIFY(at::allclose(model->parameter(a.deltas[0].name), w0, 1e-6, 1e-6));
    QVERIFY(at::allclose(model->parameter(b.deltas[1].name), w1, 1e-6, 1e-6));
    ab.revert(*model, base);
    QVERIFY(at::equal(model->parameter(a.deltas[0].name), base.tensor(a.deltas[0].name)));
    // The wrong order is refused: B was made for the weights A leaves.
    ENGRAM_EXPECT_ERROR(WeightPatch::compose(*model, {b, a}), ErrorKind::ShapeMismatch, "patch 1 of 2");
}

void TestWeightPatch::refusesPatchesThatWouldApplyPartlyOrWrongly()
{
    // Patch files altered by hand or damaged: each is refused whole, naming file and tensor, and
    // the model keeps its weights (issue 18, finding 5).
    QTemporaryDir dir;
    const std::filesystem::path root = dir.path().toStdString();
    writeRandomCheckpoint(tinyConfig(ModelFamily::Gpt2), root / "model", 3);
    auto model = Transformer::load(root / "model");
    const WeightPatch patch = makePatch(*model, 1, 0.5f);
    const std::string name = patch.deltas[0].name;
    const std::string hashes = "{\"" + name + "\": \"" + patch.deltas[0].baseHash + "\"}";
    std::ostringstream normText;
    normText << std::setprecision(17) << patch.deltas[0].relativeNorm;
    const std::string norms = "{\"" + name + "\": " + normText.str() + "}";
    const auto write = [&](const std::string &file, std::vector<TensorSource> tensors, const std::string &baseHashes,
                           const std::string &relativeNorms) {
        writeSafetensors(root / file, std::move(tensors),
            {{"format", "engram-patch"}, {"version", "1"}, {"base_hashes", baseHashes},
                {"relative_norms", relativeNorms}, {"provenance", "{}"}});
        return root / file;
    };
    const at::Tensor delta = patch.deltas[0].delta;
    const at::Tensor before = model->parameter(name).clone();

    ENGRAM_EXPECT_ERROR(WeightPatch::load(write("empty.patch", {tensorSource("delta." + name, delta)}, "{}", "{}")),
        ErrorKind::CorruptFile, "is not a weight delta the patch lists");
    ENGRAM_EXPECT_ERROR(
        WeightPatch::load(write("nothing.patch", {}, "{}", "{}")), ErrorKind::CorruptFile, "holds no weight deltas");
    ENGRAM_EXPECT_ERROR(WeightPatch::load(write("int.patch", {tensorSource("delta." + name, delta.to(at::kInt))},
                            hashes, norms)),
        ErrorKind::CorruptFile, "is I32; patch deltas are F32");
    at::Tensor nan = delta.clone();
    nan[0][0] = std::nanf("");
    ENGRAM_EXPECT_ERROR(WeightPatch::load(write("nan.patch", {tensorSource("delta." + name, nan)}, hashes, norms)),
        ErrorKind::CorruptFile, "holds NaN or infinite values");
    ENGRAM_EXPECT_ERROR(
        WeightPatch::load(write("type.patch", {tensorSource("delta." + name, delta)}, "{\"" + name + "\": 5}", norms)),
        ErrorKind::CorruptFile, "is not a string");
    ENGRAM_EXPECT_ERROR(WeightPatch::load(write("missing.patch", {tensorSource("delta." + name, delta)},
                            "{\"" + name + "\": \"x\", \"other.weight\": \"y\"}", "{}")),
        ErrorKind::CorruptFile, "has no tensor 'delta.other.weight'");
    ENGRAM_EXPECT_ERROR(WeightPatch::load(root), ErrorKind::InvalidArgument, "is a folder");

    // Huge values pass the load (they are finite) but not the recorded relative norm.
    const WeightPatch huge
        = WeightPatch::load(write("huge.patch", {tensorSource("delta." + name, delta * 3e30f)}, hashes, norms));
    ENGRAM_EXPECT_ERROR(huge.apply(*model), ErrorKind::CorruptFile, "its record says");
    QVERIFY(at::equal(model->parameter(name), before));
    // Without a recorded norm, a sum beyond float range is refused as it is computed.
    WeightPatch overflow = huge;
    overflow.deltas[0].delta = at::full_like(delta, 3.0e38f);
    overflow.deltas[0].relativeNorm = 0;
    model->setParameter(name, at::full_like(before, 3.0e38f));
    overflow.deltas[0].baseHash = tensorHash(model->parameter(name));
    ENGRAM_EXPECT_ERROR(overflow.apply(*model), ErrorKind::Runtime, "NaN or infinite weights");
    model->setParameter(name, before);
    // The untouched file still applies.
    WeightPatch::load(write("good.patch", {tensorSource("delta." + name, delta)}, hashes, norms)).apply(*model);
    QVERIFY(at::allclose(model->parameter(name), before + 0.5f));
}

QTEST_GUILESS_MAIN(TestWeightPatch)
void TestWeightPatch::exportRefusesAnOverflowingHalfWeight()
{
    // A fp16 checkpoint whose patched weight would exceed 65504: the export names the tensor
    // and the type and leaves no directory behind; a patch that fits exports as fp16.
    QTemporaryDir dir;
    const std::filesystem::path root = dir.path().toStdString();
    writeRandomCheckpoint(tinyConfig(ModelFamily::Gpt2), root / "fp32", 4);
    saveCheckpoint(*Transformer::load(root / "fp32"), root / "fp16", "fp16");
    auto model = Transformer::load(root / "fp16");
    const WeightPatch huge = makePatch(*model, 1, 1e5f);
    ENGRAM_EXPECT_ERROR(exportPatchedCheckpoint(root / "fp16", {huge}, "{}", root / "out"), ErrorKind::InvalidArgument,
        "does not fit the checkpoint's F16");
    QVERIFY(!std::filesystem::exists(root / "out"));
    const WeightPatch fits = makePatch(*model, 1, 0.5f);
    exportPatchedCheckpoint(root / "fp16", {fits}, "{}", root / "out");
    const WeightStore out = WeightStore::openDirectory(root / "out");
    QVERIFY(out.info(fits.deltas[0].name).dtype == DType::F16);
    QVERIFY(at::equal(out.tensor(fits.deltas[0].name).to(at::kFloat),
        (model->parameter(fits.deltas[0].name) + 0.5f).to(at::kHalf).to(at::kFloat)));
}

#include "tst_weightpatch.moc"
