#pragma once
// Shared by the libFuzzer harnesses: a per-process scratch folder for the readers that take a
// path, and the one rule every harness follows: engram::Error is a clean refusal of bad bytes;
// any other exception escapes LLVMFuzzerTestOneInput, so std::terminate reports it (type,
// what() and, through libFuzzer, the stack of the throw) as a finding.
//
// While a known finding waits for its fix, a long run can go past it: ENGRAM_FUZZ_TOLERATE holds
// "|"-separated pieces of what() (e.g. "type_error.316|type_error.306"); an exception whose
// message holds one ends that input as a refusal, and each distinct message is printed once
// ("fuzz: tolerated ..."). Other exceptions are then rethrown (their stack is the rethrow's).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace engram::fuzz {

/// ENGRAM_FUZZ_SCRATCH/<pid>, else /dev/shm/engram-fuzz-<pid> (or the temp folder's), created
/// on first use and removed at exit.
const std::filesystem::path &scratchDir();

/// Writes `size` bytes to scratchDir()/`name` (replacing it) and returns the path.
std::filesystem::path writeScratch(const std::string &name, const void *data, std::size_t size);
inline std::filesystem::path writeScratch(const std::string &name, std::string_view bytes)
{
    return writeScratch(name, bytes.data(), bytes.size());
}

/// Removes `path` (and SQLite's -wal, -shm and -journal companions), ignoring errors.
void removeScratch(const std::filesystem::path &path);

/// Keeps the optimiser from dropping a computed value.
void consume(std::uint64_t value);

/// Calls `test` (the harness's body), applying ENGRAM_FUZZ_TOLERATE.
int run(int (*test)(const std::uint8_t *, std::size_t), const std::uint8_t *data, std::size_t size);

} // namespace engram::fuzz

/// Defines LLVMFuzzerTestOneInput as `fn` run through engram::fuzz::run.
#define ENGRAM_FUZZ_TARGET(fn) \
    extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) \
    { \
        return engram::fuzz::run(fn, data, size); \
    }

namespace engram::fuzz {

} // namespace engram::fuzz
