#pragma once
// CheckpointPanel: shows what a Hugging Face model directory holds (architecture, sizes,
// tokenizer) without loading its weights. Only headers are read (config.json, the safetensors
// headers, a streaming peek at tokenizer.json: milliseconds even for an 8B model), so it runs on
// the GUI thread and leaves the job queue to real work; the result is delivered from the event
// loop, after showCheckpoint() returns, like a job's.

#include "core/model/modelinfo.h"

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

    /// Reads `directory`; emits summaryReady() or failed() from the event loop.
    void showCheckpoint(const QString &directory);
    const std::optional<CheckpointSummary> &summary() const { return m_summary; }

Q_SIGNALS:
    void summaryReady(const QString &directory);
    void failed(const QString &directory, const QString &message);

protected:
    void resizeEvent(QResizeEvent *event) override;

private:
    void elideDirectory();
    QString m_directoryText;
    struct Outcome {
        std::optional<CheckpointSummary> summary;
        QString error;
    };
    void deliver(const QString &directory, const Outcome &out);
    void setRow(QLabel *label, const QString &text);

    QLabel *m_status = nullptr;
    QLabel *m_directory = nullptr, *m_architecture = nullptr, *m_layers = nullptr, *m_width = nullptr,
           *m_heads = nullptr, *m_vocab = nullptr, *m_context = nullptr, *m_parameters = nullptr, *m_weights = nullptr,
           *m_tokenizer = nullptr;
    int m_request = 0; // the latest showCheckpoint(); an older delivery is dropped
    std::optional<CheckpointSummary> m_summary;
};

} // namespace engram::ui
