// Tests for the .npz reader and the published-statistics loader: stored (numpy.savez) and
// deflated (numpy.savez_compressed) archives with zip64 local headers, Fortran order, the
// layer taken from the reference's file names, and clear errors for damaged files.

#include "core/edit/covariance.h"
#include "core/io/npz.h"
#include "core/util/error.h"
#include "testsupport.h"

#include <ATen/ATen.h>

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace engram;

namespace {
const std::filesystem::path kNpz = std::filesystem::path(ENGRAM_TEST_DATA) / "npz";
const char *kStored = "transformer.h.3.mlp.c_proj_float32_mom2_100.npz";
const char *kDeflated = "model.layers.7.mlp.down_proj_float32_mom2_100.npz";

at::Tensor expectedSum()
{
    return at::arange(16, at::kDouble).reshape({4, 4}) * 0.5;
}

std::string readAll(const std::filesystem::path &p)
{
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// A .npy image with the given header dictionary and no data.
std::string npyHeaderOnly(const std::string &dict)
{
    return std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(dict.size() & 0xff)
        + static_cast<char>(dict.size() >> 8) + dict;
}

void writeAll(const std::filesystem::path &p, const std::string &bytes)
{
    std::ofstream(p, std::ios::binary) << bytes;
}
} // namespace

class TestNpz : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void readsStoredArchives();
    void readsDeflatedArchives();
    void readsFortranOrder();
    void publishedStatisticsGiveSumAndCount();
    void layersComeFromFileNames();
    void duplicateLayersAreRejected();
    void damagedFilesGiveClearErrors();
};

void TestNpz::readsStoredArchives()
{
    const auto arrays = readNpz(kNpz / kStored, {"mom2.mom2", "mom2.count"});
    QCOMPARE(arrays.size(), std::size_t(2));
    QVERIFY(at::equal(arrays.at("mom2.mom2").to(at::kDouble), expectedSum()));
    QCOMPARE(arrays.at("mom2.mom2").scalar_type(), at::kFloat);
    QCOMPARE(arrays.at("mom2.count").dim(), int64_t(0));
    QCOMPARE(arrays.at("mom2.count").item<int64_t>(), int64_t(1234));
    // Asking for everything includes the string entry, which is refused by name, not guessed at.
    ENGRAM_EXPECT_ERROR(readNpz(kNpz / kStored), ErrorKind::DTypeMismatch, "constructor.npy");
}

void TestNpz::readsDeflatedArchives()
{
    const auto arrays = readNpz(kNpz / kDeflated, {"mom2.mom2"}); // the string entry is never parsed
    QCOMPARE(arrays.size(), std::size_t(1));
    QVERIFY(at::equal(arrays.at("mom2.mom2").to(at::kDouble), expectedSum()));
}

void TestNpz::readsFortranOrder()
{
    const auto arrays = readNpz(kNpz / "fortran.npz");
    QCOMPARE(arrays.at("mom2.mom2").scalar_type(), at::kDouble);
    QVERIFY(at::equal(arrays.at("mom2.mom2"), expectedSum()));
}

void TestNpz::publishedStatisticsGiveSumAndCount()
{
    const SecondMoment s = loadPublishedStatistics(kNpz / kStored);
    QCOMPARE(s.layer, 3);
    QCOMPARE(s.count, int64_t(1234));
    QVERIFY(at::allclose(s.mean(), expectedSum() / 1234.0));
    QCOMPARE(loadPublishedStatistics(kNpz / kStored, 5).layer, 5); // explicit layer wins
}

void TestNpz::layersComeFromFileNames()
{
    QCOMPARE(loadPublishedStatistics(kNpz / kDeflated).layer, 7);
    ENGRAM_EXPECT_ERROR(loadPublishedStatistics(kNpz / "fortran.npz"), ErrorKind::InvalidArgument, "layer");
    const auto both = loadStatistics({kNpz / kStored, kNpz / kDeflated});
    QCOMPARE(both.size(), std::size_t(2));
    QCOMPARE(both[0].layer, 3);
    QCOMPARE(both[1].layer, 7);
    QCOMPARE(statisticsFileLayers({kNpz / kDeflated, kNpz / kStored}), (std::vector<int> {3, 7}));
    ENGRAM_EXPECT_ERROR(statisticsFileLayers({kNpz / "fortran.npz"}), ErrorKind::InvalidArgument, "layer");
    ENGRAM_EXPECT_ERROR(statisticsFileLayers({kNpz / "missing.h.2.npz"}), ErrorKind::Io, "does not exist");
}

