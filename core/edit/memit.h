#pragma once
// MEMIT mass editing (Meng et al., ICLR 2023) as the reference code does it
// (../shared/docs/memit-spec.md §2-§4), with one deliberate change: the per-fact target
// optimisation (compute_z) runs for all facts of a batch together — one forward/backward over
// all facts' rows, with per-fact Adam state, clamp and early-stop masks — instead of one fact
// after another. Each fact's rows depend only on its own δ, so the result equals the serial
// loop (tests/core/edit/tst_memit.cpp checks it).

#include "core/edit/covariance.h"
#include "core/edit/editparams.h"
#include "core/model/interventions.h"
#include "core/util/progress.h"

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace engram {

class Transformer;
class Tokenizer;

/// Context templates as the reference builds them (§2.3): "{}" and, for each seed word in
/// The/Therefore/Because/I/You, a top-k 5 sample of 10 tokens in all, NFKD-normalised, "\n\n"
/// replaced by a space, "<|endoftext|>" removed, braces replaced by spaces, then ". {}".
std::vector<std::string> generateContextTemplates(const Transformer &model, const Tokenizer &tokenizer, uint64_t seed);
/// The same with the reference's context_template_length_params: for each (length, count),
/// count / 5 samples per seed word of `length` tokens (MEMIT {{10, 5}}, ROME {{5, 10}, {10, 10}}).
std::vector<std::string> generateContextTemplates(const Transformer &model, const Tokenizer &tokenizer, uint64_t seed,
    const std::vector<std::pair<int, int>> &lengthAndCount);

/// Rows per chunk of the batched target optimisation on `device` for `requested` rows
/// (MemitParams::targetChunkRows; 0 = the device's measured default).
int targetChunkRows(int requested, const at::Device &device);

struct TargetResult {
    at::Tensor z; // [n, d] target residual vectors at layer L (h* + δ)
    at::Tensor hStar; // [n, d] clean block-L outputs at the subject's last token
    std::vector<int> steps; // optimisation steps taken per fact
    std::vector<double> finalLoss; // per fact
    std::vector<double> targetProb; // mean p(target token) over rewriting rows at the end, per fact
    /// How the optimisation ran, for the record: "batched" or "serial", the chunk's rows, and
    /// "suffix" (only what δ changes) or "full" (every block, every token).
    std::string strategy;
    int chunkRows = 0;
    std::string pass;
};

/// §3: optimises δ per fact; model weights are not changed. `progress` advances by fact-steps
/// (n × params.vSteps in all; a fact that stops early adds the steps it skips) once per
/// optimisation step, and throws Error(Cancelled) there when its sink asks to stop.
TargetResult computeTargets(const Transformer &model, const Tokenizer &tokenizer,
    const std::vector<EditRequest> &requests, const MemitParams &params,
    const std::vector<std::string> &contextTemplates, ProgressTracker *progress = nullptr);
/// The same loop with δ added at `site` of `layer` (MEMIT: the block output of its last layer;
/// ROME: the MLP output of its layer, §5 step 3). params.layers is not used.
TargetResult computeTargetsAt(const Transformer &model, const Tokenizer &tokenizer,
    const std::vector<EditRequest> &requests, const MemitParams &params,
    const std::vector<std::string> &contextTemplates, Site site, int layer, ProgressTracker *progress = nullptr);

struct LayerUpdate {
    int layer = 0;
    std::string weightName;
    at::Tensor delta; // ΔW in the stored orientation of the weight (float32)
    double relativeNorm = 0; // ‖ΔW‖ / ‖W‖
    double residualBefore = 0; // mean ‖z − z_cur‖ before this layer's update
};

struct MemitResult {
    std::vector<LayerUpdate> updates;
    TargetResult targets;
    std::vector<std::string> contextTemplates;
    double residualAfter = 0; // mean ‖z − z_cur‖ after all layers
    /// Per edited layer, this run's keys read on the edited model (what a later run keeps as
    /// memories; the reference re-reads them once every layer is written).
    std::vector<LayerKeys> keysAfter;
    std::vector<int64_t> nullSpaceDims; // AlphaEdit: the null space's dimension per edited layer
    int earlierRuns = 0; // earlier runs' key sets preserved (C_p), 0 when not asked
    /// Wall-clock seconds per phase: context templates, target optimisation, reading keys and
    /// current outputs, the solves (null-space projections included), writing the weights,
    /// and re-reading this run's keys on the edited model.
    struct PhaseSeconds {
        double templates = 0, targets = 0, keys = 0, solve = 0, write = 0, keysAfter = 0;
    } seconds;
};

/// Edits `model` in place (the caller keeps the original tensors to revert). `stats` must
/// hold one SecondMoment per edited layer. Throws engram::Error for bad requests or stats.
/// Progress: stage "optimising targets" (facts), then "writing layers"; the sink may cancel
/// (engram::Error(Cancelled)); layers already written stay written — callers that must not
/// keep a half-edited model restore the weights (the editor facade does).
MemitResult applyMemit(Transformer &model, const Tokenizer &tokenizer, const std::vector<EditRequest> &requests,
    const MemitParams &params, const std::vector<SecondMoment> &stats, const ProgressSink &progress = {});

/// §4.3 step 5 alone, in float64: ΔW = R Kᵀ (λC + KKᵀ)⁻¹ for R [d, n], K [d_k, n], C [d_k, d_k].
/// Returns ΔW [d, d_k] (mathematical orientation). With `protectedKeys` [d_k, p] defined, μ K_p K_pᵀ
/// (μ = protectWeight) joins λC.
/// With `earlier` [d_k, d_k] defined (C_p, the earlier runs' Σ K Kᵀ), it joins λC unweighted.
at::Tensor solveMemitUpdate(const at::Tensor &residual, const at::Tensor &keys, const at::Tensor &covariance,
    double lambda, const at::Tensor &protectedKeys = {}, double protectWeight = 1.0, const at::Tensor &earlier = {});

/// AlphaEdit's null space of C [d_k, d_k] (symmetric, positive semi-definite): P = U₀U₀ᵀ over
/// the eigenvectors whose eigenvalue is below `threshold`, in float64.
struct NullSpace {
    at::Tensor projection; // [d_k, d_k]
    int64_t dimension = 0; // columns of U₀
};
NullSpace nullSpaceProjection(const at::Tensor &covariance, double threshold);

/// AlphaEdit's update in float64: X = (P(KKᵀ + C_p) + αI)⁻¹ P K Rᵀ, returned as ΔW = Xᵀ
/// [d, d_k] (mathematical orientation, as solveMemitUpdate). `earlier` (C_p) may be undefined.
at::Tensor solveAlphaEditUpdate(const at::Tensor &residual, const at::Tensor &keys, const at::Tensor &projection,
    double alpha, const at::Tensor &earlier = {});

/// C_p of `layer` [dim, dim] float64: Σ KᵀK over the entries of `keys` for that layer (each
/// [count, dim]); undefined when none. Error(InvalidArgument) when an entry's dim differs.
at::Tensor earlierKeysProduct(const std::vector<LayerKeys> &keys, int layer, int64_t dim);

} // namespace engram
