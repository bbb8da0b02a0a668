#pragma once
// CompareView: the edited facts before and after. A sortable per-fact table from the latest
// evaluation (p(true) and p(new) on the base model and after, efficacy, paraphrase and
// neighborhood scores), and for the selected fact its prompts continued by the base and the
// edited model side by side, the words that changed highlighted.

#include <QWidget>

class QLabel;
class QPushButton;
class QSortFilterProxyModel;
class QStandardItemModel;
class QTableView;
class QTextBrowser;

namespace engram::ui {

class JobController;
class ProjectDocument;

class CompareView : public QWidget
{
    Q_OBJECT
public:
    CompareView(ProjectDocument *document, JobController *jobs, QWidget *parent = nullptr);

    QTableView *table() const { return m_table; }
    QTextBrowser *before() const { return m_before; }
    QTextBrowser *after() const { return m_after; }

public Q_SLOTS:
    /// Re-reads the latest evaluation of the project.
    void refresh();
    /// Generates the selected fact's prompts on the base and the edited model (a job).
    void compareSelected();

Q_SIGNALS:
    void generationsShown();

private:
    ProjectDocument *m_document;
    JobController *m_jobs;
    QStandardItemModel *m_model;
    QSortFilterProxyModel *m_proxy;
    QTableView *m_table;
    QLabel *m_caption;
    QPushButton *m_generate;
    QTextBrowser *m_before;
    QTextBrowser *m_after;
};

} // namespace engram::ui
