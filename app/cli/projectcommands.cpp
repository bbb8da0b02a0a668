#include "cli/projectcommands.h"

#include "core/data/datasets.h"
#include "core/edit/presets.h"
#include "core/model/modelconfig.h"
#include "core/util/error.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

namespace cli {

namespace fs = std::filesystem;
using nlohmann::json;

const char *kProjectUsage = R"(
Projects (one SQLite file, *.engram; FILE below):
  project new FILE --model DIR          start a project on a Hugging Face checkpoint
            [--corpus PATH] [--max-docs N]  statistics corpus for MEMIT/ROME edits
  project info FILE [--json]            model, facts, runs, evaluations
  project check FILE                    integrity of the file and its stored patches
  project branch FILE --run N --out NEW a copy holding the history up to run N
  facts import FILE --data DATA         CounterFact / zsRE / known facts / EasyEdit / CSV
            [--limit N] [--tags a,b] [--disabled]
  facts list FILE [--relation R] [--tag T] [--json]
  facts export FILE --out F.json|F.csv  [--relation R] [--tag T] [--ids 1,2]  (re-importable)
  facts add FILE --subject S --prompt "{} was born in" --target-new O
            [--target-true T] [--relation R] [--tags a,b] [--paraphrases "p1|p2"]
  facts remove|enable|disable FILE --ids 1,2,3
  facts undo FILE                       reverse the last fact change
  edit FILE [--ids 1,2] [edit options]  edit the enabled facts no applied run has edited
            (or --ids) on top of the current state; refuses conflicting facts (exit 5)
            unless --allow-conflicts; statistics from the project's corpus, --corpus or
            --stats; --keep-facts keeps the project's other facts (as --keep below);
            options as for 'edit' below
  stats FILE [--layers L1,L2] [--corpus PATH]  statistics for the project's model, computed
            once from its corpus and cached (default layers: the MEMIT preset's)
  trace FILE --ids 1,2 [--kind all] [--samples N] [--window W]  causal traces, stored
  eval FILE [--ids 1,2] [--generations K] [--seed S] [--json]
                                        scores of the edited facts (else all enabled) on
                                        the base model (pre) and the current state (post)
  generate FILE --prompt TEXT           generate on the current state (options as below)
  history FILE [--json]                 the edit runs, in order
  revert FILE --run N                   take a run out (verified by the state hash)
  reapply FILE --run N                  put a reverted run back
  export FILE --out DIR [--overwrite]   the patched model as a Hugging Face directory
            [--copy]                    copy unchanged shards instead of hard-linking them
  export FILE --patch OUT [--run N]     one run's patch, or all applied runs composed
  patch import FILE --patch P           record a patch made elsewhere for the same base
  Ctrl-C cancels a running job; the project stays at its last committed state (exit 130).
)";

namespace {

int singleLayer(const Args &args, const std::string &method)
{
    if (args.value("--layer"))
        return static_cast<int>(toInt(args, "--layer", 0, 0, 100000));
    const auto layers = parseLayers(args);
    if (layers.size() != 1)
        throw UsageError {method + " edits one layer: give --layer N"};
    return layers.front();
}

std::vector<std::string> splitList(const std::string &text, char separator)
{
    std::vector<std::string> out;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, separator);)
        if (!item.empty())
            out.push_back(item);
    return out;
}

fs::path projectFile(const Args &args, std::size_t index)
{
    if (args.positional.size() <= index)
        throw UsageError {"'" + args.command + "' needs a project file (FILE.engram)"};
    return args.positional[index];
}

bool wantJson(const Args &args)
{
    return args.flag("--json");
}

engram::JobContext jobContext(ProgressPrinter &printer)
{
    return engram::JobContext(std::ref(printer), &cancelRequested());
}

std::string factLine(const engram::Fact &f)
{
    std::string prompt = f.promptTemplate;
    prompt.replace(prompt.find("{}"), 2, "[" + f.subject + "]");
    auto trimmed = [](const std::string &s) { return s.substr(std::min(s.size(), s.find_first_not_of(' '))); };
    return prompt + " " + (f.targetTrue.empty() ? "?" : trimmed(f.targetTrue)) + " -> " + trimmed(f.targetNew);
}

