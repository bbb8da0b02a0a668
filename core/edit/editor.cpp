#include "core/edit/editor.h"

#include "core/data/datasets.h"
#include "core/edit/covariance.h"
#include "core/edit/finetune.h"
#include "core/edit/memit.h"
#include "core/edit/rome.h"
#include "core/edit/weightpatch.h"
#include "core/io/safetensors.h"
#include "core/model/modelsession.h"
#include "core/model/torcherrors.h"
#include "core/model/transformer.h"
#include "core/text/subjecttokens.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

namespace engram {
namespace {
double secondsSince(std::chrono::steady_clock::time_point t)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Copies of the weights an edit will touch; restore() puts them back (failure, cancel).
class WeightSnapshot
{
public:
    WeightSnapshot(Transformer &model, const std::vector<int> &layers)
        : m_model(model)
    {
        for (int l : layers) {
            const std::string name = model.mlpOutputWeightName(l);
            m_saved.emplace_back(name, model.parameter(name).detach().clone());
        }
    }
    void restore()
    {
        for (const auto &[name, w] : m_saved)
            m_model.setParameter(name, w);
    }

private:
    Transformer &m_model;
    std::vector<std::pair<std::string, at::Tensor>> m_saved;
};

// Runs `edit`; on any exception restores the touched weights and rethrows (LibTorch errors
// as engram::Error).
template<typename F>
auto guardedEdit(Transformer &model, const std::vector<int> &layers, F &&edit)
{
    WeightSnapshot snapshot(model, layers);
    try {
        return translateTorchErrors("editing", edit);
    } catch (...) {
        snapshot.restore();
        throw;
    }
}

// A patch whose deltas record the current (pre-edit) hashes of the layers' MLP output weights.
WeightPatch patchFor(const Transformer &model, const std::vector<int> &layers)
{
    WeightPatch patch;
    for (int l : layers) {
        TensorDelta d;
        d.name = model.mlpOutputWeightName(l);
        d.baseHash = tensorHash(model.parameter(d.name));
        patch.deltas.push_back(d);
    }
    return patch;
}

nlohmann::json requestsJson(const std::vector<EditRequest> &requests)
{
    nlohmann::json list = nlohmann::json::array();
    for (const auto &q : requests) {
        nlohmann::json r = {{"prompt", q.promptTemplate}, {"subject", q.subject}, {"target_new", q.targetNew}};
        if (!q.relation.empty())
            r["relation_id"] = q.relation;
        if (!q.preservePrompts.empty())
            r["preserve_prompts"] = q.preservePrompts;
        list.push_back(std::move(r));
    }
    return list;
}

// Provenance every patch records: the method, its parameters in the shape run records use
// (EditConfig::paramsJson), the model and the statistics it was computed with.
nlohmann::json provenanceOf(
    const EditConfig &config, const ModelSession &session, const std::vector<std::filesystem::path> &statistics)
{
    nlohmann::json prov = config.paramsObject();
    prov["method"] = std::string(editMethodName(config.method()));
    prov["model"] = session.summary().directory.string();
    if (config.needsStatistics()) {
        std::vector<std::string> files;
        for (const auto &f : statistics)
            files.push_back(f.string());
        prov["statistics"] = files;
    }
    return prov;
}

// Tokens kept free in front of a request for the generated context templates (the published
// templates are at most 10 tokens, plus the separator).
constexpr int64_t kContextTemplateRoom = 16;

// Fills the patch from the per-layer updates, saves it when asked, and summarises.
EditSummary finish(WeightPatch &patch, const std::vector<LayerUpdate> &updates, nlohmann::json prov,
    const std::vector<EditRequest> &requests, const std::filesystem::path &patchOut)
{
    EditSummary s;
    for (const auto &u : updates)
        if (!at::isfinite(u.delta).all().item<bool>() || !std::isfinite(u.relativeNorm))
            throw Error(ErrorKind::Runtime,
                "the edit's weight change for layer " + std::to_string(u.layer)
                    + " is not finite (NaN or infinite values): the hyperparameters (the covariance weight, v_lr, "
                      "clamp) or the statistics drove it out of range; nothing was written");
    for (std::size_t i = 0; i < updates.size(); ++i) {
        patch.deltas[i].delta = updates[i].delta;
        patch.deltas[i].relativeNorm = updates[i].relativeNorm;
        s.layers.push_back(updates[i].layer);
        s.relativeNorms.push_back(updates[i].relativeNorm);
        s.residualBefore.push_back(updates[i].residualBefore);
    }
    prov["requests"] = requestsJson(requests);
    patch.provenanceJson = prov.dump();
    if (!patchOut.empty())
        patch.save(patchOut);
    s.patch = std::make_shared<const WeightPatch>(patch);
    return s;
}
} // namespace

namespace {

// One pass over `corpus` for `layers`, and the provenance every statistics file records.
struct CorpusStatistics {
    std::vector<SecondMoment> stats;
    std::map<std::string, std::string> provenance;
    int64_t documents = 0;
};

CorpusStatistics collectFromCorpus(const ModelSession &session, const std::filesystem::path &corpus,
    const std::vector<int> &layers, int64_t maxDocuments, bool float64,
    const std::function<bool(int64_t, int64_t)> &progress, CorpusShard shard = {})
{
    if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count)
        throw Error(ErrorKind::InvalidArgument,
            "shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count)
                + " does not exist (shards are numbered 0 to N-1)");
    CovarianceParams p;
    p.layers = layers;
    p.float64 = float64;
    auto docs = readCorpus(corpus);
    const int64_t used = maxDocuments > 0 ? std::min<int64_t>(maxDocuments, docs.size()) : static_cast<int64_t>(docs.size());
    const int64_t first = used * shard.index / shard.count, last = used * (shard.index + 1) / shard.count;
    docs = std::vector<std::string>(docs.begin() + first, docs.begin() + last);
    CorpusStatistics out;
    out.stats = collectSecondMoments(session.model(), session.tokenizer(), docs, p, progress);
    out.documents = last - first;
    out.provenance = {{"model", session.summary().directory.string()}, {"corpus", corpus.string()},
        {"documents", std::to_string(out.documents)}, {"dtype", float64 ? "float64" : "float32"}};
    if (shard.count > 1) {
        out.provenance["shard"] = std::to_string(shard.index) + "/" + std::to_string(shard.count);
        out.provenance["shard_documents"] = std::to_string(first) + "-" + std::to_string(last);
        out.provenance["corpus_documents"] = std::to_string(used);
    }
    return out;
}

} // namespace

