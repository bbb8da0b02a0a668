// GUI test: the main window opens offscreen, shows a checkpoint's summary without
// blocking, reports a bad directory, and remembers recent models.

#include "testsupport.h"
#include "ui/plots/qcustomplot.h"
#include "ui/plots/traceplot.h"
#include "ui/util/appsettings.h"
#include "ui/views/checkpointpanel.h"
#include "ui/views/mainwindow.h"
#include "ui/views/traceview.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>

using namespace engram::ui;

class TestMainWindow : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void opensEmpty();
    void showsCheckpointSummary();
    void reportsUnreadableDirectory();
    void tracesTheDemoFactWithoutBlocking();
};

void TestMainWindow::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    QApplication::setOrganizationName(QStringLiteral("EngramTest"));
    QApplication::setApplicationName(QStringLiteral("EngramTest"));
    AppSettings().clearRecentModels();
}

void TestMainWindow::opensEmpty()
{
    MainWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QCOMPARE(window.windowTitle(), QStringLiteral("Engram"));
    auto *welcome = window.findChild<QLabel *>(QStringLiteral("welcomePage"));
    QVERIFY(welcome);
    QVERIFY(welcome->text().contains(QStringLiteral("New Project")));
}

void TestMainWindow::showsCheckpointSummary()
{
    const std::filesystem::path dir = std::filesystem::path(ENGRAM_SOURCE_DIR) / "resources" / "demo" / "model";
    MainWindow window;
    window.show();
    QSignalSpy ready(window.checkpointPanel(), &CheckpointPanel::summaryReady);
    window.openModel(QString::fromStdString(dir.string()));
    QVERIFY(ready.wait(10000));
    const auto &summary = window.checkpointPanel()->summary();
    QVERIFY(summary.has_value());
    QCOMPARE(summary->family, std::string("GPT-2"));
    QCOMPARE(summary->layers, 6);
    QCOMPARE(summary->hiddenSize, 192);
    QCOMPARE(summary->tokenizerKind, std::string("byte-level BPE"));
    QVERIFY(window.findChild<QLabel *>(QStringLiteral("checkpointStatus"))->text().contains(QStringLiteral("ready")));
    QCOMPARE(AppSettings().recentModels().value(0), QString::fromStdString(dir.string()));
    window.resize(1100, 640);

    const QByteArray shots = qgetenv("ENGRAM_SCREENSHOT_DIR");
    if (!shots.isEmpty())
        QVERIFY(window.grab().save(QDir(QString::fromLocal8Bit(shots)).filePath(QStringLiteral("mainwindow.png"))));
}

void TestMainWindow::reportsUnreadableDirectory()
{
    QTemporaryDir empty;
    MainWindow window;
    window.show();
    QSignalSpy failed(window.checkpointPanel(), &CheckpointPanel::failed);
    // The failure opens a modal message box: close it as a user would.
    QTimer closer;
    QObject::connect(&closer, &QTimer::timeout, [] {
        if (auto *box = qobject_cast<QMessageBox *>(QApplication::activeModalWidget()))
            box->accept();
    });
    closer.start(50);
    window.openModel(empty.path());
    QVERIFY(failed.wait(10000));
    QVERIFY(failed.first().at(1).toString().contains(QStringLiteral("config.json")));
    QTRY_VERIFY(QApplication::activeModalWidget() == nullptr);
}

