// Statistics on a cluster (issue 21): `stats --shard i/N` computes a deterministic block of the
// corpus documents; N shards merged equal the one-pass statistics (to float32 rounding of the
// keys: the shards batch documents differently), and a merge refuses an incomplete or
// repeated set.

#include "core/edit/covariance.h"
#include "core/edit/editor.h"
#include "core/io/safetensors.h"
#include "core/model/modelsession.h"
#include "core/util/error.h"
#include "testsupport.h"

#include <ATen/ATen.h>

#include <QtTest>

#include <limits>

using namespace engram;
namespace fs = std::filesystem;

namespace {
const fs::path kDemo = fs::path(ENGRAM_SOURCE_DIR) / "resources" / "demo";
}

class TestStatisticsShards : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void shardsMergedEqualOnePass();
    void mergeRefusesIncompleteOrRepeatedSets();

private:
    QTemporaryDir m_tmp;
};

void TestStatisticsShards::shardsMergedEqualOnePass()
{
    const fs::path dir = m_tmp.path().toStdString();
    const auto session = ModelSession::open(kDemo / "model");
    const std::vector<int> layers = {1, 3};
    const int64_t documents = 301; // not a multiple of 3: the blocks differ in size
    const auto whole = computeStatisticsFile(*session, kDemo / "corpus.txt", layers, documents, dir / "whole.st");
    std::vector<fs::path> shards;
    int64_t shardDocuments = 0;
    for (int i = 0; i < 3; ++i) {
        shards.push_back(dir / ("shard" + std::to_string(i) + ".st"));
        shardDocuments += computeStatisticsFile(
            *session, kDemo / "corpus.txt", layers, documents, shards.back(), {}, true, CorpusShard {i, 3})
                              .documents;
        const auto meta = SafetensorsFile::open(shards.back())->metadata();
        QCOMPARE(meta.at("shard"), std::to_string(i) + "/3");
        QCOMPARE(meta.at("corpus_documents"), std::string("301"));
    }
    QCOMPARE(shardDocuments, whole.documents); // disjoint blocks covering the documents used
    // Given in any order.
    const auto merged = mergeStatisticsFiles({shards[2], shards[0], shards[1]}, dir / "merged.st");
    QCOMPARE(merged.tokensPerLayer, whole.tokensPerLayer); // the same tokens, counted exactly
    const auto a = loadSecondMoments(dir / "whole.st"), b = loadSecondMoments(dir / "merged.st");
    QCOMPARE(a.size(), b.size());
    for (std::size_t k = 0; k < a.size(); ++k) {
        QCOMPARE(a[k].layer, b[k].layer);
        QCOMPARE(a[k].count, b[k].count);
        // Keys are float32 and their rounding depends on the batch they were computed in; the
        // fp64 sums then differ by about ε₃₂ relative to their scale, never more.
        const double scale = a[k].sum.abs().max().item<double>();
        const double diff = (a[k].sum - b[k].sum).abs().max().item<double>();
        QVERIFY2(diff <= 64 * std::numeric_limits<float>::epsilon() * scale,
            (std::to_string(diff) + " of " + std::to_string(scale)).c_str());
    }
}

void TestStatisticsShards::mergeRefusesIncompleteOrRepeatedSets()
{
    const fs::path dir = m_tmp.path().toStdString();
    const auto session = ModelSession::open(kDemo / "model");
    auto shard = [&](int i, int n, const std::string &name) {
        computeStatisticsFile(*session, kDemo / "corpus.txt", {2}, 40, dir / name, {}, true, CorpusShard {i, n});
        return dir / name;
    };
    const auto s0 = shard(0, 3, "a0.st"), s1 = shard(1, 3, "a1.st"), s2 = shard(2, 3, "a2.st");
    ENGRAM_EXPECT_ERROR(mergeStatisticsFiles({s0, s2}, dir / "m.st"), ErrorKind::InvalidArgument,
        "shards missing from the merge: 1/3");
    ENGRAM_EXPECT_ERROR(mergeStatisticsFiles({s0, s1, s1, s2}, dir / "m.st"), ErrorKind::InvalidArgument,
        "shard 1/3 is given twice");
    const auto other = shard(0, 2, "b0.st");
    ENGRAM_EXPECT_ERROR(
        mergeStatisticsFiles({s0, s1, s2, other}, dir / "m.st"), ErrorKind::InvalidArgument, "one split");
    QVERIFY(!fs::exists(dir / "m.st"));
    ENGRAM_EXPECT_ERROR(shard(3, 3, "x.st"), ErrorKind::InvalidArgument, "numbered 0 to N-1");
    mergeStatisticsFiles({s0, s1, s2}, dir / "m.st");
    QVERIFY(fs::exists(dir / "m.st"));
}

QTEST_GUILESS_MAIN(TestStatisticsShards)
#include "tst_statisticsshards.moc"
