#pragma once
// Safetensors reading (memory-mapped, zero-copy) and streaming writing.
//
// Format: 8-byte little-endian header length N, N bytes of JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}},
// then the data buffer. Offsets are relative to the start of the data buffer.
//
// SafetensorsFile validates the whole header on open (length, JSON, dtype names,
// shape x dtype size = byte span, spans inside the file, no overlapping spans) and
// throws engram::Error(CorruptFile) naming the file and tensor on any violation.
// The mapping is private copy-on-write: the file on disk is never modified, even if a
// caller writes through a tensor view.
//
// Thread-safety: an open SafetensorsFile is immutable and may be read from any thread.

#include "core/io/dtype.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace engram {

struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    uint64_t begin = 0; // byte offset in the data buffer
    uint64_t end = 0; // one past the last byte

    int64_t numel() const;
    uint64_t byteSize() const { return end - begin; }
};

class SafetensorsFile
{
public:
    /// Maps and validates `path`. Throws engram::Error (Io, CorruptFile).
    static std::shared_ptr<const SafetensorsFile> open(const std::filesystem::path &path);
    ~SafetensorsFile();
    SafetensorsFile(const SafetensorsFile &) = delete;
    SafetensorsFile &operator=(const SafetensorsFile &) = delete;

    const std::filesystem::path &path() const { return m_path; }
    /// Tensors in header order (sorted by name, as the JSON object is parsed).
    const std::vector<TensorInfo> &tensors() const { return m_tensors; }
    const TensorInfo *find(const std::string &name) const;
    const std::map<std::string, std::string> &metadata() const { return m_metadata; }

    /// The tensor's bytes inside the mapping; valid while this object lives.
    std::span<const std::byte> bytes(const TensorInfo &info) const;
    /// Mutable pointer into the private (copy-on-write) mapping, for zero-copy views.
    void *mutableData(const TensorInfo &info) const;

    uint64_t fileSize() const { return m_size; }

private:
    SafetensorsFile() = default;
    void parseHeader();

    std::filesystem::path m_path;
    std::byte *m_map = nullptr;
    uint64_t m_size = 0;
    uint64_t m_dataStart = 0;
    std::vector<TensorInfo> m_tensors;
    std::map<std::string, std::size_t> m_index;
    std::map<std::string, std::string> m_metadata;
};

/// One tensor to be written: its header fields and a callback producing exactly
/// numel * dtypeSize bytes when asked (called once, in name order).
struct TensorSource {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    std::function<void(std::function<void(const void *, std::size_t)> sink)> write;
};

/// Streams tensors into `path`: header with keys sorted and padded with spaces to a
/// multiple of 8 bytes, data in sorted-name order without gaps. Written to a temporary
/// sibling file, flushed and renamed into place, so a failure never leaves a partial file.
/// Throws engram::Error(Io, InvalidArgument).
void writeSafetensors(const std::filesystem::path &path, std::vector<TensorSource> tensors,
    const std::map<std::string, std::string> &metadata = {{"format", "pt"}});

} // namespace engram
