#pragma once
// Intervention sites of the forward pass: named points where a caller can read or
// replace activations. Causal tracing, key capture and target optimisation are all built
// from these; nothing else reaches into the model.
//
// Shapes seen by a hook, for a batch of B rows and T tokens in this call:
//   Embedding       [B, T, d]   token embeddings (before learned positions are added,
//                               as the reference hooks the token-embedding module)
//   AttentionOutput [B, T, d]   attention output after its output projection
//   MlpKey          [B, T, d_k] input of the MLP output projection (the MEMIT key)
//   MlpOutput       [B, T, d]   MLP output after its output projection
//   BlockOutput     [B, T, d]   residual stream leaving block `layer`
// Embedding uses layer 0. Hooks run on the forward pass's thread in registration order;
// a hook returns the tensor that flows on (the input itself to only read). Autograd is
// intact: a hook may return a tensor that depends on parameters that require grad.

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <utility>
#include <vector>

namespace engram {

enum class Site { Embedding, AttentionOutput, MlpKey, MlpOutput, BlockOutput };
const char *siteName(Site site);

/// (row, position) in a batch.
struct TokenPosition {
    int64_t row = 0;
    int64_t position = 0;
};

class Interventions
{
public:
    using Hook = std::function<at::Tensor(const at::Tensor &activation)>;

    /// Adds a hook at (site, layer); several hooks at one site run in the order added.
    void add(Site site, int layer, Hook hook);
    bool has(Site site, int layer) const;
    bool empty() const { return m_hooks.empty(); }
    /// Runs the hooks of (site, layer) on `activation`; returns it unchanged when none.
    at::Tensor apply(Site site, int layer, at::Tensor activation) const;

    /// Stores the whole activation of (site, layer) into *out on every call (detached
    /// unless keepGraph). `out` must outlive the forward pass.
    void record(Site site, int layer, at::Tensor *out, bool keepGraph = false);
    /// Stores the vectors at `positions` as rows of *out ([positions.size(), width]).
    void recordAt(Site site, int layer, std::vector<TokenPosition> positions, at::Tensor *out, bool keepGraph = false);
    /// Replaces the vectors at `positions` with the rows of `values` ([n, width]);
    /// gradients flow into `values` when it requires grad.
    void replaceAt(Site site, int layer, std::vector<TokenPosition> positions, at::Tensor values);
    /// Adds the rows of `delta` ([n, width], or [width] broadcast) at `positions`.
    void addAt(Site site, int layer, std::vector<TokenPosition> positions, at::Tensor delta);

private:
    std::map<std::pair<Site, int>, std::vector<Hook>> m_hooks;
};

} // namespace engram
