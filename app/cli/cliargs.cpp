#include "cli/cliargs.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
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
        "--one-cell", "--verbose", "--allow-conflicts", "--overwrite", "--copy", "--disabled", "--ids"};
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

void checkOptions(const Args &args, const std::vector<std::string> &known)
{
    static const std::vector<std::string> kCommon = {"--device", "--dtype", "--threads", "--help", "-h", "--version"};
    std::vector<std::string> all = known;
    all.insert(all.end(), kCommon.begin(), kCommon.end());
    std::vector<std::string> given = args.flags;
    for (const auto &[name, value] : args.values)
        given.push_back(name);
    for (const auto &name : given) {
        if (std::find(all.begin(), all.end(), name) != all.end())
            continue;
        std::string closest;
        std::size_t best = 4; // suggest only near misses
        for (const auto &k : all)
            if (const std::size_t d = editDistance(name, k); d < best) {
                best = d;
                closest = k;
            }
        throw UsageError {"unknown option " + name + " for '" + args.command + "'"
            + (closest.empty() ? std::string() : " (did you mean " + closest + "?)") + "; see engram-cli --help"};
    }
}

std::ostream &humanOut(const Args &args)
{
    return args.flag("--json") ? std::cerr : std::cout;
}

long toInt(const Args &args, const std::string &name, long fallback, long min, long max)
{
    const auto v = args.value(name);
    if (!v)
        return fallback;
    char *end = nullptr;
    const long n = std::strtol(v->c_str(), &end, 10);
    if (end == v->c_str() || *end != '\0' || n < min || n > max)
        throw UsageError {name + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]"};
    return n;
}

bool accumulateFloat64(const Args &args)
{
    const std::string v = args.value("--accumulate").value_or("fp64");
    if (v != "fp64" && v != "fp32")
        throw UsageError {"--accumulate must be fp64 or fp32"};
    return v == "fp64";
}

uint64_t seedOption(const Args &args, uint64_t fallback)
{
    return static_cast<uint64_t>(toInt(args, "--seed", static_cast<long>(fallback), 0, 1L << 62));
}

double toDouble(const Args &args, const std::string &name, double fallback)
{
    const auto v = args.value(name);
    if (!v)
        return fallback;
    char *end = nullptr;
    const double n = std::strtod(v->c_str(), &end);
    if (end == v->c_str() || *end != '\0')
        throw UsageError {name + " must be a number"};
    if (!std::isfinite(n))
        throw UsageError {name + " must be a finite number, not " + *v};
    return n;
}

double toDouble(const Args &args, const std::string &name, double fallback, double min, double max)
{
    const double n = toDouble(args, name, fallback);
    if (n < min || n > max)
        throw UsageError {name + " must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], not "
            + args.value(name).value_or("")};
    return n;
}

std::string requireValue(const Args &args, const std::string &name)
{
    const auto v = args.value(name);
    if (!v || v->empty())
        throw UsageError {"'" + args.command + "' needs " + name};
    return *v;
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

std::vector<int> parseLayers(const Args &args)
{
    const std::string text = requireValue(args, "--layers");
    std::vector<int> layers;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const auto comma = text.find(',', pos);
        const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        char *end = nullptr;
        const long v = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || v < 0)
            throw UsageError {"--layers must be a comma-separated list of layer numbers, e.g. 0,1,2"};
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
