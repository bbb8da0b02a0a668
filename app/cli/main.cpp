// engram-cli: the headless front end of engram_core. Links only core (no Qt, in every build),
// so it is the same program on a GPU server that has LibTorch but no desktop libraries.
// Images of traces are drawn by engram-plot from `trace --json` output.

#include "core/data/datasets.h"
#include "core/edit/editor.h"
#include "core/edit/presets.h"
#include "core/eval/counterfact.h"
#include "core/eval/evaljson.h"
#include "core/eval/recall.h"
#include "core/model/modelinfo.h"
#include "core/model/modelsession.h"
#include "core/trace/causaltrace.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"

#include "cli/cliargs.h"
#include "cli/projectcommands.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace cli;

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
            [--patch FILE[,FILE..]]     apply patches (from 'edit') first, in order
  stats     --model DIR --corpus FILE --layers L1,L2,.. --out FILE
            [--max-docs N]              second moments of the MLP keys (.txt: a document
            [--accumulate fp64|fp32]    per line; .jsonl: {"text": ...}); sums kept in
                                        fp64 (default) or fp32 (the reference's), recorded
  stats     --merge A,B[,..] --out FILE add up shards of the same layers
  edit      --model DIR --facts FILE --out PATCH [--limit N]
                                        edit CounterFact-style records (or a list of
                                        {prompt, subject, target_new}), saved as a patch;
                                        defaults come from the model's preset (published
                                        GPT-2 XL / GPT-J / Llama-3-8B values, the demo's
                                        measured ones, or scaled by depth), printed first:
            --method memit (default) --stats FILE[,FILE..] [--layers L1,L2,..] [--lambda X]
                     [--v-lr X] [--v-steps N] [--clamp X] [--seed S]
            --method rome|r-rome --stats FILE [--layer L] [--v-lr X] [--v-steps N]
                     [--clamp X] [--seed S]     (one request after another; r-rome uses
                                        one consistent key, "Rebuilding ROME")
            --method ftw [--layer L] [--steps N] [--lr X] [--norm-constraint X]
                                        fine-tune the layer's MLP output weight within
                                        an L-infinity ball (the papers' baseline)
            --keep FACTS                known facts to keep (any dataset format): those
                                        about an edited subject become preservation
                                        prompts (KL at their last token while the target
                                        is optimised, weight --preserve-factor, default 1;
                                        MEMIT/ROME); with --protect-weight X > 0 (MEMIT)
                                        the keys of the others join the covariance term
            --stats takes our .safetensors statistics and/or published .npz files
            (mom2.mom2 + mom2.count, one layer each, layer read from the file name);
            instead, --corpus PATH [--max-docs N] [--cache-dir DIR] computes them once
            per (model, layer, corpus, count) and reuses them from the cache after
  trace     --model DIR --prompt TEXT --subject S
            [--expect OBJECT]           causal trace of one fact: p(answer) with the subject
            [--kind hidden|mlp|attn|all]  corrupted and one (token, layer) restored
            [--json OUT]                matrices as JSON (engram-plot OUT --out x.png draws them)
  trace     --model DIR --facts FILE    average indirect effects over a fact list (known
            [--limit N] [--json OUT]    facts, CounterFact or {prompt, subject, expected}),
                                        MLP/attention-severed effects, suggested edit layers
            trace options: [--noise s3|NU|uNU] noise: 3 sigma of subject embeddings (default),
            fixed Gaussian scale NU, or uniform [-NU, NU]; [--noise-subjects FILE] facts whose
            subjects set sigma (default: the traced facts); [--samples 10] [--seed 1]
            [--window W] layers restored together for mlp/attn (default 10, scaled down
            for models under 28 layers); [--one-cell] (no batching; slower, same scores)

  eval      --model DIR --data FILE     CounterFact / zsRE / known facts / EasyEdit / CSV
            [--patch P[,P..]]           metrics before and (with patches) after editing:
            [--limit N] [--json OUT]    Score, ES, PS, NS, EM, PM, NM, GE (x100, 95 %
            [--generations K]           intervals) or zsRE accuracies, and retention;
            [--retention FILE]          K: fluency from generations of every K-th record;
            [--seed S] [--verbose]      FILE: facts to re-check (default: the records
            [--reference-texts F]       outside the patch's edits); --verbose lists rejects;
                                        F: attribute snippets for the consistency score (RS)
            [--prompts FILE]            prompts (one per line) generated before and after,
                                        same seed, printed side by side

Common options:
  --device cpu|cuda[:N]   where the model runs (default cpu)
  --dtype fp32|bf16|fp16  weight type (default fp32)
  --threads N             CPU threads (default: all cores)
  --help, -h              this text
  --version               print the version

Options a command does not take are refused (exit 2) with the closest known name.
Exit codes: 0 ok, 2 usage error, 3 unreadable, unsupported, newer or locked input,
4 invalid request or runtime failure, 5 conflicting facts (nothing changed), 130 cancelled (Ctrl-C).
Example (the embedded demo): engram-cli stats --model resources/demo/model --corpus
resources/demo/corpus.txt --layers 0,1,2,3 --max-docs 3000 --out /tmp/demo-stats.safetensors
)";

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

// Statistics progress on stderr: a line per tenth of the documents.
std::function<bool(int64_t, int64_t)> documentProgress()
{
    return [lastTenth = -1](int64_t done, int64_t total) mutable {
        const int tenth = total > 0 ? static_cast<int>(10 * done / total) : 10;
        if (tenth != lastTenth) {
            std::cerr << "stats: " << done << "/" << total << " documents\n";
            lastTenth = tenth;
        }
        return true;
    };
}

int cmdStats(const Args &args)
{
    if (const auto merge = args.value("--merge")) {
        const auto shards = engram::splitPathList(*merge);
        const auto s = engram::mergeStatisticsFiles(shards, requireValue(args, "--out"));
        std::cout << "merged " << shards.size() << " files: layers";
        for (int l : s.layers)
            std::cout << " " << l;
        std::cout << ", " << s.tokensPerLayer << " tokens per layer -> " << requireValue(args, "--out") << "\n";
        return kExitOk;
    }
    const auto session = engram::ModelSession::open(requireValue(args, "--model"), loadOptions(args));
    const auto layers = parseLayers(args);
    const auto summary = engram::computeStatisticsFile(*session, requireValue(args, "--corpus"), layers,
        toInt(args, "--max-docs", 0, 0, 1L << 40), requireValue(args, "--out"), documentProgress(),
        accumulateFloat64(args));
    std::cout << "statistics for layers";
    for (int l : summary.layers)
        std::cout << " " << l;
    std::cout << ": " << summary.documents << " documents, " << summary.tokensPerLayer << " tokens, " << summary.seconds
              << " s -> " << requireValue(args, "--out") << "\n";
    return kExitOk;
}

void printEditSummary(const std::string &label, std::size_t edits, const engram::EditSummary &s, const std::string &out)
{
    std::cout << label << ": " << edits << " edits in " << s.seconds << " s, mean target probability "
              << s.meanTargetProbability << "\n";
    for (std::size_t i = 0; i < s.layers.size(); ++i) {
        std::cout << "  layer " << s.layers[i] << ": |dW|/|W| = " << s.relativeNorms[i];
        if (label == "MEMIT")
            std::cout << ", residual before " << s.residualBefore[i];
        std::cout << "\n";
    }
    if (label == "MEMIT")
        std::cout << "  residual after " << s.residualAfter << "\n";
    std::cout << "patch written to " << out << "\n";
}

int cmdEdit(const Args &args)
{
    auto requests = engram::readEditRequests(requireValue(args, "--facts"), toInt(args, "--limit", 0, 0, 1L << 40));
    const std::string out = requireValue(args, "--out");
    auto session = engram::ModelSession::open(requireValue(args, "--model"), loadOptions(args));
    engram::EditJobSpec spec = editSpecFromArgs(args, engram::editPresetForCheckpoint(requireValue(args, "--model")));
    engram::EditConfig &config = spec.config;
    if (const auto keepFile = args.value("--keep")) {
        if (config.method() == engram::EditMethod::FineTune)
            throw UsageError {"--keep works with memit, rome and r-rome"};
        const engram::Dataset kept = engram::importDataset(*keepFile);
        std::vector<engram::FactToKeep> keep;
        for (const auto &r : kept.records)
            keep.push_back({r.promptTemplate, r.subject, r.relationId});
        const engram::KeepPlan plan = engram::keepFacts(config, requests, keep);
        std::cout << "keep: " << kept.records.size() << " facts from " << *keepFile << ": " << plan.preservePrompts
                  << " preservation prompts for " << plan.subjectsPreserved << " edited subjects";
        if (engram::protectsKeys(config))
            std::cout << ", " << plan.protectedKeys << " protected keys (weight " << config.memit().protectWeight
                      << ")";
        std::cout << "\n";
    }
    engram::ResolvedStatistics stats;
    if (config.needsStatistics()) {
        spec.statistics = statisticsSourceFromArgs(args, /*defaultMaxDocuments=*/0);
        if (spec.statistics.kind == engram::StatisticsSource::Kind::ProjectCorpus)
            throw UsageError {"give --stats FILE[,FILE..] or --corpus PATH (statistics computed once and cached)"};
        stats = engram::resolveStatistics(spec.statistics, *session, config.statisticsLayers(), documentProgress());
        if (!stats.corpus.empty()) {
            std::cout << "statistics: "
                      << (stats.computedLayers.empty() ? "all layers from the cache" : "computed layers");
            for (int l : stats.computedLayers)
                std::cout << " " << l;
            std::cout << " (" << stats.cacheDir.string() << ")\n";
        }
    }
    ProgressPrinter progress("edit");
    printEditSummary(std::string(engram::editMethodLabel(config.method())), requests.size(),
        engram::runEdit(*session, requests, config, stats.files, out, std::ref(progress)), out);
    return kExitOk;
}

std::vector<engram::TraceKind> parseKinds(const Args &args)
{
    const std::string kind = args.value("--kind").value_or("all");
    if (kind == "all")
        return {engram::TraceKind::Hidden, engram::TraceKind::Mlp, engram::TraceKind::Attention};
    const auto parsed = engram::parseTraceKind(kind);
    if (!parsed)
        throw UsageError {"--kind must be hidden, mlp, attn or all"};
    return {*parsed};
}

// --noise s3 (3σ of subject embeddings, default), sK (K·σ), a fixed Gaussian scale, or uK (uniform).
engram::NoiseSettings parseNoise(
    const Args &args, const engram::ModelSession &session, const std::vector<engram::TraceRequest> &traced)
{
    engram::NoiseSettings n;
    n.samples = static_cast<int>(toInt(args, "--samples", 10, 1, 10000));
    n.seed = seedOption(args, 1);
    const std::string spec = args.value("--noise").value_or("s3");
    auto number = [&](const std::string &text) {
        char *end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0' || !(v >= 0) || !std::isfinite(v))
            throw UsageError {"--noise must be s3 (or sK), a scale like 0.1, or uK for uniform noise"};
        return v;
    };
    if (!spec.empty() && spec[0] == 's') {
        const double k = number(spec.substr(1));
        std::vector<engram::TraceRequest> from = traced;
        if (const auto file = args.value("--noise-subjects"))
            from = engram::readTraceRequests(*file);
        std::vector<std::string> subjects;
        for (const auto &f : from)
            subjects.push_back(f.subject);
        n = engram::subjectNoise(
            session.model(), session.tokenizer(), subjects, subjects.size() == 1 ? "subject" : "subjects", k, n);
    } else if (!spec.empty() && spec[0] == 'u') {
        n.mode = engram::NoiseMode::Uniform;
        n.scale = number(spec.substr(1));
        n.origin = "uniform in [-" + spec.substr(1) + ", " + spec.substr(1) + "]";
    } else {
        n.scale = number(spec);
        n.origin = "fixed Gaussian scale " + spec;
    }
    return n;
}

void printMatrix(const engram::TraceResult &r, const engram::TraceMatrix &m)
{
    std::size_t width = 5;
    for (const auto &t : r.tokens)
        width = std::max(width, t.size() + 2);
    std::cout << "\n"
              << engram::traceKindName(m.kind) << " (p(answer) after restoring; * = subject token)\n"
              << std::string(width, ' ');
    for (int l = 0; l < r.layers; ++l)
        std::cout << std::setw(7) << ("L" + std::to_string(l));
    std::cout << "\n";
    for (std::size_t t = 0; t < r.tokens.size(); ++t) {
        const bool subject = static_cast<int64_t>(t) >= r.subjectBegin && static_cast<int64_t>(t) < r.subjectEnd;
        std::string label = r.tokens[t] + (subject ? "*" : "");
        std::cout << label << std::string(width - std::min(width, label.size()), ' ');
        for (int l = 0; l < r.layers; ++l)
            std::cout << std::setw(7) << std::fixed << std::setprecision(3)
                      << m.at(static_cast<int64_t>(t), l, r.layers);
        std::cout << "\n";
    }
}

void writeOutputFile(const std::string &path, const std::string &text)
{
    engram::AtomicFile out(path);
    out.write(text.data(), text.size());
    out.commit();
}

void printEffects(const std::string &title, const std::vector<engram::EffectEstimate> &row, std::size_t width)
{
    std::cout << title << std::string(width - std::min(width, title.size()), ' ');
    for (const auto &e : row)
        std::cout << std::setw(8) << std::fixed << std::setprecision(3) << e.mean;
    std::cout << "\n";
}

int cmdTraceAverage(const Args &args, const engram::ModelSession &session, const std::string &factsFile)
{
    const auto facts = engram::readTraceRequests(factsFile, toInt(args, "--limit", 0, 0, 1L << 40));
    engram::AverageParams p;
    p.trace.kinds = parseKinds(args);
    p.trace.noise = parseNoise(args, session, facts);
    p.trace.window
        = static_cast<int>(toInt(args, "--window", engram::defaultTraceWindow(session.summary().layers), 1, 10000));
    p.trace.batched = !args.flag("--one-cell");
    p.suggestedWidth = static_cast<int>(toInt(args, "--range-width", 0, 0, 10000));
    ProgressPrinter progress("trace");
    const auto a = engram::averageEffects(session.model(), session.tokenizer(), facts, p, std::ref(progress));
    std::cout << "traced " << a.traced << " of " << facts.size() << " facts (" << a.skipped.size()
              << " skipped: not predicted correctly or subject not found"
              << (args.flag("--verbose") ? "" : "; --verbose lists them") << ")\nnoise: " << p.trace.noise.origin
              << ", " << p.trace.noise.samples << " samples, seed " << p.trace.noise.seed << "\nmean p(answer): clean "
              << std::fixed << std::setprecision(3) << a.meanHighScore << ", corrupted " << a.meanLowScore << "\n";
    if (args.flag("--verbose"))
        for (const auto &s : a.skipped)
            std::cout << "  skipped " << s << "\n";
    const std::size_t width = 24;
    for (std::size_t k = 0; k < a.kinds.size() && a.traced > 0; ++k) {
        std::cout << "\naverage indirect effect, " << engram::traceKindName(a.kinds[k]) << "\n"
                  << std::string(width, ' ');
        for (int l = 0; l < a.layers; ++l)
            std::cout << std::setw(8) << ("L" + std::to_string(l));
        std::cout << "\n";
        for (int c = 0; c < engram::kTokenCategories; ++c)
            printEffects(engram::tokenCategoryName(static_cast<engram::TokenCategory>(c)),
                a.effects[k][static_cast<std::size_t>(c)], width);
    }
    if (!a.severed.ordinary.empty()) {
        std::cout << "\nlast subject token, hidden state restored (AIE per layer)\n" << std::string(width, ' ');
        for (int l = 0; l < a.layers; ++l)
            std::cout << std::setw(8) << ("L" + std::to_string(l));
        std::cout << "\n";
        printEffects("ordinary", a.severed.ordinary, width);
        printEffects("MLP severed", a.severed.mlpSevered, width);
        printEffects("attention severed", a.severed.attentionSevered, width);
        std::cout << "\nsuggested MEMIT layers (largest MLP-severed gap): " << a.suggestedFirst << "-"
                  << a.suggestedLast << "\n";
    }
    if (const auto json = args.value("--json")) {
        writeOutputFile(*json, engram::averageEffectsToJson(a));
        std::cout << "JSON written to " << *json << "\n";
    }
    return kExitOk;
}

int cmdTrace(const Args &args)
{
    if (args.value("--png"))
        throw UsageError {"engram-cli draws no images (it has no Qt): write --json FILE and draw it with "
                          "'engram-plot FILE --out heatmaps.png' (or .svg, .pdf)"};
    const auto session = engram::ModelSession::open(requireValue(args, "--model"), loadOptions(args));
    if (const auto facts = args.value("--facts")) {
        return cmdTraceAverage(args, *session, *facts);
    }
    engram::TraceRequest request;
    request.prompt = requireValue(args, "--prompt");
    request.subject = requireValue(args, "--subject");
    request.expected = args.value("--expect").value_or("");
    engram::TraceParams p;
    p.kinds = parseKinds(args);
    p.noise = parseNoise(args, *session, {request});
    p.window
        = static_cast<int>(toInt(args, "--window", engram::defaultTraceWindow(session->summary().layers), 1, 10000));
    p.batched = !args.flag("--one-cell");
    ProgressPrinter progress("trace");
    const auto r = engram::traceFact(session->model(), session->tokenizer(), request, p, std::ref(progress));
    std::cout << "prompt: " << r.prompt << "\nsubject: " << r.subject << " (tokens " << r.subjectBegin << "-"
              << r.subjectEnd - 1 << ")\nanswer: '" << r.answer << "', p clean " << std::fixed << std::setprecision(4)
              << r.highScore << ", corrupted " << r.lowScore << "\nnoise: " << r.noise.origin << ", " << r.noise.samples
              << " samples, seed " << r.noise.seed << "\n";
    if (!r.correct) {
        std::cout << "the model predicts '" << r.answer << "', not '" << request.expected << "': not traced\n";
        return kExitOk;
    }
    for (const auto &m : r.matrices)
        printMatrix(r, m);
    if (const auto json = args.value("--json")) {
        writeOutputFile(*json, engram::traceResultToJson(r));
        std::cout << "JSON written to " << *json << "\n";
    }
    return kExitOk;
}

// ---- eval ------------------------------------------------------------------------------------

std::string fmtMetric(const engram::MetricSummary &m)
{
    if (m.count == 0 || std::isnan(m.mean))
        return "      -      ";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%6.1f ±%4.1f", m.mean, m.ci95);
    return buf;
}

std::vector<engram::FactPrompt> retentionFacts(
    const Args &args, const engram::Dataset &data, const std::vector<engram::EditRequest> &edited)
{
    std::vector<engram::FactPrompt> facts;
    if (const auto file = args.value("--retention")) {
        // Any dataset whose records have a true object, e.g. the demo's retention.json
        // ({subject, prompt with {}, object}).
        for (const auto &r : engram::importDataset(*file).records)
            if (!r.targetTrue.empty())
                facts.push_back({r.promptTemplate, r.subject, r.targetTrue});
        return facts;
    }
    std::set<std::string> subjects;
    for (const auto &e : edited)
        subjects.insert(e.subject);
    for (const auto &r : data.records)
        if (!r.targetTrue.empty() && !subjects.count(r.subject))
            facts.push_back({r.promptTemplate, r.subject, r.targetTrue});
    return facts;
}

int cmdEval(const Args &args)
{
    const auto data = engram::importDataset(requireValue(args, "--data"), toInt(args, "--limit", 0, 0, 1L << 40));
    std::cout << "data: " << data.records.size() << " " << engram::datasetFormatName(data.format) << " records";
    if (!data.rejected.empty())
        std::cout << ", " << data.rejected.size() << " rejected (first: record " << data.rejected.front().index << ", "
                  << data.rejected.front().field << ": " << data.rejected.front().reason << ")";
    std::cout << "\n";
    if (args.flag("--verbose"))
        for (const auto &r : data.rejected)
            std::cout << "  rejected record " << r.index << ": " << r.field << ": " << r.reason << "\n";
    if (data.records.empty())
        throw engram::Error(engram::ErrorKind::CorruptFile, "no usable records in " + requireValue(args, "--data"));
    auto session = engram::ModelSession::open(requireValue(args, "--model"), loadOptions(args));
    engram::EvalParams p;
    p.generationInterval = static_cast<int>(toInt(args, "--generations", 0, 0, 1 << 30));
    p.seed = seedOption(args, 0);
    std::optional<engram::ReferenceTexts> references;
    if (const auto refs = args.value("--reference-texts")) {
        if (p.generationInterval == 0)
            throw UsageError {"--reference-texts scores generations: give --generations K too"};
        references = engram::ReferenceTexts::load(*refs);
        p.references = &*references;
    }
    const auto patch = args.value("--patch");
    const auto edited = patch ? engram::patchRequests(*patch) : std::vector<engram::EditRequest>();
    const auto retention = retentionFacts(args, data, edited);

    std::vector<std::string> chosenPrompts; // --prompts FILE: one prompt per line, generated before/after
    if (const auto file = args.value("--prompts")) {
        std::stringstream lines(engram::readTextFile(*file));
        for (std::string line; std::getline(lines, line);)
            if (line.find_first_not_of(" \t\r") != std::string::npos)
                chosenPrompts.push_back(line);
    }
    struct Phase {
        std::string name;
        std::vector<engram::RecordScores> scores;
        engram::EvalSummary summary;
        engram::RecallResult recall;
        std::vector<std::string> generations; // for chosenPrompts
    };
    std::vector<Phase> phases;
    auto run = [&](const std::string &name) {
        ProgressPrinter progress("eval " + name);
        Phase ph;
        ph.name = name;
        ph.scores
            = engram::evaluateRecords(session->model(), session->tokenizer(), data.records, p, std::ref(progress));
        ph.summary = engram::summarize(ph.scores);
        if (!retention.empty())
            ph.recall = engram::measureRecall(session->model(), session->tokenizer(), retention);
        for (std::size_t i = 0; i < chosenPrompts.size(); ++i) {
            engram::GenerationParams g;
            g.greedy = false;
            g.topK = 5;
            g.seed = p.seed + i; // the same seed before and after: differences come from the edit
            g.maxNewTokens = 40;
            ph.generations.push_back(session->generate(chosenPrompts[i], g).continuation);
        }
        phases.push_back(std::move(ph));
    };
    run("pre");
    if (patch) {
        engram::applyPatchFile(*session, *patch);
        run("post");
    }
    const bool zsre = phases.front().summary.es.count == 0;
    std::cout << "\n       "
              << (zsre ? "  Score    Efficacy        Paraphrase      Specificity"
                       : "  Score      ES             PS             NS             EM             PM"
                         "             NM             GE"
                             + std::string(p.references ? "             RS" : ""))
              << "      retention\n";
    for (const auto &ph : phases) {
        const auto &e = ph.summary;
        char score[16];
        std::snprintf(score, sizeof score, "%6.1f", e.score);
        std::cout << std::left << std::setw(6) << ph.name << std::right << " " << score << "  ";
        if (zsre)
            std::cout << fmtMetric(e.rewriteAcc) << "  " << fmtMetric(e.paraphraseAcc) << "  "
                      << fmtMetric(e.neighborhoodAcc);
        else
            std::cout << fmtMetric(e.es) << "  " << fmtMetric(e.ps) << "  " << fmtMetric(e.ns) << "  "
                      << fmtMetric(e.em) << "  " << fmtMetric(e.pm) << "  " << fmtMetric(e.nm) << "  "
                      << fmtMetric(e.fluency) << (p.references ? "  " + fmtMetric(e.consistency) : std::string());
        if (!retention.empty())
            std::cout << "  " << std::fixed << std::setprecision(1) << 100 * ph.recall.rate() << " % of "
                      << ph.recall.total;
        std::cout << "\n";
    }
    for (std::size_t i = 0; i < chosenPrompts.size(); ++i) {
        std::cout << "\n" << chosenPrompts[i] << "\n";
        for (const auto &ph : phases)
            std::cout << "  " << ph.name << ": ..." << ph.generations[i] << "\n";
    }
    std::cout << "(x100; ± is the 95 % interval; retention = top-1 recall of "
              << (args.value("--retention") ? "the --retention facts" : "records outside the patch's edits") << ")\n";
    if (const auto json = args.value("--json")) {
        nlohmann::json doc {{"data", requireValue(args, "--data")}, {"format", engram::datasetFormatName(data.format)},
            {"model", requireValue(args, "--model")}, {"patch", patch.value_or("")}};
        nlohmann::json rejected = nlohmann::json::array();
        for (const auto &r : data.rejected)
            rejected.push_back({{"record", r.index}, {"field", r.field}, {"reason", r.reason}});
        doc["rejected"] = rejected;
        for (const auto &ph : phases)
            doc[ph.name] = engram::evalPhaseToJson(ph.summary, ph.recall);
        nlohmann::json recs = nlohmann::json::array();
        for (std::size_t i = 0; i < data.records.size(); ++i) {
            nlohmann::json r {{"case_id", data.records[i].caseId}, {"subject", data.records[i].subject}};
            for (const auto &ph : phases)
                r[ph.name] = engram::recordScoresToJson(ph.scores[i]);
            if (phases.size() == 2) { // per-fact change, post − pre
                nlohmann::json delta;
                for (const char *k : {"es", "em", "ps", "pm", "ns", "nm", "p_new", "p_true"}) {
                    const auto &a = r["pre"][k], &b = r["post"][k];
                    delta[k] = a.is_number() && b.is_number() ? nlohmann::json(b.get<double>() - a.get<double>())
                                                              : nlohmann::json(nullptr);
                }
                r["delta"] = delta;
            }
            recs.push_back(r);
        }
        doc["records"] = recs;
        nlohmann::json gens = nlohmann::json::array();
        for (std::size_t i = 0; i < chosenPrompts.size(); ++i) {
            nlohmann::json g {{"prompt", chosenPrompts[i]}};
            for (const auto &ph : phases)
                g[ph.name] = ph.generations[i];
            gens.push_back(g);
        }
        doc["generations"] = gens;
        writeOutputFile(*json, doc.dump(1));
        std::cout << "JSON written to " << *json << "\n";
    }
    return kExitOk;
}

int cmdGenerate(const Args &args)
{
    engram::GenerationParams p;
    p.maxNewTokens = static_cast<int>(toInt(args, "--max-new-tokens", 32, 1, 1 << 20));
    p.topK = static_cast<int>(toInt(args, "--top-k", 0, 0, 1 << 30));
    p.topP = toDouble(args, "--top-p", 1.0, 1e-9, 1.0);
    p.temperature = toDouble(args, "--temperature", 1.0, 1e-6, 1e6);
    p.seed = seedOption(args, 0);
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
            std::cout << kUsage << kProjectUsage;
            return args.command.empty() && !args.flag("--help") && !args.flag("-h") ? kExitUsage : kExitOk;
        }
        engram::configureThreads(static_cast<int>(toInt(args, "--threads", 0, 0, 1024)));
        if (isProjectCommand(args))
            return runProjectCommand(args);
        if (!args.positional.empty())
            throw UsageError {"unexpected argument '" + args.positional.front() + "'"};
        // Every option of each command, declared once: anything else is refused (exit 2).
        static const std::map<std::string, std::vector<std::string>> kOptions = {
            {"info", {"--model"}},
            {"tokenize", {"--model", "--text"}},
            {"generate",
                {"--model", "--prompt", "--max-new-tokens", "--greedy", "--top-k", "--top-p", "--temperature", "--seed",
                    "--no-cache", "--ids", "--patch"}},
            {"stats", {"--model", "--corpus", "--layers", "--max-docs", "--out", "--accumulate", "--merge"}},
            {"edit", {"--model", "--facts", "--out", "--limit", "--keep"}}, // + editOptionNames()
            {"trace",
                {"--model", "--prompt", "--subject", "--expect", "--kind", "--json", "--facts", "--limit", "--noise",
                    "--noise-subjects", "--samples", "--seed", "--window", "--one-cell", "--verbose", "--range-width",
                    "--png"}},
            {"eval",
                {"--model", "--data", "--patch", "--limit", "--json", "--generations", "--retention", "--seed",
                    "--verbose", "--reference-texts", "--prompts"}},
        };
        if (const auto it = kOptions.find(args.command); it != kOptions.end()) {
            std::vector<std::string> known = it->second;
            if (args.command == "edit")
                known.insert(known.end(), editOptionNames().begin(), editOptionNames().end());
            checkOptions(args, known);
        }
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
        if (args.command == "trace")
            return cmdTrace(args);
        if (args.command == "eval")
            return cmdEval(args);
        throw UsageError {"unknown command '" + args.command + "'"};
    } catch (const UsageError &e) {
        std::cerr << "engram-cli: " << e.message << "\nRun 'engram-cli --help' for usage.\n";
        return kExitUsage;
    } catch (const engram::Error &e) {
        std::cerr << "engram-cli: error: " << e.what() << "\n";
        if (e.kind() == engram::ErrorKind::Cancelled)
            return kExitCancelled;
        if (e.kind() == engram::ErrorKind::Conflict)
            return kExitConflict;
        // Input: files and requests this build cannot take (damaged, newer, locked, CUDA absent).
        const bool input = e.kind() != engram::ErrorKind::InvalidArgument && e.kind() != engram::ErrorKind::Runtime;
        return input ? kExitInput : kExitRuntime;
    } catch (const std::exception &e) {
        std::cerr << "engram-cli: internal error: " << e.what() << "\n";
        return kExitRuntime;
    }
}
