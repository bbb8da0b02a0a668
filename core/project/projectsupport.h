#pragma once
// Row conversions that the parts of Project (project.cpp, projectfacts.cpp, projectruns.cpp,
// projectresults.cpp) share. Internal to core/project.

#include "core/project/project.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace engram {
class Database;
class Statement;
} // namespace engram

namespace engram::projectdetail {

nlohmann::json toJson(const std::vector<std::string> &v);
/// A JSON list of strings as stored in a text column; anything else gives an empty list.
std::vector<std::string> stringList(const std::string &text);

/// A fact as the audit log stores it (before/after of a change), and back.
nlohmann::json factJson(const Fact &f);
Fact factFromJson(const nlohmann::json &j);

/// The fact table's columns in the order readFact reads and bindFact binds them.
extern const char *kFactColumns;
Fact readFact(const Statement &st);
void bindFact(Statement &st, const Fact &f);
/// Inserts `f` (with its id when keepId) and sets f.id.
void insertFact(Database &db, Fact &f, bool keepId);

/// One entry of the facts' audit log; `batch` groups the entries one undo reverses.
void logEvent(Database &db, int64_t batch, int64_t factId, const std::string &action, const std::string &before,
    const std::string &after);
int64_t nextBatch(Database &db);

RunStatus parseStatus(const std::string &s);
/// The recorded hash of a stored weight delta's bytes (patch_tensor.delta_hash).
std::string patchDeltaHash(const unsigned char *data, std::size_t size);

/// A stored tensor shape ("[768,192]"); throws engram::Error(CorruptFile) when it is not a
/// list of non-negative integers.
std::vector<int64_t> parseShape(const std::string &text);

} // namespace engram::projectdetail
