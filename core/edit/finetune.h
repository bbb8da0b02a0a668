#pragma once
// Constrained fine-tuning baseline (FT-W / FT-L in the ROME and MEMIT papers): optimise one
// layer's MLP output weight on the new facts, with every entry kept within an L∞ ball around
// its original value. All requests are trained together (one batch).

#include "core/edit/editparams.h"
#include "core/edit/memit.h"
#include "core/util/progress.h"

#include <vector>

namespace engram {

class Transformer;
class Tokenizer;

struct FineTuneResult {
    LayerUpdate update; // W_after − W_before in the weight's stored orientation
    int steps = 0;
    double finalLoss = 0; // mean per-token NLL of the targets at the end
};

/// Edits `model` in place. Throws engram::Error for bad requests or layers. Progress: one step
/// per optimisation step; on cancellation or failure the original weight is restored.
FineTuneResult applyFineTune(Transformer &model, const Tokenizer &tokenizer, const std::vector<EditRequest> &requests,
    const FineTuneParams &params, const ProgressSink &progress = {});

} // namespace engram
