#pragma once
// Command-line plumbing shared by engram-cli's commands: argument parsing, typed option
// access, exit codes, progress on stderr and Ctrl-C as a cancel request.

#include "core/model/loadoptions.h"
#include "core/util/progress.h"

#include <atomic>
#include <cstdint>
#include <functional>
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
constexpr int kExitHeld = 6; // the edit ran, but the health guard held it (stored, not applied)
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
/// `text` as an integer within [min, max], or UsageError naming `name`.
long parseInteger(const std::string &name, const std::string &text, long min, long max);
/// `text` as a finite number within [min, max], or UsageError naming `name`.
double parseNumber(const std::string &name, const std::string &text, double min, double max);
/// "0,1,2" -> layer numbers, or UsageError naming `option`.
std::vector<int> parseLayerList(const std::string &option, const std::string &text);
/// The option as an integer within [min, max] (parseInteger), or `fallback` when absent.
long toInt(const Args &args, const std::string &name, long fallback, long min, long max);
engram::LoadOptions loadOptions(const Args &args);
std::string humanBytes(uint64_t bytes);

/// The options of one command, declared once: each entry names the option, its value, one line
/// of help and what it fills (a field of the command's options struct, usually a core params
/// struct). `apply` refuses what the command does not take and fills the struct; `help` is the
/// text `engram-cli CMD --help` prints. Tables are built over a struct the caller owns:
///     GenerateOptions o;
///     generateTable(o).apply(args); // o.params is a filled engram::GenerationParams
class OptionTable
{
public:
    /// Runs with the option's value ("" for a flag) when the option is given.
    using Setter = std::function<void(const std::string &value)>;

    /// `command` as typed ("edit"), `synopsis` the line after it ("FILE [--ids 1,2] [edit options]"),
    /// `summary` what it does (wrapped in the help).
    OptionTable(std::string command, std::string synopsis, std::string summary);

    /// A further form of the same command (e.g. "facts list FILE ..."), printed as its own line.
    OptionTable &form(std::string synopsis, std::string summary);
    /// A heading printed before the options declared after it.
    OptionTable &heading(std::string text);
    OptionTable &flag(std::string name, std::string help, bool &target);
    OptionTable &text(std::string name, std::string value, std::string help, std::string &target);
    OptionTable &text(std::string name, std::string value, std::string help, std::optional<std::string> &target);
    /// Within [min, max]; the help names the default (the target's value when the table is built).
    OptionTable &integer(std::string name, std::string value, std::string help, int &target, long min, long max);
    OptionTable &integer(std::string name, std::string value, std::string help, int64_t &target, long min, long max);
    OptionTable &number(std::string name, std::string value, std::string help, double &target, double min, double max);
    /// --seed S in [0, 2^62]: one bound for every command.
    OptionTable &seed(std::string help, uint64_t &target);
    /// A comma-separated list of layer numbers from 0 ("0,1,2").
    OptionTable &layers(std::string name, std::string help, std::vector<int> &target);
    /// A comma-separated list of positive ids ("1,2,5").
    OptionTable &ids(std::string name, std::string help, std::vector<int64_t> &target);
    /// Anything else: `set` parses the value itself (throwing UsageError naming the option).
    OptionTable &custom(std::string name, std::string value, std::string help, Setter set);
    /// `--name` must be given (checked by apply; "'generate' needs --model").
    OptionTable &required(const std::string &name);
    /// The entries of `other` (shared option groups such as the edit options), after these.
    OptionTable &append(const OptionTable &other);

    /// Refuses (UsageError) an option neither in the table nor common (--device, --dtype,
    /// --threads, --help, --version), naming the closest known one (a typo such as
    /// --max-new-token must not run with the default); a flag given a value or an option
    /// without one; a missing required option. Then runs the setters, in declaration order.
    void apply(const Args &args) const;
    /// Only the first half of apply: what is given is known and well formed.
    void check(const Args &args) const;
    std::string help() const;
    const std::string &command() const { return m_command; }
    std::vector<std::string> names() const;

private:
    struct Entry {
        std::string name, value, help, heading;
        std::string fallback; // " (default 32)"
        bool required = false;
        Setter set;
    };
    OptionTable &add(std::string name, std::string value, std::string help, Setter set);
    OptionTable &withDefault(std::string text);
    std::string m_command;
    std::vector<std::pair<std::string, std::string>> m_forms; // synopsis, summary
    std::string m_pendingHeading;
    std::vector<Entry> m_entries;
};

/// The options every command takes, for the help text.
std::string commonOptionsHelp();

/// Where human-readable lines go: stderr when --json is given, so stdout holds only JSON.
std::ostream &humanOut(const Args &args);
/// "1,2,5" -> ids; UsageError naming the option otherwise.
std::vector<int64_t> parseIds(const std::string &option, const std::string &text);

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