json factToJson(const engram::Fact &f)
{
    return {{"id", f.id}, {"case_id", f.caseId}, {"subject", f.subject}, {"prompt", f.promptTemplate},
        {"relation", f.relation}, {"target_true", f.targetTrue}, {"target_new", f.targetNew},
        {"paraphrases", f.paraphrasePrompts}, {"neighborhood", f.neighborhoodPrompts}, {"tags", f.tags},
        {"enabled", f.enabled}, {"provenance", f.provenance}, {"created_at", f.createdAt}, {"updated_at", f.updatedAt}};
}

int cmdProject(const Args &args)
{
    const std::string sub = args.positional.empty() ? "" : args.positional[0];
    if (sub == "new") {
        const fs::path file = projectFile(args, 1);
        const auto model = engram::describeProjectModel(requireValue(args, "--model"));
        auto project = engram::Project::create(file, model);
        if (const auto corpus = args.value("--corpus"))
            project->setSetting("stats.corpus", fs::absolute(*corpus).lexically_normal().string());
        if (args.value("--max-docs"))
            project->setSetting("stats.max_docs", std::to_string(toInt(args, "--max-docs", 0, 0, 1L << 40)));
        const auto summary = json::parse(model.summaryJson);
        std::cout << "created " << file.string() << " for " << model.path.string() << " ("
                  << summary.value("family", "") << ", " << summary.value("layers", 0) << " layers, content hash "
                  << model.contentHash << ")\n";
        return kExitOk;
    }
    if (sub == "info") {
        const auto project = engram::Project::open(projectFile(args, 1), /*readOnly=*/true);
        const auto model = project->model();
        const auto facts = project->facts();
        const auto runs = project->runs();
        std::map<std::string, int> byStatus;
        for (const auto &r : runs)
            byStatus[engram::runStatusName(r.status)]++;
        const auto enabled = std::count_if(facts.begin(), facts.end(), [](const auto &f) { return f.enabled; });
        json doc {{"file", project->file().string()}, {"schema", project->schemaVersion()},
            {"model",
                {{"path", model.path.string()}, {"content_hash", model.contentHash}, {"model_type", model.family},
                    {"summary", json::parse(model.summaryJson, nullptr, false)}}},
            {"facts", facts.size()}, {"enabled_facts", enabled}, {"edited_facts", project->editedFacts().size()},
            {"runs", byStatus}, {"evaluations", project->evaluations().size()}, {"traces", project->traces().size()},
            {"statistics_corpus", project->setting("stats.corpus")}};
        if (wantJson(args)) {
            std::cout << doc.dump(2) << "\n";
            return kExitOk;
        }
        std::cout << "project:     " << project->file().string() << " (schema " << project->schemaVersion() << ")\n"
                  << "model:       " << model.path.string() << " (" << model.family << ", hash " << model.contentHash
                  << ")\n"
                  << "facts:       " << facts.size() << " (" << enabled << " enabled, " << project->editedFacts().size()
                  << " edited)\n"
                  << "runs:        " << runs.size();
        for (const auto &[status, n] : byStatus)
            std::cout << (status == byStatus.begin()->first ? " (" : ", ") << n << " " << status;
        std::cout << (byStatus.empty() ? "" : ")") << "\n"
                  << "evaluations: " << project->evaluations().size() << "\n"
                  << "traces:      " << project->traces().size() << "\n"
                  << "statistics:  " << project->setting("stats.corpus", "(no corpus set)") << "\n";
        return kExitOk;
    }
    if (sub == "check") {
        const auto project = engram::Project::open(projectFile(args, 1), /*readOnly=*/true);
        const auto problems = project->check();
        for (const auto &p : problems)
            std::cout << "problem: " << p << "\n";
        std::cout << project->file().string() << ": " << (problems.empty() ? "ok" : "damaged") << " ("
                  << project->facts().size() << " facts, " << project->runs().size() << " runs)\n";
        return problems.empty() ? kExitOk : kExitInput;
    }
    if (sub == "branch") {
        const auto project = engram::Project::open(projectFile(args, 1), /*readOnly=*/true);
        const auto run = toInt(args, "--run", 0, 0, 1L << 40);
        project->branch(run, requireValue(args, "--out"));
        std::cout << "branched " << project->file().string() << " at run " << run << " -> "
                  << requireValue(args, "--out") << "\n";
        return kExitOk;
    }
    throw UsageError {"'project' needs new, info, check or branch"};
}

