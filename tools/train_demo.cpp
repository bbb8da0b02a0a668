// train_demo: trains the demo GPT-2 model on resources/demo/corpus.txt with LibTorch and
// saves it as a Hugging Face directory (config.json, model.safetensors; the tokenizer files
// written by tools/demo/train_tokenizer.py stay beside them).
//
//   train_demo [--demo resources/demo] [--layers 6] [--hidden 192] [--inner 4*hidden] [--heads 6] [--context 128]
//              [--batch 32] [--epochs 14] [--decay-epochs 2] [--lr 2e-3] [--warmup 200]
//              [--seed 1] [--threads 0] [--device cpu|cuda] [--out DIR (default <demo>/model)]
//              [--save-dtype fp32|fp16|bf16]  (training is always fp32; this is how the weights are stored)
//
// Deterministic for a seed and thread count on one machine. AdamW (0.9, 0.98, wd 0.01),
// linear warm-up, constant rate, then linear decay to zero over the last --decay-epochs.
// Documents (corpus lines) are packed whole into sequences that start at position 0.

#include "core/model/batching.h"
#include "core/model/modelinfo.h"
#include "core/model/transformer.h"
#include "core/text/tokenizer.h"
#include "devkit/randomcheckpoint.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <unistd.h>

using namespace engram;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::vector<int64_t>> packSequences(
    const std::vector<std::vector<int64_t>> &docs, std::vector<std::size_t> order, int context)
{
    std::vector<std::vector<int64_t>> seqs;
    std::vector<int64_t> cur;
    for (std::size_t i : order) {
        const auto &d = docs[i];
        if (!cur.empty() && cur.size() + d.size() > static_cast<std::size_t>(context)) {
            seqs.push_back(std::move(cur));
            cur.clear();
        }
        cur.insert(cur.end(), d.begin(), d.begin() + std::min<std::size_t>(d.size(), context));
    }
    if (!cur.empty())
        seqs.push_back(std::move(cur));
    return seqs;
}

} // namespace

