#include "ui/views/traceview.h"

#include "core/model/modelsession.h"
#include "core/util/error.h"
#include "ui/plots/qcustomplot.h"
#include "ui/plots/traceplot.h"

#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QShortcut>
#include <QSpinBox>
#include <QTimer>
#include <QToolTip>
#include <QVBoxLayout>
#include <QtConcurrent>

namespace engram::ui {

TraceView::TraceView(QWidget *parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("traceView"));
    m_prompt = new QLineEdit(this);
    m_prompt->setObjectName(QStringLiteral("tracePrompt"));
    m_prompt->setPlaceholderText(tr("A prompt the model completes with a fact, e.g. \"Oscar Koutex was born in\""));
    m_prompt->setToolTip(tr("The full prompt, subject included; the model's own next token is traced"));
    m_subject = new QLineEdit(this);
    m_subject->setObjectName(QStringLiteral("traceSubject"));
    m_subject->setPlaceholderText(tr("The subject as it appears in the prompt"));
    m_subject->setToolTip(tr("Its token embeddings are corrupted with noise (3\u03c3 of its embeddings)"));
    m_samples = new QSpinBox(this);
    m_samples->setRange(1, 100);
    m_samples->setValue(10);
    m_samples->setToolTip(tr("Noise samples per restoration (the reference uses 10)"));

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

    m_poll = new QTimer(this);
    m_poll->setInterval(50);
    connect(m_poll, &QTimer::timeout, this, [this] {
        if (m_permille)
            m_progress->setValue(m_permille->load());
    });
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
    connect(&m_watcher, &QFutureWatcher<Outcome>::finished, this, &TraceView::onFinished);
    setRunning(false);
    m_export->setEnabled(false);
}

TraceView::~TraceView()
{
    if (m_cancel)
        m_cancel->store(true);
    m_watcher.waitForFinished(); // shutdown only: the worker stops at its next progress report
}

void TraceView::setModelDirectory(const QString &directory)
{
    if (directory == m_directory)
        return;
    m_directory = directory;
    if (isRunning()) {
        // Never wait on the worker here: cancel it, and drop its session when it reports back.
        m_staleSession = true;
        cancelTrace();
        return;
    }
    m_session.reset();
}

void TraceView::setPrompt(const QString &prompt, const QString &subject)
{
    m_prompt->setText(prompt);
    m_subject->setText(subject);
}

bool TraceView::isRunning() const
{
    // Until onFinished has taken the outcome, not merely until the worker returns.
    return m_running;
}

void TraceView::setRunning(bool running)
{
    m_running = running;
    m_run->setEnabled(!running);
    m_cancelButton->setEnabled(running);
    m_prompt->setReadOnly(running);
    m_subject->setReadOnly(running);
    if (running)
        m_poll->start();
    else
        m_poll->stop();
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
    m_cancel = std::make_shared<std::atomic<bool>>(false);
    m_permille = std::make_shared<std::atomic<int>>(0);
    m_progress->setValue(0);
    m_status->setText(m_session ? tr("Tracing\u2026") : tr("Loading the model and tracing\u2026"));
    setRunning(true);

    TraceRequest request {prompt.toStdString(), subject.toStdString(), ""};
    const int samples = m_samples->value();
    m_watcher.setFuture(QtConcurrent::run([dir = m_directory.toStdString(), session = m_session, request, samples,
                                              cancel = m_cancel, permille = m_permille]() mutable {
        Outcome out;
        try {
            if (!session)
                session = std::shared_ptr<ModelSession>(ModelSession::open(dir));
            out.session = session;
            TraceParams p;
            p.noise.samples = samples;
            p.noise.scale = 3 * subjectEmbeddingStd(session->model(), session->tokenizer(), {request.subject});
            p.noise.origin = "3 sigma of the subject's embeddings";
            p.window = defaultTraceWindow(session->summary().layers);
            int stage = 0;
            std::string lastStage;
            out.result = traceFact(session->model(), session->tokenizer(), request, p, [&](const ProgressUpdate &u) {
                if (u.stage != lastStage && u.stage.rfind("tracing", 0) == 0) {
                    lastStage = u.stage;
                    ++stage;
                }
                const double kinds = static_cast<double>(p.kinds.size());
                const double f = stage == 0 ? 0.0 : ((stage - 1) + u.fraction()) / kinds;
                permille->store(static_cast<int>(1000 * f));
                return !cancel->load();
            });
        } catch (const Error &e) {
            out.error = QString::fromStdString(e.what());
        } catch (const std::exception &e) {
            out.error = QString::fromStdString(e.what());
        }
        return out;
    }));
}

void TraceView::cancelTrace()
{
    if (m_cancel)
        m_cancel->store(true);
    m_status->setText(tr("Cancelling\u2026"));
}

void TraceView::onFinished()
{
    Outcome out = m_watcher.result();
    setRunning(false);
    if (out.session && !m_staleSession)
        m_session = out.session;
    if (m_staleSession) {
        m_session.reset();
        m_staleSession = false;
    }
    if (!out.result) {
        m_progress->setValue(0);
        const bool cancelled = m_cancel && m_cancel->load();
        m_status->setText(cancelled ? tr("Cancelled.") : tr("Trace failed: %1").arg(out.error));
        if (!cancelled)
            Q_EMIT traceFailed(out.error);
        return;
    }
    m_result = std::move(out.result);
    m_progress->setValue(1000);
    const TraceResult &r = *m_result;
    m_status->setText(tr("Answer \u201c%1\u201d: p = %2 clean, %3 with the subject corrupted (noise %4, %5 samples). "
                         "Colour: p(answer) from the corrupted level (white) up.")
                          .arg(QString::fromStdString(r.answer).trimmed())
                          .arg(r.highScore, 0, 'f', 3)
                          .arg(r.lowScore, 0, 'f', 3)
                          .arg(r.noise.scale, 0, 'f', 3)
                          .arg(r.noise.samples));
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
