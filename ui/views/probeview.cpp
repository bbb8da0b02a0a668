#include "ui/views/probeview.h"

#include "ui/jobs/jobcontroller.h"
#include "ui/models/projectdocument.h"

#include <QComboBox>
#include <QCompleter>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <set>

namespace engram::ui {
namespace {

QString qs(const std::string &s)
{
    return QString::fromStdString(s);
}

// "football 99.9 % · hockey 0.1 % · …" over "…football." (the greedy continuation).
QString answerText(const ProbeAnswer &a)
{
    QStringList words;
    for (const auto &c : a.top)
        words << QStringLiteral("%1 %2").arg(qs(c.text).trimmed(),
            c.probability < 0.0005 ? QStringLiteral("<0.1 %")
                                   : QStringLiteral("%1 %").arg(100 * c.probability, 0, 'f', c.probability >= 0.1 ? 0 : 1));
    return words.join(QStringLiteral(" \u00b7 ")) + QStringLiteral("\n\u2026") + qs(a.continuation).simplified();
}

QString joined(const std::vector<std::string> &items)
{
    QStringList out;
    for (const auto &s : items)
        out << qs(s).trimmed();
    return out.join(QStringLiteral(" / "));
}

} // namespace

ProbeView::ProbeView(ProjectDocument *document, JobController *jobs, QWidget *parent)
    : QWidget(parent)
    , m_document(document)
    , m_jobs(jobs)
{
    setObjectName(QStringLiteral("probeView"));
    m_subject = new QComboBox(this);
    m_subject->setObjectName(QStringLiteral("probeSubject"));
    m_subject->setEditable(true);
    m_subject->setInsertPolicy(QComboBox::NoInsert);
    m_subject->setMinimumContentsLength(24);
    m_subject->lineEdit()->setPlaceholderText(tr("Type or pick a subject"));
    m_subject->setToolTip(tr("The subject to ask about: any name, or one of the project's subjects"));
    m_subject->completer()->setCompletionMode(QCompleter::PopupCompletion);
    m_subject->completer()->setFilterMode(Qt::MatchContains);
    m_subject->completer()->setCaseSensitivity(Qt::CaseInsensitive);
    m_topK = new QSpinBox(this);
    m_topK->setObjectName(QStringLiteral("probeTopK"));
    m_topK->setRange(1, 20);
    m_topK->setValue(3);
    m_topK->setToolTip(tr("How many likeliest next words to show per relation"));
    m_run = new QPushButton(tr("&Ask"), this);
    m_run->setObjectName(QStringLiteral("probeRun"));
    m_run->setToolTip(tr("Ask the model every relation of the project about the subject (Enter)"));
    m_add = new QPushButton(tr("Add as &Fact"), this);
    m_add->setObjectName(QStringLiteral("probeAddFact"));
    m_add->setToolTip(tr("Turn the selected row into a pending fact with the new object typed in its last column; "
                         "the model's answer becomes the true object"));
    m_summary = new QLabel(tr("Ask the model what it believes about a subject: every relation the project's facts "
                              "use, answered by the checkpoint and, after edits, by the edited model."),
        this);
    m_summary->setObjectName(QStringLiteral("probeSummary"));
    m_summary->setWordWrap(true);

    m_table = new QTableWidget(0, 6, this);
    m_table->setObjectName(QStringLiteral("probeTable"));
    m_table->setHorizontalHeaderLabels({tr("Relation"), tr("Prompt"), tr("Recorded"),
        tr("Checkpoint"), tr("Current model"), tr("New object")});
    m_table->horizontalHeaderItem(BaseColumn)
        ->setToolTip(tr("The likeliest next words of the checkpoint as stored, without the project's edits, and "
                        "its greedy continuation"));
    m_table->horizontalHeaderItem(CurrentColumn)
        ->setToolTip(tr("The same on the model with the project's applied runs; answers the edits changed are "
                        "highlighted"));
    m_table->horizontalHeaderItem(RecordedColumn)
        ->setToolTip(tr("The project's facts of this subject and relation: true object \u2192 new object"));
    m_table->horizontalHeaderItem(NewObjectColumn)
        ->setToolTip(tr("Type the object you want here, then Add as Fact"));
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setWordWrap(true);
    m_table->verticalHeader()->setVisible(false);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed
        | QAbstractItemView::AnyKeyPressed);