int cmdFacts(const Args &args)
{
    const std::string sub = args.positional.empty() ? "" : args.positional[0];
    const fs::path file = projectFile(args, 1);
    if (sub == "list") {
        const auto project = engram::Project::open(file, /*readOnly=*/true);
        engram::FactFilter filter;
        filter.relation = args.value("--relation").value_or("");
        filter.tag = args.value("--tag").value_or("");
        const auto facts = project->facts(filter);
        std::map<int64_t, int64_t> editedBy;
        for (const auto &[fact, run] : project->editedFacts())
            editedBy[fact] = run;
        if (wantJson(args)) {
            json list = json::array();
            for (const auto &f : facts) {
                json j = factToJson(f);
                j["edited_by_run"] = editedBy.count(f.id) ? json(editedBy[f.id]) : json(nullptr);
                list.push_back(j);
            }
            std::cout << list.dump(2) << "\n";
            return kExitOk;
        }
        for (const auto &f : facts) {
            std::cout << std::setw(5) << f.id << (f.enabled ? "  " : " -") << std::setw(8) << std::left
                      << (editedBy.count(f.id) ? "run " + std::to_string(editedBy[f.id]) : "") << std::right
                      << factLine(f);
            if (!f.tags.empty()) {
                std::cout << "  [";
                for (std::size_t i = 0; i < f.tags.size(); ++i)
                    std::cout << (i ? "," : "") << f.tags[i];
                std::cout << "]";
            }
            std::cout << "\n";
        }
        std::cout << facts.size() << " fact(s)\n";
        return kExitOk;
    }
    if (sub == "export") {
        const auto project = engram::Project::open(file, /*readOnly=*/true);
        engram::FactFilter filter;
        filter.relation = args.value("--relation").value_or("");
        filter.tag = args.value("--tag").value_or("");
        if (const auto ids = args.value("--ids"))
            filter.ids = parseIds("--ids", *ids);
        std::vector<engram::EvalRecord> records;
        for (const auto &f : project->facts(filter))
            records.push_back(engram::recordFromFact(f));
        engram::exportDataset(records, requireValue(args, "--out"));
        std::cout << "exported " << records.size() << " fact(s) to " << requireValue(args, "--out") << "\n";
        return kExitOk;
    }
    auto project = engram::Project::open(file);
    if (sub == "import") {
        const std::string data = requireValue(args, "--data");
        const auto dataset = engram::importDataset(data, toInt(args, "--limit", 0, 0, 1L << 40));
        const auto tags = splitList(args.value("--tags").value_or(""), ',');
        std::vector<engram::Fact> facts;
        std::size_t skipped = 0;
        for (std::size_t i = 0; i < dataset.records.size(); ++i) {
            engram::Fact f = engram::factFromRecord(dataset.records[i]);
            if (f.targetNew.empty()) { // known facts: nothing to change to
                ++skipped;
                continue;
            }
            f.tags = tags;
            f.enabled = !args.flag("--disabled");
            f.provenance = fs::path(data).filename().string() + "#" + std::to_string(i + 1);
            facts.push_back(std::move(f));
        }
        const auto ids = project->addFacts(std::move(facts));
        std::cout << "imported " << ids.size() << " " << engram::datasetFormatName(dataset.format) << " fact(s) into "
                  << file.string();
        if (!ids.empty())
            std::cout << " (ids " << ids.front() << "-" << ids.back() << ")";
        std::cout << "\n";
        if (skipped)
            std::cout << skipped << " record(s) without a new target skipped\n";
        if (!dataset.rejected.empty())
            std::cout << dataset.rejected.size() << " record(s) rejected; first: record "
                      << dataset.rejected.front().index << ", " << dataset.rejected.front().field << ": "
                      << dataset.rejected.front().reason << "\n";
        return kExitOk;
    }
    if (sub == "add") {
        engram::Fact f;
        f.subject = requireValue(args, "--subject");
        f.promptTemplate = requireValue(args, "--prompt");
        f.targetNew = requireValue(args, "--target-new");
        if (f.targetNew.front() != ' ')
            f.targetNew = " " + f.targetNew;
        f.targetTrue = args.value("--target-true").value_or("");
        if (!f.targetTrue.empty() && f.targetTrue.front() != ' ')
            f.targetTrue = " " + f.targetTrue;
        f.relation = args.value("--relation").value_or("");
        f.tags = splitList(args.value("--tags").value_or(""), ',');
        f.paraphrasePrompts = splitList(args.value("--paraphrases").value_or(""), '|');
        f.provenance = "cli";
        if (const auto problem = engram::validateFact(f); !problem.empty())
            throw UsageError {problem};
        const int64_t id = project->addFact(f);
        f.id = id;
        std::cout << "added fact " << id << ": " << factLine(f) << "\n";
        return kExitOk;
    }
    if (sub == "remove" || sub == "enable" || sub == "disable") {
        const auto ids = parseIds("--ids", requireValue(args, "--ids"));
        if (sub == "remove") {
            project->removeFacts(ids);
        } else {
            for (int64_t id : ids) {
                auto f = project->fact(id);
                if (!f)
                    throw engram::Error(engram::ErrorKind::InvalidArgument, "no fact " + std::to_string(id));
                f->enabled = sub == "enable";
                project->updateFact(*f);
            }
        }
        std::cout << sub << (sub == "remove" ? "d " : "d ") << ids.size() << " fact(s)\n";
        return kExitOk;
    }
    if (sub == "undo") {
        const std::string what = project->undoLastFactChange();
        std::cout << (what.empty() ? "nothing to undo" : what) << "\n";
        return kExitOk;
    }
    throw UsageError {"'facts' needs import, list, export, add, remove, enable, disable or undo"};
}

