#include "cli/projectcommands.h"

#include "core/data/datasets.h"
#include "core/edit/presets.h"
#include "core/model/modelconfig.h"
#include "core/util/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace cli {

namespace fs = std::filesystem;
using nlohmann::json;


namespace {

std::vector<std::string> splitList(const std::string &text, char separator)
{
    std::vector<std::string> out;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, separator);)
        if (!item.empty())
            out.push_back(item);
    return out;
}

// ---- options: one struct and one table per command -------------------------------------

struct ProjectOptions {
    std::string model, out;
    std::optional<std::string> corpus;
    std::optional<double> minRetention, minEs;
    int64_t maxDocs = -1;
    int64_t run = 0;
    bool json = false;
};

OptionTable projectTable(ProjectOptions &o)
{
    OptionTable t("project", "new FILE --model DIR [--corpus PATH] [--max-docs N]",
        "start a project (one SQLite file, *.engram) on a Hugging Face checkpoint; the corpus is the "
        "statistics corpus of its MEMIT/ROME edits");
    t.form("info FILE [--json]", "model, facts, runs, evaluations")
        .form("check FILE", "integrity of the file and its stored patches (exit 3 when damaged)")
        .form("branch FILE --run N --out NEW", "a copy holding the history up to run N")
        .form("guard FILE [--min-retention F] [--min-es N]",
            "show or set the health guard: an edit whose result falls below it is held, not applied (exit 6)");
    return t.text("--model", "DIR", "checkpoint directory (new)", o.model)
        .text("--corpus", "PATH", "statistics corpus, .txt (a document per line) or .jsonl (new)", o.corpus)
        .integer("--max-docs", "N", "documents of the corpus used; -1: the model preset's count (new)", o.maxDocs, -1,
            1L << 40)
        .flag("--json", "machine-readable output (info)", o.json)
        .text("--out", "NEW", "the new project file (branch)", o.out)
        .integer("--run", "N", "the last run the branch keeps (branch)", o.run, 0, 1L << 40)
        .custom("--min-retention", "F",
            "guard: least retention of the project's other facts, as a share of the base model's (default 0.95; "
            "0: off)",
            [&o](const std::string &v) { o.minRetention = parseNumber("--min-retention", v, 0, 1); })
        .custom("--min-es", "N", "guard: least ES over every fact edited so far, 0-100 (default 90; 0: off)",
            [&o](const std::string &v) { o.minEs = parseNumber("--min-es", v, 0, 100); });
}

struct FactsOptions {
    std::string relation, tag, tags, out, data, subject, prompt, targetNew, targetTrue, paraphrases;
    std::vector<int64_t> ids;
    int64_t limit = 0;
    bool disabled = false, json = false;
};

OptionTable factsTable(FactsOptions &o)
{
    OptionTable t("facts", "import FILE --data DATA [--limit N] [--tags a,b] [--disabled]",
        "import CounterFact / zsRE / known facts / EasyEdit / CSV records");
    t.form("list FILE [--relation R] [--tag T] [--json]", "")
        .form("export FILE --out F.json|F.csv [--relation R] [--tag T] [--ids 1,2]", "re-importable")
        .form("add FILE --subject S --prompt \"{} was born in\" --target-new O [--target-true T] [--relation R] "
              "[--tags a,b] [--paraphrases \"p1|p2\"]",
            "")
        .form("remove|enable|disable FILE --ids 1,2,3", "")
        .form("undo FILE", "reverse the last fact change");
    return t.text("--data", "DATA", "dataset file to import", o.data)
        .integer("--limit", "N", "import at most N records; 0: all", o.limit, 0, 1L << 40)
        .text("--tags", "a,b", "tags given to the imported or added facts", o.tags)
        .flag("--disabled", "import the facts disabled", o.disabled)
        .text("--relation", "R", "only facts of relation R (list, export); the relation id (add)", o.relation)
        .text("--tag", "T", "only facts tagged T (list, export)", o.tag)
        .ids("--ids", "the facts (export, remove, enable, disable)", o.ids)
        .text("--out", "F.json|F.csv", "export file", o.out)
        .flag("--json", "machine-readable output (list)", o.json)
        .text("--subject", "S", "the subject (add)", o.subject)
        .text("--prompt", "TEXT", "the prompt template, {} for the subject (add)", o.prompt)
        .text("--target-new", "O", "the new object (add)", o.targetNew)
        .text("--target-true", "T", "the true object (add)", o.targetTrue)
        .text("--paraphrases", "\"p1|p2\"", "paraphrase prompts (add)", o.paraphrases);
}

struct ProjectEditOptions {
    engram::EditJobSpec spec;
    bool json = false;
};

OptionTable projectEditTable(ProjectEditOptions &o)
{
    OptionTable t("edit", "FILE [--ids 1,2] [edit options]",
        "edit the enabled facts no applied run has edited (or --ids) on top of the current state; refuses "
        "conflicting facts (exit 5) unless --allow-conflicts; statistics from the project's corpus, --corpus or "
        "--stats");
    t.ids("--ids", "the facts to edit", o.spec.factIds)
        .flag("--allow-conflicts", "edit although facts conflict (same subject and prompt, other object)",
            o.spec.allowConflicts)
        .flag("--keep-facts", "keep the project's other facts (as --keep of the file edit)", o.spec.keepProjectFacts)
        .flag("--force", "apply the run even when its health falls below the project's guard (else it is held, "
                         "exit 6)",
            o.spec.force)
        .flag("--json", "machine-readable output", o.json);
    return t.append(editOptionsTable(o.spec));
}

struct ProjectStatsOptions {
    engram::EditJobSpec spec;
};

