// Writes the project-file seed of fuzz_project: a current-schema project holding facts (with
// tags and prompt lists), their audit log (an update and a removal), an applied run with a
// stored patch, a failed run, an evaluation with metrics and generations, a trace, statistics
// and a setting; stored with 1 KiB pages to keep the seed small.
// Usage: fuzz_seeds <output.engram>   (scripts/fuzz.sh does not need it; the output is committed)

#include "core/project/project.h"
#include "core/project/sqlite.h"
#include "core/util/error.h"

#include <cstdio>
#include <cstring>
#include <filesystem>

using namespace engram;

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <output.engram>\n", argv[0]);
        return 2;
    }
    const std::filesystem::path out = argv[1];
    std::filesystem::remove(out);
    try {
        ProjectModel model;
        model.path = "/models/demo";
        model.contentHash = "0123456789abcdef";
        model.family = "gpt2";
        model.summaryJson = R"({"layers": 6, "hidden": 192})";
        auto p = Project::create(out, model);
        p->setSetting("statistics.corpus", "corpus.txt");

        std::vector<Fact> facts(3);
        const char *subjects[] = {"Paris", "Danielle Darrieux", "Eiffel Tower"};
        for (int i = 0; i < 3; ++i) {
            Fact &f = facts[i];
            f.caseId = i;
            f.subject = subjects[i];
            f.promptTemplate = i == 1 ? "The mother tongue of {} is" : "{} is located in";
            f.relation = i == 1 ? "P103" : "P17";
            f.targetTrue = "France";
            f.targetNew = i == 1 ? "English" : "Italy";
            f.paraphrasePrompts = {"Where is {}? It is in"};
            f.neighborhoodPrompts = {"Lyon is located in"};
            f.generationPrompts = {"{} is famous for"};
            f.tags = {"demo", i == 0 ? "capital" : "landmark"};
            f.provenance = "counterfact.json#" + std::to_string(i);
        }
        const auto ids = p->addFacts(facts);
        Fact changed = *p->fact(ids[0]);
        changed.targetNew = "Spain";
        changed.enabled = false;
        p->updateFact(changed);
        p->removeFacts({ids[2]});

        EditRun run;
        run.method = "rome";
        run.paramsJson = R"({"layers": [3], "v_lr": 0.5})";
        run.seed = 7;
        run.device = "cpu";
        run.seconds = 1.5;
        run.summary.layers = {3};
        run.summary.relativeNorms = {0.0125};
        run.summary.residualBefore = {2.0};
        run.summary.meanTargetProbability = 0.9;
        run.provenanceJson = R"({"method": "rome"})";
        run.baseState = "base";
        run.resultState = "s1";
        run.facts = {{ids[1], facts[1].subject, facts[1].promptTemplate, facts[1].relation, facts[1].targetNew}};
        StoredDelta d;
        d.name = "transformer.h.3.mlp.c_proj.weight";
        d.baseHash = "cbf29ce484222325";
        d.shape = {2, 3};
        d.relativeNorm = 0.0125;
        const float values[6] = {0.5f, -1, 0, 2, 1e-3f, 3};
        d.data.resize(sizeof values);
        std::memcpy(d.data.data(), values, sizeof values);
        const int64_t runId = p->recordRun(run, {d});

        EditRun failed;
        failed.method = "memit";
        failed.status = RunStatus::Failed;
        failed.message = "cancelled by the user";
        failed.facts = {{ids[0], facts[0].subject, facts[0].promptTemplate, facts[0].relation, "Spain"}};
        p->recordRun(failed, {});

        Evaluation e;
        e.runId = runId;
        e.state = "s1";
        e.summaryJson = R"({"pre": {"es": 0.1}, "post": {"es": 0.9}})";
        p->recordEvaluation(e, {{ids[1], "pre", "es", 0.1}, {ids[1], "post", "es", 0.9}},
            {{ids[1], "Danielle Darrieux's mother tongue is", " French", " English"}});
        StoredTrace t;
        t.factId = ids[1];
        t.state = "base";
        t.kind = "mlp";
        t.resultJson = R"({"scores": [[0.1, 0.2]], "tokens": ["Dan", "ielle"]})";
        p->recordTrace(t);
        p->recordStatistics("k1", 3, "/cache/layer3.safetensors", "corpus.txt", 1000, "float64");
        p->database().exec("PRAGMA journal_mode = DELETE; PRAGMA page_size = 1024; VACUUM");
    } catch (const Error &e) {
        std::fprintf(stderr, "fuzz_seeds: %s\n", e.what());
        return 1;
    }
    return 0;
}