json conflictsJson(const std::vector<engram::Conflict> &conflicts)
{
    json list = json::array();
    for (const auto &c : conflicts)
        list.push_back({{"kind", engram::conflictKindName(c.kind)}, {"facts", c.factIds}, {"run", c.runId},
            {"message", c.message}});
    return list;
}

// The edit spec of a project command: the project model's preset with the options given, the
// statistics source (--stats, --corpus, --max-docs, --cache-dir, --accumulate) and placement.
engram::EditJobSpec projectEditSpec(const Args &args, const fs::path &file)
{
    fs::path model;
    {
        const auto project = engram::Project::open(file, /*readOnly=*/true);
        model = project->model().path;
    }
    // The preset needs config.json only: the job opens the checkpoint itself, once.
    engram::EditJobSpec spec = editSpecFromArgs(args, engram::editPresetForCheckpoint(model));
    spec.statistics = statisticsSourceFromArgs(args, /*defaultMaxDocuments=*/-1);
    spec.load = loadOptions(args);
    return spec;
}

int cmdProjectEdit(const Args &args)
{
    const fs::path file = projectFile(args, 0);
    engram::EditJobSpec spec = projectEditSpec(args, file);
    if (const auto ids = args.value("--ids"))
        spec.factIds = parseIds("--ids", *ids);
    spec.allowConflicts = args.flag("--allow-conflicts");
    spec.keepProjectFacts = args.flag("--keep-facts");

    ProgressPrinter printer("edit");
    auto context = jobContext(printer);
    const auto r = engram::runEditJob(file, spec, context);
    if (wantJson(args)) {
        std::cout << json {{"run", r.runId}, {"method", engram::editMethodName(spec.config.method())},
            {"facts", r.facts}, {"layers", r.summary.layers}, {"relative_norms", r.summary.relativeNorms},
            {"seconds", r.summary.seconds}, {"state_before", r.stateBefore}, {"state_after", r.stateAfter},
            {"conflicts", conflictsJson(r.conflicts)}}
                         .dump(2)
                  << "\n";
        return kExitOk;
    }
    for (const auto &c : r.conflicts)
        std::cout << "conflict (allowed): " << c.message << "\n";
    std::cout << "run " << r.runId << ": " << engram::editMethodName(spec.config.method()) << " on " << r.facts
              << " fact(s) in " << std::fixed << std::setprecision(1) << r.summary.seconds << " s\n";
    for (std::size_t i = 0; i < r.summary.layers.size(); ++i)
        std::cout << "  layer " << r.summary.layers[i] << ": |dW|/|W| = " << std::setprecision(4)
                  << r.summary.relativeNorms[i] << "\n";
    std::cout << "state " << r.stateBefore << " -> " << r.stateAfter << "\n";
    return kExitOk;
}

