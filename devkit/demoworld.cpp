#include "devkit/demoworld.h"

#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <nlohmann/json.hpp>

#include <random>

namespace engram {

DemoWorld DemoWorld::load(const std::filesystem::path &worldJson)
{
    DemoWorld w;
    try {
        const auto j = nlohmann::json::parse(readTextFile(worldJson));
        w.trainTemplates = j.at("train_templates").get<int>();
        for (const auto &[id, r] : j.at("relations").items()) {
            DemoRelation rel;
            rel.id = id;
            rel.subjectKind = r.at("subject_kind").get<std::string>();
            rel.objects = r.at("objects").get<std::vector<std::string>>();
            rel.templates = r.at("templates").get<std::vector<std::string>>();
            w.relations[id] = std::move(rel);
        }
        for (const auto &s : j.at("subjects"))
            w.subjects.push_back(s.at("name").get<std::string>());
        for (const auto &f : j.at("facts")) {
            DemoFact fact {f.at("subject").get<std::string>(), f.at("relation").get<std::string>(),
                f.at("object").get<std::string>()};
            if (!w.relations.count(fact.relation))
                throw Error(ErrorKind::CorruptFile, worldJson.string() + ": fact of unknown relation " + fact.relation);
            w.facts.push_back(std::move(fact));
        }
        for (const auto &s : j.at("heldout_trained_subjects"))
            w.heldoutTrained.insert(s.get<std::string>());
    } catch (const nlohmann::json::exception &e) {
        throw Error(ErrorKind::CorruptFile, worldJson.string() + ": " + e.what());
    }
    return w;
}

std::vector<FactPrompt> DemoWorld::prompts(int templateIndex) const
{
    std::vector<FactPrompt> out;
    for (const auto &f : facts) {
        const auto &templates = relations.at(f.relation).templates;
        if (templateIndex < static_cast<int>(templates.size()))
            out.push_back({templates[templateIndex], f.subject, f.object});
    }
    return out;
}

std::vector<SwapPair> DemoWorld::swapPairs(std::size_t count, uint64_t seed) const
{
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::size_t> pick(0, facts.size() - 1);
    std::vector<SwapPair> pairs;
    while (pairs.size() < count) {
        const DemoFact &a = facts[pick(rng)], &b = facts[pick(rng)];
        if (a.relation != b.relation || a.object == b.object || a.subject == b.subject)
            continue;
        const std::string &tmpl = relations.at(a.relation).templates[0];
        pairs.push_back({{tmpl, a.subject, a.object}, {tmpl, b.subject, b.object}});
    }
    return pairs;
}

} // namespace engram
