#pragma once
// Command-line plumbing shared by engram-cli's commands: argument parsing, typed option
// access, exit codes, progress on stderr and Ctrl-C as a cancel request.

#include "core/model/loadoptions.h"
#include "core/util/progress.h"

#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cli {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2; // bad command line
constexpr int kExitInput = 3; // bad input files (corrupt, unsupported, newer, locked)
constexpr int kExitRuntime = 4; // failure while computing
constexpr int kExitConflict = 5; // refused: the facts to edit conflict (nothing changed)
constexpr int kExitCancelled = 130; // Ctrl-C: the job stopped, the project is at its last committed state

struct Args {
    std::string command;
    std::vector<std::string> positional; // after the command: sub-command, project file
    std::map<std::string, std::string> values;
    std::vector<std::string> flags;

    bool flag(const std::string &name) const;
    std::optional<std::string> value(const std::string &name) const;
};

struct UsageError {
    std::string message;
};

/// Options listed as flags take no value. "--json" is a flag when it is last or followed by
/// another option, otherwise it takes a file (eval/trace --json OUT).
Args parseArgs(int argc, char **argv);
long toInt(const Args &args, const std::string &name, long fallback, long min, long max);
/// --seed S: a seed in [0, 2^62] (one bound for every command), or `fallback`.
uint64_t seedOption(const Args &args, uint64_t fallback);
/// The option as a finite number (UsageError for text, NaN or infinity), or `fallback`.
double toDouble(const Args &args, const std::string &name, double fallback);
/// The same, within [min, max].
double toDouble(const Args &args, const std::string &name, double fallback, double min, double max);
std::string requireValue(const Args &args, const std::string &name);
engram::LoadOptions loadOptions(const Args &args);
std::string humanBytes(uint64_t bytes);
/// --accumulate fp64 (default) | fp32: the type covariance sums are kept in; true for fp64.
bool accumulateFloat64(const Args &args);
/// Refuses (UsageError) every option of `args` that is neither in `known` nor a common option
/// (--device, --dtype, --threads, --help, --version), naming the closest known one: a typo
/// such as --max-new-token must not run with the default.
void checkOptions(const Args &args, const std::vector<std::string> &known);

/// Where human-readable lines go: stderr when --json is given, so stdout holds only JSON.
std::ostream &humanOut(const Args &args);
/// "1,2,5" -> ids; UsageError naming the option otherwise.
std::vector<int64_t> parseIds(const std::string &option, const std::string &text);

/// --layers "0,1,2" (layer numbers from 0).
std::vector<int> parseLayers(const Args &args);

/// Set by the first SIGINT/SIGTERM (a second one terminates at once).
std::atomic<bool> &cancelRequested();
void installCancelHandler();

/// Progress on stderr: a redrawn bar with ETA on a terminal, a line per stage and tenth otherwise.
class ProgressPrinter
{
public:
    explicit ProgressPrinter(std::string label);
    ~ProgressPrinter();
    bool operator()(const engram::ProgressUpdate &u);

private:
    std::string m_label;
    bool m_tty;
    bool m_drawn = false;
    std::string m_lastStage;
    int m_lastTenth = -1;
};

} // namespace cli
