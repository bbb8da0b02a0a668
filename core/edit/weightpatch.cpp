#include "core/edit/weightpatch.h"

#include "core/io/checkpoint.h"
#include "core/io/safetensors.h"
#include "core/model/transformer.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <map>

#include <cstdio>

namespace engram {

std::string tensorHash(const at::Tensor &tensor)
{
    const at::Tensor t = tensor.to(at::kCPU).contiguous();
    const auto *p = static_cast<const unsigned char *>(t.data_ptr());
    uint64_t h = 1469598103934665603ull;
    for (int64_t i = 0; i < static_cast<int64_t>(t.nbytes()); ++i) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
    return out;
}

void WeightPatch::apply(Transformer &model, bool checkBase) const
{
    // Check everything first so a mismatch leaves the model untouched.
    for (const auto &d : deltas) {
        const at::Tensor w = model.parameter(d.name);
        if (w.sizes() != d.delta.sizes())
            throw Error(
                ErrorKind::ShapeMismatch, "patch delta for '" + d.name + "' does not match the parameter's shape");
        if (checkBase && tensorHash(w) != d.baseHash)
            throw Error(ErrorKind::ShapeMismatch,
                "patch for '" + d.name + "' was computed for different weights (base hash " + d.baseHash
                    + ", model has " + tensorHash(w) + " as " + std::string(c10::toString(w.scalar_type()))
                    + "); apply it to the same base model, loaded in the weight type it was computed in");
    }
    for (const auto &d : deltas) {
        const at::Tensor w = model.parameter(d.name);
        model.setParameter(d.name, w.to(at::kCPU).to(at::kFloat) + d.delta.to(at::kFloat));
    }
}

void WeightPatch::revert(Transformer &model, const WeightStore &base) const
{
    for (const auto &d : deltas)
        model.setParameter(d.name, base.tensor(d.name));
}

WeightPatch WeightPatch::compose(const Transformer &model, const std::vector<WeightPatch> &patches)
{
    // Work on copies of the touched tensors only; `order` keeps the first-seen order of names.
    std::map<std::string, at::Tensor> base, current;
    std::vector<std::string> order;
    nlohmann::json parts = nlohmann::json::array();
    for (std::size_t i = 0; i < patches.size(); ++i) {
        for (const auto &d : patches[i].deltas) {
            if (!current.count(d.name)) {
                const at::Tensor w = model.parameter(d.name).to(at::kCPU).to(at::kFloat).contiguous();
                base[d.name] = w;
                current[d.name] = w;
                order.push_back(d.name);
            }
            at::Tensor &w = current[d.name];
            if (w.sizes() != d.delta.sizes())
                throw Error(ErrorKind::ShapeMismatch,
                    "patch " + std::to_string(i + 1) + " of " + std::to_string(patches.size()) + ": delta for '"
                        + d.name + "' does not match the parameter's shape");
            if (tensorHash(w) != d.baseHash)
                throw Error(ErrorKind::ShapeMismatch,
                    "patch " + std::to_string(i + 1) + " of " + std::to_string(patches.size())
                        + " was computed for other weights of '" + d.name
                        + "' than the earlier patches leave (wrong order, or a patch of another model)");
            w = w + d.delta.to(at::kCPU).to(at::kFloat);
        }
        parts.push_back(nlohmann::json::parse(patches[i].provenanceJson, nullptr, /*allow_exceptions=*/false));
    }
    WeightPatch out;
    for (const auto &name : order) {
        TensorDelta d;
        d.name = name;
        d.baseHash = tensorHash(base[name]);
        d.delta = (current[name] - base[name]).contiguous();
        d.relativeNorm = d.delta.norm().item<double>() / base[name].norm().item<double>();
        out.deltas.push_back(std::move(d));
    }
    out.provenanceJson = nlohmann::json {{"method", "composed"}, {"parts", parts}}.dump();
    return out;
}

void WeightPatch::save(const std::filesystem::path &file) const
{
    std::vector<TensorSource> sources;
    nlohmann::json hashes = nlohmann::json::object(), norms = nlohmann::json::object();
    for (const auto &d : deltas) {
        sources.push_back(tensorSource("delta." + d.name, d.delta.to(at::kCPU).to(at::kFloat).contiguous()));
        hashes[d.name] = d.baseHash;
        norms[d.name] = d.relativeNorm;
    }
    writeSafetensors(file, std::move(sources),
        {{"format", "engram-patch"}, {"version", "1"}, {"base_hashes", hashes.dump()}, {"relative_norms", norms.dump()},
            {"provenance", provenanceJson}});
}

WeightPatch WeightPatch::load(const std::filesystem::path &file)
{
    const auto st = SafetensorsFile::open(file);
    const auto &meta = st->metadata();
    const auto get = [&](const char *key) -> std::string {
        const auto it = meta.find(key);
        if (it == meta.end())
            throw Error(ErrorKind::CorruptFile, file.string() + " is not an Engram patch (no '" + key + "' metadata)");
        return it->second;
    };
    if (get("format") != "engram-patch")
        throw Error(ErrorKind::CorruptFile, file.string() + " is not an Engram patch");
    if (get("version") != "1")
        throw Error(ErrorKind::Unsupported,
            file.string() + " is a patch of format version " + get("version")
                + " (this Engram reads version 1); update Engram");
    const auto hashes = nlohmann::json::parse(get("base_hashes"), nullptr, false);
    const auto norms = nlohmann::json::parse(get("relative_norms"), nullptr, false);
    if (!hashes.is_object() || !norms.is_object())
        throw Error(ErrorKind::CorruptFile, file.string() + ": patch metadata is not valid JSON");
    const WeightStore store = WeightStore::openFile(file);
    WeightPatch patch;
    patch.provenanceJson = get("provenance");
    for (auto it = hashes.begin(); it != hashes.end(); ++it) {
        TensorDelta d;
        d.name = it.key();
        d.baseHash = it.value().get<std::string>();
        d.relativeNorm = norms.value(d.name, 0.0);
        d.delta = store.tensor("delta." + d.name).clone();
        patch.deltas.push_back(std::move(d));
    }
    return patch;
}

} // namespace engram
