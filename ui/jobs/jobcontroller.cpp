#include "ui/jobs/jobcontroller.h"

#include "core/util/error.h"

#include <QMetaObject>
#include <QThread>

#include <chrono>

Q_DECLARE_METATYPE(std::any)

namespace engram::ui {

JobController::JobController(QObject *parent)
    : QObject(parent)
{
    qRegisterMetaType<JobProgress>();
    qRegisterMetaType<JobOutcome>();
    qRegisterMetaType<JobId>("engram::ui::JobId");
    qRegisterMetaType<std::any>();
    m_thread = new QThread(this);
    m_thread->setObjectName(QStringLiteral("EngramJobs"));
    m_worker = new JobWorker;
    m_worker->moveToThread(m_thread);
    connect(m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(m_worker, &JobWorker::progress, this, &JobController::progress);
    connect(m_worker, &JobWorker::done, this, &JobController::onDone);
    m_thread->start();
}

JobController::~JobController()
{
    m_queue.clear();
    if (m_running)
        m_running->cancel->store(true);
    m_thread->quit();
    m_thread->wait();
}

QString JobController::currentJob() const
{
    return m_running ? m_running->name : QString();
}

JobId JobController::currentId() const
{
    return m_running ? m_running->id : 0;
}

JobId JobController::enqueue(std::shared_ptr<Entry> entry)
{
    entry->id = m_nextId++;
    const JobId id = entry->id;
    m_queue.push_back(std::move(entry));
    if (!m_running)
        startNext();
    else
        Q_EMIT busyChanged(true, queued());
    return id;
}

void JobController::cancel()
{
    if (m_running)
        m_running->cancel->store(true);
}

void JobController::cancelJob(JobId id)
{
    if (m_running && m_running->id == id) {
        m_running->cancel->store(true);
        return;
    }
    for (auto it = m_queue.begin(); it != m_queue.end(); ++it) {
        if ((*it)->id != id)
            continue;
        const std::shared_ptr<Entry> e = *it;
        m_queue.erase(it);
        Q_EMIT cancelled(e->name);
        Q_EMIT ended(e->id, JobOutcome::Cancelled);
        if (e->onEnded && contextAlive(*e))
            e->onEnded(JobOutcome::Cancelled, tr("Cancelled before it started"));
        Q_EMIT busyChanged(isBusy(), queued());
        return;
    }
}

void JobController::startNext()
{
    m_running.reset();
    if (m_queue.empty()) {
        Q_EMIT busyChanged(false, 0);
        return;
    }
    m_running = m_queue.front();
    m_queue.pop_front();
    Q_EMIT started(m_running->name);
    Q_EMIT busyChanged(true, queued());
    QMetaObject::invokeMethod(
        m_worker,
        [worker = m_worker, id = m_running->id, name = m_running->name, body = m_running->body,
            cancel = m_running->cancel] { worker->run(id, name, body, cancel); },
        Qt::QueuedConnection);
}

void JobController::onDone(JobId id, JobOutcome outcome, const QString &message, const std::any &result)
{
    const std::shared_ptr<Entry> e = m_running;
    if (!e || e->id != id) // cannot happen: one job runs at a time
        return;
    // Not busy any more while the callbacks run: they may open a project or queue the next job
    // (which then starts at once).
    m_running.reset();
    switch (outcome) {
    case JobOutcome::Finished:
        Q_EMIT finished(e->name);
        break;
    case JobOutcome::Cancelled:
        Q_EMIT cancelled(e->name);
        break;
    case JobOutcome::Failed:
        Q_EMIT failed(e->name, message);
        if (!e->onEnded || !contextAlive(*e))
            Q_EMIT failedUnhandled(e->name, message);
        break;
    }
    Q_EMIT ended(id, outcome);
    if (contextAlive(*e)) {
        if (outcome == JobOutcome::Finished) {
            std::any value = result;
            e->onFinished(value);
        } else if (e->onEnded) {
            e->onEnded(outcome, message);
        }
    }
    if (!m_running)
        startNext();
}

void JobWorker::run(JobId id, const QString &name, const std::function<std::any(JobContext &)> &body,
    const std::shared_ptr<std::atomic<bool>> &cancel)
{
    using Clock = std::chrono::steady_clock;
    Clock::time_point last {};
    std::string lastStage;
    JobContext context(
        [&](const ProgressUpdate &u) {
            // Throttle: a new stage always, otherwise at most one report per 40 ms.
            const auto now = Clock::now();
            if (u.stage == lastStage && now - last < std::chrono::milliseconds(40))
                return true;
            last = now;
            lastStage = u.stage;
            Q_EMIT progress({id, name, QString::fromStdString(u.stage), u.fraction(), u.etaSeconds});
            return true;
        },
        cancel.get());
    try {
        std::any result = body(context);
        // It completed (and committed) even if a cancel came late.
        Q_EMIT done(id, JobOutcome::Finished, {}, result);
    } catch (const Error &e) {
        Q_EMIT done(id, e.kind() == ErrorKind::Cancelled ? JobOutcome::Cancelled : JobOutcome::Failed,
            QString::fromUtf8(e.what()), {});
    } catch (const std::exception &e) {
        Q_EMIT done(id, JobOutcome::Failed, QString::fromUtf8(e.what()), {});
    }
}

} // namespace engram::ui
