#include "core/edit/memit.h"

#include "core/model/batching.h"
#include "core/model/generator.h"
#include "core/model/interventions.h"
#include "core/model/transformer.h"
#include "core/text/subjecttokens.h"
#include "core/text/tokenizer.h"
#include "core/text/utf8.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>

namespace engram {
namespace {

constexpr int64_t kRowsPerBatch = 256;

std::string withLeadingSpace(const std::string &s)
{
    return (!s.empty() && s[0] == ' ') ? s : " " + s;
}

// "{}" in a context template replaced by the (still unfilled) prompt template.
std::string nestTemplate(const std::string &context, const std::string &promptTemplate)
{
    const auto at = context.find("{}");
    return context.substr(0, at) + promptTemplate + context.substr(at + 2);
}

struct Row {
    std::vector<int64_t> ids;
    int64_t lookup = 0; // subject-last index
    int64_t fact = 0;
};

PaddedBatch padRows(const std::vector<Row> &rows, std::size_t begin, std::size_t end)
{
    std::vector<const std::vector<int64_t> *> seqs;
    for (std::size_t r = begin; r < end; ++r)
        seqs.push_back(&rows[r].ids);
    return padRight(seqs);
}

// Reads `site` of `layer` at each row's lookup position, in row batches: returns [rows, width].
std::vector<at::Tensor> readAtLookups(
    const Transformer &model, const std::vector<Row> &rows, const std::vector<std::pair<Site, int>> &sites)
{
    c10::NoGradGuard noGrad;
    std::vector<std::vector<at::Tensor>> parts(sites.size());
    int last = 0;
    for (const auto &s : sites)
        last = std::max(last, s.second);
    for (std::size_t b0 = 0; b0 < rows.size(); b0 += kRowsPerBatch) {
        const std::size_t b1 = std::min(rows.size(), b0 + kRowsPerBatch);
        auto [ids, mask] = padRows(rows, b0, b1);
        std::vector<TokenPosition> at;
        for (std::size_t r = b0; r < b1; ++r)
            at.push_back({static_cast<int64_t>(r - b0), rows[r].lookup});
        std::vector<at::Tensor> out(sites.size());
        Interventions iv;
        for (std::size_t s = 0; s < sites.size(); ++s)
            iv.recordAt(sites[s].first, sites[s].second, at, &out[s]);
        ForwardOptions fo;
        fo.interventions = &iv;
        fo.stopAfterLayer = last;
        model.forward(ids, mask, fo);
        for (std::size_t s = 0; s < sites.size(); ++s)
            parts[s].push_back(out[s].to(at::kFloat));
    }
    std::vector<at::Tensor> result;
    for (auto &p : parts)
        result.push_back(at::cat(p, 0));
    return result;
}

void checkRequests(const std::vector<EditRequest> &requests)
{
    if (requests.empty())
        throw Error(ErrorKind::InvalidArgument, "no edit requests");
    for (const auto &r : requests) {
        if (r.targetNew.find_first_not_of(' ') == std::string::npos)
            throw Error(ErrorKind::InvalidArgument, "edit of \"" + r.subject + "\" has an empty target");
        fillTemplate(r.promptTemplate, r.subject); // throws for a template without exactly one {}
    }
}

// The batched §3 optimisation for a group of facts.
void optimizeTargets(const Transformer &model, const Tokenizer &tok, const std::vector<EditRequest> &requests,
    const std::vector<std::size_t> &which, const MemitParams &p, const std::vector<std::string> &contexts,
    TargetResult &out)
{
    const int L = p.layers.back();
    const int64_t n = static_cast<int64_t>(which.size());
    const int64_t d = model.config().hiddenSize;
    const int64_t C = static_cast<int64_t>(contexts.size());

    std::vector<Row> rows; // per fact: C rewriting rows, then 1 KL row
    std::vector<std::vector<int64_t>> targets(n);
    for (int64_t i = 0; i < n; ++i) {
        const EditRequest &r = requests[which[i]];
        targets[i] = tok.encode(withLeadingSpace(r.targetNew));
        const std::vector<int64_t> prefixIds(targets[i].begin(), targets[i].end() - 1);
        const std::string prefixText = tok.decode(prefixIds);
        for (const auto &ctx : contexts) {
            const std::string tmpl = nestTemplate(ctx, r.promptTemplate) + prefixText;
            rows.push_back({tok.encode(fillTemplate(tmpl, r.subject)), locateSubject(tok, tmpl, r.subject).last, i});
        }
        rows.push_back(
            {tok.encode(fillTemplate("{} is a", r.subject)), locateSubject(tok, "{} is a", r.subject).last, i});
    }
    const int64_t R = static_cast<int64_t>(rows.size());
    auto [ids, mask] = padRows(rows, 0, rows.size());
    const at::Device dev = model.device();
    ids = ids.to(dev);
    mask = mask.to(dev);
    const int64_t T = ids.size(1);

    // Labels aligned to the predicting positions: row j with n_j tokens (prompt + target prefix)
    // holds t_1..t_T at positions n_j-T .. n_j-1 (§3.1), so t_1 is predicted at the last prompt token.
    at::Tensor labels = at::full({R, T}, -100, at::kLong);
    std::vector<int64_t> rowFact(R), klRows, rewriteRows, lookups(R), bareRows;
    for (int64_t r = 0; r < R; ++r) {
        rowFact[r] = rows[r].fact;
        lookups[r] = rows[r].lookup;
        const bool kl = (r % (C + 1)) == C;
        if (kl) {
            klRows.push_back(r);
            continue;
        }
        rewriteRows.push_back(r);
        if (r % (C + 1) == 0)
            bareRows.push_back(r);
        const auto &t = targets[rows[r].fact];
        const int64_t nj = static_cast<int64_t>(rows[r].ids.size()), Tt = static_cast<int64_t>(t.size());
        for (int64_t a = 0; a < Tt; ++a)
            labels[r][nj - Tt + a] = t[a]; // a is 0-based: t[0] is predicted at the last prompt token
    }
    labels = labels.to(dev);
    const auto longOpts = at::TensorOptions().dtype(at::kLong).device(dev);
    const at::Tensor rowIdx = at::arange(R, longOpts), lookupIdx = at::tensor(lookups, at::kLong).to(dev);
    const at::Tensor factOfRow = at::tensor(rowFact, at::kLong).to(dev);
    const at::Tensor klIdx = at::tensor(klRows, at::kLong).to(dev), rwIdx = at::tensor(rewriteRows, at::kLong).to(dev);
    std::vector<double> targetLen(n);
    for (int64_t i = 0; i < n; ++i)
        targetLen[i] = static_cast<double>(targets[i].size());
    const at::Tensor rowTargetLen
        = at::tensor(targetLen, at::kDouble).to(dev).index_select(0, factOfRow.index({rwIdx}));

    const auto fopts = at::TensorOptions().dtype(at::kFloat).device(dev);
    at::Tensor delta = at::zeros({n, d}, fopts).set_requires_grad(true);
    at::Tensor hStar; // [n, d]
    Interventions iv;
    const at::Tensor bareIdx = at::tensor(bareRows, at::kLong).to(dev);
    iv.add(Site::BlockOutput, L, [&](const at::Tensor &act) {
        if (!hStar.defined())
            hStar = act.index({bareIdx, lookupIdx.index({bareIdx})}).detach().to(at::kFloat);
        return act.index_put({rowIdx, lookupIdx}, delta.index_select(0, factOfRow).to(act.scalar_type()),
            /*accumulate=*/true);
    });
    ForwardOptions fo;
    fo.interventions = &iv;

    at::Tensor m = at::zeros({n, d}, fopts), v = at::zeros({n, d}, fopts);
    std::vector<bool> active(n, true);
    std::vector<int> steps(n, 0);
    std::vector<double> lastLoss(n, 0), lastProb(n, 0);
    at::Tensor logP0; // [n, V]
    c10::AutoGradMode grad(true);
    for (int it = 0; it < p.vSteps; ++it) {
        const at::Tensor logits = model.forward(ids, mask, fo).logits; // [R, T, V]
        const at::Tensor logp = at::log_softmax(logits, -1);
        // NLL per rewriting row, normalised by the target length; mean over the fact's rows.
        const at::Tensor rwLabels = labels.index({rwIdx});
        const at::Tensor picked
            = logp.index({rwIdx}).gather(2, rwLabels.clamp_min(0).unsqueeze(2)).squeeze(2) * (rwLabels != -100);
        const at::Tensor rowNll = -picked.sum(1).to(at::kDouble) / rowTargetLen; // [n*C]
        const at::Tensor nll = rowNll.view({n, C}).mean(1); // [n]
        const at::Tensor logPcur = logp.index({klIdx, lookupIdx.index({klIdx})}); // [n, V]
        if (!logP0.defined())
            logP0 = logPcur.detach();
        const at::Tensor kl = p.klFactor * (logPcur.exp() * (logPcur - logP0)).sum(1).to(at::kDouble);
        const at::Tensor wd
            = p.vWeightDecay * delta.norm(2, 1).to(at::kDouble) / hStar.norm(2, 1).pow(2).to(at::kDouble);
        const at::Tensor loss = nll + kl + wd; // [n]
        const auto lossCpu = loss.detach().to(at::kCPU);
        const auto nllCpu = nll.detach().to(at::kCPU);
        std::vector<float> stepMask(n, 0.0f);
        bool any = false;
        for (int64_t i = 0; i < n; ++i) {
            if (!active[i])
                continue;
            lastLoss[i] = lossCpu[i].item<double>();
            lastProb[i] = std::exp(-nllCpu[i].item<double>());
            steps[i] = it;
            if (lastLoss[i] < p.earlyStopLoss || it == p.vSteps - 1) {
                active[i] = false;
                continue;
            }
            stepMask[i] = 1.0f;
            any = true;
        }
        if (!any)
            break;
        const at::Tensor stepOn = at::tensor(stepMask, at::kFloat).to(dev).unsqueeze(1); // [n, 1]
        (loss * stepOn.squeeze(1).to(at::kDouble)).sum().backward();
        {
            c10::NoGradGuard noGrad;
            const at::Tensor g = delta.grad();
            const double t = it + 1; // every fact still active has taken exactly `it` steps before this one
            m = at::where(stepOn > 0, 0.9 * m + 0.1 * g, m);
            v = at::where(stepOn > 0, 0.999 * v + 0.001 * g * g, v);
            const at::Tensor mHat = m / (1 - std::pow(0.9, t)), vHat = v / (1 - std::pow(0.999, t));
            delta.sub_(stepOn * p.vLr * mHat / (vHat.sqrt() + 1e-8));
            const at::Tensor maxNorm = p.clampNormFactor * hStar.norm(2, 1, /*keepdim=*/true);
            const at::Tensor norm = delta.norm(2, 1, /*keepdim=*/true);
            const at::Tensor scale = at::where((norm > maxNorm) & (stepOn > 0), maxNorm / norm, at::ones_like(norm));
            delta.mul_(scale);
            delta.grad().zero_();
        }
    }
    const at::Tensor z = (hStar + delta.detach()).to(at::kCPU);
    for (int64_t i = 0; i < n; ++i) {
        out.z[static_cast<int64_t>(which[i])] = z[i];
        out.hStar[static_cast<int64_t>(which[i])] = hStar[i].to(at::kCPU);
        out.steps[which[i]] = steps[i];
        out.finalLoss[which[i]] = lastLoss[i];
        out.targetProb[which[i]] = lastProb[i];
    }
}

} // namespace

std::vector<std::string> generateContextTemplates(const Transformer &model, const Tokenizer &tokenizer, uint64_t seed)
{
    std::vector<std::string> out = {"{}"};
    const char *seeds[] = {"The", "Therefore", "Because", "I", "You"};
    for (int s = 0; s < 5; ++s) {
        const auto prompt = tokenizer.encode(seeds[s]);
        GenerationParams g;
        g.greedy = false;
        g.topK = 5;
        g.seed = seed + static_cast<uint64_t>(s);
        g.maxNewTokens = std::max<int>(1, 10 - static_cast<int>(prompt.size()));
        auto ids = prompt;
        const auto gen = generate(model, prompt, g).tokens;
        ids.insert(ids.end(), gen.begin(), gen.end());
        std::string text = utf8::normalize(tokenizer.decode(ids), utf8::NormalForm::NFKD);
        for (std::size_t pos; (pos = text.find("\n\n")) != std::string::npos;)
            text.replace(pos, 2, " ");
        for (std::size_t pos; (pos = text.find("<|endoftext|>")) != std::string::npos;)
            text.erase(pos, 13);
        for (char &c : text)
            if (c == '{' || c == '}')
                c = ' ';
        out.push_back(text + ". {}");
    }
    return out;
}

TargetResult computeTargets(const Transformer &model, const Tokenizer &tokenizer,
    const std::vector<EditRequest> &requests, const MemitParams &params,
    const std::vector<std::string> &contextTemplates)
{
    checkRequests(requests);
    if (params.layers.empty())
        throw Error(ErrorKind::InvalidArgument, "MEMIT needs at least one layer");
    const int64_t n = static_cast<int64_t>(requests.size()), d = model.config().hiddenSize;
    TargetResult out;
    out.z = at::zeros({n, d}, at::kFloat);
    out.hStar = at::zeros({n, d}, at::kFloat);
    out.steps.assign(n, 0);
    out.finalLoss.assign(n, 0);
    out.targetProb.assign(n, 0);
    if (params.batchedTargets) {
        std::vector<std::size_t> all(n);
        for (int64_t i = 0; i < n; ++i)
            all[i] = static_cast<std::size_t>(i);
        // Chunks bound the memory of the [rows, tokens, vocab] logits.
        const std::size_t chunk = std::max<std::size_t>(1, 256 / (contextTemplates.size() + 1));
        for (std::size_t b0 = 0; b0 < all.size(); b0 += chunk)
            optimizeTargets(model, tokenizer, requests,
                std::vector<std::size_t>(all.begin() + b0, all.begin() + std::min(all.size(), b0 + chunk)), params,
                contextTemplates, out);
    } else {
        for (int64_t i = 0; i < n; ++i)
            optimizeTargets(model, tokenizer, requests, {static_cast<std::size_t>(i)}, params, contextTemplates, out);
    }
    return out;
}

at::Tensor solveMemitUpdate(
    const at::Tensor &residual, const at::Tensor &keys, const at::Tensor &covariance, double lambda)
{
    const at::Tensor K = keys.to(at::kDouble), R = residual.to(at::kDouble);
    const at::Tensor A = lambda * covariance.to(at::kDouble) + at::matmul(K, K.t()); // [d_k, d_k], SPD for λ > 0
    const at::Tensor solved = at::linalg_solve(A, K); // A⁻¹K, [d_k, n]
    return at::matmul(R, solved.t()); // [d, d_k]
}

MemitResult applyMemit(Transformer &model, const Tokenizer &tokenizer, const std::vector<EditRequest> &requests,
    const MemitParams &params, const std::vector<SecondMoment> &stats)
{
    checkRequests(requests);
    if (params.layers.empty() || !std::is_sorted(params.layers.begin(), params.layers.end()))
        throw Error(ErrorKind::InvalidArgument, "MEMIT layers must be given in ascending order");
    for (int l : params.layers) {
        if (l < 0 || l >= model.config().numLayers)
            throw Error(ErrorKind::InvalidArgument, "layer " + std::to_string(l) + " does not exist");
        if (std::none_of(stats.begin(), stats.end(), [l](const SecondMoment &s) { return s.layer == l; }))
            throw Error(ErrorKind::InvalidArgument, "no covariance statistics for layer " + std::to_string(l));
    }
    MemitResult result;
    result.contextTemplates = params.contextTemplates.empty() ? generateContextTemplates(model, tokenizer, params.seed)
                                                              : params.contextTemplates;
    const auto &contexts = result.contextTemplates;
    result.targets = computeTargets(model, tokenizer, requests, params, contexts);

    const int L = params.layers.back();
    const int64_t n = static_cast<int64_t>(requests.size());
    const int64_t C = static_cast<int64_t>(contexts.size());
    std::vector<Row> keyRows; // per fact: C rows (context templates, no target text)
    for (int64_t i = 0; i < n; ++i)
        for (const auto &ctx : contexts) {
            const std::string tmpl = nestTemplate(ctx, requests[i].promptTemplate);
            keyRows.push_back({tokenizer.encode(fillTemplate(tmpl, requests[i].subject)),
                locateSubject(tokenizer, tmpl, requests[i].subject).last, i});
        }
    std::vector<Row> bareRows;
    for (int64_t i = 0; i < n; ++i)
        bareRows.push_back(keyRows[i * C]);
    const at::Tensor Z = result.targets.z.to(at::kDouble); // [n, d]

    auto currentZ = [&] {
        return readAtLookups(model, bareRows, {{Site::BlockOutput, L}})[0].to(at::kDouble).to(at::kCPU);
    };
    const int m = static_cast<int>(params.layers.size());
    for (int j = 0; j < m; ++j) {
        const int l = params.layers[j];
        const at::Tensor k = readAtLookups(model, keyRows, {{Site::MlpKey, l}})[0]
                                 .to(at::kDouble)
                                 .to(at::kCPU)
                                 .view({n, C, -1}); // [n, C, d_k]
        // ½ bare prompt + ½ mean of the prefixed prompts (the reference's group averaging).
        const at::Tensor K = C > 1 ? 0.5 * k.select(1, 0) + 0.5 * k.narrow(1, 1, C - 1).mean(1) : k.select(1, 0);
        const at::Tensor residual = Z - currentZ(); // [n, d]
        LayerUpdate up;
        up.layer = l;
        up.residualBefore = residual.norm(2, 1).mean().item<double>();
        const at::Tensor R = residual.t() / static_cast<double>(m - j); // [d, n]
        const SecondMoment &s
            = *std::find_if(stats.begin(), stats.end(), [l](const SecondMoment &x) { return x.layer == l; });
        const at::Tensor dW = solveMemitUpdate(R, K.t(), s.mean(), params.lambda); // [d, d_k]
        up.weightName = model.mlpOutputWeightName(l);
        const at::Tensor W = model.parameter(up.weightName);
        at::Tensor stored;
        if (W.sizes() == dW.sizes())
            stored = dW;
        else if (W.sizes() == dW.t().sizes())
            stored = dW.t();
        else
            throw Error(ErrorKind::ShapeMismatch, "update for " + up.weightName + " does not fit the weight's shape");
        up.delta = stored.to(at::kFloat).contiguous();
        up.relativeNorm = up.delta.norm().item<double>() / W.to(at::kFloat).norm().item<double>();
        model.setParameter(up.weightName, W.to(at::kCPU).to(at::kFloat) + up.delta);
        result.updates.push_back(std::move(up));
    }
    result.residualAfter = (Z - currentZ()).norm(2, 1).mean().item<double>();
    return result;
}

} // namespace engram
