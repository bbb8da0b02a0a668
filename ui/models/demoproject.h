#pragma once
// The demo project a newcomer lands in: the embedded demo model, its statistics corpus and the
// first facts of its CounterFact-style evaluation set, created on first start in the user's
// data directory and reused afterwards (re-created when the demo model changed).

#include <QString>

namespace engram::ui {

/// Path of the demo project for the demo directory `demoDir` (resources/demo), creating it
/// when missing or made for another demo model. Throws engram::Error.
QString ensureDemoProject(const QString &demoDir, const QString &dataDir, int facts = 50);

} // namespace engram::ui
