// Tests for WeightStore: single files and sharded checkpoints via model.safetensors.index.json.

#include "core/io/checkpoint.h"
#include "core/util/error.h"
#include "testsupport.h"

#include <ATen/ATen.h>

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace engram;

class TestWeightStore : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void readsShardsThroughTheIndex();
    void reportsMissingShardAndTensor();
    void explainsMissingWeights();
};

namespace {
void writeIndex(const std::filesystem::path &dir, const std::string &json)
{
    std::ofstream(dir / "model.safetensors.index.json") << json;
}
} // namespace

void TestWeightStore::readsShardsThroughTheIndex()
{
    QTemporaryDir tmp;
    const std::filesystem::path dir = tmp.path().toStdString();
    const at::Tensor a = at::randn({3, 4}), b = at::randn({5});
    writeSafetensors(dir / "model-00001-of-00002.safetensors", {tensorSource("a", a)});
    writeSafetensors(dir / "model-00002-of-00002.safetensors", {tensorSource("b", b)});
    writeIndex(dir,
        R"({"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})");
    const WeightStore store = WeightStore::openDirectory(dir);
    QVERIFY(at::equal(store.tensor("a"), a));
    QVERIFY(at::equal(store.tensor("b"), b));
    QCOMPARE(store.shardFiles().size(), std::size_t(2));
    QCOMPARE(store.shardOf("b"), std::string("model-00002-of-00002.safetensors"));
    QCOMPARE(store.totalBytes(), uint64_t(12 * 4 + 5 * 4));
}

void TestWeightStore::reportsMissingShardAndTensor()
{
    QTemporaryDir tmp;
    const std::filesystem::path dir = tmp.path().toStdString();
    writeSafetensors(dir / "one.safetensors", {tensorSource("a", at::ones({2}))});
    writeIndex(dir, R"({"weight_map":{"a":"one.safetensors","b":"two.safetensors"}})");
    ENGRAM_EXPECT_ERROR(WeightStore::openDirectory(dir), ErrorKind::Io, "two.safetensors");

    writeIndex(dir, R"({"weight_map":{"a":"one.safetensors","c":"one.safetensors"}})");
    ENGRAM_EXPECT_ERROR(WeightStore::openDirectory(dir), ErrorKind::MissingTensor, "tensor 'c'");

    writeIndex(dir, R"({"weight_map":{"a":"../one.safetensors"}})");
    ENGRAM_EXPECT_ERROR(WeightStore::openDirectory(dir), ErrorKind::CorruptFile, "not a plain file name");

    writeIndex(dir, R"({"weight_map": 3})");
    ENGRAM_EXPECT_ERROR(WeightStore::openDirectory(dir), ErrorKind::CorruptFile, "weight_map");

    const WeightStore ok = WeightStore::openFile(dir / "one.safetensors");
    ENGRAM_EXPECT_ERROR(ok.tensor("nope"), ErrorKind::MissingTensor, "tensor 'nope' is missing");
}

void TestWeightStore::explainsMissingWeights()
{
    QTemporaryDir tmp;
    const std::filesystem::path dir = tmp.path().toStdString();
    ENGRAM_EXPECT_ERROR(WeightStore::openDirectory(dir), ErrorKind::Io, "no model.safetensors");
    std::ofstream(dir / "pytorch_model.bin") << "x";
    ENGRAM_EXPECT_ERROR(WeightStore::openDirectory(dir), ErrorKind::Io, "convert them to safetensors");
}

QTEST_GUILESS_MAIN(TestWeightStore)
#include "tst_weightstore.moc"