    auto *bar = new QHBoxLayout;
    auto *subjectLabel = new QLabel(tr("&Subject:"), this);
    subjectLabel->setBuddy(m_subject);
    bar->addWidget(subjectLabel);
    bar->addWidget(m_subject, 1);
    auto *topLabel = new QLabel(tr("&Top words:"), this);
    topLabel->setBuddy(m_topK);
    bar->addWidget(topLabel);
    bar->addWidget(m_topK);
    bar->addWidget(m_run);
    bar->addWidget(m_add);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(bar);
    layout->addWidget(m_summary);
    layout->addWidget(m_table, 1);

    connect(m_run, &QPushButton::clicked, this, [this] { probe(); });
    connect(m_subject->lineEdit(), &QLineEdit::returnPressed, this, [this] { probe(); });
    connect(m_add, &QPushButton::clicked, this, [this] {
        const QString problem = addRowAsFact(m_table->currentRow());
        Q_EMIT message(problem.isEmpty() ? tr("Added a pending fact from the probe (Ctrl+Z undoes it)") : problem);
        if (!problem.isEmpty())
            m_summary->setText(problem);
    });
    connect(m_table, &QTableWidget::currentCellChanged, this, [this] { updateActions(); });
    connect(m_table, &QTableWidget::itemChanged, this, [this] { updateActions(); });
    connect(m_document, &ProjectDocument::factsChanged, this, &ProbeView::refreshSubjects);
    connect(m_document, &ProjectDocument::opened, this, [this] {
        m_result.reset();
        m_table->setRowCount(0);
        refreshSubjects();
    });
    connect(m_document, &ProjectDocument::runsChanged, this, &ProbeView::historyChanged);
    refreshSubjects();
    updateActions();
}

void ProbeView::refreshSubjects()
{
    const QString current = m_subject->currentText();
    std::set<QString> subjects;
    for (const auto &f : m_document->facts())
        subjects.insert(qs(f.subject));
    m_subject->blockSignals(true);
    m_subject->clear();
    for (const auto &s : subjects)
        m_subject->addItem(s);
    m_subject->setEditText(current);
    m_subject->blockSignals(false);
    updateActions();
}

void ProbeView::updateActions()
{
    const bool open = m_document->isOpen();
    m_run->setEnabled(open && !m_inFlight);
    const int row = m_table->currentRow();
    const auto *typed = row >= 0 ? m_table->item(row, NewObjectColumn) : nullptr;
    m_add->setEnabled(open && m_result && row >= 0 && typed && !typed->text().trimmed().isEmpty());
}

void ProbeView::historyChanged()
{
    if (!m_result)
        return;
    m_stale = true;
    if (isVisible())
        probe(qs(m_result->subject));
    else
        m_summary->setText(tr("The project's history changed since these answers; they are asked again when this "
                              "tab is shown."));
}

void ProbeView::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    if (m_stale && m_result && !m_inFlight)
        probe(qs(m_result->subject));
}

void ProbeView::probe(const QString &subjectText)
{
    const QString subject = (subjectText.isEmpty() ? m_subject->currentText() : subjectText).trimmed();
    if (!m_document->isOpen() || m_inFlight)
        return;
    if (subject.isEmpty()) {
        m_summary->setText(tr("Type or pick a subject first."));
        return;
    }
    if (m_document->facts().empty()) {
        m_summary->setText(tr("The project has no facts yet, so it knows no relations to ask about: import or add "
                              "facts first."));
        return;
    }
    ProbeJobSpec spec;
    spec.subject = subject.toStdString();
    spec.params.topK = m_topK->value();
    const std::filesystem::path file = m_document->project()->file();
    m_inFlight = true;
    updateActions();
    m_summary->setText(tr("Asking the model about %1\u2026").arg(subject));
    m_jobs->submit(
        tr("Probe \u201c%1\u201d").arg(subject),
        [file, spec](JobContext &context) { return runProbeJob(file, spec, context); }, this,
        [this](const ProbeJobResult &result) {
            m_inFlight = false;
            m_stale = false;
            m_result = result;
            showResult();
            updateActions();
            Q_EMIT probed();
        },
        [this](JobOutcome outcome, const QString &messageText) {
            m_inFlight = false;
            updateActions();
            m_summary->setText(outcome == JobOutcome::Cancelled ? tr("Probe cancelled.")
                                                                : tr("The probe failed: %1").arg(messageText));
        });
}

