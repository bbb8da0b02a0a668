// bench_model: load time and forward-pass throughput of a random checkpoint of a given size.
//
// Writes a random-weight checkpoint in Hugging Face layout to a temporary directory, then
// measures (1) Transformer::load (mmap + validation), (2) batched forward passes without
// gradients, and (3) cached greedy generation. Fixed workload; reports medians.
//
//   bench_model [--family gpt2|gptj|gpt_neox|llama] [--hidden 768] [--layers 12] [--heads 12]
//               [--vocab 50257] [--batch 8] [--tokens 128] [--repeats 5] [--threads N]
//               [--dtype fp32|bf16] [--new-tokens 32] [--device cpu|cuda]

#include "core/model/generator.h"
#include "core/model/modelinfo.h"
#include "core/model/transformer.h"
#include "devkit/randomcheckpoint.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using namespace engram;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::time_point a, Clock::time_point b)
{
    return std::chrono::duration<double>(b - a).count();
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

} // namespace

int run(int argc, char **argv)
{
    std::map<std::string, std::string> opt = {{"--family", "gpt2"}, {"--hidden", "768"}, {"--layers", "12"},
        {"--heads", "12"}, {"--vocab", "50257"}, {"--batch", "8"}, {"--tokens", "128"}, {"--repeats", "5"},
        {"--threads", "0"}, {"--dtype", "fp32"}, {"--new-tokens", "32"}, {"--device", "cpu"}};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!opt.count(argv[i])) {
            std::fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
        opt[argv[i]] = argv[i + 1];
    }
    const auto num = [&](const char *k) { return std::atoi(opt[k].c_str()); };
    configureThreads(num("--threads"));
    c10::GradMode::set_enabled(false);

    const auto family = familyFromModelType(opt["--family"]);
    if (!family) {
        std::fprintf(stderr, "unknown family %s\n", opt["--family"].c_str());
        return 2;
    }
    ModelConfig config = tinyConfig(*family, num("--vocab"), num("--hidden"), num("--layers"), num("--heads"));
    config.maxPositions = std::max(config.maxPositions, num("--tokens") + num("--new-tokens") + 32);
    // POSIX calls for the scratch directory: with pip's LibTorch 2.x, std::filesystem::remove_all
    // binds to libtorch.so's own copy and crashes (seen on the GPU machine, 2026-11-26).
    std::string pattern = (std::filesystem::temp_directory_path() / "engram-bench-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) {
        std::fprintf(stderr, "bench_model: cannot create a temporary directory\n");
        return 1;
    }
    const std::filesystem::path dir = pattern;

    auto t0 = Clock::now();
    writeRandomCheckpoint(config, dir, /*seed=*/1);
    auto t1 = Clock::now();
    const double writeS = seconds(t0, t1);

    std::vector<double> loads;
    std::unique_ptr<Transformer> model;
    for (int r = 0; r < 3; ++r) {
        model.reset();
        t0 = Clock::now();
        model = Transformer::load(dir, LoadOptions {opt["--device"], opt["--dtype"]});
        loads.push_back(seconds(t0, Clock::now()));
    }
    const int B = num("--batch"), T = num("--tokens");
    const at::Tensor ids = at::randint(0, config.vocabSize, {B, T}, at::kLong);
    // .item() on the result waits for the device, so GPU timings include the kernels.
    auto sync = [](const ForwardOutput &out) { return out.logits.sum().item<double>(); };
    sync(model->forward(ids)); // warm-up
    std::vector<double> fwd;
    for (int r = 0; r < num("--repeats"); ++r) {
        t0 = Clock::now();
        sync(model->forward(ids));
        fwd.push_back(seconds(t0, Clock::now()));
    }
    GenerationParams gp;
    gp.maxNewTokens = num("--new-tokens");
    std::vector<int64_t> prompt(16, 1);
    t0 = Clock::now();
    generate(*model, prompt, gp);
    const double genS = seconds(t0, Clock::now());

    uint64_t bytes = 0;
    for (const char *name : {"config.json", "model.safetensors"}) {
        struct stat st {
        };
        const std::string file = (dir / name).string();
        if (::stat(file.c_str(), &st) == 0)
            bytes += static_cast<uint64_t>(st.st_size);
        ::unlink(file.c_str());
    }
    ::rmdir(dir.c_str());

    const double fwdS = median(fwd);
    std::printf("bench_model: %s d=%d layers=%d heads=%d vocab=%d params=%.1fM dtype=%s device=%s threads=%d\n",
        opt["--family"].c_str(), config.hiddenSize, config.numLayers, config.numHeads, config.vocabSize,
        config.parameterCount() / 1e6, opt["--dtype"].c_str(), opt["--device"].c_str(), runtimeInfo().threads);
    std::printf("  checkpoint      %.1f MiB written in %.2f s\n", bytes / 1048576.0, writeS);
    std::printf(
        "  load            %.2f ms (median of 3; weights memory-mapped, headers validated)\n", 1000 * median(loads));
    std::printf("  forward         batch %d x %d tokens: %.3f s -> %.0f tokens/s (median of %zu)\n", B, T, fwdS,
        B * T / fwdS, fwd.size());
    std::printf("  generate        %d new tokens, KV cache: %.3f s -> %.1f tokens/s\n", gp.maxNewTokens, genS,
        gp.maxNewTokens / genS);
    return 0;
}

int main(int argc, char **argv)
{
    try {
        return run(argc, argv);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_model: %s\n", e.what());
        return 1;
    }
}
