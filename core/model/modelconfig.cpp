#include "core/model/modelconfig.h"

#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <nlohmann/json.hpp>

#include <cstdint>

namespace engram {
namespace {

using nlohmann::json;

struct Reader {
    const json &j;
    const std::string &source;

    [[noreturn]] void fail(const std::string &what) const
    {
        throw Error(ErrorKind::InvalidConfig, source + ": " + what);
    }
    bool has(const char *key) const { return j.contains(key) && !j[key].is_null(); }
    int integer(const char *key) const
    {
        if (!has(key))
            fail(std::string("missing required field \"") + key + "\"");
        if (!j[key].is_number_integer())
            fail(std::string("field \"") + key + "\" must be an integer");
        const auto v = j[key].get<int64_t>();
        if (v < 0 || v > (1 << 30))
            fail(std::string("field \"") + key + "\" is out of range: " + std::to_string(v));
        return static_cast<int>(v);
    }
    int integer(const char *key, int fallback) const { return has(key) ? integer(key) : fallback; }
    /// A field whose default is derived from others (4 x the hidden size): the default is
    /// range-checked like a value read.
    int integerOr(const char *key, int64_t fallback, const char *fallbackText) const
    {
        if (has(key))
            return integer(key);
        if (fallback < 0 || fallback > (1 << 30))
            fail(std::string("field \"") + key + "\" is missing and its default, " + fallbackText + ", is out of range: "
                + std::to_string(fallback));
        return static_cast<int>(fallback);
    }
    double number(const char *key, double fallback) const
    {
        if (!has(key))
            return fallback;
        if (!j[key].is_number())
            fail(std::string("field \"") + key + "\" must be a number");
        return j[key].get<double>();
    }
    bool boolean(const char *key, bool fallback) const
    {
        if (!has(key))
            return fallback;
        if (!j[key].is_boolean())
            fail(std::string("field \"") + key + "\" must be true or false");
        return j[key].get<bool>();
    }
    std::string string(const char *key, const std::string &fallback) const
    {
        if (!has(key))
            return fallback;
        if (!j[key].is_string())
            fail(std::string("field \"") + key + "\" must be a string");
        return j[key].get<std::string>();
    }
};

Activation parseActivation(const Reader &r, const char *key, const std::string &fallback)
{
    const auto name = r.string(key, fallback);
    if (name == "gelu_new" || name == "gelu_pytorch_tanh")
        return Activation::GeluNew;
    if (name == "gelu")
        return Activation::Gelu;
    if (name == "gelu_fast")
        return Activation::GeluFast;
    if (name == "relu")
        return Activation::Relu;
    if (name == "silu" || name == "swish")
        return Activation::Silu;
    r.fail(std::string("unsupported activation \"") + name + "\" in field \"" + key
        + "\" (supported: gelu_new, gelu_pytorch_tanh, gelu, gelu_fast, relu, silu)");
}

void readTokenIds(const Reader &r, ModelConfig &c)
{
    if (r.has("bos_token_id") && r.j["bos_token_id"].is_number_integer())
        c.bosTokenId = r.j["bos_token_id"].get<int>();
    if (r.has("eos_token_id")) {
        const auto &e = r.j["eos_token_id"];
        if (e.is_number_integer())
            c.eosTokenIds.push_back(e.get<int>());
        else if (e.is_array())
            for (const auto &v : e)
                if (v.is_number_integer())
                    c.eosTokenIds.push_back(v.get<int>());
    }
}

void readRopeScaling(const Reader &r, ModelConfig &c)
{
    if (!r.has("rope_scaling"))
        return;
    const auto &s = r.j["rope_scaling"];
    if (!s.is_object())
        r.fail("\"rope_scaling\" must be an object or null");
    const std::string where = r.source + ", rope_scaling";
    const Reader rs {s, where};
    std::string type = rs.string("rope_type", rs.string("type", ""));
    if (type == "default" || type.empty())
        return;
    c.ropeScaling.factor = rs.number("factor", 1.0);
    if (type == "linear") {
        c.ropeScaling.type = RopeScaling::Type::Linear;
    } else if (type == "llama3") {
        c.ropeScaling.type = RopeScaling::Type::Llama3;
        c.ropeScaling.lowFreqFactor = rs.number("low_freq_factor", 1.0);
        c.ropeScaling.highFreqFactor = rs.number("high_freq_factor", 4.0);
        c.ropeScaling.originalMaxPositions = rs.integer("original_max_position_embeddings", 8192);
    } else {
        r.fail("unsupported rope_scaling type \"" + type + "\" (supported: linear, llama3)");
    }
}

} // namespace

const char *familyName(ModelFamily family)
{
    switch (family) {
    case ModelFamily::Gpt2:
        return "GPT-2";
    case ModelFamily::GptJ:
        return "GPT-J";
    case ModelFamily::GptNeoX:
        return "GPT-NeoX";
    case ModelFamily::Llama:
        return "Llama";
    }
    return "?";
}

std::optional<ModelFamily> familyFromModelType(const std::string &modelType)
{
    if (modelType == "gpt2")
        return ModelFamily::Gpt2;
    if (modelType == "gptj")
        return ModelFamily::GptJ;
    if (modelType == "gpt_neox")
        return ModelFamily::GptNeoX;
    if (modelType == "llama")
        return ModelFamily::Llama;
    return std::nullopt;
}

std::string supportedModelTypes()
{
    return "gpt2, gptj, gpt_neox, llama, mistral, qwen2";
}

ModelConfig ModelConfig::fromFile(const std::filesystem::path &configJson)
{
    return fromJson(readTextFile(configJson), configJson.string());
}

ModelConfig ModelConfig::fromJson(const std::string &jsonText, const std::string &source)
{
    json j;
    try {
        j = json::parse(jsonText);
    } catch (const json::exception &e) { // parse_error; out_of_range for numbers beyond double
        throw Error(ErrorKind::InvalidConfig, source + " is not valid JSON: " + jsonErrorText(e));
    }
    if (!j.is_object())
        throw Error(ErrorKind::InvalidConfig, source + " is not a JSON object");
    const Reader r {j, source};
    ModelConfig c;
    c.modelType = r.string("model_type", "");
    if (c.modelType.empty())
        r.fail("missing \"model_type\"; cannot tell the architecture (supported: " + supportedModelTypes() + ")");

    if (c.modelType == "gpt2" || c.modelType == "gptj") {
        const bool gptj = c.modelType == "gptj";
        c.family = gptj ? ModelFamily::GptJ : ModelFamily::Gpt2;
        c.vocabSize = r.integer("vocab_size");
        c.hiddenSize = r.integer("n_embd");
        c.numLayers = r.integer("n_layer");
        c.numHeads = r.integer("n_head");
        c.intermediateSize = r.integerOr("n_inner", 4 * int64_t(c.hiddenSize), "4 x n_embd");
        c.maxPositions = r.integer("n_positions", r.integer("n_ctx", 1024));
        c.normEps = r.number("layer_norm_epsilon", 1e-5);
        c.activation = parseActivation(r, "activation_function", "gelu_new");
        c.norm = NormKind::LayerNorm;
        c.numKvHeads = c.numHeads;
        if (gptj) {
            c.positions = PositionScheme::RotaryInterleaved;
            c.wiring = ResidualWiring::Parallel;
            c.tieWordEmbeddings = r.boolean("tie_word_embeddings", false);
            c.attentionBias = false;
            c.attentionOutBias = false;
            c.mlpBias = true;
            c.lmHeadBias = true;
        } else {
            c.positions = PositionScheme::Learned;
            c.wiring = ResidualWiring::Sequential;
            c.tieWordEmbeddings = r.boolean("tie_word_embeddings", true);
            c.attentionBias = c.attentionOutBias = c.mlpBias = true;
            c.scaleAttnByInverseLayerIdx = r.boolean("scale_attn_by_inverse_layer_idx", false);
        }
        if (c.numHeads == 0 || c.hiddenSize % c.numHeads != 0)
            r.fail("n_embd (" + std::to_string(c.hiddenSize) + ") is not divisible by n_head ("
                + std::to_string(c.numHeads) + ")");
        c.headDim = c.hiddenSize / c.numHeads;
        if (gptj) {
            c.rotaryDim = r.integer("rotary_dim", c.headDim);
            c.ropeTheta = 10000.0;
        }
    } else if (c.modelType == "gpt_neox") {
        c.family = ModelFamily::GptNeoX;
        c.vocabSize = r.integer("vocab_size");
        c.hiddenSize = r.integer("hidden_size");
        c.numLayers = r.integer("num_hidden_layers");
        c.numHeads = r.integer("num_attention_heads");
        c.numKvHeads = c.numHeads;
        c.intermediateSize = r.integerOr("intermediate_size", 4 * int64_t(c.hiddenSize), "4 x hidden_size");
        c.maxPositions = r.integer("max_position_embeddings", 2048);
        c.normEps = r.number("layer_norm_eps", 1e-5);
        c.activation = parseActivation(r, "hidden_act", "gelu");
        c.norm = NormKind::LayerNorm;
        c.positions = PositionScheme::RotaryHalf;
        c.wiring = r.boolean("use_parallel_residual", true) ? ResidualWiring::Parallel : ResidualWiring::Sequential;
        c.tieWordEmbeddings = r.boolean("tie_word_embeddings", false);
        c.attentionBias = c.attentionOutBias = r.boolean("attention_bias", true);
        c.mlpBias = true;
        if (c.numHeads == 0 || c.hiddenSize % c.numHeads != 0)
            r.fail("hidden_size is not divisible by num_attention_heads");
        c.headDim = c.hiddenSize / c.numHeads;
        const double pct = r.number("rotary_pct", r.number("partial_rotary_factor", 0.25));
        if (!(pct >= 0 && pct <= 1))
            r.fail("rotary_pct (" + std::to_string(pct) + ") must be between 0 and 1");
        c.rotaryDim = static_cast<int>(c.headDim * pct);
        c.ropeTheta = r.number("rope_theta", r.number("rotary_emb_base", 10000.0));
        readRopeScaling(r, c);
    } else if (c.modelType == "llama" || c.modelType == "mistral" || c.modelType == "qwen2") {
        c.family = ModelFamily::Llama;
        c.vocabSize = r.integer("vocab_size");
        c.hiddenSize = r.integer("hidden_size");
        c.numLayers = r.integer("num_hidden_layers");
        c.numHeads = r.integer("num_attention_heads");
        c.numKvHeads = r.integer("num_key_value_heads", c.numHeads);
        if (c.numHeads == 0)
            r.fail("num_attention_heads must be positive");
        c.headDim = r.integer("head_dim", c.hiddenSize / c.numHeads);
        c.intermediateSize = r.integer("intermediate_size");
        c.maxPositions = r.integer("max_position_embeddings", 2048);
        c.normEps = r.number("rms_norm_eps", 1e-6);
        c.activation = parseActivation(r, "hidden_act", "silu");
        c.norm = NormKind::RmsNorm;
        c.positions = PositionScheme::RotaryHalf;
        c.rotaryDim = c.headDim;
        c.ropeTheta = r.number("rope_theta", 10000.0);
        readRopeScaling(r, c);
        c.wiring = ResidualWiring::Sequential;
        c.tieWordEmbeddings = r.boolean("tie_word_embeddings", false);
        if (c.modelType == "qwen2") {
            c.attentionBias = true; // Qwen2 always has q/k/v biases, never an o_proj bias
            c.attentionOutBias = false;
        } else {
            c.attentionBias = c.attentionOutBias = r.boolean("attention_bias", false);
        }
        c.mlpBias = r.boolean("mlp_bias", false);
        const bool windowed = c.modelType == "mistral" || r.boolean("use_sliding_window", false);
        if (windowed && r.has("sliding_window") && r.j["sliding_window"].is_number_integer())
            c.slidingWindow = r.integer("sliding_window");
    } else {
        throw Error(ErrorKind::UnsupportedArchitecture,
            "unsupported architecture: " + c.modelType + " (supported: " + supportedModelTypes() + ")");
    }
    readTokenIds(r, c);

    if (c.vocabSize <= 0 || c.hiddenSize <= 0 || c.numLayers <= 0 || c.numHeads <= 0 || c.intermediateSize <= 0
        || c.headDim <= 0)
        r.fail("vocab size, hidden size, layer count, head count, head size and MLP width must all be positive");
    if (c.numKvHeads <= 0 || c.numHeads % c.numKvHeads != 0)
        r.fail("num_attention_heads (" + std::to_string(c.numHeads) + ") must be a multiple of num_key_value_heads ("
            + std::to_string(c.numKvHeads) + ")");
    if (c.rotaryDim % 2 != 0 || c.rotaryDim > c.headDim)
        r.fail("rotary dimension " + std::to_string(c.rotaryDim) + " must be even and at most the head size "
            + std::to_string(c.headDim));
    return c;
}

std::string ModelConfig::toJson() const
{
    json j;
    j["model_type"] = modelType;
    j["vocab_size"] = vocabSize;
    const char *act = "gelu_new";
    switch (activation) {
    case Activation::GeluNew:
        act = "gelu_new";
        break;
    case Activation::Gelu:
        act = "gelu";
        break;
    case Activation::GeluFast:
        act = "gelu_fast";
        break;
    case Activation::Relu:
        act = "relu";
        break;
    case Activation::Silu:
        act = "silu";
        break;
    }
    switch (family) {
    case ModelFamily::Gpt2:
    case ModelFamily::GptJ:
        j["architectures"] = {family == ModelFamily::Gpt2 ? "GPT2LMHeadModel" : "GPTJForCausalLM"};
        j["n_embd"] = hiddenSize;
        j["n_layer"] = numLayers;
        j["n_head"] = numHeads;
        j["n_inner"] = intermediateSize;
        j["n_positions"] = maxPositions;
        j["layer_norm_epsilon"] = normEps;
        j["activation_function"] = act;
        j["tie_word_embeddings"] = tieWordEmbeddings;
        if (family == ModelFamily::GptJ)
            j["rotary_dim"] = rotaryDim;
        else
            j["scale_attn_by_inverse_layer_idx"] = scaleAttnByInverseLayerIdx;
        break;
    case ModelFamily::GptNeoX:
        j["architectures"] = {"GPTNeoXForCausalLM"};
        j["hidden_size"] = hiddenSize;
        j["num_hidden_layers"] = numLayers;
        j["num_attention_heads"] = numHeads;
        j["intermediate_size"] = intermediateSize;
        j["max_position_embeddings"] = maxPositions;
        j["layer_norm_eps"] = normEps;
        j["hidden_act"] = act;
        j["rotary_pct"] = headDim > 0 ? static_cast<double>(rotaryDim) / headDim : 0.0;
        j["rotary_emb_base"] = ropeTheta;
        j["use_parallel_residual"] = wiring == ResidualWiring::Parallel;
        j["tie_word_embeddings"] = tieWordEmbeddings;
        j["attention_bias"] = attentionBias;
        break;
    case ModelFamily::Llama:
        j["architectures"] = {modelType == "qwen2" ? "Qwen2ForCausalLM"
                : modelType == "mistral"           ? "MistralForCausalLM"
                                                   : "LlamaForCausalLM"};
        j["hidden_size"] = hiddenSize;
        j["num_hidden_layers"] = numLayers;
        j["num_attention_heads"] = numHeads;
        j["num_key_value_heads"] = numKvHeads;
        j["head_dim"] = headDim;
        j["intermediate_size"] = intermediateSize;
        j["max_position_embeddings"] = maxPositions;
        j["rms_norm_eps"] = normEps;
        j["hidden_act"] = act;
        j["rope_theta"] = ropeTheta;
        j["tie_word_embeddings"] = tieWordEmbeddings;
        if (modelType != "qwen2")
            j["attention_bias"] = attentionBias;
        j["mlp_bias"] = mlpBias;
        if (slidingWindow)
            j["sliding_window"] = *slidingWindow;
        if (ropeScaling.type == RopeScaling::Type::Linear)
            j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", ropeScaling.factor}};
        else if (ropeScaling.type == RopeScaling::Type::Llama3)
            j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", ropeScaling.factor},
                {"low_freq_factor", ropeScaling.lowFreqFactor}, {"high_freq_factor", ropeScaling.highFreqFactor},
                {"original_max_position_embeddings", ropeScaling.originalMaxPositions}};
        break;
    }
    if (bosTokenId)
        j["bos_token_id"] = *bosTokenId;
    if (eosTokenIds.size() == 1)
        j["eos_token_id"] = eosTokenIds.front();
    else if (!eosTokenIds.empty())
        j["eos_token_id"] = eosTokenIds;
    j["torch_dtype"] = "float32";
    return j.dump(2);
}

int64_t ModelConfig::parameterCount() const
{
    // In double: fields of up to 2^30 each multiply past int64 (a config can say anything).
    const double d = hiddenSize, v = vocabSize, dk = intermediateSize, hd = headDim;
    const double attn = d * hd * (numHeads + 2.0 * numKvHeads) + hd * numHeads * d;
    const double mlp = (family == ModelFamily::Llama ? 3 : 2) * d * dk;
    double total = numLayers * (attn + mlp) + v * d * (tieWordEmbeddings ? 1 : 2);
    if (positions == PositionScheme::Learned)
        total += static_cast<double>(maxPositions) * d;
    return total >= 9.2e18 ? INT64_MAX : static_cast<int64_t>(total);
}

} // namespace engram
