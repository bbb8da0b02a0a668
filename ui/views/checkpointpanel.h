#pragma once
// CheckpointPanel: shows what a Hugging Face model directory holds (architecture, sizes,
// tokenizer) without loading its weights. Reading happens on a pool thread; the GUI
// thread only receives the finished summary or the error message.

#include "core/model/modelinfo.h"

#include <QFutureWatcher>
#include <QWidget>

#include <optional>

class QFormLayout;
class QLabel;

namespace engram::ui {

class CheckpointPanel : public QWidget
{
    Q_OBJECT
public:
    explicit CheckpointPanel(QWidget *parent = nullptr);
    ~CheckpointPanel() override;

    /// Starts reading `directory`; emits summaryReady() or failed() later.
    void showCheckpoint(const QString &directory);
    const std::optional<CheckpointSummary> &summary() const { return m_summary; }
    bool isBusy() const;

Q_SIGNALS:
    void summaryReady(const QString &directory);
    void failed(const QString &directory, const QString &message);

private:
    struct Outcome {
        std::optional<CheckpointSummary> summary;
        QString error;
    };
    void onFinished();
    void setRow(QLabel *label, const QString &text);

    QLabel *m_status = nullptr;
    QLabel *m_directory = nullptr, *m_architecture = nullptr, *m_layers = nullptr, *m_width = nullptr,
           *m_heads = nullptr, *m_vocab = nullptr, *m_context = nullptr, *m_parameters = nullptr, *m_weights = nullptr,
           *m_tokenizer = nullptr;
    QFutureWatcher<Outcome> m_watcher;
    QString m_pendingDirectory;
    std::optional<CheckpointSummary> m_summary;
};

} // namespace engram::ui