int cmdProjectStats(const Args &args)
{
    const fs::path file = projectFile(args, 0);
    const engram::EditJobSpec spec = projectEditSpec(args, file);
    const std::vector<int> layers = args.value("--layers") ? parseLayers(args) : spec.config.statisticsLayers();
    if (layers.empty())
        throw UsageError {"ftw needs no statistics; give --layers to compute some anyway"};
    ProgressPrinter printer("stats");
    auto context = jobContext(printer);
    const auto stats = engram::runStatisticsJob(file, spec.statistics, layers, spec.load, context);
    for (std::size_t i = 0; i < layers.size(); ++i)
        std::cout << "layer " << layers[i] << ": " << stats.files[i].string() << "\n";
    return kExitOk;
}

int cmdProjectTrace(const Args &args)
{
    const fs::path file = projectFile(args, 0);
    engram::TraceJobSpec spec;
    spec.factIds = parseIds("--ids", requireValue(args, "--ids"));
    spec.params.noise.scale = 0; // 3σ of the project's subjects
    spec.params.noise.samples = static_cast<int>(toInt(args, "--samples", 10, 1, 10000));
    spec.params.noise.seed = seedOption(args, 1);
    spec.window = static_cast<int>(toInt(args, "--window", 0, 0, 10000));
    const std::string kind = args.value("--kind").value_or("all");
    if (kind != "all") {
        const auto k = engram::parseTraceKind(kind);
        if (!k)
            throw UsageError {"--kind must be hidden, mlp, attn or all"};
        spec.params.kinds = {*k};
    }
    spec.load = loadOptions(args);
    ProgressPrinter printer("trace");
    auto context = jobContext(printer);
    const auto r = engram::runTraceJob(file, spec, context);
    for (std::size_t i = 0; i < r.results.size(); ++i) {
        const auto &t = r.results[i];
        std::cout << "trace " << r.traceIds[i] << ": " << t.prompt << " ->" << t.answer << " (p clean "
                  << std::setprecision(3) << t.highScore << ", corrupted " << t.lowScore << ")";
        if (const auto *m = t.matrix(engram::TraceKind::Mlp)) {
            std::size_t best = 0;
            for (std::size_t c = 1; c < m->scores.size(); ++c)
                if (m->scores[c] > m->scores[best])
                    best = c;
            const auto token = static_cast<std::size_t>(best / static_cast<std::size_t>(t.layers));
            std::cout << "; strongest MLP restoration: token '" << t.tokens[token] << "' layer "
                      << best % static_cast<std::size_t>(t.layers) << " (" << m->scores[best] << ")";
        }
        std::cout << "\n";
    }
    return kExitOk;
}

