#pragma once
// Causal-tracing heatmaps with QCustomPlot: one panel per traced kind (hidden state, MLP,
// attention) side by side; rows are tokens (subject tokens marked with *), columns are
// layers, colour is p(answer) from the corrupted floor (low score) to the panel's maximum,
// in the reference's colours (purple, green, red). Used by the workbench's trace view and by
// engram-plot (which draws `engram-cli trace --json` output offscreen).

#include "core/trace/causaltrace.h"

#include <QPoint>
#include <QSize>
#include <QString>

class QCustomPlot;

namespace engram::ui {

/// Replaces the plot's contents with the heatmaps of `result` (one axis rect per matrix).
void populateTracePlot(QCustomPlot *plot, const TraceResult &result);

/// The exact value under widget position `pos` of a plot filled by populateTracePlot ("token
/// ' Koutex' (#3, subject), layer 2, MLP: p = 0.412"); empty outside the heatmaps.
QString traceCellText(QCustomPlot *plot, const TraceResult &result, const QPoint &pos);

/// Size in pixels that shows every token row legibly.
QSize tracePlotSize(const TraceResult &result);

/// Saves what `plot` shows as PNG, PDF or SVG (by the file's extension) at `size`.
bool savePlot(QCustomPlot *plot, const QString &file, const QSize &size);

} // namespace engram::ui
