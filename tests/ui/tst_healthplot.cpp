// The health chart of the Edit tab and engram-plot's sequential-editing plot (issue 19): which
// runs become points, held runs and the guard's thresholds, and bench_sequential's CSV read by
// its header (the committed output of the real benchmark) with damaged files named.

#include "testsupport.h"

#include "core/util/error.h"
#include "ui/plots/healthplot.h"
#include "ui/plots/qcustomplot.h"

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace engram;
using namespace engram::ui;

namespace {
EditRun measuredRun(int64_t id, RunStatus status, double es, double retention)
{
    EditRun r;
    r.id = id;
    r.status = status;
    r.summary.health.esSoFar = es;
    r.summary.health.editedFacts = 10;
    r.summary.health.retention = retention;
    r.summary.health.retentionBase = 0.8;
    r.summary.health.fluency = 5.0;
    r.summary.health.fluencyBase = 5.0;
    r.summary.health.cumulativeRelativeNorms = {0.1, 0.4};
    return r;
}
} // namespace

class TestHealthPlot : public QObject
{
    Q_OBJECT
private:
    QTemporaryDir m_dir;

    std::string write(const char *name, const std::string &text)
    {
        const std::string file = m_dir.filePath(QString::fromLatin1(name)).toStdString();
        std::ofstream(file) << text;
        return file;
    }

private Q_SLOTS:
    void pointsFollowTheAppliedRuns()
    {
        const auto p = healthPoint(measuredRun(3, RunStatus::Applied, 95, 0.6));
        QVERIFY(p);
        QCOMPARE(p->run, int64_t(3));
        QCOMPARE(p->retention, 75.0); // 0.6 of 0.8
        QCOMPARE(p->fluency, 100.0);
        QCOMPARE(p->growth, 0.4); // the largest layer
        QVERIFY(!healthPoint(EditRun {}));

        QCustomPlot plot;
        plot.resize(600, 300);
        EditRun failed;
        failed.id = 5;
        failed.status = RunStatus::Failed;
        populateHealthPlot(&plot,
            {measuredRun(1, RunStatus::Applied, 100, 0.8), measuredRun(2, RunStatus::Reverted, 90, 0.7),
                measuredRun(3, RunStatus::Applied, 95, 0.6), measuredRun(4, RunStatus::Held, 50, 0.2), failed},
            HealthGuard {});
        QCOMPARE(plot.graphCount(), 5); // ES, retention, fluency, norm growth, held
        QCOMPARE(plot.graph(0)->dataCount(), 2); // the applied runs 1 and 3
        QCOMPARE(plot.graph(0)->data()->at(1)->key, 3.0);
        QCOMPARE(plot.graph(0)->data()->at(1)->value, 95.0);
        QCOMPARE(plot.graph(1)->data()->at(1)->value, 75.0);
        QCOMPARE(plot.graph(4)->dataCount(), 2); // the held run's ES and retention
        QCOMPARE(plot.itemCount(), 2); // the guard's thresholds
        QVERIFY(plot.xAxis->range().contains(4));

        populateHealthPlot(&plot, {measuredRun(1, RunStatus::Applied, 100, 0.8)}, HealthGuard {0, 0});
        QCOMPARE(plot.graphCount(), 4); // nothing held
        QCOMPARE(plot.itemCount(), 0); // the guard is off
        populateHealthPlot(&plot, {}, HealthGuard {});
        QCOMPARE(plot.graph(0)->dataCount(), 0);
        QVERIFY(plot.itemCount() >= 1); // the empty chart says what will appear
    }

    void readsTheBenchmarksCsv()
    {
        const auto rows = readSequentialCsv(ENGRAM_SOURCE_DIR "/docs/data/sequential-10x20.csv");
        QCOMPARE(rows.size(), std::size_t(30)); // 3 methods x 10 runs
        QCOMPARE(rows.front().method, std::string("memit"));
        QCOMPARE(rows.front().run, 1);
        QCOMPARE(rows.front().es, 100.0);
        QCOMPARE(rows.front().retention, 0.981707);
        QCOMPARE(rows.back().run, 10);
        QCustomPlot plot;
        plot.resize(900, 600);
        populateSequentialPlot(&plot, rows);
        QCOMPARE(plot.graphCount(), 6 * 3); // six panels, a line per method
        QCOMPARE(plot.graph(0)->dataCount(), 10);
        // The reader follows the header, in any column order, and ignores columns it does not use.
        const auto shuffled = readSequentialCsv(write("shuffled.csv",
            "run,method,extra,ns,ps,es,other_facts,retention_rel,fluency_base,fluency\r\n2,alphaedit,x,80,70,90,0.5,0.9,5,4.5\r\n"));
        QCOMPARE(shuffled.size(), std::size_t(1));
        QCOMPARE(shuffled[0].method, std::string("alphaedit"));
        QCOMPARE(shuffled[0].es, 90.0);
        QCOMPARE(shuffled[0].fluency, 4.5);
    }

    void namesWhatIsWrongInACsv()
    {
        const char *header = "method,run,es,ps,ns,retention_rel,other_facts,fluency,fluency_base\n";
        ENGRAM_EXPECT_ERROR(readSequentialCsv(write("empty.csv", "")), ErrorKind::CorruptFile, "is empty");
        ENGRAM_EXPECT_ERROR(readSequentialCsv(write("header.csv", header)), ErrorKind::CorruptFile, "holds no runs");
        ENGRAM_EXPECT_ERROR(readSequentialCsv(write("column.csv", "method,run,es\nmemit,1,100\n")),
            ErrorKind::CorruptFile, "no column 'ps'");
        ENGRAM_EXPECT_ERROR(readSequentialCsv(write("value.csv", std::string(header) + "memit,1,high,1,1,1,1,1,1\n")),
            ErrorKind::CorruptFile, "line 2: es is 'high'");
        ENGRAM_EXPECT_ERROR(readSequentialCsv(write("short.csv", std::string(header) + "memit,1,100\n")),
            ErrorKind::CorruptFile, "line 2: ps is ''");
        ENGRAM_EXPECT_ERROR(readSequentialCsv(m_dir.filePath(QStringLiteral("missing.csv")).toStdString()),
            ErrorKind::Io, "missing.csv");
    }
};

QTEST_MAIN(TestHealthPlot)
#include "tst_healthplot.moc"
