#include "devkit/randomcheckpoint.h"

#include "core/util/random.h"

#include "core/io/checkpoint.h"
#include "core/model/transformer.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cmath>

namespace engram {
namespace {

void writeText(const std::filesystem::path &path, const std::string &text)
{
    AtomicFile out(path);
    out.write(text.data(), text.size());
    out.commit();
}

at::Tensor randomTensor(RandomStream &rng, const std::vector<int64_t> &shape, double mean, double std)
{
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(at::kFloat));
    float *p = t.data_ptr<float>();
    for (int64_t i = 0; i < t.numel(); ++i)
        p[i] = static_cast<float>(mean + std * rng.normal());
    return t;
}

bool isNormOrBias(const std::string &name)
{
    return name.find("norm") != std::string::npos || name.find("ln_") != std::string::npos
        || name.find("layernorm") != std::string::npos;
}

} // namespace

ModelConfig tinyConfig(ModelFamily family, int vocab, int hidden, int layers, int heads)
{
    nlohmann::json j;
    j["vocab_size"] = vocab;
    switch (family) {
    case ModelFamily::Gpt2:
    case ModelFamily::GptJ:
        j["model_type"] = family == ModelFamily::Gpt2 ? "gpt2" : "gptj";
        j["n_embd"] = hidden;
        j["n_layer"] = layers;
        j["n_head"] = heads;
        j["n_positions"] = 128;
        if (family == ModelFamily::GptJ)
            j["rotary_dim"] = hidden / heads / 2;
        break;
    case ModelFamily::GptNeoX:
        j["model_type"] = "gpt_neox";
        j["hidden_size"] = hidden;
        j["num_hidden_layers"] = layers;
        j["num_attention_heads"] = heads;
        j["intermediate_size"] = 4 * hidden;
        j["max_position_embeddings"] = 128;
        j["rotary_pct"] = 0.5;
        j["use_parallel_residual"] = true;
        break;
    case ModelFamily::Llama:
        j["model_type"] = "llama";
        j["hidden_size"] = hidden;
        j["num_hidden_layers"] = layers;
        j["num_attention_heads"] = heads;
        j["num_key_value_heads"] = heads / 2 > 0 ? heads / 2 : 1;
        j["intermediate_size"] = 3 * hidden;
        j["max_position_embeddings"] = 128;
        j["tie_word_embeddings"] = false;
        break;
    }
    return ModelConfig::fromJson(j.dump(), "tiny config");
}

void writeRandomCheckpoint(
    const ModelConfig &config, const std::filesystem::path &dir, uint64_t seed, int shards, double matrixStd)
{
    std::filesystem::create_directories(dir);
    writeText(dir / "config.json", config.toJson());
    RandomStream rng(seed);
    const auto specs = Transformer::parameterSpecs(config);
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const auto &spec : specs) {
        const bool vector = spec.shape.size() == 1;
        const bool normScale = vector && isNormOrBias(spec.name) && spec.name.find(".bias") == std::string::npos;
        // Matrices use std 0.1 (not GPT-2's 0.02) so tiny models have logits that differ
        // clearly between tokens, which makes equality tests meaningful.
        const at::Tensor t = normScale ? randomTensor(rng, spec.shape, 1.0, 0.1)
                                       : randomTensor(rng, spec.shape, 0.0, vector ? 0.02 : matrixStd);
        tensors.emplace_back(spec.name, t);
    }
    shards = std::max(1, std::min<int>(shards, static_cast<int>(tensors.size())));
    if (shards == 1) {
        std::vector<TensorSource> sources;
        for (const auto &[name, t] : tensors)
            sources.push_back(tensorSource(name, t));
        writeSafetensors(dir / "model.safetensors", std::move(sources));
        return;
    }
    nlohmann::json index;
    uint64_t total = 0;
    const std::size_t per = (tensors.size() + shards - 1) / shards;
    for (int s = 0; s < shards; ++s) {
        char file[64];
        std::snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", s + 1, shards);
        std::vector<TensorSource> sources;
        for (std::size_t i = s * per; i < std::min(tensors.size(), (s + 1) * per); ++i) {
            sources.push_back(tensorSource(tensors[i].first, tensors[i].second));
            index["weight_map"][tensors[i].first] = file;
            total += tensors[i].second.nbytes();
        }
        writeSafetensors(dir / file, std::move(sources));
    }
    index["metadata"]["total_size"] = total;
    writeText(dir / "model.safetensors.index.json", index.dump(2));
}

void saveCheckpoint(const Transformer &model, const std::filesystem::path &dir, const std::string &storageDtype)
{
    const c10::ScalarType stored = parseDTypeName(storageDtype);
    // Convert (and check) every tensor before anything is written.
    std::vector<TensorSource> sources;
    for (const auto &[name, t] : model.namedParameters()) {
        const at::Tensor s = t.detach().to(at::kCPU).to(stored).contiguous();
        if (!at::isfinite(s).all().item<bool>())
            throw Error(ErrorKind::InvalidArgument,
                "weight '" + name + "' does not fit " + storageDtype + " (largest magnitude "
                    + std::to_string(t.detach().abs().max().item<double>()) + "); save it as fp32");
        sources.push_back(tensorSource(name, s));
    }
    auto config = nlohmann::json::parse(model.config().toJson());
    config["torch_dtype"] = stored == at::kHalf ? "float16" : stored == at::kBFloat16 ? "bfloat16" : "float32";
    std::filesystem::create_directories(dir);
    writeSafetensors(dir / "model.safetensors", std::move(sources));
    writeText(dir / "config.json", config.dump(2));
}

} // namespace engram
