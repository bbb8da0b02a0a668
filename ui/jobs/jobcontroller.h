#pragma once
// JobController: the GUI's one way to run long work. Jobs run one at a time on a worker
// QThread it owns; further jobs queue (two jobs never run on one model at once). The GUI
// thread never waits on the worker: progress arrives as queued signals throttled to one per
// 40 ms, cancel flips an atomic token the job checks between steps, and the outcome comes back
// as a signal and, for the job's submitter, as a typed callback keyed by the job's id.
// Destruction cancels the running job, drops the queue, and joins the thread.

#include "core/jobs/job.h"

#include <QObject>
#include <QPointer>
#include <QString>

#include <any>
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <type_traits>

class QThread;

namespace engram::ui {

/// Identifies one submitted job (unique per controller, never reused).
using JobId = quint64;

enum class JobOutcome { Finished, Cancelled, Failed };

struct JobProgress {
    JobId id = 0;
    QString job;
    QString stage;
    double fraction = 0; // 0..1; 0 with total unknown
    double etaSeconds = -1;
};

class JobWorker;

class JobController : public QObject
{
    Q_OBJECT
public:
    explicit JobController(QObject *parent = nullptr);
    ~JobController() override;

    /// Queues `body` (run on the worker: `R body(JobContext &)`) as a job named `name`; it
    /// starts when the jobs before it have finished. When it finishes, `onFinished` is called
    /// on the GUI thread with the value `body` returned (nothing for void), and only while
    /// `context` lives; when it fails or is cancelled, `onEnded` (if given) gets the outcome and
    /// the message. R must be copyable. Returns the job's id.
    template<typename Body, typename OnFinished>
    JobId submit(const QString &name, Body body, QObject *context, OnFinished onFinished,
        std::function<void(JobOutcome, const QString &)> onEnded = {});
    /// A job nobody waits for (its outcome is still signalled).
    template<typename Body>
    JobId submit(const QString &name, Body body)
    {
        return submit(name, std::move(body), nullptr, [](auto &&...) {});
    }

    bool isBusy() const { return m_running != nullptr; }
    int queued() const { return static_cast<int>(m_queue.size()); }
    QString currentJob() const;
    JobId currentId() const;

public Q_SLOTS:
    /// Cancels the running job (the queue stays).
    void cancel();
    /// Cancels job `id`: the running one is asked to stop; a queued one is dropped (its
    /// onEnded gets Cancelled). Unknown or ended ids are ignored.
    void cancelJob(engram::ui::JobId id);

Q_SIGNALS:
    void started(const QString &job);
    void progress(const engram::ui::JobProgress &progress);
    void finished(const QString &job);
    void cancelled(const QString &job);
    void failed(const QString &job, const QString &message);
    /// A failure nobody handles: the job was submitted without onEnded (after failed()).
    void failedUnhandled(const QString &job, const QString &message);
    /// Every job's end, by id, after the name-based signal above.
    void ended(engram::ui::JobId id, engram::ui::JobOutcome outcome);
    /// After every start and end: whether a job runs, and how many wait.
    void busyChanged(bool busy, int queued);

private:
    struct Entry {
        JobId id = 0;
        QString name;
        std::function<std::any(JobContext &)> body;
        bool hasContext = false;
        QPointer<QObject> context;
        std::function<void(std::any &)> onFinished;
        std::function<void(JobOutcome, const QString &)> onEnded;
        std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
    };
    JobId enqueue(std::shared_ptr<Entry> entry);
    void startNext();
    void onDone(engram::ui::JobId id, engram::ui::JobOutcome outcome, const QString &message, const std::any &result);
    bool contextAlive(const Entry &e) const { return !e.hasContext || !e.context.isNull(); }

    QThread *m_thread = nullptr;
    JobWorker *m_worker = nullptr;
    std::deque<std::shared_ptr<Entry>> m_queue;
    std::shared_ptr<Entry> m_running;
    JobId m_nextId = 1;
};

/// Lives on the worker thread; runs one job per call.
class JobWorker : public QObject
{
    Q_OBJECT
public:
    using QObject::QObject;

    void run(JobId id, const QString &name, const std::function<std::any(JobContext &)> &body,
        const std::shared_ptr<std::atomic<bool>> &cancel);

Q_SIGNALS:
    void progress(const engram::ui::JobProgress &progress);
    void done(engram::ui::JobId id, engram::ui::JobOutcome outcome, const QString &message, const std::any &result);
};

template<typename Body, typename OnFinished>
JobId JobController::submit(const QString &name, Body body, QObject *context, OnFinished onFinished,
    std::function<void(JobOutcome, const QString &)> onEnded)
{
    using Result = std::invoke_result_t<Body &, JobContext &>;
    auto e = std::make_shared<Entry>();
    e->name = name;
    e->hasContext = context != nullptr;
    e->context = context;
    e->onEnded = std::move(onEnded);
    if constexpr (std::is_void_v<Result>) {
        e->body = [body = std::move(body)](JobContext &c) mutable -> std::any {
            body(c);
            return {};
        };
        e->onFinished = [f = std::move(onFinished)](std::any &) mutable { f(); };
    } else {
        static_assert(std::is_copy_constructible_v<Result>, "a job's result travels in a std::any: make it copyable");
        e->body = [body = std::move(body)](JobContext &c) mutable -> std::any { return std::any(body(c)); };
        e->onFinished = [f = std::move(onFinished)](std::any &r) mutable { f(std::any_cast<Result &>(r)); };
    }
    return enqueue(std::move(e));
}

} // namespace engram::ui

Q_DECLARE_METATYPE(engram::ui::JobProgress)
Q_DECLARE_METATYPE(engram::ui::JobOutcome)