void ProbeView::showResult()
{
    const ProbeJobResult &r = *m_result;
    const bool current = !r.appliedRuns.empty();
    m_table->blockSignals(true);
    m_table->clearContents();
    m_table->setRowCount(static_cast<int>(r.rows.size()));
    m_table->setColumnHidden(CurrentColumn, !current);
    int changed = 0, bleed = 0;
    const QColor changedColor(255, 224, 160);
    for (int i = 0; i < static_cast<int>(r.rows.size()); ++i) {
        const ProbeRow &row = r.rows[static_cast<std::size_t>(i)];
        auto *relation = new QTableWidgetItem(
            qs(row.relation.relation) + (row.relation.edited ? tr("\n(edited)") : QString()));
        relation->setToolTip(row.relation.edited ? tr("An applied run edited this subject's fact of this relation")
                                                 : tr("No applied run edited this subject in this relation"));
        auto *prompt = new QTableWidgetItem(qs(row.relation.prompt));
        prompt->setToolTip(tr("Template: %1").arg(qs(row.relation.promptTemplate)));
        const QString recordedText = row.relation.factIds.empty()
            ? tr("\u2013")
            : tr("%1 \u2192 %2").arg(joined(row.relation.recordedTrue), joined(row.relation.recordedNew));
        auto *recorded = new QTableWidgetItem(recordedText);
        recorded->setToolTip(row.relation.factIds.empty() ? tr("The project has no fact of this subject and relation")
                                                          : tr("The project's fact(s) of this subject and relation"));
        auto *base = new QTableWidgetItem(answerText(row.base));
        for (auto *item : {relation, prompt, recorded, base})
            item->setFlags(item->flags() & ~Qt::ItemIsEditable);
        m_table->setItem(i, RelationColumn, relation);
        m_table->setItem(i, PromptColumn, prompt);
        m_table->setItem(i, RecordedColumn, recorded);
        m_table->setItem(i, BaseColumn, base);
        if (row.current) {
            auto *cur = new QTableWidgetItem(answerText(*row.current));
            cur->setFlags(cur->flags() & ~Qt::ItemIsEditable);
            if (row.changed) {
                cur->setBackground(changedColor);
                QFont bold = cur->font();
                bold.setBold(true);
                cur->setFont(bold);
                cur->setToolTip(row.relation.edited
                        ? tr("The edits changed this answer (an edited fact)")
                        : tr("The edits changed this answer although no run edited this subject in this relation: "
                             "bleed-over"));
                ++changed;
                bleed += !row.relation.edited;
            }
            m_table->setItem(i, CurrentColumn, cur);
        }
        auto *typed = new QTableWidgetItem;
        typed->setToolTip(tr("Type the object the model should answer, then Add as Fact"));
        m_table->setItem(i, NewObjectColumn, typed);
    }
    m_table->blockSignals(false);
    layoutColumns();
    QString text = tr("<b>%1</b>: %n relation(s)", nullptr, static_cast<int>(r.rows.size())).arg(qs(r.subject).toHtmlEscaped());
    if (!current)
        text += tr(" on the checkpoint (no applied runs yet)");
    else
        text += tr(" on the checkpoint and the current model (%n applied run(s)): ", nullptr,
                    static_cast<int>(r.appliedRuns.size()))
            + tr("%n answer(s) changed", nullptr, changed)
            + (bleed ? tr(", <span style='color:#b04000'>%n of them in relations no run edited</span>", nullptr, bleed)
                     : QString());
    text += tr(" \u00b7 %1 s").arg(r.seconds, 0, 'f', 2);
    m_summary->setText(text);
}

