// Tests for Tokenizer: GPT-2 byte-level BPE and SentencePiece-style BPE with byte fallback,
// checked against the reference encodings shipped with the fixtures.

#include "core/text/tokenizer.h"
#include "core/text/utf8.h"
#include "core/util/error.h"
#include "testsupport.h"

#include <nlohmann/json.hpp>

#include <QtTest>

#include <fstream>
#include <random>

using namespace engram;

class TestTokenizer : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void gpt2KnownEncodings_data();
    void gpt2KnownEncodings();
    void gpt2SpecialTokens();
    void llamaReferenceCases();
    void llamaDecodesTheDocumentedText();
    void roundTripsArbitraryUtf8();
    void repairsInvalidUtf8();
    void rejectsMalformedTokenizerFiles_data();
    void rejectsMalformedTokenizerFiles();
    void peekedKindMatchesTheLoadedTokenizer();
};

void TestTokenizer::gpt2KnownEncodings_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QList<qint64>>("ids");
    // From the fixtures README (genuine GPT-2 tokenizer output).
    QTest::newRow("Hello world") << QStringLiteral("Hello world") << QList<qint64> {15496, 995};
    QTest::newRow("leading space") << QStringLiteral(" Hello world") << QList<qint64> {18435, 995};
    QTest::newRow("punctuation") << QStringLiteral("Hello, world!") << QList<qint64> {15496, 11, 995, 0};
    QTest::newRow("emoji") << QStringLiteral(" this is \U0001F999.cpp")
                           << QList<qint64> {428, 318, 12520, 99, 247, 13, 20322};
    QTest::newRow("digits") << QStringLiteral("3333333") << QList<qint64> {24840, 20370};
}

void TestTokenizer::gpt2KnownEncodings()
{
    QFETCH(QString, text);
    QFETCH(QList<qint64>, ids);
    ENGRAM_REQUIRE_FIXTURE(dir, "fake-gpt2-hf");
    const std::vector<int64_t> expected(ids.begin(), ids.end());
    const std::string utf8 = text.toStdString();
    const Tokenizer fromJson = Tokenizer::fromTokenizerJson(dir / "tokenizer.json");
    const Tokenizer fromPair = Tokenizer::fromVocabMerges(dir / "vocab.json", dir / "merges.txt");
    QCOMPARE(fromJson.encode(utf8), expected);
    QCOMPARE(fromPair.encode(utf8), expected);
    QCOMPARE(fromJson.encode(utf8, /*addSpecialTokens=*/true), expected); // GPT-2 adds no BOS
    QCOMPARE(fromJson.decode(expected), utf8);
    QCOMPARE(fromPair.decode(expected), utf8);
}

void TestTokenizer::gpt2SpecialTokens()
{
    ENGRAM_REQUIRE_FIXTURE(dir, "fake-gpt2-hf");
    const Tokenizer tok = Tokenizer::fromDirectory(dir);
    const auto ids = tok.encode("Hi<|endoftext|>there");
    QCOMPARE(ids.size(), std::size_t(3));
    QCOMPARE(ids[1], int64_t(50256));
    QVERIFY(tok.isSpecial(50256));
    QCOMPARE(tok.decode(ids), std::string("Hi<|endoftext|>there"));
    QCOMPARE(tok.decode(ids, /*skipSpecialTokens=*/true), std::string("Hithere"));
    QCOMPARE(*tok.eosTokenId(), int64_t(50256));
    QCOMPARE(tok.vocabSize(), int64_t(50257));
    QCOMPARE(tok.tokenString(995), std::string("\xC4\xA0world")); // "Ġworld"
}

void TestTokenizer::llamaReferenceCases()
{
    ENGRAM_REQUIRE_FIXTURE(dir, "stories260k-hf");
    const Tokenizer tok = Tokenizer::fromDirectory(dir);
    std::ifstream cases(dir / "tokenizer_cases.jsonl");
    std::string line;
    int checked = 0;
    while (std::getline(cases, line)) {
        if (line.empty())
            continue;
        const auto j = nlohmann::json::parse(line);
        const std::string text = j["text"].get<std::string>();
        const auto expected = j["ids"].get<std::vector<int64_t>>();
        const auto got = tok.encode(text);
        if (got != expected) {
            QString g, e;
            for (auto id : got)
                g += QString::number(id) + QLatin1Char(' ');
            for (auto id : expected)
                e += QString::number(id) + QLatin1Char(' ');
            QFAIL(qPrintable(QStringLiteral("case %1 %2: got [%3] expected [%4]")
                                 .arg(checked)
                                 .arg(QString::fromStdString(j["text"].dump()), g, e)));
        }
        // With special tokens: BOS (1) in front.
        auto withBos = expected;
        withBos.insert(withBos.begin(), 1);
        QCOMPARE(tok.encode(text, /*addSpecialTokens=*/true), withBos);
        ++checked;
    }
    QCOMPARE(checked, 244);
}

