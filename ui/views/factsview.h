#pragma once
// FactsView: the project's facts — a sortable, filterable table with inline editing
// (validated, undoable), import (also by dropping a file), add and remove.

#include <QWidget>

#include <cstdint>
#include <vector>

class QComboBox;
class QLabel;
class QLineEdit;
class QTableView;

namespace engram::ui {

class FactsFilter;
class FactsModel;
class ProjectDocument;

class FactsView : public QWidget
{
    Q_OBJECT
public:
    explicit FactsView(ProjectDocument *document, QWidget *parent = nullptr);

    QTableView *table() const { return m_table; }
    FactsModel *model() const { return m_model; }
    FactsFilter *filter() const { return m_filter; }
    /// Ids of the selected rows (in view order).
    std::vector<int64_t> selectedFactIds() const;

public Q_SLOTS:
    /// Imports a dataset file; asks for one when `file` is empty. Returns false on failure.
    bool importFile(const QString &file = {});
    void addFact();
    /// Writes the facts shown (after filtering) as CounterFact JSON or CSV; asks when `file` is empty.
    bool exportFacts(const QString &file = {});
    void removeSelected();
    /// Selects fact `factId` and scrolls it into view (when the filters show it).
    void showFact(int64_t factId);

Q_SIGNALS:
    void message(const QString &text);
    /// The user asked to trace the selected fact: its prompt (subject filled in) and subject.
    void traceRequested(const QString &prompt, const QString &subject);
    /// A fact was added by hand without a true object: the model's answer should fill it.
    void factAddedWithoutTrueObject(int64_t factId);

protected:
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dropEvent(QDropEvent *event) override;

private:
    void refreshFilters();

    ProjectDocument *m_document;
    FactsModel *m_model;
    FactsFilter *m_filter;
    QTableView *m_table;
    QLineEdit *m_search;
    QComboBox *m_relation;
    QComboBox *m_tag;
    QLabel *m_summary;
    std::vector<int64_t> m_keptSelection; // selected fact ids across a model reset
    int64_t m_keptCurrent = 0;
};

} // namespace engram::ui
