#include "core/model/modelinfo.h"

#include "core/io/checkpoint.h"
#include "core/model/modelconfig.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <thread>

namespace engram {

CheckpointSummary summarizeCheckpoint(const std::filesystem::path &dir, const Tokenizer *tokenizer)
{
    const ModelConfig config = ModelConfig::fromFile(dir / "config.json");
    const WeightStore weights = WeightStore::openDirectory(dir);
    CheckpointSummary s;
    std::error_code ec;
    s.directory = std::filesystem::weakly_canonical(dir, ec);
    if (ec)
        s.directory = dir;
    s.modelType = config.modelType;
    s.family = familyName(config.family);
    s.layers = config.numLayers;
    s.hiddenSize = config.hiddenSize;
    s.heads = config.numHeads;
    s.kvHeads = config.numKvHeads;
    s.vocabSize = config.vocabSize;
    s.contextLength = config.maxPositions;
    for (const auto &name : weights.names())
        s.parameters += weights.info(name).numel();
    s.weightBytes = weights.totalBytes();
    s.shards = weights.shardFiles();
    if (tokenizer) {
        s.tokenizerKind = tokenizer->kindName();
        return s;
    }
    s.tokenizerKind = Tokenizer::peekKind(dir); // headers only: no vocabulary is built
    return s;
}

CheckpointCheck checkCheckpoint(const std::filesystem::path &dir)
{
    CheckpointCheck c;
    const WeightStore store = WeightStore::openDirectory(dir);
    for (const auto &name : store.names()) {
        const at::Tensor t = store.tensor(name);
        if (t.is_floating_point() && !at::isfinite(t).all().item<bool>())
            c.nonFiniteTensors.push_back(name);
    }
    try {
        const Tokenizer tokenizer = Tokenizer::fromDirectory(dir);
        if (tokenizer.vocabSize() == 0)
            c.tokenizerProblem = "its vocabulary is empty";
    } catch (const Error &e) {
        c.tokenizerProblem = e.what();
    }
    return c;
}

RuntimeInfo runtimeInfo()
{
    RuntimeInfo info;
    info.torchVersion = TORCH_VERSION;
    info.cudaAvailable = at::hasCUDA();
    info.threads = at::get_num_threads();
    return info;
}

void configureThreads(int threads)
{
    if (threads <= 0)
        threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(threads);
}

} // namespace engram