StatisticsSummary computeStatisticsFile(const ModelSession &session, const std::filesystem::path &corpus,
    const std::vector<int> &layers, int64_t maxDocuments, const std::filesystem::path &out,
    const std::function<bool(int64_t, int64_t)> &progress, bool float64, CorpusShard shard)
{
    const auto start = std::chrono::steady_clock::now();
    const CorpusStatistics c = collectFromCorpus(session, corpus, layers, maxDocuments, float64, progress, shard);
    saveSecondMoments(out, c.stats, c.provenance);
    StatisticsSummary s;
    s.layers = layers;
    s.documents = c.documents;
    s.tokensPerLayer = c.stats.empty() ? 0 : c.stats.front().count;
    s.seconds = secondsSince(start);
    return s;
}

EditSummary editWithMemit(ModelSession &session, const std::vector<EditRequest> &requests, const MemitParams &params,
    const std::vector<std::filesystem::path> &statistics, const std::filesystem::path &patchOut,
    const ProgressSink &progress)
{
    const auto start = std::chrono::steady_clock::now();
    Transformer &model = session.model();
    const auto stats = loadStatistics(statistics);
    WeightPatch patch = patchFor(model, params.layers);
    const MemitResult r = guardedEdit(model, params.layers,
        [&] { return applyMemit(model, session.tokenizer(), requests, params, stats, progress); });
    nlohmann::json prov = provenanceOf(
        EditConfig::make(params.nullSpace ? EditMethod::AlphaEdit : EditMethod::Memit, params), session, statistics);
    prov["context_templates"] = r.contextTemplates;
    prov["target_optimisation"] = {{"strategy", r.targets.strategy}, {"chunk_rows", r.targets.chunkRows},
        {"pass", r.targets.pass}, {"device", model.device().str()}, {"seconds", r.seconds.targets}};
    if (!params.protect.empty())
        prov["protected_keys"] = params.protect.size();
    if (params.nullSpace)
        prov["null_space_dims"] = r.nullSpaceDims;
    if (params.preserveEarlierRuns)
        prov["earlier_runs_kept"] = r.earlierRuns;
    EditSummary s = finish(patch, r.updates, prov, requests, patchOut);
    s.keysAfter = r.keysAfter;
    s.nullSpaceDims = r.nullSpaceDims;
    s.earlierRuns = r.earlierRuns;
    s.residualAfter = r.residualAfter;
    for (double p : r.targets.targetProb)
        s.meanTargetProbability += p / static_cast<double>(r.targets.targetProb.size());
    s.contextTemplates = r.contextTemplates;
    s.seconds = secondsSince(start);
    return s;
}

