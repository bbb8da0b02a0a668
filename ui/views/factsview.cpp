#include "ui/views/factsview.h"

#include "core/util/error.h"
#include "ui/models/factsmodel.h"
#include "ui/models/projectdocument.h"

#include <QAction>
#include <QComboBox>
#include <QCompleter>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelection>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QMimeData>
#include <QPushButton>
#include <QTableView>
#include <QUndoStack>
#include <QStyledItemDelegate>
#include <QToolTip>
#include <QVBoxLayout>
#include <QCoreApplication>
#include <QKeyEvent>

#include <algorithm>
#include <map>
#include <set>

namespace engram::ui {
namespace {

// Checks a cell while it is typed: an invalid value (a prompt without {}, an empty subject or
// new object) marks the editor red with the reason as its tooltip, and Enter, Tab or leaving
// the cell keeps the editor open with the text instead of throwing it away. Esc still cancels.
class ValidatingDelegate : public QStyledItemDelegate
{
public:
    ValidatingDelegate(FactsModel *model, FactsFilter *filter, QObject *parent)
        : QStyledItemDelegate(parent)
        , m_model(model)
        , m_filter(filter)
    {
    }

    QWidget *createEditor(QWidget *parent, const QStyleOptionViewItem &option, const QModelIndex &index) const override
    {
        QWidget *editor = QStyledItemDelegate::createEditor(parent, option, index);
        if (auto *line = qobject_cast<QLineEdit *>(editor)) {
            const QPersistentModelIndex source = m_filter->mapToSource(index);
            connect(line, &QLineEdit::textChanged, line, [this, line, source] { mark(line, source); });
        }
        return editor;
    }

    bool eventFilter(QObject *object, QEvent *event) override
    {
        auto *line = qobject_cast<QLineEdit *>(object);
        if (line && !line->property("problem").toString().isEmpty()) {
            const bool commitKey = event->type() == QEvent::KeyPress
                && [&] {
                       const int key = static_cast<QKeyEvent *>(event)->key();
                       return key == Qt::Key_Return || key == Qt::Key_Enter || key == Qt::Key_Tab
                           || key == Qt::Key_Backtab;
                   }();
            if (commitKey || event->type() == QEvent::FocusOut) {
                QToolTip::showText(line->mapToGlobal(QPoint(0, line->height())), line->property("problem").toString(),
                    line);
                return true; // keep the editor and its text
            }
        }
        return QStyledItemDelegate::eventFilter(object, event);
    }

private:
    void mark(QLineEdit *line, const QPersistentModelIndex &source) const
    {
        const QString problem = m_model->validate(source, line->text());
        line->setProperty("problem", problem);
        line->setProperty("invalid", !problem.isEmpty());
        line->setStyleSheet(problem.isEmpty() ? QString()
                                              : QStringLiteral("QLineEdit { border: 2px solid #c62828; "
                                                               "background: #fdecea; }"));
        line->setToolTip(problem.isEmpty() ? QString() : tr("Not saved: %1").arg(problem));
    }

    static QString tr(const char *text) { return QCoreApplication::translate("FactsView", text); }

    FactsModel *m_model;
    FactsFilter *m_filter;
};

} // namespace

FactsView::FactsView(ProjectDocument *document, QWidget *parent)
    : QWidget(parent)
    , m_document(document)
    , m_model(new FactsModel(document, this))
    , m_filter(new FactsFilter(this))
{
    setObjectName(QStringLiteral("factsView"));
    setAcceptDrops(true);
    m_filter->setSourceModel(m_model);

    m_search = new QLineEdit(this);
    m_search->setObjectName(QStringLiteral("factsSearch"));
    m_search->setPlaceholderText(tr("Filter facts (subject, prompt, objects, tags)\u2026"));
    m_search->setClearButtonEnabled(true);
    m_relation = new QComboBox(this);
    m_relation->setObjectName(QStringLiteral("factsRelation"));
    m_relation->setToolTip(tr("Show one relation only"));
    m_tag = new QComboBox(this);
    m_tag->setObjectName(QStringLiteral("factsTag"));
    m_tag->setToolTip(tr("Show one tag only"));

    auto *importButton = new QPushButton(tr("&Import\u2026"), this);
    importButton->setObjectName(QStringLiteral("factsImport"));
    importButton->setToolTip(tr("CounterFact, zsRE, known facts, EasyEdit JSON or CSV (or drop a file here)"));
    auto *addButton = new QPushButton(tr("&Add\u2026"), this);
    addButton->setToolTip(tr("Add one fact by hand"));
    auto *removeButton = new QPushButton(tr("&Remove"), this);
    removeButton->setObjectName(QStringLiteral("factsRemove"));
    removeButton->setToolTip(tr("Remove the selected facts (Del; undo with Ctrl+Z)"));

    auto *traceButton = new QPushButton(tr("&Trace"), this);
    traceButton->setObjectName(QStringLiteral("factsTrace"));
    traceButton->setToolTip(tr("Causal trace of the selected fact (Causal trace tab)"));
    m_table = new QTableView(this);
    m_table->setObjectName(QStringLiteral("factsTable"));
    m_table->setModel(m_filter);
    m_table->setSortingEnabled(true);
    m_table->sortByColumn(FactsModel::Id, Qt::AscendingOrder);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed);
    m_table->setItemDelegate(new ValidatingDelegate(m_model, m_filter, m_table));
    m_table->setAlternatingRowColors(true);
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setColumnWidth(FactsModel::Enabled, 36);
    // Every column in view at the default 1100 x 720 window (tooltips show whole cells).
    m_table->setColumnWidth(FactsModel::Id, 40);
    m_table->setColumnWidth(FactsModel::Subject, 130);
    m_table->setColumnWidth(FactsModel::Relation, 100);
    m_table->setColumnWidth(FactsModel::Prompt, 200);
    m_table->setColumnWidth(FactsModel::TargetTrue, 90);
    m_table->setColumnWidth(FactsModel::TargetNew, 90);
    m_table->setColumnWidth(FactsModel::Tags, 50);
    m_summary = new QLabel(this);
    m_summary->setObjectName(QStringLiteral("factsSummary"));

