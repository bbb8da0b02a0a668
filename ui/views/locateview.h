#pragma once
// LocateView: where the model stores the project's facts. Traces a set of facts on the base
// model (a job), plots the average indirect effect per layer — MLP and hidden state at the last
// subject token, attention at the last token, and the block output with the MLP severed — with
// 95 % bands, and proposes the MEMIT layer range, which "Use for editing" hands to the Edit tab.

#include "core/trace/causaltrace.h"

#include <QWidget>

#include <optional>

class QCustomPlot;
class QComboBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace engram::ui {

class JobController;
class ProjectDocument;

class LocateView : public QWidget
{
    Q_OBJECT
public:
    LocateView(ProjectDocument *document, JobController *jobs, QWidget *parent = nullptr);

    const std::optional<AverageEffects> &effects() const { return m_effects; }
    QCustomPlot *plot() const { return m_plot; }
    /// "a,b,c": the suggested layers, empty before a trace.
    QString suggestedLayers() const;

public Q_SLOTS:
    void startTrace();

Q_SIGNALS:
    void traced();
    void layersChosen(const QString &layers);

protected:
    void resizeEvent(QResizeEvent *event) override;

private:
    void showEffects();
    void fitSummary();

    ProjectDocument *m_document;
    JobController *m_jobs;
    QSpinBox *m_facts;
    QSpinBox *m_samples;
    QComboBox *m_modelChoice;
    QProgressBar *m_progress;
    quint64 m_job = 0; // the running locate job
    bool m_tracedCurrent = false; // what the shown result traced
    QPushButton *m_run;
    QPushButton *m_use;
    QLabel *m_summary;
    QCustomPlot *m_plot;
    std::optional<AverageEffects> m_effects;
};

} // namespace engram::ui
