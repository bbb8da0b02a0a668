#include "core/jobs/export.h"

#include "core/edit/weightpatch.h"
#include "core/io/checkpoint.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <map>
#include <set>

namespace engram {

namespace fs = std::filesystem;

namespace {

void copyFile(const fs::path &from, const fs::path &to)
{
    std::error_code ec;
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
    if (ec)
        throw Error(ErrorKind::Io,
            "cannot copy " + from.string() + " to " + to.string() + ": " + ec.message()
                + (ec == std::errc::no_space_on_device ? " (disk full; nothing was exported)" : ""));
    fsyncPath(to, /*directory=*/false);
}

} // namespace

ExportSummary exportPatchedCheckpoint(const fs::path &baseDir, const std::vector<WeightPatch> &patches,
    const std::string &manifestJson, const fs::path &outArg, const ExportOptions &options, const ProgressSink &progress)
{
    const auto start = std::chrono::steady_clock::now();
    const fs::path out = fs::absolute(outArg).lexically_normal();
    const fs::path target = out.filename().empty() ? out.parent_path() : out;
    std::error_code ec;
    if (fs::equivalent(baseDir, target, ec))
        throw Error(ErrorKind::InvalidArgument, "export to " + target.string() + " would overwrite the base model");

    const WeightStore base = WeightStore::openDirectory(baseDir);
    // Deltas per tensor, in patch order.
    std::map<std::string, std::vector<const TensorDelta *>> deltas;
    for (const auto &p : patches)
        for (const auto &d : p.deltas) {
            if (!base.contains(d.name))
                throw Error(ErrorKind::MissingTensor,
                    "a patch edits '" + d.name + "', which the base model in " + baseDir.string() + " does not have");
            deltas[d.name].push_back(&d);
        }
    std::set<std::string> touchedShards;
    for (const auto &[tensor, list] : deltas)
        touchedShards.insert(base.shardOf(tensor));

    ProgressTracker tracker(progress, "copying configuration and tokenizer files", 1);
    StagingDirectory temp(target, options.overwrite);
    ExportSummary summary;
    summary.directory = target;
    summary.tensorsPatched = static_cast<int>(deltas.size());

    // Non-weight files (config, tokenizer ...), top level and sub-directories.
    const std::vector<std::string> shards = base.shardFiles();
    const std::set<std::string> shardSet(shards.begin(), shards.end());
    for (const auto &entry : fs::recursive_directory_iterator(baseDir)) {
        const fs::path rel = fs::relative(entry.path(), baseDir);
        if (rel.filename().string().rfind('.', 0) == 0)
            continue; // hidden files (editor backups, .git)
        if (entry.is_directory()) {
            fs::create_directories(temp.path() / rel);
            continue;
        }
        if (!entry.is_regular_file() || shardSet.count(rel.string()) || rel == "model.safetensors.index.json"
            || rel == "engram-manifest.json")
            continue;
        copyFile(entry.path(), temp.path() / rel);
        ++summary.filesCopied;
        summary.bytesWritten += entry.file_size();
    }
    tracker.advance();

    tracker.stage("writing weights", static_cast<int64_t>(shards.size()));
    for (const auto &shard : shards) {
        const fs::path from = baseDir / shard, to = temp.path() / shard;
        if (!touchedShards.count(shard)) {
            if (options.hardLink) {
                fs::create_hard_link(from, to, ec);
                if (!ec) {
                    ++summary.shardsLinked;
                    tracker.advance();
                    continue;
                }
            }
            copyFile(from, to);
            ++summary.filesCopied;
            summary.bytesWritten += fs::file_size(from);
            tracker.advance();
            continue;
        }
        const auto file = SafetensorsFile::open(from);
        std::vector<TensorSource> sources;
        for (const auto &info : file->tensors()) {
            const auto it = deltas.find(info.name);
            if (it == deltas.end()) {
                sources.push_back(tensorSource(info.name, base.tensor(info.name)));
                continue;
            }
            const auto stored = toScalarType(info.dtype);
            at::Tensor w = base.tensor(info.name);
            for (const TensorDelta *d : it->second) {
                if (d->delta.sizes() != w.sizes())
                    throw Error(ErrorKind::ShapeMismatch,
                        "a patch's delta for '" + info.name + "' does not match the base tensor's shape");
                w = (w.to(at::kFloat) + d->delta.to(at::kCPU).to(at::kFloat)).to(stored);
            }
            // An edit can move a weight beyond what the checkpoint's type holds (fp16 ends at
            // 65504): refuse rather than write inf into the exported model.
            if (!at::isfinite(w).all().item<bool>())
                throw Error(ErrorKind::InvalidArgument,
                    "the patched '" + info.name + "' does not fit the checkpoint's "
                        + std::string(dtypeName(info.dtype)) + " weights (a value overflows); nothing was exported");
            sources.push_back(tensorSource(info.name, w.contiguous()));
        }
        writeSafetensors(to, std::move(sources), file->metadata());
        summary.bytesWritten += fs::file_size(to);
        ++summary.shardsRewritten;
        stallPoint("export:shard-written");
        tracker.advance();
    }

    // The index (sharded checkpoints): same weight map, total size recomputed from the shards.
    if (fs::exists(baseDir / "model.safetensors.index.json")) {
        auto index = nlohmann::json::parse(readTextFile(baseDir / "model.safetensors.index.json"), nullptr, false);
        if (index.is_discarded() || !index.is_object())
            throw Error(
                ErrorKind::CorruptFile, (baseDir / "model.safetensors.index.json").string() + " is not valid JSON");
        uint64_t total = 0;
        for (const auto &n : base.names())
            total += base.info(n).byteSize();
        index["metadata"]["total_size"] = total;
        const std::string text = index.dump(2) + "\n";
        AtomicFile f(temp.path() / "model.safetensors.index.json");
        f.write(text.data(), text.size());
        f.commit();
    }
    {
        const std::string text = manifestJson + "\n";
        AtomicFile f(temp.path() / "engram-manifest.json");
        f.write(text.data(), text.size());
        f.commit();
    }
    tracker.stage("finishing", 1);
    temp.commit();
    tracker.advance();
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return summary;
}

std::vector<std::string> checkExportLayout(const fs::path &baseDir, const fs::path &out)
{
    std::vector<std::string> problems;
    const WeightStore base = WeightStore::openDirectory(baseDir);
    const WeightStore exported = WeightStore::openDirectory(out);
    for (const auto &n : base.names()) {
        if (!exported.contains(n)) {
            problems.push_back("tensor '" + n + "' is missing");
            continue;
        }
        const auto &a = base.info(n), &b = exported.info(n);
        if (a.shape != b.shape)
            problems.push_back("tensor '" + n + "' has another shape");
        if (a.dtype != b.dtype)
            problems.push_back("tensor '" + n + "' has another dtype");
        if (base.shardOf(n) != exported.shardOf(n))
            problems.push_back(
                "tensor '" + n + "' is in shard " + exported.shardOf(n) + ", the base has it in " + base.shardOf(n));
    }
    for (const auto &n : exported.names())
        if (!base.contains(n))
            problems.push_back("tensor '" + n + "' is not in the base");
    for (const auto &entry : fs::recursive_directory_iterator(baseDir)) {
        const fs::path rel = fs::relative(entry.path(), baseDir);
        if (entry.is_regular_file() && rel.filename().string().rfind('.', 0) != 0 && !fs::exists(out / rel))
            problems.push_back("file " + rel.string() + " is missing");
    }
    if (!fs::exists(out / "engram-manifest.json"))
        problems.push_back("engram-manifest.json is missing");
    return problems;
}

} // namespace engram
