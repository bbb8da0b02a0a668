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
    std::vector<std::string> contextTemplates; // "{}" plus prefixes ending in "{}"; empty = generate
    uint64_t seed = 0; // for generated context templates
    bool batchedTargets = true; // false: the reference's one-fact-at-a-time loop
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