    auto *bar = new QHBoxLayout;
    bar->addWidget(m_search, 1);
    bar->addWidget(m_relation);
    bar->addWidget(m_tag);
    bar->addWidget(importButton);
    bar->addWidget(addButton);
    bar->addWidget(removeButton);
    bar->addWidget(traceButton);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(bar);
    layout->addWidget(m_table, 1);
    layout->addWidget(m_summary);

    auto *del = new QAction(this);
    del->setShortcut(QKeySequence::Delete);
    del->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    addAction(del);
    connect(del, &QAction::triggered, this, &FactsView::removeSelected);
    connect(importButton, &QPushButton::clicked, this, [this] { importFile(); });
    connect(addButton, &QPushButton::clicked, this, &FactsView::addFact);
    connect(removeButton, &QPushButton::clicked, this, &FactsView::removeSelected);
    connect(traceButton, &QPushButton::clicked, this, [this] {
        const auto ids = selectedFactIds();
        for (const auto &f : m_document->facts())
            if (!ids.empty() && f.id == ids.front()) {
                QString prompt = QString::fromStdString(f.promptTemplate);
                prompt.replace(QStringLiteral("{}"), QString::fromStdString(f.subject));
                Q_EMIT traceRequested(prompt, QString::fromStdString(f.subject));
            }
    });
    connect(m_search, &QLineEdit::textChanged, m_filter, &FactsFilter::setText);
    connect(m_relation, &QComboBox::currentIndexChanged, this,
        [this](int i) { m_filter->setRelation(i <= 0 ? QString() : m_relation->itemText(i)); });
    connect(m_tag, &QComboBox::currentIndexChanged, this,
        [this](int i) { m_filter->setTag(i <= 0 ? QString() : m_tag->itemText(i)); });
    connect(m_model, &FactsModel::editRejected, this, [this](const QString &why) {
        Q_EMIT message(tr("Not changed: %1").arg(why));
    });
    connect(document, &ProjectDocument::factsChanged, this, &FactsView::refreshFilters);
    // A reload after a job resets the model: keep the selected facts selected (by id).
    connect(m_model, &QAbstractItemModel::modelAboutToBeReset, this, [this] {
        const auto ids = selectedFactIds();
        m_keptSelection.assign(ids.begin(), ids.end());
        if (const QModelIndex current = m_table->currentIndex(); current.isValid())
            m_keptCurrent = current.data(FactsModel::FactIdRole).toLongLong();
    });
    connect(m_model, &QAbstractItemModel::modelReset, this, [this] {
        if (m_keptSelection.empty())
            return;
        const std::set<int64_t> wanted(m_keptSelection.begin(), m_keptSelection.end());
        QItemSelection selection;
        QModelIndex current;
        for (int r = 0; r < m_filter->rowCount(); ++r) {
            const QModelIndex index = m_filter->index(r, 0);
            const int64_t id = index.data(FactsModel::FactIdRole).toLongLong();
            if (wanted.count(id))
                selection.select(index, m_filter->index(r, m_filter->columnCount() - 1));
            if (id == m_keptCurrent)
                current = index;
        }
        if (current.isValid())
            m_table->selectionModel()->setCurrentIndex(current, QItemSelectionModel::NoUpdate);
        m_table->selectionModel()->select(selection, QItemSelectionModel::ClearAndSelect);
        m_keptSelection.clear();
    });
    refreshFilters();
}

