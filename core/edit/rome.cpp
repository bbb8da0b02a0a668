#include "core/edit/rome.h"

#include "core/edit/editrows.h"
#include "core/model/transformer.h"
#include "core/text/subjecttokens.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>

namespace engram {

using namespace editrows;

RomeResult applyRome(Transformer &model, const Tokenizer &tokenizer, const std::vector<EditRequest> &requests,
    const RomeParams &p, const std::vector<SecondMoment> &stats, const ProgressSink &progress)
{
    checkRequests(requests);
    const int l = p.layer;
    if (l < 0 || l >= model.config().numLayers)
        throw Error(ErrorKind::InvalidArgument, "layer " + std::to_string(l) + " does not exist");
    const auto stat = std::find_if(stats.begin(), stats.end(), [l](const SecondMoment &s) { return s.layer == l; });
    if (stat == stats.end())
        throw Error(ErrorKind::InvalidArgument, "no covariance statistics for layer " + std::to_string(l));

    RomeResult result;
    result.contextTemplates = p.contextTemplates.empty()
        ? generateContextTemplates(model, tokenizer, p.seed, {{5, 10}, {10, 10}})
        : p.contextTemplates;
    const auto &contexts = result.contextTemplates;
    const at::Tensor C = stat->mean(); // [d_k, d_k] float64
    const at::Tensor W0 = model.parameter(model.mlpOutputWeightName(l)).to(at::kCPU).to(at::kFloat).clone();

    MemitParams vp; // the §3 loop with ROME's settings
    vp.vSteps = p.vSteps;
    vp.vLr = p.vLr;
    vp.clampNormFactor = p.clampNormFactor;
    vp.klFactor = p.klFactor;
    vp.vWeightDecay = p.vWeightDecay;
    vp.earlyStopLoss = p.earlyStopLoss;
    vp.preserveFactor = p.preserveFactor;

    ProgressTracker tracker(progress, "ROME edits", static_cast<int64_t>(requests.size()));
    tracker.report();
    for (const EditRequest &r : requests) {
        std::vector<Row> rows;
        for (const auto &ctx : contexts) {
            const std::string tmpl = nestTemplate(ctx, r.promptTemplate);
            rows.push_back(
                {tokenizer.encode(fillTemplate(tmpl, r.subject)), locateSubject(tokenizer, tmpl, r.subject).last, 0});
        }
        const auto read = readAtLookups(model, rows, {{Site::MlpKey, l}, {Site::MlpOutput, l}});
        const at::Tensor keys = read[0].to(at::kCPU).to(at::kDouble); // [C, d_k]
        const at::Tensor kBar = keys.mean(0); // uniform weights over the templates (§5 step 1)
        const at::Tensor k0 = keys[0]; // contexts[0] is "{}": the bare prompt
        const at::Tensor m0 = read[1].to(at::kCPU).to(at::kDouble)[0];

        const TargetResult t = computeTargetsAt(model, tokenizer, {r}, vp, contexts, Site::MlpOutput, l);
        const at::Tensor vStar = t.z[0].to(at::kDouble);

        const at::Tensor u = at::linalg_solve(C, kBar.unsqueeze(1)).squeeze(1); // C⁻¹ k̄
        at::Tensor key = k0, value = m0;
        if (p.consistentKey) {
            key = kBar;
            value = m0 + at::matmul(mlpOutputMatrix(model, l), kBar - k0); // MLP output for k̄
        }
        const double denom = at::dot(key, u).item<double>();
        if (!(std::abs(denom) > 0))
            throw Error(
                ErrorKind::Runtime, "ROME: the key of \"" + r.subject + "\" is orthogonal to C⁻¹k̄; cannot edit");
        const at::Tensor dW = at::outer(vStar - value, u) / denom; // [d, d_k]
        addToMlpOutput(model, l, dW);

        RomeStep step;
        step.key = key.to(at::kFloat);
        step.valueBefore = value.to(at::kFloat);
        step.target = vStar.to(at::kFloat);
        step.targetProbability = t.targetProb[0];
        result.steps.push_back(std::move(step));
        tracker.advance();
    }
    LayerUpdate &up = result.update;
    up.layer = l;
    up.weightName = model.mlpOutputWeightName(l);
    up.delta = (model.parameter(up.weightName).to(at::kCPU).to(at::kFloat) - W0).contiguous();
    up.relativeNorm = up.delta.norm().item<double>() / W0.norm().item<double>();
    return result;
}

} // namespace engram
