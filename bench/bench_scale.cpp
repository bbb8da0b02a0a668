// bench_scale: MEMIT on a random checkpoint of a real model's shape — time per phase and peak
// memory (random weights are enough for both; the edit's quality is not measured).
//
//   bench_scale [--family gpt2|gptj|gpt_neox|llama] [--hidden 1024] [--layers 24] [--heads 16]
//               [--vocab 50257] [--tokenizer DIR] [--records FILE] [--edits 100]
//               [--edit-layers 3,4,5,6,7] [--stats-tokens 100000] [--steps 20] [--dtype fp32]
//               [--device cpu|cuda] [--threads 0] [--target-pass suffix|full]
//
// Defaults: a GPT-2-medium-shaped checkpoint (355M parameters), the GPT-2 tokenizer of the
// fixtures (--tokenizer, default $ENGRAM_FIXTURES/fake-gpt2-hf), the demo's CounterFact-format
// records (--records) and statistics over the demo corpus repeated up to --stats-tokens
// tokens per layer. Peak memory: the process's maximum resident set size, and on CUDA the
// allocator's peak.

#include "benchmain.h"

#include "core/data/datasets.h"
#include "core/edit/covariance.h"
#include "core/edit/memit.h"
#include "core/model/modelinfo.h"
#include "core/model/transformer.h"
#include "core/text/tokenizer.h"
#include "devkit/randomcheckpoint.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <unistd.h>

using namespace engram;
using engram::bench::readOptions;
using engram::bench::secondsSince;
using Clock = std::chrono::steady_clock;

namespace {

double peakRssGiB()
{
    rusage u {};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) / (1024.0 * 1024.0);
}

std::string fixturesDir()
{
    const char *env = std::getenv("ENGRAM_FIXTURES");
    return env ? env : ENGRAM_SOURCE_DIR "/../shared/fixtures";
}

int run(int argc, char **argv)
{
    std::map<std::string, std::string> opt = {{"--family", "gpt2"}, {"--hidden", "1024"}, {"--layers", "24"},
        {"--heads", "16"}, {"--vocab", "50257"}, {"--tokenizer", fixturesDir() + "/fake-gpt2-hf"},
        {"--records", ENGRAM_SOURCE_DIR "/resources/demo/counterfact.json"}, {"--edits", "100"},
        {"--edit-layers", "3,4,5,6,7"}, {"--stats-tokens", "100000"}, {"--steps", "20"}, {"--dtype", "fp32"},
        {"--device", "cpu"}, {"--threads", "0"}, {"--target-pass", "suffix"}};
    readOptions(argc, argv, opt);
    const auto num = [&](const char *k) { return std::stoi(opt[k]); };
    configureThreads(num("--threads"));
    const auto family = familyFromModelType(opt["--family"]);
    if (!family)
        throw std::runtime_error("unknown family " + opt["--family"]);
    const ModelConfig config = tinyConfig(*family, num("--vocab"), num("--hidden"), num("--layers"), num("--heads"));
    std::string pattern = (std::filesystem::temp_directory_path() / "engram-scale-XXXXXX").string();
    if (!::mkdtemp(pattern.data()))
        throw std::runtime_error("cannot create a temporary directory");
    const std::filesystem::path dir = pattern;
    auto t0 = Clock::now();
    // Small weights keep a deep random stack's activations finite; the timings do not care.
    writeRandomCheckpoint(config, dir, /*seed=*/1, /*shards=*/1, /*matrixStd=*/0.02);
    const double writeS = secondsSince(t0);
    t0 = Clock::now();
    auto model = Transformer::load(dir, LoadOptions {opt["--device"], opt["--dtype"]});
    const double loadS = secondsSince(t0);
    const Tokenizer tok = Tokenizer::fromDirectory(opt["--tokenizer"]);
    if (tok.vocabSize() > config.vocabSize)
        throw std::runtime_error("the tokenizer's vocabulary is larger than --vocab");

    MemitParams p;
    for (std::stringstream ss(opt["--edit-layers"]); ss.good();) {
        std::string item;
        std::getline(ss, item, ',');
        p.layers.push_back(std::stoi(item));
    }
    p.vSteps = num("--steps");
    p.lambda = 15000;
    p.vLr = 0.5;
    p.fullForwardTargets = opt["--target-pass"] == "full";

    // Statistics: the demo corpus, repeated until every layer has seen --stats-tokens tokens.
    const auto corpus = readCorpus(ENGRAM_SOURCE_DIR "/resources/demo/corpus.txt");
    std::vector<std::string> documents;
    int64_t tokens = 0;
    for (std::size_t i = 0; tokens < std::stoll(opt["--stats-tokens"]); i = (i + 1) % corpus.size()) {
        documents.push_back(corpus[i]);
        tokens += static_cast<int64_t>(tok.encode(corpus[i]).size());
    }
    CovarianceParams cp;
    cp.layers = p.layers;
    t0 = Clock::now();
    const auto stats = collectSecondMoments(*model, tok, documents, cp);
    const double statsS = secondsSince(t0);
    const double rssStats = peakRssGiB();

    const Dataset data = importDataset(opt["--records"], num("--edits"));
    std::vector<EditRequest> requests;
    for (const EvalRecord &r : data.records)
        requests.push_back({r.promptTemplate, r.subject, r.targetNew, {}, r.relationId});
    if (static_cast<int>(requests.size()) < num("--edits"))
        throw std::runtime_error("--records holds fewer than --edits records");
    t0 = Clock::now();
    const MemitResult r = applyMemit(*model, tok, requests, p, stats);
    const double editS = secondsSince(t0);

    for (const auto &entry : std::filesystem::directory_iterator(dir))
        ::unlink(entry.path().c_str());
    ::rmdir(dir.c_str());

    std::printf("bench_scale: %s d=%d layers=%d vocab=%d params=%.0fM dtype=%s device=%s threads=%d\n",
        opt["--family"].c_str(), config.hiddenSize, config.numLayers, config.vocabSize,
        config.parameterCount() / 1e6, opt["--dtype"].c_str(), opt["--device"].c_str(), runtimeInfo().threads);
    std::printf("  checkpoint      written %.1f s, loaded %.2f s\n", writeS, loadS);
    std::printf("  statistics      %zu layers x %lld tokens: %.1f s (%.0f tokens/s), peak RSS %.2f GiB\n",
        p.layers.size(), static_cast<long long>(stats.front().count), statsS, stats.front().count / statsS,
        rssStats);
    std::printf("  MEMIT           %zu edits, layers %s, %d steps, %s pass: %.1f s, peak RSS %.2f GiB\n",
        requests.size(), opt["--edit-layers"].c_str(), p.vSteps, opt["--target-pass"].c_str(), editS, peakRssGiB());
    std::printf("    templates %.1f s, targets %.1f s, keys and outputs %.1f s, solve %.1f s, write %.1f s, "
                "keys after %.1f s\n",
        r.seconds.templates, r.seconds.targets, r.seconds.keys, r.seconds.solve, r.seconds.write,
        r.seconds.keysAfter);
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    return engram::bench::guardedMain("bench_scale", [&] { return run(argc, argv); });
}
