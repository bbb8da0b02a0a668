// Word-level diff of generations: common words stay plain, the rest is marked; the words
// join back to the texts; HTML is escaped.

#include "testsupport.h"

#include "ui/util/worddiff.h"

using namespace engram::ui;

class TestWordDiff : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void marksOnlyChangedWords()
    {
        const WordDiff d = diffWords(QStringLiteral(" works in the field of aviation."),
            QStringLiteral(" works in the field of banking and <finance>."));
        QCOMPARE(d.before.join(QString()), QStringLiteral(" works in the field of aviation."));
        QCOMPARE(d.after.join(QString()), QStringLiteral(" works in the field of banking and <finance>."));
        QCOMPARE(d.beforeChanged, QList<bool>({false, false, false, false, false, true}));
        QCOMPARE(d.afterChanged, QList<bool>({false, false, false, false, false, true, true, true}));
        const QString html = highlightedHtml(d.after, d.afterChanged, QStringLiteral("#c8e6c9"));
        QVERIFY(html.startsWith(QStringLiteral(" works in the field of <b style=\"background-color:#c8e6c9\">banking</b>")));
        QVERIFY(html.contains(QStringLiteral("&lt;finance&gt;.")));
    }

    void identicalAndEmptyTexts()
    {
        const WordDiff same = diffWords(QStringLiteral("a b c"), QStringLiteral("a b c"));
        QCOMPARE(same.afterChanged, QList<bool>({false, false, false}));
        const WordDiff empty = diffWords(QString(), QStringLiteral("new words"));
        QVERIFY(empty.before.isEmpty());
        QCOMPARE(empty.afterChanged, QList<bool>({true, true}));
    }
};

QTEST_GUILESS_MAIN(TestWordDiff)
#include "tst_worddiff.moc"
