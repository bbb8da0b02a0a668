// Tests for the UTF-8 helpers (engram::utf8).

#include "core/text/utf8.h"

#include <QtTest>

using namespace engram;

class TestUtf8 : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void sanitizeUsesMaximalSubparts();
    void splitsCodePoints();
    void normalizes();
};

void TestUtf8::sanitizeUsesMaximalSubparts()
{
    // Unicode's recommended practice: E2 82 (truncated) is one subpart -> one U+FFFD;
    // C0 80 (overlong) is two invalid bytes -> two; ED A0 80 (surrogate) -> three.
    QCOMPARE(utf8::sanitize("\xE2\x82"), std::string("\xEF\xBF\xBD"));
    QCOMPARE(utf8::sanitize("\xC0\x80"), std::string("\xEF\xBF\xBD\xEF\xBF\xBD"));
    QCOMPARE(utf8::sanitize("\xED\xA0\x80"), std::string("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
    QCOMPARE(utf8::sanitize("ok \xF0\x9F\xA6\x99"), std::string("ok \xF0\x9F\xA6\x99"));
}

void TestUtf8::splitsCodePoints()
{
    const auto parts = utf8::splitCodePoints("a\xC3\xA9\xF0\x9F\xA6\x99");
    QCOMPARE(parts.size(), std::size_t(3));
    QCOMPARE(parts[1], std::string("\xC3\xA9"));
    QCOMPARE(utf8::encode(U'\U0001F999'), std::string("\xF0\x9F\xA6\x99"));
    QCOMPARE(utf8::decode("a\xC3\xA9"), std::u32string(U"a\u00E9"));
    QVERIFY(utf8::isValid("plain"));
    QVERIFY(!utf8::isValid("\xFF"));
}

void TestUtf8::normalizes()
{
    // "é" precomposed vs "e" + combining acute; NFKD also unfolds the "ﬁ" ligature.
    QCOMPARE(utf8::normalize("e\xCC\x81", utf8::NormalForm::NFC), std::string("\xC3\xA9"));
    QCOMPARE(utf8::normalize("\xC3\xA9", utf8::NormalForm::NFD), std::string("e\xCC\x81"));
    QCOMPARE(utf8::normalize("\xEF\xAC\x81", utf8::NormalForm::NFKD), std::string("fi"));
    QCOMPARE(utf8::toLower("\xC3\x89"
                           "COLE"),
        std::string("\xC3\xA9"
                    "cole"));
}

QTEST_GUILESS_MAIN(TestUtf8)
#include "tst_utf8.moc"
