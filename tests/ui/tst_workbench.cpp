// GUI test of the workbench over a project, driving real widgets offscreen: the demo project
// opens with its facts; cells are edited in place (validated, undoable); a dataset file is
// imported; an edit runs on the job thread from the Edit button while the event loop keeps
// ticking (longest gap measured); the scores change; a second job queues behind it; a run is
// reverted and the model exported. Screenshots of each view when ENGRAM_SCREENSHOT_DIR is set.

#include "testsupport.h"

#include "core/data/datasets.h"
#include "core/edit/editor.h"
#include "core/edit/presets.h"
#include "core/jobs/projectjobs.h"
#include "core/model/modelinfo.h"
#include "core/model/modelsession.h"
#include "core/project/project.h"
#include "ui/jobs/jobcontroller.h"
#include "ui/models/demoproject.h"
#include "ui/models/factsmodel.h"
#include "ui/models/projectdocument.h"
#include "ui/models/runhistorymodel.h"
#include "ui/util/appsettings.h"
#include "ui/views/compareview.h"
#include "ui/views/editview.h"
#include "ui/views/factsview.h"
#include "ui/views/locateview.h"
#include "ui/views/probeview.h"
#include "ui/views/traceview.h"
#include "ui/plots/qcustomplot.h"
#include "ui/views/mainwindow.h"
#include "ui/views/scorespanel.h"

#include <QAbstractItemModelTester>
#include <QAction>
#include <QMap>
#include <QShortcut>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QPointer>
#include <QSignalSpy>
#include <QStandardItemModel>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableView>
#include <QTableWidget>
#include <QHeaderView>
#include <QTextBrowser>
#include <QTemporaryDir>
#include <QTimer>
#include <QUndoStack>
#include <QtTest>

#include <algorithm>
#include <fstream>
#include <set>

using namespace engram;
using namespace engram::ui;

namespace {
const QString kDemo = QStringLiteral(ENGRAM_SOURCE_DIR "/resources/demo");

void screenshot(QWidget &window, const char *name)
{
    const QByteArray dir = qgetenv("ENGRAM_SCREENSHOT_DIR");
    if (!dir.isEmpty())
        QVERIFY(window.grab().save(QDir(QString::fromLocal8Bit(dir)).filePath(QString::fromLatin1(name))));
}

// Waits for `done` while measuring the longest gap between ticks of a 5 ms timer (ms).
qint64 longestStallUntil(const std::function<bool()> &done, int timeoutMs)
{
    QElapsedTimer clock, gap;
    qint64 longest = 0;
    QTimer tick;
    tick.setInterval(5);
    QObject::connect(&tick, &QTimer::timeout, [&] {
        longest = std::max(longest, gap.restart());
    });
    clock.start();
    gap.start();
    tick.start();
    while (!done() && clock.elapsed() < timeoutMs)
        QTest::qWait(5);
    return longest;
}
} // namespace

