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

#include <algorithm>
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

// ---- options: one struct and one table per command -------------------------------------

struct ModelOptions {
    std::string model;
    std::string text;
};

OptionTable infoTable(ModelOptions &o)
{
    OptionTable t("info", "--model DIR", "describe a Hugging Face checkpoint directory");
    return t.text("--model", "DIR", "checkpoint directory", o.model).required("--model");
}

OptionTable tokenizeTable(ModelOptions &o)
{
    OptionTable t("tokenize", "--model DIR --text TEXT", "print the token ids of TEXT");
    return t.text("--model", "DIR", "checkpoint directory", o.model)
        .required("--model")
        .text("--text", "TEXT", "the text", o.text)
        .required("--text");
}

struct GenerateOptions {
    std::string model, prompt;
    std::optional<std::string> patch;
    bool ids = false, greedy = false, noCache = false;
    bool sampling = false; // a sampling filter or temperature was given
    engram::GenerationParams params;
};

OptionTable generateTable(GenerateOptions &o)
{
    OptionTable t("generate", "--model DIR --prompt TEXT [options]",
        "continue TEXT with the model: greedy unless a sampling option is given");
    auto &p = o.params;
    return t.text("--model", "DIR", "checkpoint directory", o.model)
        .required("--model")
        .text("--prompt", "TEXT", "the text to continue", o.prompt)
        .required("--prompt")
        .integer("--max-new-tokens", "N", "new tokens", p.maxNewTokens, 1, 1 << 20)
        .flag("--greedy", "argmax decoding (the default without sampling options)", o.greedy)
        .custom("--top-k", "K", "sample from the K likeliest tokens (0: no filter)",
            [&o](const std::string &v) {
                o.params.topK = static_cast<int>(parseInteger("--top-k", v, 0, 1 << 30));
                o.sampling = true;
            })
        .custom("--top-p", "P", "sample from the smallest set of probability P, in (0, 1]",
            [&o](const std::string &v) {
                o.params.topP = parseNumber("--top-p", v, 1e-9, 1.0);
                o.sampling = true;
            })
        .custom("--temperature", "T", "sampling temperature (default 1.0)",
            [&o](const std::string &v) {
                o.params.temperature = parseNumber("--temperature", v, 1e-6, 1e6);
                o.sampling = true;
            })
        .seed("sampling seed", p.seed)
        .flag("--no-cache", "recompute every step (slower; the same output)", o.noCache)
        .flag("--ids", "also print the token ids", o.ids)
        .text("--patch", "FILE[,FILE..]", "apply patches (from 'edit') first, in order", o.patch);
}

struct StatsOptions {
    std::string model, corpus, out;
    std::optional<std::string> merge;
    std::vector<int> layers;
    int64_t maxDocs = 0;
    bool float64 = true;
    engram::CorpusShard shard;
};

OptionTable statsTable(StatsOptions &o)
{
    OptionTable t("stats", "--model DIR --corpus FILE --layers L1,L2,.. --out FILE [--max-docs N]",
        "second moments of the MLP keys (the covariance statistics of MEMIT and ROME); corpus .txt: a document per "
        "line, .jsonl: {\"text\": ...}");
    t.form("--model DIR --corpus FILE --layers L1,L2,.. --shard I/N --out FILE",
        "shard I of N (from 0): the I-th of N equal blocks of the documents used, for a cluster's array job "
        "(docs/cluster-statistics.md); recorded in the file");
    t.form("--merge A,B[,..] --out FILE", "add up shards (a complete set of one split) or files of the same layers");
    return t.text("--model", "DIR", "checkpoint directory", o.model)
        .text("--corpus", "FILE", "the corpus", o.corpus)
        .layers("--layers", "layers whose statistics are computed", o.layers)
        .integer("--max-docs", "N", "documents used; 0: all", o.maxDocs, 0, 1L << 40)
        .custom("--accumulate", "fp64|fp32", "type the sums are kept in, recorded (default fp64; fp32: the reference's)",
            [&o](const std::string &v) {
                if (v != "fp64" && v != "fp32")
                    throw UsageError {"--accumulate must be fp64 or fp32"};
                o.float64 = v == "fp64";
            })
        .custom("--shard", "I/N", "compute shard I of N (0 <= I < N)",
            [&o](const std::string &v) {
                const auto slash = v.find('/');
                if (slash == std::string::npos)
                    throw UsageError {"--shard must be I/N, e.g. 0/8"};
                o.shard.count = static_cast<int>(parseInteger("--shard N", v.substr(slash + 1), 1, 1 << 20));
                o.shard.index
                    = static_cast<int>(parseInteger("--shard I", v.substr(0, slash), 0, o.shard.count - 1));
            })
        .text("--merge", "A,B[,..]", "statistics files to add up", o.merge)
        .text("--out", "FILE", "the statistics file written", o.out)
        .required("--out");
}

