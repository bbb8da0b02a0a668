#include "core/edit/editrows.h"

#include "core/model/transformer.h"
#include "core/text/subjecttokens.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>

namespace engram::editrows {

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
        for (const auto &pp : r.preservePrompts)
            fillTemplate(pp, r.subject);
    }
}

at::Tensor mlpOutputMatrix(const Transformer &model, int layer)
{
    const at::Tensor W = model.parameter(model.mlpOutputWeightName(layer)).to(at::kCPU).to(at::kDouble);
    return model.mlpOutputIsConv1D() ? W.t() : W;
}

at::Tensor addToMlpOutput(Transformer &model, int layer, const at::Tensor &mathDelta)
{
    const std::string name = model.mlpOutputWeightName(layer);
    const at::Tensor W = model.parameter(name);
    const at::Tensor stored = (model.mlpOutputIsConv1D() ? mathDelta.t() : mathDelta).to(at::kFloat).contiguous();
    if (stored.sizes() != W.sizes())
        throw Error(ErrorKind::ShapeMismatch, "update for " + name + " does not fit the weight's shape");
    model.setParameter(name, W.to(at::kCPU).to(at::kFloat) + stored);
    return stored;
}

} // namespace engram::editrows
