// bench_memit: editing methods on the embedded demo model — wall time, peak memory and edit
// quality for a batch of evaluation records; for MEMIT also the target optimisation batched
// vs one fact at a time in the same run.
//
//   bench_memit [--method memit|rome|r-rome|ftw] [--edits 100] [--first 0] [--layers L1,L2] [--lambda X]
//               [--steps N] [--clamp X] [--lr X] [--stats-docs 3000] [--serial 0|1]
//               [--compare-serial 0|1] [--ft-lr 5e-4] [--ft-constraint 5e-4] [--ft-steps 25]
//               [--threads 0] [--retention 1000] [--device cpu|cuda]
//               [--preserve-templates 1,2,3] [--preserve-factor 1] [--wd 0.5]
//               [--protect 0|1] [--protect-weight μ] [--target-pass suffix|full] [--compare-paths 0|1]
//               [--chunk-rows 0 (the device default)]
//
// --target-pass full runs every optimisation step through the whole model (the earlier path);
// --compare-paths 1 first edits a fresh copy as the edit ran before issue 20 (full pass, chunks of
// 256 rows) and prints both phase breakdowns and how far the two ΔW differ.
// --first K edits records K .. K+edits-1 of the evaluation set (default the first ones).
// --layers, --lambda, --steps, --clamp, --lr and --protect-weight default to the model's MEMIT
// preset (for the demo: layers 0-3, λ 100, 40 steps, clamp 0.75, lr 4, μ 0.03).
// ROME and FT-W edit the first of --layers; ROME applies the records one after another.
// --preserve-templates adds, per edit, the edited subject's other relations in those demo
// templates as preservation prompts (through attachFactsToKeep, at most 8 per edit); retention is measured
// with template 0. --protect 1 gives every second subject outside the edits (template 1, all
// its facts) to MemitParams::protect and measures retention on the other subjects only.
// Peak memory is the process's maximum resident set size (getrusage) after each phase.
//
// Scores (CounterFact definitions, memit-spec §8.2, on the demo's records): efficacy = share of
// rewrite prompts where p(target_new) > p(target_true) (mean-token NLL), paraphrase the same on
// the paraphrase prompts, neighborhood = share of neighborhood prompts where p(true) > p(new);
// retention = greedy top-1 recall of facts outside the edited (subject, relation) pairs.

#include "demoscores.h"

#include "benchmain.h"

#include "core/edit/covariance.h"
#include "core/edit/editor.h"
#include "core/edit/finetune.h"
#include "core/edit/memit.h"
#include "core/edit/presets.h"
#include "core/edit/rome.h"
#include "core/eval/recall.h"
#include "core/model/batching.h"
#include "core/model/modelinfo.h"
#include "core/model/transformer.h"
#include "core/text/subjecttokens.h"
#include "core/text/tokenizer.h"
#include "devkit/demoworld.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <sys/resource.h>
#include <type_traits>

using namespace engram;
using engram::bench::readOptions;
using Clock = std::chrono::steady_clock;

namespace {

double peakRssMiB()
{
    rusage u {};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) / 1024.0; // kilobytes on Linux
}

double seconds(Clock::time_point a)
{
    return std::chrono::duration<double>(Clock::now() - a).count();
}

} // namespace