EditSummary editWithRome(ModelSession &session, const std::vector<EditRequest> &requests, const RomeParams &params,
    const std::vector<std::filesystem::path> &statistics, const std::filesystem::path &patchOut,
    const ProgressSink &progress)
{
    const auto start = std::chrono::steady_clock::now();
    Transformer &model = session.model();
    const auto stats = loadStatistics(statistics);
    WeightPatch patch = patchFor(model, {params.layer});
    const RomeResult r = guardedEdit(model, {params.layer},
        [&] { return applyRome(model, session.tokenizer(), requests, params, stats, progress); });
    nlohmann::json prov = provenanceOf(
        EditConfig::make(params.consistentKey ? EditMethod::RRome : EditMethod::Rome, params), session, statistics);
    prov["context_templates"] = r.contextTemplates;
    EditSummary s = finish(patch, {r.update}, prov, requests, patchOut);
    for (const auto &st : r.steps)
        s.meanTargetProbability += st.targetProbability / static_cast<double>(r.steps.size());
    s.contextTemplates = r.contextTemplates;
    s.seconds = secondsSince(start);
    return s;
}

EditSummary editWithFineTune(ModelSession &session, const std::vector<EditRequest> &requests,
    const FineTuneParams &params, const std::filesystem::path &patchOut, const ProgressSink &progress)
{
    const auto start = std::chrono::steady_clock::now();
    Transformer &model = session.model();
    WeightPatch patch = patchFor(model, {params.layer});
    const FineTuneResult r = guardedEdit(
        model, {params.layer}, [&] { return applyFineTune(model, session.tokenizer(), requests, params, progress); });
    const nlohmann::json prov = provenanceOf(EditConfig::make(EditMethod::FineTune, params), session, {});
    EditSummary s = finish(patch, {r.update}, prov, requests, patchOut);
    s.meanTargetProbability = std::exp(-r.finalLoss); // per-token geometric mean
    s.seconds = secondsSince(start);
    return s;
}