int cmdProjectEval(const Args &args)
{
    const fs::path file = projectFile(args, 0);
    engram::EvalJobSpec spec;
    if (const auto ids = args.value("--ids"))
        spec.factIds = parseIds("--ids", *ids);
    spec.generationInterval = static_cast<int>(toInt(args, "--generations", 0, 0, 1 << 30));
    spec.seed = seedOption(args, 0);
    spec.load = loadOptions(args);
    ProgressPrinter printer("eval");
    auto context = jobContext(printer);
    const auto r = engram::runEvalJob(file, spec, context);
    auto row = [](const char *name, const engram::EvalSummary &e) {
        std::printf("%-5s %6.1f  %5.1f  %5.1f  %5.1f  %6.1f  %6.1f  %6.1f\n", name, e.score, e.es.mean, e.ps.mean,
            e.ns.mean, e.em.mean, e.pm.mean, e.nm.mean);
    };
    if (wantJson(args)) {
        json doc = json::parse(engram::evaluationSummaryJson(r));
        doc["evaluation"] = r.evaluationId;
        doc["facts"] = r.facts;
        std::cout << doc.dump(2) << "\n";
        return kExitOk;
    }
    std::printf("evaluation %lld of %zu fact(s) (x100): pre = base model, post = current state\n",
        static_cast<long long>(r.evaluationId), r.facts);
    std::printf("       Score     ES     PS     NS      EM      PM      NM\n");
    row("pre", r.pre);
    row("post", r.post);
    if (r.retentionPre.total > 0)
        std::printf("retention: the %lld unedited facts' true objects recalled: %.1f %% before, %.1f %% after\n",
            static_cast<long long>(r.retentionPre.total), 100 * r.retentionPre.rate(), 100 * r.retentionPost.rate());
    return kExitOk;
}

int cmdProjectGenerate(const Args &args)
{
    engram::GenerationParams p;
    p.maxNewTokens = static_cast<int>(toInt(args, "--max-new-tokens", 32, 1, 1 << 20));
    p.topK = static_cast<int>(toInt(args, "--top-k", 0, 0, 1 << 30));
    p.seed = seedOption(args, 0);
    p.greedy = !args.value("--top-k");
    ProgressPrinter printer("generate");
    auto context = jobContext(printer);
    const std::string prompt = requireValue(args, "--prompt");
    const auto out = engram::runGenerateJob(projectFile(args, 0), prompt, p, loadOptions(args), context);
    std::cout << prompt << out.continuation << "\n";
    return kExitOk;
}

int cmdHistory(const Args &args)
{
    const auto project = engram::Project::open(projectFile(args, 0), /*readOnly=*/true);
    const auto runs = project->runs();
    if (wantJson(args)) {
        json list = json::array();
        for (const auto &r : runs) {
            json facts = json::array();
            for (const auto &f : r.facts)
                facts.push_back({{"fact_id", f.factId}, {"subject", f.subject}, {"prompt", f.promptTemplate},
                    {"target_new", f.targetNew}});
            list.push_back({{"run", r.id}, {"status", engram::runStatusName(r.status)}, {"method", r.method},
                {"params", json::parse(r.paramsJson, nullptr, false)}, {"seed", r.seed}, {"device", r.device},
                {"created_at", r.createdAt}, {"seconds", r.seconds}, {"summary", json::parse(r.summary.toJson())},
                {"base_state", r.baseState}, {"result_state", r.resultState}, {"message", r.message},
                {"facts", facts}});
        }
        std::cout << list.dump(2) << "\n";
        return kExitOk;
    }
    if (runs.empty())
        std::cout << "no edit runs yet\n";
    for (const auto &r : runs) {
        std::cout << std::setw(4) << r.id << "  " << std::left << std::setw(10) << engram::runStatusName(r.status)
                  << std::setw(9) << r.method << std::right << std::setw(5) << r.facts.size() << " fact(s)  "
                  << r.createdAt << "  " << std::fixed << std::setprecision(1) << r.seconds << " s";
        if (!r.summary.layers.empty())
            std::cout << "  layers " << json(r.summary.layers).dump();
        if (!r.resultState.empty())
            std::cout << "  state " << r.resultState;
        if (!r.message.empty())
            std::cout << "  (" << r.message << ")";
        std::cout << "\n";
    }
    return kExitOk;
}

int cmdRevert(const Args &args, bool reapply)
{
    const auto run = toInt(args, "--run", 0, 1, 1L << 40);
    if (!args.value("--run"))
        throw UsageError {"'" + args.command + "' needs --run N"};
    ProgressPrinter printer(args.command);
    auto context = jobContext(printer);
    const auto r = engram::revertRun(projectFile(args, 0), run, reapply, loadOptions(args), context);
    std::cout << (reapply ? "re-applied" : "reverted") << " run " << run << ": state " << r.stateBefore << " -> "
              << r.stateAfter;
    if (r.verified)
        std::cout << " (verified: the state the history records)";
    std::cout << "\n";
    for (auto id : r.rebasedRuns)
        std::cout << "note: run " << id
                  << " was computed on weights that an earlier run changed; its change was added to the "
                     "weights as they are now\n";
    return kExitOk;
}

