#pragma once
// RunHistoryModel: a project's edit runs as a read-only table (run, status, method, facts,
// layers, ‖ΔW‖/‖W‖ per layer, the model's health after the run, time), one row per run in the
// order they were made; held runs stand out. The Edit
// tab's history; the run id of a row comes back through runId() or RunIdRole.

#include "core/project/project.h"

#include <QAbstractTableModel>

#include <vector>

namespace engram::ui {

class RunHistoryModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { Run, Status, Method, Facts, Layers, Norms, EsSoFar, Retention, Time, ColumnCount };
    static constexpr int RunIdRole = Qt::UserRole; // qlonglong, every column

    explicit RunHistoryModel(QObject *parent = nullptr);

    /// Replaces the rows (a model reset: runs change status and order only as a whole).
    void setRuns(std::vector<EditRun> runs);
    /// The run id of `row`; 0 when out of range.
    int64_t runId(int row) const;
    const std::vector<EditRun> &runs() const { return m_runs; }

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    std::vector<EditRun> m_runs;
};

} // namespace engram::ui
