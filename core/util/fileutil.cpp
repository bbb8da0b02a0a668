#include "core/util/fileutil.h"

#include "core/util/error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <signal.h>
#include <filesystem>
#include <string>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace engram {

AtomicFile::AtomicFile(std::filesystem::path target)
    : m_target(std::move(target))
{
    std::string pattern = m_target.string() + ".tmp-XXXXXX";
    m_fd = ::mkstemp(pattern.data());
    if (m_fd < 0)
        throw Error(
            ErrorKind::Io, "cannot create a temporary file next to " + m_target.string() + ": " + std::strerror(errno));
    m_temp = pattern;
}

AtomicFile::~AtomicFile()
{
    if (m_fd >= 0)
        ::close(m_fd);
    if (!m_committed && !m_temp.empty())
        ::unlink(m_temp.c_str());
}

void AtomicFile::write(const void *data, std::size_t size)
{
    const char *p = static_cast<const char *>(data);
    while (size > 0) {
        const ssize_t n = ::write(m_fd, p, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw Error(ErrorKind::Io, "cannot write " + m_target.string() + ": " + std::strerror(errno));
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
}

void AtomicFile::commit()
{
    if (::fsync(m_fd) != 0)
        throw Error(ErrorKind::Io, "cannot flush " + m_target.string() + ": " + std::strerror(errno));
    ::fchmod(m_fd, 0644);
    if (::close(m_fd) != 0) {
        m_fd = -1;
        throw Error(ErrorKind::Io, "cannot close " + m_target.string() + ": " + std::strerror(errno));
    }
    m_fd = -1;
    if (::rename(m_temp.c_str(), m_target.c_str()) != 0)
        throw Error(
            ErrorKind::Io, "cannot move the finished file into " + m_target.string() + ": " + std::strerror(errno));
    m_committed = true;
}

std::string readTextFile(const std::filesystem::path &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error(ErrorKind::Io, "cannot open " + path.string() + ": " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad())
        throw Error(ErrorKind::Io, "cannot read " + path.string());
    return ss.str();
}

void ContentHash::update(const void *data, std::size_t size)
{
    const auto *p = static_cast<const unsigned char *>(data);
    m_bytes += size;
    auto mix = [this](const unsigned char *w) {
        unsigned long long v = 0;
        std::memcpy(&v, w, 8);
        m_state = (m_state ^ v) * 1099511628211ull;
        m_state ^= m_state >> 29;
    };
    while (size > 0 && m_tailSize > 0 && m_tailSize < 8) {
        m_tail[m_tailSize++] = *p++;
        --size;
        if (m_tailSize == 8) {
            mix(m_tail);
            m_tailSize = 0;
        }
    }
    for (; size >= 8; size -= 8, p += 8)
        mix(p);
    for (; size > 0; --size)
        m_tail[m_tailSize++] = *p++;
}

std::string ContentHash::hex() const
{
    unsigned long long h = m_state;
    for (std::size_t i = 0; i < m_tailSize; ++i)
        h = (h ^ m_tail[i]) * 1099511628211ull;
    h = (h ^ m_bytes) * 1099511628211ull;
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", h);
    return out;
}

std::string fileContentHash(const std::filesystem::path &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error(ErrorKind::Io, "cannot open " + path.string());
    ContentHash h;
    std::vector<char> buf(1 << 20);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        h.update(buf.data(), static_cast<std::size_t>(in.gcount()));
    }
    if (in.bad())
        throw Error(ErrorKind::Io, "cannot read " + path.string());
    return h.hex();
}

void fsyncPath(const std::filesystem::path &path, bool directory)
{
    const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
    if (fd < 0)
        throw Error(ErrorKind::Io, "cannot open " + path.string() + " to flush it");
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0)
        throw Error(ErrorKind::Io, "cannot flush " + path.string() + " to disk");
}

namespace {
// Removes ".<name>.partial-<pid>" siblings left by writers whose process no longer runs.
void removeStalePartials(const std::filesystem::path &parent, const std::string &name)
{
    const std::string prefix = "." + name + ".partial-";
    std::error_code ec;
    for (const auto &entry : std::filesystem::directory_iterator(parent, ec)) {
        const std::string file = entry.path().filename().string();
        if (file.rfind(prefix, 0) != 0)
            continue;
        const long pid = std::strtol(file.c_str() + prefix.size(), nullptr, 10);
        if (pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM))
            continue; // another writer is still at work
        std::filesystem::remove_all(entry.path(), ec);
    }
}
} // namespace

StagingDirectory::StagingDirectory(const std::filesystem::path &target, bool overwrite)
    : m_target(std::filesystem::absolute(target).lexically_normal())
{
    namespace fs = std::filesystem;
    if (m_target.filename().empty())
        m_target = m_target.parent_path();
    std::error_code ec;
    // An existing empty directory is a fine target (a file dialog's "New Folder" makes one).
    const bool emptyDirectory = fs::is_directory(m_target, ec) && fs::is_empty(m_target, ec) && !ec;
    if (fs::exists(m_target) && !overwrite && !emptyDirectory)
        throw Error(ErrorKind::Io, m_target.string()
                + " already exists and is not an empty directory; choose another directory or allow overwriting");
    const fs::path parent = m_target.parent_path();
    fs::create_directories(parent, ec);
    if (ec)
        throw Error(ErrorKind::Io, "cannot create " + parent.string() + ": " + ec.message());
    const std::string name = m_target.filename().string();
    removeStalePartials(parent, name);
    m_path = parent / ("." + name + ".partial-" + std::to_string(::getpid()));
    fs::remove_all(m_path, ec);
    if (!fs::create_directory(m_path, ec))
        throw Error(ErrorKind::Io, "cannot create " + m_path.string() + ": " + ec.message());
}

StagingDirectory::~StagingDirectory()
{
    if (!m_committed) {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
}

void StagingDirectory::commit()
{
    namespace fs = std::filesystem;
    fsyncPath(m_path, /*directory=*/true);
    const fs::path parent = m_target.parent_path();
    std::error_code ec;
    fs::path old;
    if (fs::exists(m_target)) {
        old = parent / ("." + m_target.filename().string() + ".replaced-" + std::to_string(::getpid()));
        fs::remove_all(old, ec);
        fs::rename(m_target, old, ec);
        if (ec)
            throw Error(ErrorKind::Io, "cannot move the old " + m_target.string() + " aside: " + ec.message());
    }
    fs::rename(m_path, m_target, ec);
    if (ec) {
        if (!old.empty())
            fs::rename(old, m_target, ec);
        throw Error(ErrorKind::Io, "cannot rename " + m_path.string() + " into " + m_target.string() + ": "
                + ec.message());
    }
    m_committed = true;
    fsyncPath(parent, /*directory=*/true);
    if (!old.empty())
        fs::remove_all(old, ec);
}

} // namespace engram
