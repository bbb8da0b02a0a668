// make_random_checkpoint: writes a seeded random-weight checkpoint in Hugging Face layout.
//   make_random_checkpoint --family gpt2|gptj|gpt_neox|llama --out DIR [--seed S]
//       [--vocab 64] [--hidden 32] [--layers 2] [--heads 4] [--shards 1]

#include "core/util/error.h"
#include "devkit/randomcheckpoint.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

int main(int argc, char **argv)
{
    std::map<std::string, std::string> opt = {{"--family", "gpt2"}, {"--out", ""}, {"--seed", "1"}, {"--vocab", "64"},
        {"--hidden", "32"}, {"--layers", "2"}, {"--heads", "4"}, {"--shards", "1"}};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!opt.count(argv[i])) {
            std::fprintf(stderr, "make_random_checkpoint: unknown option %s\n", argv[i]);
            return 2;
        }
        opt[argv[i]] = argv[i + 1];
    }
    const auto family = engram::familyFromModelType(opt["--family"]);
    if (opt["--out"].empty() || !family) {
        std::fprintf(stderr,
            "usage: make_random_checkpoint --family gpt2|gptj|gpt_neox|llama --out DIR [--seed S] "
            "[--vocab N] [--hidden N] [--layers N] [--heads N] [--shards N]\n");
        return 2;
    }
    const auto n = [&](const char *k) { return std::atoi(opt[k].c_str()); };
    try {
        const auto config = engram::tinyConfig(*family, n("--vocab"), n("--hidden"), n("--layers"), n("--heads"));
        engram::writeRandomCheckpoint(
            config, opt["--out"], std::strtoull(opt["--seed"].c_str(), nullptr, 10), n("--shards"));
    } catch (const std::exception &e) {
        std::fprintf(stderr, "make_random_checkpoint: %s\n", e.what());
        return 1;
    }
    return 0;
}
