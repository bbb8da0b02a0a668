#include "core/eval/probe.h"

#include "core/model/transformer.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>

namespace engram {
namespace {

void checkParams(const ProbeParams &p)
{
    if (p.topK < 1 || p.topK > 100)
        throw Error(ErrorKind::InvalidArgument, "probe: top-k must be 1..100, not " + std::to_string(p.topK));
    if (p.continuationTokens < 0 || p.continuationTokens > 256)
        throw Error(ErrorKind::InvalidArgument,
            "probe: continuation tokens must be 0..256, not " + std::to_string(p.continuationTokens));
    if (p.batchSize < 1)
        throw Error(ErrorKind::InvalidArgument, "probe: batch size must be positive");
}

// One batch: left padding puts every row's last prompt token in the last column, so each
// step's logits for all rows sit at one position and the new tokens form one column.
void probeBatch(const Transformer &model, const std::vector<std::vector<int64_t>> &rows, const ProbeParams &params,
    std::optional<int64_t> eos, const std::function<bool()> &cancelled, ProbeAnswer *out)
{
    const int64_t n = static_cast<int64_t>(rows.size());
    std::size_t longest = 0;
    for (const auto &r : rows)
        longest = std::max(longest, r.size());
    const int64_t width = static_cast<int64_t>(longest);
    if (model.config().positions == PositionScheme::Learned
        && width + params.continuationTokens > model.config().maxPositions)
        throw Error(ErrorKind::InvalidArgument,
            "probe: a prompt of " + std::to_string(width) + " tokens plus " + std::to_string(params.continuationTokens)
                + " continuation tokens exceeds the model's context of " + std::to_string(model.config().maxPositions));

    const auto longOpts = at::TensorOptions().dtype(at::kLong);
    at::Tensor ids = at::zeros({n, width}, longOpts);
    at::Tensor mask = at::zeros({n, width}, longOpts);
    auto idsA = ids.accessor<int64_t, 2>();
    auto maskA = mask.accessor<int64_t, 2>();
    for (int64_t i = 0; i < n; ++i) {
        const auto &r = rows[static_cast<std::size_t>(i)];
        const int64_t pad = width - static_cast<int64_t>(r.size());
        for (std::size_t t = 0; t < r.size(); ++t) {
            idsA[i][pad + static_cast<int64_t>(t)] = r[t];
            maskA[i][pad + static_cast<int64_t>(t)] = 1;
        }
    }

    KvCache cache;
    ForwardOptions fo;
    fo.cache = &cache;
    std::vector<bool> finished(static_cast<std::size_t>(n), false);
    at::Tensor input = ids;
    at::Tensor fullMask = mask;
    const int steps = std::max(1, params.continuationTokens);
    for (int step = 0; step < steps; ++step) {
        fo.logitPositions = at::full({n}, input.size(1) - 1, longOpts);
        const at::Tensor logits = model.forward(input, fullMask, fo).logits.select(1, 0).to(at::kCPU, at::kFloat);
        if (cancelled && cancelled())
            throw Error(ErrorKind::Cancelled, "probe cancelled");
        if (step == 0) {
            const at::Tensor probs = at::softmax(logits, -1);
            const auto [values, indices] = probs.topk(std::min<int64_t>(params.topK, probs.size(1)), -1);
            auto vA = values.accessor<float, 2>();
            auto iA = indices.accessor<int64_t, 2>();
            for (int64_t i = 0; i < n; ++i)
                for (int64_t k = 0; k < values.size(1); ++k)
                    out[i].top.push_back({iA[i][k], {}, static_cast<double>(vA[i][k])});
        }
        if (params.continuationTokens == 0)
            break;
        const at::Tensor next = logits.argmax(-1); // [n]
        auto nA = next.accessor<int64_t, 1>();
        bool all = true;
        for (int64_t i = 0; i < n; ++i) {
            if (finished[static_cast<std::size_t>(i)])
                continue;
            if (eos && nA[i] == *eos)
                finished[static_cast<std::size_t>(i)] = true;
            else
                out[i].continuationTokens.push_back(nA[i]);
            all = all && finished[static_cast<std::size_t>(i)];
        }
        if (all)
            break;
        input = next.unsqueeze(1);
        fullMask = at::cat({fullMask, at::ones({n, 1}, longOpts)}, 1);
    }
}

} // namespace

std::vector<ProbeAnswer> probeTokenRows(const Transformer &model, const std::vector<std::vector<int64_t>> &rows,
    const ProbeParams &params, std::optional<int64_t> eos, const std::function<bool()> &cancelled)
{
    checkParams(params);
    for (std::size_t i = 0; i < rows.size(); ++i)
        if (rows[i].empty())
            throw Error(ErrorKind::InvalidArgument, "probe: prompt " + std::to_string(i + 1) + " has no tokens");
    c10::NoGradGuard noGrad;
    std::vector<ProbeAnswer> answers(rows.size());
    const std::size_t batch = static_cast<std::size_t>(params.batchSize);
    for (std::size_t b0 = 0; b0 < rows.size(); b0 += batch) {
        const std::size_t b1 = std::min(rows.size(), b0 + batch);
        const std::vector<std::vector<int64_t>> part(
            rows.begin() + static_cast<std::ptrdiff_t>(b0), rows.begin() + static_cast<std::ptrdiff_t>(b1));
        probeBatch(model, part, params, eos, cancelled, answers.data() + b0);
    }
    return answers;
}

std::vector<ProbeAnswer> probePrompts(const Transformer &model, const Tokenizer &tokenizer,
    const std::vector<std::string> &prompts, const ProbeParams &params, const std::function<bool()> &cancelled)
{
    std::vector<std::vector<int64_t>> rows;
    rows.reserve(prompts.size());
    for (const auto &p : prompts)
        rows.push_back(tokenizer.encode(p, /*addSpecialTokens=*/true));
    auto answers = probeTokenRows(model, rows, params, tokenizer.eosTokenId(), cancelled);
    for (std::size_t i = 0; i < answers.size(); ++i) {
        for (auto &c : answers[i].top)
            c.text = tokenizer.decodeAfter(rows[i], {c.token});
        answers[i].continuation = tokenizer.decodeAfter(rows[i], answers[i].continuationTokens);
    }
    return answers;
}

std::string answerPhrase(const ProbeAnswer &answer, int maxWords)
{
    std::string phrase;
    int words = 0;
    bool inWord = false;
    for (const char c : answer.continuation) {
        if (c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?' || c == '\n' || c == '"' || c == '(')
            break;
        const bool space = c == ' ' || c == '\t' || c == '\r';
        if (!space && !inWord && ++words > maxWords)
            break;
        inWord = !space;
        phrase += c;
    }
    const auto first = phrase.find_first_not_of(" \t\r");
    if (first == std::string::npos)
        return {};
    const auto last = phrase.find_last_not_of(" \t\r");
    return phrase.substr(first, last - first + 1);
}

bool answersDiffer(const ProbeAnswer &a, const ProbeAnswer &b)
{
    const bool topDiffers = a.top.empty() != b.top.empty() || (!a.top.empty() && a.top[0].token != b.top[0].token);
    return topDiffers || a.continuationTokens != b.continuationTokens;
}

} // namespace engram
