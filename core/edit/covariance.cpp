#include "core/edit/covariance.h"

#include "core/io/checkpoint.h"
#include "core/io/npz.h"
#include "core/io/safetensors.h"
#include "core/model/batching.h"
#include "core/model/interventions.h"
#include "core/model/transformer.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <numeric>
#include <regex>

namespace engram {

at::Tensor SecondMoment::mean() const
{
    if (count <= 0)
        throw Error(ErrorKind::InvalidArgument, "second moment of layer " + std::to_string(layer) + " has no tokens");
    return sum.to(at::kDouble) / static_cast<double>(count);
}

void SecondMoment::merge(const SecondMoment &other)
{
    if (other.layer != layer || !other.sum.defined() || other.sum.sizes() != sum.sizes())
        throw Error(ErrorKind::ShapeMismatch,
            "cannot merge statistics of layer " + std::to_string(other.layer) + " into layer " + std::to_string(layer));
    sum = sum + other.sum.to(sum.scalar_type());
    count += other.count;
}

std::vector<SecondMoment> collectSecondMoments(const Transformer &model, const Tokenizer &tokenizer,
    const std::vector<std::string> &documents, const CovarianceParams &params, const CovarianceProgress &progress)
{
    if (params.layers.empty())
        throw Error(ErrorKind::InvalidArgument, "no layers requested for covariance statistics");
    const int numLayers = model.config().numLayers;
    for (int l : params.layers)
        if (l < 0 || l >= numLayers)
            throw Error(ErrorKind::InvalidArgument,
                "layer " + std::to_string(l) + " is outside the model's " + std::to_string(numLayers) + " layers");
    c10::NoGradGuard noGrad;
    const int context = params.contextLength > 0 ? params.contextLength : model.config().maxPositions;
    const auto accType = params.float64 ? at::kDouble : at::kFloat;
    const int64_t dk = model.config().intermediateSize;

    const int64_t n = params.maxDocuments > 0 ? std::min<int64_t>(params.maxDocuments, documents.size())
                                              : static_cast<int64_t>(documents.size());
    std::vector<std::vector<int64_t>> tokens(n);
    for (int64_t i = 0; i < n; ++i) {
        tokens[i] = tokenizer.encode(documents[i]);
        if (static_cast<int>(tokens[i].size()) > context)
            tokens[i].resize(context);
    }
    // Sort by length so batches pad little; the sums do not depend on the order.
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(
        order.begin(), order.end(), [&](int64_t a, int64_t b) { return tokens[a].size() < tokens[b].size(); });

    std::vector<SecondMoment> stats;
    for (int l : params.layers)
        stats.push_back({l, at::zeros({dk, dk}, at::TensorOptions().dtype(accType).device(model.device())), 0});
    const int lastLayer = *std::max_element(params.layers.begin(), params.layers.end());

    int64_t done = 0;
    for (int64_t b0 = 0; b0 < n;) {
        // Grow the batch while the padded size stays within the token budget.
        int64_t b1 = b0;
        std::size_t T = 0;
        while (b1 < n) {
            const std::size_t len = std::max<std::size_t>(1, tokens[order[b1]].size());
            if (b1 > b0 && static_cast<int64_t>(std::max(T, len) * (b1 - b0 + 1)) > params.tokenBudget)
                break;
            T = std::max(T, len);
            ++b1;
        }
        std::vector<const std::vector<int64_t> *> batchTokens;
        for (int64_t r = b0; r < b1; ++r)
            batchTokens.push_back(&tokens[order[r]]);
        const int64_t rows = b1 - b0;
        const PaddedBatch batch = padRight(batchTokens);
        std::vector<at::Tensor> keys(stats.size());
        Interventions iv;
        for (std::size_t s = 0; s < stats.size(); ++s)
            iv.record(Site::MlpKey, stats[s].layer, &keys[s]);
        ForwardOptions fo;
        fo.interventions = &iv;
        fo.stopAfterLayer = lastLayer;
        model.forward(batch.ids, batch.mask, fo);
        const at::Tensor real = batch.mask.to(model.device()).reshape({-1}) != 0;
        for (std::size_t s = 0; s < stats.size(); ++s) {
            const at::Tensor k = keys[s].reshape({-1, dk}).index({real}).to(accType); // [tokens, d_k]
            stats[s].sum.add_(at::matmul(k.t(), k));
            stats[s].count += k.size(0);
        }
        done += rows;
        b0 = b1;
        if (progress && !progress(done, n))
            throw Error(ErrorKind::Cancelled,
                "covariance statistics cancelled after " + std::to_string(done) + " of " + std::to_string(n)
                    + " documents");
    }
    for (auto &s : stats)
        s.sum = s.sum.to(at::kCPU);
    return stats;
}

std::vector<std::string> readCorpus(const std::filesystem::path &path)
{
    std::ifstream in(path);
    if (!in)
        throw Error(ErrorKind::Io, "cannot open corpus " + path.string());
    const bool jsonl = path.extension() == ".jsonl";
    std::vector<std::string> docs;
    std::string line;
    int64_t lineNo = 0;
    while (std::getline(in, line)) {
        ++lineNo;
        if (line.empty())
            continue;
        if (!jsonl) {
            docs.push_back(line);
            continue;
        }
        try {
            const auto j = nlohmann::json::parse(line);
            docs.push_back(j.at("text").get<std::string>());
        } catch (const nlohmann::json::exception &e) {
            throw Error(ErrorKind::CorruptFile,
                path.string() + " line " + std::to_string(lineNo) + ": expected a JSON object with a \"text\" string ("
                    + e.what() + ")");
        }
    }
    return docs;
}

void saveSecondMoments(const std::filesystem::path &path, const std::vector<SecondMoment> &stats,
    const std::map<std::string, std::string> &provenance)
{
    std::vector<TensorSource> sources;
    std::map<std::string, std::string> meta = provenance;
    meta["format"] = "engram-second-moments";
    nlohmann::json counts;
    for (const auto &s : stats) {
        sources.push_back(tensorSource("layer." + std::to_string(s.layer) + ".sum", s.sum.to(at::kCPU).contiguous()));
        counts[std::to_string(s.layer)] = s.count;
    }
    meta["counts"] = counts.dump();
    writeSafetensors(path, std::move(sources), meta);
}

namespace {

// The per-layer token counts in an Engram statistics file's metadata (the header only).
std::vector<std::pair<int, int64_t>> engramStatisticsCounts(const SafetensorsFile &file, const std::filesystem::path &path)
{
    const auto &meta = file.metadata();
    const auto fmt = meta.find("format");
    const auto countsText = meta.find("counts");
    if (fmt == meta.end() || fmt->second != "engram-second-moments" || countsText == meta.end())
        throw Error(ErrorKind::CorruptFile, path.string() + " is not an Engram statistics file (no counts metadata)");
    const auto counts = nlohmann::json::parse(countsText->second, nullptr, /*allow_exceptions=*/false);
    if (!counts.is_object())
        throw Error(ErrorKind::CorruptFile, path.string() + ": counts metadata is not a JSON object");
    std::vector<std::pair<int, int64_t>> out;
    for (auto it = counts.begin(); it != counts.end(); ++it) {
        if (!it.value().is_number_integer() || it.key().empty() || it.key().size() > 6
            || it.key().find_first_not_of("0123456789") != std::string::npos)
            throw Error(ErrorKind::CorruptFile, path.string() + ": counts metadata has a bad entry '" + it.key() + "'");
        out.emplace_back(std::stoi(it.key()), it.value().get<int64_t>());
    }
    std::sort(out.begin(), out.end());
    return out;
}

// The layer in a published statistics file's name (".h.<n>." or ".layers.<n>.").
int layerFromPublishedName(const std::filesystem::path &path)
{
    std::smatch m;
    const std::string name = path.filename().string();
    static const std::regex layerRe("\\.(?:h|layers)\\.([0-9]+)\\.");
    if (!std::regex_search(name, m, layerRe))
        throw Error(
            ErrorKind::InvalidArgument, path.string() + ": cannot tell the layer from the file name; give it explicitly");
    return std::stoi(m[1].str());
}

} // namespace

std::vector<SecondMoment> loadSecondMoments(const std::filesystem::path &path)
{
    const WeightStore store = WeightStore::openFile(path);
    const auto file = SafetensorsFile::open(path);
    std::vector<SecondMoment> out;
    for (const auto &[layer, count] : engramStatisticsCounts(*file, path)) {
        SecondMoment s;
        s.layer = layer;
        s.count = count;
        s.sum = store.tensor("layer." + std::to_string(layer) + ".sum").clone();
        out.push_back(std::move(s));
    }
    return out;
}

SecondMoment loadPublishedStatistics(const std::filesystem::path &path, int layer)
{
    if (layer < 0)
        layer = layerFromPublishedName(path);
    auto arrays = readNpz(path, {"mom2.mom2", "mom2.count"});
    const at::Tensor sum = arrays["mom2.mom2"];
    if (sum.dim() != 2 || sum.size(0) != sum.size(1))
        throw Error(ErrorKind::ShapeMismatch, path.string() + ": mom2.mom2 is not a square matrix");
    if (arrays["mom2.count"].numel() != 1)
        throw Error(ErrorKind::CorruptFile, path.string() + ": mom2.count is not a single number");
    SecondMoment s;
    s.layer = layer;
    s.sum = sum.to(at::kDouble);
    s.count = arrays["mom2.count"].to(at::kLong).reshape({}).item<int64_t>();
    if (s.count <= 0)
        throw Error(ErrorKind::CorruptFile, path.string() + ": mom2.count is not positive");
    return s;
}

std::vector<SecondMoment> loadStatistics(const std::vector<std::filesystem::path> &paths)
{
    std::vector<SecondMoment> out;
    auto add = [&](SecondMoment s, const std::filesystem::path &from) {
        for (const auto &o : out)
            if (o.layer == s.layer)
                throw Error(ErrorKind::InvalidArgument,
                    "statistics for layer " + std::to_string(s.layer) + " given twice (again in " + from.string()
                        + ")");
        out.push_back(std::move(s));
    };
    for (const auto &p : paths) {
        if (p.extension() == ".npz")
            add(loadPublishedStatistics(p), p);
        else
            for (auto &s : loadSecondMoments(p))
                add(std::move(s), p);
    }
    return out;
}

std::vector<int> statisticsFileLayers(const std::vector<std::filesystem::path> &paths)
{
    std::vector<int> layers;
    for (const auto &p : paths) {
        if (p.extension() == ".npz") {
            if (!std::filesystem::is_regular_file(p))
                throw Error(ErrorKind::Io, p.string() + " does not exist");
            layers.push_back(layerFromPublishedName(p));
        } else {
            for (const auto &[layer, count] : engramStatisticsCounts(*SafetensorsFile::open(p), p))
                layers.push_back(layer);
        }
    }
    std::sort(layers.begin(), layers.end());
    return layers;
}

} // namespace engram
