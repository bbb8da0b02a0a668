#pragma once
// ProjectDocument: the open project as the GUI sees it. Holds the GUI thread's connection to
// the project file, caches facts and runs for the views, and owns the undo stack of fact
// changes (every change is a QUndoCommand; undo reverses it through the project's audit log).
// Jobs write through their own connections; call reload() when one finishes.

#include "core/project/project.h"

#include <QObject>
#include <QString>

#include <memory>
#include <vector>

class QUndoStack;

namespace engram::ui {

class ProjectDocument : public QObject
{
    Q_OBJECT
public:
    explicit ProjectDocument(QObject *parent = nullptr);
    ~ProjectDocument() override;

    /// Opens a project (creating one hashes a checkpoint: the main window does that as a job).
    /// Throws engram::Error.
    void open(const QString &file);
    void close();
    bool isOpen() const { return m_project != nullptr; }
    QString fileName() const;
    Project *project() const { return m_project.get(); }

    const std::vector<Fact> &facts() const { return m_facts; }
    const std::vector<EditRun> &runs() const { return m_runs; }
    /// Run that last edited each fact (applied runs only); 0 when unedited.
    int64_t editedBy(int64_t factId) const;
    /// Conflicts among the enabled, unedited facts (what the next edit would take).
    const std::vector<Conflict> &conflicts() const { return m_conflicts; }
    std::vector<int64_t> pendingFactIds() const; // enabled, not edited by an applied run

    QUndoStack *undoStack() const { return m_undo; }

    // Fact changes, each one undoable. Return an error message, or empty on success.
    QString updateFact(const Fact &changed);
    /// Skips records already in the project (dropDuplicateFacts): see lastImportDuplicates().
    QString importFacts(const QString &dataFile);
    int lastImportDuplicates() const { return m_lastImportDuplicates; }
    QString addFact(const Fact &fact);
    QString removeFacts(const std::vector<int64_t> &ids);

public Q_SLOTS:
    /// Re-reads facts, runs and conflicts from the file.
    void reload();

Q_SIGNALS:
    void opened(const QString &file);
    void closed();
    void factsChanged();
    void runsChanged();

private:
    friend class FactCommand;
    std::unique_ptr<Project> m_project;
    std::vector<Fact> m_facts;
    std::vector<EditRun> m_runs;
    std::vector<std::pair<int64_t, int64_t>> m_edited;
    std::vector<Conflict> m_conflicts;
    QUndoStack *m_undo = nullptr;
    int m_lastImportDuplicates = 0;
};

} // namespace engram::ui
