#pragma once
// Small file helpers shared by writers.

#include <cstddef>
#include <filesystem>
#include <string>

namespace engram {

/// Writes to a temporary sibling of `target` and renames it into place on commit().
/// Destroying an uncommitted AtomicFile removes the temporary: a failed or cancelled
/// write never leaves a half-written target. Errors (including a full disk) throw
/// engram::Error(Io) naming the file.
class AtomicFile
{
public:
    explicit AtomicFile(std::filesystem::path target);
    ~AtomicFile();
    AtomicFile(const AtomicFile &) = delete;
    AtomicFile &operator=(const AtomicFile &) = delete;

    void write(const void *data, std::size_t size);
    /// Flushes, fsyncs and renames over the target.
    void commit();

private:
    std::filesystem::path m_target;
    std::filesystem::path m_temp;
    int m_fd = -1;
    bool m_committed = false;
};

/// Reads a whole file into a string. Throws engram::Error(Io).
std::string readTextFile(const std::filesystem::path &path);

} // namespace engram
