// GUI test: the main window opens offscreen, shows a checkpoint's summary without
// blocking, reports a bad directory, and remembers recent models.

#include "testsupport.h"
#include "ui/util/appsettings.h"
#include "ui/views/checkpointpanel.h"
#include "ui/views/mainwindow.h"

#include <QApplication>
#include <QLabel>
#include <QMessageBox>
#include <QSignalSpy>
#include <QStandardPaths>
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
    QVERIFY(welcome->text().contains(QStringLiteral("This project is empty")));
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

QTEST_MAIN(TestMainWindow)
#include "tst_mainwindow.moc"
