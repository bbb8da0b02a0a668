#include "core/edit/editmethod.h"

#include "core/util/error.h"

#include <nlohmann/json.hpp>

namespace engram {

using nlohmann::json;

namespace {

struct MethodNames {
    EditMethod method;
    std::string_view name;
    std::string_view label;
};

constexpr std::array<MethodNames, 5> kNames {{
    {EditMethod::Memit, "memit", "MEMIT"},
    {EditMethod::AlphaEdit, "alphaedit", "AlphaEdit"},
    {EditMethod::Rome, "rome", "ROME"},
    {EditMethod::RRome, "r-rome", "r-ROME"},
    {EditMethod::FineTune, "ftw", "FT-W"},
}};

const MethodNames &namesOf(EditMethod m)
{
    for (const auto &n : kNames)
        if (n.method == m)
            return n;
    return kNames.front(); // unreachable: every enumerator is listed
}

bool isRome(EditMethod m)
{
    return m == EditMethod::Rome || m == EditMethod::RRome;
}

[[noreturn]] void wrongType(EditMethod m, const char *wanted)
{
    throw Error(ErrorKind::InvalidArgument,
        std::string(editMethodLabel(m)) + " has no " + wanted + " parameters (internal: wrong method type)");
}

// Reads `key` into `value` when present; keeps the default otherwise.
template<typename T>
void read(const json &j, const char *key, T &value)
{
    if (const auto it = j.find(key); it != j.end() && !it->is_null())
        value = it->get<T>();
}

// The target-optimisation fields MEMIT and ROME share (same names in both structs).
template<typename P>
json targetFieldsJson(const P &p)
{
    return {{"v_steps", p.vSteps}, {"v_lr", p.vLr}, {"clamp_norm_factor", p.clampNormFactor}, {"kl_factor", p.klFactor},
        {"v_weight_decay", p.vWeightDecay}, {"early_stop_loss", p.earlyStopLoss}, {"seed", p.seed},
        {"preserve_factor", p.preserveFactor}, {"context_templates", p.contextTemplates}};
}

template<typename P>
void readTargetFields(const json &j, P &p)
{
    read(j, "v_steps", p.vSteps);
    read(j, "v_lr", p.vLr);
    read(j, "clamp_norm_factor", p.clampNormFactor);
    read(j, "kl_factor", p.klFactor);
    read(j, "v_weight_decay", p.vWeightDecay);
    read(j, "early_stop_loss", p.earlyStopLoss);
    read(j, "seed", p.seed);
    read(j, "preserve_factor", p.preserveFactor);
    read(j, "context_templates", p.contextTemplates);
}

} // namespace

std::string_view editMethodName(EditMethod method)
{
    return namesOf(method).name;
}

std::string_view editMethodLabel(EditMethod method)
{
    return namesOf(method).label;
}

std::optional<EditMethod> parseEditMethod(std::string_view name)
{
    for (const auto &n : kNames)
        if (n.name == name)
            return n.method;
    if (name == "ft-w")
        return EditMethod::FineTune;
    return std::nullopt;
}

EditMethod requireEditMethod(std::string_view name)
{
    if (const auto m = parseEditMethod(name))
        return *m;
    throw Error(
        ErrorKind::InvalidArgument, "unknown editing method '" + std::string(name) + "' (" + editMethodNames() + ")");
}

std::string editMethodNames()
{
    std::string out;
    for (const auto &n : kNames)
        out += (out.empty() ? "" : ", ") + std::string(n.name);
    return out;
}

EditConfig EditConfig::make(EditMethod method, MethodParams params)
{
    const bool fits = (usesMemitParams(method) && std::holds_alternative<MemitParams>(params))
        || (isRome(method) && std::holds_alternative<RomeParams>(params))
        || (method == EditMethod::FineTune && std::holds_alternative<FineTuneParams>(params));
    if (!fits)
        throw Error(ErrorKind::InvalidArgument,
            "the parameters given do not belong to " + std::string(editMethodLabel(method)));
    EditConfig c;
    c.m_method = method;
    c.m_params = std::move(params);
    if (isRome(method))
        std::get<RomeParams>(c.m_params).consistentKey = method == EditMethod::RRome;
    if (usesMemitParams(method))
        std::get<MemitParams>(c.m_params).nullSpace = method == EditMethod::AlphaEdit;
    return c;
}

const MemitParams &EditConfig::memit() const
{
    if (const auto *p = std::get_if<MemitParams>(&m_params))
        return *p;
    wrongType(m_method, "MEMIT");
}

MemitParams &EditConfig::memit()
{
    if (auto *p = std::get_if<MemitParams>(&m_params))
        return *p;
    wrongType(m_method, "MEMIT");
}

const RomeParams &EditConfig::rome() const
{
    if (const auto *p = std::get_if<RomeParams>(&m_params))
        return *p;
    wrongType(m_method, "ROME");
}

RomeParams &EditConfig::rome()
{
    if (auto *p = std::get_if<RomeParams>(&m_params))
        return *p;
    wrongType(m_method, "ROME");
}

const FineTuneParams &EditConfig::fineTune() const
{
    if (const auto *p = std::get_if<FineTuneParams>(&m_params))
        return *p;
    wrongType(m_method, "FT-W");
}

FineTuneParams &EditConfig::fineTune()
{
    if (auto *p = std::get_if<FineTuneParams>(&m_params))
        return *p;
    wrongType(m_method, "FT-W");
}

std::vector<int> EditConfig::editedLayers() const
{
    if (const auto *m = std::get_if<MemitParams>(&m_params))
        return m->layers;
    if (const auto *r = std::get_if<RomeParams>(&m_params))
        return {r->layer};
    return {std::get<FineTuneParams>(m_params).layer};
}

std::vector<int> EditConfig::statisticsLayers() const
{
    return needsStatistics() ? editedLayers() : std::vector<int> {};
}

uint64_t EditConfig::seed() const
{
    if (const auto *m = std::get_if<MemitParams>(&m_params))
        return m->seed;
    if (const auto *r = std::get_if<RomeParams>(&m_params))
        return r->seed;
    return 0;
}

std::string EditConfig::paramsJson() const
{
    return paramsObject().dump();
}

json EditConfig::paramsObject() const
{
    json j;
    if (const auto *p = std::get_if<MemitParams>(&m_params)) {
        j = targetFieldsJson(*p);
        j.update({{"layers", p->layers}, {"lambda", p->lambda}, {"batched_targets", p->batchedTargets},
            {"target_chunk_rows", p->targetChunkRows},
            {"protect_weight", p->protectWeight}, {"preserve_earlier_runs", p->preserveEarlierRuns}});
        if (p->nullSpace)
            j.update({{"null_space_threshold", p->nullSpaceThreshold}, {"null_space_alpha", p->nullSpaceAlpha}});
    } else if (const auto *r = std::get_if<RomeParams>(&m_params)) {
        j = targetFieldsJson(*r);
        j.update({{"layer", r->layer}, {"consistent_key", r->consistentKey}});
    } else {
        const auto &f = std::get<FineTuneParams>(m_params);
        j = {{"layer", f.layer}, {"steps", f.steps}, {"lr", f.lr}, {"norm_constraint", f.normConstraint},
            {"early_stop_loss", f.earlyStopLoss}};
    }
    return j;
}

EditConfig EditConfig::fromJson(EditMethod method, const std::string &text)
{
    const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object())
        throw Error(ErrorKind::CorruptFile,
            "the recorded parameters of a " + std::string(editMethodLabel(method)) + " edit are not a JSON object");
    try {
        if (usesMemitParams(method)) {
            MemitParams p;
            readTargetFields(j, p);
            read(j, "layers", p.layers);
            read(j, "lambda", p.lambda);
            read(j, "batched_targets", p.batchedTargets);
            read(j, "target_chunk_rows", p.targetChunkRows);
            read(j, "protect_weight", p.protectWeight);
            read(j, "preserve_earlier_runs", p.preserveEarlierRuns);
            read(j, "null_space_threshold", p.nullSpaceThreshold);
            read(j, "null_space_alpha", p.nullSpaceAlpha);
            return make(method, p);
        }
        if (isRome(method)) {
            RomeParams p;
            readTargetFields(j, p);
            read(j, "layer", p.layer);
            return make(method, p);
        }
        FineTuneParams p;
        read(j, "layer", p.layer);
        read(j, "steps", p.steps);
        read(j, "lr", p.lr);
        read(j, "norm_constraint", p.normConstraint);
        read(j, "early_stop_loss", p.earlyStopLoss);
        return make(method, p);
    } catch (const json::exception &e) {
        throw Error(ErrorKind::CorruptFile,
            "the recorded parameters of a " + std::string(editMethodLabel(method))
                + " edit have a value of the wrong type (" + e.what() + ")");
    }
}

} // namespace engram
