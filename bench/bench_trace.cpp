// bench_trace: time to causally trace one fact (hidden, MLP and attention scans), batched
// versus one restoration cell per forward pass, on the embedded demo model and on a random
// checkpoint of GPT-2-medium size (24 layers, d 1024, 16 heads, vocabulary 50257).
//
//   bench_trace [--model demo|medium|both] [--threads N] [--device cpu|cuda] [--samples 10]
//               [--one-cell yes|no] [--repeats 3]
//
// The medium checkpoint is written to a temporary directory with seeded random weights and
// uses GPT-2's tokenizer from the fixtures (ENGRAM_FIXTURES, default ../shared/fixtures).
// Reports the median wall time of `repeats` full traces and the largest difference between
// the batched and the one-cell scores.

#include "core/model/modelinfo.h"
#include "core/model/transformer.h"
#include "core/text/tokenizer.h"
#include "core/trace/causaltrace.h"
#include "devkit/randomcheckpoint.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <unistd.h>

using namespace engram;
using Clock = std::chrono::steady_clock;

namespace {

struct Timing {
    double seconds = 0;
    TraceResult result;
};

Timing timeTrace(const Transformer &model, const Tokenizer &tok, const TraceRequest &request, TraceParams params,
    bool batched, int repeats)
{
    params.batched = batched;
    std::vector<double> times;
    Timing t;
    for (int i = 0; i < repeats; ++i) {
        const auto a = Clock::now();
        t.result = traceFact(model, tok, request, params);
        times.push_back(std::chrono::duration<double>(Clock::now() - a).count());
    }
    std::sort(times.begin(), times.end());
    t.seconds = times[times.size() / 2];
    return t;
}

void benchOne(const char *label, const Transformer &model, const Tokenizer &tok, const TraceRequest &request,
    int samples, bool oneCell, int repeats)
{
    TraceParams params;
    params.noise.scale = 0.1;
    params.noise.samples = samples;
    params.window = defaultTraceWindow(model.config().numLayers);
    const Timing batched = timeTrace(model, tok, request, params, true, repeats);
    const auto &r = batched.result;
    const std::size_t cells = r.tokenIds.size() * static_cast<std::size_t>(r.layers);
    std::printf("%s: %d layers, d %d, prompt of %zu tokens, %zu cells x 3 kinds x %d samples (window %d)\n", label,
        r.layers, model.config().hiddenSize, r.tokenIds.size(), cells, samples, params.window);
    std::printf(
        "  batched:  %8.3f s per fact (%.1f ms per cell)\n", batched.seconds, 1e3 * batched.seconds / (3.0 * cells));
    if (!oneCell)
        return;
    const Timing single = timeTrace(model, tok, request, params, false, std::max(1, repeats / 3));
    double worst = 0;
    for (std::size_t k = 0; k < r.matrices.size(); ++k)
        for (std::size_t i = 0; i < r.matrices[k].scores.size(); ++i)
            worst = std::max(worst, std::abs(r.matrices[k].scores[i] - single.result.matrices[k].scores[i]));
    std::printf("  one cell: %8.3f s per fact (%.1f ms per cell); batched is %.1fx faster; max |dp| = %.2g\n",
        single.seconds, 1e3 * single.seconds / (3.0 * cells), single.seconds / batched.seconds, worst);
}

} // namespace

int main(int argc, char **argv)
{
    std::map<std::string, std::string> opt = {{"--model", "both"}, {"--threads", "0"}, {"--device", "cpu"},
        {"--samples", "10"}, {"--one-cell", "yes"}, {"--repeats", "3"}};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!opt.count(argv[i])) {
            std::fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
        opt[argv[i]] = argv[i + 1];
    }
    try {
        configureThreads(std::atoi(opt["--threads"].c_str()));
        LoadOptions lo;
        lo.device = opt["--device"];
        const int samples = std::atoi(opt["--samples"].c_str());
        const bool oneCell = opt["--one-cell"] == "yes";
        const int repeats = std::max(1, std::atoi(opt["--repeats"].c_str()));
        const auto rt = runtimeInfo();
        std::printf("bench_trace: LibTorch %s, %d threads, device %s\n", rt.torchVersion.c_str(), rt.threads,
            lo.device.c_str());

        if (opt["--model"] == "demo" || opt["--model"] == "both") {
            const std::filesystem::path demo = std::filesystem::path(ENGRAM_SOURCE_DIR) / "resources/demo/model";
            const auto model = Transformer::load(demo, lo);
            const Tokenizer tok = Tokenizer::fromDirectory(demo);
            benchOne("demo", *model, tok, {"Oscar Koutex was born in", "Oscar Koutex", ""}, samples, oneCell, repeats);
        }
        if (opt["--model"] == "medium" || opt["--model"] == "both") {
            const char *env = std::getenv("ENGRAM_FIXTURES");
            const std::filesystem::path fixtures
                = env && *env ? env : std::filesystem::path(ENGRAM_SOURCE_DIR) / ".." / "shared" / "fixtures";
            const std::filesystem::path tokDir = fixtures / "fake-gpt2-hf";
            if (!std::filesystem::exists(tokDir / "tokenizer.json")) {
                std::printf("medium: skipped (GPT-2 tokenizer not found under %s)\n", fixtures.string().c_str());
                return 0;
            }
            std::string pattern = (std::filesystem::temp_directory_path() / "engram-bench-XXXXXX").string();
            if (!::mkdtemp(pattern.data()))
                throw std::runtime_error("cannot create a temporary directory");
            const std::filesystem::path dir = pattern;
            ModelConfig config = tinyConfig(ModelFamily::Gpt2, 50257, 1024, 24, 16);
            config.maxPositions = 1024;
            writeRandomCheckpoint(config, dir, /*seed=*/1, /*shards=*/1, /*matrixStd=*/0.02);
            const auto model = Transformer::load(dir, lo);
            const Tokenizer tok = Tokenizer::fromDirectory(tokDir);
            // Random weights predict nothing in particular; the trace measures its own answer.
            benchOne("medium (random)", *model, tok,
                {"Vinson Massif is located in the continent of", "Vinson Massif", ""}, samples, oneCell, repeats);
            for (const auto &e : std::filesystem::directory_iterator(dir))
                ::unlink(e.path().c_str());
            ::rmdir(dir.c_str());
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_trace: %s\n", e.what());
        return 1;
    }
    return 0;
}
