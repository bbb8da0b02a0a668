#include "cli/cliargs.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <limits>
#include <sstream>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace cli {

bool Args::flag(const std::string &name) const
{
    for (const auto &f : flags)
        if (f == name)
            return true;
    return false;
}

std::optional<std::string> Args::value(const std::string &name) const
{
    const auto it = values.find(name);
    if (it == values.end())
        return std::nullopt;
    return it->second;
}

Args parseArgs(int argc, char **argv)
{
    static const std::vector<std::string> kFlags = {"--greedy", "--no-cache", "--ids-only", "--help", "-h", "--version",
        "--one-cell", "--verbose", "--allow-conflicts", "--keep-facts", "--force", "--overwrite", "--copy", "--disabled",
        "--ids"};
    Args args;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a.rfind("-", 0) != 0 || a == "-") {
            if (args.command.empty())
                args.command = a;
            else
                args.positional.push_back(a);
            continue;
        }
        bool isFlag = false;
        for (const auto &f : kFlags)
            isFlag = isFlag || f == a;
        // "--ids" is a value option for project commands ("--ids 1,2") and a flag for
        // generate ("--ids": print token ids): a value when a list of numbers follows.
        if (a == "--ids" && i + 1 < argc
            && std::string(argv[i + 1]).find_first_not_of("0123456789,") == std::string::npos)
            isFlag = false;
        if (a == "--json" && (i + 1 >= argc || argv[i + 1][0] == '-'))
            isFlag = true;
        if (isFlag) {
            args.flags.push_back(a);
            continue;
        }
        const auto eq = a.find('=');
        if (eq != std::string::npos) {
            args.values[a.substr(0, eq)] = a.substr(eq + 1);
            continue;
        }
        if (i + 1 >= argc)
            throw UsageError {"option " + a + " needs a value"};
        args.values[a] = argv[++i];
    }
    return args;
}

namespace {
// Edit distance (insertions, deletions, substitutions) for "did you mean".
std::size_t editDistance(const std::string &a, const std::string &b)
{
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}
} // namespace

namespace {
const std::vector<std::pair<std::string, std::string>> &commonOptions()
{
    static const std::vector<std::pair<std::string, std::string>> options = {
        {"--device cpu|cuda[:N]", "where the model runs (default cpu)"},
        {"--dtype fp32|bf16|fp16", "weight type (default fp32)"},
        {"--threads N", "CPU threads (default: all cores)"},
        {"--help, -h", "this text (engram-cli CMD --help: one command's)"},
        {"--version", "print the version"},
    };
    return options;
}

bool isCommonOption(const std::string &name)
{
    return name == "--device" || name == "--dtype" || name == "--threads" || name == "--help" || name == "-h"
        || name == "--version";
}

// `text` wrapped at `width` columns, continuation lines indented by `indent`.
std::string wrap(const std::string &text, std::size_t firstColumn, std::size_t indent, std::size_t width = 100)
{
    std::string out;
    std::size_t column = firstColumn;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto space = text.find(' ', pos);
        const std::string word = text.substr(pos, space == std::string::npos ? std::string::npos : space - pos);
        pos = space == std::string::npos ? text.size() : space + 1;
        if (word.empty())
            continue;
        if (column > indent && column + 1 + word.size() > width) {
            out += "\n" + std::string(indent, ' ');
            column = indent;
        } else if (column > firstColumn || (column > indent && !out.empty())) {
            out += " ";
            ++column;
        }
        out += word;
        column += word.size();
    }
    return out;
}

std::string optionLine(const std::string &label, const std::string &help)
{
    constexpr std::size_t kColumn = 30;
    std::string line = "    " + label;
    if (line.size() + 2 > kColumn)
        line += "\n" + std::string(kColumn, ' ');
    else
        line += std::string(kColumn - line.size(), ' ');
    return line + wrap(help, kColumn, kColumn) + "\n";
}

template <class Number>
std::string defaultText(Number v)
{
    std::ostringstream out;
    out << v;
    return " (default " + out.str() + ")";
}
} // namespace

OptionTable::OptionTable(std::string command, std::string synopsis, std::string summary)
    : m_command(std::move(command))
{
    m_forms.emplace_back(std::move(synopsis), std::move(summary));
}

OptionTable &OptionTable::form(std::string synopsis, std::string summary)
{
    m_forms.emplace_back(std::move(synopsis), std::move(summary));
    return *this;
}

OptionTable &OptionTable::heading(std::string text)
{
    m_pendingHeading = std::move(text);
    return *this;
}

OptionTable &OptionTable::add(std::string name, std::string value, std::string help, Setter set)
{
    Entry e {std::move(name), std::move(value), std::move(help), std::move(m_pendingHeading), {}, false, std::move(set)};
    m_pendingHeading.clear();
    m_entries.push_back(std::move(e));
    return *this;
}

OptionTable &OptionTable::custom(std::string name, std::string value, std::string help, Setter set)
{
    return add(std::move(name), std::move(value), std::move(help), std::move(set));
}

