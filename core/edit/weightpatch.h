#pragma once
// WeightPatch: the unit of change. For each edited tensor, the dense ΔW in the tensor's stored
// orientation plus a hash of the base tensor it applies to. Applying checks the hash, so a
// patch never lands on the wrong weights; reverting restores the base tensor itself from the
// checkpoint (bit-exact). Saved as safetensors: one tensor per delta ("delta.<name>"), base
// hashes and the provenance JSON (facts, method, hyperparameters, seed) in the metadata.

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>
#include <vector>

namespace engram {

class Transformer;
class WeightStore;

/// 64-bit FNV-1a over the tensor's bytes (contiguous CPU copy), as 16 hex digits.
std::string tensorHash(const at::Tensor &tensor);

struct TensorDelta {
    std::string name; // Hugging Face parameter name
    at::Tensor delta; // same shape as the parameter, float32
    std::string baseHash; // tensorHash of the parameter the delta was computed against
    double relativeNorm = 0;
};

class WeightPatch
{
public:
    std::vector<TensorDelta> deltas;
    std::string provenanceJson = "{}"; // method, hyperparameters, facts, seed, model

    /// W ← W + ΔW for every delta. Throws engram::Error(ShapeMismatch) when a parameter's hash
    /// differs from the patch's base hash (another patch or a different model) and changes nothing then.
    /// With checkBase = false the deltas are added whatever the weights are (replaying a
    /// history in which an earlier patch was reverted); shapes are still checked.
    void apply(Transformer &model, bool checkBase = true) const;
    /// Restores every patched parameter from `base` (the unedited checkpoint): bit-exact.
    void revert(Transformer &model, const WeightStore &base) const;

    /// One patch equal to applying `patches` in order to `model`'s current weights (which are
    /// not changed): every patch's base hashes are checked against the weights as the earlier
    /// patches leave them, so a wrong order or a foreign patch is refused. Deltas of a tensor
    /// add up (the result equals sequential application to float tolerance, not bit for bit);
    /// provenance lists the parts. Throws engram::Error(ShapeMismatch) naming the patch.
    static WeightPatch compose(const Transformer &model, const std::vector<WeightPatch> &patches);

    void save(const std::filesystem::path &file) const;
    static WeightPatch load(const std::filesystem::path &file);
};

} // namespace engram
