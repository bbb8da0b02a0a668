#include "core/edit/lora.h"

#include "core/edit/weightpatch.h"
#include "core/io/safetensors.h"
#include "core/model/modelconfig.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace engram {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// B (out × r) and A (r × in), float64, with B·A the delta up to the dropped singular values.
struct Factors {
    at::Tensor b, a;
    int64_t exactRank = 0;
};

// The requests a patch records: an upper bound on its rank per layer for MEMIT and ROME.
int64_t requestCount(const WeightPatch &patch)
{
    const json p = json::parse(patch.provenanceJson, nullptr, false);
    if (p.is_object() && p.contains("requests") && p["requests"].is_array())
        return static_cast<int64_t>(p["requests"].size());
    return 0;
}

// The thin SVD of x (m × n, float64). With a rank bound well below min(m, n), from a random
// range sketch (the delta's columns lie in the span of x·Ω when Ω has more columns than x's
// rank), checked by its reconstruction and replaced by the full SVD when the check fails.
std::tuple<at::Tensor, at::Tensor, at::Tensor> thinSvd(const at::Tensor &x, int64_t rankBound)
{
    const int64_t full = std::min(x.size(0), x.size(1));
    if (rankBound > 0 && rankBound + 8 < full) {
        auto gen = at::make_generator<at::CPUGeneratorImpl>(20240601);
        const at::Tensor omega = at::randn({x.size(1), rankBound + 8}, gen, x.options());
        const at::Tensor q = std::get<0>(at::linalg_qr(at::matmul(x, omega), "reduced"));
        auto [ub, s, vh] = at::linalg_svd(at::matmul(q.t(), x), /*full_matrices=*/false);
        at::Tensor u = at::matmul(q, ub);
        const double residual = (x - at::matmul(u * s.unsqueeze(0), vh)).norm().item<double>();
        if (residual <= 1e-9 * x.norm().item<double>())
            return {u, s, vh};
    }
    auto [u, s, vh] = at::linalg_svd(x, /*full_matrices=*/false);
    return {u, s, vh};
}

// Factors of one delta in Linear orientation (out × in). Singular values below float32
// resolution (σ₀ · max(m, n) · ε₃₂) are rounding, not rank. rankLimit > 0 keeps at most that many.
Factors factor(const at::Tensor &delta, int rankLimit, int64_t rankBound)
{
    const at::Tensor x = delta.to(at::kDouble).contiguous();
    Factors f;
    if (x.norm().item<double>() == 0) {
        f.b = at::zeros({x.size(0), 0}, x.options());
        f.a = at::zeros({0, x.size(1)}, x.options());
        return f;
    }
    const auto [u, s, vh] = thinSvd(x, rankBound);
    const double tolerance = s[0].item<double>() * static_cast<double>(std::max(x.size(0), x.size(1)))
        * std::numeric_limits<float>::epsilon();
    f.exactRank = (s > tolerance).sum().item<int64_t>();
    const int64_t r = rankLimit > 0 ? std::min<int64_t>(f.exactRank, rankLimit) : f.exactRank;
    const at::Tensor root = s.slice(0, 0, r).sqrt(); // balanced: B and A share the scale
    f.b = u.slice(1, 0, r) * root.unsqueeze(0);
    f.a = root.unsqueeze(1) * vh.slice(0, 0, r);
    return f;
}

std::string baseModelName(const fs::path &modelDir)
{
    const json config = json::parse(readTextFile(modelDir / "config.json"), nullptr, false);
    if (config.is_object() && config.contains("_name_or_path") && config["_name_or_path"].is_string()
        && !config["_name_or_path"].get<std::string>().empty())
        return config["_name_or_path"].get<std::string>();
    return fs::absolute(modelDir).lexically_normal().string();
}

TensorSource floatSource(const std::string &name, const at::Tensor &t)
{
    const at::Tensor data = t.to(at::kFloat).contiguous();
    return {name, DType::F32, data.sizes().vec(), [data](std::function<void(const void *, std::size_t)> sink) {
                sink(data.data_ptr(), static_cast<std::size_t>(data.numel()) * sizeof(float));
            }};
}

} // namespace

