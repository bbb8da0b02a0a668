#include "ui/models/runhistorymodel.h"

#include <QStringList>

namespace engram::ui {

RunHistoryModel::RunHistoryModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void RunHistoryModel::setRuns(std::vector<EditRun> runs)
{
    beginResetModel();
    m_runs = std::move(runs);
    endResetModel();
}

int64_t RunHistoryModel::runId(int row) const
{
    return row >= 0 && row < rowCount() ? m_runs[static_cast<std::size_t>(row)].id : 0;
}

int RunHistoryModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_runs.size());
}

int RunHistoryModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant RunHistoryModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const EditRun &r = m_runs[static_cast<std::size_t>(index.row())];
    if (role == RunIdRole)
        return QVariant::fromValue<qlonglong>(r.id);
    if (role == Qt::ToolTipRole)
        return QString::fromStdString(r.message.empty() ? r.createdAt : r.message);
    if (role == Qt::TextAlignmentRole)
        return index.column() == Run || index.column() == Facts || index.column() == Time
            ? QVariant(Qt::AlignRight | Qt::AlignVCenter)
            : QVariant();
    if (role != Qt::DisplayRole)
        return {};
    switch (index.column()) {
    case Run:
        return QVariant::fromValue<qlonglong>(r.id);
    case Status:
        return QString::fromUtf8(runStatusName(r.status));
    case Method:
        return QString::fromStdString(r.method);
    case Facts:
        return static_cast<int>(r.facts.size());
    case Layers: {
        QStringList layers;
        for (int l : r.summary.layers)
            layers << QString::number(l);
        return layers.join(QLatin1Char(','));
    }
    case Norms: {
        QStringList norms;
        for (double n : r.summary.relativeNorms)
            norms << QString::number(n, 'g', 3);
        return norms.join(QStringLiteral(" / "));
    }
    case Time:
        return tr("%1 s").arg(r.seconds, 0, 'f', 1);
    default:
        return {};
    }
}

QVariant RunHistoryModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case Run:
        return tr("Run");
    case Status:
        return tr("Status");
    case Method:
        return tr("Method");
    case Facts:
        return tr("Facts");
    case Layers:
        return tr("Layers");
    case Norms:
        return tr("\u2016\u0394W\u2016/\u2016W\u2016");
    case Time:
        return tr("Time");
    default:
        return {};
    }
}

} // namespace engram::ui
