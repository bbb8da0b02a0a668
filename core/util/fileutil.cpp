#include "core/util/fileutil.h"

#include "core/util/error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

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

} // namespace engram
