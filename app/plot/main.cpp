// engram-plot: draws what engram-cli wrote as JSON, so engram-cli itself stays free of Qt.
//   engram-plot TRACE.json --out heatmaps.png|svg|pdf
// TRACE.json is `engram-cli trace --prompt … --subject … --json TRACE.json` (one fact).
//   engram-plot SEQUENTIAL.csv --out health.png|svg|pdf
// SEQUENTIAL.csv is bench_sequential's --csv output: ES/PS/NS, retention, other facts and
// fluency over the runs, a line per method.

#include "core/trace/causaltrace.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"
#include "ui/plots/healthplot.h"
#include "ui/plots/qcustomplot.h"
#include "ui/plots/traceplot.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>

#include <cstdio>

int main(int argc, char **argv)
{
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen"); // no window: it only renders files
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("engram-plot"));
    QApplication::setApplicationVersion(QStringLiteral(ENGRAM_VERSION));
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Draws the causal-tracing heatmaps of a trace written by 'engram-cli trace --json', or the sequential-editing "
        "measures of bench_sequential's CSV, as PNG, SVG or PDF."));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(QStringLiteral("input"),
        QStringLiteral("The trace JSON file, or bench_sequential's CSV (by its .csv extension)."));
    QCommandLineOption out(QStringList {QStringLiteral("o"), QStringLiteral("out")},
        QStringLiteral("Image to write; the extension (.png, .svg, .pdf) chooses the format."), QStringLiteral("file"));
    parser.addOption(out);
    parser.process(app);
    if (parser.positionalArguments().size() != 1 || !parser.isSet(out)) {
        std::fprintf(stderr, "usage: engram-plot TRACE.json|SEQUENTIAL.csv --out FILE.png|svg|pdf\n");
        return 2;
    }
    const QString file = parser.value(out);
    const QString suffix = QFileInfo(file).suffix().toLower();
    if (suffix != QLatin1String("png") && suffix != QLatin1String("svg") && suffix != QLatin1String("pdf")) {
        std::fprintf(stderr, "engram-plot: %s: the extension must be .png, .svg or .pdf\n", qPrintable(file));
        return 2;
    }
    try {
        const std::string in = parser.positionalArguments().front().toStdString();
        QCustomPlot plot;
        QSize size;
        if (QFileInfo(QString::fromStdString(in)).suffix().toLower() == QLatin1String("csv")) {
            size = QSize(1200, 720);
            plot.resize(size);
            engram::ui::populateSequentialPlot(&plot, engram::ui::readSequentialCsv(in));
        } else {
            const engram::TraceResult trace = engram::traceResultFromJson(engram::readTextFile(in), in);
            size = engram::ui::tracePlotSize(trace);
            plot.resize(size);
            engram::ui::populateTracePlot(&plot, trace);
        }
        if (!engram::ui::savePlot(&plot, file, size)) {
            std::fprintf(stderr, "engram-plot: could not write %s\n", qPrintable(QFileInfo(file).absoluteFilePath()));
            return 4;
        }
    } catch (const engram::Error &e) {
        std::fprintf(stderr, "engram-plot: %s\n", e.what());
        return 3;
    }
    std::printf("plot written to %s\n", qPrintable(file));
    return 0;
}
