#include "core/edit/finetune.h"

#include "core/edit/editrows.h"
#include "core/model/batching.h"
#include "core/model/transformer.h"
#include "core/text/subjecttokens.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>

namespace engram {

using namespace editrows;

FineTuneResult applyFineTune(Transformer &model, const Tokenizer &tokenizer, const std::vector<EditRequest> &requests,
    const FineTuneParams &p, const ProgressSink &progress)
{
    checkRequests(requests);
    if (p.layer < 0 || p.layer >= model.config().numLayers)
        throw Error(ErrorKind::InvalidArgument, "layer " + std::to_string(p.layer) + " does not exist");
    if (p.steps < 1 || !(p.lr > 0))
        throw Error(ErrorKind::InvalidArgument, "fine-tuning needs at least one step and a positive learning rate");
    const std::string name = model.mlpOutputWeightName(p.layer);
    const at::Tensor W0 = model.parameter(name).to(at::kFloat).detach().clone();

    // Prompt + target tokens per request; the target tokens are predicted teacher-forced.
    std::vector<std::vector<int64_t>> seqs;
    std::vector<std::pair<int64_t, int64_t>> targetSpan; // (first target position, count)
    for (const EditRequest &r : requests) {
        auto ids = tokenizer.encode(fillTemplate(r.promptTemplate, r.subject));
        const auto target = tokenizer.encode(withLeadingSpace(r.targetNew));
        targetSpan.emplace_back(static_cast<int64_t>(ids.size()), static_cast<int64_t>(target.size()));
        ids.insert(ids.end(), target.begin(), target.end());
        seqs.push_back(std::move(ids));
    }
    const at::Device dev = model.device();
    constexpr std::size_t kChunk = 64; // rows per forward/backward; gradients accumulate over chunks
    struct Chunk {
        at::Tensor ids, mask, labels; // labels[r][t] = token predicted at position t, or -100
    };
    std::vector<Chunk> chunks;
    int64_t targetTokens = 0;
    for (std::size_t b0 = 0; b0 < seqs.size(); b0 += kChunk) {
        const std::size_t b1 = std::min(seqs.size(), b0 + kChunk);
        const std::vector<std::vector<int64_t>> part(
            seqs.begin() + static_cast<std::ptrdiff_t>(b0), seqs.begin() + static_cast<std::ptrdiff_t>(b1));
        const PaddedBatch batch = padRight(part);
        at::Tensor labels = at::full(batch.ids.sizes(), -100, at::kLong);
        for (std::size_t r = b0; r < b1; ++r) {
            const auto [first, count] = targetSpan[r];
            for (int64_t a = 0; a < count; ++a)
                labels[static_cast<int64_t>(r - b0)][first + a - 1] = seqs[r][static_cast<std::size_t>(first + a)];
            targetTokens += count;
        }
        chunks.push_back({batch.ids.to(dev), batch.mask.to(dev), labels.to(dev)});
    }

    at::Tensor W = W0.clone().set_requires_grad(true);
    model.setParameter(name, W);
    at::Tensor m = at::zeros_like(W0), v = at::zeros_like(W0);
    FineTuneResult result;
    c10::AutoGradMode grad(true);
    ProgressTracker tracker(progress, "fine-tuning", p.steps);
    try {
        tracker.report();
        for (int step = 0; step < p.steps; ++step) {
            double total = 0;
            for (const Chunk &c : chunks) {
                const at::Tensor logits = model.forward(c.ids, c.mask).logits; // [rows, T, V]
                const at::Tensor loss = at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}),
                                            c.labels.reshape({-1}), {}, at::Reduction::Sum, -100)
                    / static_cast<double>(targetTokens);
                loss.backward();
                total += loss.item<double>();
            }
            result.steps = step + 1;
            result.finalLoss = total;
            if (total < p.earlyStopLoss)
                break;
            c10::NoGradGuard noGrad;
            const at::Tensor g = W.grad();
            const double t = step + 1;
            m.mul_(0.9).add_(g, 0.1);
            v.mul_(0.999).addcmul_(g, g, 0.001);
            W.sub_(p.lr * (m / (1 - std::pow(0.9, t))) / ((v / (1 - std::pow(0.999, t))).sqrt() + 1e-8));
            if (p.normConstraint > 0) // the L∞ ball around the original weight
                W.copy_(at::min(at::max(W, W0 - p.normConstraint), W0 + p.normConstraint));
            W.grad().zero_();
            tracker.advance();
        }
    } catch (...) {
        model.setParameter(name, W0); // never leave a half-trained weight behind
        throw;
    }
    const at::Tensor finalW = W.detach().clone();
    model.setParameter(name, finalW);
    LayerUpdate &up = result.update;
    up.layer = p.layer;
    up.weightName = name;
    up.delta = (finalW - W0).to(at::kCPU).contiguous();
    up.relativeNorm = up.delta.norm().item<double>() / W0.norm().item<double>();
    return result;
}

} // namespace engram
