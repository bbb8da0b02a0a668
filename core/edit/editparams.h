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

} // namespace engram
