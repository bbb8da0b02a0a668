#pragma once
// The model's health over a project's edit runs (issue 19) with QCustomPlot: ES over every fact
// edited so far, retention of the project's other facts and fluency (both as a share of the
// base model's), in %, on the left axis; the largest cumulative ‖W − W₀‖ / ‖W₀‖ on the right.
// Lines follow the runs that are applied now; a run the guard holds is a red cross over its
// values; the guard's thresholds are dashed lines. The Edit tab's history shows it. Also the
// plot of bench_sequential's CSV (methods side by side), drawn by engram-plot.

#include "core/project/project.h"

#include <optional>
#include <string>
#include <vector>

class QCustomPlot;

namespace engram::ui {

/// One run's health as the chart draws it (percentages; -1: not measured).
struct HealthPoint {
    int64_t run = 0;
    double esSoFar = -1;
    double retention = -1; // % of the base model's
    double fluency = -1; // % of the base model's
    double growth = -1; // max over layers of ‖W − W₀‖ / ‖W₀‖
};

/// The chart's points of `run`; nullopt when it measured no health.
std::optional<HealthPoint> healthPoint(const EditRun &run);

/// Replaces the plot's contents: applied runs as lines, held runs as crosses, the guard's
/// thresholds dashed (a threshold of 0 is off and not drawn). Says so when no run has health.
void populateHealthPlot(QCustomPlot *plot, const std::vector<EditRun> &runs, const HealthGuard &guard);

/// One row of bench_sequential's CSV (the measures after one run of one method).
struct SequentialRow {
    std::string method;
    int run = 0;
    double es = 0, ps = 0, ns = 0; // over every edit so far, 0-100
    double retention = 0; // of the base model's, 0-1
    double otherFacts = 0; // edited subjects' other facts, 0-1
    double fluency = 0, fluencyBase = 0;
};

/// Reads bench_sequential's CSV (columns found by their header names). Error(CorruptFile) naming
/// the file and line for a missing column or a value that is not a number.
std::vector<SequentialRow> readSequentialCsv(const std::string &file);

/// Four panels over the runs, a line per method: ES / PS / NS (ES solid), retention and the
/// edited subjects' other facts, and fluency as a share of the base model's.
void populateSequentialPlot(QCustomPlot *plot, const std::vector<SequentialRow> &rows);

} // namespace engram::ui
