#include "core/edit/weightpatch.h"

#include "core/io/checkpoint.h"
#include "core/io/safetensors.h"
#include "core/model/transformer.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
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
    // The new weights are computed in full before any is set: a delta that would make a weight
    // non-finite, or whose size disagrees with the relative norm recorded with it (damage since),
    // changes nothing.
    std::vector<at::Tensor> updated;
    for (const auto &d : deltas) {
        const at::Tensor w = model.parameter(d.name).to(at::kCPU).to(at::kFloat);
        const at::Tensor delta = d.delta.to(at::kCPU).to(at::kFloat);
        if (checkBase && d.relativeNorm > 0) {
            const double actual = delta.norm().item<double>() / std::max(w.norm().item<double>(), 1e-30);
            if (!(std::abs(actual - d.relativeNorm) <= 1e-3 * d.relativeNorm + 1e-9))
                throw Error(ErrorKind::CorruptFile,
                    "the delta for '" + d.name + "' has relative size " + std::to_string(actual) + ", its record says "
                        + std::to_string(d.relativeNorm) + "; the patch is damaged and was not applied");
        }
        at::Tensor sum = w + delta;
        if (!at::isfinite(sum).all().item<bool>())
            throw Error(ErrorKind::Runtime,
                "applying the delta for '" + d.name + "' gives NaN or infinite weights; the patch was not applied");
        updated.push_back(std::move(sum));
    }
    for (std::size_t i = 0; i < deltas.size(); ++i)
        model.setParameter(deltas[i].name, updated[i]);
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
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec))
        throw Error(ErrorKind::InvalidArgument,
            file.string() + " is a folder; a patch is one .safetensors file (engram-cli export FILE --patch-file)");
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
    WeightPatch patch;
    patch.provenanceJson = get("provenance");
    std::map<std::string, std::string> hashes;
    std::map<std::string, double> norms;
    try {
        const auto h = nlohmann::json::parse(get("base_hashes"));
        const auto n = nlohmann::json::parse(get("relative_norms"));
        if (!h.is_object() || !n.is_object())
            throw Error(ErrorKind::CorruptFile,
                file.string() + ": the patch metadata 'base_hashes' and 'relative_norms' must be JSON objects");
        for (auto it = h.begin(); it != h.end(); ++it) {
            if (!it.value().is_string())
                throw Error(ErrorKind::CorruptFile,
                    file.string() + ": the base hash of '" + it.key() + "' is not a string");
            hashes[it.key()] = it.value().get<std::string>();
        }
        for (auto it = n.begin(); it != n.end(); ++it) {
            if (!it.value().is_number() || !std::isfinite(it.value().get<double>()) || it.value().get<double>() < 0)
                throw Error(ErrorKind::CorruptFile,
                    file.string() + ": the relative norm of '" + it.key() + "' is not a finite number >= 0");
            norms[it.key()] = it.value().get<double>();
        }
    } catch (const nlohmann::json::exception &e) {
        throw Error(ErrorKind::CorruptFile, file.string() + ": the patch metadata is not valid JSON (" + jsonErrorText(e) + ")");
    }
    // Applied whole or not at all: every tensor is a listed delta and every listed delta is there.
    for (const auto &info : st->tensors()) {
        if (info.name.rfind("delta.", 0) != 0 || !hashes.count(info.name.substr(6)))
            throw Error(ErrorKind::CorruptFile,
                file.string() + ": tensor '" + info.name
                    + "' is not a weight delta the patch lists (its 'base_hashes' metadata names every delta)");
        if (info.dtype != DType::F32)
            throw Error(ErrorKind::CorruptFile,
                file.string() + ": tensor '" + info.name + "' is " + std::string(dtypeName(info.dtype)) + "; patch deltas are F32");
    }
    if (hashes.empty())
        throw Error(ErrorKind::CorruptFile, file.string() + " holds no weight deltas; there is nothing to apply");
    const WeightStore store = WeightStore::openFile(file);
    for (const auto &[name, hash] : hashes) {
        if (!st->find("delta." + name))
            throw Error(ErrorKind::CorruptFile,
                file.string() + ": the metadata lists '" + name + "' but the file has no tensor 'delta." + name + "'");
        TensorDelta d;
        d.name = name;
        d.baseHash = hash;
        d.relativeNorm = norms.count(name) ? norms[name] : 0.0;
        d.delta = store.tensor("delta." + name).clone();
        if (!at::isfinite(d.delta).all().item<bool>())
            throw Error(ErrorKind::CorruptFile,
                file.string() + ": the delta of '" + name + "' holds NaN or infinite values; the patch was not applied");
        patch.deltas.push_back(std::move(d));
    }
    return patch;
}

} // namespace engram