LoraSummary writeLoraAdapter(
    const std::vector<WeightPatch> &patches, const fs::path &modelDir, const fs::path &out, const LoraOptions &options)
{
    if (patches.empty())
        throw Error(ErrorKind::InvalidArgument, "no patch to write as a LoRA adapter");
    if (options.rank < 0)
        throw Error(ErrorKind::InvalidArgument, "the LoRA rank must be 0 (exact) or positive");
    const ModelConfig config = ModelConfig::fromFile(modelDir / "config.json");
    LoraSummary summary;
    // GPT-2 keeps its projections as Conv1D, weights stored (in, out): PEFT is told to transpose.
    summary.fanInFanOut = config.family == ModelFamily::Gpt2;
    summary.baseModel = baseModelName(modelDir);

    // Per module, in name order: each patch's delta in Linear orientation (out × in).
    std::map<std::string, std::vector<std::pair<at::Tensor, int64_t>>> parts;
    for (const auto &patch : patches) {
        const int64_t bound = requestCount(patch);
        for (const auto &d : patch.deltas) {
            const std::string suffix = ".weight";
            if (d.delta.dim() != 2 || d.name.size() <= suffix.size()
                || d.name.compare(d.name.size() - suffix.size(), suffix.size(), suffix) != 0)
                throw Error(ErrorKind::InvalidArgument,
                    "the patch changes '" + d.name + "', which is not a matrix weight: it cannot be a LoRA adapter");
            const at::Tensor linear = summary.fanInFanOut ? d.delta.t() : d.delta;
            parts[d.name.substr(0, d.name.size() - suffix.size())].emplace_back(linear, bound);
        }
    }

    std::map<std::string, Factors> factors;
    for (const auto &[module, list] : parts) {
        at::Tensor sum = list.front().first.to(at::kDouble);
        int64_t bound = list.front().second > 0 ? list.front().second : 0;
        for (std::size_t i = 1; i < list.size(); ++i) {
            sum = sum + list[i].first.to(at::kDouble);
            bound = bound > 0 && list[i].second > 0 ? bound + list[i].second : 0;
        }
        Factors f;
        if (options.rank > 0 || list.size() == 1) {
            f = factor(sum, options.rank, bound);
        } else {
            // Exact composition: the runs' factors side by side, ranks adding up.
            std::vector<at::Tensor> bs, as;
            for (const auto &[delta, partBound] : list) {
                Factors part = factor(delta, 0, partBound);
                bs.push_back(part.b);
                as.push_back(part.a);
            }
            f.b = at::cat(bs, 1);
            f.a = at::cat(as, 0);
            f.exactRank = factor(sum, 0, bound).exactRank;
        }
        LoraModuleReport report;
        report.module = module;
        report.rank = f.b.size(1);
        report.exactRank = f.exactRank;
        const double norm = sum.norm().item<double>();
        report.relativeError = norm > 0 ? (sum - at::matmul(f.b, f.a)).norm().item<double>() / norm : 0.0;
        summary.maxRelativeError = std::max(summary.maxRelativeError, report.relativeError);
        summary.rank = std::max(summary.rank, report.rank);
        summary.modules.push_back(report);
        factors[module] = std::move(f);
    }
    if (summary.rank == 0)
        throw Error(ErrorKind::InvalidArgument, "the patches change nothing: there is no adapter to write");
    summary.alpha = static_cast<double>(summary.rank);

    // One rank for the whole adapter (vLLM and older PEFT expect it): smaller factors are
    // padded with zero rows/columns, which changes no product.
    std::vector<TensorSource> tensors;
    json targets = json::array();
    for (auto &[module, f] : factors) {
        if (f.b.size(1) == 0)
            continue; // a module whose delta is zero
        const int64_t pad = summary.rank - f.b.size(1);
        const at::Tensor b = at::cat({f.b, at::zeros({f.b.size(0), pad}, f.b.options())}, 1);
        const at::Tensor a = at::cat({f.a, at::zeros({pad, f.a.size(1)}, f.a.options())}, 0);
        tensors.push_back(floatSource("base_model.model." + module + ".lora_A.weight", a));
        tensors.push_back(floatSource("base_model.model." + module + ".lora_B.weight", b));
        targets.push_back(module);
    }

    StagingDirectory staging(out, options.overwrite);
    summary.directory = staging.target();
    writeSafetensors(staging.path() / "adapter_model.safetensors", std::move(tensors));
    const json adapterConfig {{"peft_type", "LORA"}, {"task_type", "CAUSAL_LM"},
        {"base_model_name_or_path", summary.baseModel}, {"r", summary.rank}, {"lora_alpha", summary.alpha},
        {"lora_dropout", 0.0}, {"fan_in_fan_out", summary.fanInFanOut}, {"bias", "none"},
        {"target_modules", targets}, {"inference_mode", true}, {"modules_to_save", nullptr},
        {"init_lora_weights", true}, {"layers_to_transform", nullptr}, {"layers_pattern", nullptr},
        {"rank_pattern", json::object()}, {"alpha_pattern", json::object()}, {"use_rslora", false},
        {"revision", nullptr}};
    // What the adapter holds and where it came from, beside PEFT's file (PEFT ignores it).
    json modules = json::array();
    for (const auto &m : summary.modules)
        modules.push_back({{"module", m.module}, {"rank", m.rank}, {"exact_rank", m.exactRank},
            {"relative_error", m.relativeError}});
    json provenance = json::array();
    for (const auto &p : patches)
        provenance.push_back(json::parse(p.provenanceJson, nullptr, false));
    const json engram {{"format", "engram-lora"}, {"version", 1}, {"rank_limit", options.rank}, {"modules", modules},
        {"patches", provenance}};
    for (const auto &[name, doc] : {std::pair {"adapter_config.json", &adapterConfig}, std::pair {"engram-lora.json", &engram}}) {
        const std::string text = doc->dump(2) + "\n";
        AtomicFile file(staging.path() / name);
        file.write(text.data(), text.size());
        file.commit();
    }
    staging.commit();
    return summary;
}

LoraSummary writeLoraAdapter(const std::vector<fs::path> &patchFiles, const fs::path &modelDir, const fs::path &out,
    const LoraOptions &options)
{
    std::vector<WeightPatch> patches;
    for (const auto &file : patchFiles)
        patches.push_back(WeightPatch::load(file));
    return writeLoraAdapter(patches, modelDir, out, options);
}

} // namespace engram