struct FileEditOptions {
    std::string model, facts, out;
    std::optional<std::string> keep;
    int64_t limit = 0;
    engram::EditJobSpec spec = fileEditSpec();

    static engram::EditJobSpec fileEditSpec()
    {
        engram::EditJobSpec s;
        s.statistics.maxDocuments = 0; // --corpus: every document unless --max-docs
        return s;
    }
};

OptionTable fileEditTable(FileEditOptions &o)
{
    OptionTable t("edit", "--model DIR --facts FILE --out PATCH [--limit N] [edit options]",
        "edit CounterFact-style records (or a list of {prompt, subject, target_new}), saved as a patch; defaults "
        "come from the model's preset (published GPT-2 XL / GPT-J / Llama-3-8B values, the demo's measured ones, "
        "or scaled by depth), printed first");
    t.text("--model", "DIR", "checkpoint directory", o.model)
        .required("--model")
        .text("--facts", "FILE", "the records to edit", o.facts)
        .required("--facts")
        .text("--out", "PATCH", "the patch file written", o.out)
        .required("--out")
        .integer("--limit", "N", "edit the first N records; 0: all", o.limit, 0, 1L << 40)
        .text("--keep", "FACTS",
            "known facts to keep (any dataset format): those about an edited subject become preservation prompts "
            "(KL at their last token, weight --preserve-factor; memit, rome); with --protect-weight X > 0 (memit) the "
            "keys of the others join the covariance term",
            o.keep);
    return t.append(editOptionsTable(o.spec));
}

struct TraceOptions {
    std::string model, prompt, subject, expect, kind = "all", noise = "s3";
    std::optional<std::string> facts, noiseSubjects, json, png;
    int64_t limit = 0;
    int window = -1; // -1: scaled to the model
    int rangeWidth = 0;
    bool oneCell = false, verbose = false;
    engram::NoiseSettings noiseSettings;
};

OptionTable traceTable(TraceOptions &o)
{
    OptionTable t("trace", "--model DIR --prompt TEXT --subject S [--expect OBJECT]",
        "causal trace of one fact: p(answer) with the subject corrupted and one (token, layer) restored");
    t.form("--model DIR --facts FILE [--limit N]",
        "average indirect effects over a fact list (known facts, CounterFact or {prompt, subject, expected}), MLP- "
        "and attention-severed effects, suggested edit layers");
    return t.text("--model", "DIR", "checkpoint directory", o.model)
        .required("--model")
        .text("--prompt", "TEXT", "the prompt, subject included", o.prompt)
        .text("--subject", "S", "the subject in the prompt", o.subject)
        .text("--expect", "OBJECT", "trace only when the model predicts OBJECT", o.expect)
        .text("--facts", "FILE", "facts to average over", o.facts)
        .integer("--limit", "N", "the first N facts; 0: all", o.limit, 0, 1L << 40)
        .text("--kind", "hidden|mlp|attn|all", "what is restored (default all)", o.kind)
        .text("--noise", "s3|sK|NU|uNU",
            "K times the subject embeddings' sigma (default s3), a fixed Gaussian scale NU, or uniform in [-NU, NU]",
            o.noise)
        .text("--noise-subjects", "FILE", "facts whose subjects set sigma (default: the traced facts)", o.noiseSubjects)
        .integer("--samples", "N", "noise samples", o.noiseSettings.samples, 1, 10000)
        .seed("noise seed", o.noiseSettings.seed)
        .integer("--window", "W", "layers restored together for mlp/attn; -1: 10, scaled down for models under 28 "
                                  "layers",
            o.window, -1, 10000)
        .flag("--one-cell", "no batching (slower; the same scores)", o.oneCell)
        .integer("--range-width", "N", "width of the suggested layer range; 0: chosen from the effects", o.rangeWidth,
            0, 10000)
        .flag("--verbose", "list the facts skipped", o.verbose)
        .text("--json", "OUT", "the matrices as JSON (engram-plot OUT --out x.png draws them)", o.json)
        .text("--png", "FILE", "refused: images are drawn by engram-plot", o.png);
}

