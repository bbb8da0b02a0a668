#pragma once
// ScoresPanel: the Edit tab's "Before / after" box — the evaluation of the edited facts on the
// base model and on the current state as a table (Score, ES, PS, NS, EM, PM, NM, GE, and Kept:
// the recall of the project's other facts) and a bar chart of ES/PS/NS/Kept; a warning when
// the edit harmed what it should have left alone, with the facts that broke; or, when no
// stored evaluation describes the model as it is now, a "stale" line and a Score-now button.
// It only presents.

#include "core/eval/counterfact.h"

#include <QGroupBox>
#include <QStringList>

class QCustomPlot;
class QLabel;
class QListWidget;
class QPushButton;
class QStandardItemModel;
class QTableView;

namespace engram::ui {

class ScoresPanel : public QGroupBox
{
    Q_OBJECT
public:
    explicit ScoresPanel(QWidget *parent = nullptr);

    /// Shows `pre` (the base model) and `post`; retention 0..1, or -1 when none was measured.
    /// `caption` says which model "post" is (e.g. "after runs 1, 2").
    void showScores(const EvalSummary &pre, const EvalSummary &post, double retentionPre, double retentionPost,
        const QString &caption = {});
    /// Collateral damage: a warning line (empty: none) and one line per fact that broke.
    void showDamage(const QString &warning, const QStringList &broken);
    /// No scores describe the current model: clears the table and chart and says why.
    void showStale(const QString &why);
    bool isStale() const { return m_stale; }
    QString caption() const;
    QString warning() const;
    QTableView *table() const { return m_table; }
    QCustomPlot *chart() const { return m_chart; }
    QListWidget *brokenList() const { return m_broken; }

Q_SIGNALS:
    /// The user asked to score the model as it is now.
    void scoreRequested();

private:
    QStandardItemModel *m_model = nullptr;
    QTableView *m_table = nullptr;
    QCustomPlot *m_chart = nullptr;
    QLabel *m_caption = nullptr;
    QPushButton *m_scoreNow = nullptr;
    QLabel *m_warning = nullptr;
    QListWidget *m_broken = nullptr;
    bool m_stale = true;
};

} // namespace engram::ui
