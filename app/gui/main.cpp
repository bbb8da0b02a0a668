// engram: the desktop workbench.

#include "core/model/modelinfo.h"
#include "core/util/error.h"
#include "ui/models/demoproject.h"
#include "ui/views/mainwindow.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QMessageBox>
#include <QStandardPaths>
#include <QTimer>

int main(int argc, char **argv)
{
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("Engram"));
    QApplication::setApplicationName(QStringLiteral("Engram"));
    QApplication::setApplicationVersion(QStringLiteral(ENGRAM_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Knowledge-editing workbench for transformer language models"));
    parser.addHelpOption();
    parser.addVersionOption();
    QCommandLineOption model(QStringList {QStringLiteral("m"), QStringLiteral("model")},
        QStringLiteral("Open the Hugging Face model directory <dir> on start."), QStringLiteral("dir"));
    QCommandLineOption quitAfter(QStringLiteral("quit-after"),
        QStringLiteral("Close the window after <ms> milliseconds (smoke tests)."), QStringLiteral("ms"));
    QCommandLineOption noDemo(
        QStringLiteral("no-demo"), QStringLiteral("Start without opening the embedded demo project."));
    QCommandLineOption project(QStringList {QStringLiteral("p"), QStringLiteral("project")},
        QStringLiteral("Open the project file <file> on start."), QStringLiteral("file"));
    parser.addPositionalArgument(QStringLiteral("project"), QStringLiteral("A project file (.engram) to open."),
        QStringLiteral("[project]"));
    parser.addOption(model);
    parser.addOption(quitAfter);
    parser.addOption(noDemo);
    parser.addOption(project);
    parser.process(app);

    engram::configureThreads(0);
    engram::ui::MainWindow window;
    window.show();
    // A project named on the command line (or double-clicked: the positional argument), a
    // model, or else the demo project: the embedded demo model with its first 50 facts,
    // created on first start in the user's data directory.
    // Installed: <prefix>/bin/engram finds <prefix>/share/engram/demo; a build tree uses the sources.
    const QString installedDemo
        = QDir(QCoreApplication::applicationDirPath()).absoluteFilePath(QStringLiteral("../share/engram/demo/model"));
    const QString demoModel = QFileInfo::exists(installedDemo + QStringLiteral("/config.json"))
        ? QDir::cleanPath(installedDemo)
        : QStringLiteral(ENGRAM_DEMO_MODEL_DIR);
    const QString projectFile
        = parser.isSet(project) ? parser.value(project) : parser.positionalArguments().value(0);
    if (!projectFile.isEmpty()) {
        window.openProject(projectFile);
    } else if (parser.isSet(model)) {
        window.openModel(parser.value(model));
    } else if (!parser.isSet(noDemo) && QFileInfo::exists(demoModel + QStringLiteral("/config.json"))) {
        try {
            const QString demoDir = QFileInfo(demoModel).dir().absolutePath();
            window.openProject(engram::ui::ensureDemoProject(
                demoDir, QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)));
        } catch (const engram::Error &e) {
            QMessageBox::warning(&window, QStringLiteral("Demo project"), QString::fromUtf8(e.what()));
            window.openModel(demoModel);
        }
    }
    if (parser.isSet(quitAfter))
        QTimer::singleShot(parser.value(quitAfter).toInt(), &window, &QWidget::close);
    return app.exec();
}