OptionTable &OptionTable::flag(std::string name, std::string help, bool &target)
{
    return add(std::move(name), "", std::move(help), [&target](const std::string &) { target = true; });
}

OptionTable &OptionTable::text(std::string name, std::string value, std::string help, std::string &target)
{
    return add(std::move(name), std::move(value), std::move(help), [&target](const std::string &v) { target = v; });
}

OptionTable &OptionTable::text(
    std::string name, std::string value, std::string help, std::optional<std::string> &target)
{
    return add(std::move(name), std::move(value), std::move(help), [&target](const std::string &v) { target = v; });
}

OptionTable &OptionTable::integer(
    std::string name, std::string value, std::string help, int &target, long min, long max)
{
    const std::string n = name;
    add(std::move(name), std::move(value), std::move(help),
        [&target, n, min, max](const std::string &v) { target = static_cast<int>(parseInteger(n, v, min, max)); });
    return withDefault(defaultText(target));
}

OptionTable &OptionTable::integer(
    std::string name, std::string value, std::string help, int64_t &target, long min, long max)
{
    const std::string n = name;
    add(std::move(name), std::move(value), std::move(help),
        [&target, n, min, max](const std::string &v) { target = parseInteger(n, v, min, max); });
    return withDefault(defaultText(target));
}

OptionTable &OptionTable::number(
    std::string name, std::string value, std::string help, double &target, double min, double max)
{
    const std::string n = name;
    add(std::move(name), std::move(value), std::move(help),
        [&target, n, min, max](const std::string &v) { target = parseNumber(n, v, min, max); });
    return withDefault(defaultText(target));
}

OptionTable &OptionTable::seed(std::string help, uint64_t &target)
{
    add("--seed", "S", std::move(help), [&target](const std::string &v) {
        target = static_cast<uint64_t>(parseInteger("--seed", v, 0, 1L << 62));
    });
    return withDefault(defaultText(target));
}

OptionTable &OptionTable::layers(std::string name, std::string help, std::vector<int> &target)
{
    const std::string n = name;
    return add(std::move(name), "L1,L2,..", std::move(help),
        [&target, n](const std::string &v) { target = parseLayerList(n, v); });
}

OptionTable &OptionTable::ids(std::string name, std::string help, std::vector<int64_t> &target)
{
    const std::string n = name;
    return add(std::move(name), "1,2,..", std::move(help),
        [&target, n](const std::string &v) { target = parseIds(n, v); });
}

OptionTable &OptionTable::withDefault(std::string text)
{
    m_entries.back().fallback = std::move(text);
    return *this;
}

OptionTable &OptionTable::required(const std::string &name)
{
    for (auto &e : m_entries)
        if (e.name == name)
            e.required = true;
    return *this;
}

OptionTable &OptionTable::append(const OptionTable &other)
{
    for (const auto &e : other.m_entries)
        m_entries.push_back(e);
    return *this;
}

std::vector<std::string> OptionTable::names() const
{
    std::vector<std::string> out;
    for (const auto &e : m_entries)
        out.push_back(e.name);
    return out;
}

void OptionTable::check(const Args &args) const
{
    auto find = [this](const std::string &name) -> const Entry * {
        for (const auto &e : m_entries)
            if (e.name == name)
                return &e;
        return nullptr;
    };
    auto refuse = [&](const std::string &name) {
        std::string closest;
        std::size_t best = 4; // suggest only near misses
        for (const auto &e : m_entries)
            if (const std::size_t d = editDistance(name, e.name); d < best) {
                best = d;
                closest = e.name;
            }
        throw UsageError {"unknown option " + name + " for '" + args.command + "'"
            + (closest.empty() ? std::string() : " (did you mean " + closest + "?)") + "; see engram-cli "
            + args.command + " --help"};
    };
    for (const auto &name : args.flags) {
        if (isCommonOption(name))
            continue;
        const Entry *e = find(name);
        if (!e)
            refuse(name);
        if (!e->value.empty())
            throw UsageError {"option " + name + " needs a value (" + e->value + ")"};
    }
    for (const auto &[name, value] : args.values) {
        if (isCommonOption(name))
            continue;
        const Entry *e = find(name);
        if (!e)
            refuse(name);
        if (e->value.empty())
            throw UsageError {"option " + name + " takes no value"};
    }
    for (const auto &e : m_entries)
        if (e.required && !args.value(e.name).has_value())
            throw UsageError {"'" + args.command + "' needs " + e.name + " " + e.value};
}

void OptionTable::apply(const Args &args) const
{
    check(args);
    for (const auto &e : m_entries) {
        if (!e.set)
            continue;
        if (e.value.empty()) {
            if (args.flag(e.name))
                e.set("");
        } else if (const auto v = args.value(e.name)) {
            e.set(*v);
        }
    }
}

std::string OptionTable::help() const
{
    std::string out;
    for (const auto &[synopsis, summary] : m_forms) {
        const std::string line = "  " + m_command + (synopsis.empty() ? "" : " " + synopsis);
        out += line + "\n";
        if (!summary.empty())
            out += "      " + wrap(summary, 6, 6) + "\n";
    }
    for (const auto &e : m_entries) {
        if (!e.heading.empty())
            out += "    " + e.heading + "\n";
        const std::string help = e.help + (e.required ? " (required)" : e.fallback);
        out += optionLine(e.name + (e.value.empty() ? "" : " " + e.value), help);
    }
    return out;
}

