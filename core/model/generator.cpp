#include "core/model/generator.h"

#include "core/model/transformer.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <c10/core/GradMode.h>

#include <algorithm>

namespace engram {
namespace {

// Picks the next token from float32 logits [vocab] on the CPU.
int64_t pickToken(at::Tensor logits, const GenerationParams &p, at::Generator &gen)
{
    if (p.greedy)
        return logits.argmax().item<int64_t>();
    logits = logits / p.temperature;
    if (p.topK > 0 && p.topK < logits.size(0)) {
        const at::Tensor kth = std::get<0>(logits.topk(p.topK)).select(0, p.topK - 1);
        logits = logits.masked_fill(logits < kth, -std::numeric_limits<float>::infinity());
    }
    if (p.topP < 1.0) {
        auto [sorted, order] = logits.sort(/*dim=*/0, /*descending=*/true);
        const at::Tensor cumulative = at::softmax(sorted, 0).cumsum(0);
        // Drop tokens once the mass before them already reaches top_p (always keep the first).
        at::Tensor drop = (cumulative - at::softmax(sorted, 0)) >= p.topP;
        sorted = sorted.masked_fill(drop, -std::numeric_limits<float>::infinity());
        logits = at::full_like(logits, -std::numeric_limits<float>::infinity()).scatter(0, order, sorted);
    }
    const at::Tensor probs = at::softmax(logits, 0);
    return at::multinomial(probs, 1, /*replacement=*/false, gen).item<int64_t>();
}

} // namespace

GenerationResult generate(const Transformer &model, const std::vector<int64_t> &prompt, const GenerationParams &params,
    const std::function<bool(int64_t)> &onToken)
{
    if (prompt.empty())
        throw Error(ErrorKind::InvalidArgument, "generation needs at least one prompt token");
    if (!params.greedy && params.temperature <= 0.0)
        throw Error(ErrorKind::InvalidArgument, "temperature must be positive");
    if (params.topP <= 0.0 || params.topP > 1.0)
        throw Error(ErrorKind::InvalidArgument, "top-p must be in (0, 1]");
    const int64_t context = model.config().maxPositions;
    if (static_cast<int64_t>(prompt.size()) + params.maxNewTokens > context
        && model.config().positions == PositionScheme::Learned)
        throw Error(ErrorKind::InvalidArgument,
            "prompt (" + std::to_string(prompt.size()) + " tokens) plus " + std::to_string(params.maxNewTokens)
                + " new tokens exceeds the model's context of " + std::to_string(context));

    c10::NoGradGuard noGrad;
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(params.seed);
    const auto longOpts = at::TensorOptions().dtype(at::kLong);

    GenerationResult result;
    std::vector<int64_t> all = prompt;
    KvCache cache;
    ForwardOptions fo;
    if (params.useCache)
        fo.cache = &cache;
    at::Tensor next = at::tensor(all, longOpts).unsqueeze(0);
    for (int step = 0; step < params.maxNewTokens; ++step) {
        const ForwardOutput out = model.forward(next, {}, fo);
        const at::Tensor last = out.logits.select(0, 0).select(0, out.logits.size(1) - 1).to(at::kCPU);
        const int64_t token = pickToken(last, params, gen);
        all.push_back(token);
        result.tokens.push_back(token);
        if (onToken && !onToken(token))
            break;
        if (std::find(params.stopTokens.begin(), params.stopTokens.end(), token) != params.stopTokens.end()) {
            result.stoppedOnToken = true;
            break;
        }
        next = params.useCache ? at::tensor(std::vector<int64_t> {token}, longOpts).unsqueeze(0)
                               : at::tensor(all, longOpts).unsqueeze(0);
    }
    return result;
}

} // namespace engram