struct LoraCommandOptions {
    std::string patch, model, out;
    engram::LoraOptions lora;
};

OptionTable loraTable(LoraCommandOptions &o)
{
    OptionTable t("lora", "--patch P[,P..] --model DIR --out DIR [--rank R] [--overwrite]",
        "patches (from 'edit' or 'export --patch') as one PEFT LoRA adapter for the base model in DIR: exact factors "
        "(each module's rank = its numerical rank; several patches concatenate, ranks adding up) or at most R per "
        "module");
    return t.text("--patch", "P[,P..]", "patch files, in the order they were applied", o.patch)
        .required("--patch")
        .text("--model", "DIR", "the base checkpoint (config.json read for the layout)", o.model)
        .required("--model")
        .text("--out", "DIR", "the adapter directory written", o.out)
        .required("--out")
        .integer("--rank", "R", "at most R per module (truncated SVD, relative error printed); 0: exact", o.lora.rank,
            0, 1 << 20)
        .flag("--overwrite", "replace an existing directory", o.lora.overwrite);
}

int cmdLora(const Args &args)
{
    LoraCommandOptions o;
    loraTable(o).apply(args);
    printLoraSummary(engram::writeLoraAdapter(engram::splitPathList(o.patch), o.model, o.out, o.lora));
    return kExitOk;
}

struct EvalOptions {
    std::string model, data;
    std::optional<std::string> patch, json, retention, referenceTexts, prompts;
    int64_t limit = 0;
    bool verbose = false;
    engram::EvalParams params;
};

OptionTable evalTable(EvalOptions &o)
{
    OptionTable t("eval", "--model DIR --data FILE [--patch P[,P..]] [options]",
        "CounterFact / zsRE / known facts / EasyEdit / CSV metrics before and (with patches) after editing: Score, "
        "ES, PS, NS, EM, PM, NM, GE (x100, 95 % intervals) or zsRE accuracies, and retention");
    return t.text("--model", "DIR", "checkpoint directory", o.model)
        .required("--model")
        .text("--data", "FILE", "the records", o.data)
        .required("--data")
        .text("--patch", "P[,P..]", "patches applied for the post phase, in order", o.patch)
        .integer("--limit", "N", "the first N records; 0: all", o.limit, 0, 1L << 40)
        .integer("--generations", "K", "fluency from generations of every K-th record; 0: none",
            o.params.generationInterval, 0, 1 << 30)
        .text("--retention", "FILE", "facts to re-check (default: the records outside the patch's edits)", o.retention)
        .seed("generation seed", o.params.seed)
        .flag("--verbose", "list the rejected records", o.verbose)
        .text("--reference-texts", "F", "attribute snippets for the consistency score (RS; needs --generations)",
            o.referenceTexts)
        .text("--prompts", "FILE", "prompts (one per line) generated before and after with the same seed", o.prompts)
        .text("--json", "OUT", "every score as JSON (docs/evaluation-json.md)", o.json);
}

// Loads a checkpoint for a command, warning on stderr when weights hold NaN or infinite values.
std::unique_ptr<engram::ModelSession> openSession(const std::string &dir, const Args &args)
{
    auto session = engram::ModelSession::open(dir, loadOptions(args));
    const auto &bad = session->summary().nonFiniteTensors;
    if (!bad.empty())
        std::cerr << "warning: " << bad.size() << " weight tensor(s) of " << dir
                  << " hold NaN or infinite values (first: " << bad.front()
                  << "); the model's outputs are meaningless\n";
    return session;
}

int cmdInfo(const Args &args)
{
    ModelOptions o;
    infoTable(o).apply(args);
    const auto s = engram::summarizeCheckpoint(o.model);
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
    // Every weight is read once (memory-mapped): NaN or infinite values make a checkpoint useless.
    const auto check = engram::checkCheckpoint(o.model);
    const auto &bad = check.nonFiniteTensors;
    int rc = kExitOk;
    if (!check.tokenizerProblem.empty()) {
        std::cout << "tokenizer:    does not load: " << check.tokenizerProblem << "\n";
        rc = kExitInput;
    }
    if (bad.empty()) {
        std::cout << "weights:      all finite\n";
    } else {
        std::cout << "weights:      " << bad.size() << " tensor(s) hold NaN or infinite values:";
        for (std::size_t i = 0; i < bad.size() && i < 5; ++i)
            std::cout << " " << bad[i];
        std::cout << (bad.size() > 5 ? " ..." : "") << "\n";
        rc = kExitInput;
    }
    return rc;
}