EditSummary runEdit(ModelSession &session, const std::vector<EditRequest> &requests, const EditConfig &config,
    const std::vector<std::filesystem::path> &statistics, const std::filesystem::path &patchOut,
    const ProgressSink &progress)
{
    if (const auto &bad = session.summary().nonFiniteTensors; !bad.empty())
        throw Error(ErrorKind::InvalidArgument,
            "the model's weights hold NaN or infinite values (" + std::to_string(bad.size()) + " tensor(s), first '"
                + bad.front() + "'); an edit on them cannot give a usable patch. Nothing was edited");
    // A request that cannot fit the context (with room for the context templates put in front)
    // is named before any work starts.
    const int64_t context = session.model().config().maxPositions;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        const EditRequest &r = requests[i];
        const int64_t tokens
            = static_cast<int64_t>(session.encode(fillTemplate(r.promptTemplate, r.subject) + r.targetNew).size());
        if (tokens + kContextTemplateRoom > context)
            throw Error(ErrorKind::InvalidArgument,
                "request " + std::to_string(i + 1) + " ('" + r.subject + "') is " + std::to_string(tokens)
                    + " tokens long; with the context templates it does not fit the model's context of "
                    + std::to_string(context) + " tokens. Shorten its prompt or target; nothing was edited");
    }
    switch (config.method()) {
    case EditMethod::Memit:
    case EditMethod::AlphaEdit:
        return editWithMemit(session, requests, config.memit(), statistics, patchOut, progress);
    case EditMethod::Rome:
    case EditMethod::RRome:
        return editWithRome(session, requests, config.rome(), statistics, patchOut, progress);
    case EditMethod::FineTune:
        break;
    }
    return editWithFineTune(session, requests, config.fineTune(), patchOut, progress);
}

std::vector<std::filesystem::path> splitPathList(const std::string &list)
{
    std::vector<std::filesystem::path> out;
    if (list.empty())
        throw Error(ErrorKind::InvalidArgument, "an empty file list was given; name at least one file");
    for (std::size_t p = 0; p <= list.size();) {
        const std::size_t comma = list.find(',', p);
        const std::string item = list.substr(p, comma == std::string::npos ? std::string::npos : comma - p);
        if (item.empty())
            throw Error(ErrorKind::InvalidArgument,
                "the file list '" + list + "' has an empty entry (two commas, or one at an end)");
        out.emplace_back(item);
        if (comma == std::string::npos)
            break;
        p = comma + 1;
    }
    return out;
}

namespace {

// fileContentHash, remembered in `memoDir` under (canonical path, size, modification time).
std::string memoizedFileHash(const std::filesystem::path &file, const std::filesystem::path &memoDir)
{
    if (memoDir.empty())
        return fileContentHash(file);
    std::error_code ec;
    const auto canonical = std::filesystem::weakly_canonical(file, ec);
    const auto size = std::filesystem::file_size(file, ec);
    const auto mtime = std::filesystem::last_write_time(file, ec).time_since_epoch().count();
    if (ec)
        return fileContentHash(file);
    ContentHash key;
    key.update(canonical.string() + "\n" + std::to_string(size) + "\n" + std::to_string(mtime));
    const std::filesystem::path memo = memoDir / (key.hex() + ".hash");
    if (std::filesystem::exists(memo)) {
        const std::string known = readTextFile(memo);
        if (known.size() == 16)
            return known;
    }
    const std::string hash = fileContentHash(file);
    std::filesystem::create_directories(memoDir, ec);
    if (!ec) {
        AtomicFile out(memo);
        out.write(hash.data(), hash.size());
        out.commit();
    }
    return hash;
}

} // namespace

std::string checkpointContentHash(const std::filesystem::path &dir, const std::filesystem::path &memoDir)
{
    std::vector<std::filesystem::path> files;
    for (const auto &e : std::filesystem::directory_iterator(dir))
        if (e.path().extension() == ".safetensors" || e.path().filename() == "config.json")
            files.push_back(e.path());
    if (files.empty())
        throw Error(ErrorKind::Io, dir.string() + " holds no config.json or .safetensors files");
    std::sort(files.begin(), files.end());
    ContentHash h;
    for (const auto &f : files) {
        h.update(f.filename().string());
        h.update(memoizedFileHash(f, memoDir));
    }
    return h.hex();
}

std::filesystem::path defaultStatisticsCacheDir()
{
    if (const char *e = std::getenv("ENGRAM_CACHE_DIR"); e && *e)
        return std::filesystem::path(e) / "stats";
    if (const char *x = std::getenv("XDG_CACHE_HOME"); x && *x)
        return std::filesystem::path(x) / "engram" / "stats";
    const char *home = std::getenv("HOME");
    return std::filesystem::path(home && *home ? home : "/tmp") / ".cache" / "engram" / "stats";
}