int run(int argc, char **argv)
{
    std::map<std::string, std::string> opt = {{"--demo", "resources/demo"}, {"--layers", "6"}, {"--hidden", "192"},
        {"--inner", "0"}, {"--heads", "6"}, {"--context", "128"}, {"--batch", "32"}, {"--epochs", "14"},
        {"--decay-epochs", "2"}, {"--lr", "2e-3"}, {"--warmup", "200"}, {"--seed", "1"}, {"--threads", "0"},
        {"--device", "cpu"}, {"--out", ""}, {"--save-dtype", "fp32"}};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!opt.count(argv[i])) {
            std::fprintf(stderr, "train_demo: unknown option %s\n", argv[i]);
            return 2;
        }
        opt[argv[i]] = argv[i + 1];
    }
    const auto num = [&](const char *k) { return std::stoi(opt[k]); };
    configureThreads(num("--threads"));
    parseDTypeName(opt["--save-dtype"]); // a bad name fails now, not after the training
    const std::filesystem::path demo = opt["--demo"];
    const std::filesystem::path out = opt["--out"].empty() ? demo / "model" : std::filesystem::path(opt["--out"]);
    const Tokenizer tok = Tokenizer::fromTokenizerJson(demo / "model" / "tokenizer.json");
    const int64_t eot = *tok.tokenId("<|endoftext|>");

    std::vector<std::vector<int64_t>> docs;
    {
        std::ifstream in(demo / "corpus.txt");
        std::string line;
        while (std::getline(in, line)) {
            auto ids = tok.encode(line);
            ids.push_back(eot);
            docs.push_back(std::move(ids));
        }
    }
    int64_t corpusTokens = 0;
    for (const auto &d : docs)
        corpusTokens += static_cast<int64_t>(d.size());
    std::printf("train_demo: %zu documents, %lld tokens per epoch, vocabulary %lld\n", docs.size(),
        static_cast<long long>(corpusTokens), static_cast<long long>(tok.vocabSize()));

    const int context = num("--context");
    std::string configJson = "{\"model_type\":\"gpt2\",\"vocab_size\":" + std::to_string(tok.vocabSize())
        + ",\"n_embd\":" + opt["--hidden"] + ",\"n_layer\":" + opt["--layers"] + ",\"n_head\":" + opt["--heads"]
        + (num("--inner") > 0 ? ",\"n_inner\":" + opt["--inner"] : std::string())
        + ",\"n_positions\":" + std::to_string(context) + ",\"bos_token_id\":" + std::to_string(eot)
        + ",\"eos_token_id\":" + std::to_string(eot) + "}";
    const ModelConfig config = ModelConfig::fromJson(configJson, "train_demo config");
    const uint64_t seed = std::stoull(opt["--seed"]);
    // The initial weights go through a checkpoint so training starts from exactly what the
    // loader reads. POSIX calls remove it: pip's LibTorch 2.x interposes std::filesystem::remove_all.
    std::string scratchPattern = (std::filesystem::temp_directory_path() / "engram-train-XXXXXX").string();
    if (!::mkdtemp(scratchPattern.data()))
        throw std::runtime_error("cannot create a temporary directory");
    const std::filesystem::path scratch = scratchPattern;
    writeRandomCheckpoint(config, scratch, seed, /*shards=*/1, /*matrixStd=*/0.02);
    auto model = Transformer::load(scratch, LoadOptions {opt["--device"], "fp32"});
    const at::Device device = model->device();
    std::vector<at::Tensor> params;
    for (const auto &[name, t] : model->namedParameters()) {
        model->setParameter(name, t.clone());
        at::Tensor p = model->parameter(name);
        p.requires_grad_(true);
        params.push_back(p);
    }
    torch::optim::AdamW optimizer(
        params, torch::optim::AdamWOptions(std::stod(opt["--lr"])).betas({0.9, 0.98}).weight_decay(0.01));

    const int epochs = num("--epochs"), batch = num("--batch");
    const double decayEpochs = std::stod(opt["--decay-epochs"]);
    std::mt19937_64 rng(seed);
    std::vector<std::size_t> order(docs.size());
    for (std::size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    const std::size_t stepsPerEpoch = (packSequences(docs, order, context).size() + batch - 1) / batch;
    const std::size_t totalSteps = stepsPerEpoch * epochs;
    const std::size_t decayStart = totalSteps - static_cast<std::size_t>(decayEpochs * stepsPerEpoch);
    std::printf("train_demo: %d layers, d=%d, %lld parameters, %zu steps per epoch, %zu steps\n", config.numLayers,
        config.hiddenSize, static_cast<long long>(config.parameterCount()), stepsPerEpoch, totalSteps);
    std::fflush(stdout);

    c10::GradMode::set_enabled(true);
    std::size_t step = 0;
    const auto start = Clock::now();
    int64_t seenTokens = 0;
    int64_t skippedBatches = 0;
    for (int epoch = 0; epoch < epochs; ++epoch) {
        std::shuffle(order.begin(), order.end(), rng);
        const auto seqs = packSequences(docs, order, context);
        double epochLoss = 0;
        int epochBatches = 0;
        for (std::size_t b0 = 0; b0 < seqs.size(); b0 += batch, ++step) {
            const std::size_t n = std::min<std::size_t>(batch, seqs.size() - b0);
            const std::vector<std::vector<int64_t>> rows(seqs.begin() + b0, seqs.begin() + b0 + n);
            auto [ids, mask] = padRight(rows);
            const int64_t T = ids.size(1);
            double lr = std::stod(opt["--lr"]);
            if (step < static_cast<std::size_t>(num("--warmup")))
                lr *= double(step + 1) / num("--warmup");
            // Signed arithmetic: packing differs per epoch, so the last epoch can run a few steps
            // past the estimate; the rate then stays at zero (an unsigned difference once wrapped
            // around here, multiplied the rate by ~1e16 and blew the weights up).
            if (step >= decayStart)
                lr *= std::clamp((double(totalSteps) - double(step)) / double(totalSteps - decayStart), 0.0, 1.0);
            for (auto &group : optimizer.param_groups())
                static_cast<torch::optim::AdamWOptions &>(group.options()).lr(lr);

            if (T < 2) // one-token sequences have no next-token target (the mean over none is NaN)
                continue;
            ids = ids.to(device);
            mask = mask.to(device);
            const at::Tensor logits = model->forward(ids, mask).logits; // [n, T, V]
            const at::Tensor targets = ids.narrow(1, 1, T - 1).masked_fill(mask.narrow(1, 1, T - 1) == 0, -100);
            const at::Tensor loss = at::cross_entropy_loss(logits.narrow(1, 0, T - 1).reshape({-1, logits.size(-1)}),
                targets.reshape({-1}), {}, at::Reduction::Mean, -100);
            if (!std::isfinite(loss.item<double>())) {
                // Never let one bad batch poison the weights: skip it and say so.
                std::printf("step %zu: non-finite loss, batch skipped\n", step);
                ++skippedBatches;
                continue;
            }
            optimizer.zero_grad();
            loss.backward();
            at::Tensor norm = at::zeros({}, at::TensorOptions().dtype(at::kFloat).device(device));
            for (const auto &p : params)
                norm = norm + p.grad().pow(2).sum();
            const double gradNorm = std::sqrt(norm.item<double>());
            if (!std::isfinite(gradNorm)) {
                std::printf("step %zu: non-finite gradient, batch skipped\n", step);
                ++skippedBatches;
                continue;
            }
            if (gradNorm > 1.0)
                for (auto &p : params)
                    p.grad().mul_(1.0 / gradNorm);
            optimizer.step();
            seenTokens += mask.sum().item<int64_t>();
            epochLoss += loss.item<double>();
            ++epochBatches;
            if (step % 50 == 0) {
                const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
                // The step count is an estimate (packing differs per epoch): never print a negative ETA.
                const double eta
                    = elapsed / (step + 1) * std::max<double>(0.0, double(totalSteps) - double(step) - 1.0);
                std::printf("step %zu/%zu epoch %d loss %.4f lr %.2e %.0f tokens/s eta %.0f s\n", step, totalSteps,
                    epoch + 1, loss.item<double>(), lr, seenTokens / std::max(elapsed, 1e-9), eta);
                std::fflush(stdout);
            }
        }
        std::printf("epoch %d done: mean loss %.4f\n", epoch + 1, epochLoss / std::max(1, epochBatches));
        std::fflush(stdout);
    }
    c10::GradMode::set_enabled(false);
    for (const auto &[name, t] : model->namedParameters())
        model->setParameter(name, t.detach().contiguous());
    saveCheckpoint(*model, out, opt["--save-dtype"]);
    for (const char *name : {"config.json", "model.safetensors"})
        ::unlink((scratch / name).c_str());
    ::rmdir(scratch.c_str());
    std::printf("train_demo: saved %s after %.0f s (%lld batches skipped)\n", out.string().c_str(),
        std::chrono::duration<double>(Clock::now() - start).count(), static_cast<long long>(skippedBatches));
    return 0;
}

int main(int argc, char **argv)
{
    try {
        return run(argc, argv);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "train_demo: %s\n", e.what());
        return 1;
    }
}
