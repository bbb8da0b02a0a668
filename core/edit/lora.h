#pragma once
// A patch as a LoRA adapter. A MEMIT update for n facts has rank at most n per layer
// (ΔW = R·Aᵀ), ROME's rank 1 per fact, so every patch is exactly a low-rank adapter that
// PEFT, transformers and vLLM load beside the unchanged base model. The adapter is written
// in PEFT's layout: adapter_config.json + adapter_model.safetensors with
// base_model.model.<module>.lora_A.weight (r × in) and .lora_B.weight (out × r), in the
// Linear orientation PEFT uses for GPT-2's Conv1D too (fan_in_fan_out tells it to transpose
// when merging). Torch-free header: the jobs layer and the CLI use it.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace engram {

class WeightPatch;

struct LoraOptions {
    /// 0: exact factors (each delta's numerical rank). r > 0: at most r per module, from a
    /// truncated SVD; the relative error it leaves is reported per module.
    int rank = 0;
    bool overwrite = false; // replace an existing adapter directory (swapped in only when complete)
};

struct LoraModuleReport {
    std::string module; // e.g. "transformer.h.3.mlp.c_proj"
    int64_t rank = 0; // factors written (before zero-padding to the adapter's rank)
    int64_t exactRank = 0; // numerical rank of the module's delta (sum over runs when composed)
    double relativeError = 0; // ‖ΔW − B·A‖_F / ‖ΔW‖_F of what was written
};

struct LoraSummary {
    std::filesystem::path directory;
    int64_t rank = 0; // r in adapter_config.json: the largest module rank (smaller ones zero-padded)
    double alpha = 0; // lora_alpha = r, so PEFT's scaling alpha / r is 1
    bool fanInFanOut = false; // GPT-2's Conv1D
    std::vector<LoraModuleReport> modules;
    double maxRelativeError = 0;
    std::string baseModel; // base_model_name_or_path
};

/// Writes the adapter of `patches` (applied in order on the checkpoint in `modelDir`) into
/// `out`. Several patches compose: with exact factors each patch's factors are concatenated
/// (ranks add up: B = [B₁ B₂], A = [A₁; A₂], so B·A = ΔW₁ + ΔW₂); with options.rank the summed
/// delta is truncated. Only MLP output weights edited by the methods are expected; any other
/// 2-D weight is written the same way. Throws Error(InvalidArgument) for an empty patch list,
/// an existing `out` without overwrite, or a delta that is not a matrix; nothing is left
/// behind on failure.
LoraSummary writeLoraAdapter(const std::vector<WeightPatch> &patches, const std::filesystem::path &modelDir,
    const std::filesystem::path &out, const LoraOptions &options = {});

/// The same for patch files (WeightPatch::load each, in order).
LoraSummary writeLoraAdapter(const std::vector<std::filesystem::path> &patchFiles, const std::filesystem::path &modelDir,
    const std::filesystem::path &out, const LoraOptions &options = {});

} // namespace engram