void FactsView::refreshFilters()
{
    std::set<QString> relations, tags;
    int enabled = 0, edited = 0;
    for (const auto &f : m_document->facts()) {
        if (!f.relation.empty())
            relations.insert(QString::fromStdString(f.relation));
        for (const auto &t : f.tags)
            tags.insert(QString::fromStdString(t));
        enabled += f.enabled;
        edited += m_document->editedBy(f.id) != 0;
    }
    auto refill = [](QComboBox *box, const QString &all, const std::set<QString> &items) {
        const QString current = box->currentText();
        QSignalBlocker block(box);
        box->clear();
        box->addItem(all);
        for (const auto &i : items)
            box->addItem(i);
        const int keep = box->findText(current);
        box->setCurrentIndex(keep > 0 ? keep : 0);
    };
    refill(m_relation, tr("All relations"), relations);
    refill(m_tag, tr("All tags"), tags);
    m_summary->setText(tr("%1 facts, %2 enabled, %3 edited, %4 conflict(s)")
                           .arg(m_document->facts().size())
                           .arg(enabled)
                           .arg(edited)
                           .arg(m_document->conflicts().size()));
}

std::vector<int64_t> FactsView::selectedFactIds() const
{
    std::vector<int64_t> ids;
    for (const QModelIndex &row : m_table->selectionModel()->selectedRows())
        ids.push_back(row.data(FactsModel::FactIdRole).toLongLong());
    return ids;
}

bool FactsView::importFile(const QString &file)
{
    QString path = file;
    if (path.isEmpty())
        path = QFileDialog::getOpenFileName(this, tr("Import Facts"), {},
            tr("Fact datasets (*.json *.jsonl *.csv);;All files (*)"));
    if (path.isEmpty())
        return false;
    const int before = static_cast<int>(m_document->facts().size());
    const QString problem = m_document->importFacts(path);
    if (!problem.isEmpty()) {
        QMessageBox::warning(this, tr("Cannot import"), problem);
        return false;
    }
    const int added = static_cast<int>(m_document->facts().size()) - before;
    const int duplicates = m_document->lastImportDuplicates();
    QString text = added > 0
        ? tr("Imported %n fact(s) from %1 (Ctrl+Z undoes it)", nullptr, added).arg(path)
        : tr("Imported nothing from %1").arg(path);
    if (duplicates > 0)
        text += tr("; %n duplicate(s) of facts already in the project skipped", nullptr, duplicates);
    Q_EMIT message(text);
    return true;
}

bool FactsView::exportFacts(const QString &file)
{
    QString path = file;
    if (path.isEmpty())
        path = QFileDialog::getSaveFileName(
            this, tr("Export Facts"), {}, tr("CounterFact JSON (*.json);;CSV (*.csv)"));
    if (path.isEmpty())
        return false;
    std::set<int64_t> shown;
    for (int r = 0; r < m_filter->rowCount(); ++r)
        shown.insert(m_filter->index(r, 0).data(FactsModel::FactIdRole).toLongLong());
    std::vector<EvalRecord> records;
    for (const auto &f : m_document->facts())
        if (shown.count(f.id))
            records.push_back(recordFromFact(f));
    try {
        exportDataset(records, path.toStdString());
    } catch (const Error &e) {
        QMessageBox::warning(this, tr("Cannot export facts"), QString::fromUtf8(e.what()));
        return false;
    }
    Q_EMIT message(tr("Exported %n fact(s) to %1", nullptr, static_cast<int>(records.size())).arg(path));
    return true;
}

