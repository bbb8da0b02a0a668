#include "core/io/npz.h"

#include "core/util/error.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <fstream>

namespace engram {

namespace {

uint16_t u16(const char *p)
{
    return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) | (static_cast<uint8_t>(p[1]) << 8));
}

uint32_t u32(const char *p)
{
    return static_cast<uint32_t>(u16(p)) | (static_cast<uint32_t>(u16(p + 2)) << 16);
}

uint64_t u64(const char *p)
{
    return static_cast<uint64_t>(u32(p)) | (static_cast<uint64_t>(u32(p + 4)) << 32);
}

struct Entry {
    std::string name;
    uint16_t method = 0;
    uint64_t compressedSize = 0, size = 0, localOffset = 0;
};

class ZipFile
{
public:
    explicit ZipFile(const std::filesystem::path &path)
        : m_path(path)
        , m_in(path, std::ios::binary)
    {
        if (!m_in)
            throw Error(ErrorKind::Io, "cannot open " + path.string());
        m_in.seekg(0, std::ios::end);
        m_size = static_cast<uint64_t>(m_in.tellg());
    }

    std::string read(uint64_t offset, uint64_t count)
    {
        if (offset > m_size || count > m_size - offset)
            throw corrupt("a record points outside the file");
        std::string out(count, '\0');
        m_in.seekg(static_cast<std::streamoff>(offset));
        m_in.read(out.data(), static_cast<std::streamsize>(count));
        if (!m_in)
            throw Error(ErrorKind::Io, "cannot read " + m_path.string());
        return out;
    }

    std::vector<Entry> entries()
    {
        // End of central directory: 22 bytes plus a comment of up to 64 KiB, at the end.
        const uint64_t tail = std::min<uint64_t>(m_size, 22 + 65535);
        const std::string end = read(m_size - tail, tail);
        std::size_t at = std::string::npos;
        for (std::size_t i = end.size() >= 22 ? end.size() - 22 + 1 : 0; i-- > 0;)
            if (u32(end.data() + i) == 0x06054b50) {
                at = i;
                break;
            }
        if (at == std::string::npos)
            throw corrupt("not a zip archive (no end-of-central-directory record)");
        uint64_t count = u16(end.data() + at + 10), dirSize = u32(end.data() + at + 12),
                 dirOffset = u32(end.data() + at + 16);
        if (dirOffset == 0xFFFFFFFFu || count == 0xFFFF) {
            // Zip64 end record, found through its locator just before the classic record.
            if (at < 20 || u32(end.data() + at - 20) != 0x07064b50)
                throw corrupt("zip64 archive without a zip64 locator");
            const std::string rec = read(u64(end.data() + at - 20 + 8), 56);
            if (u32(rec.data()) != 0x06064b50)
                throw corrupt("bad zip64 end-of-central-directory record");
            count = u64(rec.data() + 32);
            dirSize = u64(rec.data() + 40);
            dirOffset = u64(rec.data() + 48);
        }
        const std::string dir = read(dirOffset, dirSize);
        std::vector<Entry> out;
        std::size_t p = 0;
        for (uint64_t i = 0; i < count; ++i) {
            if (p + 46 > dir.size() || u32(dir.data() + p) != 0x02014b50)
                throw corrupt("bad central directory entry " + std::to_string(i + 1));
            Entry e;
            e.method = u16(dir.data() + p + 10);
            e.compressedSize = u32(dir.data() + p + 20);
            e.size = u32(dir.data() + p + 24);
            const uint16_t nameLen = u16(dir.data() + p + 28), extraLen = u16(dir.data() + p + 30),
                           commentLen = u16(dir.data() + p + 32);
            e.localOffset = u32(dir.data() + p + 42);
            if (p + 46 + nameLen + extraLen + commentLen > dir.size())
                throw corrupt("central directory entry " + std::to_string(i + 1) + " runs past its end");
            e.name = dir.substr(p + 46, nameLen);
            // Zip64 extended information: the 8-byte values replace those saturated above, in order.
            const std::size_t extra = p + 46 + nameLen;
            for (std::size_t q = extra; q + 4 <= extra + extraLen;) {
                const uint16_t id = u16(dir.data() + q), len = u16(dir.data() + q + 2);
                if (id == 0x0001) {
                    std::size_t v = q + 4;
                    for (uint64_t *field : {&e.size, &e.compressedSize, &e.localOffset})
                        if (*field == 0xFFFFFFFFu && v + 8 <= q + 4 + len) {
                            *field = u64(dir.data() + v);
                            v += 8;
                        }
                }
                q += 4 + len;
            }
            out.push_back(e);
            p += 46 + nameLen + extraLen + commentLen;
        }
        return out;
    }

