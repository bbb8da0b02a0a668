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

/// A directory written completely or not at all: files go into a hidden sibling
/// ".<name>.partial-<pid>" (stale ones of dead processes are removed first); commit() flushes it
/// and renames it over the target (an existing target, allowed by `overwrite`, is moved aside
/// and removed only after the swap). Destroying it uncommitted removes the partial directory.
class StagingDirectory
{
public:
    /// Error(Io) when `target` exists (other than as an empty directory) and !overwrite, or the
    /// sibling cannot be created.
    StagingDirectory(const std::filesystem::path &target, bool overwrite);
    ~StagingDirectory();
    StagingDirectory(const StagingDirectory &) = delete;
    StagingDirectory &operator=(const StagingDirectory &) = delete;

    /// Where to write.
    const std::filesystem::path &path() const { return m_path; }
    const std::filesystem::path &target() const { return m_target; }
    void commit();

private:
    std::filesystem::path m_target;
    std::filesystem::path m_path;
    bool m_committed = false;
};

/// fsync of a file or a directory. Throws engram::Error(Io).
void fsyncPath(const std::filesystem::path &path, bool directory);

/// Reads a whole file into a string. Throws engram::Error(Io).
std::string readTextFile(const std::filesystem::path &path);

/// A 64-bit content hash over 8-byte words (FNV-1a style mixing, with the byte count folded
/// in), fast enough to fingerprint multi-gigabyte checkpoints. Not cryptographic.
class ContentHash
{
public:
    void update(const void *data, std::size_t size);
    void update(const std::string &text) { update(text.data(), text.size()); }
    /// 16 hex digits.
    std::string hex() const;

private:
    unsigned long long m_state = 1469598103934665603ull;
    unsigned long long m_bytes = 0;
    unsigned char m_tail[8] = {};
    std::size_t m_tailSize = 0;
};

/// ContentHash of a whole file, streamed. Throws engram::Error(Io).
std::string fileContentHash(const std::filesystem::path &path);

} // namespace engram