class TestWorkbench : public QObject
{
    Q_OBJECT
private:
    QTemporaryDir m_dir;
    QString m_project;

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QApplication::setOrganizationName(QStringLiteral("EngramTest"));
        QApplication::setApplicationName(QStringLiteral("EngramWorkbenchTest"));
        qputenv("ENGRAM_CACHE_DIR", m_dir.filePath(QStringLiteral("cache")).toUtf8());
        QVERIFY(m_dir.isValid());
        configureThreads(0); // every core, as the app's main() does
        m_project = ensureDemoProject(kDemo, m_dir.path(), 30);
        // Reused the second time (same demo model).
        QCOMPARE(ensureDemoProject(kDemo, m_dir.path(), 30), m_project);
        QVERIFY(!QFile::exists(m_project + QStringLiteral(".old")));
    }

    void factsModelIsConsistent()
    {
        ProjectDocument doc;
        doc.open(m_project);
        FactsModel model(&doc);
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(model.rowCount(), 30);
        FactsFilter filter;
        filter.setSourceModel(&model);
        // The first record's subject is on one fact of the 30 (records are on distinct subjects).
        const auto first = importDataset((kDemo + QStringLiteral("/counterfact.json")).toStdString(), 1);
        filter.setText(QString::fromStdString(first.records.at(0).subject));
        QCOMPARE(filter.rowCount(), 1);
        filter.setText({});
        filter.setTag(QStringLiteral("demo"));
        QCOMPARE(filter.rowCount(), 30);
        filter.setTag(QStringLiteral("nope"));
        QCOMPARE(filter.rowCount(), 0);
    }

    void editsCellsWithValidationAndUndo()
    {
        MainWindow window;
        window.resize(1280, 780);
        window.show();
        QVERIFY(window.openProject(m_project));
        auto *facts = window.factsView();
        auto *table = facts->table();
        QCOMPARE(table->model()->rowCount(), 30);
        QSignalSpy messages(facts, &FactsView::message);
        const QModelIndex prompt = table->model()->index(0, FactsModel::Prompt);
        const QString before = prompt.data().toString();
        // A template without {} is refused and reported; the fact is unchanged.
        QVERIFY(!table->model()->setData(prompt, QStringLiteral("no placeholder here")));
        QCOMPARE(messages.size(), 1);
        QVERIFY(messages.front().front().toString().contains(QStringLiteral("{}")));
        QCOMPARE(table->model()->index(0, FactsModel::Prompt).data().toString(), before);
        // A valid edit lands in the project file; Ctrl+Z takes it back.
        QVERIFY(table->model()->setData(prompt, QStringLiteral("{} is located in the country of")));
        QCOMPARE(Project::open(m_project.toStdString(), true)->fact(1)->promptTemplate,
            std::string("{} is located in the country of"));
        window.document()->undoStack()->undo();
        QCOMPARE(table->model()->index(0, FactsModel::Prompt).data().toString(), before);
        QCOMPARE(QString::fromStdString(Project::open(m_project.toStdString(), true)->fact(1)->promptTemplate), before);
        window.document()->undoStack()->redo();
        window.document()->undoStack()->undo();
        // Typing an invalid prompt in the cell marks it at once; Enter keeps the editor and the text.
        const QModelIndex cell = table->model()->index(0, FactsModel::Prompt); // after the resets above
        table->setFocus();
        table->setCurrentIndex(cell);
        table->edit(cell);
        auto *editor = table->viewport()->findChild<QLineEdit *>();
        QVERIFY(editor);
        editor->selectAll();
        QTest::keyClicks(editor, QStringLiteral("missing the placeholder"));
        QVERIFY(editor->property("invalid").toBool());
        QVERIFY(editor->toolTip().contains(QStringLiteral("{}")));
        QTest::keyClick(editor, Qt::Key_Return);
        QTest::qWait(50);
        QVERIFY(table->viewport()->findChildren<QLineEdit *>().contains(editor)); // still open
        QCOMPARE(editor->text(), QStringLiteral("missing the placeholder"));
        QCOMPARE(table->model()->index(0, FactsModel::Prompt).data().toString(), before); // nothing saved
        // Fixed in place, Enter saves it.
        QTest::keyClicks(editor, QStringLiteral(" {}"));
        QVERIFY(!editor->property("invalid").toBool());
        QTest::keyClick(editor, Qt::Key_Return);
        QTRY_COMPARE(table->model()->index(0, FactsModel::Prompt).data().toString(),
            QStringLiteral("missing the placeholder {}"));
        window.document()->undoStack()->undo();
        QCOMPARE(table->model()->index(0, FactsModel::Prompt).data().toString(), before);
        // Unchecking a fact disables it (and takes it out of the pending set).
        const auto pending = window.document()->pendingFactIds().size();
        QVERIFY(table->model()->setData(table->model()->index(1, FactsModel::Enabled), Qt::Unchecked, Qt::CheckStateRole));
        QCOMPARE(window.document()->pendingFactIds().size(), pending - 1);
        window.document()->undoStack()->undo();
        QCOMPARE(window.document()->pendingFactIds().size(), pending);
        screenshot(window, "facts.png");
        // Export the filtered facts and read them back.
        window.factsView()->filter()->setText(QStringLiteral("Maison"));
        const QString exported = m_dir.filePath(QStringLiteral("maison.json"));
        QVERIFY(window.factsView()->exportFacts(exported));
        const auto back = importDataset(exported.toStdString());
        QVERIFY(back.records.size() >= 1);
        for (const auto &r : back.records)
            QVERIFY(r.subject.find("Maison") != std::string::npos);
        QVERIFY(window.findChild<QLabel *>(QStringLiteral("memoryLabel"))->text().contains(QStringLiteral("MiB")));
    }

    void importsAndRemovesFacts()
    {
        MainWindow window;
        window.show();
        QVERIFY(window.openProject(m_project));
        const QString csv = m_dir.filePath(QStringLiteral("extra.csv"));
        {
            std::ofstream out(csv.toStdString());
            out << "subject,prompt,target_new,target_true\n"
                << "Zorvath Quill,{} was born in,Norway,Chile\n";
        }
        QVERIFY(window.factsView()->importFile(csv));
        QCOMPARE(window.document()->facts().size(), std::size_t(31));
        // Importing the same file again adds nothing and says so (no undo step either).
        QSignalSpy said(window.factsView(), &FactsView::message);
        QVERIFY(window.factsView()->importFile(csv));
        QCOMPARE(window.document()->facts().size(), std::size_t(31));
        QCOMPARE(window.document()->lastImportDuplicates(), 1);
        QVERIFY2(said.last().front().toString().contains(QStringLiteral("1 duplicate")),
            qPrintable(said.last().front().toString()));
        window.factsView()->table()->selectRow(window.factsView()->table()->model()->rowCount() - 1);
        window.factsView()->removeSelected();
        QCOMPARE(window.document()->facts().size(), std::size_t(30));
        window.document()->undoStack()->undo(); // the removal
        QCOMPARE(window.document()->facts().size(), std::size_t(31));
        window.document()->undoStack()->undo(); // the import
        QCOMPARE(window.document()->facts().size(), std::size_t(30));
    }

    void editsWithoutFreezingAndComparesScores()
    {
        MainWindow window;
        window.resize(1280, 780);
        window.show();
        QVERIFY(window.openProject(m_project));
        auto *tabs = window.findChild<QTabWidget *>(QStringLiteral("centralTabs"));
        tabs->setCurrentWidget(window.editView());
        auto *layers = window.findChild<QLineEdit *>(QStringLiteral("editLayers"));
        QCOMPARE(layers->text(), QStringLiteral("0,1,2,3")); // the demo preset
        // Edit only the first ten facts: select them and choose "Selected facts".
        auto *table = window.factsView()->table();
        table->selectionModel()->clearSelection();
        for (int r = 0; r < 10; ++r)
            table->selectionModel()->select(
                table->model()->index(r, 0), QItemSelectionModel::Select | QItemSelectionModel::Rows);
        auto *scope = window.findChild<QComboBox *>(QStringLiteral("editScope"));
        scope->setCurrentIndex(1);
        QCOMPARE(scope->currentText(), QStringLiteral("Selected facts (10)")); // the count follows the selection
        // The window's first layout and paint (tens of ms offscreen) happen before the measurement:
        // it times the GUI thread while jobs run, not the first frame.
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QTest::qWait(100);

        QSignalSpy edited(window.editView(), &EditView::editFinished);
        QSignalSpy scored(window.editView(), &EditView::evaluationFinished);
        QSignalSpy failed(window.jobs(), &JobController::failed);
        auto *editButton = window.findChild<QPushButton *>(QStringLiteral("editRun"));
        QTest::mouseClick(editButton, Qt::LeftButton);
        QVERIFY(window.jobs()->isBusy());
        // A double click (or Ctrl+E during the run) does not queue a second edit.
        QVERIFY(!editButton->isEnabled());
        QVERIFY(!window.findChild<QAction *>(QStringLiteral("actionRunEdit"))->isEnabled());
        window.editView()->startEdit();
        QCOMPARE(window.jobs()->queued(), 0);
        // A second job queues behind the running one instead of running beside it.
        QSignalSpy busy(window.jobs(), &JobController::busyChanged);
        window.editView()->exportModel(m_dir.filePath(QStringLiteral("queued-export")));
        QVERIFY(!busy.isEmpty());
        QCOMPARE(busy.last().at(1).toInt(), 1);
        QCOMPARE(window.jobs()->queued(), 1);

        const qint64 stall = longestStallUntil([&] { return !scored.isEmpty() || !failed.isEmpty(); }, 120000);
        QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.front().at(1).toString()));
        QCOMPARE(edited.size(), 1);
        QCOMPARE(scored.size(), 1);
        qInfo("longest event-loop gap during the edit and its evaluation: %lld ms", stall);
        QVERIFY2(stall < 50, qPrintable(QStringLiteral("event loop stalled for %1 ms").arg(stall)));
        const auto &pre = window.editView()->lastPre(), &post = window.editView()->lastPost();
        QVERIFY(pre && post);
        QVERIFY(pre->es.mean < 20);
        QVERIFY(post->es.mean > 80);
        QCOMPARE(window.editView()->scores()->model()->rowCount(), 2);
        QVERIFY(!window.editView()->scoresPanel()->isStale());
        QVERIFY2(window.editView()->scoresPanel()->caption().contains(QStringLiteral("run(s) 1")),
            qPrintable(window.editView()->scoresPanel()->caption()));
        QVERIFY(editButton->isEnabled()); // the edit and its scoring are done
        // The selection survives the reloads the jobs caused.
        QCOMPARE(window.factsView()->selectedFactIds().size(), std::size_t(10));
        // Others kept: the 20 unedited facts' recall before and after.
        QVERIFY(window.editView()->lastRetention().first > 0.9);
        QVERIFY(window.editView()->lastRetention().second > 0.5);
        QCOMPARE(window.editView()->history()->model()->rowCount(), 1);
        QCOMPARE(window.document()->editedBy(1), int64_t(1));
        {
            // Applied, not held: the health the guard (95 % retention, ES 90 by default) checked.
            const RunHealth h = window.document()->runs().front().summary.health;
            qInfo("health after the edit: ES so far %.1f, retention %.1f %% of the base model's", h.esSoFar,
                100 * h.retentionRatio());
            QCOMPARE(window.document()->runs().front().status, RunStatus::Applied);
        }
        // The demo preset protects the project's 20 other facts (other subjects) as keys.
        QCOMPARE(window.findChild<QDoubleSpinBox *>(QStringLiteral("editProtectWeight"))->value(), 0.03);
        const std::string params = window.document()->runs().front().paramsJson;
        QVERIFY2(params.find("\"protected_keys\":20") != std::string::npos, params.c_str());
        // A patch of the applied runs, written by a job.
        QSignalSpy patched(window.editView(), &EditView::patchExported);
        window.editView()->exportPatch(m_dir.filePath(QStringLiteral("all.patch")));
        // The queued export ran after them.
        QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(m_dir.filePath(QStringLiteral("queued-export/engram-manifest.json"))), 30000);
        QVERIFY(patched.wait(30000) || patched.size() == 1);
        QVERIFY(QFile::exists(m_dir.filePath(QStringLiteral("all.patch"))));
        // The same runs as a LoRA adapter (File > Export as LoRA Adapter), written by a job.
        QSignalSpy lora(window.editView(), &EditView::loraExported);
        window.editView()->exportLora(m_dir.filePath(QStringLiteral("adapter")), 0);
        QVERIFY(lora.wait(30000) || lora.size() == 1);
        for (const char *file : {"adapter/adapter_config.json", "adapter/adapter_model.safetensors"})
            QVERIFY2(QFile::exists(m_dir.filePath(QString::fromLatin1(file))), file);
        screenshot(window, "edit.png");
        tabs->setCurrentWidget(window.factsView());
        screenshot(window, "facts-edited.png");

        // Before / after: one row per edited fact; the first fact's prompt continued by both models.
        tabs->setCurrentWidget(window.compareView());
        auto *compare = window.compareView()->table();
        QCOMPARE(compare->model()->rowCount(), 10);
        compare->sortByColumn(0, Qt::AscendingOrder);
        compare->selectRow(0);
        QSignalSpy shown(window.compareView(), &CompareView::generationsShown);
        QTest::mouseClick(window.findChild<QPushButton *>(QStringLiteral("compareGenerate")), Qt::LeftButton);
        QVERIFY(shown.wait(60000));
        const auto fact = *window.document()->project()->fact(1);
        const QString oldObject = QString::fromStdString(fact.targetTrue).trimmed();
        const QString newObject = QString::fromStdString(fact.targetNew).trimmed();
        QVERIFY2(window.compareView()->before()->toPlainText().contains(oldObject),
            qPrintable(window.compareView()->before()->toPlainText()));
        QVERIFY2(window.compareView()->after()->toPlainText().contains(newObject),
            qPrintable(window.compareView()->after()->toPlainText()));
        QVERIFY(window.compareView()->after()->toHtml().contains(newObject));
        screenshot(window, "compare.png");

        // Probe: fact 1's subject, checkpoint vs current model; the edited relation's answer changed.
        tabs->setCurrentWidget(window.probeView());
        QSignalSpy probed(window.probeView(), &ProbeView::probed);
        window.probeView()->subjectBox()->setEditText(QString::fromStdString(fact.subject));
        QTest::mouseClick(window.findChild<QPushButton *>(QStringLiteral("probeRun")), Qt::LeftButton);
        QVERIFY(probed.wait(30000));
        auto *probeTable = window.probeView()->table();
        QVERIFY(!probeTable->isColumnHidden(ProbeView::CurrentColumn));
        const auto &probe = *window.probeView()->result();
        QCOMPARE(probe.appliedRuns, std::vector<int64_t> {1});
        int editedRow = -1;
        for (int r = 0; r < probeTable->rowCount(); ++r)
            if (std::find(probe.rows[r].relation.factIds.begin(), probe.rows[r].relation.factIds.end(), 1)
                != probe.rows[r].relation.factIds.end())
                editedRow = r;
        QVERIFY(editedRow >= 0);
        QVERIFY(probe.rows[editedRow].changed);
        QVERIFY(probeTable->item(editedRow, ProbeView::BaseColumn)->text().startsWith(oldObject));
        QVERIFY(probeTable->item(editedRow, ProbeView::CurrentColumn)->text().startsWith(newObject));
        QVERIFY(probeTable->item(editedRow, ProbeView::CurrentColumn)->font().bold()); // highlighted
        QVERIFY2(window.probeView()->summary()->text().contains(QStringLiteral("changed")),
            qPrintable(window.probeView()->summary()->text()));
        screenshot(window, "probe.png");

        // Causal trace of the edited fact on the current model: it traces to the new object,
        // and the caption says which model it traced.
        tabs->setCurrentWidget(window.traceView());
        QVERIFY(window.traceView()->tracesCurrentModel()); // the default with a project open
        std::string factPrompt = fact.promptTemplate;
        factPrompt.replace(factPrompt.find("{}"), 2, fact.subject);
        window.traceView()->setPrompt(QString::fromStdString(factPrompt), QString::fromStdString(fact.subject));
        QSignalSpy traced(window.traceView(), &TraceView::traceFinished);
        window.traceView()->startTrace();
        QVERIFY(traced.wait(60000));
        QCOMPARE(QString::fromStdString(window.traceView()->result()->answer).trimmed(), newObject);
        QVERIFY(window.findChild<QLabel *>(QStringLiteral("traceStatus"))->text().startsWith(QStringLiteral("Current model")));

        // Revert the run from the history.
        tabs->setCurrentWidget(window.editView());
        window.editView()->history()->selectRow(0);
        QSignalSpy finished(window.jobs(), &JobController::finished);
        QTest::mouseClick(window.findChild<QPushButton *>(QStringLiteral("editRevert")), Qt::LeftButton);
        QVERIFY(finished.wait(30000));
        QTRY_COMPARE(window.document()->runs().front().status, RunStatus::Reverted);
        QCOMPARE(window.document()->editedBy(1), int64_t(0));
        QCOMPARE(window.editView()->history()->model()->index(0, 1).data().toString(), QStringLiteral("reverted"));
        // The scores described run 1, which is reverted now: the panel says they are stale.
        QVERIFY(window.editView()->scoresPanel()->isStale());
        QCOMPARE(window.editView()->scores()->model()->rowCount(), 0);
        QVERIFY(!window.editView()->lastPost());
        // Re-applying it brings back the stored scores of that history (no new scoring needed).
        window.editView()->history()->selectRow(0);
        QTest::mouseClick(window.findChild<QPushButton *>(QStringLiteral("editReapply")), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(window.document()->runs().front().status, RunStatus::Applied, 30000);
        QTRY_VERIFY(!window.editView()->scoresPanel()->isStale());
        // Reopening shows them too (they are stored with the history they describe).
        QTRY_VERIFY(!window.jobs()->isBusy());
        QVERIFY(window.openProject(m_project));
        QVERIFY(!window.editView()->scoresPanel()->isStale());
        QCOMPARE(window.editView()->scores()->model()->rowCount(), 2);
        // Revert again for the tests that follow.
        window.editView()->history()->selectRow(0);
        QTest::mouseClick(window.findChild<QPushButton *>(QStringLiteral("editRevert")), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(window.document()->runs().front().status, RunStatus::Reverted, 30000);
        QTRY_VERIFY(!window.jobs()->isBusy());
        // Close any non-modal summaries.
        for (auto *box : window.findChildren<QMessageBox *>(QStringLiteral("jobMessage")))
            box->close();
    }

    void locatesFactsAndHandsLayersToTheEditTab()
    {
        MainWindow window;
        window.resize(1280, 780);
        window.show();
        QVERIFY(window.openProject(m_project));
        auto *tabs = window.findChild<QTabWidget *>(QStringLiteral("centralTabs"));
        tabs->setCurrentWidget(window.locateView());
        QSignalSpy traced(window.locateView(), &LocateView::traced);
        QTest::mouseClick(window.findChild<QPushButton *>(QStringLiteral("locateRun")), Qt::LeftButton);
        QVERIFY(traced.wait(120000));
        const auto &e = window.locateView()->effects();
        QVERIFY(e && e->traced > 10);
        // The demo stores facts in its first layers (README: MLP effect peaks at layer 0-1).
        QCOMPARE(window.locateView()->suggestedLayers(), QStringLiteral("0"));
        QVERIFY(window.locateView()->plot()->graphCount() >= 4);
        // The MLP effect at the last subject token is strong in layers 0-1 and small after
        // (the demo's restoration window is 2 layers, not the reference's 10 that would cover all 6).
        const auto &mlp = e->effects[1][static_cast<int>(TokenCategory::LastSubject)];
        QVERIFY(mlp[0].mean > 0.2);
        QVERIFY(mlp[3].mean < 0.1);
        // The tab's own progress bar ran to the end; the summary says what was traced and why the
        // preset's layers differ from the suggestion.
        QCOMPARE(window.findChild<QProgressBar *>(QStringLiteral("locateProgress"))->value(), 1000);
        const QString summary = window.findChild<QLabel *>(QStringLiteral("locateSummary"))->text();
        QVERIFY2(summary.startsWith(QStringLiteral("Checkpoint as stored")), qPrintable(summary));
        QVERIFY2(summary.contains(QStringLiteral("preset uses layers 0,1,2,3")), qPrintable(summary));
        // The whole summary is visible (a wrapped label once got one line's height).
        auto *summaryLabel = window.findChild<QLabel *>(QStringLiteral("locateSummary"));
        QTRY_VERIFY(summaryLabel->height() >= summaryLabel->heightForWidth(summaryLabel->width()));
        QTRY_VERIFY(summaryLabel->geometry().bottom() < window.locateView()->plot()->geometry().top());
        // The bands fit in the plot.
        for (int g = 0; g < window.locateView()->plot()->graphCount(); ++g) {
            bool found = false;
            const QCPRange values = window.locateView()->plot()->graph(g)->getValueRange(found);
            QVERIFY(!found || window.locateView()->plot()->yAxis->range().contains(values.upper));
        }
        screenshot(window, "locate.png");
        window.findChild<QLineEdit *>(QStringLiteral("editLayers"))->setText(QStringLiteral("3"));
        QTest::mouseClick(window.findChild<QPushButton *>(QStringLiteral("locateUse")), Qt::LeftButton);
        QCOMPARE(window.findChild<QLineEdit *>(QStringLiteral("editLayers"))->text(), QStringLiteral("0"));
        QCOMPARE(tabs->currentWidget(), window.editView());
        // The averaged trace is kept in the project.
        QCOMPARE(window.document()->project()->traces().back().kind, std::string("average"));

        // Trace one fact from the Facts tab.
        window.factsView()->table()->selectRow(2);
        QSignalSpy traceDone(window.traceView(), &TraceView::traceFinished);
        QSignalSpy traceFailed(window.traceView(), &TraceView::traceFailed);
        QTest::mouseClick(window.findChild<QPushButton *>(QStringLiteral("factsTrace")), Qt::LeftButton);
        QCOMPARE(tabs->currentWidget(), window.traceView());
        QCOMPARE(window.findChild<QLineEdit *>(QStringLiteral("traceSubject"))->text(),
            QString::fromStdString(window.document()->facts()[2].subject));
        QVERIFY(window.traceView()->isRunning());
        QTRY_VERIFY_WITH_TIMEOUT(!traceDone.isEmpty() || !traceFailed.isEmpty(), 60000);
        QVERIFY2(traceFailed.isEmpty(), traceFailed.isEmpty() ? "" : qPrintable(traceFailed.front().front().toString()));
        QVERIFY(window.traceView()->result().has_value());
    }

    void editsWithChosenStatisticsFiles()
    {
        // Statistics from a file instead of the project's corpus.
        const QString stats = m_dir.filePath(QStringLiteral("layer0.safetensors"));
        {
            auto session = ModelSession::open((kDemo + QStringLiteral("/model")).toStdString());
            computeStatisticsFile(*session, (kDemo + QStringLiteral("/corpus.txt")).toStdString(), {0}, 200,
                stats.toStdString());
        }
        MainWindow window;
        window.show();
        QVERIFY(window.openProject(m_project));
        window.editView()->setStatisticsFiles({stats});
        const QString line = window.findChild<QLabel *>(QStringLiteral("editStatistics"))->text();
        QVERIFY2(line.contains(QStringLiteral("layer0")) && line.contains(QStringLiteral("layer(s) 0:")), qPrintable(line));
        // The preset writes layers 0-3, which the file does not cover: refused before any job starts.
        const auto runsBefore = window.document()->runs().size();
        window.findChild<QLineEdit *>(QStringLiteral("editLayers"))->setText(QStringLiteral("0,1,2,3"));
        window.editView()->startEdit();
        QVERIFY(!window.jobs()->isBusy());
        QCOMPARE(window.document()->runs().size(), runsBefore);
        const auto boxes = window.findChildren<QMessageBox *>(QStringLiteral("jobMessage"));
        QCOMPARE(boxes.size(), qsizetype(1));
        QVERIFY2(boxes.front()->text().contains(QStringLiteral("layer(s) 1, 2, 3 are missing")),
            qPrintable(boxes.front()->text()));
        screenshot(*boxes.front(), "edit-statistics-check.png");
        boxes.front()->close();
        window.findChild<QLineEdit *>(QStringLiteral("editLayers"))->setText(QStringLiteral("0")); // what the file covers
        auto *table = window.factsView()->table();
        table->sortByColumn(FactsModel::Id, Qt::AscendingOrder);
        table->selectRow(19);
        window.findChild<QComboBox *>(QStringLiteral("editScope"))->setCurrentIndex(1);
        window.findChild<QCheckBox *>(QStringLiteral("editFluency"))->setChecked(true);
        QSignalSpy edited(window.editView(), &EditView::editFinished);
        QSignalSpy scored(window.editView(), &EditView::evaluationFinished);
        window.editView()->startEdit();
        QVERIFY(edited.wait(120000));
        const auto run = window.document()->runs().back();
        QCOMPARE(run.facts.size(), std::size_t(1));
        QVERIFY2(run.paramsJson.find("layer0.safetensors") != std::string::npos, run.paramsJson.c_str());
        QVERIFY(scored.wait(120000) || scored.size() == 1);
        // Fluency from the facts' generation prompts, before and after.
        QVERIFY(window.editView()->lastPost()->fluency.count > 0);
        QVERIFY(window.editView()->lastPre()->fluency.mean > 100);
        QVERIFY(window.editView()->scores()->model()->index(1, 8).data().toString() != QStringLiteral("\u2013"));
    }

    void shortcutsAreBoundOnce()
    {
        // Every key sequence of the window's actions and shortcuts is bound once: a second
        // binding makes Qt drop both ("Ambiguous shortcut overload").
        MainWindow window;
        window.show();
        QMap<QString, QString> owner;
        for (QAction *a : window.findChildren<QAction *>())
            for (const QKeySequence &k : a->shortcuts()) {
                const QString key = k.toString();
                QVERIFY2(!owner.contains(key),
                    qPrintable(key + QStringLiteral(": ") + owner.value(key) + QStringLiteral(" and ") + a->text()));
                owner.insert(key, a->text());
            }
        for (QShortcut *sc : window.findChildren<QShortcut *>()) {
            const QString key = sc->key().toString();
            // The trace tab's Ctrl+Return is local to that tab; nothing else may repeat a window-wide one.
            QVERIFY2(!owner.contains(key), qPrintable(key + QStringLiteral(" also bound to ") + owner.value(key)));
        }
        for (const char *documented : {"Ctrl+N", "Ctrl+Shift+O", "Ctrl+O", "Ctrl+I", "Ctrl+E", "Ctrl+.", "Ctrl+Z",
                 "Ctrl+Q"})
            QVERIFY2(owner.contains(QString::fromLatin1(documented)), documented);
        QVERIFY(!window.findChild<QAction *>(QStringLiteral("actionCancelJob"))->isEnabled()); // nothing runs
    }

    void probeAndAddDialogMakeScoredFacts()
    {
        MainWindow window;
        window.resize(1100, 720);
        window.show();
        QVERIFY(window.openProject(m_project));
        auto *tabs = window.findChild<QTabWidget *>(QStringLiteral("centralTabs"));
        QTest::qWait(100);
        screenshot(window, "facts-1100.png");
        // At the default size every column of the facts table starts inside the view.
        auto *factsTable = window.factsView()->table();
        for (int c = 0; c < factsTable->model()->columnCount(); ++c)
            QVERIFY2(factsTable->columnViewportPosition(c) + 30 <= factsTable->viewport()->width(),
                qPrintable(factsTable->model()->headerData(c, Qt::Horizontal).toString()));
        tabs->setCurrentWidget(window.editView());
        QTest::qWait(100);
        screenshot(window, "edit-1100.png");
        tabs->setCurrentWidget(window.probeView());
        const Fact first = window.document()->facts().front();
        QSignalSpy probed(window.probeView(), &ProbeView::probed);
        // Enter in the subject box asks.
        window.probeView()->subjectBox()->setFocus();
        window.probeView()->subjectBox()->setEditText(QString::fromStdString(first.subject));
        QTest::keyClick(window.probeView()->subjectBox(), Qt::Key_Return);
        QVERIFY(probed.wait(30000));
        auto *table = window.probeView()->table();
        std::set<std::string> relations;
        for (const auto &f : window.document()->facts())
            relations.insert(f.relationKey());
        QCOMPARE(table->rowCount(), static_cast<int>(relations.size()));
        // A relation this subject has no fact of becomes a pending fact with the object typed in place.
        int row = -1;
        for (int r = 0; r < table->rowCount() && row < 0; ++r)
            if (window.probeView()->result()->rows[r].relation.factIds.empty())
                row = r;
        QVERIFY(row >= 0);
        const auto &asked = window.probeView()->result()->rows[row];
        auto *addButton = window.findChild<QPushButton *>(QStringLiteral("probeAddFact"));
        table->setCurrentCell(row, ProbeView::NewObjectColumn);
        QVERIFY(!addButton->isEnabled()); // nothing typed yet
        table->item(row, ProbeView::NewObjectColumn)->setText(QStringLiteral("Quexalt"));
        QVERIFY(addButton->isEnabled());
        const auto before = window.document()->facts().size();
        QTest::mouseClick(addButton, Qt::LeftButton);
        QCOMPARE(window.document()->facts().size(), before + 1);
        const Fact added = window.document()->facts().back();
        QCOMPARE(added.provenance, std::string("probe"));
        QCOMPARE(added.subject, first.subject);
        QCOMPARE(added.promptTemplate, asked.relation.promptTemplate);
        QCOMPARE(added.targetNew, std::string("Quexalt"));
        QCOMPARE(added.targetTrue, answerPhrase(asked.current ? *asked.current : asked.base)); // the model's answer
        QVERIFY(!added.targetTrue.empty());
        window.document()->undoStack()->undo();
        QCOMPARE(window.document()->facts().size(), before);

        // Facts > Add: the relation is offered from the project's, and a blank true object is
        // filled with the model's answer by a job; the new row is selected and in view.
        tabs->setCurrentWidget(window.factsView());
        const Fact model = window.document()->facts().at(3);
        QSignalSpy completed(window.probeView(), &ProbeView::factCompleted);
        bool filled = false;
        QTimer::singleShot(0, [&] {
            auto *dialog = qobject_cast<QDialog *>(QApplication::activeModalWidget());
            QVERIFY(dialog);
            auto *relation = dialog->findChild<QComboBox *>(QStringLiteral("addRelation"));
            QVERIFY(relation->findText(QString::fromStdString(model.relation)) > 0);
            QVERIFY(dialog->findChild<QLineEdit *>(QStringLiteral("addSubject"))->completer() != nullptr);
            dialog->findChild<QLineEdit *>(QStringLiteral("addSubject"))->setText(QStringLiteral("Velmora Tusk"));
            dialog->findChild<QLineEdit *>(QStringLiteral("addPrompt"))->setText(QString::fromStdString(model.promptTemplate));
            relation->setEditText(QString::fromStdString(model.relation));
            dialog->findChild<QLineEdit *>(QStringLiteral("addNew"))->setText(QStringLiteral("Quexalt"));
            filled = true;
            dialog->findChild<QDialogButtonBox *>()->button(QDialogButtonBox::Ok)->click();
        });
        window.factsView()->addFact();
        QVERIFY(filled);
        QCOMPARE(window.document()->facts().size(), before + 1);
        const int64_t id = window.document()->facts().back().id;
        QCOMPARE(window.factsView()->selectedFactIds(), std::vector<int64_t> {id});
        QVERIFY(completed.wait(30000));
        const Fact done = *window.document()->project()->fact(id);
        QVERIFY(!done.targetTrue.empty());
        QVERIFY(!done.paraphrasePrompts.empty()); // the relation's other templates
        QCOMPARE(done.relation, model.relation);
        window.document()->undoStack()->undo(); // the completion
        window.document()->undoStack()->undo(); // the fact
        QCOMPARE(window.document()->facts().size(), before);
    }

    void cancelLeavesTheProjectAsItWas()
    {
        MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowActive(&window));
        QVERIFY(window.openProject(m_project));
        const auto runs = window.document()->runs().size();
        const auto pending = window.document()->pendingFactIds();
        QVERIFY(!pending.empty());
        window.findChild<QComboBox *>(QStringLiteral("editScope"))->setCurrentIndex(0);
        QSignalSpy cancelled(window.jobs(), &JobController::cancelled);
        QSignalSpy progress(window.jobs(), &JobController::progress);
        // Ctrl+E starts the edit (the README's shortcut); Ctrl+. cancels it.
        QTest::keyClick(&window, Qt::Key_E, Qt::ControlModifier);
        QVERIFY(window.jobs()->isBusy());
        QVERIFY(window.findChild<QAction *>(QStringLiteral("actionCancelJob"))->isEnabled());
        // Progress arrives during the target optimisation (fact-steps, with an ETA), not only after it.
        QTRY_VERIFY_WITH_TIMEOUT(std::any_of(progress.begin(), progress.end(),
                                     [](const QList<QVariant> &p) {
                                         const auto jp = p.at(0).value<JobProgress>();
                                         return jp.stage.contains(QStringLiteral("optimising targets"))
                                             && jp.fraction > 0 && jp.etaSeconds >= 0;
                                     }),
            60000);
        QElapsedTimer clock;
        clock.start();
        QTest::keyClick(&window, Qt::Key_Period, Qt::ControlModifier);
        QVERIFY2(window.findChild<QLabel *>(QStringLiteral("editStage"))->text().startsWith(QStringLiteral("Cancelling")),
            qPrintable(window.findChild<QLabel *>(QStringLiteral("editStage"))->text()));
        QTRY_VERIFY_WITH_TIMEOUT(!cancelled.isEmpty(), 60000);
        QTRY_VERIFY(!window.jobs()->isBusy());
        qInfo("cancel inside the target optimisation took %lld ms", clock.elapsed());
        // Cancel is asked after every block, forward and backward: 0.8-0.9 s measured on 2 quiet
        // cores (the target is 1 s); the bound leaves room for a busy machine.
        QVERIFY2(clock.elapsed() < 3000, qPrintable(QString::number(clock.elapsed())));
        window.document()->reload();
        // A cancelled run is recorded as such; no fact counts as edited by it.
        QCOMPARE(window.document()->runs().size(), runs + 1);
        QCOMPARE(window.document()->runs().back().status, RunStatus::Cancelled);
        QCOMPARE(window.document()->pendingFactIds(), pending);
        for (const int64_t id : pending)
            QCOMPARE(window.document()->editedBy(id), int64_t(0));
    }

    void healthChartFollowsTheRuns()
    {
        // Issue 19: ten runs on one project (forced past the guard, to see the decline): the
        // Health tab draws a point per applied run, with the guard's thresholds dashed.
        QTemporaryDir dir;
        const QString file = ensureDemoProject(kDemo, dir.path(), 40);
        {
            JobContext context;
            EditJobSpec spec;
            spec.config = editPresetForCheckpoint((kDemo + QStringLiteral("/model")).toStdString())
                              .configFor(EditMethod::Memit);
            spec.statistics.maxDocuments = -1;
            spec.force = true;
            spec.allowConflicts = true;
            for (int64_t run = 0; run < 10; ++run) {
                spec.factIds = {2 * run + 1, 2 * run + 2};
                QCOMPARE(runEditJob(file.toStdString(), spec, context).runId, run + 1);
            }
        }
        MainWindow window;
        window.resize(1100, 720);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QVERIFY(window.openProject(file));
        window.findChild<QTabWidget *>(QStringLiteral("centralTabs"))->setCurrentWidget(window.editView());
        window.findChild<QTabWidget *>(QStringLiteral("editHistoryTabs"))->setCurrentIndex(1);
        QCustomPlot *plot = window.editView()->healthPlot();
        QCOMPARE(plot->graph(0)->dataCount(), 10); // ES so far, one point per run
        QCOMPARE(plot->graph(0)->data()->at(9)->key, 10.0);
        const double esLast = plot->graph(0)->data()->at(9)->value;
        QCOMPARE(esLast, window.document()->runs().back().summary.health.esSoFar);
        QCOMPARE(plot->itemCount(), 2); // the guard's two thresholds
        screenshot(window, "health-10-runs.png");
    }

    void heldRunAsksApplyOrDiscard()
    {
        // Issue 19, the guard in the Edit tab: a run made to break the model (tiny λ, huge
        // learning rate and clamp) is held; the dialog shows its numbers and offers Apply anyway,
        // Discard and Decide later; the history and the health chart show it.
        MainWindow window;
        window.resize(1100, 720);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QVERIFY(window.openProject(m_project));
        auto *tabs = window.findChild<QTabWidget *>(QStringLiteral("centralTabs"));
        tabs->setCurrentWidget(window.editView());
        // The guard's fields show the project's thresholds and write them back.
        auto *guardRetention = window.findChild<QDoubleSpinBox *>(QStringLiteral("editGuardRetention"));
        QCOMPARE(guardRetention->value(), 95.0);
        guardRetention->setValue(90);
        Q_EMIT guardRetention->editingFinished();
        QCOMPARE(window.document()->project()->healthGuard().minRetention, 0.9);

        const auto pending = window.document()->pendingFactIds();
        QVERIFY(pending.size() >= 4);
        auto *table = window.factsView()->table();
        QPointer<QMessageBox> box;
        const auto editBroken = [&](std::vector<int64_t> ids) {
            table->selectionModel()->clearSelection();
            for (int r = 0; r < table->model()->rowCount(); ++r) {
                const auto id = table->model()->index(r, 0).data(FactsModel::FactIdRole).toLongLong();
                if (std::find(ids.begin(), ids.end(), id) != ids.end())
                    table->selectionModel()->select(
                        table->model()->index(r, 0), QItemSelectionModel::Select | QItemSelectionModel::Rows);
            }
            window.findChild<QComboBox *>(QStringLiteral("editScope"))->setCurrentIndex(1);
            window.findChild<QLineEdit *>(QStringLiteral("editLayers"))->setText(QStringLiteral("0,1,2,3"));
            for (const auto &[name, value] : {std::pair {"editLambda", 0.1}, {"editLr", 50.0}, {"editClamp", 100.0}})
                window.findChild<QDoubleSpinBox *>(QString::fromLatin1(name))->setValue(value);
            QSignalSpy edited(window.editView(), &EditView::editFinished);
            window.editView()->startEdit();
            QVERIFY(edited.wait(120000));
            QTRY_VERIFY_WITH_TIMEOUT((box = window.findChild<QMessageBox *>(QStringLiteral("heldRunDialog"))), 5000);
        };
        editBroken({pending[0], pending[1]});
        if (QTest::currentTestFailed())
            return;
        const int64_t held = window.document()->runs().back().id;
        QCOMPARE(window.document()->runs().back().status, RunStatus::Held);
        QVERIFY2(box->text().contains(QStringLiteral("Retention of the project's")), qPrintable(box->text()));
        QCOMPARE(window.document()->editedBy(pending[0]), int64_t(0)); // the model is as it was
        auto *history = window.editView()->history();
        const int last = history->model()->rowCount() - 1;
        QCOMPARE(history->model()->index(last, RunHistoryModel::Status).data().toString(), QStringLiteral("held"));
        QVERIFY(history->model()->index(last, RunHistoryModel::Retention).data().toString().endsWith(QStringLiteral("%")));
        auto *historyTabs = window.findChild<QTabWidget *>(QStringLiteral("editHistoryTabs"));
        historyTabs->setCurrentIndex(1); // the health chart: the held run as red crosses
        QVERIFY(window.editView()->healthPlot()->graphCount() >= 5);
        screenshot(window, "held.png");
        historyTabs->setCurrentIndex(0);

        // Discard: recorded, never applied.
        QTest::mouseClick(box->findChild<QPushButton *>(QStringLiteral("heldDiscard")), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(window.document()->project()->run(held)->status, RunStatus::Discarded, 30000);
        QTRY_VERIFY(!window.jobs()->isBusy());
        QTRY_VERIFY(!box); // closed and deleted

        // Apply anyway: the held run joins the history (state-checked) and is scored like an edit.
        editBroken({pending[2], pending[3]});
        if (QTest::currentTestFailed())
            return;
        const int64_t second = window.document()->runs().back().id;
        QSignalSpy scored(window.editView(), &EditView::evaluationFinished);
        QTest::mouseClick(box->findChild<QPushButton *>(QStringLiteral("heldApply")), Qt::LeftButton);
        QVERIFY(scored.wait(120000));
        QCOMPARE(window.document()->project()->run(second)->status, RunStatus::Applied);
        QCOMPARE(window.document()->editedBy(pending[2]), second);
        window.editView()->history()->selectRow(history->model()->rowCount() - 1);
        QTest::mouseClick(window.findChild<QPushButton *>(QStringLiteral("editRevert")), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(window.document()->project()->run(second)->status, RunStatus::Reverted, 30000);
        QTRY_VERIFY(!window.jobs()->isBusy());
        for (auto *b : window.findChildren<QMessageBox *>())
            b->close();
    }
};

QTEST_MAIN(TestWorkbench)
#include "tst_workbench.moc"
