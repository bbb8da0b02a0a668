#pragma once
// Export of a patched model as a complete Hugging Face directory.
//
// The result has the base's layout: every non-weight file copied (config, tokenizer,
// generation config ...), shards without edited tensors hard-linked (copied across file
// systems), shards with edited tensors rewritten with the same tensor names, dtypes and
// order, the shard index rewritten, and engram-manifest.json describing the edits.
// Everything is written into a hidden sibling directory (".<name>.partial-<pid>"), fsynced
// and renamed into place at the end: a failure, a full disk or a cancel removes it, and a
// process killed mid-export leaves only that hidden directory, which the next export to the
// same place removes. The base checkpoint is only read.

#include "core/util/progress.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace engram {

class WeightPatch;

struct ExportOptions {
    bool overwrite = false; // replace an existing directory (swapped in only when complete)
    bool hardLink = true; // link unchanged shards instead of copying them
};

struct ExportSummary {
    std::filesystem::path directory;
    int tensorsPatched = 0;
    int shardsRewritten = 0;
    int shardsLinked = 0;
    int filesCopied = 0; // non-weight files and shards that could not be linked
    uint64_t bytesWritten = 0;
    double seconds = 0;
};

/// Writes base ⊕ patches (applied in order, each delta added in float32 and rounded to the
/// stored dtype after each patch, as applying them to a loaded model does) to `out`.
/// `manifestJson` becomes engram-manifest.json. Throws engram::Error (Io for an existing
/// target without overwrite, a full disk or unwritable place; Cancelled).
ExportSummary exportPatchedCheckpoint(const std::filesystem::path &baseDir, const std::vector<WeightPatch> &patches,
    const std::string &manifestJson, const std::filesystem::path &out, const ExportOptions &options = {},
    const ProgressSink &progress = {});

/// Structural check of an export against its base: every tensor of the base is present with
/// the same shape and dtype, no extra tensors, every non-weight file present. Returns the
/// problems found (empty when the layout is sound).
std::vector<std::string> checkExportLayout(const std::filesystem::path &baseDir, const std::filesystem::path &out);

} // namespace engram