CachedStatistics cachedStatisticsFiles(const ModelSession &session, const std::filesystem::path &corpus,
    const std::vector<int> &layers, int64_t maxDocuments, const std::filesystem::path &cacheDir,
    const std::function<bool(int64_t, int64_t)> &progress, bool float64)
{
    const std::string modelHash = checkpointContentHash(session.summary().directory, cacheDir / "hashes");
    const std::string corpusHash = memoizedFileHash(corpus, cacheDir / "hashes");
    auto fileFor = [&](int layer) {
        return cacheDir
            / (modelHash + "-L" + std::to_string(layer) + "-" + corpusHash + "-n"
                + (maxDocuments > 0 ? std::to_string(maxDocuments) : std::string("all")) + (float64 ? "-f64" : "-f32")
                + ".safetensors");
    };
    CachedStatistics out;
    for (int l : layers) {
        out.files.push_back(fileFor(l));
        if (!std::filesystem::exists(out.files.back()))
            out.computedLayers.push_back(l);
    }
    if (out.computedLayers.empty())
        return out;
    std::error_code ec;
    std::filesystem::create_directories(cacheDir, ec);
    if (ec)
        throw Error(ErrorKind::Io, "cannot create the statistics cache " + cacheDir.string() + ": " + ec.message());
    CorpusStatistics c = collectFromCorpus(session, corpus, out.computedLayers, maxDocuments, float64, progress);
    c.provenance["model_hash"] = modelHash;
    c.provenance["corpus_hash"] = corpusHash;
    for (const auto &s : c.stats)
        saveSecondMoments(fileFor(s.layer), {s}, c.provenance);
    return out;
}

namespace {
// Files written as shards (metadata "shard": "i/N") must form one complete set of one corpus.
void checkShardSet(const std::vector<std::filesystem::path> &files)
{
    std::map<std::string, std::string> first;
    std::vector<std::filesystem::path> seen;
    int count = 0;
    for (const auto &file : files) {
        const auto meta = SafetensorsFile::open(file)->metadata();
        const auto shard = meta.find("shard");
        if (shard == meta.end())
            continue;
        const auto slash = shard->second.find('/');
        const int index = std::atoi(shard->second.substr(0, slash).c_str());
        const int n = slash == std::string::npos ? 0 : std::atoi(shard->second.substr(slash + 1).c_str());
        auto field = [&](const char *key) {
            const auto it = meta.find(key);
            return it == meta.end() ? std::string() : it->second;
        };
        // Paths differ between the machines of a cluster: the corpus is compared by file name.
        const std::string corpusName = std::filesystem::path(field("corpus")).filename().string();
        if (first.empty()) {
            first = {{"corpus", corpusName}, {"corpus_documents", field("corpus_documents")}, {"file", file.string()}};
            count = n;
            seen.assign(static_cast<std::size_t>(std::max(n, 0)), {});
        }
        if (n != count || n < 1 || index < 0 || index >= n)
            throw Error(ErrorKind::InvalidArgument,
                file.string() + " is shard " + shard->second + ", " + first["file"] + " one of " + std::to_string(count)
                    + ": merge shards of one split");
        for (const auto &[key, value] : {std::pair<std::string, std::string> {"corpus", corpusName},
                 std::pair<std::string, std::string> {"corpus_documents", field("corpus_documents")}})
            if (value != first[key])
                throw Error(ErrorKind::InvalidArgument,
                    file.string() + " was computed with " + key + " '" + value + "', " + first["file"] + " with '"
                        + first[key] + "'");
        if (!seen[static_cast<std::size_t>(index)].empty())
            throw Error(ErrorKind::InvalidArgument,
                "shard " + shard->second + " is given twice (" + seen[static_cast<std::size_t>(index)].string() + ", "
                    + file.string() + "): its documents would count twice");
        seen[static_cast<std::size_t>(index)] = file;
    }
    std::string missing;
    for (std::size_t i = 0; i < seen.size(); ++i)
        if (seen[i].empty())
            missing += (missing.empty() ? "" : ", ") + std::to_string(i) + "/" + std::to_string(count);
    if (!missing.empty())
        throw Error(ErrorKind::InvalidArgument, "shards missing from the merge: " + missing);
}
} // namespace

