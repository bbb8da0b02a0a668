#include "ui/views/checkpointpanel.h"

#include "core/util/error.h"

#include <QFormLayout>
#include <QLabel>

#include <algorithm>
#include <QLocale>
#include <QVBoxLayout>
#include <QTimer>

namespace engram::ui {

CheckpointPanel::CheckpointPanel(QWidget *parent)
    : QWidget(parent)
{
    auto *layout = new QVBoxLayout(this);
    m_status
        = new QLabel(tr("No model open. Use File \u2192 Open Model\u2026 to pick a Hugging Face directory."), this);
    m_status->setWordWrap(true);
    m_status->setObjectName(QStringLiteral("checkpointStatus"));
    layout->addWidget(m_status);

    setMinimumWidth(220);
    auto *form = new QFormLayout;
    form->setRowWrapPolicy(QFormLayout::DontWrapRows);
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    auto row = [&](const QString &name, const QString &tip) {
        auto *value = new QLabel(QStringLiteral("\u2014"), this);
        value->setTextInteractionFlags(Qt::TextSelectableByMouse);
        value->setWordWrap(true);
        value->setToolTip(tip);
        form->addRow(name, value);
        return value;
    };
    m_directory = row(tr("Directory"), tr("The checkpoint directory (config.json, safetensors, tokenizer)"));
    // A long path must not widen the panel: shown elided in the middle, whole in the tooltip.
    m_directory->setWordWrap(false);
    m_directory->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    m_architecture = row(tr("Architecture"), tr("Model family and the model_type from config.json"));
    m_layers = row(tr("Layers"), tr("Number of transformer blocks"));
    m_width = row(tr("Hidden size"), tr("Width of the residual stream (d)"));
    m_heads = row(tr("Heads"), tr("Attention heads (key/value heads for grouped-query attention)"));
    m_vocab = row(tr("Vocabulary"), tr("Tokens in the output layer"));
    m_context = row(tr("Context"), tr("Maximum sequence length"));
    m_parameters = row(tr("Parameters"), tr("Counted from the tensors stored on disk"));
    m_weights = row(tr("Weights"), tr("Bytes of tensor data and the number of safetensors files"));
    m_tokenizer = row(tr("Tokenizer"), tr("Tokenizer kind read from tokenizer.json or vocab.json + merges.txt"));
    layout->addLayout(form);
    layout->addStretch(1);
}

void CheckpointPanel::showCheckpoint(const QString &directory)
{
    m_status->setText(tr("Reading %1\u2026").arg(directory));
    Outcome out;
    try {
        out.summary = summarizeCheckpoint(directory.toStdString());
    } catch (const std::exception &e) {
        out.error = QString::fromStdString(e.what());
    }
    const int request = ++m_request;
    QTimer::singleShot(0, this, [this, request, directory, out] {
        if (request == m_request)
            deliver(directory, out);
    });
}

void CheckpointPanel::elideDirectory()
{
    m_directory->setText(m_directory->fontMetrics().elidedText(
        m_directoryText, Qt::ElideMiddle, std::max(60, m_directory->width())));
}

void CheckpointPanel::resizeEvent(QResizeEvent *event)
{
    QWidget::resizeEvent(event);
    if (!m_directoryText.isEmpty())
        elideDirectory();
}

void CheckpointPanel::setRow(QLabel *label, const QString &text)
{
    label->setText(text);
}

void CheckpointPanel::deliver(const QString &directory, const Outcome &out)
{
    if (!out.summary) {
        m_status->setText(tr("Cannot open model: %1").arg(out.error));
        Q_EMIT failed(directory, out.error);
        return;
    }
    m_summary = out.summary;
    const CheckpointSummary &s = *m_summary;
    const QLocale locale;
    m_status->setText(tr("Model ready to inspect."));
    m_directoryText = QString::fromStdString(s.directory.string());
    m_directory->setToolTip(m_directoryText);
    elideDirectory();
    setRow(m_architecture,
        QStringLiteral("%1 (%2)").arg(QString::fromStdString(s.family), QString::fromStdString(s.modelType)));
    setRow(m_layers, QString::number(s.layers));
    setRow(m_width, QString::number(s.hiddenSize));
    setRow(
        m_heads, s.kvHeads == s.heads ? QString::number(s.heads) : tr("%1 (%2 key/value)").arg(s.heads).arg(s.kvHeads));
    setRow(m_vocab, locale.toString(s.vocabSize));
    setRow(m_context, locale.toString(s.contextLength));
    setRow(m_parameters, locale.toString(static_cast<qlonglong>(s.parameters)));
    setRow(m_weights,
        tr("%1 in %n file(s)", nullptr, static_cast<int>(s.shards.size()))
            .arg(locale.formattedDataSize(static_cast<qint64>(s.weightBytes))));
    setRow(m_tokenizer, s.tokenizerKind.empty() ? tr("none found") : QString::fromStdString(s.tokenizerKind));
    Q_EMIT summaryReady(directory);
}

} // namespace engram::ui
