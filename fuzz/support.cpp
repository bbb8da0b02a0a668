#include "fuzz/support.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fcntl.h>
#include <set>
#include <string>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace engram::fuzz {
namespace {

std::filesystem::path g_scratch;

void removeScratchDir()
{
    std::error_code ec;
    if (!g_scratch.empty())
        std::filesystem::remove_all(g_scratch, ec);
}

} // namespace

const std::filesystem::path &scratchDir()
{
    if (g_scratch.empty()) {
        const std::string pid = std::to_string(::getpid());
        std::filesystem::path dir;
        if (const char *env = std::getenv("ENGRAM_FUZZ_SCRATCH"); env && *env)
            dir = std::filesystem::path(env) / pid;
        else if (std::filesystem::is_directory("/dev/shm"))
            dir = std::filesystem::path("/dev/shm") / ("engram-fuzz-" + pid);
        else
            dir = std::filesystem::temp_directory_path() / ("engram-fuzz-" + pid);
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (ec) {
            std::fprintf(stderr, "fuzz: cannot create scratch folder %s: %s\n", dir.c_str(), ec.message().c_str());
            std::abort();
        }
        g_scratch = dir;
        std::atexit(removeScratchDir);
    }
    return g_scratch;
}

std::filesystem::path writeScratch(const std::string &name, const void *data, std::size_t size)
{
    const std::filesystem::path path = scratchDir() / name;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        std::perror(path.c_str());
        std::abort();
    }
    const auto *p = static_cast<const char *>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n <= 0) {
            std::perror(path.c_str());
            std::abort();
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    ::close(fd);
    return path;
}

void removeScratch(const std::filesystem::path &path)
{
    for (const char *suffix : {"", "-wal", "-shm", "-journal"})
        ::unlink((path.string() + suffix).c_str());
}

void consume(std::uint64_t value)
{
    static volatile std::uint64_t sink;
    sink = sink + value;
}

int run(int (*test)(const std::uint8_t *, std::size_t), const std::uint8_t *data, std::size_t size)
{
    static const std::vector<std::string> tolerated = [] {
        std::vector<std::string> out;
        const char *env = std::getenv("ENGRAM_FUZZ_TOLERATE");
        for (std::string rest = env ? env : ""; !rest.empty();) {
            const auto bar = rest.find('|');
            if (bar != 0)
                out.push_back(rest.substr(0, bar));
            rest = bar == std::string::npos ? std::string() : rest.substr(bar + 1);
        }
        return out;
    }();
    if (tolerated.empty())
        return test(data, size); // nothing caught here: an escaping exception keeps its throw stack
    try {
        return test(data, size);
    } catch (const std::exception &e) {
        const std::string what = e.what();
        for (const std::string &piece : tolerated) {
            if (what.find(piece) != std::string::npos) {
                static std::set<std::string> seen;
                if (seen.size() < 10 && seen.insert(what).second) // the first few distinct messages
                    std::fprintf(stderr, "fuzz: tolerated (ENGRAM_FUZZ_TOLERATE) %s\n", what.c_str());
                return 0;
            }
        }
        throw;
    }
}

} // namespace engram::fuzz
