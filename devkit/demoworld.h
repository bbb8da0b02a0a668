#pragma once
// The embedded demo's fact world (resources/demo/world.json, written by
// tools/demo/make_demo_data.py): subjects, relations with their prompt templates, facts.

#include "core/eval/recall.h"
#include "devkit/subjectswap.h"

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace engram {

struct DemoRelation {
    std::string id;
    std::string subjectKind;
    std::vector<std::string> objects;
    std::vector<std::string> templates; // the first `trainTemplates` are trained for every fact
};

struct DemoFact {
    std::string subject;
    std::string relation;
    std::string object;
};

struct DemoWorld {
    int trainTemplates = 4;
    std::map<std::string, DemoRelation> relations;
    std::vector<std::string> subjects;
    std::vector<DemoFact> facts;
    std::set<std::string> heldoutTrained; // subjects that also saw the held-out templates in training

    /// Throws engram::Error(Io, CorruptFile) naming the file and the field.
    static DemoWorld load(const std::filesystem::path &worldJson);

    /// One prompt per fact and template index (template indices outside a relation's list are skipped).
    std::vector<FactPrompt> prompts(int templateIndex) const;

    /// `count` seeded random pairs of facts of one relation with different subjects and
    /// objects, both asked with the relation's first template (for the subject-swap test).
    std::vector<SwapPair> swapPairs(std::size_t count, uint64_t seed) const;
};

} // namespace engram
