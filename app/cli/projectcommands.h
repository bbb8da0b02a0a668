#pragma once
// engram-cli's commands over project files (project, facts, edit/trace/eval FILE, history,
// revert, reapply, export, patch), and the edit options shared with the file-based 'edit'.

#include "cli/cliargs.h"

#include "core/edit/presets.h"
#include "core/jobs/projectjobs.h"
#include "core/model/modelinfo.h"

namespace cli {

/// True when `args` names a project command (or a shared command given a project file).
bool isProjectCommand(const Args &args);
/// Runs it; returns the exit code. Throws UsageError / engram::Error like the other commands.
int runProjectCommand(const Args &args);

/// The method --method names (memit when absent), or UsageError naming the accepted ones.
engram::EditMethod editMethodOf(const Args &args);

/// The edit options over `spec`: --method, the method's parameters and the statistics source
/// (--stats FILE[,FILE..] | --corpus PATH, --max-docs, --cache-dir, --accumulate). Before
/// applying, set spec.config to the preset's configuration for editMethodOf(args) and
/// spec.statistics.maxDocuments to the command's default: the options given override them.
/// An option of another method is refused (e.g. --lambda with --method rome).
OptionTable editOptionsTable(engram::EditJobSpec &spec);

/// "preset: NAME (SOURCE); options given override it" on humanOut(args).
void announcePreset(const Args &args, const engram::EditPreset &preset);

/// What writeLoraAdapter wrote: rank, modules, their exact ranks and relative errors.
void printLoraSummary(const engram::LoraSummary &summary);

/// The tables of the project commands, for the help text.
std::vector<OptionTable> projectCommandTables();

} // namespace cli
