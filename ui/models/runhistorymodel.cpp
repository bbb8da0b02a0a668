#include "ui/models/runhistorymodel.h"

#include <algorithm>

#include <QColor>
#include <QFont>
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
    if (role == Qt::ToolTipRole) {
        if (index.column() == Norms && !r.summary.relativeNorms.empty()) {
            QStringList lines;
            for (std::size_t i = 0; i < r.summary.relativeNorms.size(); ++i)
                lines << tr("layer %1: %2")
                             .arg(i < r.summary.layers.size() ? r.summary.layers[i] : static_cast<int>(i))
                             .arg(r.summary.relativeNorms[i], 0, 'g', 3);
            return tr("How much the run changed each edited weight, \u2016\u0394W\u2016 / \u2016W\u2016:\n")
                + lines.join(QLatin1Char('\n'));
        }
        const RunHealth &h = r.summary.health;
        if ((index.column() == EsSoFar || index.column() == Retention) && h.measured()) {
            QString text = tr("After this run, on the project's facts:\nES over the %1 facts edited so far: %2")
                               .arg(h.editedFacts)
                               .arg(h.esSoFar, 0, 'f', 1);
            if (h.retentionRatio() >= 0)
                text += tr("\nRetention of the %1 other facts: %2 of them recalled, %3 on the base model")
                            .arg(h.otherFacts)
                            .arg(QString::number(100 * h.retention, 'f', 0) + QStringLiteral(" %"),
                                QString::number(100 * h.retentionBase, 'f', 0) + QStringLiteral(" %"));
            if (h.fluency >= 0)
                text += tr("\nFluency: %1 (base model %2)").arg(h.fluency, 0, 'f', 2).arg(h.fluencyBase, 0, 'f', 2);
            return text;
        }
        return QString::fromStdString(r.message.empty() ? r.createdAt : r.message);
    }
    if (role == Qt::ForegroundRole && index.column() == Status && r.status == RunStatus::Held)
        return QColor(176, 80, 0); // a decision is waiting
    if (role == Qt::FontRole && r.status == RunStatus::Held) {
        QFont bold;
        bold.setBold(true);
        return bold;
    }
    if (role == Qt::TextAlignmentRole)
        return index.column() == Run || index.column() == Facts || index.column() == Time
                || index.column() == EsSoFar || index.column() == Retention
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
        // The largest change, and where: the per-layer values are in the tooltip.
        const auto &n = r.summary.relativeNorms;
        if (n.empty())
            return QStringLiteral("\u2013");
        const auto at = static_cast<std::size_t>(std::max_element(n.begin(), n.end()) - n.begin());
        const QString value = n[at] >= 100 ? QString::number(qRound64(n[at])) : QString::number(n[at], 'g', 3);
        return tr("%1 (L%2)").arg(value).arg(at < r.summary.layers.size() ? r.summary.layers[at] : int(at));
    }
    case EsSoFar:
        return r.summary.health.esSoFar >= 0 ? QString::number(r.summary.health.esSoFar, 'f', 1)
                                             : QStringLiteral("\u2013");
    case Retention: {
        const double ratio = r.summary.health.retentionRatio();
        return ratio >= 0 ? QString::number(100 * ratio, 'f', 1) + QStringLiteral(" %") : QStringLiteral("\u2013");
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
        return tr("Max \u2016\u0394W\u2016/\u2016W\u2016");
    case EsSoFar:
        return tr("ES so far");
    case Retention:
        return tr("Retention");
    case Time:
        return tr("Time");
    default:
        return {};
    }
}

} // namespace engram::ui