OptionTable projectStatsTable(ProjectStatsOptions &o)
{
    OptionTable t("stats", "FILE [--layers L1,L2] [--corpus PATH]",
        "statistics for the project's model, computed once from its corpus and cached (default layers: those the "
        "edit options' method needs)");
    return t.append(editOptionsTable(o.spec));
}

struct ProjectTraceOptions {
    engram::TraceJobSpec spec;
    std::string kind = "all";
};

OptionTable projectTraceTable(ProjectTraceOptions &o)
{
    OptionTable t("trace", "FILE --ids 1,2 [--kind all] [--samples N] [--window W]",
        "causal traces of the facts, stored in the project (noise: 3 sigma of the project's subjects)");
    return t.ids("--ids", "the facts to trace", o.spec.factIds)
        .required("--ids")
        .text("--kind", "hidden|mlp|attn|all", "what is restored (default all)", o.kind)
        .integer("--samples", "N", "noise samples", o.spec.params.noise.samples, 1, 10000)
        .seed("noise seed", o.spec.params.noise.seed)
        .integer("--window", "W", "layers restored together for mlp/attn; 0: scaled to the model", o.spec.window, 0,
            10000);
}

struct ProjectEvalOptions {
    engram::EvalJobSpec spec;
    bool json = false;
};

OptionTable projectEvalTable(ProjectEvalOptions &o)
{
    OptionTable t("eval", "FILE [--ids 1,2] [--generations K] [--seed S] [--json]",
        "scores of the edited facts (else all enabled) on the base model (pre) and the current state (post)");
    return t.ids("--ids", "the facts to score", o.spec.factIds)
        .integer("--generations", "K", "fluency from generations of every K-th fact; 0: none", o.spec.generationInterval,
            0, 1 << 30)
        .seed("generation seed", o.spec.seed)
        .flag("--json", "machine-readable output", o.json);
}

struct ProjectGenerateOptions {
    std::string prompt;
    engram::GenerationParams params;
};

OptionTable projectGenerateTable(ProjectGenerateOptions &o)
{
    OptionTable t("generate", "FILE --prompt TEXT", "generate on the project's current state (greedy unless --top-k)");
    return t.text("--prompt", "TEXT", "the text to continue", o.prompt)
        .required("--prompt")
        .integer("--max-new-tokens", "N", "new tokens", o.params.maxNewTokens, 1, 1 << 20)
        .custom("--top-k", "K", "sample from the K likeliest tokens",
            [&p = o.params](const std::string &v) {
                p.topK = static_cast<int>(parseInteger("--top-k", v, 1, 1 << 30));
                p.greedy = false;
            })
        .seed("sampling seed", o.params.seed);
}

struct ProbeOptions {
    engram::ProbeJobSpec spec;
    bool json = false;
};

OptionTable probeTable(ProbeOptions &o)
{
    OptionTable t("probe", "FILE --subject S [--relation R,..] [--top-k K] [--tokens N] [--json]",
        "what the model answers about a subject for every relation the project knows, base and current state");
    return t.text("--subject", "S", "the subject to ask about", o.spec.subject)
        .required("--subject")
        .custom("--relation", "R,..", "only these relations (ids as the facts give them, e.g. P27)",
            [&r = o.spec.relations](const std::string &v) {
                std::string item;
                for (std::size_t i = 0; i <= v.size(); ++i) {
                    if (i == v.size() || v[i] == ',') {
                        if (item.empty())
                            throw UsageError {"--relation needs names separated by commas"};
                        r.push_back(item);
                        item.clear();
                    } else {
                        item += v[i];
                    }
                }
            })
        .integer("--top-k", "K", "next-word candidates per relation", o.spec.params.topK, 1, 100)
        .integer("--tokens", "N", "greedy continuation length", o.spec.params.continuationTokens, 0, 256)
        .flag("--json", "machine-readable output", o.json);
}

struct HistoryOptions {
    bool json = false;
};

OptionTable historyTable(HistoryOptions &o)
{
    OptionTable t("history", "FILE [--json]", "the edit runs, in order");
    return t.flag("--json", "machine-readable output", o.json);
}

struct RevertOptions {
    int64_t run = 0;
};

OptionTable revertTable(const std::string &command, RevertOptions &o)
{
    OptionTable t(command, "FILE --run N",
        command == "revert"        ? "take a run out (verified by the state hash)"
            : command == "reapply" ? "put a reverted run back, or apply a run the health guard held"
                                   : "discard a run the health guard held (its record stays)");
    return t.integer("--run", "N", "the run", o.run, 1, 1L << 40).required("--run");
}

struct ExportCommandOptions {
    engram::ExportJobSpec spec;
    engram::LoraOptions lora;
    std::optional<std::string> patch, loraDir;
    int64_t run = 0;
    bool copy = false;
};

OptionTable exportTable(ExportCommandOptions &o)
{
    OptionTable t("export", "FILE --out DIR [--overwrite] [--copy]", "the patched model as a Hugging Face directory");
    t.form("FILE --patch OUT [--run N]", "one run's patch, or all applied runs composed");
    t.form("FILE --lora DIR [--rank R] [--run N]",
        "one run's patch, or all applied runs (factors concatenated, ranks adding up), as a PEFT LoRA adapter for "
        "the base model");
    return t.custom("--out", "DIR", "the directory to write", [&o](const std::string &v) { o.spec.out = v; })
        .flag("--overwrite", "replace an existing export directory", o.spec.options.overwrite)
        .flag("--copy", "copy unchanged shards instead of hard-linking them", o.copy)
        .text("--patch", "OUT", "write a patch file instead", o.patch)
        .text("--lora", "DIR", "write a LoRA adapter directory instead (adapter_config.json, "
                              "adapter_model.safetensors)", o.loraDir)
        .integer("--rank", "R", "LoRA: at most R per module (truncated SVD, its relative error printed); 0: exact",
            o.lora.rank, 0, 1 << 20)
        .integer("--run", "N", "the run whose patch is written; 0: all applied runs composed", o.run, 0, 1L << 40);
}

