#pragma once
// Progress reporting and cancellation for long computations, independent of Qt and torch.
// A computation owns a ProgressTracker; the caller supplies a ProgressSink that receives
// stage, counts and ETA and returns false to cancel. Cancellation surfaces as
// engram::Error(ErrorKind::Cancelled) thrown from ProgressTracker::advance(), so whatever
// the computation was writing is abandoned through the usual RAII clean-up.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace engram {

struct ProgressUpdate {
    std::string stage; // what is being done, for a status line ("tracing MLP")
    int64_t done = 0;
    int64_t total = 0; // 0 when unknown
    double elapsedSeconds = 0; // since the tracker started
    double etaSeconds = -1; // remaining time estimated from the rate so far; -1 when unknown
    double fraction() const { return total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0.0; }
};

/// Returns false to cancel.
using ProgressSink = std::function<bool(const ProgressUpdate &)>;

class ProgressTracker
{
public:
    ProgressTracker(ProgressSink sink, std::string stage, int64_t total);
    /// Starts a new stage with its own count; the clock keeps running (ETA is per stage).
    void stage(std::string name, int64_t total);
    /// Adds `n` to the count and reports. Throws engram::Error(Cancelled) when the sink says stop.
    void advance(int64_t n = 1);
    /// Reports without advancing (the sink may still cancel).
    void report();
    int64_t done() const { return m_done; }

private:
    using Clock = std::chrono::steady_clock;
    ProgressSink m_sink;
    std::string m_stage;
    int64_t m_total = 0;
    int64_t m_done = 0;
    Clock::time_point m_start;
    Clock::time_point m_stageStart;
};

} // namespace engram

namespace engram {

/// Crash-safety testing hook: when the environment variable ENGRAM_STALL_AT equals `point`,
/// prints "engram: stalled at <point>" to stderr and sleeps until the process is killed, so
/// a test can kill -9 a job at a known moment (mid-transaction, mid-export). No effect
/// otherwise (one getenv per call).
void stallPoint(const char *point);

} // namespace engram
