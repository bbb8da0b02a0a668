#include "core/edit/weightpatch.h"

#include "core/io/checkpoint.h"
#include "core/io/safetensors.h"
#include "core/model/transformer.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

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

void WeightPatch::apply(Transformer &model) const
{
    // Check everything first so a mismatch leaves the model untouched.
    for (const auto &d : deltas) {
        const at::Tensor w = model.parameter(d.name);
        if (w.sizes() != d.delta.sizes())
            throw Error(
                ErrorKind::ShapeMismatch, "patch delta for '" + d.name + "' does not match the parameter's shape");
        if (tensorHash(w) != d.baseHash)
            throw Error(ErrorKind::ShapeMismatch,
                "patch for '" + d.name + "' was computed for different weights (base hash " + d.baseHash
                    + ", model has " + tensorHash(w) + "); apply it to the same base model");
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