void TestTokenizer::llamaDecodesTheDocumentedText()
{
    ENGRAM_REQUIRE_FIXTURE(dir, "stories260k-hf");
    const Tokenizer tok = Tokenizer::fromDirectory(dir);
    // EXPECTED.md case 2: BOS + prompt + 64 greedy ids, decoded with special tokens skipped.
    const std::vector<int64_t> ids = {1, 317, 269, 274, 287, 263, 377, 267, 265, 282, 295, 433, 426, 342, 394, 261, 370,
        268, 414, 444, 335, 261, 370, 268, 414, 444, 426, 342, 391, 266, 267, 337, 335, 312, 426, 342, 391, 266, 267,
        337, 335, 265, 268, 414, 444, 426, 342, 391, 266, 267, 337, 335, 265, 268, 414, 444, 426, 13, 436, 438, 347,
        433, 432, 392, 287, 443, 436, 317, 336, 426, 313, 438, 316};
    QCOMPARE(tok.decode(ids, /*skipSpecialTokens=*/true),
        std::string("Lily and Tom went to the park. They saw a big box with a big box. They wanted to play with it. "
                    "They wanted to play with the box. They wanted to play with the box.\n\"Look, Mom!\" Lily said. "
                    "\"Let"));
    QCOMPARE(*tok.bosTokenId(), int64_t(1));
    QCOMPARE(*tok.eosTokenId(), int64_t(2));
    // Special-token text is split out, each segment normalised on its own (EXPECTED.md).
    QCOMPARE(tok.encode("a<s>b"), (std::vector<int64_t> {261, 1, 268}));
    QCOMPARE(tok.encode("Hello </s> world"), (std::vector<int64_t> {346, 306, 414, 410, 2, 410, 263, 304, 341}));
}

void TestTokenizer::roundTripsArbitraryUtf8()
{
    ENGRAM_REQUIRE_FIXTURE(gpt2Dir, "fake-gpt2-hf");
    ENGRAM_REQUIRE_FIXTURE(llamaDir, "stories260k-hf");
    const Tokenizer gpt2 = Tokenizer::fromDirectory(gpt2Dir);
    const Tokenizer llama = Tokenizer::fromDirectory(llamaDir);
    std::mt19937 rng(7);
    const std::vector<char32_t> pool = {U'a', U'Z', U' ', U'\n', U'\t', U'7', U'.', U'\'', U'é', U'ß', U'Ж', U'中',
        U'\u0301', U'\U0001F999', U'\U0001F600', U'\u00A0', U'\u2581', U'\0', U'<', U'>'};
    for (int n = 0; n < 300; ++n) {
        std::string s;
        const int len = static_cast<int>(rng() % 24);
        for (int i = 0; i < len; ++i)
            s += utf8::encode(pool[rng() % pool.size()]);
        QCOMPARE(gpt2.decode(gpt2.encode(s)), s);
        // SentencePiece normalisation maps U+2581 to a space and drops nothing else.
        std::string expectedLlama = s;
        for (std::size_t p; (p = expectedLlama.find("\xE2\x96\x81")) != std::string::npos;)
            expectedLlama.replace(p, 3, " ");
        const std::string decoded = llama.decode(llama.encode(s));
        // The decoder strips the one space the normaliser prepended; a text that itself began
        // with a space keeps it because the normaliser added another.
        QCOMPARE(decoded, expectedLlama);
    }
}

void TestTokenizer::repairsInvalidUtf8()
{
    ENGRAM_REQUIRE_FIXTURE(gpt2Dir, "fake-gpt2-hf");
    const Tokenizer gpt2 = Tokenizer::fromDirectory(gpt2Dir);
    const std::string broken = "ab\xFF"
                               "cd\xE2\x82"; // stray byte and truncated euro sign
    const std::string repaired = "ab\xEF\xBF\xBD"
                                 "cd\xEF\xBF\xBD";
    QCOMPARE(gpt2.encode(broken), gpt2.encode(repaired));
    QCOMPARE(gpt2.decode(gpt2.encode(broken)), repaired);
    // Decoding a lone continuation byte token yields U+FFFD rather than invalid UTF-8.
    const auto llama = gpt2.encode("\xF0\x9F\xA6\x99"); // the emoji takes 3 byte-level tokens
    QCOMPARE(llama.size(), std::size_t(3));
    const std::string partial = gpt2.decode({llama.front()});
    QVERIFY(utf8::isValid(partial));
    QVERIFY(partial.find("\xEF\xBF\xBD") != std::string::npos);
}

