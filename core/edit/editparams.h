#pragma once
// Plain parameter types of the editing methods (no torch headers: the CLI and UI use them).

#include <cstdint>
#include <string>
#include <vector>

namespace engram {

struct EditRequest {
    std::string promptTemplate; // one "{}" for the subject, e.g. "{} was born in"
    std::string subject;
    std::string targetNew; // a leading space is added when missing
    /// Optional (our extension, not in the reference): prompts about the same subject whose
    /// next-token distribution the edit should keep, e.g. the subject's other known facts
    /// ("{} works as a" when the edit changes the birthplace). Each adds a KL term at the
    /// prompt's last token to the target optimisation, weighted by `preserveFactor`.
    std::vector<std::string> preservePrompts;
    std::string relation; // relation id when known (CounterFact relation_id); "" otherwise
};

/// A prompt whose subject key a MEMIT edit should leave alone (our extension, see
/// MemitParams::protect).
struct KeyPrompt {
    std::string promptTemplate; // one "{}"
    std::string subject;
};

/// Keys of one edit run at one layer, kept so later runs can preserve them (MEMIT with earlier
/// runs as memories, AlphaEdit): one key per fact, read on the model after the run.
struct LayerKeys {
    int layer = 0;
    int64_t dim = 0; // d_k
    int64_t count = 0; // keys (facts)
    std::vector<float> values; // [count, dim], one key per row
};

struct MemitParams {
    std::vector<int> layers; // ascending; the last is L, where z is optimised
    double lambda = 15000.0; // mom2_update_weight: weight of the covariance term
    int vSteps = 25; // v_num_grad_steps
    double vLr = 0.5; // Adam learning rate for δ
    double clampNormFactor = 0.75; // ‖δ‖ ≤ factor · ‖h*‖
    double klFactor = 0.0625;
    double vWeightDecay = 0.5; // weight of ‖δ‖ / ‖h*‖²
    double earlyStopLoss = 0.05;
    /// Weight of the mean KL over each request's preservePrompts (ignored when a request has none).
    double preserveFactor = 1.0;
    std::vector<std::string> contextTemplates; // "{}" plus prefixes ending in "{}"; empty = generate
    uint64_t seed = 0; // for generated context templates
    bool batchedTargets = true; // false: the reference's one-fact-at-a-time loop
    /// true: every optimisation step runs the whole model on every token (the earlier path,
    /// kept for comparison); false: only blocks above L on the tokens from the subject's last
    /// one on, and the head only where the loss reads (the same z to float rounding).
    bool fullForwardTargets = false;
    /// Batched targets: facts are optimised together in chunks of about this many prompt rows
    /// (C rewriting rows + 1 + preservation prompts per fact). 0: the device's default, chosen
    /// by measurement (docs/benchmarks.md): 128 on a CPU, where larger steps lose to page
    /// faults on their large temporaries (1,024 rows is 2x slower than one fact at a time),
    /// 256 on CUDA.
    int targetChunkRows = 0;
    /// Our extension: keys of known facts to keep (e.g. the project's other facts). Their keys
    /// k_p (subject's last token of the bare prompt, read on the current model at each layer)
    /// join the covariance term as explicit preserved memories, the paper's K₀K₀ᵀ:
    /// ΔW = R Kᵀ (λC + μ K_p K_pᵀ + K Kᵀ)⁻¹ with μ = protectWeight. Empty = the reference update.
    std::vector<KeyPrompt> protect;
    double protectWeight = 0.0; // μ; 0 = protect nothing (the given keys are ignored)

    /// AlphaEdit (Fang et al., 2025): the update is projected onto the null space of the
    /// statistics' keys (eigenvectors of C with eigenvalue < nullSpaceThreshold) and solved
    /// with α I in place of λC (../shared/docs/sequential-editing.md). Set by the method
    /// (EditMethod::AlphaEdit), not by hand; lambda is then unused.
    bool nullSpace = false;
    double nullSpaceThreshold = 2e-2; // absolute, on the eigenvalues of C = E[k kᵀ]
    double nullSpaceAlpha = 10.0; // α (the reference's L2)
    /// Earlier runs as preserved memories: C_p = Σ K Kᵀ over `earlierKeys` joins the solve
    /// (MEMIT: λC + C_p + KKᵀ; AlphaEdit: P(KKᵀ + C_p) + αI). AlphaEdit's default; for MEMIT
    /// it makes "MEMIT with a cache of earlier edits".
    bool preserveEarlierRuns = false;
    /// The keys of the earlier runs (data, not a parameter; never recorded in JSON).
    std::vector<LayerKeys> earlierKeys;
};

/// ROME (memit-spec §5), applied one request after another on the already edited model.
/// Defaults are the published GPT-J values (layer 5); GPT-2 XL uses layer 17.
struct RomeParams {
    int layer = 5;
    int vSteps = 20;
    double vLr = 0.5;
    double clampNormFactor = 4.0; // ‖δ‖ ≤ factor · ‖h*‖ (3 for GPT-2 medium)
    double klFactor = 0.0625;
    double vWeightDecay = 0.5;
    double earlyStopLoss = 0.05;
    double preserveFactor = 1.0; // as MemitParams::preserveFactor
    std::vector<std::string> contextTemplates; // empty = generate 10 of 5 and 10 of 10 tokens
    uint64_t seed = 0;
    /// "Rebuilding ROME" (r-ROME): use the template-averaged key in the denominator and in the
    /// value to replace too, instead of mixing it with the bare prompt's key (rome#32).
    bool consistentKey = false;
};

/// Constrained fine-tuning baseline: Adam on one layer's MLP output weight, teacher-forced
/// NLL of the new targets, every entry kept within ±normConstraint of its original value
/// (the L∞ constraint of ROME's FT-L/FT-W baseline).
struct FineTuneParams {
    int layer = 0;
    int steps = 25;
    double lr = 5e-4;
    double normConstraint = 5e-4; // L∞ bound on the change; <= 0: unconstrained
    double earlyStopLoss = 1e-2;
};

} // namespace engram
