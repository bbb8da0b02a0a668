#include "core/project/sqlite.h"

#include "core/util/error.h"

#include <sqlite3.h>

namespace engram {

Database::Database(const std::filesystem::path &path, Mode mode, int busyTimeoutMs)
    : m_path(path)
{
    int flags = SQLITE_OPEN_NOMUTEX;
    if (mode == Mode::ReadOnly)
        flags |= SQLITE_OPEN_READONLY;
    else
        flags |= SQLITE_OPEN_READWRITE | (mode == Mode::Create ? SQLITE_OPEN_CREATE : 0);
    const int rc = sqlite3_open_v2(path.c_str(), &m_db, flags, nullptr);
    if (rc != SQLITE_OK) {
        const std::string message = m_db ? sqlite3_errmsg(m_db) : "out of memory";
        sqlite3_close(m_db);
        m_db = nullptr;
        throw Error(ErrorKind::Io, "cannot open " + path.string() + ": " + message);
    }
    sqlite3_extended_result_codes(m_db, 1);
    sqlite3_busy_timeout(m_db, busyTimeoutMs);
}

Database::~Database()
{
    sqlite3_close_v2(m_db);
}

void Database::check(int rc, std::string_view what) const
{
    if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE)
        return;
    const std::string where = m_path.string();
    const std::string detail = m_db ? sqlite3_errmsg(m_db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        throw Error(ErrorKind::Io,
            where
                + " is locked by another program (another Engram window or an engram-cli job?); "
                  "close it or wait for it to finish, then try again ("
                + std::string(what) + ")");
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        throw Error(ErrorKind::CorruptFile,
            where + " is damaged or not an Engram project (" + detail + ", while " + std::string(what) + ")");
    case SQLITE_FULL:
        throw Error(ErrorKind::Io,
            "the disk holding " + where + " is full (" + std::string(what)
                + "); nothing of this step was saved — free space and try again");
    case SQLITE_READONLY:
        throw Error(ErrorKind::Io, where + " is read-only (" + std::string(what) + ")");
    default:
        throw Error(ErrorKind::Io, where + ": " + std::string(what) + " failed: " + detail);
    }
}

void Database::exec(const std::string &sql)
{
    char *message = nullptr;
    const int rc = sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, &message);
    sqlite3_free(message);
    check(rc, "running " + sql.substr(0, 60));
}

Statement Database::prepare(const std::string &sql)
{
    return Statement(*this, sql);
}

int64_t Database::scalar(const std::string &sql)
{
    Statement st(*this, sql);
    return st.step() ? st.integer(0) : 0;
}

int64_t Database::lastInsertId() const
{
    return sqlite3_last_insert_rowid(m_db);
}

Statement::Statement(Database &db, const std::string &sql)
    : m_db(&db)
{
    db.check(sqlite3_prepare_v2(db.handle(), sql.c_str(), static_cast<int>(sql.size()), &m_stmt, nullptr),
        "preparing " + sql.substr(0, 60));
}

Statement::~Statement()
{
    sqlite3_finalize(m_stmt);
}

Statement::Statement(Statement &&other) noexcept
    : m_db(other.m_db)
    , m_stmt(other.m_stmt)
{
    other.m_stmt = nullptr;
}

Statement &Statement::bind(int index, int64_t value)
{
    m_db->check(sqlite3_bind_int64(m_stmt, index, value), "binding a value");
    return *this;
}

Statement &Statement::bind(int index, double value)
{
    m_db->check(sqlite3_bind_double(m_stmt, index, value), "binding a value");
    return *this;
}

Statement &Statement::bind(int index, std::string_view text)
{
    m_db->check(
        sqlite3_bind_text64(m_stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8), "binding a value");
    return *this;
}

Statement &Statement::bindBlob(int index, const void *data, std::size_t size)
{
    // A zero-length blob must still be a blob, not NULL.
    m_db->check(size == 0 ? sqlite3_bind_zeroblob(m_stmt, index, 0)
                          : sqlite3_bind_blob64(m_stmt, index, data, size, SQLITE_TRANSIENT),
        "binding a value");
    return *this;
}

Statement &Statement::bindNull(int index)
{
    m_db->check(sqlite3_bind_null(m_stmt, index), "binding a value");
    return *this;
}

bool Statement::step()
{
    const int rc = sqlite3_step(m_stmt);
    m_db->check(rc, std::string("running ") + sqlite3_sql(m_stmt));
    return rc == SQLITE_ROW;
}

void Statement::run()
{
    step();
    reset();
}

void Statement::reset()
{
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
}

int64_t Statement::integer(int column) const
{
    return sqlite3_column_int64(m_stmt, column);
}

double Statement::real(int column) const
{
    return sqlite3_column_double(m_stmt, column);
}

std::string Statement::text(int column) const
{
    const auto *p = sqlite3_column_text(m_stmt, column);
    return p
        ? std::string(reinterpret_cast<const char *>(p), static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, column)))
        : std::string();
}

std::vector<unsigned char> Statement::blob(int column) const
{
    const auto *p = static_cast<const unsigned char *>(sqlite3_column_blob(m_stmt, column));
    const auto n = static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, column));
    return p ? std::vector<unsigned char>(p, p + n) : std::vector<unsigned char>();
}

bool Statement::isNull(int column) const
{
    return sqlite3_column_type(m_stmt, column) == SQLITE_NULL;
}

Transaction::Transaction(Database &db)
    : m_db(db)
{
    m_db.exec("BEGIN IMMEDIATE");
}

Transaction::~Transaction()
{
    if (!m_done)
        sqlite3_exec(m_db.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit()
{
    m_db.exec("COMMIT");
    m_done = true;
}

} // namespace engram
