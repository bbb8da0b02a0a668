#include "core/util/progress.h"

#include "core/util/error.h"

#include <utility>

namespace engram {

ProgressTracker::ProgressTracker(ProgressSink sink, std::string stage, int64_t total)
    : m_sink(std::move(sink))
    , m_stage(std::move(stage))
    , m_total(total)
    , m_start(Clock::now())
    , m_stageStart(m_start)
{
}

void ProgressTracker::stage(std::string name, int64_t total)
{
    m_stage = std::move(name);
    m_total = total;
    m_done = 0;
    m_stageStart = Clock::now();
    report();
}

void ProgressTracker::advance(int64_t n)
{
    m_done += n;
    report();
}

void ProgressTracker::report()
{
    if (!m_sink)
        return;
    const auto now = Clock::now();
    ProgressUpdate u;
    u.stage = m_stage;
    u.done = m_done;
    u.total = m_total;
    u.elapsedSeconds = std::chrono::duration<double>(now - m_start).count();
    const double stageSeconds = std::chrono::duration<double>(now - m_stageStart).count();
    if (m_done > 0 && m_total > 0 && m_done <= m_total)
        u.etaSeconds = stageSeconds / static_cast<double>(m_done) * static_cast<double>(m_total - m_done);
    if (!m_sink(u))
        throw Error(ErrorKind::Cancelled,
            m_stage + " cancelled after " + std::to_string(m_done) + " of " + std::to_string(m_total) + " steps");
}

} // namespace engram

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace engram {

void stallPoint(const char *point)
{
    const char *wanted = std::getenv("ENGRAM_STALL_AT");
    if (!wanted || std::strcmp(wanted, point) != 0)
        return;
    std::fprintf(stderr, "engram: stalled at %s\n", point);
    std::fflush(stderr);
    for (;;)
        std::this_thread::sleep_for(std::chrono::seconds(1));
}

} // namespace engram
