#include "ui/models/factsmodel.h"

#include "ui/models/projectdocument.h"

#include <QBrush>
#include <QColor>

namespace engram::ui {

namespace {
QString q(const std::string &s)
{
    return QString::fromStdString(s);
}
QString trimmed(const std::string &s)
{
    return q(s).trimmed();
}
QString joinTags(const std::vector<std::string> &tags)
{
    QStringList list;
    for (const auto &t : tags)
        list << q(t);
    return list.join(QStringLiteral(", "));
}
} // namespace

FactsModel::FactsModel(ProjectDocument *document, QObject *parent)
    : QAbstractTableModel(parent)
    , m_document(document)
{
    connect(document, &ProjectDocument::factsChanged, this, [this] {
        beginResetModel();
        endResetModel();
    });
}

int FactsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_document->facts().size());
}

int FactsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QString FactsModel::conflictText(int64_t factId) const
{
    QStringList messages;
    for (const auto &c : m_document->conflicts())
        if (std::find(c.factIds.begin(), c.factIds.end(), factId) != c.factIds.end())
            messages << q(c.message);
    return messages.join(QStringLiteral("\n"));
}

QVariant FactsModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= rowCount())
        return {};
    const Fact &f = m_document->facts()[static_cast<std::size_t>(index.row())];
    if (role == FactIdRole)
        return QVariant::fromValue<qlonglong>(f.id);
    const int64_t run = m_document->editedBy(f.id);
    const QString conflict = index.column() == Status || role == ConflictRole ? conflictText(f.id) : QString();
    if (role == ConflictRole)
        return conflict;
    if (index.column() == Enabled && role == Qt::CheckStateRole)
        return f.enabled ? Qt::Checked : Qt::Unchecked;
    if (role == Qt::DisplayRole || role == Qt::EditRole) {
        switch (index.column()) {
        case Id:
            return QVariant::fromValue<qlonglong>(f.id);
        case Subject:
            return q(f.subject);
        case Relation:
            return q(f.relation);
        case Prompt:
            return q(f.promptTemplate);
        case TargetTrue:
            return role == Qt::EditRole ? q(f.targetTrue) : trimmed(f.targetTrue);
        case TargetNew:
            return role == Qt::EditRole ? q(f.targetNew) : trimmed(f.targetNew);
        case Tags:
            return joinTags(f.tags);
        case Status:
            if (run)
                return tr("edited (run %1)").arg(run);
            if (!conflict.isEmpty())
                return tr("conflict");
            return f.enabled ? tr("pending") : tr("disabled");
        default:
            return {};
        }
    }
    if (role == Qt::ToolTipRole) {
        if (index.column() == Status && !conflict.isEmpty())
            return conflict;
        if (index.column() == Prompt)
            return tr("\"{}\" marks where the subject goes");
        return tr("From %1, added %2").arg(q(f.provenance), q(f.createdAt));
    }
    if (role == Qt::ForegroundRole && index.column() == Status) {
        if (!conflict.isEmpty())
            return QBrush(QColor(0xb0, 0x20, 0x20));
        if (run)
            return QBrush(QColor(0x20, 0x70, 0x30));
    }
    return {};
}

QVariant FactsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case Enabled:
        return tr("On");
    case Id:
        return tr("#");
    case Subject:
        return tr("Subject");
    case Relation:
        return tr("Relation");
    case Prompt:
        return tr("Prompt");
    case TargetTrue:
        return tr("True object");
    case TargetNew:
        return tr("New object");
    case Tags:
        return tr("Tags");
    case Status:
        return tr("Status");
    default:
        return {};
    }
}

Qt::ItemFlags FactsModel::flags(const QModelIndex &index) const
{
    Qt::ItemFlags f = QAbstractTableModel::flags(index);
    if (!index.isValid())
        return f;
    if (index.column() == Enabled)
        f |= Qt::ItemIsUserCheckable;
    else if (index.column() != Id && index.column() != Status)
        f |= Qt::ItemIsEditable;
    return f;
}

std::optional<Fact> FactsModel::withEdit(const QModelIndex &index, const QVariant &value, int role) const
{
    if (!index.isValid() || index.row() >= rowCount())
        return std::nullopt;
    Fact f = m_document->facts()[static_cast<std::size_t>(index.row())];
    const std::string text = value.toString().toStdString();
    if (index.column() == Enabled && role == Qt::CheckStateRole) {
        f.enabled = value.toInt() == Qt::Checked;
        return f;
    }
    if (role != Qt::EditRole)
        return std::nullopt;
    switch (index.column()) {
    case Subject:
        f.subject = text;
        break;
    case Relation:
        f.relation = text;
        break;
    case Prompt:
        f.promptTemplate = text;
        break;
    case TargetTrue:
        f.targetTrue = text.empty() || text.front() == ' ' ? text : " " + text;
        break;
    case TargetNew:
        f.targetNew = text.empty() || text.front() == ' ' ? text : " " + text;
        break;
    case Tags: {
        f.tags.clear();
        for (const QString &t : value.toString().split(QLatin1Char(','), Qt::SkipEmptyParts))
            f.tags.push_back(t.trimmed().toStdString());
        break;
    }
    default:
        return std::nullopt;
    }
    return f;
}

QString FactsModel::validate(const QModelIndex &index, const QString &text) const
{
    const auto f = withEdit(index, text, Qt::EditRole);
    return f ? QString::fromStdString(validateFact(*f)) : QString();
}

bool FactsModel::setData(const QModelIndex &index, const QVariant &value, int role)
{
    const auto f = withEdit(index, value, role);
    if (!f)
        return false;
    const QString problem = m_document->updateFact(*f);
    if (!problem.isEmpty()) {
        Q_EMIT editRejected(problem);
        return false;
    }
    return true;
}

void FactsFilter::setRelation(const QString &relation)
{
    m_relation = relation;
    invalidateFilter();
}

void FactsFilter::setTag(const QString &tag)
{
    m_tag = tag;
    invalidateFilter();
}

void FactsFilter::setText(const QString &text)
{
    m_text = text;
    invalidateFilter();
}

bool FactsFilter::filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const
{
    const auto *m = sourceModel();
    auto cell = [&](int column) { return m->index(sourceRow, column, sourceParent).data().toString(); };
    if (!m_relation.isEmpty() && cell(FactsModel::Relation) != m_relation)
        return false;
    if (!m_tag.isEmpty()
        && !cell(FactsModel::Tags).split(QStringLiteral(", "), Qt::SkipEmptyParts).contains(m_tag))
        return false;
    if (m_text.isEmpty())
        return true;
    for (int c = FactsModel::Subject; c <= FactsModel::Status; ++c)
        if (cell(c).contains(m_text, Qt::CaseInsensitive))
            return true;
    return false;
}

bool FactsFilter::lessThan(const QModelIndex &left, const QModelIndex &right) const
{
    if (left.column() == FactsModel::Id)
        return left.data().toLongLong() < right.data().toLongLong();
    return QSortFilterProxyModel::lessThan(left, right);
}

} // namespace engram::ui
