#include "devkit/subjectswap.h"

#include "core/model/batching.h"
#include "core/model/interventions.h"
#include "core/model/transformer.h"
#include "core/text/subjecttokens.h"
#include "core/text/tokenizer.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

namespace engram {
namespace {

struct Batch {
    PaddedBatch tokens;
    std::vector<TokenPosition> subjectLast, promptLast;
};

Batch makeBatch(const Tokenizer &tok, const std::vector<const FactPrompt *> &facts)
{
    std::vector<std::vector<int64_t>> seqs;
    Batch b;
    for (std::size_t i = 0; i < facts.size(); ++i) {
        seqs.push_back(tok.encode(fillTemplate(facts[i]->promptTemplate, facts[i]->subject)));
        const SubjectSpan span = locateSubject(tok, facts[i]->promptTemplate, facts[i]->subject);
        b.subjectLast.push_back({static_cast<int64_t>(i), span.last});
        b.promptLast.push_back({static_cast<int64_t>(i), static_cast<int64_t>(seqs.back().size()) - 1});
    }
    b.tokens = padRight(seqs);
    return b;
}

at::Tensor lastTokenPredictions(const at::Tensor &logits, const std::vector<TokenPosition> &last)
{
    std::vector<int64_t> rows, cols;
    for (const auto &p : last) {
        rows.push_back(p.row);
        cols.push_back(p.position);
    }
    return logits.index({at::tensor(rows), at::tensor(cols)}).argmax(-1).to(at::kCPU);
}

} // namespace

SwapResult measureSubjectSwap(const Transformer &model, const Tokenizer &tok, const std::vector<SwapPair> &pairs)
{
    c10::NoGradGuard noGrad;
    const int layers = model.config().numLayers;
    std::vector<const FactPrompt *> as, bs;
    std::vector<int64_t> aFirst, bFirst;
    for (const auto &p : pairs) {
        as.push_back(&p.a);
        bs.push_back(&p.b);
        aFirst.push_back(tok.encode(" " + p.a.object).front());
        bFirst.push_back(tok.encode(" " + p.b.object).front());
    }
    const Batch a = makeBatch(tok, as), b = makeBatch(tok, bs);

    // Donor states: B's block outputs at its subject-last token, every layer, one pass.
    std::vector<at::Tensor> donor(layers);
    at::Tensor donorEmb;
    Interventions record;
    for (int l = 0; l < layers; ++l)
        record.recordAt(Site::BlockOutput, l, b.subjectLast, &donor[l]);
    record.recordAt(Site::Embedding, 0, b.subjectLast, &donorEmb);
    ForwardOptions ro;
    ro.interventions = &record;
    model.forward(b.tokens.ids, b.tokens.mask, ro);

    SwapResult result;
    result.pairs = static_cast<int64_t>(pairs.size());
    for (int l = -1; l < layers; ++l) {
        Interventions patch;
        if (l < 0)
            patch.replaceAt(Site::Embedding, 0, a.subjectLast, donorEmb);
        else
            patch.replaceAt(Site::BlockOutput, l, a.subjectLast, donor[l]);
        ForwardOptions po;
        po.interventions = &patch;
        const at::Tensor pred
            = lastTokenPredictions(model.forward(a.tokens.ids, a.tokens.mask, po).logits, a.promptLast);
        int64_t flipped = 0, kept = 0;
        for (std::size_t i = 0; i < pairs.size(); ++i) {
            const int64_t p = pred[static_cast<int64_t>(i)].item<int64_t>();
            flipped += p == bFirst[i];
            kept += p == aFirst[i];
        }
        const double flipRate = pairs.empty() ? 0.0 : double(flipped) / double(pairs.size());
        const double keptRate = pairs.empty() ? 0.0 : double(kept) / double(pairs.size());
        if (l < 0) {
            result.embeddingFlipRate = flipRate;
            result.embeddingKeptRate = keptRate;
        } else {
            result.flipRate.push_back(flipRate);
            result.keptRate.push_back(keptRate);
        }
    }
    return result;
}

} // namespace engram
