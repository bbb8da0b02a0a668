#include "core/model/modelsession.h"

#include "core/model/transformer.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"

#include "core/model/torcherrors.h"

#include <ATen/ATen.h>

namespace engram {

ModelSession::~ModelSession() = default;

std::unique_ptr<ModelSession> ModelSession::open(const std::filesystem::path &dir, const LoadOptions &options)
{
    return translateTorchErrors("loading the model", [&] { return openUnchecked(dir, options); });
}

std::unique_ptr<ModelSession> ModelSession::openUnchecked(const std::filesystem::path &dir, const LoadOptions &options)
{
    std::unique_ptr<ModelSession> s(new ModelSession);
    s->m_model = Transformer::load(dir, options);
    s->m_tokenizer = std::make_unique<Tokenizer>(Tokenizer::fromDirectory(dir));
    s->m_summary = summarizeCheckpoint(dir, s->m_tokenizer.get());
    for (const auto &[name, w] : s->m_model->namedParameters())
        if (w.is_floating_point() && !at::isfinite(w).all().item<bool>())
            s->m_summary.nonFiniteTensors.push_back(name);
    const int64_t tokVocab = s->m_tokenizer->vocabSize();
    if (tokVocab == 0)
        throw Error(ErrorKind::InvalidTokenizer, "the tokenizer in " + dir.string() + " has an empty vocabulary");
    if (tokVocab > s->m_model->config().vocabSize)
        throw Error(ErrorKind::ShapeMismatch,
            "the tokenizer in " + dir.string() + " has " + std::to_string(tokVocab)
                + " tokens but the model's vocabulary holds only " + std::to_string(s->m_model->config().vocabSize));
    return s;
}

std::vector<int64_t> ModelSession::encode(const std::string &text, bool addSpecialTokens) const
{
    return m_tokenizer->encode(text, addSpecialTokens);
}

std::string ModelSession::decode(const std::vector<int64_t> &ids, bool skipSpecialTokens) const
{
    return m_tokenizer->decode(ids, skipSpecialTokens);
}

TextGeneration ModelSession::generate(
    const std::string &prompt, GenerationParams params, const std::function<bool(int64_t)> &onToken) const
{
    TextGeneration out;
    out.promptTokens = encode(prompt, /*addSpecialTokens=*/true);
    if (out.promptTokens.empty()) {
        // An empty prompt needs a start token to condition on.
        const auto start = m_tokenizer->bosTokenId() ? m_tokenizer->bosTokenId() : m_tokenizer->eosTokenId();
        if (!start)
            throw Error(
                ErrorKind::InvalidArgument, "the prompt is empty and the tokenizer has no BOS/EOS token to start from");
        out.promptTokens.push_back(*start);
    }
    if (params.stopTokens.empty())
        for (int id : m_model->config().eosTokenIds)
            params.stopTokens.push_back(id);
    const GenerationResult r = engram::generate(*m_model, out.promptTokens, params, onToken);
    out.generatedTokens = r.tokens;
    out.stoppedOnToken = r.stoppedOnToken;
    out.continuation = m_tokenizer->decodeAfter(out.promptTokens, r.tokens);
    return out;
}

} // namespace engram
