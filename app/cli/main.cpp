// engram-cli: the headless front end of engram_core. Links only core (no Qt), so it
// builds on a GPU server that has LibTorch but no desktop libraries.

#include "core/edit/editor.h"
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
            [--patch FILE]              apply a patch (from 'edit') first
  stats     --model DIR --corpus FILE --layers L1,L2,.. --out FILE
            [--max-docs N]              second moments of the MLP keys (.txt: a document
                                        per line; .jsonl: {"text": ...})
  edit      --model DIR --facts FILE --layers L1,L2,.. --stats FILE --out PATCH
            [--method memit] [--limit N] [--lambda 15000] [--v-lr 0.5] [--v-steps 25]
            [--clamp 0.75] [--seed S]   MEMIT edit of CounterFact-style records (or a list
                                        of {prompt, subject, target_new}) saved as a patch

Common options:
  --device cpu|cuda[:N]   where the model runs (default cpu)
  --dtype fp32|bf16|fp16  weight type (default fp32)
  --threads N             CPU threads (default: all cores)
  --help, -h              this text
  --version               print the version

Exit codes: 0 ok, 2 usage error, 3 unreadable or unsupported input, 4 runtime failure.
Example (the embedded demo): engram-cli stats --model resources/demo/model --corpus
resources/demo/corpus.txt --layers 0,1,2 --max-docs 3000 --out /tmp/demo-stats.safetensors
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

int cmdStats(const Args &args)
{
    const auto session = engram::ModelSession::open(requireValue(args, "--model"), loadOptions(args));
    const auto layers = parseLayers(args);
    int lastTenth = -1;
    const auto summary = engram::computeStatisticsFile(*session, requireValue(args, "--corpus"), layers,
        toInt(args, "--max-docs", 0, 0, 1L << 40), requireValue(args, "--out"), [&](int64_t done, int64_t total) {
            const int tenth = total > 0 ? static_cast<int>(10 * done / total) : 10;
            if (tenth != lastTenth) {
                std::cerr << "stats: " << done << "/" << total << " documents\n";
                lastTenth = tenth;
            }
            return true;
        });
    std::cout << "statistics for layers";
    for (int l : summary.layers)
        std::cout << " " << l;
    std::cout << ": " << summary.documents << " documents, " << summary.tokensPerLayer << " tokens, " << summary.seconds
              << " s -> " << requireValue(args, "--out") << "\n";
    return kExitOk;
}

int cmdEdit(const Args &args)
{
    const std::string method = args.value("--method").value_or("memit");
    if (method != "memit")
        throw UsageError {"method '" + method + "' is not available yet (available: memit)"};
    engram::MemitParams p;
    p.layers = parseLayers(args);
    p.lambda = toDouble(args, "--lambda", p.lambda);
    p.vLr = toDouble(args, "--v-lr", p.vLr);
    p.vSteps = static_cast<int>(toInt(args, "--v-steps", p.vSteps, 1, 10000));
    p.clampNormFactor = toDouble(args, "--clamp", p.clampNormFactor);
    p.seed = static_cast<uint64_t>(toInt(args, "--seed", 0, 0, std::numeric_limits<long>::max()));
    const auto requests
        = engram::readEditRequests(requireValue(args, "--facts"), toInt(args, "--limit", 0, 0, 1L << 40));
    auto session = engram::ModelSession::open(requireValue(args, "--model"), loadOptions(args));
    const std::string out = requireValue(args, "--out");
    const auto s = engram::editWithMemit(*session, requests, p, requireValue(args, "--stats"), out);
    std::cout << "MEMIT: " << requests.size() << " edits in " << s.seconds << " s, mean target probability "
              << s.meanTargetProbability << "\n";
    for (std::size_t i = 0; i < s.layers.size(); ++i)
        std::cout << "  layer " << s.layers[i] << ": |dW|/|W| = " << s.relativeNorms[i] << ", residual before "
                  << s.residualBefore[i] << "\n";
    std::cout << "  residual after " << s.residualAfter << "\npatch written to " << out << "\n";
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
    if (const auto patch = args.value("--patch"))
        engram::applyPatchFile(*session, *patch);
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
        if (args.command == "stats")
            return cmdStats(args);
        if (args.command == "edit")
            return cmdEdit(args);
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
