#include "ui/plots/traceplot.h"

#include <QFileInfo>
#include <QSvgGenerator>

#include "ui/plots/qcustomplot.h"
#include <QApplication>
#include <QFileInfo>

#include <algorithm>
#include <memory>

namespace engram::ui {

namespace {

QColor kindColour(TraceKind kind)
{
    switch (kind) {
    case TraceKind::Hidden:
        return QColor(84, 39, 143); // purple
    case TraceKind::Mlp:
        return QColor(0, 109, 44); // green
    case TraceKind::Attention:
        return QColor(165, 15, 21); // red
    }
    return Qt::black;
}

QString kindTitle(TraceKind kind)
{
    switch (kind) {
    case TraceKind::Hidden:
        return QStringLiteral("Restoring hidden state");
    case TraceKind::Mlp:
        return QStringLiteral("Restoring MLP output");
    case TraceKind::Attention:
        return QStringLiteral("Restoring attention output");
    }
    return {};
}

QString tokenLabel(const TraceResult &r, std::size_t t)
{
    QString text = QString::fromStdString(r.tokens[t]).replace(QLatin1Char('\n'), QStringLiteral("\\n"));
    const bool subject = static_cast<int64_t>(t) >= r.subjectBegin && static_cast<int64_t>(t) < r.subjectEnd;
    return subject ? text + QStringLiteral("*") : text;
}

} // namespace

QSize tracePlotSize(const TraceResult &result)
{
    const int panels = std::max<int>(1, static_cast<int>(result.matrices.size()));
    const int rows = static_cast<int>(result.tokens.size());
    return QSize(120 + panels * (220 + 4 * result.layers), 110 + 22 * rows);
}

void populateTracePlot(QCustomPlot *plot, const TraceResult &r)
{
    plot->clearPlottables();
    plot->plotLayout()->clear();
    const int rows = static_cast<int>(r.tokens.size());
    auto *title = new QCPTextElement(plot,
        QStringLiteral("p(%1) — clean %2, corrupted %3")
            .arg(QString::fromStdString(r.answer).trimmed())
            .arg(r.highScore, 0, 'f', 3)
            .arg(r.lowScore, 0, 'f', 3),
        QFont(plot->font().family(), 10, QFont::Bold));
    plot->plotLayout()->addElement(0, 0, title);
    auto *row = new QCPLayoutGrid;
    plot->plotLayout()->addElement(1, 0, row);

    QSharedPointer<QCPAxisTickerText> tokenTicker(new QCPAxisTickerText);
    for (int t = 0; t < rows; ++t)
        tokenTicker->addTick(rows - 1 - t, tokenLabel(r, static_cast<std::size_t>(t))); // first token on top

    int column = 0;
    for (const TraceMatrix &m : r.matrices) {
        auto *rect = new QCPAxisRect(plot);
        row->addElement(0, column++, rect);
        rect->axis(QCPAxis::atBottom)->setLabel(QStringLiteral("layer"));
        rect->axis(QCPAxis::atLeft)->setTicker(tokenTicker);
        rect->axis(QCPAxis::atLeft)->setTickLabels(column == 1);
        rect->axis(QCPAxis::atLeft)->setSubTicks(false);
        rect->axis(QCPAxis::atTop)->setVisible(true);
        rect->axis(QCPAxis::atTop)->setTicks(false);
        rect->axis(QCPAxis::atTop)->setLabel(kindTitle(m.kind));

        auto *map = new QCPColorMap(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
        map->data()->setSize(r.layers, rows);
        map->data()->setRange(QCPRange(0, r.layers - 1), QCPRange(0, rows - 1));
        double top = r.lowScore;
        for (int t = 0; t < rows; ++t)
            for (int l = 0; l < r.layers; ++l) {
                const double v = m.at(t, l, r.layers);
                map->data()->setCell(l, rows - 1 - t, v);
                top = std::max(top, v);
            }
        QCPColorGradient gradient;
        gradient.clearColorStops();
        gradient.setColorStopAt(0, Qt::white);
        gradient.setColorStopAt(1, kindColour(m.kind));
        map->setInterpolate(false);
        rect->axis(QCPAxis::atBottom)->setRange(-0.5, r.layers - 0.5);
        rect->axis(QCPAxis::atLeft)->setRange(-0.5, rows - 0.5);

        auto *scale = new QCPColorScale(plot);
        row->addElement(0, column++, scale);
        scale->setType(QCPAxis::atRight);
        scale->axis()->setLabel(QStringLiteral("p(answer)"));
        scale->setBarWidth(10);
        map->setColorScale(scale); // the scale carries gradient and range for the map
        scale->setGradient(gradient);
        // From the corrupted run's probability up to the clean one (or a cell above it).
        top = std::max(top, r.highScore);
        scale->setDataRange(QCPRange(r.lowScore, top > r.lowScore ? top : r.lowScore + 1e-6));
        auto *group = new QCPMarginGroup(plot);
        rect->setMarginGroup(QCP::msTop | QCP::msBottom, group);
        scale->setMarginGroup(QCP::msTop | QCP::msBottom, group);
    }
    plot->replot();
}

QString traceCellText(QCustomPlot *plot, const TraceResult &r, const QPoint &pos)
{
    const auto rows = static_cast<int>(r.tokens.size());
    int matrix = 0;
    for (int i = 0; i < plot->plottableCount(); ++i) {
        auto *map = qobject_cast<QCPColorMap *>(plot->plottable(i));
        if (!map)
            continue;
        const int index = matrix++;
        if (!map->keyAxis()->axisRect()->rect().contains(pos) || index >= static_cast<int>(r.matrices.size()))
            continue;
        const int layer = static_cast<int>(std::lround(map->keyAxis()->pixelToCoord(pos.x())));
        const int row = static_cast<int>(std::lround(map->valueAxis()->pixelToCoord(pos.y())));
        if (layer < 0 || layer >= r.layers || row < 0 || row >= rows)
            return {};
        const int token = rows - 1 - row;
        const TraceMatrix &m = r.matrices[static_cast<std::size_t>(index)];
        const bool subject = token >= r.subjectBegin && token < r.subjectEnd;
        return QStringLiteral("token '%1' (#%2%3), layer %4, %5: p = %6 (corrupted %7, clean %8)")
            .arg(QString::fromStdString(r.tokens[static_cast<std::size_t>(token)]))
            .arg(token)
            .arg(subject ? QStringLiteral(", subject") : QString())
            .arg(layer)
            .arg(kindTitle(m.kind))
            .arg(m.at(token, layer, r.layers), 0, 'f', 3)
            .arg(r.lowScore, 0, 'f', 3)
            .arg(r.highScore, 0, 'f', 3);
    }
    return {};
}

bool savePlot(QCustomPlot *plot, const QString &file, const QSize &size)
{
    if (file.endsWith(QStringLiteral(".pdf"), Qt::CaseInsensitive))
        return plot->savePdf(file, size.width(), size.height());
    if (!file.endsWith(QStringLiteral(".svg"), Qt::CaseInsensitive))
        return plot->savePng(file, size.width(), size.height());
    QSvgGenerator svg;
    svg.setFileName(file);
    svg.setSize(size);
    svg.setViewBox(QRect(QPoint(0, 0), size));
    svg.setTitle(QStringLiteral("Causal trace"));
    QCPPainter painter;
    if (!painter.begin(&svg))
        return false;
    plot->toPainter(&painter, size.width(), size.height());
    return painter.end() && QFileInfo(file).size() > 0;
}

} // namespace engram::ui
