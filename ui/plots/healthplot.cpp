#include "ui/plots/healthplot.h"

#include "core/util/error.h"
#include "core/util/fileutil.h"
#include "ui/plots/qcustomplot.h"

#include <algorithm>
#include <functional>
#include <iterator>
#include <sstream>

namespace engram::ui {

namespace {

const QColor kEs(31, 119, 180); // blue
const QColor kRetention(44, 160, 44); // green
const QColor kFluency(255, 127, 14); // orange
const QColor kGrowth(127, 127, 127); // grey
const QColor kHeld(214, 39, 40); // red

QCPGraph *line(QCustomPlot *plot, QCPAxis *value, const QString &name, const QColor &colour, const QVector<double> &x,
    const QVector<double> &y)
{
    auto *g = plot->addGraph(plot->xAxis, value);
    g->setName(name);
    g->setPen(QPen(colour, 2));
    g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, colour, Qt::white, 6));
    g->setData(x, y);
    return g;
}

} // namespace

std::optional<HealthPoint> healthPoint(const EditRun &run)
{
    const RunHealth &h = run.summary.health;
    if (!h.measured())
        return std::nullopt;
    HealthPoint p;
    p.run = run.id;
    p.esSoFar = h.esSoFar;
    const double ratio = h.retentionRatio();
    p.retention = ratio >= 0 ? 100 * ratio : -1;
    p.fluency = h.fluency >= 0 && h.fluencyBase > 0 ? 100 * h.fluency / h.fluencyBase : -1;
    if (!h.cumulativeRelativeNorms.empty())
        p.growth = *std::max_element(h.cumulativeRelativeNorms.begin(), h.cumulativeRelativeNorms.end());
    return p;
}

void populateHealthPlot(QCustomPlot *plot, const std::vector<EditRun> &runs, const HealthGuard &guard)
{
    plot->clearPlottables();
    plot->clearItems();
    plot->yAxis2->setVisible(true);
    plot->xAxis->setLabel(QObject::tr("run"));
    plot->yAxis->setLabel(QObject::tr("%"));
    plot->yAxis2->setLabel(QObject::tr("max \u2016W\u2212W\u2080\u2016/\u2016W\u2080\u2016"));

    QVector<double> x, es, retention, fluency, growth, heldX, heldEs, heldRetention;
    double lastRun = 1;
    for (const EditRun &r : runs) {
        const auto p = healthPoint(r);
        if (!p)
            continue;
        lastRun = std::max(lastRun, double(r.id));
        const auto value = [](double v) { return v >= 0 ? v : qQNaN(); };
        if (r.status == RunStatus::Applied) {
            x << double(r.id);
            es << value(p->esSoFar);
            retention << value(p->retention);
            fluency << value(p->fluency);
            growth << value(p->growth);
        } else if (r.status == RunStatus::Held) {
            heldX << double(r.id);
            heldEs << value(p->esSoFar);
            heldRetention << value(p->retention);
        }
    }
    const bool any = !x.isEmpty() || !heldX.isEmpty();
    if (!any) {
        auto *text = new QCPItemText(plot);
        text->position->setType(QCPItemPosition::ptAxisRectRatio);
        text->position->setCoords(0.5, 0.5);
        text->setText(QObject::tr("The model's health after each edit run appears here"));
        text->setColor(Qt::darkGray);
    }
    line(plot, plot->yAxis, QObject::tr("ES so far"), kEs, x, es);
    line(plot, plot->yAxis, QObject::tr("retention"), kRetention, x, retention);
    line(plot, plot->yAxis, QObject::tr("fluency"), kFluency, x, fluency);
    auto *norms = line(plot, plot->yAxis2, QObject::tr("norm growth (right axis)"), kGrowth, x, growth);
    norms->setPen(QPen(kGrowth, 1.5, Qt::DotLine));
    if (!heldX.isEmpty()) {
        QVector<double> hx = heldX + heldX, hy = heldEs + heldRetention;
        auto *held = plot->addGraph();
        held->setName(QObject::tr("held run"));
        held->setLineStyle(QCPGraph::lsNone);
        held->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCross, kHeld, 10));
        held->setPen(QPen(kHeld, 2));
        held->setData(hx, hy, /*alreadySorted=*/false);
    }
    // The guard's thresholds: a run whose values fall below them is held.
    const auto threshold = [&](double y, const QColor &colour) {
        auto *t = new QCPItemStraightLine(plot);
        t->point1->setCoords(0, y);
        t->point2->setCoords(1, y);
        t->setPen(QPen(colour, 1, Qt::DashLine));
    };
    if (guard.minRetention > 0)
        threshold(100 * guard.minRetention, kRetention);
    if (guard.minEsSoFar > 0)
        threshold(guard.minEsSoFar, kEs);

    plot->xAxis->setRange(0.5, lastRun + 0.5);
    QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
    ticker->setTickStep(1);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    plot->xAxis->setTicker(ticker);
    double low = 0;
    for (const auto *v : {&es, &retention, &fluency, &heldEs, &heldRetention})
        for (double y : *v)
            if (!qIsNaN(y))
                low = std::min(low, y);
    double high = 105;
    for (double y : fluency)
        if (!qIsNaN(y))
            high = std::max(high, y + 5);
    plot->yAxis->setRange(low, high);
    double top = 0;
    for (double g : growth)
        if (!qIsNaN(g))
            top = std::max(top, g);
    plot->yAxis2->setRange(0, top > 0 ? 1.1 * top : 1);
    // The legend in one row above the chart, where it covers nothing.
    if (plot->axisRect()->insetLayout()->elementCount() > 0 && plot->axisRect()->insetLayout()->elementAt(0) == plot->legend) {
        plot->axisRect()->insetLayout()->take(plot->legend);
        plot->plotLayout()->insertRow(0);
        plot->plotLayout()->addElement(0, 0, plot->legend);
        plot->plotLayout()->setRowStretchFactor(0, 0.001);
        plot->legend->setWrap(3);
        plot->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
        plot->legend->setBorderPen(Qt::NoPen);
        plot->legend->setMargins(QMargins(2, 0, 2, 0));
    }
    plot->legend->setVisible(any);
    plot->legend->setFont(QFont(plot->font().family(), 8));
    plot->replot();
}