void ProbeView::layoutColumns()
{
    // Relation, prompt and recorded objects as wide as they need up to a cap; the answer
    // columns share what is left, so both stay readable side by side.
    const int total = m_table->viewport()->width();
    const int caps[] = {110, 220, 130};
    int used = 0;
    for (int c : {RelationColumn, PromptColumn, RecordedColumn}) {
        m_table->resizeColumnToContents(c);
        m_table->setColumnWidth(c, std::min(m_table->columnWidth(c) + 6, caps[c]));
        used += m_table->columnWidth(c);
    }
    m_table->setColumnWidth(NewObjectColumn, 100);
    used += 100;
    const int answers = m_table->isColumnHidden(CurrentColumn) ? 1 : 2;
    const int each = std::max(180, (total - used) / answers);
    m_table->setColumnWidth(BaseColumn, each);
    m_table->setColumnWidth(CurrentColumn, each);
    m_table->resizeRowsToContents();
}

void ProbeView::resizeEvent(QResizeEvent *event)
{
    QWidget::resizeEvent(event);
    if (m_table->rowCount() > 0)
        layoutColumns();
}

QString ProbeView::addRowAsFact(int row)
{
    if (!m_result || row < 0 || row >= static_cast<int>(m_result->rows.size()))
        return tr("Probe a subject and select a row first.");
    const auto *typed = m_table->item(row, NewObjectColumn);
    const QString newObject = typed ? typed->text().trimmed() : QString();
    if (newObject.isEmpty())
        return tr("Type the new object in the row's \u201cNew object\u201d cell first.");
    const ProbeRow &r = m_result->rows[static_cast<std::size_t>(row)];
    Fact f;
    f.subject = m_result->subject;
    f.promptTemplate = r.relation.promptTemplate;
    // The relation key is the template itself when the project's facts name no relation.
    f.relation = r.relation.relation == r.relation.promptTemplate ? std::string() : r.relation.relation;
    f.targetTrue = answerPhrase(r.current ? *r.current : r.base);
    f.targetNew = newObject.toStdString();
    f.provenance = "probe";
    const auto suggested = suggestPrompts(m_document->facts(), f);
    f.paraphrasePrompts = suggested.paraphrases;
    f.neighborhoodPrompts = suggested.neighbours;
    return m_document->addFact(f);
}

void ProbeView::completeFact(int64_t factId)
{
    const auto *found = [&]() -> const Fact * {
        for (const auto &f : m_document->facts())
            if (f.id == factId)
                return &f;
        return nullptr;
    }();
    if (!found || !m_document->isOpen())
        return;
    ProbeJobSpec spec;
    spec.subject = found->subject;
    spec.relations = {found->relationKey()};
    spec.params.topK = 1;
    const std::filesystem::path file = m_document->project()->file();
    m_jobs->submit(
        tr("Ask the model about fact %1").arg(factId),
        [file, spec](JobContext &context) { return runProbeJob(file, spec, context); }, this,
        [this, factId](const ProbeJobResult &result) {
            std::optional<Fact> fact;
            for (const auto &f : m_document->facts())
                if (f.id == factId)
                    fact = f;
            if (!fact || result.rows.empty() || !fact->targetTrue.empty())
                return; // removed or filled in meanwhile
            const ProbeRow &row = result.rows.front();
            // The fact's own template, which the probe used (the subject has this fact).
            fact->targetTrue = answerPhrase(row.current ? *row.current : row.base);
            if (fact->targetTrue.empty())
                return;
            const auto suggested = suggestPrompts(m_document->facts(), *fact);
            if (fact->paraphrasePrompts.empty())
                fact->paraphrasePrompts = suggested.paraphrases;
            if (fact->neighborhoodPrompts.empty())
                fact->neighborhoodPrompts = suggested.neighbours;
            const QString problem = m_document->updateFact(*fact);
            Q_EMIT message(problem.isEmpty()
                    ? tr("Fact %1: true object \u201c%2\u201d is the model's own answer; %n paraphrase(s) and %3 "
                         "neighbourhood prompt(s) suggested from the relation's facts (Ctrl+Z undoes it)",
                          nullptr, static_cast<int>(fact->paraphrasePrompts.size()))
                          .arg(factId)
                          .arg(qs(fact->targetTrue))
                          .arg(fact->neighborhoodPrompts.size())
                    : problem);
            if (problem.isEmpty())
                Q_EMIT factCompleted(factId);
        });
}

} // namespace engram::ui
