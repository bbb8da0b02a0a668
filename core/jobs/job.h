#pragma once
// Jobs: long work (statistics, tracing, editing, evaluation, generation, export) as plain C++
// that any front end runs the same way. A job gets a JobContext: a progress sink (stage,
// counts, ETA) and a cancel token. The GUI runs jobs on a worker thread and flips the token
// from the GUI thread; the CLI runs them inline and prints the progress.
//
// Cancellation is cooperative: the engines check the sink between steps and throw
// engram::Error(Cancelled); a job then leaves its project at the last committed state.

#include "core/util/progress.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>

namespace engram {

class JobContext
{
public:
    /// `sink` may be empty; `cancel` may be null (never cancelled) and must outlive the job.
    explicit JobContext(ProgressSink sink = {}, const std::atomic<bool> *cancel = nullptr);

    /// A sink for the engines: forwards to the caller's sink and returns false (cancel) when
    /// the token is set or the caller's sink says stop.
    ProgressSink progress() const;
    bool cancelled() const;
    /// Throws engram::Error(Cancelled) when cancelled.
    void throwIfCancelled() const;
    /// Reports a stage without counts (e.g. "loading model").
    void stage(const std::string &name) const;

private:
    ProgressSink m_sink;
    const std::atomic<bool> *m_cancel;
};

class Job
{
public:
    virtual ~Job() = default;
    /// Short user-facing name ("Edit 100 facts with MEMIT").
    virtual std::string name() const = 0;
    /// Runs to completion or throws engram::Error (Cancelled when the token was set).
    virtual void run(JobContext &context) = 0;
};

/// A job from a callable, for front ends that queue ad-hoc work.
std::unique_ptr<Job> makeJob(std::string name, std::function<void(JobContext &)> body);

} // namespace engram
