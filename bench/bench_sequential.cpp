// bench_sequential: edits that accumulate. K runs of M edits on disjoint demo records, each run
// applied on top of the last, for several methods on the same records; after every run the
// measures are taken over all edits so far (issue 19):
//   ES / PS / NS over every record edited so far (CounterFact definitions, memit-spec §8.2);
//   retention: greedy recall of facts of subjects no run of the benchmark edits;
//   other facts: recall of the edited subjects' facts of relations that were not edited;
//   fluency: mean generation entropy (GE) of top-5 samples from a fixed prompt set;
//   per edited layer, ‖W‖ and the cumulative ‖W − W₀‖ / ‖W₀‖; seconds per run.
//
//   bench_sequential [--runs 10] [--edits 20] [--first 0] [--methods memit,memit-cache,alphaedit]
//                    [--threshold X] [--alpha X] [--lambda X] [--steps N] [--stats-docs 3000]
//                    [--retention 1000] [--fluency-prompts 12] [--csv FILE] [--threads 0]
//                    [--preserve-templates 1,2,3] [--protect-weight μ]
//
// Methods: memit (today's behaviour, the baseline), memit-cache (MEMIT with earlier runs' keys
// as memories, C_p), alphaedit (null-space projection with C_p), alphaedit-nocache. Settings not
// given are the demo preset's (MEMIT: layers 0-3, λ 100, lr 4, 40 steps, clamp 0.75; AlphaEdit:
// the preset's threshold and α). Every method starts from the unedited checkpoint.
// --preserve-templates gives each edit its subject's other relations, asked with those demo
// templates, as preservation prompts (Engram's extension; "other facts" is measured with
// template 0, which the edit is not told about). --protect-weight μ > 0 also hands every second
// subject outside the edits to the solve as protected keys (template 1); retention is then
// measured on the other subjects only.

#include "demoscores.h"

#include "core/edit/covariance.h"
#include "core/edit/editor.h"
#include "core/edit/memit.h"
#include "core/edit/presets.h"
#include "core/eval/counterfact.h"
#include "core/eval/recall.h"
#include "core/model/generator.h"
#include "core/model/modelinfo.h"
#include "core/model/transformer.h"
#include "core/text/subjecttokens.h"
#include "core/text/tokenizer.h"
#include "devkit/demoworld.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

using namespace engram;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::string> splitList(const std::string &text)
{
    std::vector<std::string> out;
    for (std::stringstream ss(text); ss.good();) {
        std::string item;
        std::getline(ss, item, ',');
        if (!item.empty())
            out.push_back(item);
    }
    return out;
}

struct Row {
    std::string method;
    int run = 0;
    int editsSoFar = 0;
    DemoScores scores;
    double retention = 0, otherFacts = 0, fluency = 0, seconds = 0, residual = 0;
    std::vector<double> weightNorm, cumulativeRelative;
    std::vector<int64_t> nullSpaceDims;
};

} // namespace