void TestTokenizer::rejectsMalformedTokenizerFiles_data()
{
    QTest::addColumn<QString>("json");
    QTest::addColumn<QString>("needle");
    QTest::newRow("not json") << QStringLiteral("{") << QStringLiteral("not valid JSON");
    QTest::newRow("unigram") << QStringLiteral(R"({"model":{"type":"Unigram","vocab":[]}})")
                             << QStringLiteral("unsupported tokenizer model 'Unigram'");
    QTest::newRow("bad vocab") << QStringLiteral(R"({"model":{"type":"BPE","vocab":{"a":"x"},"merges":[]}})")
                               << QStringLiteral("is not an integer");
    QTest::newRow("bad merge") << QStringLiteral(R"({"model":{"type":"BPE","vocab":{"a":0},"merges":["ab"]}})")
                               << QStringLiteral("not two tokens");
    QTest::newRow("bad regex") << QStringLiteral(
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
        "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a[\"},\"behavior\":\"Isolated\"}}")
                               << QStringLiteral("cannot compile regex");
    QTest::newRow("unknown normalizer") << QStringLiteral(
        R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"normalizer":{"type":"BertNormalizer"}})")
                                        << QStringLiteral("unsupported normalizer 'BertNormalizer'");
    // Found by fuzzing (fuzz/corpus/fuzz_tokenizer_json/regress-*).
    QTest::newRow("number beyond double") << QStringLiteral(R"({"model":{"type":"BPE","vocab":{"a":1e400},"merges":[]}})")
                                          << QStringLiteral("beyond the range of a double");
    QTest::newRow("sparse ids") << QStringLiteral(R"({"model":{"type":"BPE","vocab":{"a":67108864},"merges":[]}})")
                                << QStringLiteral("far beyond the 1 tokens listed");
    QTest::newRow("strip count") << QStringLiteral(
        R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"decoder":{"type":"Strip","content":" ","start":1e300}})")
                                 << QStringLiteral("must be a whole number");
    QTest::newRow("added token id") << QStringLiteral(
        R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"added_tokens":[{"id":1.8e20,"content":"x"}]})")
                                    << QStringLiteral("added_tokens: token id");
}

void TestTokenizer::rejectsMalformedTokenizerFiles()
{
    QFETCH(QString, json);
    QFETCH(QString, needle);
    ENGRAM_EXPECT_ERROR(Tokenizer::fromTokenizerJsonText(json.toStdString(), "t/tokenizer.json"),
        ErrorKind::InvalidTokenizer, needle.toStdString());
}

QTEST_GUILESS_MAIN(TestTokenizer)
#include "tst_tokenizer.moc"

// Tokenizer::peekKind (the checkpoint summary's streaming look at tokenizer.json) says what the
// full load's kindName() says: on the real GPT-2 and Llama-family files, on the demo, on a file
// whose pre-tokenizer comes after the vocabulary, and nothing for a file that is not JSON.
void TestTokenizer::peekedKindMatchesTheLoadedTokenizer()
{
    const std::filesystem::path demo = std::filesystem::path(ENGRAM_SOURCE_DIR) / "resources" / "demo" / "model";
    QCOMPARE(Tokenizer::peekKind(demo), Tokenizer::fromDirectory(demo).kindName());
    for (const char *name : {"fake-gpt2-hf", "stories260k-hf"}) {
        const auto dir = std::filesystem::path(engram::test::fixturesDir().toStdString()) / name;
        if (!std::filesystem::exists(dir))
            continue;
        QCOMPARE(Tokenizer::peekKind(dir), Tokenizer::fromDirectory(dir).kindName());
    }

    QTemporaryDir tmp;
    const std::filesystem::path dir = tmp.path().toStdString();
    auto write = [&](const std::string &text) {
        std::ofstream(dir / "tokenizer.json", std::ios::binary | std::ios::trunc) << text;
    };
    // Keys in an unusual order: the vocabulary first, the pre-tokenizer last.
    const std::string model = R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";
    write("{" + model + R"(, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}]}})");
    QCOMPARE(Tokenizer::peekKind(dir), std::string("byte-level BPE"));
    QCOMPARE(Tokenizer::peekKind(dir), Tokenizer::fromDirectory(dir).kindName());
    write(R"({"pre_tokenizer": null, "model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0}, "merges": []}})");
    QCOMPARE(Tokenizer::peekKind(dir), std::string("SentencePiece BPE (byte fallback)"));
    QCOMPARE(Tokenizer::peekKind(dir), Tokenizer::fromDirectory(dir).kindName());
    write(R"({"pre_tokenizer": null, "model": {"type": "BPE",, "vocab": {"a": 0}}})"); // not JSON
    QCOMPARE(Tokenizer::peekKind(dir), std::string());
    std::filesystem::remove(dir / "tokenizer.json");
    QCOMPARE(Tokenizer::peekKind(dir), std::string());
}