int cmdTokenize(const Args &args)
{
    ModelOptions o;
    tokenizeTable(o).apply(args);
    const auto session = openSession(o.model, args);
    const auto ids = session->encode(o.text, /*addSpecialTokens=*/true);
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
    StatsOptions o;
    statsTable(o).apply(args);
    if (o.merge) {
        const auto shards = engram::splitPathList(*o.merge);
        const auto s = engram::mergeStatisticsFiles(shards, o.out);
        std::cout << "merged " << shards.size() << " files: layers";
        for (int l : s.layers)
            std::cout << " " << l;
        std::cout << ", " << s.tokensPerLayer << " tokens per layer -> " << o.out << "\n";
        return kExitOk;
    }
    for (const auto &[value, name] : {std::pair {o.model.empty(), "--model DIR"},
             std::pair {o.corpus.empty(), "--corpus FILE"}, std::pair {o.layers.empty(), "--layers L1,L2,.."}})
        if (value)
            throw UsageError {std::string("'stats' needs ") + name + " (or --merge A,B)"};
    const auto session = openSession(o.model, args);
    const auto summary = engram::computeStatisticsFile(
        *session, o.corpus, o.layers, o.maxDocs, o.out, documentProgress(), o.float64, o.shard);
    std::cout << (o.shard.count > 1 ? "shard " + std::to_string(o.shard.index) + "/" + std::to_string(o.shard.count) + ": " : "")
              << "statistics for layers";
    for (int l : summary.layers)
        std::cout << " " << l;
    std::cout << ": " << summary.documents << " documents, " << summary.tokensPerLayer << " tokens, " << summary.seconds
              << " s (" << static_cast<int64_t>(summary.tokensPerLayer / std::max(summary.seconds, 1e-9))
              << " tokens/s) -> " << o.out << "\n";
    return kExitOk;
}

void printEditSummary(const std::string &label, std::size_t edits, const engram::EditSummary &s, const std::string &out)
{
    std::cout << label << ": " << edits << " edits in " << s.seconds << " s, mean target probability "
              << s.meanTargetProbability << "\n";
    const bool memitFamily = label == "MEMIT" || label == "AlphaEdit";
    for (std::size_t i = 0; i < s.layers.size(); ++i) {
        std::cout << "  layer " << s.layers[i] << ": |dW|/|W| = " << s.relativeNorms[i];
        if (memitFamily)
            std::cout << ", residual before " << s.residualBefore[i];
        if (i < s.nullSpaceDims.size())
            std::cout << ", null space " << s.nullSpaceDims[i] << " dimensions";
        std::cout << "\n";
    }
    if (memitFamily)
        std::cout << "  residual after " << s.residualAfter << "\n";
    std::cout << "patch written to " << out << "\n";
}

