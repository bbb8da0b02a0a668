#include "ui/views/scorespanel.h"

#include "ui/plots/qcustomplot.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QScrollBar>
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
    m_caption = new QLabel(this);
    m_caption->setObjectName(QStringLiteral("scoresCaption"));
    m_caption->setWordWrap(true);
    m_scoreNow = new QPushButton(tr("&Score now"), this);
    m_scoreNow->setObjectName(QStringLiteral("scoresScoreNow"));
    m_scoreNow->setToolTip(tr("Score the edited facts (and the project's other facts) on the base model and on the "
                              "model as the history gives it now"));
    connect(m_scoreNow, &QPushButton::clicked, this, &ScoresPanel::scoreRequested);
    m_model = new QStandardItemModel(0, 10, this);
    m_model->setHorizontalHeaderLabels(
        {tr("Model"), tr("Score"), tr("ES"), tr("PS"), tr("NS"), tr("EM"), tr("PM"), tr("NM"), tr("GE"), tr("Kept")});
    const QStringList tips {tr("Which model the row scores"), tr("Harmonic mean of ES, PS and NS"),
        tr("Efficacy: % of edited facts whose new object beats the true one on the edit prompt"),
        tr("Paraphrase: the same on paraphrased prompts"),
        tr("Neighbourhood: % of prompts about other subjects that still prefer the true object"),
        tr("Efficacy magnitude: mean p(new) \u2212 p(true) on the edit prompt (\u00d7100)"),
        tr("Paraphrase magnitude"), tr("Neighbourhood magnitude: mean p(true) \u2212 p(new) on neighbour prompts"),
        tr("Generation entropy (fluency), when scored"),
        tr("Kept: % of the project's unedited facts whose true object the model still answers")};
    for (int c = 0; c < tips.size(); ++c)
        m_model->setHeaderData(c, Qt::Horizontal, tips[c], Qt::ToolTipRole);
    m_table = new QTableView(this);
    m_table->setObjectName(QStringLiteral("editScores"));
    m_table->setModel(m_model);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->verticalHeader()->hide();
    // Exactly the header and the two rows (Before, After); columns as wide as their numbers.
    m_table->horizontalHeader()->setMinimumSectionSize(36);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_table->setFixedHeight(m_table->horizontalHeader()->sizeHint().height()
        + 2 * m_table->verticalHeader()->defaultSectionSize() + 2 * m_table->frameWidth()
        + m_table->horizontalScrollBar()->sizeHint().height() + 2);
    m_table->setToolTip(tr("Efficacy, paraphrase and neighborhood scores (\u00d7100) of the edited facts, on the "
                           "base model and on the current state; Kept: % of the project's unedited facts whose "
                           "true object the model still predicts first"));
    m_warning = new QLabel(this);
    m_warning->setObjectName(QStringLiteral("scoresWarning"));
    m_warning->setWordWrap(true);
    m_warning->setStyleSheet(QStringLiteral("color: #b3261e; font-weight: bold"));
    m_warning->hide();
    m_broken = new QListWidget(this);
    m_broken->setObjectName(QStringLiteral("scoresBroken"));
    m_broken->setToolTip(tr("What the edit broke: unedited facts the model no longer answers, and edited facts "
                            "whose neighbourhood prompts moved toward the new object"));
    m_broken->setMaximumHeight(90);
    m_broken->hide();
    m_chart = new QCustomPlot(this);
    m_chart->setObjectName(QStringLiteral("editChart"));
    m_chart->setMinimumHeight(180);
    // The legend above the bars, in its own row, so it never covers them.
    m_chart->plotLayout()->insertRow(0);
    m_chart->plotLayout()->addElement(0, 0, m_chart->legend);
    m_chart->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    m_chart->legend->setBorderPen(Qt::NoPen);
    m_chart->plotLayout()->setRowStretchFactor(0, 0.001);
    auto *top = new QHBoxLayout;
    top->addWidget(m_caption, 1);
    top->addWidget(m_scoreNow);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(m_table);
    layout->addWidget(m_warning);
    layout->addWidget(m_broken);
    layout->addWidget(m_chart, 1);
    showStale(tr("No scores yet: edit, or score the project's facts now."));
}

QString ScoresPanel::caption() const
{
    return m_caption->text();
}

QString ScoresPanel::warning() const
{
    return m_warning->isHidden() ? QString() : m_warning->text();
}

void ScoresPanel::showStale(const QString &why)
{
    m_stale = true;
    m_model->removeRows(0, m_model->rowCount());
    m_chart->clearPlottables();
    m_chart->legend->setVisible(false);
    m_chart->replot();
    m_chart->hide(); // no empty axes
    m_caption->setText(why);
    m_warning->clear();
    m_warning->hide();
    m_broken->clear();
    m_broken->hide();
}

void ScoresPanel::showDamage(const QString &warning, const QStringList &broken)
{
    m_warning->setText(warning);
    m_warning->setVisible(!warning.isEmpty());
    m_broken->clear();
    m_broken->addItems(broken);
    m_broken->setVisible(!broken.isEmpty());
}

void ScoresPanel::showScores(
    const EvalSummary &pre, const EvalSummary &post, double retentionPre, double retentionPost, const QString &caption)
{
    m_stale = false;
    m_caption->setText(caption);
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
    const bool kept = retentionPre >= 0 && retentionPost >= 0;
    QVector<double> ticks {1, 2, 3};
    // Short labels that fit under narrow bars; the table's header tooltips explain them.
    QVector<QString> labels {tr("ES"), tr("PS"), tr("NS")};
    if (kept) {
        ticks << 4;
        labels << tr("Kept");
    }
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    ticker->addTicks(ticks, labels);
    m_chart->xAxis->setTicker(ticker);
    m_chart->xAxis->setRange(0.4, ticks.size() + 0.6);
    m_chart->yAxis->setRange(0, 105);
    QSharedPointer<QCPAxisTickerFixed> yTicks(new QCPAxisTickerFixed);
    yTicks->setTickStep(25);
    m_chart->yAxis->setTicker(yTicks);
    m_chart->yAxis->setLabel(tr("\u00d7100"));
    auto bars = [&](const EvalSummary &e, double retention, double offset, const QColor &color, const QString &name) {
        auto *b = new QCPBars(m_chart->xAxis, m_chart->yAxis);
        b->setName(name);
        b->setWidth(0.35);
        b->setPen(Qt::NoPen);
        b->setBrush(color);
        QVector<double> keys {1 + offset, 2 + offset, 3 + offset}, values {e.es.mean, e.ps.mean, e.ns.mean};
        if (kept) {
            keys << 4 + offset;
            values << 100 * retention;
        }
        b->setData(keys, values);
    };
    bars(pre, retentionPre, -0.18, QColor(0x9e, 0x9e, 0xb8), tr("before"));
    bars(post, retentionPost, 0.18, QColor(0x5b, 0x3f, 0xa8), tr("after"));
    m_chart->legend->setVisible(true);
    m_chart->show();
    m_chart->replot();
}

} // namespace engram::ui
