// Tests for SafetensorsFile (mmap reader) and writeSafetensors (streaming writer).

#include "core/io/checkpoint.h"
#include "core/io/safetensors.h"
#include "core/util/error.h"
#include "testsupport.h"

#include <ATen/ATen.h>

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace engram;

namespace {

std::filesystem::path tempPath(const QTemporaryDir &dir, const char *name)
{
    return std::filesystem::path(dir.path().toStdString()) / name;
}

// Writes a raw safetensors file: 8-byte length, header text, data bytes.
void writeRaw(const std::filesystem::path &path, const std::string &header, const std::string &data,
    std::optional<uint64_t> declaredLength = std::nullopt)
{
    std::ofstream out(path, std::ios::binary);
    const uint64_t n = declaredLength.value_or(header.size());
    for (int i = 0; i < 8; ++i)
        out.put(static_cast<char>((n >> (8 * i)) & 0xff));
    out << header << data;
}

std::vector<char> fileBytes(const std::filesystem::path &path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace

class TestSafetensors : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void roundTripsEveryDType_data();
    void roundTripsEveryDType();
    void headerIsSortedAlignedAndStartsWithMetadata();
    void viewsAreZeroCopy();
    void writingThroughAViewNeverTouchesTheFile();
    void readsTheGpt2Fixture();
    void rejectsCorruptFiles_data();
    void rejectsCorruptFiles();
    void failedWriteLeavesNoFile();
};

void TestSafetensors::roundTripsEveryDType_data()
{
    QTest::addColumn<int>("scalarType");
    QTest::newRow("F32") << int(at::kFloat);
    QTest::newRow("F16") << int(at::kHalf);
    QTest::newRow("BF16") << int(at::kBFloat16);
    QTest::newRow("I64") << int(at::kLong);
    QTest::newRow("F64") << int(at::kDouble);
    QTest::newRow("U8") << int(at::kByte);
}

void TestSafetensors::roundTripsEveryDType()
{
    QFETCH(int, scalarType);
    QTemporaryDir dir;
    const auto type = static_cast<c10::ScalarType>(scalarType);
    const at::Tensor a = (at::arange(0, 24, at::kDouble).reshape({2, 3, 4}) * 1.5 - 7).to(type);
    const at::Tensor b = at::full({5}, 3, at::kDouble).to(type);
    const at::Tensor scalar = at::full({}, 42, at::kDouble).to(type);
    const auto path = tempPath(dir, "t.safetensors");
    writeSafetensors(path, {tensorSource("layer.b", b), tensorSource("layer.a", a), tensorSource("scalar", scalar)},
        {{"format", "pt"}, {"note", "round trip"}});

    const WeightStore store = WeightStore::openFile(path);
    QCOMPARE(store.names().size(), std::size_t(3));
    QVERIFY(at::equal(store.tensor("layer.a"), a));
    QVERIFY(at::equal(store.tensor("layer.b"), b));
    QVERIFY(at::equal(store.tensor("scalar"), scalar));
    QCOMPARE(store.tensor("layer.a").scalar_type(), type);
    const auto file = SafetensorsFile::open(path);
    QCOMPARE(file->metadata().at("note"), std::string("round trip"));
}

void TestSafetensors::headerIsSortedAlignedAndStartsWithMetadata()
{
    QTemporaryDir dir;
    const auto path = tempPath(dir, "t.safetensors");
    writeSafetensors(
        path, {tensorSource("z", at::ones({3})), tensorSource("a", at::ones({1})), tensorSource("M", at::ones({2}))});
    const auto bytes = fileBytes(path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | static_cast<unsigned char>(bytes[i]);
    QCOMPARE(n % 8, uint64_t(0));
    const std::string header(bytes.begin() + 8, bytes.begin() + 8 + n);
    QVERIFY(header.rfind("{\"__metadata__\"", 0) == 0);
    QVERIFY(header.find("\"M\"") < header.find("\"a\""));
    QVERIFY(header.find("\"a\"") < header.find("\"z\""));
    // Data in name order without gaps: M at 0..8, a at 8..12, z at 12..24.
    const auto file = SafetensorsFile::open(path);
    QCOMPARE(file->find("M")->begin, uint64_t(0));
    QCOMPARE(file->find("a")->begin, uint64_t(8));
    QCOMPARE(file->find("z")->begin, uint64_t(12));
    QCOMPARE(file->fileSize(), 8 + n + 24);
}

void TestSafetensors::viewsAreZeroCopy()
{
    QTemporaryDir dir;
    const auto path = tempPath(dir, "t.safetensors");
    writeSafetensors(path, {tensorSource("w", at::randn({64, 64}))});
    const WeightStore store = WeightStore::openFile(path);
    const auto file = SafetensorsFile::open(path); // a second mapping, to learn the offset
    const at::Tensor t = store.tensor("w");
    const at::Tensor again = store.tensor("w");
    QCOMPARE(t.data_ptr(), again.data_ptr()); // both views point into the same mapping
    QVERIFY(at::equal(t, at::from_blob(const_cast<std::byte *>(file->bytes(*file->find("w")).data()), {64, 64})));
}

void TestSafetensors::writingThroughAViewNeverTouchesTheFile()
{
    QTemporaryDir dir;
    const auto path = tempPath(dir, "t.safetensors");
    const at::Tensor original = at::randn({8});
    writeSafetensors(path, {tensorSource("w", original)});
    const auto before = fileBytes(path);
    {
        const WeightStore store = WeightStore::openFile(path);
        at::Tensor view = store.tensor("w");
        view.fill_(123.0f);
        QCOMPARE(view[0].item<float>(), 123.0f);
    }
    QCOMPARE(fileBytes(path), before);
}

void TestSafetensors::readsTheGpt2Fixture()
{
    ENGRAM_REQUIRE_FIXTURE(dir, "fake-gpt2-hf");
    const WeightStore store = WeightStore::openDirectory(dir);
    QVERIFY(store.contains("transformer.wte.weight"));
    // Conv1D stores [in, out]: c_attn maps n_embd=2 to 3*2.
    QCOMPARE(store.info("transformer.h.0.attn.c_attn.weight").shape, (std::vector<int64_t> {2, 6}));
    QCOMPARE(store.tensor("transformer.wte.weight").sizes().vec(), (std::vector<int64_t> {50257, 2}));
}

void TestSafetensors::rejectsCorruptFiles_data()
{
    QTest::addColumn<QString>("header");
    QTest::addColumn<int>("dataBytes");
    QTest::addColumn<qint64>("declaredLength"); // -1: the real length
    QTest::addColumn<QString>("needle");

    const QString ok = QStringLiteral(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})");
    QTest::newRow("truncated data") << ok << 4 << qint64(-1) << QStringLiteral("probably truncated");
    QTest::newRow("header length beyond file") << ok << 8 << qint64(1 << 20) << QStringLiteral("runs past the end");
    QTest::newRow("header not JSON") << QStringLiteral("{\"a\": [1, 2") << 0 << qint64(-1)
                                     << QStringLiteral("not valid JSON");
    QTest::newRow("header not an object")
        << QStringLiteral("[1,2]") << 0 << qint64(-1) << QStringLiteral("not a JSON object");
    QTest::newRow("overlapping offsets") << QStringLiteral(
        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})")
                                         << 12 << qint64(-1) << QStringLiteral("overlapping");
    QTest::newRow("shape/dtype mismatch") << QStringLiteral(R"({"a":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}})")
                                          << 8 << qint64(-1) << QStringLiteral("needs 6 bytes but data_offsets span 8");
    QTest::newRow("unknown dtype") << QStringLiteral(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})") << 8
                                   << qint64(-1) << QStringLiteral("unsupported dtype 'Q4'");
    QTest::newRow("negative dimension") << QStringLiteral(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})")
                                        << 8 << qint64(-1) << QStringLiteral("non-negative integer");
    QTest::newRow("reversed offsets") << QStringLiteral(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})")
                                      << 8 << qint64(-1) << QStringLiteral("end before they begin");
    QTest::newRow("missing fields") << QStringLiteral(R"({"a":{"dtype":"F32"}})") << 0 << qint64(-1)
                                    << QStringLiteral("lacks dtype, shape or data_offsets");
    // Found by fuzzing (fuzz/corpus/fuzz_safetensors/regress-*).
    QTest::newRow("number beyond double") << QStringLiteral(R"({"a":{"dtype":"F32","shape":[1e400],"data_offsets":[0,8]}})")
                                          << 8 << qint64(-1) << QStringLiteral("beyond the range of a double");
    QTest::newRow("shape beyond int64") << QStringLiteral(
        R"({"a":{"dtype":"F32","shape":[4611686018427387904,2,0],"data_offsets":[0,0]}})")
                                        << 0 << qint64(-1) << QStringLiteral("shape is too large");
    QTest::newRow("shorter than 8 bytes") << QString() << 0 << qint64(-2) << QStringLiteral("shorter than the 8-byte");
}