int cmdEdit(const Args &args)
{
    FileEditOptions o;
    const OptionTable table = fileEditTable(o);
    table.check(args);
    const auto preset = engram::editPresetForCheckpoint(*args.value("--model"));
    o.spec.config = preset.configFor(editMethodOf(args));
    table.apply(args);
    announcePreset(args, preset); // after the options are checked: a refused command prints nothing
    auto requests = engram::readEditRequests(o.facts, o.limit);
    const std::string &out = o.out;
    auto session = openSession(o.model, args);
    engram::EditJobSpec &spec = o.spec;
    engram::EditConfig &config = spec.config;
    if (const auto &keepFile = o.keep) {
        if (config.method() == engram::EditMethod::FineTune)
            throw UsageError {"--keep works with memit, alphaedit, rome and r-rome"};
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

std::vector<engram::TraceKind> parseKinds(const std::string &kind)
{
    if (kind == "all")
        return {engram::TraceKind::Hidden, engram::TraceKind::Mlp, engram::TraceKind::Attention};
    const auto parsed = engram::parseTraceKind(kind);
    if (!parsed)
        throw UsageError {"--kind must be hidden, mlp, attn or all"};
    return {*parsed};
}

// --noise s3 (3σ of subject embeddings, default), sK (K·σ), a fixed Gaussian scale, or uK (uniform).
engram::NoiseSettings parseNoise(
    const TraceOptions &o, const engram::ModelSession &session, const std::vector<engram::TraceRequest> &traced)
{
    engram::NoiseSettings n = o.noiseSettings;
    const std::string &spec = o.noise;
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
        if (o.noiseSubjects)
            from = engram::readTraceRequests(*o.noiseSubjects);
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

int cmdTraceAverage(const TraceOptions &o, const engram::ModelSession &session)
{
    const auto facts = engram::readTraceRequests(*o.facts, o.limit);
    engram::AverageParams p;
    p.trace.kinds = parseKinds(o.kind);
    p.trace.noise = parseNoise(o, session, facts);
    p.trace.window = o.window > 0 ? o.window : engram::defaultTraceWindow(session.summary().layers);
    p.trace.batched = !o.oneCell;
    p.suggestedWidth = o.rangeWidth;
    ProgressPrinter progress("trace");
    const auto a = engram::averageEffects(session.model(), session.tokenizer(), facts, p, std::ref(progress));
    std::cout << "traced " << a.traced << " of " << facts.size() << " facts (" << a.skipped.size()
              << " skipped: not predicted correctly or subject not found"
              << (o.verbose ? "" : "; --verbose lists them") << ")\nnoise: " << p.trace.noise.origin
              << ", " << p.trace.noise.samples << " samples, seed " << p.trace.noise.seed << "\nmean p(answer): clean "
              << std::fixed << std::setprecision(3) << a.meanHighScore << ", corrupted " << a.meanLowScore << "\n";
    if (o.verbose)
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
    if (const auto &json = o.json) {
        writeOutputFile(*json, engram::averageEffectsToJson(a));
        std::cout << "JSON written to " << *json << "\n";
    }
    return kExitOk;
}

int cmdTrace(const Args &args)
{
    TraceOptions o;
    traceTable(o).apply(args);
    if (o.png)
        throw UsageError {"engram-cli draws no images (it has no Qt): write --json FILE and draw it with "
                          "'engram-plot FILE --out heatmaps.png' (or .svg, .pdf)"};
    if (!o.facts && (o.prompt.empty() || o.subject.empty()))
        throw UsageError {"'trace' needs --prompt TEXT and --subject S, or --facts FILE"};
    const auto session = openSession(o.model, args);
    if (o.facts)
        return cmdTraceAverage(o, *session);
    engram::TraceRequest request;
    request.prompt = o.prompt;
    request.subject = o.subject;
    request.expected = o.expect;
    engram::TraceParams p;
    p.kinds = parseKinds(o.kind);
    p.noise = parseNoise(o, *session, {request});
    p.window = o.window > 0 ? o.window : engram::defaultTraceWindow(session->summary().layers);
    p.batched = !o.oneCell;
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
    if (const auto &json = o.json) {
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
    const EvalOptions &o, const engram::Dataset &data, const std::vector<engram::EditRequest> &edited)
{
    std::vector<engram::FactPrompt> facts;
    if (const auto &file = o.retention) {
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
    EvalOptions o;
    evalTable(o).apply(args);
    const auto data = engram::importDataset(o.data, o.limit);
    std::cout << "data: " << data.records.size() << " " << engram::datasetFormatName(data.format) << " records";
    if (!data.rejected.empty())
        std::cout << ", " << data.rejected.size() << " rejected (first: record " << data.rejected.front().index << ", "
                  << data.rejected.front().field << ": " << data.rejected.front().reason << ")";
    std::cout << "\n";
    if (o.verbose)
        for (const auto &r : data.rejected)
            std::cout << "  rejected record " << r.index << ": " << r.field << ": " << r.reason << "\n";
    if (data.records.empty())
        throw engram::Error(engram::ErrorKind::CorruptFile, "no usable records in " + o.data);
    auto session = openSession(o.model, args);
    engram::EvalParams &p = o.params;
    std::optional<engram::ReferenceTexts> references;
    if (const auto &refs = o.referenceTexts) {
        if (p.generationInterval == 0)
            throw UsageError {"--reference-texts scores generations: give --generations K too"};
        references = engram::ReferenceTexts::load(*refs);
        p.references = &*references;
    }
    const auto &patch = o.patch;
    const auto edited = patch ? engram::patchRequests(*patch) : std::vector<engram::EditRequest>();
    const auto retention = retentionFacts(o, data, edited);

    std::vector<std::string> chosenPrompts; // --prompts FILE: one prompt per line, generated before/after
    if (const auto &file = o.prompts) {
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
              << (o.retention ? "the --retention facts" : "records outside the patch's edits") << ")\n";
    if (const auto &json = o.json) {
        nlohmann::json doc {{"data", o.data}, {"format", engram::datasetFormatName(data.format)}, {"model", o.model},
            {"patch", patch.value_or("")}};
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
    GenerateOptions o;
    generateTable(o).apply(args);
    if (o.greedy && o.sampling)
        throw UsageError {"--greedy cannot be combined with --top-k, --top-p or --temperature"};
    engram::GenerationParams &p = o.params;
    p.useCache = !o.noCache;
    p.greedy = !o.sampling;
    const auto session = openSession(o.model, args);
    if (o.patch)
        engram::applyPatchFile(*session, *o.patch);
    const std::string &prompt = o.prompt;
    const auto out = session->generate(prompt, p);
    std::cout << prompt << out.continuation << "\n";
    if (o.ids) {
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

// The help text, generated from the option tables: every command, or the forms of `only`.
std::string helpText(const std::string &only)
{
    static ModelOptions info, tokenize;
    static GenerateOptions generate;
    static StatsOptions stats;
    static FileEditOptions edit;
    static TraceOptions trace;
    static EvalOptions eval;
    static LoraCommandOptions lora;
    const std::vector<OptionTable> files = {infoTable(info), tokenizeTable(tokenize), generateTable(generate),
        statsTable(stats), fileEditTable(edit), traceTable(trace), evalTable(eval), loraTable(lora)};
    const std::vector<OptionTable> projects = projectCommandTables();
    std::string out;
    bool found = false;
    auto section = [&](const std::string &title, const std::vector<OptionTable> &tables) {
        std::string body;
        for (const auto &t : tables)
            if (only.empty() || t.command() == only)
                body += t.help() + "\n";
        if (!body.empty())
            out += title + "\n" + body;
        found = found || !body.empty();
    };
    out = only.empty() ? "Usage: engram-cli <command> [options]   (engram-cli <command> --help: one command)\n\n"
                       : "Usage:\n";
    section("Commands on a checkpoint directory:", files);
    section("Commands on a project (one SQLite file, *.engram; FILE below):", projects);
    if (!found)
        throw UsageError {"unknown command '" + only + "'"};
    out += commonOptionsHelp();
    out += "\nOptions a command does not take are refused (exit 2) with the closest known name.\n"
           "Exit codes: 0 ok, 2 usage error, 3 unreadable, unsupported, newer or locked input, 4 invalid request or\n"
           "runtime failure, 5 conflicting facts (nothing changed), 6 run held by the project's health guard (stored,\n"
           "not applied), 130 cancelled (Ctrl-C; a project stays at its last committed state).\n"
           "Example (the embedded demo): engram-cli stats --model resources/demo/model --corpus\n"
           "resources/demo/corpus.txt --layers 0,1,2,3 --max-docs 3000 --out /tmp/demo-stats.safetensors\n";
    return out;
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
            // `engram-cli CMD --help`: that command's forms; otherwise all of them.
            const std::string only = args.command == "help" && !args.positional.empty() ? args.positional.front()
                : args.command == "help"                                                   ? ""
                                                                                           : args.command;
            std::cout << helpText(only);
            return args.command.empty() && !args.flag("--help") && !args.flag("-h") ? kExitUsage : kExitOk;
        }
        engram::configureThreads(static_cast<int>(toInt(args, "--threads", 0, 0, 1024)));
        if (isProjectCommand(args))
            return runProjectCommand(args);
        if (!args.positional.empty())
            throw UsageError {"unexpected argument '" + args.positional.front() + "'"};
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
        if (args.command == "lora")
            return cmdLora(args);
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
        // The first line only: LibTorch appends its C++ backtrace, which helps no user.
        const std::string what = e.what();
        std::cerr << "engram-cli: internal error: " << what.substr(0, what.find('\n')) << "\n";
        return kExitRuntime;
    }
}
