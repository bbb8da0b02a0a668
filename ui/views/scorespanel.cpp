#include "ui/views/scorespanel.h"

#include "ui/plots/qcustomplot.h"

#include <QHeaderView>
#include <QStandardItemModel>
#include <QTableView>
#include <QVBoxLayout>

#include <cmath>

namespace engram::ui {

namespace {
QString pct(double v)
{
    return std::isnan(v) ? QStringLiteral("\u2013") : QString::number(v, 'f', 1);
}
} // namespace

ScoresPanel::ScoresPanel(QWidget *parent)
    : QGroupBox(tr("Before / after"), parent)
{
    m_model = new QStandardItemModel(0, 10, this);
    m_model->setHorizontalHeaderLabels(
        {tr("Model"), tr("Score"), tr("ES"), tr("PS"), tr("NS"), tr("EM"), tr("PM"), tr("NM"), tr("GE"), tr("Kept")});
    m_table = new QTableView(this);
    m_table->setObjectName(QStringLiteral("editScores"));
    m_table->setModel(m_model);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->verticalHeader()->hide();
    m_table->setMaximumHeight(96);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    m_table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    m_table->setToolTip(tr("Efficacy, paraphrase and neighborhood scores (\u00d7100) of the edited facts, on the "
                           "base model and on the current state; Kept: % of the project's unedited facts whose "
                           "true object the model still predicts first"));
    m_chart = new QCustomPlot(this);
    m_chart->setObjectName(QStringLiteral("editChart"));
    m_chart->setMinimumHeight(180);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_table);
    layout->addWidget(m_chart, 1);
}

void ScoresPanel::showScores(const EvalSummary &pre, const EvalSummary &post, double retentionPre, double retentionPost)
{
    m_model->removeRows(0, m_model->rowCount());
    auto row = [&](const QString &label, const EvalSummary &e, double retention) {
        m_model->appendRow({new QStandardItem(label), new QStandardItem(pct(e.score)),
            new QStandardItem(pct(e.es.mean)), new QStandardItem(pct(e.ps.mean)), new QStandardItem(pct(e.ns.mean)),
            new QStandardItem(pct(e.em.mean)), new QStandardItem(pct(e.pm.mean)), new QStandardItem(pct(e.nm.mean)),
            new QStandardItem(e.fluency.count ? pct(e.fluency.mean) : QStringLiteral("\u2013")),
            new QStandardItem(retention < 0 ? QStringLiteral("\u2013") : pct(100 * retention))});
    };
    row(tr("Before"), pre, retentionPre); // the base model
    row(tr("After"), post, retentionPost);

    m_chart->clearPlottables();
    QVector<double> ticks {1, 2, 3};
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    ticker->addTicks(ticks, {tr("Efficacy"), tr("Paraphrase"), tr("Neighborhood")});
    m_chart->xAxis->setTicker(ticker);
    m_chart->xAxis->setRange(0.4, 3.6);
    m_chart->yAxis->setRange(0, 125);
    m_chart->yAxis->setLabel(tr("score (\u00d7100)"));
    auto bars = [&](const EvalSummary &e, double offset, const QColor &color, const QString &name) {
        auto *b = new QCPBars(m_chart->xAxis, m_chart->yAxis);
        b->setName(name);
        b->setWidth(0.35);
        b->setPen(Qt::NoPen);
        b->setBrush(color);
        b->setData({1 + offset, 2 + offset, 3 + offset}, {e.es.mean, e.ps.mean, e.ns.mean});
    };
    bars(pre, -0.18, QColor(0x9e, 0x9e, 0xb8), tr("before"));
    bars(post, 0.18, QColor(0x5b, 0x3f, 0xa8), tr("after"));
    m_chart->legend->setVisible(true);
    m_chart->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignHCenter);
    m_chart->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    m_chart->replot();
}

} // namespace engram::ui
