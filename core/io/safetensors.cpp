#include "core/io/safetensors.h"

#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace engram {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024; // as the reference implementation

[[noreturn]] void corrupt(const std::filesystem::path &path, const std::string &what)
{
    throw Error(ErrorKind::CorruptFile, "corrupt safetensors file " + path.string() + ": " + what);
}

bool multiplyOverflows(uint64_t a, uint64_t b, uint64_t &out)
{
    return __builtin_mul_overflow(a, b, &out);
}

} // namespace

int64_t TensorInfo::numel() const
{
    int64_t n = 1;
    for (int64_t d : shape)
        n *= d;
    return n;
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::filesystem::path &path)
{
    std::shared_ptr<SafetensorsFile> file(new SafetensorsFile);
    file->m_path = path;

    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw Error(ErrorKind::Io, "cannot open " + path.string() + ": " + std::strerror(errno));
    struct stat st {
    };
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        throw Error(ErrorKind::Io, "cannot stat " + path.string() + ": " + std::strerror(err));
    }
    file->m_size = static_cast<uint64_t>(st.st_size);
    if (file->m_size < 8) {
        ::close(fd);
        corrupt(path, "file is " + std::to_string(file->m_size) + " bytes, shorter than the 8-byte header length");
    }
    void *map = ::mmap(nullptr, file->m_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    const int mapErr = errno;
    ::close(fd);
    if (map == MAP_FAILED)
        throw Error(ErrorKind::Io, "cannot map " + path.string() + ": " + std::strerror(mapErr));
    file->m_map = static_cast<std::byte *>(map);
    file->parseHeader();
    return file;
}

SafetensorsFile::~SafetensorsFile()
{
    if (m_map)
        ::munmap(m_map, m_size);
}

void SafetensorsFile::parseHeader()
{
    uint64_t headerLen = 0;
    for (int i = 7; i >= 0; --i)
        headerLen = (headerLen << 8) | std::to_integer<uint64_t>(m_map[i]);
    if (headerLen > kMaxHeaderBytes)
        corrupt(m_path, "header length " + std::to_string(headerLen) + " exceeds the 100 MiB limit");
    if (headerLen > m_size - 8)
        corrupt(m_path,
            "header length " + std::to_string(headerLen) + " runs past the end of the file (" + std::to_string(m_size)
                + " bytes); the file is probably truncated");
    m_dataStart = 8 + headerLen;
    const uint64_t dataSize = m_size - m_dataStart;

    nlohmann::json header;
    try {
        header = nlohmann::json::parse(
            reinterpret_cast<const char *>(m_map + 8), reinterpret_cast<const char *>(m_map + 8 + headerLen));
    } catch (const nlohmann::json::exception &e) { // parse_error; out_of_range for numbers beyond double
        corrupt(m_path, "header is not valid JSON (" + jsonErrorText(e) + ")");
    }
    if (!header.is_object())
        corrupt(m_path, "header is not a JSON object");

    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string &name = it.key();
        const auto &entry = it.value();
        if (name == "__metadata__") {
            if (!entry.is_object())
                corrupt(m_path, "__metadata__ is not an object");
            for (auto m = entry.begin(); m != entry.end(); ++m) {
                if (!m.value().is_string())
                    corrupt(m_path, "__metadata__ value for '" + m.key() + "' is not a string");
                m_metadata[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        const std::string where = "tensor '" + name + "'";
        if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape")
            || !entry.contains("data_offsets"))
            corrupt(m_path, where + " lacks dtype, shape or data_offsets");
        if (!entry["dtype"].is_string())
            corrupt(m_path, where + ": dtype is not a string");
        TensorInfo info;
        info.name = name;
        const auto dtypeText = entry["dtype"].get<std::string>();
        const auto dtype = parseDType(dtypeText);
        if (!dtype)
            corrupt(m_path, where + ": unsupported dtype '" + dtypeText + "'");
        info.dtype = *dtype;
        const auto &shape = entry["shape"];
        if (!shape.is_array())
            corrupt(m_path, where + ": shape is not an array");
        // Element counts, sizes and strides are int64 for LibTorch and TensorInfo::numel(): the product
        // of the dimensions, zeros taken as 1 (as contiguous strides are computed), must fit in one.
        uint64_t numel = 1, span = 1;
        for (const auto &dim : shape) {
            if (!dim.is_number_unsigned())
                corrupt(m_path, where + ": shape holds a value that is not a non-negative integer");
            const uint64_t d = dim.get<uint64_t>();
            if (multiplyOverflows(span, std::max<uint64_t>(d, 1), span) || span > uint64_t(INT64_MAX))
                corrupt(m_path, where + ": shape is too large");
            numel *= d;
            info.shape.push_back(static_cast<int64_t>(d));
        }
        const auto &offsets = entry["data_offsets"];
        if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned()
            || !offsets[1].is_number_unsigned())
            corrupt(m_path, where + ": data_offsets must be two non-negative integers");
        info.begin = offsets[0].get<uint64_t>();
        info.end = offsets[1].get<uint64_t>();
        if (info.end < info.begin)
            corrupt(m_path, where + ": data_offsets end before they begin");
        uint64_t expected = 0;
        if (multiplyOverflows(numel, dtypeSize(info.dtype), expected) || expected != info.byteSize())
            corrupt(m_path,
                where + ": shape x " + dtypeText + " needs " + std::to_string(expected)
                    + " bytes but data_offsets span " + std::to_string(info.byteSize()));
        if (info.end > dataSize)
            corrupt(m_path,
                where + ": data ends at byte " + std::to_string(info.end) + " but the data section holds only "
                    + std::to_string(dataSize) + " bytes; the file is probably truncated");
        m_index[name] = m_tensors.size();
        m_tensors.push_back(std::move(info));
    }

    std::vector<const TensorInfo *> byOffset;
    for (const auto &t : m_tensors)
        if (t.byteSize() > 0)
            byOffset.push_back(&t);
    std::sort(
        byOffset.begin(), byOffset.end(), [](const TensorInfo *a, const TensorInfo *b) { return a->begin < b->begin; });
    for (std::size_t i = 1; i < byOffset.size(); ++i) {
        if (byOffset[i]->begin < byOffset[i - 1]->end)
            corrupt(m_path,
                "tensors '" + byOffset[i - 1]->name + "' and '" + byOffset[i]->name
                    + "' have overlapping data_offsets");
    }
}

