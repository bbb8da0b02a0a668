#include "core/edit/memit.h"

#include "core/edit/editrows.h"

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
#include <chrono>
#include <cmath>

namespace engram {
namespace {

using namespace editrows;

// Seconds since the last lap (or since construction).
class Stopwatch
{
public:
    double lap()
    {
        const auto now = std::chrono::steady_clock::now();
        const double s = std::chrono::duration<double>(now - m_last).count();
        m_last = now;
        return s;
    }

private:
    std::chrono::steady_clock::time_point m_last = std::chrono::steady_clock::now();
};

// What a step of the §3 optimisation reads: δ enters the residual stream after block L at each
// row's subject-last token, so nothing below block L and nothing before that token depends on
// it, and the loss reads logits only at the target tokens, the KL position and the preservation
// prompts' last tokens. The suffix pass computes once, without gradients, each row's block-L
// output from the subject's last token on and the keys/values of the tokens before it in the
// blocks above L; a step then runs blocks L+1.. on the suffix alone, attending to that cached
// prefix, and the head only where the loss reads. The full pass (the earlier path, kept for
// comparison: MemitParams::fullForwardTargets) runs the whole model on every token each step.
struct RowLayout {
    enum Kind { Rewrite, Essence, Preserve };
    std::vector<Row> rows;
    std::vector<Kind> kind;
    std::vector<int64_t> presNumber; // per row: its number among all preservation rows, or -1
    std::vector<int64_t> rowBegin, rowEnd; // per fact
    std::vector<double> presCount; // per fact
    std::vector<std::vector<int64_t>> targets; // per fact: the new object's tokens
    int64_t presTotal = 0;
};

// The suffix pass's constant inputs for every row of a group, computed once.
struct SuffixInputs {
    at::Tensor hidden; // [R, Q, d] block-L output from the subject's last token on (slot 0 = lookup)
    at::Tensor mask; // [R, P + Q] real prefix slots, then real suffix slots
    at::Tensor prefixLength, suffixLength; // [R]
    KvCache prefix; // blocks above L: keys/values of the P prefix slots
    int64_t P = 0, Q = 0;
};

bool suffixPassApplies(const Transformer &model, Site site, int L, const RowLayout &lay)
{
    if (site != Site::BlockOutput && site != Site::MlpOutput)
        return false; // δ must enter the residual stream after block L
    const ModelConfig &c = model.config();
    if (L >= c.numLayers)
        return false;
    std::size_t longest = 0;
    for (const Row &r : lay.rows)
        longest = std::max(longest, r.ids.size());
    // Padded prefix slots sit between real tokens; a sliding window counts slots, not positions.
    if (c.slidingWindow && static_cast<std::size_t>(*c.slidingWindow) < 2 * longest)
        return false;
    return true;
}

SuffixInputs prepareSuffix(const Transformer &model, const RowLayout &lay, const at::Tensor &ids,
    const at::Tensor &mask, int L, Site site, at::Tensor *lookupActivation)
{
    c10::NoGradGuard noGrad;
    const at::Device dev = model.device();
    const int64_t R = static_cast<int64_t>(lay.rows.size());
    SuffixInputs s;
    std::vector<int64_t> pre(R), suf(R);
    for (int64_t r = 0; r < R; ++r) {
        pre[r] = lay.rows[r].lookup;
        suf[r] = static_cast<int64_t>(lay.rows[r].ids.size()) - pre[r];
        s.P = std::max(s.P, pre[r]);
        s.Q = std::max(s.Q, suf[r]);
    }
    // Blocks 0..L on whole rows: the block-L output, and the value at the lookup for h*.
    Interventions iv;
    at::Tensor siteValue;
    if (site == Site::MlpOutput)
        iv.record(Site::MlpOutput, L, &siteValue);
    ForwardOptions fo;
    fo.interventions = &iv;
    fo.stopAfterLayer = L;
    const at::Tensor hidden = model.forward(ids, mask, fo).hidden; // [R, T, d]
    const auto longOpts = at::TensorOptions().dtype(at::kLong).device(dev);
    const at::Tensor rowIdx = at::arange(R, longOpts);
    const at::Tensor lookup = at::tensor(pre, at::kLong).to(dev);
    *lookupActivation = (site == Site::MlpOutput ? siteValue : hidden).index({rowIdx, lookup});

    std::vector<int64_t> srcRow, srcPos, dstSlot;
    for (int64_t r = 0; r < R; ++r)
        for (int64_t j = 0; j < suf[r]; ++j) {
            srcRow.push_back(r);
            srcPos.push_back(pre[r] + j);
            dstSlot.push_back(j);
        }
    const at::Tensor sr = at::tensor(srcRow, at::kLong).to(dev);
    s.hidden = at::zeros({R, s.Q, hidden.size(2)}, hidden.options())
                   .index_put_({sr, at::tensor(dstSlot, at::kLong).to(dev)},
                       hidden.index({sr, at::tensor(srcPos, at::kLong).to(dev)}));
    s.prefixLength = at::tensor(pre, at::kLong).to(dev);
    s.suffixLength = at::tensor(suf, at::kLong).to(dev);
    const at::Tensor preMask = at::arange(s.P, longOpts).unsqueeze(0) < s.prefixLength.unsqueeze(1);
    const at::Tensor sufMask = at::arange(s.Q, longOpts).unsqueeze(0) < s.suffixLength.unsqueeze(1);
    s.mask = at::cat({preMask, sufMask}, 1).to(at::kLong);
    if (s.P > 0) {
        // The prefix tokens alone, through every block: their keys and values do not see δ.
        ForwardOptions po;
        po.cache = &s.prefix;
        po.computeLogits = false;
        model.forward(ids.narrow(1, 0, s.P), preMask.to(at::kLong), po);
    }
    return s;
}

// The batched §3 optimisation for a group of facts.
void optimizeTargets(const Transformer &model, const Tokenizer &tok, const std::vector<EditRequest> &requests,
    const std::vector<std::size_t> &which, const MemitParams &p, const std::vector<std::string> &contexts, Site site,
    int L, TargetResult &out, ProgressTracker *progress)
{
    const int64_t n = static_cast<int64_t>(which.size());
    const int64_t d = model.config().hiddenSize;
    const int64_t C = static_cast<int64_t>(contexts.size());

    // Per fact: C rewriting rows, 1 KL row, then one row per preservation prompt.
    RowLayout lay;
    lay.rowBegin.resize(n);
    lay.rowEnd.resize(n);
    lay.presCount.assign(n, 0.0);
    lay.targets.resize(n);
    auto addRow = [&](const std::string &tmpl, const std::string &subject, int64_t fact, RowLayout::Kind k) {
        lay.rows.push_back({tok.encode(fillTemplate(tmpl, subject)), locateSubject(tok, tmpl, subject).last, fact});
        lay.kind.push_back(k);
        lay.presNumber.push_back(k == RowLayout::Preserve ? lay.presTotal++ : -1);
    };
    for (int64_t i = 0; i < n; ++i) {
        const EditRequest &r = requests[which[i]];
        lay.rowBegin[i] = static_cast<int64_t>(lay.rows.size());
        lay.targets[i] = tok.encode(withLeadingSpace(r.targetNew));
        const std::vector<int64_t> prefixIds(lay.targets[i].begin(), lay.targets[i].end() - 1);
        const std::string prefixText = tok.decode(prefixIds);
        for (const auto &ctx : contexts)
            addRow(nestTemplate(ctx, r.promptTemplate) + prefixText, r.subject, i, RowLayout::Rewrite);
        addRow("{} is a", r.subject, i, RowLayout::Essence);
        for (const auto &pp : r.preservePrompts) {
            addRow(pp, r.subject, i, RowLayout::Preserve);
            lay.presCount[i] += 1;
        }
        lay.rowEnd[i] = static_cast<int64_t>(lay.rows.size());
    }
    const std::vector<Row> &rows = lay.rows;
    const int64_t R = static_cast<int64_t>(rows.size());
    auto [ids, mask] = padRows(rows, 0, rows.size());
    const at::Device dev = model.device();
    ids = ids.to(dev);
    mask = mask.to(dev);
    const int64_t T = ids.size(1);
    const bool suffixPass = !p.fullForwardTargets && suffixPassApplies(model, site, L, lay);
    out.pass = suffixPass ? "suffix" : "full";

    // Labels: row j with n_j tokens (prompt + target prefix) holds t_1..t_T at positions
    // n_j-T .. n_j-1 (§3.1), so t_1 is predicted at the last prompt token. Full pass: [R, T]
    // aligned to positions; suffix pass: per label its (row, slot), slot = position − lookup.
    at::Tensor labels = suffixPass ? at::Tensor() : at::full({R, T}, -100, at::kLong);
    std::vector<int64_t> lookups(R);
    for (int64_t r = 0; r < R; ++r) {
        lookups[r] = rows[r].lookup;
        if (lay.kind[r] != RowLayout::Rewrite) // the KL and preservation rows have no labels
            continue;
        const auto &t = lay.targets[rows[r].fact];
        const int64_t nj = static_cast<int64_t>(rows[r].ids.size()), Tt = static_cast<int64_t>(t.size());
        if (nj - Tt < rows[r].lookup)
            throw Error(ErrorKind::Runtime, "target optimisation: the subject ends after the prompt");
        if (!suffixPass) // the suffix pass places its labels per selection (scoreAt)
            for (int64_t a = 0; a < Tt; ++a)
                labels[r][nj - Tt + a] = t[a]; // a is 0-based: t[0] is predicted at the last prompt token
    }
    if (labels.defined())
        labels = labels.to(dev);
    const auto longOpts = at::TensorOptions().dtype(at::kLong).device(dev);
    const at::Tensor lookupAll = at::tensor(lookups, at::kLong).to(dev); // [R]
    std::vector<double> targetLen(n);
    for (int64_t i = 0; i < n; ++i)
        targetLen[i] = static_cast<double>(lay.targets[i].size());
    const at::Tensor factTargetLen = at::tensor(targetLen, at::kDouble).to(dev); // [n]
    const at::Tensor factPresCount = at::tensor(lay.presCount, at::kDouble).clamp_min(1.0).to(dev); // [n]
    const at::Tensor rowLength = mask.sum(1); // [R]

    const auto fopts = at::TensorOptions().dtype(at::kFloat).device(dev);
    at::Tensor delta = at::zeros({n, d}, fopts).set_requires_grad(true);
    at::Tensor hStar; // [n, d]
    SuffixInputs suffix;
    if (suffixPass) {
        at::Tensor atLookup; // [R, d]
        suffix = prepareSuffix(model, lay, ids, mask, L, site, &atLookup);
        hStar = atLookup.index_select(0, at::tensor(lay.rowBegin, at::kLong).to(dev)).to(at::kFloat);
    }

    // The rows of the facts still optimising, as a compact batch: a fact that met its stop rule
    // costs nothing afterwards (the reference's serial loop also stops per fact). Indices below
    // are local to the current batch; `facts` maps local fact numbers to global ones.
    struct Selection {
        at::Tensor ids, mask, labels, lookup; // full pass: [rows, T'] / [rows]
        at::Tensor factOfRow; // [rows] local fact of each row
        at::Tensor globalFact; // [a] global fact numbers
        at::Tensor rwIdx, klIdx, bareIdx; // local row indices
        at::Tensor presIdx, presFact, presGlobal,
            presLast; // preservation rows: local row, local fact, number, last token
        at::Tensor rowTargetLen; // [a*C]
        // Suffix pass: the block-L suffix, its mask over prefix + suffix slots, the cached prefix,
        // and the scored (row, slot) pairs: labels first, then the KL rows, then preservation.
        at::Tensor hidden, sufMask, scoreAt, labelIds, labelRow;
        KvCache prefix;
        int64_t labelCount = 0;
    };
    auto select = [&](const std::vector<int64_t> &facts) {
        Selection sel;
        std::vector<int64_t> rowsSel, factLocal, rw, kl, bare, pres, presFact, presGlobal;
        for (int64_t j = 0; j < static_cast<int64_t>(facts.size()); ++j)
            for (int64_t g = lay.rowBegin[facts[j]]; g < lay.rowEnd[facts[j]]; ++g) {
                const int64_t local = static_cast<int64_t>(rowsSel.size());
                rowsSel.push_back(g);
                factLocal.push_back(j);
                if (g == lay.rowBegin[facts[j]])
                    bare.push_back(local);
                if (lay.kind[g] == RowLayout::Rewrite)
                    rw.push_back(local);
                else if (lay.kind[g] == RowLayout::Essence)
                    kl.push_back(local);
                else {
                    pres.push_back(local);
                    presFact.push_back(j);
                    presGlobal.push_back(lay.presNumber[g]);
                }
            }
        const at::Tensor r = at::tensor(rowsSel, at::kLong).to(dev);
        sel.factOfRow = at::tensor(factLocal, at::kLong).to(dev);
        sel.globalFact = at::tensor(facts, at::kLong).to(dev);
        sel.rwIdx = at::tensor(rw, at::kLong).to(dev);
        sel.klIdx = at::tensor(kl, at::kLong).to(dev);
        sel.bareIdx = at::tensor(bare, at::kLong).to(dev);
        sel.presIdx = at::tensor(pres, at::kLong).to(dev);
        sel.presFact = at::tensor(presFact, at::kLong).to(dev);
        sel.presGlobal = at::tensor(presGlobal, at::kLong).to(dev);
        sel.rowTargetLen
            = factTargetLen.index_select(0, sel.globalFact).index_select(0, sel.factOfRow.index_select(0, sel.rwIdx));
        if (!suffixPass) {
            const int64_t width = rowLength.index_select(0, r).max().item<int64_t>(); // trim padding
            sel.ids = ids.index_select(0, r).narrow(1, 0, width);
            sel.mask = mask.index_select(0, r).narrow(1, 0, width);
            sel.labels = labels.index_select(0, r).narrow(1, 0, width);
            sel.lookup = lookupAll.index_select(0, r);
            sel.presLast = rowLength.index_select(0, r).index_select(0, sel.presIdx) - 1;
            return sel;
        }
        // Trim both paddings to the longest selected prefix and suffix.
        int64_t P = 0, Q = 0;
        for (int64_t g : rowsSel) {
            P = std::max(P, rows[g].lookup);
            Q = std::max(Q, static_cast<int64_t>(rows[g].ids.size()) - rows[g].lookup);
        }
        sel.hidden = suffix.hidden.index_select(0, r).narrow(1, 0, Q);
        const at::Tensor m = suffix.mask.index_select(0, r);
        sel.sufMask = at::cat({m.narrow(1, 0, P), m.narrow(1, suffix.P, Q)}, 1);
        if (P > 0) {
            const int layers = model.config().numLayers;
            sel.prefix.keys.assign(layers, at::Tensor());
            sel.prefix.values.assign(layers, at::Tensor());
            for (int l = L + 1; l < layers; ++l) {
                sel.prefix.keys[l] = suffix.prefix.keys[l].index_select(0, r).narrow(2, 0, P);
                sel.prefix.values[l] = suffix.prefix.values[l].index_select(0, r).narrow(2, 0, P);
            }
            sel.prefix.length = P;
        }
        std::vector<int64_t> scoreRow, scoreSlot, labelIds, labelRow;
        for (std::size_t k = 0; k < rw.size(); ++k) {
            const int64_t local = rw[k], g = rowsSel[local];
            const auto &t = lay.targets[rows[g].fact];
            const int64_t nj = static_cast<int64_t>(rows[g].ids.size()), Tt = static_cast<int64_t>(t.size());
            for (int64_t a = 0; a < Tt; ++a) {
                scoreRow.push_back(local);
                scoreSlot.push_back(nj - Tt + a - rows[g].lookup);
                labelIds.push_back(t[a]);
                labelRow.push_back(static_cast<int64_t>(k));
            }
        }
        sel.labelCount = static_cast<int64_t>(labelIds.size());
        for (int64_t local : kl) {
            scoreRow.push_back(local);
            scoreSlot.push_back(0);
        }
        for (int64_t local : pres) {
            const int64_t g = rowsSel[local];
            scoreRow.push_back(local);
            scoreSlot.push_back(static_cast<int64_t>(rows[g].ids.size()) - rows[g].lookup - 1);
        }
        sel.scoreAt = at::stack({at::tensor(scoreRow, at::kLong), at::tensor(scoreSlot, at::kLong)}, 1).to(dev);
        sel.labelIds = at::tensor(labelIds, at::kLong).to(dev);
        sel.labelRow = at::tensor(labelRow, at::kLong).to(dev);
        return sel;
    };

    at::Tensor m = at::zeros({n, d}, fopts), v = at::zeros({n, d}, fopts);
    std::vector<bool> active(n, true);
    std::vector<int> steps(n, 0);
    std::vector<double> lastLoss(n, 0), lastProb(n, 0);
    at::Tensor logP0; // [n, V]
    at::Tensor logP0pres; // [presTotal, V]
    c10::AutoGradMode grad(true);
    std::vector<int64_t> selected;
    Selection sel;
    for (int it = 0; it < p.vSteps; ++it) {
        std::vector<int64_t> facts;
        for (int64_t i = 0; i < n; ++i)
            if (active[i])
                facts.push_back(i);
        if (facts.empty())
            break;
        if (facts != selected) { // the batch shrinks only when facts finish
            sel = select(facts);
            selected = facts;
        }
        const int64_t a = static_cast<int64_t>(facts.size());
        const at::Tensor deltaOfRow = sel.globalFact.index_select(0, sel.factOfRow);
        ForwardOptions fo;
        // Cancel is asked after every block, forward and backward: a step of hundreds of rows
        // may take a second, and a cancel must not wait for it.
        if (progress)
            fo.cancelled = [progress] {
                try {
                    progress->report();
                    return false;
                } catch (const Error &e) {
                    if (e.kind() == ErrorKind::Cancelled)
                        return true;
                    throw;
                }
            };
        at::Tensor rwLogp, logPcur, logPp; // picked label log-probabilities; KL rows; preservation rows
        at::Tensor rowNll; // [a*C]
        if (suffixPass) {
            const int64_t rowsSel = sel.hidden.size(0);
            const at::Tensor slot0 = at::zeros({rowsSel}, longOpts);
            fo.firstLayer = L + 1;
            fo.hiddenIn = sel.hidden.index_put(
                {at::arange(rowsSel, longOpts), slot0}, delta.index_select(0, deltaOfRow).to(sel.hidden.scalar_type()),
                /*accumulate=*/true);
            fo.cache = sel.prefix.length > 0 ? &sel.prefix : nullptr;
            fo.appendToCache = false;
            fo.logitIndex = sel.scoreAt;
            const at::Tensor logp = at::log_softmax(model.forward({}, sel.sufMask, fo).logits, -1); // [N, V]
            const at::Tensor picked
                = logp.narrow(0, 0, sel.labelCount).gather(1, sel.labelIds.unsqueeze(1)).squeeze(1); // [labels]
            const at::Tensor perRow = at::zeros({sel.rwIdx.size(0)}, logp.options())
                                          .index_add(0, sel.labelRow, picked); // [a*C]
            rowNll = -perRow.to(at::kDouble) / sel.rowTargetLen;
            logPcur = logp.narrow(0, sel.labelCount, a);
            logPp = logp.narrow(0, sel.labelCount + a, sel.presIdx.size(0));
        } else {
            const at::Tensor rowIdx = at::arange(sel.ids.size(0), longOpts);
            Interventions iv;
            iv.add(site, L, [&](const at::Tensor &act) {
                if (!hStar.defined()) // first pass: all facts, in order
                    hStar = act.index({sel.bareIdx, sel.lookup.index({sel.bareIdx})}).detach().to(at::kFloat);
                return act.index_put({rowIdx, sel.lookup}, delta.index_select(0, deltaOfRow).to(act.scalar_type()),
                    /*accumulate=*/true);
            });
            fo.interventions = &iv;
            const at::Tensor logp = at::log_softmax(model.forward(sel.ids, sel.mask, fo).logits, -1); // [rows, T', V]
            // NLL per rewriting row, normalised by the target length.
            const at::Tensor rwLabels = sel.labels.index({sel.rwIdx});
            const at::Tensor picked = logp.index({sel.rwIdx}).gather(2, rwLabels.clamp_min(0).unsqueeze(2)).squeeze(2)
                * (rwLabels != -100);
            rowNll = -picked.sum(1).to(at::kDouble) / sel.rowTargetLen;
            logPcur = logp.index({sel.klIdx, sel.lookup.index({sel.klIdx})}); // [a, V]
            if (sel.presIdx.numel() > 0)
                logPp = logp.index({sel.presIdx, sel.presLast}); // [rows, V]
        }
        if (progress) // a cancel between the forward and the backward pass: half a step's wait
            progress->report();
        const at::Tensor nll = rowNll.view({a, C}).mean(1); // [a] (rewriting rows come C per fact, in fact order)
        if (!logP0.defined()) // first pass: every fact, in order
            logP0 = logPcur.detach();
        const at::Tensor logP0sel = logP0.index_select(0, sel.globalFact);
        const at::Tensor kl = p.klFactor * (logPcur.exp() * (logPcur - logP0sel)).sum(1).to(at::kDouble);
        // Preservation: mean KL at the last token of the fact's preservation prompts.
        at::Tensor preserve = at::zeros({a}, at::TensorOptions().dtype(at::kDouble).device(dev));
        if (lay.presTotal > 0 && sel.presIdx.numel() > 0) {
            if (!logP0pres.defined()) // first pass: every preservation row, in order
                logP0pres = logPp.detach();
            const at::Tensor klRows
                = (logPp.exp() * (logPp - logP0pres.index_select(0, sel.presGlobal))).sum(1).to(at::kDouble);
            preserve = preserve.index_add(0, sel.presFact, klRows) * p.preserveFactor
                / factPresCount.index_select(0, sel.globalFact);
        }
        const at::Tensor deltaSel = delta.index_select(0, sel.globalFact);
        const at::Tensor hSel = hStar.index_select(0, sel.globalFact);
        const at::Tensor wd
            = p.vWeightDecay * deltaSel.norm(2, 1).to(at::kDouble) / hSel.norm(2, 1).pow(2).to(at::kDouble);
        const at::Tensor loss = nll + kl + preserve + wd; // [a]
        const auto lossCpu = loss.detach().to(at::kCPU);
        const auto nllCpu = nll.detach().to(at::kCPU);
        std::vector<float> stepMask(n, 0.0f), localMask(a, 0.0f);
        bool any = false;
        int64_t factSteps = 0; // progress counts fact-steps: a fact that stops early adds the steps it skips
        for (int64_t j = 0; j < a; ++j) {
            const int64_t i = facts[j];
            lastLoss[i] = lossCpu[j].item<double>();
            lastProb[i] = std::exp(-nllCpu[j].item<double>());
            steps[i] = it;
            if (lastLoss[i] < p.earlyStopLoss || it == p.vSteps - 1) {
                active[i] = false;
                factSteps += p.vSteps - it;
                continue;
            }
            factSteps += 1;
            stepMask[i] = 1.0f;
            localMask[j] = 1.0f;
            any = true;
        }
        if (progress) // reports, and throws Cancelled when asked: once per step, not once per chunk
            progress->advance(factSteps);
        if (!any)
            break;
        try {
            (loss * at::tensor(localMask, at::kDouble).to(dev)).sum().backward();
        } catch (const Error &) {
            throw; // cancelled from a block's hook (see ForwardOptions::cancelled)
        } catch (const c10::Error &e) {
            // Some LibTorch versions wrap an exception thrown in a hook: a cancel stays a cancel.
            if (progress && std::string(e.what()).find("cancelled during the backward pass") != std::string::npos)
                throw Error(ErrorKind::Cancelled, "target optimisation cancelled during the backward pass");
            throw;
        }
        {
            c10::NoGradGuard noGrad;
            const at::Tensor stepOn = at::tensor(stepMask, at::kFloat).to(dev).unsqueeze(1); // [n, 1]
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
    return generateContextTemplates(model, tokenizer, seed, {{10, 5}});
}

std::vector<std::string> generateContextTemplates(const Transformer &model, const Tokenizer &tokenizer, uint64_t seed,
    const std::vector<std::pair<int, int>> &lengthAndCount)
{
    std::vector<std::string> out = {"{}"};
    const char *seeds[] = {"The", "Therefore", "Because", "I", "You"};
    uint64_t sample = 0;
    for (const auto &[length, count] : lengthAndCount) {
        // count / 5 samples per seed word, as the reference's n_gen // 5.
        for (int s = 0; s < 5; ++s) {
            for (int k = 0; k < count / 5; ++k, ++sample) {
                const auto prompt = tokenizer.encode(seeds[s]);
                GenerationParams g;
                g.greedy = false;
                g.topK = 5;
                g.seed = seed + sample;
                g.maxNewTokens = std::max<int>(1, length - static_cast<int>(prompt.size()));
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
        }
    }
    return out;
}

int targetChunkRows(int requested, const at::Device &device)
{
    if (requested > 0)
        return requested;
    return device.is_cuda() ? 256 : 128;
}

TargetResult computeTargets(const Transformer &model, const Tokenizer &tokenizer,
    const std::vector<EditRequest> &requests, const MemitParams &params,
    const std::vector<std::string> &contextTemplates, ProgressTracker *progress)
{
    if (params.layers.empty())
        throw Error(ErrorKind::InvalidArgument, "MEMIT needs at least one layer");
    return computeTargetsAt(
        model, tokenizer, requests, params, contextTemplates, Site::BlockOutput, params.layers.back(), progress);
}

TargetResult computeTargetsAt(const Transformer &model, const Tokenizer &tokenizer,
    const std::vector<EditRequest> &requests, const MemitParams &params,
    const std::vector<std::string> &contextTemplates, Site site, int layer, ProgressTracker *progress)
{
    checkRequests(requests);
    if (layer < 0 || layer >= model.config().numLayers)
        throw Error(ErrorKind::InvalidArgument, "layer " + std::to_string(layer) + " does not exist");
    const int64_t n = static_cast<int64_t>(requests.size()), d = model.config().hiddenSize;
    TargetResult out;
    out.z = at::zeros({n, d}, at::kFloat);
    out.hStar = at::zeros({n, d}, at::kFloat);
    out.steps.assign(n, 0);
    out.finalLoss.assign(n, 0);
    out.targetProb.assign(n, 0);
    // `progress` counts fact-steps (n × vSteps in all), so a chunk of hundreds of facts still
    // reports and can be cancelled at every optimisation step.
    if (params.batchedTargets) {
        std::vector<std::size_t> all(n);
        for (int64_t i = 0; i < n; ++i)
            all[i] = static_cast<std::size_t>(i);
        // Chunks of about targetChunkRows rows bound a step's memory.
        out.strategy = "batched";
        out.chunkRows = targetChunkRows(params.targetChunkRows, model.device());
        const std::size_t chunkRows = static_cast<std::size_t>(out.chunkRows);
        for (std::size_t b0 = 0, b1 = 0; b0 < all.size(); b0 = b1) {
            std::size_t rowsInChunk = 0;
            for (b1 = b0; b1 < all.size() && (b1 == b0 || rowsInChunk < chunkRows); ++b1)
                rowsInChunk += contextTemplates.size() + 1 + requests[b1].preservePrompts.size();
            optimizeTargets(model, tokenizer, requests, std::vector<std::size_t>(all.begin() + b0, all.begin() + b1),
                params, contextTemplates, site, layer, out, progress);
        }
    } else {
        out.strategy = "serial";
        for (int64_t i = 0; i < n; ++i)
            optimizeTargets(model, tokenizer, requests, {static_cast<std::size_t>(i)}, params, contextTemplates, site,
                layer, out, progress);
    }
    return out;
}

at::Tensor solveMemitUpdate(const at::Tensor &residual, const at::Tensor &keys, const at::Tensor &covariance,
    double lambda, const at::Tensor &protectedKeys, double protectWeight, const at::Tensor &earlier)
{
    const at::Tensor K = keys.to(at::kDouble), R = residual.to(at::kDouble);
    at::Tensor A = lambda * covariance.to(at::kDouble) + at::matmul(K, K.t()); // [d_k, d_k], SPD for λ > 0
    if (protectedKeys.defined() && protectedKeys.numel() > 0) {
        const at::Tensor P = protectedKeys.to(at::kDouble);
        A = A + protectWeight * at::matmul(P, P.t());
    }
    if (earlier.defined())
        A = A + earlier.to(at::kDouble);
    const at::Tensor solved = at::linalg_solve(A, K); // A⁻¹K, [d_k, n]
    return at::matmul(R, solved.t()); // [d, d_k]
}

NullSpace nullSpaceProjection(const at::Tensor &covariance, double threshold)
{
    const at::Tensor C = covariance.to(at::kDouble).to(at::kCPU);
    if (C.dim() != 2 || C.size(0) != C.size(1))
        throw Error(ErrorKind::ShapeMismatch, "the null space needs a square second-moment matrix");
    // C is symmetric positive semi-definite: its singular value decomposition (the reference's
    // choice) and its eigendecomposition agree; eigh is the cheaper of the two.
    const auto [values, vectors] = at::linalg_eigh(0.5 * (C + C.t()));
    const at::Tensor keep = (values < threshold).nonzero().view({-1});
    NullSpace out;
    out.dimension = keep.size(0);
    const at::Tensor U0 = vectors.index_select(1, keep); // [d_k, dimension]
    out.projection = at::matmul(U0, U0.t());
    return out;
}

at::Tensor solveAlphaEditUpdate(const at::Tensor &residual, const at::Tensor &keys, const at::Tensor &projection,
    double alpha, const at::Tensor &earlier)
{
    const at::Tensor K = keys.to(at::kDouble), R = residual.to(at::kDouble), P = projection.to(at::kDouble);
    at::Tensor memories = at::matmul(K, K.t()); // [d_k, d_k]
    if (earlier.defined())
        memories = memories + earlier.to(at::kDouble);
    const at::Tensor A = at::matmul(P, memories) + alpha * at::eye(K.size(0), K.options());
    const at::Tensor X = at::linalg_solve(A, at::matmul(P, at::matmul(K, R.t()))); // [d_k, d]
    return X.t(); // [d, d_k]
}

at::Tensor earlierKeysProduct(const std::vector<LayerKeys> &keys, int layer, int64_t dim)
{
    at::Tensor sum;
    for (const LayerKeys &k : keys) {
        if (k.layer != layer)
            continue;
        if (k.dim != dim || static_cast<int64_t>(k.values.size()) != k.count * k.dim)
            throw Error(ErrorKind::InvalidArgument,
                "the keys of an earlier run at layer " + std::to_string(layer) + " have " + std::to_string(k.dim)
                    + " dimensions (" + std::to_string(k.values.size()) + " values); the layer's keys have "
                    + std::to_string(dim));
        if (k.count == 0)
            continue;
        const at::Tensor K = at::from_blob(const_cast<float *>(k.values.data()), {k.count, k.dim}, at::kFloat)
                                 .to(at::kDouble); // a copy: from_blob's view never outlives this line
        const at::Tensor product = at::matmul(K.t(), K);
        sum = sum.defined() ? sum + product : product;
    }
    return sum;
}

MemitResult applyMemit(Transformer &model, const Tokenizer &tokenizer, const std::vector<EditRequest> &requests,
    const MemitParams &params, const std::vector<SecondMoment> &stats, const ProgressSink &progress)
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
    Stopwatch watch;
    result.contextTemplates = params.contextTemplates.empty() ? generateContextTemplates(model, tokenizer, params.seed)
                                                              : params.contextTemplates;
    result.seconds.templates = watch.lap();
    const auto &contexts = result.contextTemplates;
    ProgressTracker tracker(progress,
        "optimising targets (" + std::to_string(requests.size()) + " facts \u00d7 " + std::to_string(params.vSteps)
            + " steps)",
        static_cast<int64_t>(requests.size()) * std::max(1, params.vSteps));
    tracker.report();
    result.targets = computeTargets(model, tokenizer, requests, params, contexts, &tracker);
    result.seconds.targets = watch.lap();
    tracker.stage("writing layers", static_cast<int64_t>(params.layers.size()));

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
    std::vector<Row> protectRows; // bare prompts of the facts to keep
    for (const KeyPrompt &kp : params.protectWeight > 0 ? params.protect : std::vector<KeyPrompt> {})
        protectRows.push_back({tokenizer.encode(fillTemplate(kp.promptTemplate, kp.subject)),
            locateSubject(tokenizer, kp.promptTemplate, kp.subject).last, 0});
    const at::Tensor Z = result.targets.z.to(at::kDouble); // [n, d]

    auto currentZ = [&] {
        return readAtLookups(model, bareRows, {{Site::BlockOutput, L}})[0].to(at::kDouble).to(at::kCPU);
    };
    // ½ bare prompt + ½ mean of the prefixed prompts (the reference's group averaging): [n, d_k].
    auto groupKeys = [&](const at::Tensor &read) {
        const at::Tensor k = read.to(at::kDouble).to(at::kCPU).view({n, C, -1}); // [n, C, d_k]
        return C > 1 ? 0.5 * k.select(1, 0) + 0.5 * k.narrow(1, 1, C - 1).mean(1) : k.select(1, 0);
    };
    if (params.preserveEarlierRuns) {
        for (const LayerKeys &k : params.earlierKeys)
            if (k.layer == params.layers.front())
                ++result.earlierRuns;
    }
    const int m = static_cast<int>(params.layers.size());
    for (int j = 0; j < m; ++j) {
        const int l = params.layers[j];
        watch.lap();
        const at::Tensor K = groupKeys(readAtLookups(model, keyRows, {{Site::MlpKey, l}})[0]);
        const at::Tensor residual = Z - currentZ(); // [n, d]
        LayerUpdate up;
        up.layer = l;
        up.residualBefore = residual.norm(2, 1).mean().item<double>();
        const at::Tensor R = residual.t() / static_cast<double>(m - j); // [d, n]
        const SecondMoment &s
            = *std::find_if(stats.begin(), stats.end(), [l](const SecondMoment &x) { return x.layer == l; });
        at::Tensor protectedKeys;
        if (!protectRows.empty())
            protectedKeys = readAtLookups(model, protectRows, {{Site::MlpKey, l}})[0].to(at::kDouble).to(at::kCPU).t();
        const at::Tensor earlier = params.preserveEarlierRuns
            ? earlierKeysProduct(params.earlierKeys, l, K.size(1))
            : at::Tensor(); // C_p
        result.seconds.keys += watch.lap();
        at::Tensor dW; // [d, d_k]
        if (params.nullSpace) {
            const NullSpace ns = nullSpaceProjection(s.mean(), params.nullSpaceThreshold);
            result.nullSpaceDims.push_back(ns.dimension);
            // Kept facts' keys join the earlier runs' as memories (μ K_p K_pᵀ).
            at::Tensor memories = earlier;
            if (protectedKeys.defined() && params.protectWeight > 0) {
                const at::Tensor kept = params.protectWeight * at::matmul(protectedKeys, protectedKeys.t());
                memories = memories.defined() ? memories + kept : kept;
            }
            dW = solveAlphaEditUpdate(R, K.t(), ns.projection, params.nullSpaceAlpha, memories);
        } else {
            dW = solveMemitUpdate(R, K.t(), s.mean(), params.lambda, protectedKeys, params.protectWeight, earlier);
        }
        result.seconds.solve += watch.lap();
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
        result.seconds.write += watch.lap();
        tracker.advance();
    }
    watch.lap();
    result.residualAfter = (Z - currentZ()).norm(2, 1).mean().item<double>();
    // This run's keys on the edited model, every layer in one pass: a later run keeps them.
    std::vector<std::pair<Site, int>> sites;
    for (int l : params.layers)
        sites.emplace_back(Site::MlpKey, l);
    const std::vector<at::Tensor> after = readAtLookups(model, keyRows, sites);
    for (int j = 0; j < m; ++j) {
        const at::Tensor K = groupKeys(after[j]).to(at::kFloat).contiguous(); // [n, d_k]
        LayerKeys keys;
        keys.layer = params.layers[j];
        keys.count = K.size(0);
        keys.dim = K.size(1);
        keys.values.assign(K.data_ptr<float>(), K.data_ptr<float>() + K.numel());
        result.keysAfter.push_back(std::move(keys));
    }
    result.seconds.keysAfter = watch.lap();
    return result;
}

} // namespace engram
