// The probe job: one subject asked every relation the project knows, on the base model and
// on the current state.

#include "core/jobs/jobsupport.h"
#include "core/jobs/projectjobs.h"
#include "core/model/modelsession.h"
#include "core/text/subjecttokens.h"
#include "core/util/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace engram {

std::vector<ProbeRelation> probeRelations(
    const std::vector<Fact> &facts, const std::vector<int64_t> &editedFactIds, const std::string &subject)
{
    const std::set<int64_t> edited(editedFactIds.begin(), editedFactIds.end());
    std::vector<ProbeRelation> out;
    std::map<std::string, std::size_t> index; // relation key -> row
    // Per row: its templates in order of first appearance, with counts (ties go to the first).
    std::vector<std::vector<std::pair<std::string, int>>> templates;
    for (const Fact &f : facts) {
        const auto [it, fresh] = index.try_emplace(f.relationKey(), out.size());
        if (fresh) {
            out.emplace_back().relation = f.relationKey();
            templates.emplace_back();
        }
        ProbeRelation &r = out[it->second];
        auto &counts = templates[it->second];
        const auto t = std::find_if(counts.begin(), counts.end(), [&](const auto &c) { return c.first == f.promptTemplate; });
        if (t == counts.end())
            counts.emplace_back(f.promptTemplate, 1);
        else
            ++t->second;
        if (f.subject != subject)
            continue;
        if (r.factIds.empty())
            r.promptTemplate = f.promptTemplate; // the subject's own (first) fact's template
        r.factIds.push_back(f.id);
        if (!f.targetTrue.empty()
            && std::find(r.recordedTrue.begin(), r.recordedTrue.end(), f.targetTrue) == r.recordedTrue.end())
            r.recordedTrue.push_back(f.targetTrue);
        if (std::find(r.recordedNew.begin(), r.recordedNew.end(), f.targetNew) == r.recordedNew.end())
            r.recordedNew.push_back(f.targetNew);
        r.edited = r.edited || edited.count(f.id) > 0;
    }
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (out[i].factIds.empty()) // the relation's commonest template
            out[i].promptTemplate = std::max_element(templates[i].begin(), templates[i].end(),
                [](const auto &a, const auto &b) { return a.second < b.second; })
                                        ->first;
        out[i].prompt = fillTemplate(out[i].promptTemplate, subject);
    }
    return out;
}

ProbeJobResult runProbeJob(const fs::path &projectFile, const ProbeJobSpec &spec, JobContext &context)
{
    if (spec.subject.empty())
        throw Error(ErrorKind::InvalidArgument, "probe: give a subject");
    auto project = Project::open(projectFile, /*readOnly=*/true);
    const auto facts = project->facts();
    if (facts.empty())
        throw Error(ErrorKind::InvalidArgument,
            "probe: " + projectFile.string() + " has no facts, so it knows no relations to ask about");
    std::vector<int64_t> editedIds;
    for (const auto &[factId, runId] : project->editedFacts())
        editedIds.push_back(factId);
    auto relations = probeRelations(facts, editedIds, spec.subject);
    if (!spec.relations.empty()) {
        std::vector<ProbeRelation> chosen;
        for (const std::string &want : spec.relations) {
            const auto it = std::find_if(
                relations.begin(), relations.end(), [&](const ProbeRelation &r) { return r.relation == want; });
            if (it == relations.end()) {
                std::string known;
                for (const auto &r : relations)
                    known += (known.empty() ? "" : ", ") + r.relation;
                throw Error(ErrorKind::InvalidArgument,
                    "probe: the project has no relation '" + want + "' (it knows: " + known + ")");
            }
            chosen.push_back(*it);
        }
        relations = std::move(chosen);
    }
    std::vector<std::string> prompts;
    for (const auto &r : relations)
        prompts.push_back(r.prompt);

    ProbeJobResult result;
    result.subject = spec.subject;
    auto session = openBaseModel(*project, spec.load, context);
    const auto cancelled = [&] { return context.cancelled(); };
    const auto started = std::chrono::steady_clock::now();
    context.stage("asking the base model");
    const auto base = probePrompts(session->model(), session->tokenizer(), prompts, spec.params, cancelled);
    std::optional<std::vector<ProbeAnswer>> current;
    context.stage("applying the project's history");
    result.appliedRuns = applyHistory(*session, *project).appliedRuns;
    if (!result.appliedRuns.empty()) {
        context.throwIfCancelled();
        context.stage("asking the current model");
        current = probePrompts(session->model(), session->tokenizer(), prompts, spec.params, cancelled);
    }
    for (std::size_t i = 0; i < relations.size(); ++i) {
        ProbeRow row;
        row.relation = relations[i];
        row.base = base[i];
        if (current) {
            row.current = (*current)[i];
            row.changed = answersDiffer(row.base, *row.current);
        }
        result.rows.push_back(std::move(row));
    }
    result.seconds = secondsSince(started);
    return result;
}

namespace {

json answerJson(const ProbeAnswer &a)
{
    json top = json::array();
    for (const auto &c : a.top)
        top.push_back({{"token", c.token}, {"text", c.text}, {"p", c.probability}});
    return {{"top", top}, {"continuation", a.continuation}};
}

} // namespace

std::string probeResultJson(const ProbeJobResult &result)
{
    json rows = json::array();
    for (const auto &r : result.rows)
        rows.push_back({{"relation", r.relation.relation}, {"template", r.relation.promptTemplate},
            {"prompt", r.relation.prompt}, {"fact_ids", r.relation.factIds}, {"recorded_true", r.relation.recordedTrue},
            {"recorded_new", r.relation.recordedNew}, {"edited", r.relation.edited}, {"base", answerJson(r.base)},
            {"current", r.current ? answerJson(*r.current) : json(nullptr)}, {"changed", r.changed}});
    return json {{"subject", result.subject}, {"applied_runs", result.appliedRuns}, {"rows", rows},
        {"seconds", result.seconds}}
        .dump(2, ' ', false, json::error_handler_t::replace);
}

} // namespace engram
