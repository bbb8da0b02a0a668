#include "ui/views/compareview.h"

#include "core/jobs/projectjobs.h"
#include "ui/jobs/jobcontroller.h"
#include "ui/models/projectdocument.h"
#include "ui/util/worddiff.h"

#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QStandardItemModel>
#include <QTableView>
#include <QTextBrowser>
#include <QVBoxLayout>

#include <cmath>
#include <map>
#include <memory>

namespace engram::ui {

namespace {
enum Column { Id, Subject, NewObject, PTrueBefore, PTrueAfter, PNewBefore, PNewAfter, Es, Ps, Ns, Columns };

QStandardItem *number(double v, int decimals)
{
    auto *item = new QStandardItem(std::isnan(v) ? QStringLiteral("\u2013") : QString::number(v, 'f', decimals));
    item->setData(std::isnan(v) ? -1.0 : v, Qt::UserRole); // sort key
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return item;
}
} // namespace

CompareView::CompareView(ProjectDocument *document, JobController *jobs, QWidget *parent)
    : QWidget(parent)
    , m_document(document)
    , m_jobs(jobs)
    , m_model(new QStandardItemModel(0, Columns, this))
    , m_proxy(new QSortFilterProxyModel(this))
{
    setObjectName(QStringLiteral("compareView"));
    m_model->setHorizontalHeaderLabels({tr("#"), tr("Subject"), tr("New object"), tr("p(true) before"),
        tr("p(true) after"), tr("p(new) before"), tr("p(new) after"), tr("ES"), tr("PS"), tr("NS")});
    m_proxy->setSourceModel(m_model);
    m_proxy->setSortRole(Qt::UserRole);
    m_table = new QTableView(this);
    m_table->setObjectName(QStringLiteral("compareTable"));
    m_table->setModel(m_proxy);
    m_table->setSortingEnabled(true);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setToolTip(tr("p: probability of the object after the fact's prompt (mean over its tokens); ES/PS/NS: "
                           "the fact's efficacy, paraphrase and neighborhood scores after the edit (\u00d7100)"));
    m_caption = new QLabel(tr("Run an edit: its facts are scored here before and after."), this);
    m_caption->setObjectName(QStringLiteral("compareCaption"));
    m_generate = new QPushButton(tr("&Generate Before / After"), this);
    m_generate->setObjectName(QStringLiteral("compareGenerate"));
    m_generate->setToolTip(tr("Continue the selected fact's prompt and first paraphrase with the base model and the "
                              "edited one (greedy, same settings)"));
    m_before = new QTextBrowser(this);
    m_before->setObjectName(QStringLiteral("compareBefore"));
    m_after = new QTextBrowser(this);
    m_after->setObjectName(QStringLiteral("compareAfter"));
    auto *beforeBox = new QGroupBox(tr("Base model"), this);
    (new QVBoxLayout(beforeBox))->addWidget(m_before);
    auto *afterBox = new QGroupBox(tr("Edited model"), this);
    (new QVBoxLayout(afterBox))->addWidget(m_after);
    auto *texts = new QSplitter(Qt::Horizontal, this);
    texts->addWidget(beforeBox);
    texts->addWidget(afterBox);

    auto *top = new QWidget(this);
    auto *topLayout = new QVBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    topLayout->addWidget(m_caption);
    topLayout->addWidget(m_table, 1);
    auto *bar = new QHBoxLayout;
    bar->addWidget(m_generate);
    bar->addStretch(1);
    topLayout->addLayout(bar);
    auto *split = new QSplitter(Qt::Vertical, this);
    split->addWidget(top);
    split->addWidget(texts);
    (new QVBoxLayout(this))->addWidget(split);

    connect(m_generate, &QPushButton::clicked, this, &CompareView::compareSelected);
    connect(m_table, &QTableView::doubleClicked, this, &CompareView::compareSelected);
    connect(m_document, &ProjectDocument::runsChanged, this, &CompareView::refresh);
}

void CompareView::refresh()
{
    m_model->removeRows(0, m_model->rowCount());
    if (!m_document->isOpen())
        return;
    const auto evaluations = m_document->project()->evaluations();
    if (evaluations.empty()) {
        m_caption->setText(tr("Run an edit: its facts are scored here before and after."));
        return;
    }
    const auto &e = evaluations.back();
    std::map<int64_t, std::map<std::string, double>> values; // fact -> "phase/kind" -> value
    for (const auto &m : m_document->project()->metrics(e.id))
        values[m.factId][m.phase + "/" + m.kind] = m.value;
    for (const auto &[factId, v] : values) {
        if (!v.count("post/es") && !v.count("pre/es"))
            continue; // a retention fact ("kept" only): not one of the evaluated facts
        const auto fact = m_document->project()->fact(factId);
        auto get = [&](const char *key) {
            const auto it = v.find(key);
            return it == v.end() ? std::nan("") : it->second;
        };
        auto *id = new QStandardItem(QString::number(factId));
        id->setData(QVariant::fromValue<qlonglong>(factId), Qt::UserRole);
        const QString subject = fact ? QString::fromStdString(fact->subject) : tr("(removed)");
        auto *s = new QStandardItem(subject);
        s->setData(subject, Qt::UserRole);
        const QString target = fact ? QString::fromStdString(fact->targetNew).trimmed() : QString();
        auto *t = new QStandardItem(target);
        t->setData(target, Qt::UserRole);
        m_model->appendRow({id, s, t, number(get("pre/p_true"), 3), number(get("post/p_true"), 3),
            number(get("pre/p_new"), 3), number(get("post/p_new"), 3), number(100 * get("post/es"), 0),
            number(100 * get("post/ps"), 0), number(100 * get("post/ns"), 0)});
    }
    m_caption->setText(tr("Evaluation %1 (%2, after run %3): %n fact(s)", nullptr, static_cast<int>(values.size()))
                           .arg(e.id)
                           .arg(QString::fromStdString(e.createdAt))
                           .arg(e.runId));
}

void CompareView::compareSelected()
{
    const auto rows = m_table->selectionModel()->selectedRows();
    if (rows.isEmpty() || !m_document->isOpen())
        return;
    const qlonglong factId = rows.front().data(Qt::UserRole).toLongLong();
    const auto fact = m_document->project()->fact(factId);
    if (!fact)
        return;
    std::vector<std::string> prompts;
    std::string prompt = fact->promptTemplate;
    prompt.replace(prompt.find("{}"), 2, fact->subject);
    prompts.push_back(prompt);
    if (!fact->paraphrasePrompts.empty())
        prompts.push_back(fact->paraphrasePrompts.front());
    GenerationParams params;
    params.maxNewTokens = 24;
    const std::filesystem::path file = m_document->project()->file();
    const QString name = tr("Generate before/after for fact %1").arg(factId);
    m_jobs->submit(
        name,
        [file, prompts, params](
            JobContext &context) { return runCompareGenerationJob(file, prompts, params, {}, context); },
        this,
        [this](const std::vector<GenerationPair> &result) {
            QString before, after;
            for (const auto &g : result) {
                const WordDiff d = diffWords(QString::fromStdString(g.before), QString::fromStdString(g.after));
                const QString prompt
                    = QStringLiteral("<i>%1</i>").arg(QString::fromStdString(g.prompt).toHtmlEscaped());
                before += QStringLiteral("<p>%1%2</p>")
                              .arg(prompt, highlightedHtml(d.before, d.beforeChanged, QStringLiteral("#f3c4c4")));
                after += QStringLiteral("<p>%1%2</p>")
                             .arg(prompt, highlightedHtml(d.after, d.afterChanged, QStringLiteral("#c8e6c9")));
            }
            m_before->setHtml(before);
            m_after->setHtml(after);
            Q_EMIT generationsShown();
        });
}

} // namespace engram::ui
