#pragma once
// ScoresPanel: the Edit tab's "Before / after" box — the evaluation of the edited facts on the
// base model and on the current state as a table (Score, ES, PS, NS, EM, PM, NM, GE, and Kept:
// the recall of the project's other facts) and a bar chart of ES/PS/NS. It only presents.

#include "core/eval/counterfact.h"

#include <QGroupBox>

class QCustomPlot;
class QStandardItemModel;
class QTableView;

namespace engram::ui {

class ScoresPanel : public QGroupBox
{
    Q_OBJECT
public:
    explicit ScoresPanel(QWidget *parent = nullptr);

    /// Shows `pre` (the base model) and `post`; retention 0..1, or -1 when none was measured.
    void showScores(const EvalSummary &pre, const EvalSummary &post, double retentionPre, double retentionPost);
    QTableView *table() const { return m_table; }
    QCustomPlot *chart() const { return m_chart; }

private:
    QStandardItemModel *m_model = nullptr;
    QTableView *m_table = nullptr;
    QCustomPlot *m_chart = nullptr;
};

} // namespace engram::ui