void TestNpz::duplicateLayersAreRejected()
{
    ENGRAM_EXPECT_ERROR(loadStatistics({kNpz / kStored, kNpz / kStored}), ErrorKind::InvalidArgument, "given twice");
}

void TestNpz::damagedFilesGiveClearErrors()
{
    QTemporaryDir tmp;
    const std::filesystem::path dir = tmp.path().toStdString();
    const std::string good = readAll(kNpz / kStored);
    writeAll(dir / "truncated.npz", good.substr(0, good.size() / 2));
    ENGRAM_EXPECT_ERROR(readNpz(dir / "truncated.npz"), ErrorKind::CorruptFile, "truncated.npz");
    writeAll(dir / "text.npz", "not a zip file at all, just some words");
    ENGRAM_EXPECT_ERROR(readNpz(dir / "text.npz"), ErrorKind::CorruptFile, "not a zip archive");
    ENGRAM_EXPECT_ERROR(readNpz(dir / "missing.npz"), ErrorKind::Io, "missing.npz");
    ENGRAM_EXPECT_ERROR(readNpz(kNpz / kStored, {"mom2.mean"}), ErrorKind::CorruptFile, "no array 'mom2.mean'");
    // A deflated entry whose data is damaged.
    std::string bad = readAll(kNpz / kDeflated);
    for (std::size_t i = 120; i < 160; ++i)
        bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    writeAll(dir / "damaged.npz", bad);
    ENGRAM_EXPECT_ERROR(readNpz(dir / "damaged.npz"), ErrorKind::CorruptFile, "damaged.npz");
    // An .npy whose header promises more data than it has.
    ENGRAM_EXPECT_ERROR(
        parseNpy(npyHeaderOnly("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), }"), "test.npy"),
        ErrorKind::CorruptFile, "shape needs 64");
    ENGRAM_EXPECT_ERROR(parseNpy(npyHeaderOnly("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"), "test.npy"),
        ErrorKind::DTypeMismatch, "unsupported array type");
    // Found by fuzzing (fuzz/corpus/fuzz_npz/regress-*): shapes that are not numbers or whose
    // element count overflows, an empty array, a deflated entry stating an impossible size.
    ENGRAM_EXPECT_ERROR(parseNpy(npyHeaderOnly("{'descr': '<f4', 'fortran_order': False, 'shape': (x, 4), }"), "test.npy"),
        ErrorKind::CorruptFile, "holds something other than non-negative whole numbers");
    ENGRAM_EXPECT_ERROR(
        parseNpy(npyHeaderOnly("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 0), }"),
            "test.npy"),
        ErrorKind::CorruptFile, "is too large");
    QCOMPARE(parseNpy(npyHeaderOnly("{'descr': '|u1', 'fortran_order': False, 'shape': (0, 4), }"), "test.npy").sizes().vec(),
        (std::vector<int64_t> {0, 4}));
    // The deflated fixture with its first entry's stated size raised to 4 GiB in the central directory.
    std::string huge = readAll(kNpz / kDeflated);
    const std::size_t central = huge.find(std::string("PK\x01\x02", 4));
    QVERIFY(central != std::string::npos);
    huge.replace(central + 24, 4, std::string("\xF0\xFF\xFF\xFF", 4));
    writeAll(dir / "huge.npz", huge);
    ENGRAM_EXPECT_ERROR(readNpz(dir / "huge.npz"), ErrorKind::CorruptFile, "cannot come from");
}

QTEST_GUILESS_MAIN(TestNpz)
#include "tst_npz.moc"
