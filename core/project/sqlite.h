#pragma once
// Thin RAII wrappers over the SQLite C API for the project store: a connection, prepared
// statements with typed binding, and transactions that roll back unless committed.
// Every failure throws engram::Error naming the database file and what was being done.
//
// Thread-safety: a Database and its statements belong to one thread (one connection per
// thread, as SQLite recommends); open a second Database for a worker.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace engram {

class Statement;

class Database
{
public:
    enum class Mode { ReadOnly, ReadWrite, Create };
    /// Opens `path`. Create makes the file when missing. Nothing is written by opening.
    /// `busyTimeoutMs`: how long a statement waits for another connection's lock.
    Database(const std::filesystem::path &path, Mode mode, int busyTimeoutMs = 2000);
    ~Database();
    Database(const Database &) = delete;
    Database &operator=(const Database &) = delete;

    /// Runs one or more statements without results (DDL, pragmas that write).
    void exec(const std::string &sql);
    Statement prepare(const std::string &sql);
    /// The first column of the first row of `sql` as an integer (0 when no row).
    int64_t scalar(const std::string &sql);
    int64_t lastInsertId() const;
    const std::filesystem::path &path() const { return m_path; }
    sqlite3 *handle() const { return m_db; }

    /// Throws engram::Error for SQLite result `rc` (no-op for OK/ROW/DONE); `what` says
    /// what was being done. Locked/busy, not-a-database and full-disk get specific messages.
    void check(int rc, std::string_view what) const;

private:
    std::filesystem::path m_path;
    sqlite3 *m_db = nullptr;
};

class Statement
{
public:
    Statement(Database &db, const std::string &sql);
    ~Statement();
    Statement(Statement &&other) noexcept;
    Statement(const Statement &) = delete;
    Statement &operator=(const Statement &) = delete;
    Statement &operator=(Statement &&) = delete;

    // 1-based parameter indexes, as in SQL's ?1, ?2, ...
    Statement &bind(int index, int64_t value);
    Statement &bind(int index, int value) { return bind(index, static_cast<int64_t>(value)); }
    Statement &bind(int index, double value);
    Statement &bind(int index, std::string_view text);
    Statement &bind(int index, const char *text) { return bind(index, std::string_view(text)); }
    Statement &bind(int index, const std::string &text) { return bind(index, std::string_view(text)); }
    Statement &bindBlob(int index, const void *data, std::size_t size);
    Statement &bindNull(int index);

    /// Advances; true while a row is available.
    bool step();
    /// Runs a statement that returns no rows and resets it for reuse.
    void run();
    void reset();

    // 0-based column indexes.
    int64_t integer(int column) const;
    double real(int column) const;
    std::string text(int column) const;
    std::vector<unsigned char> blob(int column) const;
    bool isNull(int column) const;

private:
    Database *m_db;
    sqlite3_stmt *m_stmt = nullptr;
};

/// BEGIN IMMEDIATE (takes the write lock now, so a busy database fails here and not halfway)
/// ... commit(); destroyed uncommitted, it rolls back.
class Transaction
{
public:
    explicit Transaction(Database &db);
    ~Transaction();
    Transaction(const Transaction &) = delete;
    Transaction &operator=(const Transaction &) = delete;
    void commit();

private:
    Database &m_db;
    bool m_done = false;
};

} // namespace engram