std::vector<SequentialRow> readSequentialCsv(const std::string &file)
{
    std::istringstream in(readTextFile(file));
    std::string line;
    if (!std::getline(in, line))
        throw Error(ErrorKind::CorruptFile, file + " is empty; expected bench_sequential's CSV");
    if (!line.empty() && line.back() == '\r')
        line.pop_back();
    const auto split = [](const std::string &text) {
        std::vector<std::string> cells;
        std::string cell;
        std::istringstream s(text);
        while (std::getline(s, cell, ','))
            cells.push_back(cell);
        if (!text.empty() && text.back() == ',')
            cells.emplace_back();
        return cells;
    };
    const std::vector<std::string> header = split(line);
    const auto column = [&](const char *name) {
        const auto it = std::find(header.begin(), header.end(), name);
        if (it == header.end())
            throw Error(ErrorKind::CorruptFile,
                file + " has no column '" + name + "'; expected bench_sequential's CSV (method, run, es, ps, ns, "
                                                   "retention_rel, other_facts, fluency, fluency_base, ...)");
        return static_cast<std::size_t>(it - header.begin());
    };
    const std::size_t method = column("method"), run = column("run"), es = column("es"), ps = column("ps"),
                      ns = column("ns"), retention = column("retention_rel"), other = column("other_facts"),
                      fluency = column("fluency"), fluencyBase = column("fluency_base");
    std::vector<SequentialRow> rows;
    for (int number = 2; std::getline(in, line); ++number) {
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.empty())
            continue;
        const auto cells = split(line);
        const auto value = [&](std::size_t i, const char *name) {
            const std::string text = i < cells.size() ? cells[i] : std::string();
            char *end = nullptr;
            const double v = std::strtod(text.c_str(), &end);
            if (text.empty() || *end != '\0')
                throw Error(ErrorKind::CorruptFile,
                    file + ", line " + std::to_string(number) + ": " + name + " is '" + text + "', not a number");
            return v;
        };
        SequentialRow r;
        r.method = method < cells.size() ? cells[method] : std::string();
        if (r.method.empty())
            throw Error(ErrorKind::CorruptFile, file + ", line " + std::to_string(number) + ": no method");
        r.run = static_cast<int>(value(run, "run"));
        r.es = value(es, "es");
        r.ps = value(ps, "ps");
        r.ns = value(ns, "ns");
        r.retention = value(retention, "retention_rel");
        r.otherFacts = value(other, "other_facts");
        r.fluency = value(fluency, "fluency");
        r.fluencyBase = value(fluencyBase, "fluency_base");
        rows.push_back(std::move(r));
    }
    if (rows.empty())
        throw Error(ErrorKind::CorruptFile, file + " holds no runs");
    return rows;
}