void FactsView::addFact()
{
    QDialog dialog(this);
    dialog.setObjectName(QStringLiteral("addFactDialog"));
    dialog.setWindowTitle(tr("Add Fact"));
    std::set<QString> subjects, relations;
    for (const auto &f : m_document->facts()) {
        subjects.insert(QString::fromStdString(f.subject));
        if (!f.relation.empty())
            relations.insert(QString::fromStdString(f.relation));
    }
    auto *subject = new QLineEdit(&dialog);
    subject->setObjectName(QStringLiteral("addSubject"));
    subject->setToolTip(tr("Who or what the fact is about; the project's subjects complete as you type"));
    auto *completer = new QCompleter(QStringList(subjects.begin(), subjects.end()), subject);
    completer->setCaseSensitivity(Qt::CaseInsensitive);
    completer->setFilterMode(Qt::MatchContains);
    subject->setCompleter(completer);
    auto *prompt = new QLineEdit(QStringLiteral("{} was born in"), &dialog);
    prompt->setObjectName(QStringLiteral("addPrompt"));
    prompt->setToolTip(tr("Exactly one {} where the subject goes; the object follows the prompt"));
    auto *relation = new QComboBox(&dialog);
    relation->setObjectName(QStringLiteral("addRelation"));
    relation->setEditable(true);
    relation->addItem(QString());
    for (const auto &r : relations)
        relation->addItem(r);
    relation->setToolTip(tr("The relation id (e.g. P27): one of the project's, or a new one; it groups facts for "
                            "conflict checks and the Probe tab"));
    // Choosing a known relation proposes its commonest prompt template.
    connect(relation, &QComboBox::textActivated, &dialog, [this, prompt](const QString &chosen) {
        std::map<std::string, int> counts;
        for (const auto &f : m_document->facts())
            if (QString::fromStdString(f.relation) == chosen)
                ++counts[f.promptTemplate];
        const auto best = std::max_element(
            counts.begin(), counts.end(), [](const auto &a, const auto &b) { return a.second < b.second; });
        if (best != counts.end())
            prompt->setText(QString::fromStdString(best->first));
    });
    auto *targetTrue = new QLineEdit(&dialog);
    targetTrue->setObjectName(QStringLiteral("addTrue"));
    targetTrue->setPlaceholderText(tr("blank: the model's own answer"));
    targetTrue->setToolTip(tr("What the model says now; left blank, Engram asks the model and records its answer"));
    auto *targetNew = new QLineEdit(&dialog);
    targetNew->setObjectName(QStringLiteral("addNew"));
    targetNew->setToolTip(tr("What the model should say after the edit"));
    auto *form = new QFormLayout(&dialog);
    form->addRow(tr("&Subject:"), subject);
    form->addRow(tr("&Prompt:"), prompt);
    form->addRow(tr("&Relation:"), relation);
    form->addRow(tr("&True object:"), targetTrue);
    form->addRow(tr("&New object:"), targetNew);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
    form->addRow(buttons);
    connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    int64_t added = 0;
    connect(buttons, &QDialogButtonBox::accepted, &dialog, [&] {
        Fact f;
        f.subject = subject->text().trimmed().toStdString();
        f.promptTemplate = prompt->text().toStdString();
        f.relation = relation->currentText().trimmed().toStdString();
        f.targetTrue = targetTrue->text().trimmed().toStdString();
        f.targetNew = targetNew->text().trimmed().toStdString();
        f.provenance = "gui";
        const auto suggested = suggestPrompts(m_document->facts(), f);
        f.paraphrasePrompts = suggested.paraphrases;
        f.neighborhoodPrompts = suggested.neighbours;
        int64_t before = 0;
        for (const auto &x : m_document->facts())
            before = std::max(before, x.id);
        const QString problem = m_document->addFact(f);
        if (!problem.isEmpty()) {
            QMessageBox::warning(&dialog, tr("Cannot add the fact"), problem);
            return;
        }
        for (const auto &x : m_document->facts())
            if (x.id > before)
                added = x.id;
        dialog.accept();
    });
    if (dialog.exec() != QDialog::Accepted || added == 0)
        return;
    showFact(added);
    Q_EMIT message(tr("Added fact %1 (Ctrl+Z undoes it)").arg(added));
    const auto fact = m_document->project()->fact(added);
    if (fact && fact->targetTrue.empty())
        Q_EMIT factAddedWithoutTrueObject(added);
}

void FactsView::showFact(int64_t factId)
{
    for (int r = 0; r < m_filter->rowCount(); ++r) {
        const QModelIndex index = m_filter->index(r, FactsModel::Subject);
        if (index.data(FactsModel::FactIdRole).toLongLong() == factId) {
            m_table->selectRow(r);
            m_table->scrollTo(index, QAbstractItemView::EnsureVisible);
            return;
        }
    }
}

void FactsView::removeSelected()
{
    const auto ids = selectedFactIds();
    if (ids.empty())
        return;
    const QString problem = m_document->removeFacts(ids);
    if (!problem.isEmpty())
        QMessageBox::warning(this, tr("Cannot remove"), problem);
    else
        Q_EMIT message(tr("Removed %n fact(s) (Ctrl+Z undoes it)", nullptr, static_cast<int>(ids.size())));
}

void FactsView::dragEnterEvent(QDragEnterEvent *event)
{
    if (event->mimeData()->hasUrls())
        event->acceptProposedAction();
}

void FactsView::dropEvent(QDropEvent *event)
{
    for (const QUrl &url : event->mimeData()->urls())
        if (url.isLocalFile())
            importFile(url.toLocalFile());
    event->acceptProposedAction();
}

} // namespace engram::ui
