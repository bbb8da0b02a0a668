#pragma once
// Shared helpers for the Qt Test suite.

#include <QByteArray>
#include <QDir>
#include <QString>
#include <QtTest>

#include "core/model/modelconfig.h"

#include <filesystem>

Q_DECLARE_METATYPE(engram::ModelFamily)

namespace engram::test {

/// Adds a "family" column with one row per architecture family (for _data() functions).
inline void addFamilyRows()
{
    QTest::addColumn<engram::ModelFamily>("family");
    QTest::newRow("gpt2") << engram::ModelFamily::Gpt2;
    QTest::newRow("gptj") << engram::ModelFamily::GptJ;
    QTest::newRow("gpt_neox") << engram::ModelFamily::GptNeoX;
    QTest::newRow("llama") << engram::ModelFamily::Llama;
}

/// The third-party fixtures folder: $ENGRAM_FIXTURES, else ../shared/fixtures next to the checkout.
inline QString fixturesDir()
{
    const QByteArray env = qgetenv("ENGRAM_FIXTURES");
    return env.isEmpty() ? QStringLiteral(ENGRAM_DEFAULT_FIXTURES) : QString::fromLocal8Bit(env);
}

/// Path of a fixture sub-folder or file; empty when absent.
inline std::filesystem::path fixture(const QString &relative)
{
    const QString path = QDir(fixturesDir()).filePath(relative);
    return QFileInfo::exists(path) ? std::filesystem::path(path.toStdString()) : std::filesystem::path();
}

} // namespace engram::test

/// Skips the current test with a clear message when a fixture is missing.
#define ENGRAM_REQUIRE_FIXTURE(var, relative)                                                                          \
    const std::filesystem::path var = engram::test::fixture(QStringLiteral(relative));                                 \
    if (var.empty())                                                                                                   \
        QSKIP(qPrintable(QStringLiteral("fixture %1 not found under %2 (set ENGRAM_FIXTURES)")                         \
                             .arg(QStringLiteral(relative), engram::test::fixturesDir())));

/// Asserts that `expr` throws engram::Error of `kind` whose message contains `needle`.
#define ENGRAM_EXPECT_ERROR(expr, errorKind, needle)                                                                   \
    do {                                                                                                               \
        bool thrown_ = false;                                                                                          \
        try {                                                                                                          \
            (void)(expr);                                                                                              \
        } catch (const engram::Error &e_) {                                                                            \
            thrown_ = true;                                                                                            \
            QVERIFY2(e_.kind() == (errorKind),                                                                         \
                qPrintable(QStringLiteral("wrong error kind %1: %2")                                                   \
                               .arg(QString::fromLatin1(engram::errorKindName(e_.kind())),                             \
                                   QString::fromStdString(e_.what()))));                                               \
            QVERIFY2(std::string(e_.what()).find(needle) != std::string::npos,                                         \
                qPrintable(QStringLiteral("message lacks '%1': %2")                                                    \
                               .arg(QString::fromStdString(needle), QString::fromStdString(e_.what()))));              \
        }                                                                                                              \
        QVERIFY2(thrown_, "expected an engram::Error");                                                                \
    } while (false)
