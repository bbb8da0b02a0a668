#include "ui/views/traceview.h"

#include "ui/util/modelchoice.h"

#include "core/jobs/projectjobs.h"
#include "core/model/modelsession.h"
#include "core/util/error.h"
#include "ui/plots/qcustomplot.h"
#include "ui/plots/traceplot.h"

#include <QComboBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QShortcut>
#include <QSpinBox>
#include <QToolTip>
#include <QVBoxLayout>

namespace engram::ui {

TraceView::TraceView(JobController *jobs, QWidget *parent)
    : QWidget(parent)
    , m_jobs(jobs)
{
    setObjectName(QStringLiteral("traceView"));
    m_prompt = new QLineEdit(this);
    m_prompt->setObjectName(QStringLiteral("tracePrompt"));
    m_prompt->setPlaceholderText(tr("A prompt the model completes with a fact, e.g. \"Oscar Koutex was born in\""));
    m_prompt->setToolTip(tr("The full prompt, subject included; the model's own next token is traced"));
    m_subject = new QLineEdit(this);
    m_subject->setObjectName(QStringLiteral("traceSubject"));
    m_subject->setPlaceholderText(tr("The subject as it appears in the prompt"));
    m_subject->setToolTip(tr("Its token embeddings are corrupted with noise: 3\u03c3 of the subjects' token "
                             "embeddings (the open project's subjects, else this one)"));
    m_samples = new QSpinBox(this);
    m_samples->setRange(1, 100);
    m_samples->setValue(10);
    m_samples->setToolTip(tr("Noise samples per restoration (the reference uses 10)"));
    m_modelChoice = newModelChoice(this, QStringLiteral("traceModel"),
        tr("Trace the checkpoint without the project's edits, or the model as the project's "
                                 "history makes it: an edited fact then traces to its new object"));
    m_modelChoice->setEnabled(false);

    m_run = new QPushButton(tr("&Trace"), this);
    m_run->setObjectName(QStringLiteral("traceRun"));
    m_run->setToolTip(tr("Restore each (token, layer) state in turn (Ctrl+Return)"));
    m_cancelButton = new QPushButton(tr("Cancel"), this);
    m_cancelButton->setObjectName(QStringLiteral("traceCancel"));
    m_export = new QPushButton(tr("&Export\u2026"), this);
    m_export->setObjectName(QStringLiteral("traceExport"));
    m_export->setToolTip(tr("Save the heatmaps as PNG, SVG or PDF"));
    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 1000);
    m_progress->setTextVisible(false);
    m_status = new QLabel(tr("Open a model, enter a prompt and its subject, then Trace."), this);
    m_status->setObjectName(QStringLiteral("traceStatus"));
    m_status->setWordWrap(true);
    m_plot = new QCustomPlot(this);
    m_plot->setObjectName(QStringLiteral("tracePlot"));
    m_plot->setMinimumHeight(260);

    auto *form = new QFormLayout;
    form->addRow(tr("&Prompt:"), m_prompt);
    form->addRow(tr("&Subject:"), m_subject);
    form->addRow(tr("Noise samples:"), m_samples);
    form->addRow(tr("&Model:"), m_modelChoice);
    auto *buttons = new QHBoxLayout;
    buttons->addWidget(m_run);
    buttons->addWidget(m_cancelButton);
    buttons->addWidget(m_progress, 1);
    buttons->addWidget(m_export);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addLayout(buttons);
    layout->addWidget(m_status);
    layout->addWidget(m_plot, 1);

    connect(m_jobs, &JobController::progress, this, &TraceView::onProgress);
    // Exact values under the mouse.
    m_plot->setMouseTracking(true);
    connect(m_plot, &QCustomPlot::mouseMove, this, [this](QMouseEvent *event) {
        if (!m_result)
            return;
        const QString text = traceCellText(m_plot, *m_result, event->pos());
        if (text.isEmpty())
            QToolTip::hideText();
        else
            QToolTip::showText(event->globalPosition().toPoint(), text, m_plot);
    });
    connect(m_run, &QPushButton::clicked, this, &TraceView::startTrace);
    connect(m_cancelButton, &QPushButton::clicked, this, &TraceView::cancelTrace);
    connect(m_export, &QPushButton::clicked, this, [this] { exportImage(); });
    connect(m_prompt, &QLineEdit::returnPressed, this, &TraceView::startTrace);
    connect(m_subject, &QLineEdit::returnPressed, this, &TraceView::startTrace);
    auto *shortcut = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), this);
    connect(shortcut, &QShortcut::activated, this, &TraceView::startTrace);
    setRunning(false);
    m_export->setEnabled(false);
}

TraceView::~TraceView() = default; // the controller cancels and joins its jobs

void TraceView::setModelDirectory(const QString &directory)
{
    if (directory == m_directory)
        return;
    m_directory = directory;
    // A running trace keeps its own reference to the old model; the next one loads the new.
    m_session.reset();
    if (isRunning())
        cancelTrace();
    else if (!m_result)
        m_status->setText(tr("Model: %1. Enter a prompt and its subject, choose the checkpoint as stored or the "
                             "project's current model, then Trace.")
                              .arg(directory));
}

void TraceView::setProjectFile(const QString &file)
{
    m_projectFile = file;
    m_modelChoice->setEnabled(!file.isEmpty());
    // With a project open, trace what the project's history makes of the model by default.
    m_modelChoice->setCurrentIndex(file.isEmpty() ? 0 : 1);
}

