#include "ui/models/projectdocument.h"

#include "core/data/datasets.h"
#include "core/jobs/projectjobs.h"
#include "core/util/error.h"

#include <QFileInfo>
#include <QUndoCommand>
#include <QUndoStack>

#include <algorithm>
#include <functional>

namespace engram::ui {

/// One fact change: redo runs `apply`; undo reverses the project's last fact change.
class FactCommand : public QUndoCommand
{
public:
    FactCommand(ProjectDocument *doc, const QString &text, std::function<void(Project &)> apply)
        : QUndoCommand(text)
        , m_doc(doc)
        , m_apply(std::move(apply))
    {
    }
    void redo() override
    {
        // The first redo happens in push(): the change was already made (and could fail
        // there without leaving a command on the stack).
        if (!m_applied)
            m_apply(*m_doc->m_project);
        m_applied = false;
        m_doc->reload();
    }
    void undo() override
    {
        m_doc->m_project->undoLastFactChange();
        m_doc->reload();
    }

    /// Makes the change now; throws engram::Error (then nothing is pushed).
    void applyFirst()
    {
        m_apply(*m_doc->m_project);
        m_applied = true;
    }

private:
    ProjectDocument *m_doc;
    std::function<void(Project &)> m_apply;
    bool m_applied = false;
};

namespace {
void pushFactCommand(QUndoStack *stack, FactCommand *command)
{
    std::unique_ptr<FactCommand> owned(command);
    owned->applyFirst();
    stack->push(owned.release());
}
} // namespace

ProjectDocument::ProjectDocument(QObject *parent)
    : QObject(parent)
    , m_undo(new QUndoStack(this))
{
}

ProjectDocument::~ProjectDocument() = default;

void ProjectDocument::open(const QString &file)
{
    auto project = Project::open(file.toStdString());
    m_project = std::move(project);
    m_undo->clear();
    reload();
    Q_EMIT opened(file);
}

void ProjectDocument::close()
{
    m_project.reset();
    m_facts.clear();
    m_runs.clear();
    m_edited.clear();
    m_conflicts.clear();
    m_undo->clear();
    Q_EMIT factsChanged();
    Q_EMIT runsChanged();
    Q_EMIT closed();
}

QString ProjectDocument::fileName() const
{
    return m_project ? QString::fromStdString(m_project->file().string()) : QString();
}

void ProjectDocument::reload()
{
    if (!m_project)
        return;
    m_facts = m_project->facts();
    m_runs = m_project->runs();
    m_edited = m_project->editedFacts();
    std::vector<Fact> pending;
    for (const auto &f : m_facts)
        if (f.enabled && editedBy(f.id) == 0)
            pending.push_back(f);
    m_conflicts = m_project->checkConflicts(pending);
    Q_EMIT factsChanged();
    Q_EMIT runsChanged();
}

int64_t ProjectDocument::editedBy(int64_t factId) const
{
    const auto it = std::lower_bound(m_edited.begin(), m_edited.end(), std::make_pair(factId, int64_t {0}));
    return it != m_edited.end() && it->first == factId ? it->second : 0;
}

std::vector<int64_t> ProjectDocument::pendingFactIds() const
{
    std::vector<int64_t> ids;
    for (const auto &f : m_facts)
        if (f.enabled && editedBy(f.id) == 0)
            ids.push_back(f.id);
    return ids;
}

namespace {
template<typename F>
QString attempt(F &&f)
{
    try {
        f();
        return {};
    } catch (const Error &e) {
        return QString::fromUtf8(e.what());
    }
}
} // namespace

QString ProjectDocument::updateFact(const Fact &changed)
{
    if (!m_project)
        return tr("No project is open");
    if (const auto problem = validateFact(changed); !problem.empty())
        return QString::fromStdString(problem);
    return attempt([&] {
        pushFactCommand(m_undo, new FactCommand(this, tr("Edit fact %1").arg(changed.id), [changed](Project &p) { p.updateFact(changed); }));
    });
}

QString ProjectDocument::importFacts(const QString &dataFile)
{
    if (!m_project)
        return tr("No project is open");
    m_lastImportDuplicates = 0;
    return attempt([&] {
        const auto data = importDataset(dataFile.toStdString());
        std::vector<Fact> facts;
        for (std::size_t i = 0; i < data.records.size(); ++i) {
            Fact f = factFromRecord(data.records[i]);
            if (f.targetNew.empty())
                continue;
            f.provenance = QFileInfo(dataFile).fileName().toStdString() + "#" + std::to_string(i + 1);
            facts.push_back(std::move(f));
        }
        if (facts.empty())
            throw Error(ErrorKind::CorruptFile,
                dataFile.toStdString() + " has no records with a new object to import"
                    + (data.rejected.empty() ? "" : " (" + std::to_string(data.rejected.size()) + " rejected)"));
        m_lastImportDuplicates = static_cast<int>(dropDuplicateFacts(m_facts, facts));
        if (facts.empty())
            return; // every record is already in the project: nothing to add, nothing to undo
        pushFactCommand(m_undo, new FactCommand(this, tr("Import %n fact(s)", nullptr, static_cast<int>(facts.size())),
            [facts](Project &p) { p.addFacts(facts); }));
    });
}

QString ProjectDocument::addFact(const Fact &fact)
{
    if (!m_project)
        return tr("No project is open");
    if (const auto problem = validateFact(fact); !problem.empty())
        return QString::fromStdString(problem);
    return attempt([&] { pushFactCommand(m_undo, new FactCommand(this, tr("Add fact"), [fact](Project &p) { p.addFact(fact); })); });
}

QString ProjectDocument::removeFacts(const std::vector<int64_t> &ids)
{
    if (!m_project || ids.empty())
        return {};
    return attempt([&] {
        pushFactCommand(m_undo, new FactCommand(this, tr("Remove %n fact(s)", nullptr, static_cast<int>(ids.size())),
            [ids](Project &p) { p.removeFacts(ids); }));
    });
}

} // namespace engram::ui
