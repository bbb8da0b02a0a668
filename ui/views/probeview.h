#pragma once
// ProbeView: what does the model believe about a subject? For every relation the project knows
// (its facts' templates, grouped by relation) the model's likeliest next words with their
// probabilities and its greedy continuation, beside the objects the project records — on the
// checkpoint as stored and, once runs are applied, on the current model, answers the edits
// changed highlighted (relations no run edited included: bleed-over shows here first). A row
// becomes a pending fact with the new object typed in place. Each question is a probe job.

#include "core/jobs/projectjobs.h"

#include <QWidget>

#include <optional>

class QComboBox;
class QLabel;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace engram::ui {

class JobController;
class ProjectDocument;

class ProbeView : public QWidget
{
    Q_OBJECT
public:
    ProbeView(ProjectDocument *document, JobController *jobs, QWidget *parent = nullptr);

    QComboBox *subjectBox() const { return m_subject; }
    QTableWidget *table() const { return m_table; }
    QLabel *summary() const { return m_summary; }
    const std::optional<ProbeJobResult> &result() const { return m_result; }
    /// The shown answers predate the latest change of the history (asked again when shown).
    bool isStale() const { return m_stale; }

    /// Table columns.
    enum Column { RelationColumn, PromptColumn, RecordedColumn, BaseColumn, CurrentColumn, NewObjectColumn };

public Q_SLOTS:
    /// Queues a probe of `subject` (default: the subject box's text).
    void probe(const QString &subject = {});
    /// Adds row `row` of the result as a pending fact: its template and subject, the new object
    /// typed in the row, the model's own answer as the true object, provenance "probe", and
    /// paraphrase/neighbourhood prompts from the project's facts of the relation. Returns the
    /// problem, or an empty string.
    QString addRowAsFact(int row);
    /// For a fact entered without a true object: asks the current model (a job) and records its
    /// answer as the true object, with suggested paraphrase and neighbourhood prompts where the
    /// fact has none (one undoable change).
    void completeFact(int64_t factId);

Q_SIGNALS:
    void probed();
    void factCompleted(int64_t factId);
    void message(const QString &text);

protected:
    void showEvent(QShowEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;

private:
    void showResult();
    void layoutColumns();
    void refreshSubjects();
    void historyChanged();
    void updateActions();

    ProjectDocument *m_document;
    JobController *m_jobs;
    QComboBox *m_subject;
    QSpinBox *m_topK;
    QPushButton *m_run;
    QPushButton *m_add;
    QLabel *m_summary;
    QTableWidget *m_table;
    std::optional<ProbeJobResult> m_result;
    bool m_stale = false;
    bool m_inFlight = false;
};

} // namespace engram::ui