const TensorInfo *SafetensorsFile::find(const std::string &name) const
{
    const auto it = m_index.find(name);
    return it == m_index.end() ? nullptr : &m_tensors[it->second];
}

std::span<const std::byte> SafetensorsFile::bytes(const TensorInfo &info) const
{
    return {m_map + m_dataStart + info.begin, info.byteSize()};
}

void *SafetensorsFile::mutableData(const TensorInfo &info) const
{
    return m_map + m_dataStart + info.begin;
}

void writeSafetensors(const std::filesystem::path &path, std::vector<TensorSource> tensors,
    const std::map<std::string, std::string> &metadata)
{
    std::sort(tensors.begin(), tensors.end(), [](const auto &a, const auto &b) { return a.name < b.name; });
    for (std::size_t i = 1; i < tensors.size(); ++i)
        if (tensors[i].name == tensors[i - 1].name)
            throw Error(
                ErrorKind::InvalidArgument, "duplicate tensor name '" + tensors[i].name + "' for " + path.string());

    // Header: "__metadata__" first, then tensors in sorted-name order (as safetensors writes it).
    std::string header = "{";
    if (!metadata.empty()) {
        header += "\"__metadata__\":" + nlohmann::json(metadata).dump();
    }
    uint64_t offset = 0;
    for (const auto &t : tensors) {
        uint64_t numel = 1;
        for (int64_t d : t.shape) {
            if (d < 0)
                throw Error(ErrorKind::InvalidArgument, "negative dimension in tensor '" + t.name + "'");
            numel *= static_cast<uint64_t>(d);
        }
        const uint64_t size = numel * dtypeSize(t.dtype);
        nlohmann::json entry;
        entry["dtype"] = std::string(dtypeName(t.dtype));
        entry["shape"] = t.shape;
        entry["data_offsets"] = {offset, offset + size};
        if (header.size() > 1)
            header += ",";
        header += nlohmann::json(t.name).dump() + ":" + entry.dump();
        offset += size;
    }
    header += "}";
    while (header.size() % 8 != 0)
        header += ' ';

    AtomicFile out(path);
    unsigned char len[8];
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i)
        len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
    out.write(len, 8);
    out.write(header.data(), header.size());
    for (const auto &t : tensors) {
        uint64_t numel = 1;
        for (int64_t d : t.shape)
            numel *= static_cast<uint64_t>(d);
        const uint64_t expected = numel * dtypeSize(t.dtype);
        uint64_t written = 0;
        t.write([&](const void *data, std::size_t size) {
            out.write(data, size);
            written += size;
        });
        if (written != expected)
            throw Error(ErrorKind::InvalidArgument,
                "tensor '" + t.name + "' produced " + std::to_string(written) + " bytes, expected "
                    + std::to_string(expected));
    }
    out.commit();
}

} // namespace engram