bool TraceView::tracesCurrentModel() const
{
    return !m_projectFile.isEmpty() && m_modelChoice->currentData().toBool();
}

void TraceView::setNoiseSubjects(std::vector<std::string> subjects)
{
    m_noiseSubjects = std::move(subjects);
}

void TraceView::setPrompt(const QString &prompt, const QString &subject)
{
    m_prompt->setText(prompt);
    m_subject->setText(subject);
}

bool TraceView::isRunning() const
{
    // Until the outcome has been taken (onEnded / showResult), not merely until the worker returns.
    return m_job != 0;
}

void TraceView::setRunning(bool running)
{
    m_run->setEnabled(!running);
    m_cancelButton->setEnabled(running);
    m_prompt->setReadOnly(running);
    m_subject->setReadOnly(running);
}

void TraceView::startTrace()
{
    if (isRunning())
        return;
    if (m_directory.isEmpty()) {
        m_status->setText(tr("Open a model first (File \u2192 Open Model\u2026)."));
        return;
    }
    const QString prompt = m_prompt->text().trimmed(), subject = m_subject->text().trimmed();
    if (prompt.isEmpty() || subject.isEmpty()) {
        m_status->setText(tr("Enter a prompt and the subject it mentions."));
        return;
    }
    if (!prompt.contains(subject)) {
        m_status->setText(tr("The subject \u201c%1\u201d does not occur in the prompt.").arg(subject));
        return;
    }
    m_progress->setValue(0);
    m_status->setText(m_session ? tr("Tracing\u2026") : tr("Loading the model and tracing\u2026"));

    ModelTraceJobSpec spec;
    spec.model = m_directory.toStdString();
    if (tracesCurrentModel())
        spec.project = m_projectFile.toStdString();
    spec.request = {prompt.toStdString(), subject.toStdString(), ""};
    spec.samples = m_samples->value();
    spec.noiseSubjects = m_noiseSubjects;
    const QString directory = m_directory;
    m_job = m_jobs->submit(
        tr("Trace \u201c%1\u201d").arg(prompt),
        [spec, session = m_session](JobContext &context) { return runModelTraceJob(spec, session, context); }, this,
        [this, directory](const ModelTraceJobResult &r) {
            if (directory == m_directory && !r.currentModel) // not changed while it ran
                m_session = r.session;
            m_tracedModel = r.currentModel
                ? tr("Current model (the checkpoint with %n applied run(s) of the project)", nullptr,
                      static_cast<int>(r.appliedRuns.size()))
                : tr("Checkpoint as stored (without the project's edits)");
            showResult(r.trace);
        },
        [this](JobOutcome outcome, const QString &message) { onEnded(outcome, message); });
    setRunning(true);
}

void TraceView::cancelTrace()
{
    if (!isRunning())
        return;
    m_jobs->cancelJob(m_job);
    m_status->setText(tr("Cancelling\u2026"));
}

void TraceView::onProgress(const JobProgress &progress)
{
    if (progress.id == m_job && m_job != 0)
        m_progress->setValue(static_cast<int>(1000 * progress.fraction));
}

void TraceView::onEnded(JobOutcome outcome, const QString &message)
{
    m_job = 0;
    setRunning(false);
    m_progress->setValue(0);
    if (outcome == JobOutcome::Cancelled) {
        m_status->setText(tr("Cancelled."));
        return;
    }
    m_status->setText(tr("Trace failed: %1").arg(message));
    Q_EMIT traceFailed(message);
}

void TraceView::showResult(TraceResult result)
{
    m_job = 0;
    setRunning(false);
    m_result = std::move(result);
    m_progress->setValue(1000);
    const TraceResult &r = *m_result;
    m_status->setText(tr("%1. Answer \u201c%2\u201d: p = %3 clean, %4 with the subject corrupted (noise %5, %6 "
                         "samples). Colour: p(answer) from the corrupted level (white) up.")
                          .arg(m_tracedModel)
                          .arg(QString::fromStdString(r.answer).trimmed())
                          .arg(r.highScore, 0, 'f', 3)
                          .arg(r.lowScore, 0, 'f', 3)
                          .arg(r.noise.scale, 0, 'f', 3)
                          .arg(r.noise.samples));
    m_plot->setToolTip(QString::fromStdString("noise: " + r.noise.origin));
    populateTracePlot(m_plot, r);
    m_export->setEnabled(true);
    Q_EMIT traceFinished();
}

bool TraceView::hasPrompt() const
{
    return !m_prompt->text().trimmed().isEmpty();
}

bool TraceView::exportImage(const QString &path)
{
    if (!m_result)
        return false;
    QString file = path;
    if (file.isEmpty())
        file = QFileDialog::getSaveFileName(
            this, tr("Export heatmaps"), QStringLiteral("trace.png"), tr("PNG (*.png);;SVG (*.svg);;PDF (*.pdf)"));
    if (file.isEmpty())
        return false;
    const QSize size = tracePlotSize(*m_result);
    const bool ok = savePlot(m_plot, file, size);
    m_status->setText(ok ? tr("Saved %1").arg(file) : tr("Could not write %1").arg(file));
    return ok;
}

} // namespace engram::ui