int run(int argc, char **argv)
{
    std::map<std::string, std::string> opt = {{"--runs", "10"}, {"--edits", "20"}, {"--first", "0"},
        {"--methods", "memit,memit-cache,alphaedit"}, {"--stats-docs", "3000"}, {"--retention", "1000"},
        {"--fluency-prompts", "12"}, {"--threads", "0"}, {"--csv", ""},
        {"--demo", ENGRAM_SOURCE_DIR "/resources/demo"}};
    const std::set<std::string> options = {"--runs", "--edits", "--first", "--methods", "--threshold", "--alpha",
        "--lambda", "--steps", "--stats-docs", "--retention", "--fluency-prompts", "--csv", "--threads",
        "--preserve-templates", "--protect-weight", "--layers", "--demo"};
    for (int i = 1; i < argc; i += 2) {
        const std::string name = argv[i];
        if (!options.count(name) || i + 1 >= argc) {
            std::fprintf(stderr, "%s\nusage: see the header of bench/bench_sequential.cpp; options:", 
                options.count(name) ? ("option " + name + " needs a value").c_str() : ("unknown option " + name).c_str());
            for (const auto &k : options)
                std::fprintf(stderr, " %s", k.c_str());
            std::fprintf(stderr, "\n");
            return 2;
        }
        opt[name] = argv[i + 1];
    }
    configureThreads(std::stoi(opt["--threads"]));
    const std::filesystem::path demo = opt["--demo"];
    const Tokenizer tok = Tokenizer::fromDirectory(demo / "model");
    const int runs = std::stoi(opt["--runs"]), edits = std::stoi(opt["--edits"]), first = std::stoi(opt["--first"]);

    std::ifstream in(demo / "counterfact.json");
    const auto all = nlohmann::json::parse(in);
    if (first < 0 || first + runs * edits > static_cast<int>(all.size()))
        throw std::runtime_error("--first/--runs/--edits select records outside the evaluation set");

    // The facts measured: subjects no run edits (retention) and the edited subjects' facts of
    // relations no run edits (other facts), asked with each relation's first template.
    const DemoWorld world = DemoWorld::load(demo / "world.json");
    std::set<std::pair<std::string, std::string>> editedPairs;
    std::map<std::string, int> runOfSubject;
    for (int i = first; i < first + runs * edits; ++i) {
        const auto &rw = all[i]["requested_rewrite"];
        editedPairs.insert({rw["subject"].get<std::string>(), rw["relation_id"].get<std::string>()});
        runOfSubject[rw["subject"].get<std::string>()] = (i - first) / edits;
    }
    std::vector<int> preserveTemplates;
    for (const auto &t : splitList(opt.count("--preserve-templates") ? opt["--preserve-templates"] : ""))
        preserveTemplates.push_back(std::stoi(t));
    const double protectWeight = opt.count("--protect-weight") ? std::stod(opt["--protect-weight"]) : 0.0;
    std::set<std::string> protectedSubjects;
    if (protectWeight > 0) {
        bool take = true;
        for (const auto &s : world.subjects)
            if (!runOfSubject.count(s)) {
                if (take)
                    protectedSubjects.insert(s);
                take = !take;
            }
    }
    std::vector<FactPrompt> outside;
    std::vector<std::pair<int, FactPrompt>> sameSubject; // (run that edits the subject, fact)
    std::vector<FactToKeep> known; // what the edits are told to keep
    for (const auto &f : world.facts) {
        if (editedPairs.count({f.subject, f.relation}))
            continue;
        const auto &templates = world.relations.at(f.relation).templates;
        const FactPrompt fp {templates[0], f.subject, f.object};
        if (const auto it = runOfSubject.find(f.subject); it != runOfSubject.end()) {
            sameSubject.emplace_back(it->second, fp);
            for (int t : preserveTemplates)
                if (t > 0 && t < static_cast<int>(templates.size()))
                    known.push_back({templates[t], f.subject, f.relation});
        } else if (protectedSubjects.count(f.subject)) {
            known.push_back({templates[1], f.subject, f.relation});
        } else if (static_cast<int>(outside.size()) < std::stoi(opt["--retention"])) {
            outside.push_back(fp);
        }
    }
    // Fluency prompts: generation-style openings about subjects outside the edits.
    std::vector<std::string> fluencyPrompts;
    for (std::size_t i = 0; i < outside.size() && static_cast<int>(fluencyPrompts.size()) < std::stoi(opt["--fluency-prompts"]);
         i += std::max<std::size_t>(1, outside.size() / 12))
        fluencyPrompts.push_back(fillTemplate(outside[i].promptTemplate, outside[i].subject));

    auto base = Transformer::load(demo / "model");
    const ModelConfig &mc = base->config();
    const EditPreset preset = editPresetFor(mc.family, mc.numLayers, mc.hiddenSize);
    std::vector<int> layers = preset.memit.layers;
    if (opt.count("--layers")) {
        layers.clear();
        for (const auto &l : splitList(opt["--layers"]))
            layers.push_back(std::stoi(l));
    }
    auto t0 = Clock::now();
    CovarianceParams cp;
    cp.layers = layers;
    cp.maxDocuments = std::stoll(opt["--stats-docs"]);
    const auto stats = collectSecondMoments(*base, tok, readCorpus(demo / "corpus.txt"), cp);
    std::printf("bench_sequential: %d runs x %d edits (records %d-%d), layers", runs, edits, first,
        first + runs * edits - 1);
    for (int l : layers)
        std::printf(" %d", l);
    std::printf("; statistics %lld documents in %.1f s; threads %d\n", static_cast<long long>(cp.maxDocuments),
        std::chrono::duration<double>(Clock::now() - t0).count(), runtimeInfo().threads);
    std::printf("  retention on %zu facts of unedited subjects, other facts of edited subjects: %zu, fluency prompts: %zu\n",
        outside.size(), sameSubject.size(), fluencyPrompts.size());
    for (const auto &s : stats) {
        const auto values = at::linalg_eigvalsh(s.mean());
        std::printf("  layer %d: eigenvalues of C from %.3g to %.3g; below 1e-2: %lld, below 2e-2: %lld, below 1e-1: %lld "
                    "(of %lld)\n",
            s.layer, values.min().item<double>(), values.max().item<double>(), static_cast<long long>((values < 1e-2).sum().item<int64_t>()),
            static_cast<long long>((values < 2e-2).sum().item<int64_t>()), static_cast<long long>((values < 1e-1).sum().item<int64_t>()),
            static_cast<long long>(values.size(0)));
    }

    std::vector<Row> rows;
    const double retentionBase = measureRecall(*base, tok, outside).rate();
    const double fluencyBase = sampledFluency(*base, tok, fluencyPrompts);
    std::vector<FactPrompt> allOthers;
    for (const auto &[editedIn, fp] : sameSubject)
        allOthers.push_back(fp);
    std::printf("  base model: retention %.2f %%, edited subjects' other facts %.2f %%, fluency %.3f\n",
        100 * retentionBase, 100 * measureRecall(*base, tok, allOthers).rate(), fluencyBase);
    std::printf("  preservation prompts from templates [%s], protect weight %g (%zu protected subjects)\n",
        opt.count("--preserve-templates") ? opt["--preserve-templates"].c_str() : "", protectWeight,
        protectedSubjects.size());

    for (const std::string &method : splitList(opt["--methods"])) {
        MemitParams p = method.rfind("alphaedit", 0) == 0 ? preset.alphaEdit : preset.memit;
        p.layers = layers;
        p.preserveEarlierRuns = method == "memit-cache" || method == "alphaedit";
        if (method != "memit" && method != "memit-cache" && method != "alphaedit" && method != "alphaedit-nocache")
            throw std::runtime_error("unknown method " + method);
        const auto setIfGiven = [&](const char *key, auto &field) {
            if (opt.count(key))
                field = static_cast<std::remove_reference_t<decltype(field)>>(std::stod(opt[key]));
        };
        setIfGiven("--lambda", p.lambda);
        setIfGiven("--steps", p.vSteps);
        setIfGiven("--threshold", p.nullSpaceThreshold);
        setIfGiven("--alpha", p.nullSpaceAlpha);
        p.protectWeight = protectWeight;
        p.protect.clear();
        auto model = Transformer::load(demo / "model");
        std::vector<at::Tensor> original;
        for (int l : layers)
            original.push_back(model->parameter(model->mlpOutputWeightName(l)).to(at::kFloat).clone());
        nlohmann::json soFar = nlohmann::json::array();
        for (int r = 0; r < runs; ++r) {
            std::vector<EditRequest> requests;
            for (int i = first + r * edits; i < first + (r + 1) * edits; ++i) {
                const auto &rw = all[i]["requested_rewrite"];
                soFar.push_back(all[i]);
                requests.push_back({rw["prompt"].get<std::string>(), rw["subject"].get<std::string>(),
                    rw["target_new"]["str"].get<std::string>(), {}, rw["relation_id"].get<std::string>()});
            }
            MemitParams q = p;
            attachFactsToKeep(requests, known, protectWeight > 0 ? &q.protect : nullptr);
            const auto start = Clock::now();
            const MemitResult result = applyMemit(*model, tok, requests, q, stats);
            Row row;
            row.method = method;
            row.run = r + 1;
            row.editsSoFar = (r + 1) * edits;
            row.seconds = std::chrono::duration<double>(Clock::now() - start).count();
            row.residual = result.residualAfter;
            row.nullSpaceDims = result.nullSpaceDims;
            if (p.preserveEarlierRuns)
                p.earlierKeys.insert(p.earlierKeys.end(), result.keysAfter.begin(), result.keysAfter.end());
            row.scores = scoreRecords(*model, tok, soFar);
            row.retention = measureRecall(*model, tok, outside).rate() / std::max(1e-9, retentionBase);
            std::vector<FactPrompt> others;
            for (const auto &[editedIn, fp] : sameSubject)
                if (editedIn <= r)
                    others.push_back(fp);
            row.otherFacts = others.empty() ? 0 : measureRecall(*model, tok, others).rate();
            row.fluency = sampledFluency(*model, tok, fluencyPrompts);
            for (std::size_t j = 0; j < layers.size(); ++j) {
                const at::Tensor W = model->parameter(model->mlpOutputWeightName(layers[j])).to(at::kFloat);
                row.weightNorm.push_back(W.norm().item<double>());
                row.cumulativeRelative.push_back((W - original[j]).norm().item<double>() / original[j].norm().item<double>());
            }
            std::printf("  %-16s run %2d (%4d edits): ES %5.1f PS %5.1f NS %5.1f  retention %5.1f %%  other facts %5.1f %%  "
                        "fluency %.3f  max cum |dW|/|W| %.3f  %.1f s",
                method.c_str(), row.run, row.editsSoFar, row.scores.es, row.scores.ps, row.scores.ns,
                100 * row.retention, 100 * row.otherFacts, row.fluency,
                *std::max_element(row.cumulativeRelative.begin(), row.cumulativeRelative.end()), row.seconds);
            if (!row.nullSpaceDims.empty()) {
                std::printf("  null space");
                for (auto d : row.nullSpaceDims)
                    std::printf(" %lld", static_cast<long long>(d));
            }
            std::printf("\n");
            std::fflush(stdout);
            rows.push_back(std::move(row));
        }
    }

    if (!opt["--csv"].empty()) {
        std::ofstream csv(opt["--csv"]);
        csv << "method,run,edits_so_far,es,ps,ns,retention_rel,other_facts,fluency,fluency_base,seconds,residual";
        for (int l : layers)
            csv << ",norm_l" << l << ",cum_rel_l" << l;
        csv << ",null_space_dims\n";
        for (const Row &r : rows) {
            csv << r.method << ',' << r.run << ',' << r.editsSoFar << ',' << r.scores.es << ',' << r.scores.ps << ','
                << r.scores.ns << ',' << r.retention << ',' << r.otherFacts << ',' << r.fluency << ',' << fluencyBase
                << ',' << r.seconds << ',' << r.residual;
            for (std::size_t j = 0; j < layers.size(); ++j)
                csv << ',' << r.weightNorm[j] << ',' << r.cumulativeRelative[j];
            csv << ',';
            for (std::size_t j = 0; j < r.nullSpaceDims.size(); ++j)
                csv << (j ? ";" : "") << r.nullSpaceDims[j];
            csv << '\n';
        }
        std::printf("  written %s\n", opt["--csv"].c_str());
    }
    return 0;
}

int main(int argc, char **argv)
{
    try {
        return run(argc, argv);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "bench_sequential: %s\n", e.what());
        return 1;
    }
}