void TestMainWindow::tracesTheDemoFactWithoutBlocking()
{
    const std::filesystem::path dir = std::filesystem::path(ENGRAM_SOURCE_DIR) / "resources" / "demo" / "model";
    MainWindow window;
    window.resize(1200, 760);
    window.show();
    QSignalSpy ready(window.checkpointPanel(), &CheckpointPanel::summaryReady);
    window.openModel(QString::fromStdString(dir.string()));
    QVERIFY(ready.wait(10000));
    auto *tabs = window.findChild<QTabWidget *>(QStringLiteral("centralTabs"));
    QVERIFY(tabs);
    tabs->setCurrentWidget(window.traceView());
    // Opening the demo pre-fills a fact to try.
    auto *prompt = window.findChild<QLineEdit *>(QStringLiteral("tracePrompt"));
    QCOMPARE(prompt->text(), QStringLiteral("Oscar Koutex was born in"));

    // Click Trace as a user would and keep the event loop busy meanwhile: it must never stall.
    QSignalSpy finished(window.traceView(), &TraceView::traceFinished);
    QTest::mouseClick(window.findChild<QPushButton *>(QStringLiteral("traceRun")), Qt::LeftButton);
    QVERIFY(window.traceView()->isRunning());
    QElapsedTimer clock;
    qint64 longest = 0;
    clock.start();
    while (finished.isEmpty() && clock.elapsed() < 60000) {
        QElapsedTimer step;
        step.start();
        QApplication::processEvents(QEventLoop::AllEvents, 10);
        longest = std::max(longest, step.elapsed());
        QTest::qWait(5);
    }
    QCOMPARE(finished.size(), 1);
    QVERIFY2(longest < 200, qPrintable(QStringLiteral("event loop stalled for %1 ms").arg(longest)));
    const auto &r = window.traceView()->result();
    QVERIFY(r.has_value());
    QCOMPARE(QString::fromStdString(r->answer).trimmed(), QStringLiteral("Morocco"));
    QCOMPARE(r->matrices.size(), std::size_t(3));
    // Three heatmaps are drawn.
    QCOMPARE(window.traceView()->plot()->plottableCount(), 3);
    // The exact value of the cell under the mouse (centre of the first heatmap).
    auto *plot = window.traceView()->plot();
    plot->replot();
    const QPoint centre = plot->axisRects().front()->rect().center();
    const QString cell = traceCellText(plot, *r, centre);
    QVERIFY2(cell.contains(QStringLiteral("layer")) && cell.contains(QStringLiteral("p = ")), qPrintable(cell));
    QVERIFY(traceCellText(plot, *r, QPoint(-5, -5)).isEmpty());

    const QByteArray shots = qgetenv("ENGRAM_SCREENSHOT_DIR");
    if (!shots.isEmpty())
        QVERIFY(window.grab().save(QDir(QString::fromLocal8Bit(shots)).filePath(QStringLiteral("trace.png"))));
    QTemporaryDir tmp;
    QVERIFY(window.traceView()->exportImage(tmp.filePath(QStringLiteral("trace.png"))));
    QVERIFY(QFileInfo(tmp.filePath(QStringLiteral("trace.png"))).size() > 1000);
    // SVG and PDF too: an SVG document with the heatmaps' images, a PDF file.
    QVERIFY(window.traceView()->exportImage(tmp.filePath(QStringLiteral("trace.svg"))));
    QFile svg(tmp.filePath(QStringLiteral("trace.svg")));
    QVERIFY(svg.open(QIODevice::ReadOnly));
    const QByteArray svgText = svg.readAll();
    QVERIFY(svgText.contains("<svg") && svgText.contains("<image"));
    QVERIFY(window.traceView()->exportImage(tmp.filePath(QStringLiteral("trace.pdf"))));
    QFile pdf(tmp.filePath(QStringLiteral("trace.pdf")));
    QVERIFY(pdf.open(QIODevice::ReadOnly));
    QVERIFY(pdf.read(5) == "%PDF-");

    // A subject that is not in the prompt is refused before any work starts.
    window.traceView()->setPrompt(QStringLiteral("The capital of France is"), QStringLiteral("Berlin"));
    window.traceView()->startTrace();
    QVERIFY(!window.traceView()->isRunning());
    QVERIFY(
        window.findChild<QLabel *>(QStringLiteral("traceStatus"))->text().contains(QStringLiteral("does not occur")));
}

QTEST_MAIN(TestMainWindow)
#include "tst_mainwindow.moc"
