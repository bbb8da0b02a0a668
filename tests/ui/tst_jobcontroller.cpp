// JobController: ids, typed results and callbacks, outcomes, cancel of queued jobs.

#include "core/util/error.h"
#include "ui/jobs/jobcontroller.h"

#include <QSignalSpy>
#include <QtTest>

#include <string>
#include <vector>

using namespace engram;
using namespace engram::ui;

class TestJobController : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void sameNamedJobsEachGetTheirOwnResult()
    {
        // Two jobs of the same kind and display name, queued back to back (the double-click case):
        // each callback must receive its own job's result, exactly once.
        JobController jobs;
        QObject owner;
        std::vector<std::pair<int, std::string>> seen;
        const QString name = QStringLiteral("Edit with MEMIT (batch)");
        auto job = [](int n) {
            return [n](JobContext &context) {
                context.stage("working");
                return std::string(static_cast<std::size_t>(n), 'x');
            };
        };
        const JobId first = jobs.submit(name, job(3), &owner, [&](const std::string &r) { seen.emplace_back(1, r); });
        const JobId second = jobs.submit(name, job(5), &owner, [&](const std::string &r) { seen.emplace_back(2, r); });
        QVERIFY(first != second);
        QSignalSpy ended(&jobs, &JobController::ended);
        QTRY_COMPARE(ended.size(), 2);
        QCOMPARE(seen.size(), std::size_t(2));
        QCOMPARE(seen[0], std::make_pair(1, std::string("xxx")));
        QCOMPARE(seen[1], std::make_pair(2, std::string("xxxxx")));
        QCOMPARE(ended[0].at(0).value<JobId>(), first);
        QCOMPARE(ended[1].at(0).value<JobId>(), second);
        QVERIFY(!jobs.isBusy());
    }

    void failuresAndCancelsReachOnlyTheirJob()
    {
        JobController jobs;
        QObject owner;
        QString failedWith;
        JobOutcome failedOutcome = JobOutcome::Finished;
        bool secondFinished = false;
        std::atomic<bool> release {false};
        // The first job fails; the second, same name, succeeds; the third is cancelled while queued.
        jobs.submit(
            QStringLiteral("job"),
            [&](JobContext &) -> int {
                while (!release.load())
                    QThread::msleep(1);
                throw Error(ErrorKind::InvalidArgument, "bad spec");
            },
            &owner, [](int) { QFAIL("a failed job must not report a result"); },
            [&](JobOutcome o, const QString &m) {
                failedOutcome = o;
                failedWith = m;
            });
        jobs.submit(
            QStringLiteral("job"), [](JobContext &) { return 2; }, &owner, [&](int r) { secondFinished = r == 2; });
        JobOutcome thirdOutcome = JobOutcome::Finished;
        const JobId third = jobs.submit(
            QStringLiteral("job"), [](JobContext &) { return 3; }, &owner, [](int) { QFAIL("cancelled while queued"); },
            [&](JobOutcome o, const QString &) { thirdOutcome = o; });
        QCOMPARE(jobs.queued(), 2);
        jobs.cancelJob(third);
        QCOMPARE(jobs.queued(), 1);
        QCOMPARE(thirdOutcome, JobOutcome::Cancelled);
        release = true;
        QTRY_VERIFY(!jobs.isBusy());
        QCOMPARE(failedOutcome, JobOutcome::Failed);
        QCOMPARE(failedWith, QStringLiteral("bad spec"));
        QVERIFY(secondFinished);
    }

    void cancellingTheRunningJobStopsItAtItsNextCheck()
    {
        JobController jobs;
        QObject owner;
        JobOutcome outcome = JobOutcome::Finished;
        QSignalSpy progress(&jobs, &JobController::progress);
        const JobId id = jobs.submit(
            QStringLiteral("loop"),
            [](JobContext &context) {
                for (int i = 0;; ++i) {
                    ProgressUpdate u;
                    u.stage = "looping";
                    u.done = i;
                    if (!context.progress()(u))
                        throw Error(ErrorKind::Cancelled, "loop cancelled");
                    QThread::msleep(1);
                }
            },
            &owner, [] { QFAIL("a cancelled job must not finish"); },
            [&](JobOutcome o, const QString &) { outcome = o; });
        QTRY_VERIFY(!progress.isEmpty());
        QCOMPARE(progress.front().at(0).value<JobProgress>().id, id);
        QCOMPARE(jobs.currentId(), id);
        jobs.cancelJob(id);
        QTRY_VERIFY(!jobs.isBusy());
        QCOMPARE(outcome, JobOutcome::Cancelled);
    }

    void aDestroyedReceiverGetsNoCallback()
    {
        JobController jobs;
        bool called = false;
        auto *owner = new QObject;
        jobs.submit(
            QStringLiteral("job"), [](JobContext &) { QThread::msleep(20); }, owner, [&] { called = true; });
        delete owner; // e.g. the view closed while its job ran
        QSignalSpy ended(&jobs, &JobController::ended);
        QTRY_COMPARE(ended.size(), 1);
        QVERIFY(!called);
    }
};

QTEST_GUILESS_MAIN(TestJobController)
#include "tst_jobcontroller.moc"
