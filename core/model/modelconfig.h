#pragma once
// ModelConfig: the architecture facts Engram needs, read from a Hugging Face config.json.
//
// Supported model_type values: gpt2, gptj, gpt_neox, llama, mistral, qwen2. Any other
// value throws engram::Error(UnsupportedArchitecture) with the list of supported ones.
// Missing or inconsistent fields throw engram::Error(InvalidConfig) naming the field.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace engram {

enum class ModelFamily { Gpt2, GptJ, GptNeoX, Llama };
enum class NormKind { LayerNorm, RmsNorm };
enum class Activation { GeluNew, Gelu, GeluFast, Relu, Silu };
/// Learned absolute positions (GPT-2), rotary over interleaved pairs (GPT-J), or rotary
/// rotating the two halves of the rotary dims (NeoX, Llama).
enum class PositionScheme { Learned, RotaryInterleaved, RotaryHalf };
/// Sequential: h = x + attn(ln1 x); out = h + mlp(ln2 h).
/// Parallel:   out = x + attn(ln1 x) + mlp(ln? x) (GPT-J shares ln1; NeoX uses ln2).
enum class ResidualWiring { Sequential, Parallel };

const char *familyName(ModelFamily family);
/// Parses a family's model_type spelling ("gpt2", "gptj", "gpt_neox", "llama"); nullopt otherwise.
std::optional<ModelFamily> familyFromModelType(const std::string &modelType);
/// Comma-separated list of supported model_type strings, for error messages.
std::string supportedModelTypes();

struct RopeScaling {
    enum class Type { None, Linear, Llama3 } type = Type::None;
    double factor = 1.0;
    double lowFreqFactor = 1.0; // llama3
    double highFreqFactor = 4.0; // llama3
    int originalMaxPositions = 8192; // llama3
};

struct ModelConfig {
    ModelFamily family = ModelFamily::Gpt2;
    std::string modelType; // as written in config.json
    int vocabSize = 0;
    int hiddenSize = 0; // d
    int numLayers = 0;
    int numHeads = 0;
    int numKvHeads = 0; // == numHeads without GQA
    int headDim = 0;
    int intermediateSize = 0; // d_k, the MLP width
    int maxPositions = 0; // context length
    NormKind norm = NormKind::LayerNorm;
    double normEps = 1e-5;
    Activation activation = Activation::GeluNew;
    PositionScheme positions = PositionScheme::Learned;
    int rotaryDim = 0; // dims per head that are rotated (0 for Learned)
    double ropeTheta = 10000.0;
    RopeScaling ropeScaling;
    ResidualWiring wiring = ResidualWiring::Sequential;
    bool tieWordEmbeddings = false;
    bool attentionBias = false; // q/k/v (and fused qkv) biases
    bool attentionOutBias = false; // output projection bias
    bool mlpBias = false;
    bool lmHeadBias = false; // GPT-J
    bool scaleAttnByInverseLayerIdx = false; // GPT-2 option
    std::optional<int> slidingWindow; // Mistral
    std::optional<int> bosTokenId;
    std::vector<int> eosTokenIds;

    /// Parses the JSON text of a config.json; `source` names it in error messages.
    static ModelConfig fromJson(const std::string &jsonText, const std::string &source = "config.json");
    static ModelConfig fromFile(const std::filesystem::path &configJson);
    /// Writes a config.json equivalent (Hugging Face field names of the family).
    std::string toJson() const;

    /// Approximate parameter count implied by the config (embeddings included once if tied).
    int64_t parameterCount() const;
};

} // namespace engram