int run(int argc, char **argv)
{
    std::map<std::string, std::string> opt
        = {{"--method", "memit"}, {"--edits", "100"}, {"--first", "0"}, {"--stats-docs", "3000"}, {"--serial", "0"},
            {"--compare-serial", "0"}, {"--ft-lr", "5e-4"}, {"--ft-constraint", "5e-4"}, {"--ft-steps", "25"},
            {"--threads", "0"}, {"--retention", "1000"}, {"--preserve-templates", ""}, {"--preserve-factor", "1"},
            {"--device", "cpu"}, {"--wd", "0.5"}, {"--protect", "0"}, {"--target-pass", "suffix"},
            {"--compare-paths", "0"}, {"--chunk-rows", "0"}, {"--demo", ENGRAM_SOURCE_DIR "/resources/demo"}};
    const std::set<std::string> optional = {"--layers", "--lambda", "--steps", "--lr", "--clamp", "--protect-weight"};
    readOptions(argc, argv, opt, optional);
    if (opt["--target-pass"] != "suffix" && opt["--target-pass"] != "full")
        throw std::runtime_error("--target-pass is suffix or full");
    configureThreads(std::stoi(opt["--threads"]));
    const std::filesystem::path demo = opt["--demo"];
    LoadOptions lo;
    lo.device = opt["--device"];
    auto model = Transformer::load(demo / "model", lo);
    const Tokenizer tok = Tokenizer::fromDirectory(demo / "model");
    // MEMIT settings not given keep the model's preset (the demo's measured values).
    const ModelConfig &mc = model->config();
    MemitParams p = editPresetFor(mc.family, mc.numLayers, mc.hiddenSize).memit;
    if (opt.count("--layers")) {
        p.layers.clear();
        for (std::stringstream ss(opt["--layers"]); ss.good();) {
            std::string item;
            std::getline(ss, item, ',');
            p.layers.push_back(std::stoi(item));
        }
    }
    const auto setIfGiven = [&](const char *key, auto &field) {
        if (opt.count(key))
            field = static_cast<std::remove_reference_t<decltype(field)>>(std::stod(opt[key]));
    };
    setIfGiven("--lambda", p.lambda);
    setIfGiven("--steps", p.vSteps);
    setIfGiven("--lr", p.vLr);
    setIfGiven("--clamp", p.clampNormFactor);
    setIfGiven("--protect-weight", p.protectWeight);
    std::string layerList;
    for (int l : p.layers)
        layerList += (layerList.empty() ? "" : ",") + std::to_string(l);
    p.batchedTargets = opt["--serial"] != "1";
    p.fullForwardTargets = opt["--target-pass"] == "full";
    p.targetChunkRows = std::stoi(opt["--chunk-rows"]);
    p.preserveFactor = std::stod(opt["--preserve-factor"]);
    p.vWeightDecay = std::stod(opt["--wd"]);
    std::vector<int> preserveTemplates;
    for (std::stringstream ss(opt["--preserve-templates"]); ss.good();) {
        std::string item;
        std::getline(ss, item, ',');
        if (!item.empty())
            preserveTemplates.push_back(std::stoi(item));
    }

    auto t0 = Clock::now();
    CovarianceParams cp;
    cp.layers = p.layers;
    cp.maxDocuments = std::stoll(opt["--stats-docs"]);
    const auto stats = collectSecondMoments(*model, tok, readCorpus(demo / "corpus.txt"), cp);
    const double statsS = seconds(t0);

    std::ifstream in(demo / "counterfact.json");
    const auto all = nlohmann::json::parse(in);
    const int edits = std::stoi(opt["--edits"]);
    nlohmann::json records = nlohmann::json::array();
    std::vector<EditRequest> requests;
    std::set<std::pair<std::string, std::string>> edited;
    const int first = std::stoi(opt["--first"]);
    if (first < 0 || first + edits > static_cast<int>(all.size()))
        throw std::runtime_error("--first/--edits select records outside the evaluation set");
    for (int i = first; i < first + edits; ++i) {
        const auto &rw = all[i]["requested_rewrite"];
        records.push_back(all[i]);
        requests.push_back({rw["prompt"].get<std::string>(), rw["subject"].get<std::string>(),
            rw["target_new"]["str"].get<std::string>(), {}, rw["relation_id"].get<std::string>()});
        edited.insert({rw["subject"].get<std::string>(), rw["relation_id"].get<std::string>()});
    }
    // Retention: facts of the demo world outside the edited (subject, relation) pairs.
    const DemoWorld world = DemoWorld::load(demo / "world.json");
    std::vector<FactPrompt> keepOutside, keepSameSubject;
    std::set<std::string> editedSubjects, protectedSubjects;
    for (const auto &e : edited)
        editedSubjects.insert(e.first);
    if (opt["--protect"] == "1") {
        bool take = true;
        for (const auto &s : world.subjects)
            if (!editedSubjects.count(s)) {
                if (take)
                    protectedSubjects.insert(s);
                take = !take;
            }
    }
    // Facts to keep, handed to the product's attachFactsToKeep: the edited subjects' other
    // relations in the chosen templates (preservation prompts; retention is measured with
    // template 0) and the protected subjects' facts in template 1 (protected keys).
    std::vector<FactToKeep> known;
    for (const auto &f : world.facts) {
        if (edited.count({f.subject, f.relation}))
            continue;
        const auto &templates = world.relations.at(f.relation).templates;
        FactPrompt fp {templates[0], f.subject, f.object};
        if (editedSubjects.count(f.subject)) {
            keepSameSubject.push_back(fp);
            for (int t : preserveTemplates)
                known.push_back({templates.at(t), f.subject, f.relation});
        } else if (protectedSubjects.count(f.subject)) {
            known.push_back({templates[1], f.subject, f.relation});
        } else if (static_cast<int>(keepOutside.size()) < std::stoi(opt["--retention"])) {
            keepOutside.push_back(fp);
        }
    }
    attachFactsToKeep(requests, known, &p.protect);
    const DemoScores pre = scoreRecords(*model, tok, records);
    const double recallOutsidePre = measureRecall(*model, tok, keepOutside).rate();
    const double recallSubjectPre = measureRecall(*model, tok, keepSameSubject).rate();

    const std::string method = opt["--method"];
    const double rssBefore = peakRssMiB();
    double targetsBatchedS = -1, targetsSerialS = -1;
    if (method == "memit" && opt["--compare-serial"] == "1") {
        // The §3 optimisation alone, both ways, on the unedited model.
        const auto contexts = generateContextTemplates(*model, tok, p.seed);
        MemitParams q = p;
        q.batchedTargets = true;
        auto t1 = Clock::now();
        computeTargets(*model, tok, requests, q, contexts);
        targetsBatchedS = seconds(t1);
        q.batchedTargets = false;
        t1 = Clock::now();
        computeTargets(*model, tok, requests, q, contexts);
        targetsSerialS = seconds(t1);
    }
    // The path as it landed before issue 20 (every step through the whole model, chunks of 256
    // rows) on a fresh copy, for the table.
    MemitResult fullPass;
    double fullPassS = -1;
    if (method == "memit" && opt["--compare-paths"] == "1") {
        const auto copy = Transformer::load(demo / "model", lo);
        MemitParams q = p;
        q.fullForwardTargets = true;
        q.targetChunkRows = 256;
        const auto t1 = Clock::now();
        fullPass = applyMemit(*copy, tok, requests, q, stats);
        fullPassS = seconds(t1);
    }
    t0 = Clock::now();
    std::vector<LayerUpdate> updates;
    double meanProb = 0, residualAfter = -1;
    MemitResult::PhaseSeconds phases;
    std::string targetStrategy;
    int chunkRows = 0;
    if (method == "memit") {
        const MemitResult r = applyMemit(*model, tok, requests, p, stats);
        updates = r.updates;
        phases = r.seconds;
        targetStrategy = r.targets.strategy;
        chunkRows = r.targets.chunkRows;
        for (double x : r.targets.targetProb)
            meanProb += x / r.targets.targetProb.size();
        residualAfter = r.residualAfter;
    } else if (method == "rome" || method == "r-rome") {
        RomeParams rp;
        rp.layer = p.layers.front();
        rp.vLr = p.vLr;
        rp.vSteps = p.vSteps;
        rp.clampNormFactor = p.clampNormFactor;
        rp.consistentKey = method == "r-rome";
        rp.preserveFactor = p.preserveFactor;
        rp.vWeightDecay = p.vWeightDecay;
        const RomeResult r = applyRome(*model, tok, requests, rp, stats);
        updates = {r.update};
        for (const auto &st : r.steps)
            meanProb += st.targetProbability / r.steps.size();
    } else if (method == "ftw") {
        FineTuneParams fp;
        fp.layer = p.layers.front();
        fp.lr = std::stod(opt["--ft-lr"]);
        fp.normConstraint = std::stod(opt["--ft-constraint"]);
        fp.steps = std::stoi(opt["--ft-steps"]);
        const FineTuneResult r = applyFineTune(*model, tok, requests, fp);
        updates = {r.update};
        meanProb = std::exp(-r.finalLoss);
    } else {
        throw std::runtime_error("unknown method " + method);
    }
    const double editS = seconds(t0);
    const double rssAfter = peakRssMiB();
    const DemoScores post = scoreRecords(*model, tok, records);
    const double recallOutsidePost = measureRecall(*model, tok, keepOutside).rate();
    const double recallSubjectPost = measureRecall(*model, tok, keepSameSubject).rate();

    std::printf("bench_memit: %s, %d edits, layers %s, lambda %g, %d steps, lr %g, clamp %g, %s targets, "
                "preserve templates [%s] x %g, wd %g, %zu protected keys x %g, threads %d\n",
        method.c_str(), edits, layerList.c_str(), p.lambda, p.vSteps, p.vLr, p.clampNormFactor,
        p.batchedTargets ? "batched" : "serial", opt["--preserve-templates"].c_str(), p.preserveFactor, p.vWeightDecay,
        p.protect.size(), p.protectWeight, runtimeInfo().threads);
    std::printf("  statistics      %lld documents, %lld tokens per layer: %.1f s (device %s)\n",
        static_cast<long long>(cp.maxDocuments), static_cast<long long>(stats[0].count), statsS,
        opt["--device"].c_str());
    std::printf("  edit            %.1f s (mean target probability after optimisation %.3f)\n", editS, meanProb);
    std::printf("  peak RSS        %.0f MiB before the edit, %.0f MiB after\n", rssBefore, rssAfter);
    if (targetsBatchedS >= 0)
        std::printf("  targets alone   batched %.1f s, one fact at a time %.1f s (%.1fx)\n", targetsBatchedS,
            targetsSerialS, targetsSerialS / targetsBatchedS);
    if (method == "memit") {
        const MemitResult::PhaseSeconds &f = fullPass.seconds;
        const bool both = fullPassS >= 0;
        std::printf("  target optimisation: %s, %d rows per chunk, %s pass\n", targetStrategy.c_str(), chunkRows,
            p.fullForwardTargets ? "full" : "suffix");
        std::printf("  phase (s)       %s%s pass\n", both ? "as landed  " : "", p.fullForwardTargets ? "full" : "suffix");
        const auto row = [&](const char *name, double a, double b) {
            if (both)
                std::printf("  %-15s %9.2f  %9.2f\n", name, a, b);
            else
                std::printf("  %-15s %9.2f\n", name, b);
        };
        row("templates", f.templates, phases.templates);
        row("targets", f.targets, phases.targets);
        row("keys, outputs", f.keys, phases.keys);
        row("solve", f.solve, phases.solve);
        row("write", f.write, phases.write);
        row("keys after", f.keysAfter, phases.keysAfter);
        row("whole edit", fullPassS, editS);
        if (both) {
            double worst = 0;
            for (std::size_t j = 0; j < updates.size(); ++j)
                worst = std::max(worst,
                    (updates[j].delta - fullPass.updates[j].delta).norm().item<double>()
                        / fullPass.updates[j].delta.norm().item<double>());
            std::printf("  dW of the two paths: max relative difference over layers %.2e\n", worst);
        }
    }
    for (const auto &u : updates)
        std::printf(
            "  layer %d         |dW|/|W| = %.3f, residual before %.3f\n", u.layer, u.relativeNorm, u.residualBefore);
    if (residualAfter >= 0)
        std::printf("  residual after  %.3f\n", residualAfter);
    std::printf("                  ES     PS     NS   recall(other subjects)  recall(edited subjects' other facts)\n");
    std::printf("  before        %5.1f  %5.1f  %5.1f   %6.2f                  %6.2f\n", pre.es, pre.ps, pre.ns,
        100 * recallOutsidePre, 100 * recallSubjectPre);
    std::printf("  after         %5.1f  %5.1f  %5.1f   %6.2f                  %6.2f\n", post.es, post.ps, post.ns,
        100 * recallOutsidePost, 100 * recallSubjectPost);
    return 0;
}

int main(int argc, char **argv)
{
    return engram::bench::guardedMain("bench_memit", [&] { return run(argc, argv); });
}
