// RunHistoryModel: the Edit tab's run history as a table model, checked by Qt's model tester.

#include "ui/models/runhistorymodel.h"

#include <QAbstractItemModelTester>
#include <QFont>
#include <QSignalSpy>
#include <QtTest>

using namespace engram;
using namespace engram::ui;

namespace {
EditRun run(int64_t id, RunStatus status, std::vector<int> layers, std::vector<double> norms, std::size_t facts)
{
    EditRun r;
    r.id = id;
    r.method = "memit";
    r.status = status;
    r.seconds = 12.34;
    r.createdAt = "2026-12-04T10:00:00Z";
    r.summary.layers = std::move(layers);
    r.summary.relativeNorms = std::move(norms);
    r.facts.resize(facts);
    return r;
}
} // namespace

class TestRunHistoryModel : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void showsRunsAsRows()
    {
        RunHistoryModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(model.rowCount(), 0);
        QCOMPARE(model.columnCount(), int(RunHistoryModel::ColumnCount));
        QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
        EditRun failed = run(2, RunStatus::Failed, {}, {}, 1);
        failed.message = "no covariance statistics for layer 1";
        model.setRuns({run(1, RunStatus::Applied, {0, 1}, {1.14238, 492.13}, 5), failed});
        QCOMPARE(reset.size(), 1);
        QCOMPARE(model.rowCount(), 2);
        const auto at
            = [&](int row, int column, int role = Qt::DisplayRole) { return model.index(row, column).data(role); };
        QCOMPARE(at(0, RunHistoryModel::Run).toLongLong(), 1LL);
        QCOMPARE(at(0, RunHistoryModel::Status).toString(), QStringLiteral("applied"));
        QCOMPARE(at(0, RunHistoryModel::Method).toString(), QStringLiteral("memit"));
        QCOMPARE(at(0, RunHistoryModel::Facts).toInt(), 5);
        QCOMPARE(at(0, RunHistoryModel::Layers).toString(), QStringLiteral("0,1"));
        // The largest change and its layer; every layer in the tooltip.
        QCOMPARE(at(0, RunHistoryModel::Norms).toString(), QStringLiteral("492 (L1)"));
        QVERIFY(at(0, RunHistoryModel::Norms, Qt::ToolTipRole).toString().contains(QStringLiteral("layer 0: 1.14")));
        QVERIFY(at(0, RunHistoryModel::Norms, Qt::ToolTipRole).toString().contains(QStringLiteral("layer 1: 492")));
        QCOMPARE(at(0, RunHistoryModel::Time).toString(), QStringLiteral("12.3 s"));
        QCOMPARE(at(0, RunHistoryModel::Run, Qt::ToolTipRole).toString(), QStringLiteral("2026-12-04T10:00:00Z"));
        // A failed run: no layers, and the reason as its tooltip.
        QCOMPARE(at(1, RunHistoryModel::Status).toString(), QStringLiteral("failed"));
        QCOMPARE(at(1, RunHistoryModel::Layers).toString(), QString());
        QCOMPARE(at(1, RunHistoryModel::Time, Qt::ToolTipRole).toString(),
            QStringLiteral("no covariance statistics for layer 1"));
        QCOMPARE(at(1, RunHistoryModel::Norms, RunHistoryModel::RunIdRole).toLongLong(), 2LL);
        QCOMPARE(model.runId(1), int64_t(2));
        QCOMPARE(model.runId(2), int64_t(0));
        QCOMPARE(model.runId(-1), int64_t(0));
        QCOMPARE(model.headerData(RunHistoryModel::Norms, Qt::Horizontal).toString(),
            QStringLiteral("Max \u2016\u0394W\u2016/\u2016W\u2016"));
        // The model's health after a run (issue 19): ES so far and retention as a share of the base
        // model's, the details in the tooltip; unmeasured runs show a dash.
        EditRun measured = run(3, RunStatus::Held, {0}, {0.5}, 2);
        measured.summary.health.esSoFar = 87.5;
        measured.summary.health.editedFacts = 8;
        measured.summary.health.retention = 0.6;
        measured.summary.health.retentionBase = 0.8;
        measured.summary.health.otherFacts = 20;
        measured.summary.health.fluency = 5.1;
        measured.summary.health.fluencyBase = 5.3;
        model.setRuns({run(1, RunStatus::Applied, {0}, {0.1}, 5), measured});
        QCOMPARE(at(0, RunHistoryModel::EsSoFar).toString(), QStringLiteral("\u2013"));
        QCOMPARE(at(1, RunHistoryModel::EsSoFar).toString(), QStringLiteral("87.5"));
        QCOMPARE(at(1, RunHistoryModel::Retention).toString(), QStringLiteral("75.0 %"));
        const QString health = at(1, RunHistoryModel::Retention, Qt::ToolTipRole).toString();
        QVERIFY2(health.contains(QStringLiteral("8 facts edited so far: 87.5")) && health.contains(QStringLiteral("60 %"))
                && health.contains(QStringLiteral("5.10 (base model 5.30)")),
            qPrintable(health));
        // A held run waits for a decision: it stands out.
        QCOMPARE(at(1, RunHistoryModel::Status).toString(), QStringLiteral("held"));
        QVERIFY(at(1, RunHistoryModel::Status, Qt::ForegroundRole).isValid());
        QVERIFY(at(1, RunHistoryModel::Run, Qt::FontRole).value<QFont>().bold());
        QVERIFY(!at(0, RunHistoryModel::Status, Qt::ForegroundRole).isValid());
        // Reverting changes a status: the whole history is set again.
        model.setRuns({run(1, RunStatus::Reverted, {0, 1}, {1.1, 492.0}, 5)});
        QCOMPARE(model.rowCount(), 1);
        QCOMPARE(at(0, RunHistoryModel::Status).toString(), QStringLiteral("reverted"));
        model.setRuns({});
        QCOMPARE(model.rowCount(), 0);
    }
};

QTEST_GUILESS_MAIN(TestRunHistoryModel)
#include "tst_runhistorymodel.moc"
