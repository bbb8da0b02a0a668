// Tests for locateSubject (memit-spec §2.2) with the genuine GPT-2 tokenizer.

#include "core/text/subjecttokens.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "testsupport.h"

#include <QtTest>

using namespace engram;

class TestSubjectTokens : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void locatesSubjects_data();
    void locatesSubjects();
    void rejectsBadTemplates();
};

void TestSubjectTokens::locatesSubjects_data()
{
    QTest::addColumn<QString>("tmpl");
    QTest::addColumn<QString>("subject");
    QTest::addColumn<QString>("expectedSubjectText");
    QTest::newRow("subject first") << QStringLiteral("{} is located in") << QStringLiteral("Eiffel Tower")
                                   << QStringLiteral("Eiffel Tower");
    QTest::newRow("with prefix") << QStringLiteral("The mother tongue of {} is") << QStringLiteral("Danielle Darrieux")
                                 << QStringLiteral(" Danielle Darrieux");
    QTest::newRow("subject at end") << QStringLiteral("I met {}") << QStringLiteral("Paris")
                                    << QStringLiteral(" Paris");
    QTest::newRow("possessive") << QStringLiteral("{}'s capital is") << QStringLiteral("France")
                                << QStringLiteral("France");
}

void TestSubjectTokens::locatesSubjects()
{
    QFETCH(QString, tmpl);
    QFETCH(QString, subject);
    QFETCH(QString, expectedSubjectText);
    ENGRAM_REQUIRE_FIXTURE(dir, "fake-gpt2-hf");
    const Tokenizer tok = Tokenizer::fromDirectory(dir);
    const SubjectSpan span = locateSubject(tok, tmpl.toStdString(), subject.toStdString());
    const auto ids = tok.encode(fillTemplate(tmpl.toStdString(), subject.toStdString()));
    QCOMPARE(span.promptTokens, static_cast<int64_t>(ids.size()));
    const std::vector<int64_t> subjectIds(ids.begin() + span.first, ids.begin() + span.last + 1);
    QCOMPARE(tok.decode(subjectIds), expectedSubjectText.toStdString());
    if (span.last + 1 == span.promptTokens)
        QCOMPARE(span.firstAfter, span.last); // nothing follows: the reference uses the last token
    else
        QCOMPARE(span.firstAfter, span.last + 1);
}

void TestSubjectTokens::rejectsBadTemplates()
{
    ENGRAM_REQUIRE_FIXTURE(dir, "fake-gpt2-hf");
    const Tokenizer tok = Tokenizer::fromDirectory(dir);
    ENGRAM_EXPECT_ERROR(locateSubject(tok, "no placeholder", "X"), ErrorKind::InvalidArgument, "exactly one {}");
    ENGRAM_EXPECT_ERROR(locateSubject(tok, "{} and {}", "X"), ErrorKind::InvalidArgument, "exactly one {}");
    ENGRAM_EXPECT_ERROR(locateSubject(tok, "born in({})", "X"), ErrorKind::InvalidArgument, "must end with a space");
    ENGRAM_EXPECT_ERROR(locateSubject(tok, "{} is", "  "), ErrorKind::InvalidArgument, "subject");
}

QTEST_GUILESS_MAIN(TestSubjectTokens)
#include "tst_subjecttokens.moc"