std::string commonOptionsHelp()
{
    std::string out = "Common options (every command):\n";
    for (const auto &[label, help] : commonOptions())
        out += optionLine(label, help);
    return out;
}

std::ostream &humanOut(const Args &args)
{
    return args.flag("--json") ? std::cerr : std::cout;
}

long parseInteger(const std::string &name, const std::string &text, long min, long max)
{
    char *end = nullptr;
    errno = 0;
    const long n = std::strtol(text.c_str(), &end, 10);
    if (end == text.c_str() || *end != '\0' || errno == ERANGE || n < min || n > max)
        throw UsageError {name + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]"};
    return n;
}

double parseNumber(const std::string &name, const std::string &text, double min, double max)
{
    char *end = nullptr;
    const double n = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0')
        throw UsageError {name + " must be a number"};
    if (!std::isfinite(n))
        throw UsageError {name + " must be a finite number, not " + text};
    if (n < min || n > max) {
        std::ostringstream range;
        range << name << " must be in [" << min << ", " << max << "], not " << text;
        throw UsageError {range.str()};
    }
    return n;
}

long toInt(const Args &args, const std::string &name, long fallback, long min, long max)
{
    const auto v = args.value(name);
    return v ? parseInteger(name, *v, min, max) : fallback;
}

engram::LoadOptions loadOptions(const Args &args)
{
    engram::LoadOptions o;
    o.device = args.value("--device").value_or("cpu");
    o.dtype = args.value("--dtype").value_or("fp32");
    return o;
}

std::string humanBytes(uint64_t bytes)
{
    char buf[32];
    if (bytes >= (1ull << 30))
        std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(1ull << 30));
    else if (bytes >= (1ull << 20))
        std::snprintf(buf, sizeof buf, "%.2f MiB", bytes / double(1ull << 20));
    else
        std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
    return buf;
}

std::vector<int64_t> parseIds(const std::string &option, const std::string &text)
{
    std::vector<int64_t> ids;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const auto comma = text.find(',', pos);
        const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        char *end = nullptr;
        const long long v = std::strtoll(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || v <= 0)
            throw UsageError {option + " must be a comma-separated list of ids, e.g. 1,2,5"};
        ids.push_back(v);
        if (comma == std::string::npos)
            break;
        pos = comma + 1;
    }
    return ids;
}

std::vector<int> parseLayerList(const std::string &option, const std::string &text)
{
    std::vector<int> layers;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const auto comma = text.find(',', pos);
        const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        char *end = nullptr;
        const long v = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || v < 0 || v > 100000)
            throw UsageError {option + " must be a comma-separated list of layer numbers, e.g. 0,1,2"};
        layers.push_back(static_cast<int>(v));
        if (comma == std::string::npos)
            break;
        pos = comma + 1;
    }
    return layers;
}

std::atomic<bool> &cancelRequested()
{
    static std::atomic<bool> flag {false};
    return flag;
}

namespace {
extern "C" void onSignal(int sig)
{
    if (cancelRequested().exchange(true)) {
        std::signal(sig, SIG_DFL);
        std::raise(sig);
        return;
    }
    static const char kMessage[] = "\nengram-cli: cancelling (press Ctrl-C again to stop at once)\n";
    const ssize_t ignored = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    (void)ignored;
}
} // namespace

void installCancelHandler()
{
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
}

ProgressPrinter::ProgressPrinter(std::string label)
    : m_label(std::move(label))
    , m_tty(isatty(STDERR_FILENO) != 0)
{
}

ProgressPrinter::~ProgressPrinter()
{
    if (m_tty && m_drawn)
        std::cerr << "\n";
}

bool ProgressPrinter::operator()(const engram::ProgressUpdate &u)
{
    const int tenth = u.total > 0 ? static_cast<int>(10 * u.done / u.total) : 0;
    if (m_tty) {
        std::cerr << "\r" << m_label << ": " << u.stage;
        if (u.total > 0) {
            const int width = 30, filled = static_cast<int>(std::lround(width * u.fraction()));
            std::cerr << " [" << std::string(static_cast<std::size_t>(filled), '#')
                      << std::string(static_cast<std::size_t>(width - filled), '.') << "] " << u.done << "/" << u.total;
        }
        if (u.etaSeconds >= 0)
            std::cerr << ", " << static_cast<long>(std::lround(u.etaSeconds)) << " s left";
        std::cerr << "\033[K" << std::flush;
        m_drawn = true;
    } else if (u.stage != m_lastStage || tenth != m_lastTenth) {
        std::cerr << m_label << ": " << u.stage;
        if (u.total > 0)
            std::cerr << " " << u.done << "/" << u.total;
        std::cerr << "\n";
    }
    m_lastStage = u.stage;
    m_lastTenth = tenth;
    return !cancelRequested().load();
}

} // namespace cli