struct PatchOptions {
    std::string patch;
};

OptionTable patchTable(PatchOptions &o)
{
    OptionTable t("patch", "import FILE --patch P", "record a patch made elsewhere for the same base model");
    return t.text("--patch", "P", "the patch file", o.patch).required("--patch");
}

fs::path projectFile(const Args &args, std::size_t index)
{
    if (args.positional.size() <= index)
        throw UsageError {"'" + args.command + "' needs a project file (FILE.engram)"};
    return args.positional[index];
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
    ProjectOptions o;
    projectTable(o).apply(args);
    const std::string sub = args.positional.empty() ? "" : args.positional[0];
    if (sub == "new") {
        const fs::path file = projectFile(args, 1);
        if (o.model.empty())
            throw UsageError {"'project new' needs --model DIR"};
        const auto model = engram::describeProjectModel(o.model);
        auto project = engram::Project::create(file, model);
        if (o.corpus)
            project->setSetting("stats.corpus", fs::absolute(*o.corpus).lexically_normal().string());
        if (o.maxDocs >= 0)
            project->setSetting("stats.max_docs", std::to_string(o.maxDocs));
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
        if (o.json) {
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
    if (sub == "guard") {
        const fs::path file = projectFile(args, 1);
        const bool change = o.minRetention || o.minEs;
        const auto project = engram::Project::open(file, /*readOnly=*/!change);
        engram::HealthGuard guard = project->healthGuard();
        if (change) {
            guard.minRetention = o.minRetention.value_or(guard.minRetention);
            guard.minEsSoFar = o.minEs.value_or(guard.minEsSoFar);
            project->setHealthGuard(guard);
        }
        const auto percent = [](double v) {
            std::ostringstream out;
            out << std::fixed << std::setprecision(1) << v;
            return out.str();
        };
        std::vector<std::string> rules;
        if (guard.minRetention > 0)
            rules.push_back("retention of the project's other facts falls below " + percent(100 * guard.minRetention)
                + " % of the base model's");
        if (guard.minEsSoFar > 0)
            rules.push_back("ES over the facts edited so far falls below " + percent(guard.minEsSoFar));
        std::cout << (change ? "guard set: " : "guard: ");
        if (rules.empty())
            std::cout << "off (no run is held)\n";
        else
            std::cout << "a run is held when " << rules[0] << (rules.size() > 1 ? " or " + rules[1] : "") << "\n";
        return kExitOk;
    }
    if (sub == "branch") {
        const auto project = engram::Project::open(projectFile(args, 1), /*readOnly=*/true);
        if (o.out.empty())
            throw UsageError {"'project branch' needs --out NEW"};
        project->branch(o.run, o.out);
        std::cout << "branched " << project->file().string() << " at run " << o.run << " -> " << o.out << "\n";
        return kExitOk;
    }
    throw UsageError {"'project' needs new, info, check or branch"};
}

int cmdFacts(const Args &args)
{
    FactsOptions o;
    factsTable(o).apply(args);
    const std::string sub = args.positional.empty() ? "" : args.positional[0];
    const fs::path file = projectFile(args, 1);
    if (sub == "list") {
        const auto project = engram::Project::open(file, /*readOnly=*/true);
        engram::FactFilter filter;
        filter.relation = o.relation;
        filter.tag = o.tag;
        const auto facts = project->facts(filter);
        std::map<int64_t, int64_t> editedBy;
        for (const auto &[fact, run] : project->editedFacts())
            editedBy[fact] = run;
        if (o.json) {
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
        if (o.out.empty())
            throw UsageError {"'facts export' needs --out F.json|F.csv"};
        engram::FactFilter filter;
        filter.relation = o.relation;
        filter.tag = o.tag;
        filter.ids = o.ids;
        std::vector<engram::EvalRecord> records;
        for (const auto &f : project->facts(filter))
            records.push_back(engram::recordFromFact(f));
        engram::exportDataset(records, o.out);
        std::cout << "exported " << records.size() << " fact(s) to " << o.out << "\n";
        return kExitOk;
    }
    auto project = engram::Project::open(file);
    if (sub == "import") {
        if (o.data.empty())
            throw UsageError {"'facts import' needs --data DATA"};
        const std::string &data = o.data;
        const auto dataset = engram::importDataset(data, o.limit);
        const auto tags = splitList(o.tags, ',');
        std::vector<engram::Fact> facts;
        std::size_t skipped = 0;
        for (std::size_t i = 0; i < dataset.records.size(); ++i) {
            engram::Fact f = engram::factFromRecord(dataset.records[i]);
            if (f.targetNew.empty()) { // known facts: nothing to change to
                ++skipped;
                continue;
            }
            for (const auto &t : tags)
                if (std::find(f.tags.begin(), f.tags.end(), t) == f.tags.end())
                    f.tags.push_back(t);
            f.enabled = !o.disabled;
            f.provenance = fs::path(data).filename().string() + "#" + std::to_string(i + 1);
            facts.push_back(std::move(f));
        }
        const std::size_t duplicates = engram::dropDuplicateFacts(project->facts(), facts);
        const auto ids = project->addFacts(std::move(facts));
        std::cout << "imported " << ids.size() << " " << engram::datasetFormatName(dataset.format) << " fact(s) into "
                  << file.string();
        if (!ids.empty())
            std::cout << " (ids " << ids.front() << "-" << ids.back() << ")";
        std::cout << "\n";
        if (skipped)
            std::cout << skipped << " record(s) without a new object skipped\n";
        if (duplicates)
            std::cout << duplicates << " duplicate(s) skipped (the same subject, prompt and objects as a fact already "
                      << "in the project or earlier in the file)\n";
        if (!dataset.rejected.empty())
            std::cout << dataset.rejected.size() << " record(s) rejected; first: record "
                      << dataset.rejected.front().index << ", " << dataset.rejected.front().field << ": "
                      << dataset.rejected.front().reason << "\n";
        // Nothing usable in a file that had records is a bad input, as eval treats it.
        if (ids.empty() && !dataset.rejected.empty() && dataset.records.empty())
            throw engram::Error(engram::ErrorKind::CorruptFile,
                data + ": every record was rejected; nothing was imported (first: record "
                    + std::to_string(dataset.rejected.front().index) + ", " + dataset.rejected.front().field + ": "
                    + dataset.rejected.front().reason + ")");
        return kExitOk;
    }
    if (sub == "add") {
        for (const auto &[value, name] : {std::pair {&o.subject, "--subject"}, std::pair {&o.prompt, "--prompt"},
                 std::pair {&o.targetNew, "--target-new"}})
            if (value->empty())
                throw UsageError {std::string("'facts add' needs ") + name};
        engram::Fact f;
        f.subject = o.subject;
        f.promptTemplate = o.prompt;
        f.targetNew = o.targetNew.front() == ' ' ? o.targetNew : " " + o.targetNew;
        f.targetTrue = o.targetTrue.empty() || o.targetTrue.front() == ' ' ? o.targetTrue : " " + o.targetTrue;
        f.relation = o.relation;
        f.tags = splitList(o.tags, ',');
        f.paraphrasePrompts = splitList(o.paraphrases, '|');
        f.provenance = "cli";
        if (const auto problem = engram::validateFact(f); !problem.empty())
            throw UsageError {problem};
        const int64_t id = project->addFact(f);
        f.id = id;
        std::cout << "added fact " << id << ": " << factLine(f) << "\n";
        return kExitOk;
    }
    if (sub == "remove" || sub == "enable" || sub == "disable") {
        if (o.ids.empty())
            throw UsageError {"'facts " + sub + "' needs --ids 1,2,3"};
        const auto &ids = o.ids;
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

// A path as a shell word, for commands the output suggests: quoted when it holds anything but
// letters, digits and . _ - / + , :
std::string shellQuoted(const std::string &text)
{
    const bool plain = !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) {
        return std::isalnum(c) || (c != 0 && std::strchr("._-/+,:", c) != nullptr);
    });
    if (plain)
        return text;
    std::string out = "'";
    for (char c : text)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

json conflictsJson(const std::vector<engram::Conflict> &conflicts)
{
    json list = json::array();
    for (const auto &c : conflicts)
        list.push_back({{"kind", engram::conflictKindName(c.kind)}, {"facts", c.factIds}, {"run", c.runId},
            {"message", c.message}});
    return list;
}

// The project model's preset, read from its config.json (the job opens the checkpoint itself, once).
engram::EditPreset projectPreset(const fs::path &file)
{
    const auto project = engram::Project::open(file, /*readOnly=*/true);
    return engram::editPresetForCheckpoint(project->model().path);
}

// Applies `table` (which holds the edit options over `spec`) on the preset's configuration.
void applyEditTable(const Args &args, const OptionTable &table, engram::EditJobSpec &spec, const engram::EditPreset &preset)
{
    table.check(args);
    spec.config = preset.configFor(editMethodOf(args));
    spec.statistics.maxDocuments = -1; // the project's setting, else the preset's
    spec.load = loadOptions(args);
    table.apply(args);
}

int cmdProjectEdit(const Args &args)
{
    const fs::path file = projectFile(args, 0);
    ProjectEditOptions o;
    const OptionTable table = projectEditTable(o);
    table.check(args);
    const auto preset = projectPreset(file);
    applyEditTable(args, table, o.spec, preset);
    announcePreset(args, preset);
    const engram::EditJobSpec &spec = o.spec;

    ProgressPrinter printer("edit");
    auto context = jobContext(printer);
    const auto r = engram::runEditJob(file, spec, context);
    if (o.json) {
        std::cout << json {{"run", r.runId}, {"status", r.held ? "held" : "applied"},
            {"guard", r.guardBreaches}, {"method", engram::editMethodName(spec.config.method())},
            {"facts", r.facts}, {"layers", r.summary.layers}, {"relative_norms", r.summary.relativeNorms},
            {"null_space_dims", r.summary.nullSpaceDims}, {"earlier_runs_kept", r.summary.earlierRuns},
            {"health", {{"es_so_far", r.health.esSoFar}, {"edited_facts", r.health.editedFacts},
                           {"retention", r.health.retention}, {"retention_base", r.health.retentionBase},
                           {"fluency", r.health.fluency}, {"fluency_base", r.health.fluencyBase},
                           {"cumulative_relative_norms", r.health.cumulativeRelativeNorms}}},
            {"seconds", r.summary.seconds}, {"state_before", r.stateBefore}, {"state_after", r.stateAfter},
            {"conflicts", conflictsJson(r.conflicts)}}
                         .dump(2)
                  << "\n";
        return r.held ? kExitHeld : kExitOk;
    }
    for (const auto &c : r.conflicts)
        std::cout << "conflict (allowed): " << c.message << "\n";
    std::cout << "run " << r.runId << ": " << engram::editMethodName(spec.config.method()) << " on " << r.facts
              << " fact(s) in " << std::fixed << std::setprecision(1) << r.summary.seconds << " s\n";
    if (engram::usesMemitParams(spec.config.method()) && spec.config.memit().preserveEarlierRuns)
        std::cout << "  earlier runs kept as memories: " << r.summary.earlierRuns << "\n";
    for (std::size_t i = 0; i < r.summary.layers.size(); ++i) {
        std::cout << "  layer " << r.summary.layers[i] << ": |dW|/|W| = " << std::setprecision(4)
                  << r.summary.relativeNorms[i];
        if (i < r.summary.nullSpaceDims.size())
            std::cout << ", null space " << r.summary.nullSpaceDims[i] << " dimensions";
        std::cout << "\n";
    }
    std::cout << "state " << r.stateBefore << " -> " << r.stateAfter << "\n";
    const engram::RunHealth &h = r.health;
    std::cout << "health: ES so far " << std::setprecision(1) << h.esSoFar << " over " << h.editedFacts
              << " edited fact(s)";
    if (h.retentionRatio() >= 0)
        std::cout << ", retention " << 100 * h.retentionRatio() << " % of the base model's (" << h.otherFacts
                  << " other facts)";
    std::cout << ", fluency " << std::setprecision(3) << h.fluency << " (base " << h.fluencyBase << ")\n";
    for (const auto &b : r.guardBreaches)
        std::cout << (r.held ? "held: " : "guard overridden (--force): ") << b << "\n";
    if (r.held) {
        const std::string f = shellQuoted(file.string());
        std::cout << "run " << r.runId << " is held, not applied: the model is as it was. `engram-cli reapply " << f
                  << " --run " << r.runId << "` applies it anyway, `engram-cli discard " << f << " --run " << r.runId
                  << "` discards it; `engram-cli project guard " << f << "` shows or sets the thresholds\n";
        return kExitHeld;
    }
    return kExitOk;
}

int cmdProjectStats(const Args &args)
{
    const fs::path file = projectFile(args, 0);
    ProjectStatsOptions o;
    const OptionTable table = projectStatsTable(o);
    table.check(args);
    applyEditTable(args, table, o.spec, projectPreset(file));
    const engram::EditJobSpec &spec = o.spec;
    const std::vector<int> layers = args.value("--layers") ? parseLayerList("--layers", *args.value("--layers")) : spec.config.statisticsLayers();
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
    ProjectTraceOptions o;
    o.spec.params.noise.scale = 0; // 3σ of the project's subjects
    projectTraceTable(o).apply(args);
    engram::TraceJobSpec &spec = o.spec;
    if (o.kind != "all") {
        const auto k = engram::parseTraceKind(o.kind);
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
    ProjectEvalOptions o;
    projectEvalTable(o).apply(args);
    engram::EvalJobSpec &spec = o.spec;
    spec.load = loadOptions(args);
    ProgressPrinter printer("eval");
    auto context = jobContext(printer);
    const auto r = engram::runEvalJob(file, spec, context);
    auto row = [](const char *name, const engram::EvalSummary &e) {
        std::printf("%-5s %6.1f  %5.1f  %5.1f  %5.1f  %6.1f  %6.1f  %6.1f\n", name, e.score, e.es.mean, e.ps.mean,
            e.ns.mean, e.em.mean, e.pm.mean, e.nm.mean);
    };
    if (o.json) {
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
    ProjectGenerateOptions o;
    projectGenerateTable(o).apply(args);
    ProgressPrinter printer("generate");
    auto context = jobContext(printer);
    const auto out = engram::runGenerateJob(projectFile(args, 0), o.prompt, o.params, loadOptions(args), context);
    std::cout << o.prompt << out.continuation << "\n";
    return kExitOk;
}

namespace {

std::string topText(const engram::ProbeAnswer &a, int shown)
{
    std::ostringstream out;
    for (std::size_t k = 0; k < a.top.size() && static_cast<int>(k) < shown; ++k)
        out << (k ? "  " : "") << '"' << a.top[k].text << "\" " << std::fixed << std::setprecision(1)
            << 100 * a.top[k].probability << '%';
    return out.str();
}

std::string joined(const std::vector<std::string> &items)
{
    std::string out;
    for (const auto &s : items)
        out += (out.empty() ? "" : " / ") + s;
    return out.empty() ? "-" : out;
}

} // namespace

int cmdProbe(const Args &args)
{
    ProbeOptions o;
    probeTable(o).apply(args);
    ProgressPrinter printer("probe");
    auto context = jobContext(printer);
    o.spec.load = loadOptions(args);
    const auto r = engram::runProbeJob(projectFile(args, 0), o.spec, context);
    if (o.json) {
        std::cout << engram::probeResultJson(r) << "\n";
        return kExitOk;
    }
    std::cout << "probe of \"" << r.subject << "\" over " << r.rows.size() << " relation(s)";
    if (r.appliedRuns.empty())
        std::cout << " (no applied runs: the base model only)";
    else
        std::cout << " on the base model and the current state (" << r.appliedRuns.size() << " applied run(s))";
    std::cout << ", " << std::fixed << std::setprecision(2) << r.seconds << " s\n";
    std::size_t changed = 0;
    for (const auto &row : r.rows) {
        std::cout << "\n" << row.relation.relation << (row.relation.edited ? " [edited]" : "")
                  << (row.changed ? " [changed]" : "") << ": " << row.relation.prompt << "\n";
        if (!row.relation.factIds.empty())
            std::cout << "  recorded   true " << joined(row.relation.recordedTrue) << ", new "
                      << joined(row.relation.recordedNew) << "\n";
        std::cout << "  base       " << topText(row.base, o.spec.params.topK) << "\n";
        std::cout << "             ..." << row.base.continuation << "\n";
        if (row.current) {
            std::cout << "  current    " << topText(*row.current, o.spec.params.topK) << "\n";
            std::cout << "             ..." << row.current->continuation << "\n";
        }
        changed += row.changed;
    }
    if (!r.appliedRuns.empty())
        std::cout << "\n" << changed << " of " << r.rows.size() << " answer(s) changed by the edits\n";
    return kExitOk;
}

int cmdHistory(const Args &args)
{
    HistoryOptions o;
    historyTable(o).apply(args);
    const auto project = engram::Project::open(projectFile(args, 0), /*readOnly=*/true);
    const auto runs = project->runs();
    if (o.json) {
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
        std::cout << std::setw(4) << r.id << "  " << std::left << std::setw(9) << engram::runStatusName(r.status) << "  "
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
    // The health columns (issue 19): measured on the project's facts after each run.
    if (std::any_of(runs.begin(), runs.end(), [](const auto &r) { return r.summary.health.measured(); })) {
        std::cout << "\nhealth after each run (ES so far: facts edited by applied runs; retention: the project's other "
                     "facts, share of the base model's; fluency: GE of fixed samples):\n"
                  << " run  status     ES so far  retention  fluency (base)  max |W-W0|/|W0|\n";
        for (const auto &r : runs) {
            const engram::RunHealth &h = r.summary.health;
            if (!h.measured())
                continue;
            const auto value = [](double v, int width, int precision, const char *unit = "") {
                std::ostringstream out;
                if (v < 0)
                    out << "-";
                else
                    out << std::fixed << std::setprecision(precision) << v << unit;
                std::ostringstream padded;
                padded << std::setw(width) << out.str();
                return padded.str();
            };
            const double growth = h.cumulativeRelativeNorms.empty()
                ? -1
                : *std::max_element(h.cumulativeRelativeNorms.begin(), h.cumulativeRelativeNorms.end());
            const double ratio = h.retentionRatio();
            std::cout << std::setw(4) << r.id << "  " << std::left << std::setw(9) << engram::runStatusName(r.status)
                      << std::right << value(h.esSoFar, 11, 1) << value(ratio < 0 ? -1 : 100 * ratio, 10, 1, " %")
                      << value(h.fluency, 9, 3) << " (" << value(h.fluencyBase, 0, 3) << ")"
                      << value(growth, 18, 4) << "\n";
        }
    }
    return kExitOk;
}

int cmdRevert(const Args &args, bool reapply)
{
    RevertOptions o;
    revertTable(args.command, o).apply(args);
    const int64_t run = o.run;
    if (args.command == "discard") {
        engram::discardHeldRun(projectFile(args, 0), run);
        std::cout << "discarded held run " << run << ": it stays in the history, never applied\n";
        return kExitOk;
    }
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
    ExportCommandOptions o;
    exportTable(o).apply(args);
    ProgressPrinter printer("export");
    auto context = jobContext(printer);
    if (o.loraDir) {
        o.lora.overwrite = o.spec.options.overwrite;
        printLoraSummary(engram::exportLoraAdapter(file, o.run, *o.loraDir, o.lora, context));
        return kExitOk;
    }
    if (const auto &patch = o.patch) {
        const int64_t run = o.run;
        engram::exportPatchFile(file, run, *patch, loadOptions(args), context);
        std::cout << "patch " << (run ? "of run " + std::to_string(run) : std::string("of all applied runs"))
                  << " written to " << *patch << "\n";
        return kExitOk;
    }
    if (o.spec.out.empty())
        throw UsageError {"'export' needs --out DIR (or --patch OUT)"};
    o.spec.options.hardLink = !o.copy;
    const auto s = engram::runExportJob(file, o.spec, context);
    std::cout << "exported to " << s.directory.string() << ": " << s.tensorsPatched << " tensor(s) patched, "
              << s.shardsRewritten << " shard(s) written, " << s.shardsLinked << " linked, " << s.filesCopied
              << " file(s) copied, " << humanBytes(s.bytesWritten) << " in " << std::fixed << std::setprecision(2)
              << s.seconds << " s; layout checked against the base\n";
    return kExitOk;
}

int cmdPatch(const Args &args)
{
    PatchOptions o;
    patchTable(o).apply(args);
    if (args.positional.empty() || args.positional[0] != "import")
        throw UsageError {"'patch' needs import"};
    ProgressPrinter printer("patch");
    auto context = jobContext(printer);
    const auto id = engram::importPatchFile(projectFile(args, 1), o.patch, loadOptions(args), context);
    std::cout << "recorded the patch as run " << id << "\n";
    return kExitOk;
}

} // namespace

engram::EditMethod editMethodOf(const Args &args)
{
    const auto method = engram::parseEditMethod(args.value("--method").value_or("memit"));
    if (!method)
        throw UsageError {"--method must be one of " + engram::editMethodNames()};
    return *method;
}

OptionTable editOptionsTable(engram::EditJobSpec &spec)
{
    using engram::EditMethod;
    // The parameter struct of the configured method, or UsageError naming the methods `option` applies to.
    auto memit = [&spec](const char *option) -> engram::MemitParams & {
        if (!engram::usesMemitParams(spec.config.method()))
            throw UsageError {std::string(option) + " applies to --method memit and alphaedit"};
        return spec.config.memit();
    };
    auto alphaEdit = [&spec](const char *option) -> engram::MemitParams & {
        if (spec.config.method() != EditMethod::AlphaEdit)
            throw UsageError {std::string(option) + " applies to --method alphaedit"};
        return spec.config.memit();
    };
    struct Target { // the target-optimisation fields MEMIT and ROME share
        double *vLr, *clamp, *preserve;
        int *vSteps;
        uint64_t *seed;
    };
    auto target = [&spec](const char *option) -> Target {
        if (engram::usesMemitParams(spec.config.method())) {
            auto &p = spec.config.memit();
            return {&p.vLr, &p.clampNormFactor, &p.preserveFactor, &p.vSteps, &p.seed};
        }
        if (spec.config.method() == EditMethod::FineTune)
            throw UsageError {std::string(option) + " applies to --method memit, alphaedit, rome and r-rome"};
        auto &p = spec.config.rome();
        return {&p.vLr, &p.clampNormFactor, &p.preserveFactor, &p.vSteps, &p.seed};
    };
    auto fineTune = [&spec](const char *option) -> engram::FineTuneParams & {
        if (spec.config.method() != EditMethod::FineTune)
            throw UsageError {std::string(option) + " applies to --method ftw"};
        return spec.config.fineTune();
    };
    // ROME and FT-W edit one layer: --layer N, or --layers with one entry.
    auto singleLayer = [&spec](const char *option, const std::string &v) {
        const auto layers = parseLayerList(option, v);
        if (layers.size() != 1)
            throw UsageError {std::string(engram::editMethodName(spec.config.method())) + " edits one layer: give --layer N"};
        if (spec.config.method() == EditMethod::FineTune)
            spec.config.fineTune().layer = layers.front();
        else
            spec.config.rome().layer = layers.front();
    };
    // Finite and within what the method can use: a NaN or a negative weight would only come back
    // as a broken patch.
    const auto number = [](const char *option, const std::string &v) {
        const std::string name = option;
        if (name == "--norm-constraint")
            return parseNumber(option, v, -1e6, 1e6); // <= 0: no bound
        if (name == "--lambda" || name == "--protect-weight" || name == "--preserve-factor"
            || name == "--null-space-alpha")
            return parseNumber(option, v, 0, 1e12);
        if (name == "--null-space-threshold")
            return parseNumber(option, v, 0, 1e12);
        return parseNumber(option, v, 1e-12, 1e6); // --v-lr, --clamp, --lr
    };
    auto &stats = spec.statistics;
    OptionTable t("", "", "");
    t.heading("edit options (defaults: the model's preset, printed first; an option of another method is refused):")
        .custom("--method", "memit|alphaedit|rome|r-rome|ftw",
            "MEMIT (default), AlphaEdit (MEMIT's targets, the update projected onto the statistics' null space; "
            "earlier runs kept), ROME (one request after another), r-ROME (one consistent key, \"Rebuilding ROME\"), "
            "FT-W (fine-tuning the layer's MLP output weight within an L-infinity ball)",
            [](const std::string &) {}) // read first by editMethodOf
        .custom("--layers", "L1,L2,..", "the edited layers (memit, alphaedit; one layer for the others)",
            [&spec, memit, singleLayer](const std::string &v) {
                if (engram::usesMemitParams(spec.config.method()))
                    memit("--layers").layers = parseLayerList("--layers", v);
                else
                    singleLayer("--layers", v);
            })
        .custom("--layer", "L", "the edited layer (rome, r-rome, ftw)",
            [&spec, singleLayer](const std::string &v) {
                if (engram::usesMemitParams(spec.config.method()))
                    throw UsageError {"--layer applies to rome, r-rome and ftw; " + std::string(engram::editMethodLabel(
                        spec.config.method())) + " takes --layers L1,L2,.."};
                singleLayer("--layer", v);
            })
        .custom("--lambda", "X", "weight of the covariance term (MEMIT's mom2_update_weight)",
            [&spec, memit, number](const std::string &v) {
                if (spec.config.method() == EditMethod::AlphaEdit)
                    throw UsageError {"--lambda applies to --method memit; AlphaEdit has --null-space-threshold and "
                                      "--null-space-alpha instead"};
                memit("--lambda").lambda = number("--lambda", v);
            })
        .custom("--null-space-threshold", "X",
            "eigenvalues of the statistics' second moment below X span the null space the update keeps to "
            "(alphaedit; published 2e-2)",
            [alphaEdit, number](const std::string &v) {
                alphaEdit("--null-space-threshold").nullSpaceThreshold = number("--null-space-threshold", v);
            })
        .custom("--null-space-alpha", "X", "weight of the identity term in AlphaEdit's solve (alphaedit; published 10)",
            [alphaEdit, number](const std::string &v) {
                alphaEdit("--null-space-alpha").nullSpaceAlpha = number("--null-space-alpha", v);
            })
        .custom("--earlier-runs", "keep|ignore",
            "keep the project's applied runs as memories in the solve (their keys, C_p) or not (memit, alphaedit; "
            "default: the preset's — keep for alphaedit and for memit on the demo, ignore for memit elsewhere)",
            [memit](const std::string &v) {
                if (v != "keep" && v != "ignore")
                    throw UsageError {"--earlier-runs must be keep or ignore"};
                memit("--earlier-runs").preserveEarlierRuns = v == "keep";
            })
        .custom("--v-lr", "X", "learning rate of the target optimisation (memit, rome)",
            [target, number](const std::string &v) { *target("--v-lr").vLr = number("--v-lr", v); })
        .custom("--v-steps", "N", "steps of the target optimisation (memit, rome)",
            [target](const std::string &v) {
                *target("--v-steps").vSteps = static_cast<int>(parseInteger("--v-steps", v, 1, 10000));
            })
        .custom("--clamp", "X", "|delta| at most X times |h| (memit, rome)",
            [target, number](const std::string &v) { *target("--clamp").clamp = number("--clamp", v); })
        .custom("--seed", "S", "seed of the generated context templates (memit, rome)",
            [target](const std::string &v) {
                *target("--seed").seed = static_cast<uint64_t>(parseInteger("--seed", v, 0, 1L << 62));
            })
        .custom("--preserve-factor", "X", "weight of the KL of preservation prompts (memit, rome; see --keep)",
            [target, number](const std::string &v) {
                *target("--preserve-factor").preserve = number("--preserve-factor", v);
            })
        .custom("--protect-weight", "X",
            "weight of the kept facts' keys in the covariance term (memit, alphaedit; see --keep)",
            [memit, number](const std::string &v) {
                memit("--protect-weight").protectWeight = number("--protect-weight", v);
            })
        .custom("--steps", "N", "fine-tuning steps (ftw)",
            [fineTune](const std::string &v) {
                fineTune("--steps").steps = static_cast<int>(parseInteger("--steps", v, 1, 100000));
            })
        .custom("--lr", "X", "fine-tuning learning rate (ftw)",
            [fineTune, number](const std::string &v) { fineTune("--lr").lr = number("--lr", v); })
        .custom("--norm-constraint", "X", "L-infinity bound on the change (ftw; <= 0: none)",
            [fineTune, number](const std::string &v) {
                fineTune("--norm-constraint").normConstraint = number("--norm-constraint", v);
            });
    t.heading("statistics (memit, alphaedit, rome):")
        .custom("--stats", "FILE[,FILE..]",
            "our .safetensors statistics and/or published .npz files (mom2.mom2 + mom2.count, one layer each, layer "
            "from the file name)",
            [&stats](const std::string &v) {
                stats.kind = engram::StatisticsSource::Kind::Files;
                stats.files = engram::splitPathList(v);
                if (stats.files.empty())
                    throw UsageError {"--stats needs at least one file"};
            })
        .custom("--corpus", "PATH",
            "compute the statistics from this corpus once per (model, layer, corpus, count) and reuse them from the "
            "cache after",
            [&stats](const std::string &v) {
                if (stats.kind == engram::StatisticsSource::Kind::Files)
                    throw UsageError {"give --stats or --corpus, not both"};
                stats.kind = engram::StatisticsSource::Kind::Corpus;
                stats.corpus = v;
            })
        .integer("--max-docs", "N", "corpus documents used (0: all; -1: the project's setting or the preset's)",
            stats.maxDocuments, -1, 1L << 40)
        .custom("--cache-dir", "DIR", "where computed statistics are cached",
            [&stats](const std::string &v) { stats.cacheDir = v; })
        .custom("--accumulate", "fp64|fp32", "type the covariance sums are kept in (default fp64; fp32: the reference's)",
            [&stats](const std::string &v) {
                if (v != "fp64" && v != "fp32")
                    throw UsageError {"--accumulate must be fp64 or fp32"};
                stats.float64 = v == "fp64";
            });
    return t;
}

void printLoraSummary(const engram::LoraSummary &s)
{
    std::cout << "LoRA adapter written to " << s.directory.string() << ": rank " << s.rank << ", alpha " << s.alpha
              << (s.fanInFanOut ? ", fan_in_fan_out (GPT-2 Conv1D)" : "") << ", base " << s.baseModel << "\n";
    for (const auto &m : s.modules)
        std::cout << "  " << m.module << ": rank " << m.rank << " (exact " << m.exactRank << "), relative error "
                  << std::scientific << std::setprecision(2) << m.relativeError << std::defaultfloat << "\n";
    if (s.maxRelativeError > 1e-4)
        std::cout << "truncated: the adapter leaves a relative error of up to " << std::setprecision(3)
                  << s.maxRelativeError << " of the change (--rank 0 writes exact factors)\n";
}

void announcePreset(const Args &args, const engram::EditPreset &preset)
{
    humanOut(args) << "preset: " << preset.name << " (" << preset.source << "); options given override it\n";
}

bool isProjectCommand(const Args &args)
{
    static const std::set<std::string> always = {"project", "facts", "probe", "history", "revert", "reapply", "discard", "export", "patch"};
    static const std::set<std::string> withFile = {"edit", "trace", "eval", "generate", "stats"};
    return always.count(args.command) || (withFile.count(args.command) && !args.positional.empty());
}

std::vector<OptionTable> projectCommandTables()
{
    // Help only: the tables are built over throwaway structs and never applied.
    static ProjectOptions project;
    static FactsOptions facts;
    static ProjectEditOptions edit;
    static ProjectStatsOptions stats;
    static ProjectTraceOptions trace;
    static ProjectEvalOptions eval;
    static ProjectGenerateOptions generate;
    static ProbeOptions probe;
    static HistoryOptions history;
    static RevertOptions revert, reapply, discard;
    static ExportCommandOptions exportOptions;
    static PatchOptions patch;
    return {projectTable(project), factsTable(facts), projectEditTable(edit), projectStatsTable(stats),
        projectTraceTable(trace), projectEvalTable(eval), projectGenerateTable(generate), probeTable(probe), historyTable(history),
        revertTable("revert", revert), revertTable("reapply", reapply), revertTable("discard", discard),
        exportTable(exportOptions),
        patchTable(patch)};
}

int runProjectCommand(const Args &args)
{
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
    if (c == "probe")
        return cmdProbe(args);
    if (c == "history")
        return cmdHistory(args);
    if (c == "revert" || c == "reapply" || c == "discard")
        return cmdRevert(args, c == "reapply");
    if (c == "export")
        return cmdExport(args);
    return cmdPatch(args);
}

} // namespace cli
