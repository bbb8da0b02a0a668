#pragma once
// The one JSON schema of evaluation results (docs/evaluation-json.md), written by
// `engram-cli eval … --json` for a dataset file and for a project, and stored with a project's
// evaluations. Keys are the metric abbreviations of the paper (es, ps, ns, em, pm, nm) and the
// zsRE accuracies; a metric with no value (count 0, or not a number) is null.

#include "core/eval/counterfact.h"
#include "core/eval/recall.h"

#include <nlohmann/json_fwd.hpp>

#include <string>

namespace engram {

/// {"records", "score", "es", "ps", "ns", "em", "pm", "nm", "rewrite_acc", "paraphrase_acc",
///  "neighborhood_acc", "fluency", "reference_score"}; each metric {"mean", "ci95", "count"}
/// (×100) or null.
nlohmann::json evalSummaryToJson(const EvalSummary &summary);

/// One record's scores: {"es", "em", "ps", "pm", "ns", "nm", "rewrite_acc", "paraphrase_acc",
/// "neighborhood_acc", "p_new", "p_true", "fluency", "reference_score"} (numbers or null), plus
/// "generations" when made.
nlohmann::json recordScoresToJson(const RecordScores &scores);

/// {"recalled", "total"}.
nlohmann::json recallToJson(const RecallResult &recall);

/// A phase of an evaluation (the model before, or after the edits): its summary with the
/// retention measured in it under "retention".
nlohmann::json evalPhaseToJson(const EvalSummary &summary, const RecallResult &retention);

/// Reads what evalSummaryToJson wrote (null metrics become count 0, score NaN when null).
/// Error(CorruptFile) naming `where` for JSON of the wrong shape.
EvalSummary evalSummaryFromJson(const nlohmann::json &json, const std::string &where);

/// Reads what recallToJson wrote (no per-fact values); {0, 0} when absent.
RecallResult recallFromJson(const nlohmann::json &json, const std::string &where);

} // namespace engram
