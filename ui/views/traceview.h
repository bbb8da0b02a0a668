#pragma once
// TraceView: causal tracing of one prompt in the workbench. The trace is a core job
// (runModelTraceJob) queued on the workbench's JobController like every other long job; the
// view follows its progress by job id, can cancel it, and receives the TraceResult by value.
// The loaded model is kept for the next trace of the same directory.

#include "core/trace/causaltrace.h"
#include "ui/jobs/jobcontroller.h"

#include <QWidget>

#include <memory>
#include <optional>
#include <string>
#include <vector>

class QCustomPlot;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTimer;

namespace engram {
class ModelSession;
}

namespace engram::ui {

class TraceView : public QWidget
{
    Q_OBJECT
public:
    explicit TraceView(JobController *jobs, QWidget *parent = nullptr);
    ~TraceView() override;

    /// The model to trace (loaded on the first trace, on the worker).
    void setModelDirectory(const QString &directory);
    /// Subjects whose embeddings set the noise scale (e.g. the open project's); empty: the
    /// traced subject alone.
    void setNoiseSubjects(std::vector<std::string> subjects);
    /// The open project (empty: none): offers tracing its current model, chosen by default.
    void setProjectFile(const QString &file);
    bool tracesCurrentModel() const;
    void setPrompt(const QString &prompt, const QString &subject);
    bool hasPrompt() const;
    bool isRunning() const;
    const std::optional<TraceResult> &result() const { return m_result; }
    QCustomPlot *plot() const { return m_plot; }

public Q_SLOTS:
    void startTrace();
    void cancelTrace();
    /// Saves the heatmaps (PNG, or PDF by extension); asks for a file name when `path` is empty.
    bool exportImage(const QString &path = {});

Q_SIGNALS:
    void traceFinished();
    void traceFailed(const QString &message);

private:
    void onProgress(const JobProgress &progress);
    void onEnded(JobOutcome outcome, const QString &message);
    void showResult(TraceResult result);
    void setRunning(bool running);

    JobController *m_jobs = nullptr;
    QLineEdit *m_prompt = nullptr;
    QLineEdit *m_subject = nullptr;
    QSpinBox *m_samples = nullptr;
    QPushButton *m_run = nullptr;
    QPushButton *m_cancelButton = nullptr;
    QPushButton *m_export = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_status = nullptr;
    QComboBox *m_modelChoice = nullptr;
    QString m_projectFile;
    QString m_tracedModel; // what the shown result traced, for its caption
    QCustomPlot *m_plot = nullptr;

    QString m_directory;
    std::vector<std::string> m_noiseSubjects;
    std::shared_ptr<ModelSession> m_session; // of m_directory; used by one trace job at a time
    JobId m_job = 0; // the running (or queued) trace; 0 when none
    std::optional<TraceResult> m_result;
};

} // namespace engram::ui
