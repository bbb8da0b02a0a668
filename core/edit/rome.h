#pragma once
// ROME rank-one editing (Meng et al., NeurIPS 2022) as the reference code does it
// (memit-spec §5), one request after another on the already edited model, with the
// consistent-key variant of "Rebuilding ROME" as an option.
//
//   k̄  = mean over the context templates of the MLP key at the subject's last token
//   u  = C⁻¹ k̄                      (solved in float64, no explicit inverse)
//   v* = h* + δ, δ optimised as in MEMIT's §3 but added to the MLP output of the layer
//   ΔW = (v* − m₀) uᵀ / (k₀ᵀ u)     so that ΔW k₀ = v* − m₀ on the bare prompt
// where (k₀, m₀) are the key and MLP output of the bare prompt. With consistentKey, k₀ is
// replaced by k̄ and m₀ by the MLP output for k̄ (m₀ + W(k̄ − k₀)), so ΔW k̄ = v* − m(k̄).

#include "core/edit/covariance.h"
#include "core/edit/editparams.h"
#include "core/edit/memit.h"

#include <vector>

namespace engram {

class Transformer;
class Tokenizer;

struct RomeStep {
    at::Tensor key; // [d_k] the key the equality holds for (k₀, or k̄ with consistentKey)
    at::Tensor valueBefore; // [d] MLP output for that key before the update
    at::Tensor target; // [d] v*
    double targetProbability = 0; // after the δ optimisation
};

struct RomeResult {
    LayerUpdate update; // the sum of all rank-one updates, in the weight's stored orientation
    std::vector<RomeStep> steps; // one per request, in order
    std::vector<std::string> contextTemplates;
};

/// Edits `model` in place, request by request. `stats` must hold the layer's SecondMoment.
/// Progress: one step per request; cancelling leaves the earlier requests' updates in place.
RomeResult applyRome(Transformer &model, const Tokenizer &tokenizer, const std::vector<EditRequest> &requests,
    const RomeParams &params, const std::vector<SecondMoment> &stats, const ProgressSink &progress = {});

} // namespace engram