void populateSequentialPlot(QCustomPlot *plot, const std::vector<SequentialRow> &rows)
{
    plot->clearPlottables();
    plot->plotLayout()->clear();
    std::vector<std::string> methods; // in the order they first appear
    for (const auto &r : rows)
        if (std::find(methods.begin(), methods.end(), r.method) == methods.end())
            methods.push_back(r.method);
    const QColor palette[] = {QColor(31, 119, 180), QColor(214, 39, 40), QColor(44, 160, 44), QColor(255, 127, 14),
        QColor(148, 103, 189), QColor(140, 86, 75), QColor(227, 119, 194), QColor(127, 127, 127)};
    struct Panel {
        QString title;
        std::function<double(const SequentialRow &)> value;
    };
    const std::vector<Panel> panels = {
        {QObject::tr("ES over all edits so far"), [](const SequentialRow &r) { return r.es; }},
        {QObject::tr("PS (paraphrases)"), [](const SequentialRow &r) { return r.ps; }},
        {QObject::tr("NS (neighbourhood)"), [](const SequentialRow &r) { return r.ns; }},
        {QObject::tr("Retention, % of the base model's"), [](const SequentialRow &r) { return 100 * r.retention; }},
        {QObject::tr("Edited subjects' other facts, %"), [](const SequentialRow &r) { return 100 * r.otherFacts; }},
        {QObject::tr("Fluency, % of the base model's"),
            [](const SequentialRow &r) { return r.fluencyBase > 0 ? 100 * r.fluency / r.fluencyBase : qQNaN(); }},
    };
    int lastRun = 1;
    for (const auto &r : rows)
        lastRun = std::max(lastRun, r.run);
    // The panels in a grid of their own, the legend in one row under them.
    plot->setAutoAddPlottableToLegend(false);
    auto *grid = new QCPLayoutGrid;
    plot->plotLayout()->addElement(0, 0, grid);
    auto *legend = new QCPLegend;
    plot->plotLayout()->addElement(1, 0, legend); // in the plot before graphs join it
    plot->plotLayout()->setRowStretchFactor(1, 0.001);
    legend->setLayer(QStringLiteral("legend"));
    for (std::size_t p = 0; p < panels.size(); ++p) {
        auto *rect = new QCPAxisRect(plot);
        grid->addElement(static_cast<int>(p / 3) * 2, static_cast<int>(p % 3),
            new QCPTextElement(plot, panels[p].title, QFont(plot->font().family(), 9, QFont::Bold)));
        grid->addElement(static_cast<int>(p / 3) * 2 + 1, static_cast<int>(p % 3), rect);
        rect->axis(QCPAxis::atBottom)->setLabel(QObject::tr("run"));
        rect->axis(QCPAxis::atBottom)->setRange(0.5, lastRun + 0.5);
        double low = 100, high = 0;
        for (std::size_t m = 0; m < methods.size(); ++m) {
            QVector<double> x, y;
            for (const auto &r : rows)
                if (r.method == methods[m]) {
                    x << r.run;
                    y << panels[p].value(r);
                    if (!qIsNaN(y.back())) {
                        low = std::min(low, y.back());
                        high = std::max(high, y.back());
                    }
                }
            auto *g = plot->addGraph(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
            const QColor colour = palette[m % std::size(palette)];
            g->setPen(QPen(colour, 2));
            g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, colour, colour, 4));
            g->setData(x, y);
            g->setName(QString::fromStdString(methods[m]));
            if (p == 0) // one legend for all panels (the plot's own went with the layout)
                g->addToLegend(legend);
        }
        const double pad = std::max(2.0, 0.08 * (high - low));
        rect->axis(QCPAxis::atLeft)->setRange(std::max(0.0, low - pad), std::min(std::max(high + pad, low + 5), 110.0));
    }
    legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    legend->setBorderPen(Qt::NoPen);
    for (int row : {0, 2})
        grid->setRowStretchFactor(row, 0.001);
    plot->replot();
}

} // namespace engram::ui
