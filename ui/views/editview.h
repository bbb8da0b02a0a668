#pragma once
// EditView: edit runs of the open project. Method and hyperparameters (pre-filled from the
// model's preset; every field explains itself in a tooltip), which facts (the pending ones or
// the selection), Edit on the job thread with stage, progress, ETA and Cancel; the history of
// runs with Revert / Re-apply; after each edit the edited facts are scored before and after
// (ES/PS/NS and magnitudes) as a table and a bar chart; Export of the patched model.

#include "core/edit/presets.h"
#include "core/eval/counterfact.h"
#include "core/model/loadoptions.h"

#include <QStringList>
#include <QWidget>

#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

class QCheckBox;
class QCustomPlot;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableView;

namespace engram {
struct EditJobResult;
}

namespace engram::ui {

class JobController;
class RunHistoryModel;
class ScoresPanel;
class ProjectDocument;
struct JobProgress;

class EditView : public QWidget
{
    Q_OBJECT
public:
    EditView(ProjectDocument *document, JobController *jobs, QWidget *parent = nullptr);

    /// Which facts an edit takes when "Selected facts" is chosen (set by the main window).
    void setSelectionProvider(std::function<std::vector<int64_t>()> provider);
    QTableView *history() const { return m_history; }
    /// The health chart over the runs (ES so far, retention, fluency, norm growth).
    QCustomPlot *healthPlot() const { return m_healthPlot; }
    QTableView *scores() const;
    ScoresPanel *scoresPanel() const { return m_scoresPanel; }
    /// An edit (or the scoring after it) is queued or running: Edit is disabled meanwhile.
    bool editInFlight() const { return m_editInFlight; }
    const std::optional<EvalSummary> &lastPost() const { return m_post; }
    const std::optional<EvalSummary> &lastPre() const { return m_pre; }
    /// Recall of the project's unedited facts before and after (0..1; -1 when none were measured).
    std::pair<double, double> lastRetention() const { return {m_retentionPre, m_retentionPost}; }
    /// Device and weight type the jobs load the model with (the Edit tab's choice).
    LoadOptions loadOptions() const;

public Q_SLOTS:
    /// Queues an edit of the chosen facts (and an evaluation after it).
    void startEdit();
    void revertSelected();
    /// Re-applies the selected run: a reverted one, or one the health guard held.
    void reapplySelected();
    /// Discards the selected run the health guard held.
    void discardSelected();
    /// Queues an export of the patched model to `directory` (asks when empty).
    void exportModel(const QString &directory = {});
    /// Queues writing all applied runs composed into one patch file (asks when `file` is empty).
    void exportPatch(const QString &file = {});
    /// The applied runs as a PEFT LoRA adapter directory (exact factors when rank is 0). With no
    /// directory, asks for one and for the rank.
    void exportLora(const QString &directory = {}, int rank = 0);
    /// Fills the method fields from the model's preset.
    void loadPreset();
    /// Uses these statistics files (our .safetensors or published .npz, one layer each) instead
    /// of the project's corpus; an empty list goes back to the corpus.
    void setStatisticsFiles(const QStringList &files);
    /// Sets the layers field (e.g. from the trace's suggestion).
    void setLayers(const QString &layers);
    /// Shows the stored scores that describe the model as the history gives it now, or says
    /// that there are none (stale) — after opening, every job and every revert.
    void refreshScores();
    /// Cancels the running job, showing "Cancelling…" until it has stopped.
    void cancelJob();
    /// Queues scoring the project's facts on the base and the current model.
    void scoreNow();
    /// The "Selected facts" count follows the Facts table's selection.
    void selectionChanged();

Q_SIGNALS:
    void message(const QString &text);
    void editFinished(qint64 runId);
    void evaluationFinished();
    void exportFinished(const QString &directory);
    void patchExported(const QString &file);
    void loraExported(const QString &directory);
    /// Whether Edit can be pressed now (false while an edit or its scoring is queued or running).
    void editAvailableChanged(bool available);

private:
    void updateProtectEnabled(); // the μ field applies to MEMIT with the keep checkbox on
    std::vector<std::filesystem::path> statisticsPaths() const; // the chosen statistics files
    void refreshHistory();
    /// The open project's model preset (read on first use after the project opened); throws engram::Error.
    const EditPreset &preset();
    EditMethod currentMethod() const; // the method chosen in the form
    void queueEvaluation();
    void revert(int64_t run, bool reapply);
    void discard(int64_t run);
    int64_t selectedRun(); // 0 (and a message) when none is selected
    /// The choice a held run asks for: its numbers, Apply anyway / Discard / Decide later.
    void askAboutHeldRun(const EditJobResult &result);
    void loadGuard(); // the guard fields from the open project
    void saveGuard(); // the guard fields into the open project
    void onProgress(const JobProgress &p);
    void setBusy(bool busy, int queued);
    void setEditInFlight(bool inFlight);
    void updateConflictWarning();

    ProjectDocument *m_document;
    JobController *m_jobs;
    std::function<std::vector<int64_t>()> m_selection;

    QComboBox *m_method = nullptr;
    QComboBox *m_scope = nullptr;
    QComboBox *m_device = nullptr;
    QComboBox *m_dtype = nullptr;
    QLineEdit *m_layers = nullptr;
    QDoubleSpinBox *m_lambda = nullptr;
    QDoubleSpinBox *m_nullThreshold = nullptr;
    QCheckBox *m_keepEarlier = nullptr;
    QDoubleSpinBox *m_protect = nullptr;
    QDoubleSpinBox *m_lr = nullptr;
    QDoubleSpinBox *m_clamp = nullptr;
    QSpinBox *m_steps = nullptr;
    QDoubleSpinBox *m_norm = nullptr;
    QLabel *m_statistics = nullptr;
    QCheckBox *m_keepFacts = nullptr;
    QCheckBox *m_fluency = nullptr;
    QCheckBox *m_allowConflicts = nullptr;
    QDoubleSpinBox *m_guardRetention = nullptr;
    QDoubleSpinBox *m_guardEs = nullptr;
    QCustomPlot *m_healthPlot = nullptr;
    QLabel *m_conflictWarning = nullptr;
    bool m_editInFlight = false;
    QComboBox *m_statsSource = nullptr;
    QStringList m_statsFiles; // chosen statistics files (ours or published .npz), when that source is chosen
    QPushButton *m_edit = nullptr;
    QPushButton *m_cancel = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_stage = nullptr;
    RunHistoryModel *m_historyModel = nullptr;
    QTableView *m_history = nullptr;
    ScoresPanel *m_scoresPanel = nullptr;
    std::optional<EvalSummary> m_pre, m_post;
    std::optional<EditPreset> m_preset; // of the open project's model, read once when it opens
    double m_retentionPre = -1, m_retentionPost = -1; // recall of the unedited facts, 0..1; -1 unknown
};

} // namespace engram::ui
