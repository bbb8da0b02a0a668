// check_demo: measures the demo model's gates (issue #3) and prints them as a table.
//   check_demo [--demo resources/demo] [--model DIR (default demo/model)] [--pairs 200]
//              [--trace-facts 100] [--threads 0]
// Recall: greedy top-1 of the object on training templates (0-3) and held-out templates
// (4-5, split by whether the subject saw them in training). Storage: subject swap at the
// subject's last token, per layer, over pairs of one relation with different objects.

#include "core/model/modelinfo.h"
#include "core/model/transformer.h"
#include "core/text/subjecttokens.h"
#include "core/text/tokenizer.h"
#include "core/trace/causaltrace.h"
#include "devkit/demoworld.h"
#include "devkit/subjectswap.h"

#include <cstdio>
#include <map>
#include <string>

using namespace engram;

int run(int argc, char **argv)
{
    std::map<std::string, std::string> opt = {{"--demo", "resources/demo"}, {"--model", ""}, {"--pairs", "200"},
        {"--trace-facts", "100"}, {"--threads", "0"}};
    for (int i = 1; i + 1 < argc; i += 2)
        opt[argv[i]] = argv[i + 1];
    configureThreads(std::stoi(opt["--threads"]));
    const std::filesystem::path demo = opt["--demo"];
    const DemoWorld world = DemoWorld::load(demo / "world.json");
    const std::filesystem::path modelDir
        = opt["--model"].empty() ? demo / "model" : std::filesystem::path(opt["--model"]);
    const auto model = Transformer::load(modelDir);
    const Tokenizer tok = Tokenizer::fromDirectory(demo / "model");

    // Question-style templates were trained for half of the subjects ("QA-trained"); the rest
    // learned their facts from biographies only and are asked in phrasings new to them.
    std::printf("recall (greedy top-1 of the object)   QA-trained subjects   other subjects\n");
    for (int t = 0; t < 6; ++t) {
        const auto prompts = world.prompts(t);
        const RecallResult r = measureRecall(*model, tok, prompts);
        int64_t seenOk = 0, seenN = 0, unseenOk = 0, unseenN = 0;
        for (std::size_t i = 0; i < prompts.size(); ++i) {
            const bool seen = world.heldoutTrained.count(prompts[i].subject) != 0;
            (seen ? seenN : unseenN)++;
            (seen ? seenOk : unseenOk) += r.perFact[i];
        }
        std::printf("  template %d (%s)      %6.2f%% (%lld/%lld)   %6.2f%% (%lld/%lld)\n", t,
            t < world.trainTemplates ? "training" : "held out", 100.0 * seenOk / std::max<int64_t>(1, seenN),
            static_cast<long long>(seenOk), static_cast<long long>(seenN),
            100.0 * unseenOk / std::max<int64_t>(1, unseenN), static_cast<long long>(unseenOk),
            static_cast<long long>(unseenN));
    }

    const auto pairs = world.swapPairs(std::stoul(opt["--pairs"]), /*seed=*/7);
    const SwapResult s = measureSubjectSwap(*model, tok, pairs);
    std::printf("subject swap at the subject's last token (%lld pairs): %% flipped to the donor's object\n",
        static_cast<long long>(s.pairs));
    std::printf(
        "  token embedding  flipped %6.2f%%  kept %6.2f%%\n", 100 * s.embeddingFlipRate, 100 * s.embeddingKeptRate);
    for (std::size_t l = 0; l < s.flipRate.size(); ++l)
        std::printf(
            "  block %zu output   flipped %6.2f%%  kept %6.2f%%\n", l, 100 * s.flipRate[l], 100 * s.keptRate[l]);

    // Causal tracing over the first facts (template 0): where is the MLP effect strongest?
    std::vector<TraceRequest> facts;
    for (const FactPrompt &p : world.prompts(0)) {
        if (static_cast<int>(facts.size()) >= std::stoi(opt["--trace-facts"]))
            break;
        facts.push_back({fillTemplate(p.promptTemplate, p.subject), p.subject, p.object});
    }
    AverageParams ap;
    std::vector<std::string> subjects;
    for (const auto &f : facts)
        subjects.push_back(f.subject);
    ap.trace.noise.scale = 3 * subjectEmbeddingStd(*model, tok, subjects);
    ap.trace.window = defaultTraceWindow(model->config().numLayers);
    const AverageEffects a = averageEffects(*model, tok, facts, ap);
    std::printf("causal tracing, %lld facts (%zu skipped), noise 3 sigma = %.4f, window %d: AIE per layer\n",
        static_cast<long long>(a.traced), a.skipped.size(), ap.trace.noise.scale, ap.trace.window);
    for (std::size_t k = 0; k < a.kinds.size(); ++k) {
        std::printf("  %s\n", traceKindName(a.kinds[k]));
        for (int c = 0; c < kTokenCategories; ++c) {
            std::printf("    %-24s", tokenCategoryName(static_cast<TokenCategory>(c)));
            for (const auto &e : a.effects[k][static_cast<std::size_t>(c)])
                std::printf(" %6.3f", e.mean);
            std::printf("\n");
        }
    }
    std::printf("  suggested MEMIT layers (largest MLP-severed gap): %d-%d\n", a.suggestedFirst, a.suggestedLast);
    return 0;
}

int main(int argc, char **argv)
{
    try {
        return run(argc, argv);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "check_demo: %s\n", e.what());
        return 1;
    }
}
