#include "core/model/interventions.h"

#include "core/util/error.h"

#include <ATen/ATen.h>

namespace engram {
namespace {

std::pair<at::Tensor, at::Tensor> indexTensors(const std::vector<TokenPosition> &positions, const at::Device &device)
{
    std::vector<int64_t> rows, cols;
    rows.reserve(positions.size());
    cols.reserve(positions.size());
    for (const auto &p : positions) {
        rows.push_back(p.row);
        cols.push_back(p.position);
    }
    const auto opts = at::TensorOptions().dtype(at::kLong);
    return {at::tensor(rows, opts).to(device), at::tensor(cols, opts).to(device)};
}

void checkPositions(const at::Tensor &act, const std::vector<TokenPosition> &positions, Site site, int layer)
{
    for (const auto &p : positions)
        if (p.row < 0 || p.row >= act.size(0) || p.position < 0 || p.position >= act.size(1))
            throw Error(ErrorKind::InvalidArgument,
                std::string("intervention at ") + siteName(site) + " layer " + std::to_string(layer) + ": position ("
                    + std::to_string(p.row) + ", " + std::to_string(p.position) + ") is outside the batch ["
                    + std::to_string(act.size(0)) + ", " + std::to_string(act.size(1)) + "]");
}

} // namespace

const char *siteName(Site site)
{
    switch (site) {
    case Site::Embedding:
        return "embedding";
    case Site::AttentionOutput:
        return "attention-output";
    case Site::MlpKey:
        return "mlp-key";
    case Site::MlpOutput:
        return "mlp-output";
    case Site::BlockOutput:
        return "block-output";
    }
    return "?";
}

void Interventions::add(Site site, int layer, Hook hook)
{
    m_hooks[{site, layer}].push_back(std::move(hook));
}

bool Interventions::has(Site site, int layer) const
{
    return m_hooks.count({site, layer}) != 0;
}

at::Tensor Interventions::apply(Site site, int layer, at::Tensor activation) const
{
    const auto it = m_hooks.find({site, layer});
    if (it == m_hooks.end())
        return activation;
    for (const auto &hook : it->second)
        activation = hook(activation);
    return activation;
}

void Interventions::record(Site site, int layer, at::Tensor *out, bool keepGraph)
{
    add(site, layer, [out, keepGraph](const at::Tensor &act) {
        *out = keepGraph ? act : act.detach();
        return act;
    });
}

void Interventions::recordAt(
    Site site, int layer, std::vector<TokenPosition> positions, at::Tensor *out, bool keepGraph)
{
    add(site, layer, [=](const at::Tensor &act) {
        checkPositions(act, positions, site, layer);
        auto [rows, cols] = indexTensors(positions, act.device());
        at::Tensor picked = act.index({rows, cols});
        *out = keepGraph ? picked : picked.detach();
        return act;
    });
}

void Interventions::replaceAt(Site site, int layer, std::vector<TokenPosition> positions, at::Tensor values)
{
    add(site, layer, [=](const at::Tensor &act) {
        checkPositions(act, positions, site, layer);
        auto [rows, cols] = indexTensors(positions, act.device());
        at::Tensor out = act.clone();
        out.index_put_({rows, cols}, values.to(act.scalar_type()));
        return out;
    });
}

void Interventions::addAt(Site site, int layer, std::vector<TokenPosition> positions, at::Tensor delta)
{
    add(site, layer, [=](const at::Tensor &act) {
        checkPositions(act, positions, site, layer);
        auto [rows, cols] = indexTensors(positions, act.device());
        at::Tensor d = delta.to(act.scalar_type());
        if (d.dim() == 1)
            d = d.unsqueeze(0).expand({static_cast<int64_t>(positions.size()), d.size(0)});
        return act.index_put({rows, cols}, d, /*accumulate=*/true);
    });
}

} // namespace engram
