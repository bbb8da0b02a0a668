#pragma once
// TraceView: causal tracing of one prompt in the workbench. The model loads and the trace runs
// on a pool thread (QtConcurrent); the GUI thread only polls a progress counter every 50 ms,
// can cancel through an atomic flag, and receives the finished TraceResult by value.

#include "core/trace/causaltrace.h"

#include <QFutureWatcher>
#include <QWidget>

#include <atomic>
#include <memory>
#include <optional>

class QCustomPlot;
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
    explicit TraceView(QWidget *parent = nullptr);
    ~TraceView() override;

    /// The model to trace (loaded on the first trace, on the worker).
    void setModelDirectory(const QString &directory);
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
    struct Outcome {
        std::optional<TraceResult> result;
        std::shared_ptr<ModelSession> session; // loaded (or reused) by the worker
        QString error;
    };
    void onFinished();
    void setRunning(bool running);

    QLineEdit *m_prompt = nullptr;
    QLineEdit *m_subject = nullptr;
    QSpinBox *m_samples = nullptr;
    QPushButton *m_run = nullptr;
    QPushButton *m_cancelButton = nullptr;
    QPushButton *m_export = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_status = nullptr;
    QCustomPlot *m_plot = nullptr;
    QTimer *m_poll = nullptr;

    QString m_directory;
    std::shared_ptr<ModelSession> m_session; // touched only while no trace runs
    bool m_staleSession = false; // the directory changed while a trace ran
    bool m_running = false; // from startTrace until onFinished
    std::optional<TraceResult> m_result;
    QFutureWatcher<Outcome> m_watcher;
    std::shared_ptr<std::atomic<bool>> m_cancel;
    std::shared_ptr<std::atomic<int>> m_permille; // progress × 1000, written by the worker
};

} // namespace engram::ui