int cmdExport(const Args &args)
{
    const fs::path file = projectFile(args, 0);
    ProgressPrinter printer("export");
    auto context = jobContext(printer);
    if (const auto patch = args.value("--patch")) {
        const auto run = toInt(args, "--run", 0, 0, 1L << 40);
        engram::exportPatchFile(file, run, *patch, loadOptions(args), context);
        std::cout << "patch " << (run ? "of run " + std::to_string(run) : std::string("of all applied runs"))
                  << " written to " << *patch << "\n";
        return kExitOk;
    }
    engram::ExportJobSpec spec;
    spec.out = requireValue(args, "--out");
    spec.options.overwrite = args.flag("--overwrite");
    spec.options.hardLink = !args.flag("--copy");
    const auto s = engram::runExportJob(file, spec, context);
    std::cout << "exported to " << s.directory.string() << ": " << s.tensorsPatched << " tensor(s) patched, "
              << s.shardsRewritten << " shard(s) written, " << s.shardsLinked << " linked, " << s.filesCopied
              << " file(s) copied, " << humanBytes(s.bytesWritten) << " in " << std::fixed << std::setprecision(2)
              << s.seconds << " s; layout checked against the base\n";
    return kExitOk;
}

int cmdPatch(const Args &args)
{
    if (args.positional.empty() || args.positional[0] != "import")
        throw UsageError {"'patch' needs import"};
    ProgressPrinter printer("patch");
    auto context = jobContext(printer);
    const auto id
        = engram::importPatchFile(projectFile(args, 1), requireValue(args, "--patch"), loadOptions(args), context);
    std::cout << "recorded the patch as run " << id << "\n";
    return kExitOk;
}

} // namespace

engram::EditJobSpec editSpecFromArgs(const Args &args, const engram::EditPreset &preset)
{
    const std::string name = args.value("--method").value_or("memit");
    const auto method = engram::parseEditMethod(name);
    if (!method)
        throw UsageError {"--method must be one of " + engram::editMethodNames()};
    const auto seed = seedOption(args, 0);
    engram::EditJobSpec spec;
    spec.config = preset.configFor(*method);
    switch (*method) {
    case engram::EditMethod::Memit: {
        auto &p = spec.config.memit();
        if (args.value("--layers"))
            p.layers = parseLayers(args);
        p.lambda = toDouble(args, "--lambda", p.lambda);
        p.vLr = toDouble(args, "--v-lr", p.vLr);
        p.vSteps = static_cast<int>(toInt(args, "--v-steps", p.vSteps, 1, 10000));
        p.clampNormFactor = toDouble(args, "--clamp", p.clampNormFactor);
        p.preserveFactor = toDouble(args, "--preserve-factor", p.preserveFactor);
        p.protectWeight = toDouble(args, "--protect-weight", p.protectWeight);
        p.seed = seed;
        break;
    }
    case engram::EditMethod::Rome:
    case engram::EditMethod::RRome: {
        auto &p = spec.config.rome();
        if (args.value("--layer") || args.value("--layers"))
            p.layer = singleLayer(args, name);
        p.vLr = toDouble(args, "--v-lr", p.vLr);
        p.vSteps = static_cast<int>(toInt(args, "--v-steps", p.vSteps, 1, 10000));
        p.clampNormFactor = toDouble(args, "--clamp", p.clampNormFactor);
        p.preserveFactor = toDouble(args, "--preserve-factor", p.preserveFactor);
        p.seed = seed;
        break;
    }
    case engram::EditMethod::FineTune: {
        auto &p = spec.config.fineTune();
        if (args.value("--layer") || args.value("--layers"))
            p.layer = singleLayer(args, name);
        p.steps = static_cast<int>(toInt(args, "--steps", p.steps, 1, 100000));
        p.lr = toDouble(args, "--lr", p.lr);
        p.normConstraint = toDouble(args, "--norm-constraint", p.normConstraint);
        break;
    }
    }
    // After the options are checked: a refused command line prints nothing on stdout.
    humanOut(args) << "preset: " << preset.name << " (" << preset.source << "); options given override it\n";
    return spec;
}

