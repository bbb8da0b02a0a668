#include "ui/views/locateview.h"

#include "core/edit/presets.h"
#include "core/jobs/projectjobs.h"
#include "core/util/error.h"
#include "ui/jobs/jobcontroller.h"
#include "ui/util/modelchoice.h"
#include "ui/models/projectdocument.h"
#include "ui/plots/qcustomplot.h"

#include <QComboBox>
#include <QFormLayout>
#include <QProgressBar>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include <memory>

namespace engram::ui {

LocateView::LocateView(ProjectDocument *document, JobController *jobs, QWidget *parent)
    : QWidget(parent)
    , m_document(document)
    , m_jobs(jobs)
{
    setObjectName(QStringLiteral("locateView"));
    m_facts = new QSpinBox(this);
    m_facts->setRange(1, 10000);
    m_facts->setValue(20);
    m_facts->setToolTip(
        tr("How many of the project's enabled facts to trace (facts the model gets wrong are skipped)"));
    m_samples = new QSpinBox(this);
    m_samples->setRange(1, 100);
    m_samples->setValue(5);
    m_samples->setToolTip(tr("Noise samples per restoration (the reference uses 10)"));
    m_modelChoice = newModelChoice(this, QStringLiteral("locateModel"),
        tr("Where the checkpoint keeps the facts before any edit (what to edit), or where the "
                                 "edited model keeps them now (edited facts expected to give their new object)"));
    m_progress = new QProgressBar(this);
    m_progress->setObjectName(QStringLiteral("locateProgress"));
    m_progress->setRange(0, 1000);
    m_progress->setValue(0);
    m_progress->setTextVisible(true);
    m_progress->setFormat(QString());
    m_run = new QPushButton(tr("&Locate"), this);
    m_run->setObjectName(QStringLiteral("locateRun"));
    m_run->setToolTip(tr("Causal traces of the facts on the unedited model, averaged (a job)"));
    m_use = new QPushButton(tr("&Use for Editing"), this);
    m_use->setObjectName(QStringLiteral("locateUse"));
    m_use->setToolTip(tr("Put the suggested layers into the Edit tab"));
    m_use->setEnabled(false);
    m_summary = new QLabel(tr("Trace the project's facts to see which layers store them."), this);
    m_summary->setObjectName(QStringLiteral("locateSummary"));
    m_summary->setWordWrap(true);
    m_plot = new QCustomPlot(this);
    m_plot->setObjectName(QStringLiteral("locatePlot"));
    m_plot->setMinimumHeight(260);

    auto *form = new QFormLayout;
    form->addRow(tr("Facts:"), m_facts);
    form->addRow(tr("Noise samples:"), m_samples);
    form->addRow(tr("Model:"), m_modelChoice);
    auto *bar = new QHBoxLayout;
    bar->addLayout(form);
    bar->addWidget(m_run);
    bar->addWidget(m_use);
    bar->addWidget(m_progress, 1);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(bar);
    layout->addWidget(m_summary);
    layout->addWidget(m_plot, 1);

    connect(m_run, &QPushButton::clicked, this, &LocateView::startTrace);
    connect(m_jobs, &JobController::progress, this, [this](const JobProgress &p) {
        if (p.id != m_job || m_job == 0)
            return;
        m_progress->setValue(static_cast<int>(1000 * p.fraction));
        m_progress->setFormat(p.etaSeconds >= 0 ? tr("%1 \u2014 %2 s left").arg(p.stage).arg(qRound(p.etaSeconds))
                                                : p.stage);
    });
    connect(m_use, &QPushButton::clicked, this, [this] { Q_EMIT layersChosen(suggestedLayers()); });
}

void LocateView::fitSummary()
{
    // A word-wrapped label in a layout with an expanding plot may get one line's height: give
    // it the height its text needs at its width.
    // The plot spans the same width and is laid out by now; the label may not be yet.
    const int width = std::max(200, std::max(m_summary->width(), m_plot->width()));
    m_summary->setMinimumHeight(m_summary->heightForWidth(width) + 2);
}

void LocateView::resizeEvent(QResizeEvent *event)
{
    QWidget::resizeEvent(event);
    fitSummary();
}

QString LocateView::suggestedLayers() const
{
    if (!m_effects || m_effects->suggestedFirst < 0)
        return {};
    QStringList layers;
    for (int l = m_effects->suggestedFirst; l <= m_effects->suggestedLast; ++l)
        layers << QString::number(l);
    return layers.join(QLatin1Char(','));
}

void LocateView::startTrace()
{
    if (!m_document->isOpen())
        return;
    AverageTraceJobSpec spec;
    spec.limit = m_facts->value();
    spec.params.trace.noise.samples = m_samples->value();
    spec.params.trace.noise.scale = 0; // 3σ of the traced subjects
    spec.currentModel = m_modelChoice->currentData().toBool();
    const std::filesystem::path file = m_document->project()->file();
    const QString name = tr("Locate facts (%n trace(s))", nullptr, m_facts->value());
    m_tracedCurrent = spec.currentModel;
    m_run->setEnabled(false);
    m_progress->setValue(0);
    m_progress->setFormat(tr("queued"));
    m_job = m_jobs->submit(
        name, [file, spec](JobContext &context) { return runAverageTraceJob(file, spec, context); }, this,
        [this](const AverageEffects &result) {
            m_job = 0;
            m_run->setEnabled(true);
            m_progress->setValue(1000);
            m_progress->setFormat(tr("done"));
            m_effects = result;
            showEffects();
            Q_EMIT traced();
        },
        [this](JobOutcome outcome, const QString &message) {
            m_job = 0;
            m_run->setEnabled(true);
            m_progress->setValue(0);
            m_progress->setFormat(QString());
            m_summary->setText(outcome == JobOutcome::Cancelled ? tr("Cancelled.") : tr("Locate failed: %1").arg(message));
        });
    m_summary->setText(tr("Tracing\u2026 (progress in the Edit tab and the status bar)"));
}

void LocateView::showEffects()
{
    const AverageEffects &e = *m_effects;
    m_plot->clearPlottables();
    m_plot->clearItems();
    QVector<double> x;
    for (int l = 0; l < e.layers; ++l)
        x << l;
    auto kindIndex = [&](TraceKind k) {
        for (std::size_t i = 0; i < e.kinds.size(); ++i)
            if (e.kinds[i] == k)
                return static_cast<int>(i);
        return -1;
    };
    auto addLine = [&](const std::vector<EffectEstimate> &row, const QColor &color, const QString &name, bool band) {
        QVector<double> mean, lo, hi;
        for (const auto &v : row) {
            mean << v.mean;
            lo << v.mean - v.ci95;
            hi << v.mean + v.ci95;
        }
        if (band) {
            auto *upper = m_plot->addGraph();
            upper->setData(x, hi);
            upper->setPen(Qt::NoPen);
            upper->removeFromLegend();
            auto *lower = m_plot->addGraph();
            lower->setData(x, lo);
            lower->setPen(Qt::NoPen);
            QColor fill = color;
            fill.setAlpha(40);
            upper->setBrush(fill);
            upper->setChannelFillGraph(lower);
            lower->removeFromLegend();
        }
        auto *g = m_plot->addGraph();
        g->setName(name);
        g->setData(x, mean);
        g->setPen(QPen(color, 2));
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 5));
    };
    const auto last = static_cast<int>(TokenCategory::LastSubject);
    const auto lastToken = static_cast<int>(TokenCategory::LastToken);
    if (int k = kindIndex(TraceKind::Mlp); k >= 0)
        addLine(e.effects[k][last], QColor(0x2e, 0x7d, 0x32), tr("MLP, last subject token"), true);
    if (int k = kindIndex(TraceKind::Hidden); k >= 0)
        addLine(e.effects[k][last], QColor(0x5b, 0x3f, 0xa8), tr("hidden state, last subject token"), false);
    if (int k = kindIndex(TraceKind::Attention); k >= 0)
        addLine(e.effects[k][lastToken], QColor(0xc6, 0x28, 0x28), tr("attention, last token"), false);
    if (!e.severed.mlpSevered.empty())
        addLine(e.severed.mlpSevered, QColor(0x9e, 0x9e, 0x9e), tr("hidden state with MLP severed"), false);
    if (e.suggestedFirst >= 0) {
        auto *rect = new QCPItemRect(m_plot);
        rect->topLeft->setCoords(e.suggestedFirst - 0.4, 1.05);
        rect->bottomRight->setCoords(e.suggestedLast + 0.4, -0.05);
        rect->setPen(Qt::NoPen);
        rect->setBrush(QColor(0xff, 0xc1, 0x07, 50));
    }
    m_plot->xAxis->setLabel(tr("layer"));
    m_plot->yAxis->setLabel(tr("average indirect effect on p(answer)"));
    m_plot->xAxis->setRange(-0.5, e.layers - 0.5);
    // Every line and band in view with a margin, so the 95 % bands are not cut at the edges.
    m_plot->yAxis->rescale(/*onlyVisiblePlottables=*/false);
    const QCPRange r = m_plot->yAxis->range();
    const double pad = std::max(0.02, 0.08 * r.size());
    m_plot->yAxis->setRange(std::min(0.0, r.lower - pad), r.upper + pad);
    m_plot->legend->setBrush(QColor(255, 255, 255, 220));
    m_plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    m_plot->legend->setVisible(true);
    m_plot->replot();
    m_use->setEnabled(e.suggestedFirst >= 0);
    // Why the suggestion and the Edit tab's preset may differ.
    QString presetNote;
    try {
        const EditPreset preset = editPresetForCheckpoint(m_document->project()->model().path);
        QStringList layers;
        for (int l : preset.memit.layers)
            layers << QString::number(l);
        if (layers.join(QLatin1Char(',')) != suggestedLayers())
            presetNote = tr(" The Edit tab's preset uses layers %1 (%2): presets are chosen by measuring edits, and "
                            "MEMIT spreads a change over several layers up to the causal peak; Use for Editing puts "
                            "this suggestion there instead.")
                             .arg(layers.join(QLatin1Char(',')), QString::fromStdString(preset.name));
    } catch (const Error &) {
        // No preset to compare with (config unreadable now): say nothing about it.
    }
    m_summary->setText(tr("%1: %2 fact(s) traced, %3 skipped (predicted wrongly); p(answer) clean %4, corrupted "
                          "%5. Suggested MEMIT layers: %6 (shaded).")
                           .arg(m_tracedCurrent ? tr("Current model") : tr("Checkpoint as stored"))
                           .arg(e.traced)
                           .arg(e.skipped.size())
                           .arg(e.meanHighScore, 0, 'f', 3)
                           .arg(e.meanLowScore, 0, 'f', 3)
                           .arg(suggestedLayers().isEmpty() ? tr("none") : suggestedLayers())
        + presetNote);
    fitSummary();
}

} // namespace engram::ui
