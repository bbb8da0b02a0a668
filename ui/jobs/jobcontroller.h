#pragma once
// JobController: runs core Jobs one at a time on a worker QThread it owns. Further jobs
// queue (two jobs never run on one model at once). The GUI thread never waits on the
// worker: progress arrives as queued signals throttled to one per 40 ms, cancel flips an
// atomic token the job checks between steps, and the outcome comes back as a signal.
// Destruction cancels the running job, drops the queue, and joins the thread.

#include "core/jobs/job.h"

#include <QObject>
#include <QString>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>

class QThread;

namespace engram::ui {

struct JobProgress {
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

    /// Queues `job`; it starts when the jobs before it have finished.
    void submit(std::unique_ptr<Job> job);
    bool isBusy() const { return m_running; }
    int queued() const { return static_cast<int>(m_queue.size()); }
    QString currentJob() const { return m_current; }
    /// Calls `onFinished` (on the GUI thread, with `context` alive) once the job named `job`
    /// has finished; nothing when it fails or is cancelled (the failed/cancelled signals say so).
    void whenFinished(const QString &job, QObject *context, std::function<void()> onFinished);

public Q_SLOTS:
    /// Cancels the running job (the queue stays).
    void cancel();

Q_SIGNALS:
    void started(const QString &job);
    void progress(const engram::ui::JobProgress &progress);
    void finished(const QString &job);
    void cancelled(const QString &job);
    void failed(const QString &job, const QString &message);
    /// After every start and end: whether a job runs, and how many wait.
    void busyChanged(bool busy, int queued);

private:
    void startNext();
    void onDone(const QString &job, int outcome, const QString &message);

    QThread *m_thread = nullptr;
    JobWorker *m_worker = nullptr;
    std::deque<std::shared_ptr<Job>> m_queue;
    std::shared_ptr<std::atomic<bool>> m_cancel;
    bool m_running = false;
    QString m_current;
};

/// Lives on the worker thread; runs one job per call.
class JobWorker : public QObject
{
    Q_OBJECT
public:
    using QObject::QObject;

public Q_SLOTS:
    void run(std::shared_ptr<engram::Job> job, std::shared_ptr<std::atomic<bool>> cancel);

Q_SIGNALS:
    void progress(const engram::ui::JobProgress &progress);
    /// outcome: 0 finished, 1 cancelled, 2 failed
    void done(const QString &job, int outcome, const QString &message);
};

} // namespace engram::ui

Q_DECLARE_METATYPE(engram::ui::JobProgress)
