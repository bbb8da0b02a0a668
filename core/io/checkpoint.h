#pragma once
// A Hugging Face checkpoint directory's weights: one `model.safetensors`, or shards listed
// in `model.safetensors.index.json` (weight_map: tensor name -> shard file).
//
// Tensors are handed out as zero-copy views of the memory-mapped files; a view keeps its
// shard mapped for as long as it lives. Thread-safety: immutable after open().

#include "core/io/safetensors.h"

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace engram {

class WeightStore
{
public:
    /// Opens the weights of checkpoint directory `dir`. Throws engram::Error (Io,
    /// CorruptFile, MissingTensor) with the file name when shards or the index are bad.
    static WeightStore openDirectory(const std::filesystem::path &dir);
    /// Opens a single safetensors file.
    static WeightStore openFile(const std::filesystem::path &file);

    bool contains(const std::string &name) const;
    const TensorInfo &info(const std::string &name) const;
    /// Zero-copy CPU tensor view (copied only when the data is misaligned for its dtype).
    /// Throws engram::Error(MissingTensor) naming the tensor and the directory.
    at::Tensor tensor(const std::string &name) const;
    std::vector<std::string> names() const;
    /// Shard file names (relative to the directory) in first-use order; one entry when unsharded.
    std::vector<std::string> shardFiles() const;
    /// Which shard (relative file name) holds `name`.
    std::string shardOf(const std::string &name) const;
    const std::filesystem::path &location() const { return m_location; }
    uint64_t totalBytes() const;

private:
    struct Entry {
        std::shared_ptr<const SafetensorsFile> file;
        const TensorInfo *info = nullptr;
        std::string shard;
    };
    std::filesystem::path m_location;
    std::vector<std::shared_ptr<const SafetensorsFile>> m_files;
    std::vector<std::string> m_shardNames;
    std::map<std::string, Entry> m_entries;
};

/// Converts a dtype of ours to LibTorch's scalar type (all safetensors types we parse).
c10::ScalarType toScalarType(DType dtype);
/// The inverse; throws engram::Error(DTypeMismatch) for types safetensors cannot hold.
DType fromScalarType(c10::ScalarType type);
/// A TensorSource that streams a (CPU-contiguous-copied if needed) tensor's bytes.
TensorSource tensorSource(const std::string &name, const at::Tensor &tensor);

} // namespace engram
