#pragma once
// Writing model checkpoints in Hugging Face naming and layout: random-weight checkpoints
// for tests and benchmarks, and saving a loaded (possibly edited) model.

#include "core/model/modelconfig.h"

#include <cstdint>
#include <filesystem>
#include <string>

namespace engram {

class Transformer;

/// Writes config.json and model.safetensors with seeded random weights (normal, std 0.1
/// for matrices; norms around 1) into `dir` (created if needed). When `shards` > 1 the
/// weights are split over that many files plus model.safetensors.index.json.
void writeRandomCheckpoint(
    const ModelConfig &config, const std::filesystem::path &dir, uint64_t seed, int shards = 1, double matrixStd = 0.1);

/// Saves the model's config.json and weights (one file) into `dir`, the weights stored as
/// `storageDtype` ("fp32", "fp16" or "bf16"; config.json's torch_dtype says which). Throws
/// when a weight does not fit the storage type (fp16 overflows above 65504) and writes nothing.
void saveCheckpoint(
    const Transformer &model, const std::filesystem::path &dir, const std::string &storageDtype = "fp32");

/// A small config of the given family for tests: vocab, width, layers and heads as given.
ModelConfig tinyConfig(ModelFamily family, int vocab = 64, int hidden = 32, int layers = 2, int heads = 4);

} // namespace engram
