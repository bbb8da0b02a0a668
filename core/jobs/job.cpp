#include "core/jobs/job.h"

#include "core/util/error.h"

namespace engram {

JobContext::JobContext(ProgressSink sink, const std::atomic<bool> *cancel)
    : m_sink(std::move(sink))
    , m_cancel(cancel)
{
}

bool JobContext::cancelled() const
{
    return m_cancel && m_cancel->load(std::memory_order_relaxed);
}

ProgressSink JobContext::progress() const
{
    return [this](const ProgressUpdate &u) {
        if (cancelled())
            return false;
        return m_sink ? m_sink(u) : true;
    };
}

void JobContext::throwIfCancelled() const
{
    if (cancelled())
        throw Error(ErrorKind::Cancelled, "cancelled");
}

void JobContext::stage(const std::string &name) const
{
    ProgressUpdate u;
    u.stage = name;
    if ((m_sink && !m_sink(u)) || cancelled())
        throw Error(ErrorKind::Cancelled, "cancelled while " + name);
}

namespace {
class FunctionJob : public Job
{
public:
    FunctionJob(std::string name, std::function<void(JobContext &)> body)
        : m_name(std::move(name))
        , m_body(std::move(body))
    {
    }
    std::string name() const override { return m_name; }
    void run(JobContext &context) override { m_body(context); }

private:
    std::string m_name;
    std::function<void(JobContext &)> m_body;
};
} // namespace

std::unique_ptr<Job> makeJob(std::string name, std::function<void(JobContext &)> body)
{
    return std::make_unique<FunctionJob>(std::move(name), std::move(body));
}

} // namespace engram
