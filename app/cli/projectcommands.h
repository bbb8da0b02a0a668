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

/// MEMIT / ROME / FT-W parameters: the model's preset (printed) with the options given
/// (--method --layers/--layer --lambda --v-lr --v-steps --clamp --seed --steps --lr
/// --norm-constraint) applied on top.
engram::EditJobSpec editSpecFromArgs(const Args &args, const engram::EditPreset &preset);

/// The options editSpecFromArgs and statisticsSourceFromArgs read (for the commands' option tables).
const std::vector<std::string> &editOptionNames();

/// The statistics source of --stats FILE[,FILE..] | --corpus PATH, with --max-docs (default
/// `defaultMaxDocuments`), --cache-dir and --accumulate fp64|fp32. No --stats or --corpus:
/// the project's corpus (StatisticsSource::Kind::ProjectCorpus).
engram::StatisticsSource statisticsSourceFromArgs(const Args &args, int64_t defaultMaxDocuments);

extern const char *kProjectUsage;

} // namespace cli
