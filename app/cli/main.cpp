// engram-cli: the headless front end of engram_core. Links only core (no Qt), so it
// builds on a GPU server that has LibTorch but no desktop libraries.

#include "core/model/modelinfo.h"
#include "core/model/modelsession.h"
#include "core/util/error.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2; // bad command line
constexpr int kExitInput = 3; // bad input files (corrupt, unsupported)
constexpr int kExitRuntime = 4; // failure while computing

const char *kUsage = R"(Usage: engram-cli <command> [options]

Commands:
  info      --model DIR                 Describe a Hugging Face checkpoint directory
  tokenize  --model DIR --text TEXT     Print token ids and pieces of TEXT
  generate  --model DIR --prompt TEXT   Continue TEXT with the model
            [--max-new-tokens N]        new tokens (default 32)
            [--greedy]                  argmax decoding (default)
            [--top-k K] [--top-p P]     sampling filters (switch to sampling)
            [--temperature T]           sampling temperature (default 1.0)
            [--seed S]                  sampling seed (default 0)
            [--no-cache]                recompute every step (slower; same output)
            [--ids]                     also print the generated token ids

Common options:
  --device cpu|cuda[:N]   where the model runs (default cpu)
  --dtype fp32|bf16|fp16  weight type (default fp32)
  --threads N             CPU threads (default: all cores)
  --help, -h              this text
  --version               print the version

Exit codes: 0 ok, 2 usage error, 3 unreadable or unsupported input, 4 runtime failure.
)";

struct Args {
    std::string command;
    std::map<std::string, std::string> values;
    std::vector<std::string> flags;

    bool flag(const std::string &name) const
    {
        for (const auto &f : flags)
            if (f == name)
                return true;
        return false;
    }
    std::optional<std::string> value(const std::string &name) const
    {
        const auto it = values.find(name);
        if (it == values.end())
            return std::nullopt;
        return it->second;
    }
};

struct UsageError {
    std::string message;
};

Args parseArgs(int argc, char **argv)
{
    static const std::vector<std::string> kFlags = {"--greedy", "--no-cache", "--ids", "--help", "-h", "--version"};
    Args args;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a.rfind("-", 0) != 0) {
            if (!args.command.empty())
                throw UsageError {"unexpected argument '" + a + "'"};
            args.command = a;
            continue;
        }
        bool isFlag = false;
        for (const auto &f : kFlags)
            isFlag = isFlag || f == a;
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

double toDouble(const Args &args, const std::string &name, double fallback)
{
    const auto v = args.value(name);
    if (!v)
        return fallback;
    char *end = nullptr;
    const double n = std::strtod(v->c_str(), &end);
    if (end == v->c_str() || *end != '\0')
        throw UsageError {name + " must be a number"};
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

int cmdInfo(const Args &args)
{
    const auto s = engram::summarizeCheckpoint(requireValue(args, "--model"));
    std::cout << "directory:    " << s.directory.string() << "\n"
              << "architecture: " << s.family << " (model_type " << s.modelType << ")\n"
              << "layers:       " << s.layers << "\n"
              << "hidden size:  " << s.hiddenSize << "\n"
              << "heads:        " << s.heads << " (key/value heads " << s.kvHeads << ")\n"
              << "vocabulary:   " << s.vocabSize << "\n"
              << "context:      " << s.contextLength << "\n"
              << "parameters:   " << s.parameters << "\n"
              << "weights:      " << humanBytes(s.weightBytes) << " in " << s.shards.size() << " file(s)\n"
              << "tokenizer:    " << (s.tokenizerKind.empty() ? "none found" : s.tokenizerKind) << "\n";
    return kExitOk;
}

int cmdTokenize(const Args &args)
{
    const auto session = engram::ModelSession::open(requireValue(args, "--model"), loadOptions(args));
    const auto ids = session->encode(requireValue(args, "--text"), /*addSpecialTokens=*/true);
    for (std::size_t i = 0; i < ids.size(); ++i)
        std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
    return kExitOk;
}

int cmdGenerate(const Args &args)
{
    engram::GenerationParams p;
    p.maxNewTokens = static_cast<int>(toInt(args, "--max-new-tokens", 32, 1, 1 << 20));
    p.topK = static_cast<int>(toInt(args, "--top-k", 0, 0, 1 << 30));
    p.topP = toDouble(args, "--top-p", 1.0);
    p.temperature = toDouble(args, "--temperature", 1.0);
    p.seed = static_cast<uint64_t>(toInt(args, "--seed", 0, 0, std::numeric_limits<long>::max()));
    p.useCache = !args.flag("--no-cache");
    p.greedy
        = args.flag("--greedy") || (!args.value("--top-k") && !args.value("--top-p") && !args.value("--temperature"));
    if (args.flag("--greedy") && (args.value("--top-k") || args.value("--top-p")))
        throw UsageError {"--greedy cannot be combined with --top-k/--top-p"};
    const auto session = engram::ModelSession::open(requireValue(args, "--model"), loadOptions(args));
    const auto prompt = requireValue(args, "--prompt");
    const auto out = session->generate(prompt, p);
    std::cout << prompt << out.continuation << "\n";
    if (args.flag("--ids")) {
        std::cout << "prompt ids:";
        for (auto id : out.promptTokens)
            std::cout << " " << id;
        std::cout << "\ngenerated ids:";
        for (auto id : out.generatedTokens)
            std::cout << " " << id;
        std::cout << "\n";
    }
    return kExitOk;
}

} // namespace

int main(int argc, char **argv)
{
    try {
        const Args args = parseArgs(argc, argv);
        if (args.flag("--version")) {
            const auto rt = engram::runtimeInfo();
            std::cout << "engram-cli " << ENGRAM_VERSION << " (LibTorch " << rt.torchVersion
                      << (rt.cudaAvailable ? ", CUDA" : ", CPU only") << ")\n";
            return kExitOk;
        }
        if (args.flag("--help") || args.flag("-h") || args.command.empty() || args.command == "help") {
            std::cout << kUsage;
            return args.command.empty() && !args.flag("--help") && !args.flag("-h") ? kExitUsage : kExitOk;
        }
        engram::configureThreads(static_cast<int>(toInt(args, "--threads", 0, 0, 1024)));
        if (args.command == "info")
            return cmdInfo(args);
        if (args.command == "tokenize")
            return cmdTokenize(args);
        if (args.command == "generate")
            return cmdGenerate(args);
        throw UsageError {"unknown command '" + args.command + "'"};
    } catch (const UsageError &e) {
        std::cerr << "engram-cli: " << e.message << "\nRun 'engram-cli --help' for usage.\n";
        return kExitUsage;
    } catch (const engram::Error &e) {
        std::cerr << "engram-cli: error: " << e.what() << "\n";
        const bool input = e.kind() != engram::ErrorKind::Unsupported && e.kind() != engram::ErrorKind::InvalidArgument
            && e.kind() != engram::ErrorKind::Runtime;
        return input ? kExitInput : kExitRuntime;
    } catch (const std::exception &e) {
        std::cerr << "engram-cli: internal error: " << e.what() << "\n";
        return kExitRuntime;
    }
}
