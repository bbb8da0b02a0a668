// Project files (core/project/project.h). The input is copied to a scratch file and opened
// read-only, then read through the public API (model, settings, facts and their audit log, runs
// with their facts, summaries and stored patches, evaluations with metrics and generations,
// traces, the integrity check); then opened read-write as the GUI does (quick check, write
// lock, migration of older schemas), read again and the last fact change undone (which reads
// the stored before/after JSON).

#include "core/project/project.h"
#include "core/util/error.h"
#include "fuzz/support.h"

using namespace engram;

namespace {

void consumeFact(const Fact &f)
{
    fuzz::consume(static_cast<uint64_t>(f.id + f.caseId) + f.subject.size() + f.promptTemplate.size()
        + f.paraphrasePrompts.size() + f.neighborhoodPrompts.size() + f.attributePrompts.size()
        + f.generationPrompts.size() + f.tags.size() + f.enabled + f.relationKey().size());
}

void readAll(const Project &p)
{
    fuzz::consume(static_cast<uint64_t>(p.schemaVersion()) + static_cast<uint64_t>(p.modelId()));
    const ProjectModel m = p.model();
    fuzz::consume(m.path.string().size() + m.summaryJson.size());
    fuzz::consume(p.setting("statistics.corpus", "none").size());
    const std::vector<Fact> facts = p.facts();
    for (const Fact &f : facts)
        consumeFact(f);
    FactFilter filter;
    filter.enabled = true;
    filter.tag = "demo";
    fuzz::consume(p.facts(filter).size());
    if (!facts.empty()) {
        if (const auto f = p.fact(facts.front().id))
            consumeFact(*f);
        fuzz::consume(p.checkConflicts(facts).size());
    }
    for (const FactEvent &e : p.factEvents())
        fuzz::consume(e.beforeJson.size() + e.afterJson.size() + e.action.size());
    for (const EditRun &r : p.runs()) {
        fuzz::consume(r.summary.layers.size() + r.summary.relativeNorms.size() + r.facts.size()
            + static_cast<uint64_t>(r.status) + r.summary.toJson().size());
        if (const auto again = p.run(r.id))
            fuzz::consume(again->paramsJson.size());
        for (const StoredDelta &d : p.patch(r.id))
            fuzz::consume(d.data.size() + d.shape.size() + d.name.size());
    }
    fuzz::consume(p.patchedTensorNames().size() + p.editedFacts().size());
    for (const Evaluation &e : p.evaluations()) {
        fuzz::consume(p.metrics(e.id).size());
        fuzz::consume(p.generations(e.id).size() + e.summaryJson.size());
    }
    for (const StoredTrace &t : p.traces())
        fuzz::consume(t.resultJson.size());
}

} // namespace

static int testOne(const uint8_t *data, size_t size)
{
    const auto path = fuzz::writeScratch("input.engram", data, size);
    try {
        const auto p = Project::open(path, /*readOnly=*/true);
        readAll(*p);
        fuzz::consume(p->check().size());
    } catch (const Error &) {
    }
    try {
        const auto p = Project::open(path, /*readOnly=*/false);
        readAll(*p);
        fuzz::consume(p->undoLastFactChange().size());
        readAll(*p);
    } catch (const Error &) {
    }
    fuzz::removeScratch(path);
    return 0;
}

ENGRAM_FUZZ_TARGET(testOne)