    std::string contents(const Entry &e)
    {
        const std::string local = read(e.localOffset, 30);
        if (u32(local.data()) != 0x04034b50)
            throw corrupt("bad local header for " + e.name);
        const uint64_t data = e.localOffset + 30 + u16(local.data() + 26) + u16(local.data() + 28);
        const std::string raw = read(data, e.compressedSize);
        if (e.method == 0) {
            if (e.compressedSize != e.size)
                throw corrupt(e.name + ": stored entry with differing sizes");
            return raw;
        }
        if (e.method != 8)
            throw Error(ErrorKind::CorruptFile,
                m_path.string() + ": " + e.name + " uses zip compression method " + std::to_string(e.method)
                    + " (supported: stored, deflate)");
        // Deflate expands at most 1032:1: a larger stated size is damage, not a reason to allocate it.
        if (e.size / 1032 > e.compressedSize + 1)
            throw corrupt(e.name + ": its stated size (" + std::to_string(e.size) + " bytes) cannot come from "
                + std::to_string(e.compressedSize) + " compressed bytes");
        std::string out(e.size, '\0');
        z_stream z {};
        if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
            throw Error(ErrorKind::Runtime, "zlib initialisation failed");
        z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(raw.data()));
        z.avail_in = static_cast<uInt>(raw.size());
        z.next_out = reinterpret_cast<Bytef *>(out.data());
        z.avail_out = static_cast<uInt>(out.size());
        const int rc = inflate(&z, Z_FINISH);
        const uint64_t produced = z.total_out;
        inflateEnd(&z);
        if (rc != Z_STREAM_END || produced != e.size)
            throw corrupt(e.name + ": compressed data is damaged");
        return out;
    }

private:
    Error corrupt(const std::string &what) const
    {
        return Error(ErrorKind::CorruptFile, m_path.string() + ": " + what);
    }
    std::filesystem::path m_path;
    std::ifstream m_in;
    uint64_t m_size = 0;
};

at::ScalarType npyType(const std::string &descr, const std::string &what)
{
    if (descr.size() < 3 || (descr[0] != '<' && descr[0] != '|' && descr[0] != '='))
        throw Error(ErrorKind::DTypeMismatch, what + ": unsupported array type '" + descr + "' (little-endian only)");
    const std::string t = descr.substr(1);
    if (t == "f4")
        return at::kFloat;
    if (t == "f8")
        return at::kDouble;
    if (t == "f2")
        return at::kHalf;
    if (t == "i8")
        return at::kLong;
    if (t == "i4")
        return at::kInt;
    if (t == "i2")
        return at::kShort;
    if (t == "i1")
        return at::kChar;
    if (t == "u1")
        return at::kByte;
    if (t == "b1")
        return at::kBool;
    throw Error(ErrorKind::DTypeMismatch, what + ": unsupported array type '" + descr + "'");
}

// The value after `'key':` in a .npy header (a Python dict literal), from its first character;
// npos when the key is absent. Hand-written rather than std::regex, whose recursive matcher
// overflows the stack on long headers (a version 2 header may be 4 GiB).
std::size_t headerValue(const std::string &header, const std::string &key)
{
    const std::string quoted = "'" + key + "'";
    for (std::size_t at = header.find(quoted); at != std::string::npos; at = header.find(quoted, at + 1)) {
        std::size_t p = at + quoted.size();
        while (p < header.size() && std::isspace(static_cast<unsigned char>(header[p])))
            ++p;
        if (p >= header.size() || header[p] != ':')
            continue;
        ++p;
        while (p < header.size() && std::isspace(static_cast<unsigned char>(header[p])))
            ++p;
        return p;
    }
    return std::string::npos;
}

} // namespace