StatisticsSummary mergeStatisticsFiles(
    const std::vector<std::filesystem::path> &shards, const std::filesystem::path &out)
{
    if (shards.size() < 2)
        throw Error(ErrorKind::InvalidArgument, "merging needs at least two statistics files");
    const auto start = std::chrono::steady_clock::now();
    checkShardSet(shards);
    std::vector<SecondMoment> total = loadSecondMoments(shards.front());
    for (std::size_t i = 1; i < shards.size(); ++i) {
        const auto part = loadSecondMoments(shards[i]);
        if (part.size() != total.size())
            throw Error(ErrorKind::InvalidArgument,
                shards[i].string() + " has " + std::to_string(part.size()) + " layers, " + shards.front().string()
                    + " has " + std::to_string(total.size()));
        for (std::size_t k = 0; k < total.size(); ++k) {
            if (part[k].layer != total[k].layer)
                throw Error(ErrorKind::InvalidArgument,
                    shards[i].string() + " holds layer " + std::to_string(part[k].layer) + " where "
                        + shards.front().string() + " holds layer " + std::to_string(total[k].layer));
            total[k].merge(part[k]);
        }
    }
    nlohmann::json parts = nlohmann::json::array();
    for (const auto &s : shards)
        parts.push_back(s.string());
    saveSecondMoments(out, total, {{"merged_from", parts.dump()}, {"dtype", "float64"}});
    StatisticsSummary s;
    for (const auto &t : total)
        s.layers.push_back(t.layer);
    s.tokensPerLayer = total.empty() ? 0 : total.front().count;
    s.seconds = secondsSince(start);
    return s;
}

std::vector<EditRequest> patchRequests(const std::filesystem::path &patchFiles)
{
    std::vector<EditRequest> out;
    std::function<void(const nlohmann::json &)> collect = [&](const nlohmann::json &prov) {
        if (prov.contains("parts") && prov["parts"].is_array())
            for (const auto &part : prov["parts"])
                collect(part);
        if (prov.contains("requests") && prov["requests"].is_array())
            for (const auto &r : prov["requests"])
                if (r.is_object() && r.value("subject", std::string()).size())
                    out.push_back({r.value("prompt", std::string()), r.value("subject", std::string()),
                        r.value("target_new", std::string())});
    };
    for (const auto &f : splitPathList(patchFiles.string()))
        collect(nlohmann::json::parse(WeightPatch::load(f).provenanceJson, nullptr, /*allow_exceptions=*/false));
    return out;
}

void applyPatchFile(ModelSession &session, const std::filesystem::path &patchFile)
{
    const auto files = splitPathList(patchFile.string());
    if (files.size() == 1) {
        WeightPatch::load(files.front()).apply(session.model());
        return;
    }
    std::vector<WeightPatch> patches;
    for (const auto &f : files)
        patches.push_back(WeightPatch::load(f));
    WeightPatch::compose(session.model(), patches).apply(session.model());
}