void TestSafetensors::rejectsCorruptFiles()
{
    QFETCH(QString, header);
    QFETCH(int, dataBytes);
    QFETCH(qint64, declaredLength);
    QFETCH(QString, needle);
    QTemporaryDir dir;
    const auto path = tempPath(dir, "bad.safetensors");
    if (declaredLength == -2) {
        std::ofstream(path, std::ios::binary) << "abc";
    } else {
        writeRaw(path, header.toStdString(), std::string(static_cast<std::size_t>(dataBytes), '\0'),
            declaredLength >= 0 ? std::optional<uint64_t>(declaredLength) : std::nullopt);
    }
    ENGRAM_EXPECT_ERROR(SafetensorsFile::open(path), ErrorKind::CorruptFile, needle.toStdString());
    // The message names the file.
    try {
        SafetensorsFile::open(path);
    } catch (const Error &e) {
        QVERIFY(std::string(e.what()).find(path.string()) != std::string::npos);
    }
}

void TestSafetensors::failedWriteLeavesNoFile()
{
    QTemporaryDir dir;
    const auto path = tempPath(dir, "out.safetensors");
    TensorSource liar {"w", DType::F32, {4}, [](auto sink) {
                           float two[2] = {1, 2};
                           sink(two, sizeof two); // 8 bytes instead of 16
                       }};
    ENGRAM_EXPECT_ERROR(writeSafetensors(path, {liar}), ErrorKind::InvalidArgument, "produced 8 bytes");
    QVERIFY(!std::filesystem::exists(path));
    QCOMPARE(QDir(dir.path()).entryList(QDir::Files).size(), 0); // no temporary left behind
}

QTEST_GUILESS_MAIN(TestSafetensors)
#include "tst_safetensors.moc"