const std::vector<std::string> &editOptionNames()
{
    static const std::vector<std::string> names = {"--method", "--layers", "--layer", "--lambda", "--v-lr", "--v-steps",
        "--clamp", "--seed", "--steps", "--lr", "--norm-constraint", "--preserve-factor", "--protect-weight", "--stats",
        "--corpus", "--max-docs", "--cache-dir", "--accumulate"};
    return names;
}

engram::StatisticsSource statisticsSourceFromArgs(const Args &args, int64_t defaultMaxDocuments)
{
    engram::StatisticsSource source;
    if (const auto stats = args.value("--stats")) {
        source = engram::StatisticsSource::fromFiles(engram::splitPathList(*stats));
        if (source.files.empty())
            throw UsageError {"--stats needs at least one file"};
    } else if (const auto corpus = args.value("--corpus")) {
        source = engram::StatisticsSource::fromCorpus(*corpus);
    }
    source.maxDocuments = toInt(args, "--max-docs", defaultMaxDocuments, -1, 1L << 40);
    if (const auto dir = args.value("--cache-dir"))
        source.cacheDir = *dir;
    source.float64 = accumulateFloat64(args);
    return source;
}

bool isProjectCommand(const Args &args)
{
    static const std::set<std::string> always = {"project", "facts", "history", "revert", "reapply", "export", "patch"};
    static const std::set<std::string> withFile = {"edit", "trace", "eval", "generate", "stats"};
    return always.count(args.command) || (withFile.count(args.command) && !args.positional.empty());
}

int runProjectCommand(const Args &args)
{
    // Every option of each project command, declared once: anything else is refused (exit 2).
    static const std::map<std::string, std::vector<std::string>> kOptions = {
        {"project", {"--model", "--corpus", "--max-docs", "--json", "--out", "--run"}},
        {"facts",
            {"--json", "--relation", "--tag", "--tags", "--ids", "--out", "--data", "--limit", "--disabled",
                "--subject", "--prompt", "--target-new", "--target-true", "--paraphrases"}},
        {"edit", {"--ids", "--allow-conflicts", "--keep-facts", "--json"}},
        {"stats", {}},
        {"trace", {"--ids", "--kind", "--samples", "--seed", "--window"}},
        {"eval", {"--ids", "--generations", "--seed", "--json"}},
        {"generate", {"--prompt", "--max-new-tokens", "--seed", "--top-k"}},
        {"history", {"--json"}},
        {"revert", {"--run"}},
        {"reapply", {"--run"}},
        {"export", {"--out", "--run", "--copy", "--overwrite", "--patch"}},
        {"patch", {"--patch"}},
    };
    if (const auto it = kOptions.find(args.command); it != kOptions.end()) {
        std::vector<std::string> known = it->second;
        if (args.command == "edit" || args.command == "stats")
            known.insert(known.end(), editOptionNames().begin(), editOptionNames().end());
        checkOptions(args, known);
    }
    installCancelHandler();
    const std::string &c = args.command;
    if (c == "project")
        return cmdProject(args);
    if (c == "facts")
        return cmdFacts(args);
    if (c == "edit")
        return cmdProjectEdit(args);
    if (c == "trace")
        return cmdProjectTrace(args);
    if (c == "stats")
        return cmdProjectStats(args);
    if (c == "eval")
        return cmdProjectEval(args);
    if (c == "generate")
        return cmdProjectGenerate(args);
    if (c == "history")
        return cmdHistory(args);
    if (c == "revert" || c == "reapply")
        return cmdRevert(args, c == "reapply");
    if (c == "export")
        return cmdExport(args);
    return cmdPatch(args);
}

} // namespace cli