at::Tensor parseNpy(const std::string &bytes, const std::string &what)
{
    if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
        throw Error(ErrorKind::CorruptFile, what + ": not a .npy array");
    const int major = static_cast<uint8_t>(bytes[6]);
    std::size_t headerLen = 0, start = 0;
    if (major == 1) {
        headerLen = u16(bytes.data() + 8);
        start = 10;
    } else if (major == 2 || major == 3) {
        if (bytes.size() < 12)
            throw Error(ErrorKind::CorruptFile, what + ": truncated .npy header");
        headerLen = u32(bytes.data() + 8);
        start = 12;
    } else {
        throw Error(
            ErrorKind::CorruptFile, what + ": .npy format version " + std::to_string(major) + " is not supported");
    }
    if (start + headerLen > bytes.size())
        throw Error(ErrorKind::CorruptFile, what + ": truncated .npy header");
    const std::string header = bytes.substr(start, headerLen);
    // The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
    const std::size_t descrAt = headerValue(header, "descr");
    const std::size_t descrEnd = descrAt == std::string::npos || header[descrAt] != '\''
        ? std::string::npos
        : header.find('\'', descrAt + 1);
    if (descrEnd == std::string::npos)
        throw Error(ErrorKind::CorruptFile, what + ": .npy header has no 'descr' (object arrays are not read)");
    const at::ScalarType type = npyType(header.substr(descrAt + 1, descrEnd - descrAt - 1), what);
    const std::size_t orderAt = headerValue(header, "fortran_order");
    const bool fortran = orderAt != std::string::npos && header.compare(orderAt, 4, "True") == 0;
    const std::size_t shapeAt = headerValue(header, "shape");
    const std::size_t shapeEnd = shapeAt == std::string::npos || header[shapeAt] != '(' ? std::string::npos
                                                                                        : header.find(')', shapeAt);
    if (shapeEnd == std::string::npos)
        throw Error(ErrorKind::CorruptFile, what + ": .npy header has no 'shape'");
    std::vector<int64_t> shape;
    const std::string dims = header.substr(shapeAt + 1, shapeEnd - shapeAt - 1);
    // Element count and strides are int64: the product of the dimensions (zeros as 1) must fit.
    uint64_t span = 1, count = 1;
    for (std::size_t p = 0; p < dims.size();) {
        const std::size_t comma = std::min(dims.find(',', p), dims.size());
        std::string item = dims.substr(p, comma - p);
        item.erase(0, item.find_first_not_of(" \t\n"));
        item.erase(item.find_last_not_of(" \t\n") + 1);
        if (!item.empty() && item.back() == 'L') // Python 2's long literals
            item.pop_back();
        if (!item.empty() || comma < dims.size()) {
            if (item.empty() || item.size() > 19 || item.find_first_not_of("0123456789") != std::string::npos)
                throw Error(ErrorKind::CorruptFile,
                    what + ": .npy shape (" + dims + ") holds something other than non-negative whole numbers");
            const uint64_t d = std::stoull(item);
            if (__builtin_mul_overflow(span, std::max<uint64_t>(d, 1), &span) || span > uint64_t(INT64_MAX))
                throw Error(ErrorKind::CorruptFile, what + ": .npy shape (" + dims + ") is too large");
            count *= d;
            shape.push_back(static_cast<int64_t>(d));
        }
        p = comma + 1;
    }
    uint64_t dataBytes = 0;
    if (__builtin_mul_overflow(count, uint64_t(c10::elementSize(type)), &dataBytes))
        throw Error(ErrorKind::CorruptFile, what + ": .npy shape (" + dims + ") is too large");
    if (bytes.size() - start - headerLen != dataBytes)
        throw Error(ErrorKind::CorruptFile,
            what + ": .npy data holds " + std::to_string(bytes.size() - start - headerLen) + " bytes, shape needs "
                + std::to_string(dataBytes));
    std::vector<int64_t> readShape = shape;
    if (fortran)
        std::reverse(readShape.begin(), readShape.end());
    at::Tensor t = at::empty(readShape, at::TensorOptions().dtype(type));
    if (dataBytes > 0) // an empty tensor has no storage (data_ptr() is null)
        std::memcpy(t.data_ptr(), bytes.data() + start + headerLen, dataBytes);
    if (fortran && shape.size() > 1) {
        std::vector<int64_t> perm(shape.size());
        for (std::size_t i = 0; i < perm.size(); ++i)
            perm[i] = static_cast<int64_t>(perm.size() - 1 - i);
        t = t.permute(perm).contiguous();
    }
    return t;
}

std::map<std::string, at::Tensor> readNpz(const std::filesystem::path &file, const std::set<std::string> &only)
{
    ZipFile zip(file);
    std::map<std::string, at::Tensor> out;
    for (const Entry &e : zip.entries()) {
        std::string name = e.name;
        if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0)
            name.resize(name.size() - 4);
        if (!only.empty() && !only.count(name))
            continue;
        out[name] = parseNpy(zip.contents(e), file.string() + ": " + e.name);
    }
    for (const auto &want : only)
        if (!out.count(want))
            throw Error(ErrorKind::CorruptFile, file.string() + ": has no array '" + want + "'");
    return out;
}

} // namespace engram
