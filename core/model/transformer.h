#pragma once
// Transformer: a decoder-only language model of one of the supported families, loaded
// from a Hugging Face checkpoint directory, with one forward pass that exposes the
// intervention sites of interventions.h.
//
// Ownership: weights that already have the requested dtype on the CPU stay zero-copy
// views of the memory-mapped safetensors files; everything else is converted once at
// load. setParameter() replaces a tensor (editing) without touching the files on disk.
//
// Thread-safety: forward() only reads weights and may run on any thread, but not
// concurrently with setParameter(). Grad mode is the caller's (per-thread) choice.

#include "core/model/interventions.h"
#include "core/model/loadoptions.h"
#include "core/model/modelconfig.h"

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace engram {

class WeightStore;

/// Per-layer keys and values of earlier tokens for incremental decoding.
struct KvCache {
    std::vector<at::Tensor> keys; // per layer [B, kvHeads, S, headDim] (after rotary)
    std::vector<at::Tensor> values; // per layer [B, kvHeads, S, headDim]
    int64_t length = 0; // S, tokens already processed
};

struct ForwardOptions {
    const Interventions *interventions = nullptr;
    KvCache *cache = nullptr; // when set: reads earlier tokens from it and appends these
    bool computeLogits = true; // false: skip final norm and head
    int stopAfterLayer = -1; // >= 0: run blocks 0..stopAfterLayer only (implies no logits)
    /// > 0: start at block `firstLayer` (up to numLayers: the head alone) with `hiddenIn`
    /// ([B, T, d], model dtype) as the residual stream entering it; `ids` is then not read and
    /// may be undefined, blocks below are skipped and their cache entries are not touched.
    int firstLayer = 0;
    at::Tensor hiddenIn;
    /// false: attend to the tokens in `cache` without appending these to it, so one fixed
    /// prefix serves many passes (target optimisation re-runs the same suffix every step).
    bool appendToCache = true;
    /// [B] int64: when defined, logits only at these positions (one per row), shape [B, 1, vocab];
    /// saves the head's cost and memory when only the next-token distribution is needed.
    at::Tensor logitPositions;
    /// [N, 2] int64 (row, position) pairs: when defined, logits only there, shape [N, vocab]
    /// (teacher-forced scoring needs a few positions of many rows).
    at::Tensor logitIndex;
    /// When set, asked after every block and — when gradients flow through the pass — again as
    /// the backward pass reaches each block's output; `true` throws engram::Error(Cancelled)
    /// from forward() or from the backward() call. Lets long optimisation steps stop mid-pass.
    std::function<bool()> cancelled;
};

struct ForwardOutput {
    at::Tensor logits; // [B, T, vocab] in float32; undefined when not computed
    at::Tensor hidden; // [B, T, d] residual stream after the last block that ran
};

/// One parameter in Hugging Face naming with the shape the config implies.
struct ParameterSpec {
    std::string name;
    std::vector<int64_t> shape;
};

class Transformer
{
public:
    /// Loads config.json and weights from a checkpoint directory. Throws engram::Error
    /// (UnsupportedArchitecture, InvalidConfig, MissingTensor, ShapeMismatch, Io, ...).
    static std::unique_ptr<Transformer> load(const std::filesystem::path &dir, const LoadOptions &options = {});
    static std::unique_ptr<Transformer> fromWeights(
        const ModelConfig &config, const WeightStore &weights, const LoadOptions &options = {});
    /// Every parameter the family needs, in Hugging Face naming and storage layout.
    static std::vector<ParameterSpec> parameterSpecs(const ModelConfig &config);
    ~Transformer();

    const ModelConfig &config() const { return m_config; }
    at::Device device() const;
    c10::ScalarType dtype() const;

    /// ids: [B, T] int64. attentionMask: [B, S] with 1 for real tokens and 0 for padding,
    /// S = cache length + T (undefined = all ones). Right padding is the convention;
    /// positions follow the mask (cumulative count of real tokens), so left padding works too.
    ForwardOutput forward(
        const at::Tensor &ids, const at::Tensor &attentionMask = {}, const ForwardOptions &options = {}) const;

    /// Parameters in Hugging Face naming (tied heads appear once, under the embedding).
    std::vector<std::pair<std::string, at::Tensor>> namedParameters() const;
    at::Tensor parameter(const std::string &name) const;
    /// Replaces a parameter; shape must match. Throws engram::Error(MissingTensor, ShapeMismatch).
    void setParameter(const std::string &name, const at::Tensor &value);

    /// Name of the MLP output projection of `layer` (the tensor MEMIT/ROME edit), and
    /// whether it is stored as Conv1D [d_k, d] (GPT-2) rather than Linear [d, d_k].
    std::string mlpOutputWeightName(int layer) const;
    bool mlpOutputIsConv1D() const { return m_config.family == ModelFamily::Gpt2; }

    struct Impl; // opaque; public so the implementation's helpers can name it

private:
    explicit Transformer(ModelConfig config);
    ModelConfig m_config;
    std::unique_ptr<Impl> d;
};

/// Parses "fp32"/"float32", "fp16"/"float16"/"half", "bf16"/"bfloat16".
c10::ScalarType parseDTypeName(const std::string &name);
/// Parses "cpu", "cuda", "cuda:N"; throws engram::Error(Unsupported) when CUDA is absent.
at::Device parseDevice(const std::string &name);

} // namespace engram
