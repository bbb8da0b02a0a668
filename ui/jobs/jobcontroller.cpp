#include "ui/jobs/jobcontroller.h"

#include "core/util/error.h"

#include <QMetaObject>
#include <QThread>

#include <chrono>

Q_DECLARE_METATYPE(std::shared_ptr<engram::Job>)
Q_DECLARE_METATYPE(std::shared_ptr<std::atomic<bool>>)

namespace engram::ui {

JobController::JobController(QObject *parent)
    : QObject(parent)
{
    qRegisterMetaType<JobProgress>();
    qRegisterMetaType<std::shared_ptr<engram::Job>>();
    qRegisterMetaType<std::shared_ptr<std::atomic<bool>>>();
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
    if (m_cancel)
        m_cancel->store(true);
    m_thread->quit();
    m_thread->wait();
}

void JobController::submit(std::unique_ptr<Job> job)
{
    m_queue.push_back(std::shared_ptr<Job>(std::move(job)));
    if (!m_running)
        startNext();
    else
        Q_EMIT busyChanged(true, queued());
}

void JobController::whenFinished(const QString &job, QObject *context, std::function<void()> onFinished)
{
    // A one-shot listener, removed whichever way the job ends.
    auto *guard = new QObject(context);
    connect(this, &JobController::finished, guard, [guard, job, onFinished](const QString &name) {
        if (name != job)
            return;
        guard->deleteLater();
        onFinished();
    });
    auto drop = [guard, job](const QString &name) {
        if (name == job)
            guard->deleteLater();
    };
    connect(this, &JobController::failed, guard, drop);
    connect(this, &JobController::cancelled, guard, drop);
}

void JobController::cancel()
{
    if (m_cancel)
        m_cancel->store(true);
}

void JobController::startNext()
{
    if (m_queue.empty()) {
        m_running = false;
        m_current.clear();
        Q_EMIT busyChanged(false, 0);
        return;
    }
    std::shared_ptr<Job> job = m_queue.front();
    m_queue.pop_front();
    m_running = true;
    m_current = QString::fromStdString(job->name());
    m_cancel = std::make_shared<std::atomic<bool>>(false);
    Q_EMIT started(m_current);
    Q_EMIT busyChanged(true, queued());
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, job, cancel = m_cancel] { worker->run(job, cancel); }, Qt::QueuedConnection);
}

void JobController::onDone(const QString &job, int outcome, const QString &message)
{
    if (outcome == 0)
        Q_EMIT finished(job);
    else if (outcome == 1)
        Q_EMIT cancelled(job);
    else
        Q_EMIT failed(job, message);
    startNext();
}

void JobWorker::run(std::shared_ptr<engram::Job> job, std::shared_ptr<std::atomic<bool>> cancel)
{
    using Clock = std::chrono::steady_clock;
    const QString name = QString::fromStdString(job->name());
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
            Q_EMIT progress({name, QString::fromStdString(u.stage), u.fraction(), u.etaSeconds});
            return true;
        },
        cancel.get());
    try {
        job->run(context);
        Q_EMIT done(name, 0, {}); // it completed (and committed) even if a cancel came late
    } catch (const Error &e) {
        Q_EMIT done(name, e.kind() == ErrorKind::Cancelled ? 1 : 2, QString::fromUtf8(e.what()));
    } catch (const std::exception &e) {
        Q_EMIT done(name, 2, QString::fromUtf8(e.what()));
    }
}

} // namespace engram::ui
