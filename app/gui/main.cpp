// engram: the desktop workbench.

#include "core/model/modelinfo.h"
#include "ui/views/mainwindow.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
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
        QStringLiteral("no-demo"), QStringLiteral("Start without opening the embedded demo model."));
    parser.addOption(model);
    parser.addOption(quitAfter);
    parser.addOption(noDemo);
    parser.process(app);

    engram::configureThreads(0);
    engram::ui::MainWindow window;
    window.show();
    // The embedded demo model (resources/demo/model) opens unless another model is named.
    const QString demo = QStringLiteral(ENGRAM_DEMO_MODEL_DIR);
    if (parser.isSet(model))
        window.openModel(parser.value(model));
    else if (!parser.isSet(noDemo) && QFileInfo::exists(demo + QStringLiteral("/config.json")))
        window.openModel(demo);
    if (parser.isSet(quitAfter))
        QTimer::singleShot(parser.value(quitAfter).toInt(), &window, &QWidget::close);
    return app.exec();
}