std::vector<EditRequest> readEditRequests(const std::filesystem::path &file, int64_t limit)
{
    // The dataset reader every command shares: any format it knows, records counted from 1.
    const Dataset data = importDataset(file, limit);
    if (!data.rejected.empty()) {
        const auto &r = data.rejected.front();
        throw Error(ErrorKind::CorruptFile,
            file.string() + ": record " + std::to_string(r.index) + ", " + r.field + ": " + r.reason
                + (data.rejected.size() > 1 ? " (and " + std::to_string(data.rejected.size() - 1) + " more)" : "")
                + "; nothing was edited. Fix or remove the record");
    }
    std::vector<EditRequest> out;
    // One subject and relation (or prompt, without a relation) may get one new object only.
    std::map<std::pair<std::string, std::string>, std::pair<std::size_t, std::string>> seen;
    for (std::size_t i = 0; i < data.records.size(); ++i) {
        const EvalRecord &r = data.records[i];
        if (r.targetNew.empty())
            throw Error(ErrorKind::CorruptFile,
                file.string() + ": record " + std::to_string(i + 1)
                    + " has no new object (target_new); nothing was edited");
        const auto key = std::make_pair(r.subject, r.relationId.empty() ? r.promptTemplate : r.relationId);
        const auto [it, fresh] = seen.emplace(key, std::make_pair(i + 1, r.targetNew));
        if (!fresh && it->second.second != r.targetNew)
            throw Error(ErrorKind::Conflict,
                file.string() + ": records " + std::to_string(it->second.first) + " and " + std::to_string(i + 1)
                    + " give '" + r.subject + "' two new objects for the same "
                    + (r.relationId.empty() ? "prompt" : "relation " + r.relationId) + " ('" + it->second.second
                    + "' and '" + r.targetNew + "'); nothing was edited");
        EditRequest req {r.promptTemplate, r.subject, r.targetNew};
        req.relation = r.relationId;
        out.push_back(std::move(req));
    }
    if (out.empty())
        throw Error(ErrorKind::CorruptFile, file.string() + " holds no records to edit");
    return out;
}

KeepPlan attachFactsToKeep(std::vector<EditRequest> &requests, const std::vector<FactToKeep> &keep,
    std::vector<KeyPrompt> *protect, std::size_t maxPerRequest)
{
    KeepPlan plan;
    std::map<std::string, std::vector<std::size_t>> requestsOf; // subject -> requests about it
    for (std::size_t i = 0; i < requests.size(); ++i)
        requestsOf[requests[i].subject].push_back(i);
    std::set<std::string> protectedPrompts;
    std::set<std::string> subjectsPreserved;
    for (const FactToKeep &f : keep) {
        const std::string filled = fillTemplate(f.promptTemplate, f.subject); // throws without exactly one {}
        const auto it = requestsOf.find(f.subject);
        if (it == requestsOf.end()) {
            if (protect && protectedPrompts.insert(filled).second) {
                protect->push_back({f.promptTemplate, f.subject});
                ++plan.protectedKeys;
            }
            continue;
        }
        for (std::size_t i : it->second) {
            EditRequest &r = requests[i];
            // The edited relation itself is not kept: that is what changes.
            const bool sameRelation = !f.relation.empty() && !r.relation.empty() ? f.relation == r.relation
                                                                                 : f.promptTemplate == r.promptTemplate;
            if (sameRelation || r.preservePrompts.size() >= maxPerRequest
                || std::find(r.preservePrompts.begin(), r.preservePrompts.end(), f.promptTemplate)
                    != r.preservePrompts.end())
                continue;
            r.preservePrompts.push_back(f.promptTemplate);
            ++plan.preservePrompts;
            subjectsPreserved.insert(r.subject);
        }
    }
    plan.subjectsPreserved = subjectsPreserved.size();
    return plan;
}

bool protectsKeys(const EditConfig &config)
{
    return usesMemitParams(config.method()) && config.memit().protectWeight > 0;
}

KeepPlan keepFacts(EditConfig &config, std::vector<EditRequest> &requests, const std::vector<FactToKeep> &keep)
{
    if (config.method() == EditMethod::FineTune)
        throw Error(ErrorKind::InvalidArgument, "keeping known facts works with memit, rome and r-rome, not ftw");
    return attachFactsToKeep(requests, keep, protectsKeys(config) ? &config.memit().protect : nullptr);
}

} // namespace engram
