#include "core/trace/causaltrace.h"

#include "core/model/batching.h"
#include "core/model/interventions.h"
#include "core/model/transformer.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "core/util/random.h"
#include "core/model/torcherrors.h"

#include <ATen/ATen.h>

#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

namespace engram {

const char *traceKindName(TraceKind kind)
{
    switch (kind) {
    case TraceKind::Hidden:
        return "hidden";
    case TraceKind::Mlp:
        return "mlp";
    case TraceKind::Attention:
        return "attn";
    }
    return "?";
}

std::optional<TraceKind> parseTraceKind(const std::string &name)
{
    if (name == "hidden")
        return TraceKind::Hidden;
    if (name == "mlp")
        return TraceKind::Mlp;
    if (name == "attn" || name == "attention")
        return TraceKind::Attention;
    return std::nullopt;
}

const char *tokenCategoryName(TokenCategory category)
{
    switch (category) {
    case TokenCategory::FirstSubject:
        return "first subject token";
    case TokenCategory::MiddleSubject:
        return "middle subject tokens";
    case TokenCategory::LastSubject:
        return "last subject token";
    case TokenCategory::FirstSubsequent:
        return "first subsequent token";
    case TokenCategory::FurtherTokens:
        return "further tokens";
    case TokenCategory::LastToken:
        return "last token";
    }
    return "?";
}

int defaultTraceWindow(int layers)
{
    return std::clamp(static_cast<int>(std::lround(layers * 10.0 / 28.0)), 1, 10);
}

const TraceMatrix *TraceResult::matrix(TraceKind kind) const
{
    for (const auto &m : matrices)
        if (m.kind == kind)
            return &m;
    return nullptr;
}

namespace {

constexpr int kKinds = 3;

Site siteOf(TraceKind kind)
{
    switch (kind) {
    case TraceKind::Hidden:
        return Site::BlockOutput;
    case TraceKind::Mlp:
        return Site::MlpOutput;
    case TraceKind::Attention:
        return Site::AttentionOutput;
    }
    return Site::BlockOutput;
}

int kindIndex(TraceKind kind)
{
    return static_cast<int>(kind);
}

// The object's first token as the model would continue the prompt (leading space added
// unless present, memit-spec §2.1).
int64_t firstObjectToken(const Tokenizer &tok, const std::string &object)
{
    const std::string text = !object.empty() && object.front() == ' ' ? object : " " + object;
    const auto ids = tok.encode(text);
    if (ids.empty())
        throw Error(ErrorKind::InvalidArgument, "the expected object '" + object + "' has no tokens");
    return ids.front();
}

} // namespace

// The public entry points below translate LibTorch errors around these.
NoiseSettings subjectNoise(const Transformer &model, const Tokenizer &tokenizer,
    const std::vector<std::string> &subjects, const std::string &whose, double multiple, NoiseSettings base)
{
    const double sigma = subjectEmbeddingStd(model, tokenizer, subjects);
    std::ostringstream origin;
    origin << multiple << " x sigma = " << multiple << " x " << sigma << " (subject embeddings of " << subjects.size()
           << " " << whose << ")";
    base.mode = NoiseMode::Gaussian;
    base.scale = multiple * sigma;
    base.origin = origin.str();
    return base;
}

TraceResult traceFactUnchecked(const Transformer &model, const Tokenizer &tokenizer, const TraceRequest &request,
    const TraceParams &params, const ProgressSink &progress);
AverageEffects averageEffectsUnchecked(const Transformer &model, const Tokenizer &tokenizer,
    const std::vector<TraceRequest> &facts, const AverageParams &params, const ProgressSink &progress);
double subjectEmbeddingStdUnchecked(
    const Transformer &model, const Tokenizer &tokenizer, const std::vector<std::string> &subjects);

struct CausalTracer::Impl {
    const Transformer &model;
    const Tokenizer &tok;
    TraceResult base;
    int64_t tokenBudget = 0;
    at::Tensor ids; // [1, T] on the model's device
    at::Tensor noise; // [samples, subject tokens, d] in the model's dtype and device
    // clean[kind][layer]: [T, d]; corrupted[kind][layer]: [samples, T, d]
    std::vector<std::vector<at::Tensor>> clean, corrupted;

    Impl(const Transformer &m, const Tokenizer &t)
        : model(m)
        , tok(t)
    {
    }

    int64_t tokens() const { return static_cast<int64_t>(base.tokenIds.size()); }
    int samples() const { return base.noise.samples; }

    void locateSubject()
    {
        // Character offsets of each token in the decoded prompt (decoding prefixes keeps
        // multi-byte characters split across tokens intact), then the first occurrence of the
        // subject string, as the reference's find_token_range does.
        const auto &ids = base.tokenIds;
        std::vector<std::size_t> end(ids.size());
        for (std::size_t i = 0; i < ids.size(); ++i)
            end[i]
                = tok.decode(std::vector<int64_t>(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(i + 1)), true)
                      .size();
        const std::string text = tok.decode(ids, true);
        const std::size_t at = base.subject.empty() ? std::string::npos : text.find(base.subject);
        if (at == std::string::npos)
            throw Error(ErrorKind::InvalidArgument,
                "the subject '" + base.subject + "' does not occur in the prompt '" + base.prompt + "'");
        const std::size_t stop = at + base.subject.size();
        int64_t first = -1, last = -1;
        for (std::size_t i = 0; i < ids.size(); ++i) {
            const std::size_t begin = i == 0 ? 0 : end[i - 1];
            if (end[i] > at && begin < stop) {
                if (first < 0)
                    first = static_cast<int64_t>(i);
                last = static_cast<int64_t>(i);
            }
        }
        if (first < 0)
            throw Error(ErrorKind::InvalidArgument, "no token of the prompt covers the subject '" + base.subject + "'");
        base.subjectBegin = first;
        base.subjectEnd = last + 1;
    }

    at::Tensor makeNoise() const
    {
        const int64_t n = base.subjectEnd - base.subjectBegin;
        const int64_t d = model.config().hiddenSize;
        const int64_t count = samples() * n * d;
        at::Tensor t = at::empty({samples(), n, d}, at::TensorOptions().dtype(at::kFloat));
        float *p = t.data_ptr<float>();
        RandomStream rng(base.noise.seed);
        for (int64_t i = 0; i < count; ++i) {
            const double v = base.noise.mode == NoiseMode::Gaussian ? rng.normal() : 2.0 * rng.uniform() - 1.0;
            p[i] = static_cast<float>(base.noise.scale * v);
        }
        return t.to(model.device(), model.dtype());
    }

    // Adds the noise to the subject's token embeddings of every row (row r gets sample r % S).
    void addCorruption(Interventions &iv, int64_t cells) const
    {
        const at::Tensor rep = cells == 1 ? noise : noise.repeat({cells, 1, 1});
        const int64_t b = base.subjectBegin, n = base.subjectEnd - base.subjectBegin;
        iv.add(Site::Embedding, 0, [rep, b, n](const at::Tensor &x) {
            at::Tensor out = x.clone();
            out.narrow(1, b, n).add_(rep.to(out.scalar_type()));
            return out;
        });
    }

    // p(answer) at the last position of each row, [rows] float on the CPU.
    at::Tensor answerProbability(const at::Tensor &rowIds, const Interventions &iv) const
    {
        ForwardOptions fo;
        fo.interventions = &iv;
        fo.logitPositions = at::full({rowIds.size(0)}, tokens() - 1, at::TensorOptions().dtype(at::kLong));
        const at::Tensor logits = model.forward(rowIds, {}, fo).logits.select(1, 0); // [rows, V]
        return at::softmax(logits, -1).select(1, base.answerToken).to(at::kCPU);
    }

    void prepare(const TraceRequest &request, const NoiseSettings &settings)
    {
        if (settings.samples < 1)
            throw Error(ErrorKind::InvalidArgument, "causal tracing needs at least one noise sample");
        if (!(settings.scale >= 0) || !std::isfinite(settings.scale))
            throw Error(ErrorKind::InvalidArgument, "the noise scale must be a finite number >= 0");
        base.prompt = request.prompt;
        base.subject = request.subject;
        base.noise = settings;
        base.layers = model.config().numLayers;
        base.tokenIds = tok.encode(request.prompt, true);
        if (base.tokenIds.empty())
            throw Error(ErrorKind::InvalidArgument, "the prompt '" + request.prompt + "' has no tokens");
        if (tokens() > model.config().maxPositions)
            throw Error(ErrorKind::InvalidArgument,
                "the prompt has " + std::to_string(tokens()) + " tokens; the model's context is "
                    + std::to_string(model.config().maxPositions));
        for (const int64_t id : base.tokenIds)
            base.tokens.push_back(tok.decode({id}, false));
        locateSubject();

        ids = at::tensor(base.tokenIds, at::TensorOptions().dtype(at::kLong)).unsqueeze(0).to(model.device());
        const int L = base.layers;
        clean.assign(kKinds, std::vector<at::Tensor>(static_cast<std::size_t>(L)));
        corrupted.assign(kKinds, std::vector<at::Tensor>(static_cast<std::size_t>(L)));

        // Clean run: every site's activations, the answer and its probability.
        Interventions record;
        for (int k = 0; k < kKinds; ++k)
            for (int l = 0; l < L; ++l)
                record.record(siteOf(static_cast<TraceKind>(k)), l, &clean[k][l]);
        ForwardOptions fo;
        fo.interventions = &record;
        const at::Tensor logits = model.forward(ids, {}, fo).logits[0][tokens() - 1];
        const at::Tensor probs = at::softmax(logits, -1).to(at::kCPU);
        base.answerToken = probs.argmax().item<int64_t>();
        base.highScore = probs[base.answerToken].item<double>();
        base.answer = tok.decode({base.answerToken}, false);
        for (auto &perLayer : clean)
            for (auto &t : perLayer)
                t = t[0]; // [T, d]

        // Corrupted run without restoration: the low score and every site's corrupted values.
        noise = makeNoise();
        Interventions corrupt;
        addCorruption(corrupt, 1);
        for (int k = 0; k < kKinds; ++k)
            for (int l = 0; l < L; ++l)
                corrupt.record(siteOf(static_cast<TraceKind>(k)), l, &corrupted[k][l]);
        base.lowScore = answerProbability(ids.repeat({samples(), 1}), corrupt).mean().item<double>();
    }

    at::Tensor runChunk(const std::vector<std::vector<Restoration>> &cells, std::size_t c0, std::size_t c1) const
    {
        const int64_t nCells = static_cast<int64_t>(c1 - c0), S = samples();
        Interventions iv;
        addCorruption(iv, nCells);
        struct Group {
            std::vector<int64_t> rows, positions, samples;
        };
        // (kind, layer, toCorrupted) -> rows to overwrite
        std::map<std::tuple<int, int, bool>, Group> groups;
        for (std::size_t c = c0; c < c1; ++c) {
            for (const Restoration &r : cells[c]) {
                if (r.layer < 0 || r.layer >= base.layers || r.position < 0 || r.position >= tokens())
                    throw Error(ErrorKind::InvalidArgument,
                        "restoration at layer " + std::to_string(r.layer) + ", token " + std::to_string(r.position)
                            + " is outside the traced prompt");
                Group &g = groups[{kindIndex(r.kind), r.layer, r.toCorrupted}];
                for (int64_t s = 0; s < S; ++s) {
                    g.rows.push_back(static_cast<int64_t>(c - c0) * S + s);
                    g.positions.push_back(r.position);
                    g.samples.push_back(s);
                }
            }
        }
        const at::TensorOptions longOpts = at::TensorOptions().dtype(at::kLong);
        for (const auto &[key, g] : groups) {
            const auto [k, layer, toCorrupted] = key;
            const at::Tensor rows = at::tensor(g.rows, longOpts).to(model.device());
            const at::Tensor pos = at::tensor(g.positions, longOpts).to(model.device());
            at::Tensor values;
            if (toCorrupted)
                values = corrupted[k][layer].index({at::tensor(g.samples, longOpts).to(model.device()), pos});
            else
                values = clean[k][layer].index_select(0, pos);
            iv.add(siteOf(static_cast<TraceKind>(k)), layer, [rows, pos, values](const at::Tensor &x) {
                at::Tensor out = x.clone();
                out.index_put_({rows, pos}, values.to(out.scalar_type()));
                return out;
            });
        }
        return answerProbability(ids.repeat({nCells * S, 1}), iv).view({nCells, S}).mean(1).to(at::kDouble);
    }
};

CausalTracer::CausalTracer(const Transformer &model, const Tokenizer &tokenizer, const TraceRequest &request,
    const NoiseSettings &noise, int64_t tokenBudget)
    : d(std::make_unique<Impl>(model, tokenizer))
{
    c10::NoGradGuard noGrad;
    d->tokenBudget = std::max<int64_t>(1, tokenBudget);
    d->prepare(request, noise);
}

CausalTracer::~CausalTracer() = default;

const TraceResult &CausalTracer::base() const
{
    return d->base;
}

std::vector<double> CausalTracer::probabilities(
    const std::vector<std::vector<Restoration>> &cells, bool batched, ProgressTracker *progress) const
{
    c10::NoGradGuard noGrad;
    const int64_t rowsPerCell = static_cast<int64_t>(d->samples()) * d->tokens();
    const std::size_t perChunk
        = batched ? static_cast<std::size_t>(std::max<int64_t>(1, d->tokenBudget / rowsPerCell)) : 1;
    std::vector<double> out;
    out.reserve(cells.size());
    for (std::size_t c0 = 0; c0 < cells.size(); c0 += perChunk) {
        const std::size_t c1 = std::min(cells.size(), c0 + perChunk);
        const at::Tensor p = d->runChunk(cells, c0, c1);
        const double *v = p.data_ptr<double>();
        out.insert(out.end(), v, v + p.numel());
        if (progress)
            progress->advance(static_cast<int64_t>(c1 - c0));
    }
    return out;
}

TraceMatrix CausalTracer::scan(TraceKind kind, int window, bool batched, ProgressTracker *progress) const
{
    if (window < 1)
        throw Error(ErrorKind::InvalidArgument, "the restoration window must be at least one layer");
    const int L = d->base.layers;
    std::vector<std::vector<Restoration>> cells;
    for (int64_t t = 0; t < d->tokens(); ++t) {
        for (int l = 0; l < L; ++l) {
            std::vector<Restoration> cell;
            if (kind == TraceKind::Hidden) {
                cell.push_back({kind, l, t, false});
            } else {
                // Reference window: layers max(0, l - w/2) .. min(L, l + ceil(w/2)) - 1.
                for (int j = std::max(0, l - window / 2); j < std::min(L, l + (window + 1) / 2); ++j)
                    cell.push_back({kind, j, t, false});
            }
            cells.push_back(std::move(cell));
        }
    }
    TraceMatrix m;
    m.kind = kind;
    m.scores = probabilities(cells, batched, progress);
    return m;
}

TraceResult traceFact(const Transformer &model, const Tokenizer &tokenizer, const TraceRequest &request,
    const TraceParams &params, const ProgressSink &progress)
{
    return translateTorchErrors(
        "causal tracing", [&] { return traceFactUnchecked(model, tokenizer, request, params, progress); });
}

AverageEffects averageEffects(const Transformer &model, const Tokenizer &tokenizer,
    const std::vector<TraceRequest> &facts, const AverageParams &params, const ProgressSink &progress)
{
    return translateTorchErrors(
        "causal tracing", [&] { return averageEffectsUnchecked(model, tokenizer, facts, params, progress); });
}

double subjectEmbeddingStd(
    const Transformer &model, const Tokenizer &tokenizer, const std::vector<std::string> &subjects)
{
    return translateTorchErrors(
        "estimating the noise scale", [&] { return subjectEmbeddingStdUnchecked(model, tokenizer, subjects); });
}

TraceResult traceFactUnchecked(const Transformer &model, const Tokenizer &tokenizer, const TraceRequest &request,
    const TraceParams &params, const ProgressSink &progress)
{
    ProgressTracker tracker(progress, "preparing trace", 0);
    tracker.report();
    CausalTracer tracer(model, tokenizer, request, params.noise, params.tokenBudget);
    TraceResult result = tracer.base();
    result.window = params.window;
    if (!request.expected.empty())
        result.correct = result.answerToken == firstObjectToken(tokenizer, request.expected);
    if (!result.correct)
        return result;
    for (const TraceKind kind : params.kinds) {
        tracker.stage(std::string("tracing ") + traceKindName(kind),
            static_cast<int64_t>(result.tokenIds.size()) * result.layers);
        result.matrices.push_back(tracer.scan(kind, params.window, params.batched, &tracker));
    }
    return result;
}

double subjectEmbeddingStdUnchecked(
    const Transformer &model, const Tokenizer &tokenizer, const std::vector<std::string> &subjects)
{
    c10::NoGradGuard noGrad;
    std::vector<std::vector<int64_t>> seqs;
    for (const auto &s : subjects) {
        auto ids = tokenizer.encode(s);
        if (!ids.empty())
            seqs.push_back(std::move(ids));
    }
    if (seqs.empty())
        throw Error(ErrorKind::InvalidArgument, "no subject tokens to estimate the noise scale from");
    std::vector<at::Tensor> parts;
    const std::size_t chunk = 256;
    for (std::size_t i = 0; i < seqs.size(); i += chunk) {
        const std::vector<std::vector<int64_t>> slice(seqs.begin() + static_cast<std::ptrdiff_t>(i),
            seqs.begin() + static_cast<std::ptrdiff_t>(std::min(seqs.size(), i + chunk)));
        const PaddedBatch batch = padRight(slice);
        at::Tensor emb;
        Interventions iv;
        iv.record(Site::Embedding, 0, &emb);
        ForwardOptions fo;
        fo.interventions = &iv;
        fo.stopAfterLayer = 0;
        model.forward(batch.ids.to(model.device()), batch.mask.to(model.device()), fo);
        const at::Tensor real = batch.mask.reshape({-1}).to(model.device()) != 0;
        parts.push_back(emb.reshape({-1, emb.size(-1)}).index({real}).to(at::kDouble).to(at::kCPU));
    }
    return at::cat(parts).std().item<double>();
}

SeveredScores severedScan(const CausalTracer &tracer, bool batched, ProgressTracker *progress)
{
    const TraceResult &b = tracer.base();
    const int64_t last = b.subjectEnd - 1;
    std::vector<std::vector<Restoration>> cells;
    for (int variant = 0; variant < 3; ++variant) {
        for (int l = 0; l < b.layers; ++l) {
            std::vector<Restoration> cell {{TraceKind::Hidden, l, last, false}};
            if (variant > 0) {
                const TraceKind frozen = variant == 1 ? TraceKind::Mlp : TraceKind::Attention;
                for (int j = 0; j < b.layers; ++j)
                    cell.push_back({frozen, j, last, true});
            }
            cells.push_back(std::move(cell));
        }
    }
    const std::vector<double> p = tracer.probabilities(cells, batched, progress);
    const auto L = static_cast<std::ptrdiff_t>(b.layers);
    SeveredScores s;
    s.ordinary.assign(p.begin(), p.begin() + L);
    s.mlpSevered.assign(p.begin() + L, p.begin() + 2 * L);
    s.attentionSevered.assign(p.begin() + 2 * L, p.end());
    return s;
}

namespace {

struct Samples {
    double sum = 0, sumSq = 0;
    int64_t n = 0;
    void add(double v)
    {
        sum += v;
        sumSq += v * v;
        ++n;
    }
    EffectEstimate estimate(double meanLow) const
    {
        EffectEstimate e;
        e.count = n;
        if (n == 0)
            return e;
        const double mean = sum / static_cast<double>(n);
        e.mean = mean - meanLow;
        if (n > 1) {
            const double var = std::max(0.0, (sumSq - sum * mean) / static_cast<double>(n - 1));
            e.ci95 = 1.96 * std::sqrt(var) / std::sqrt(static_cast<double>(n));
        }
        return e;
    }
};

} // namespace

AverageEffects averageEffectsUnchecked(const Transformer &model, const Tokenizer &tokenizer,
    const std::vector<TraceRequest> &facts, const AverageParams &params, const ProgressSink &progress)
{
    AverageEffects out;
    out.layers = model.config().numLayers;
    out.kinds = params.trace.kinds;
    const int L = out.layers;
    // samples[kind][category][layer]
    std::vector<std::vector<std::vector<Samples>>> samples(out.kinds.size(),
        std::vector<std::vector<Samples>>(kTokenCategories, std::vector<Samples>(static_cast<std::size_t>(L))));
    std::vector<Samples> ordinary(static_cast<std::size_t>(L)), mlpSev(static_cast<std::size_t>(L)),
        attnSev(static_cast<std::size_t>(L));
    Samples low, high;

    ProgressTracker tracker(progress, "tracing facts", static_cast<int64_t>(facts.size()));
    tracker.report();
    for (std::size_t f = 0; f < facts.size(); ++f) {
        const TraceRequest &fact = facts[f];
        const std::string label = "fact " + std::to_string(f + 1) + " ('" + fact.subject + "')";
        try {
            CausalTracer tracer(model, tokenizer, fact, params.trace.noise, params.trace.tokenBudget);
            const TraceResult &b = tracer.base();
            if (!fact.expected.empty() && b.answerToken != firstObjectToken(tokenizer, fact.expected)) {
                out.skipped.push_back(label + ": predicted '" + b.answer + "' instead of '" + fact.expected + "'");
                tracker.advance();
                continue;
            }
            const int64_t T = static_cast<int64_t>(b.tokenIds.size()), first = b.subjectBegin, end = b.subjectEnd;
            for (std::size_t k = 0; k < out.kinds.size(); ++k) {
                const TraceMatrix m = tracer.scan(out.kinds[k], params.trace.window, params.trace.batched);
                auto addRow = [&](TokenCategory cat, int64_t t) {
                    for (int l = 0; l < L; ++l)
                        samples[k][static_cast<int>(cat)][static_cast<std::size_t>(l)].add(m.at(t, l, L));
                };
                addRow(TokenCategory::FirstSubject, first);
                for (int64_t t = first + 1; t < end - 1; ++t)
                    addRow(TokenCategory::MiddleSubject, t);
                addRow(TokenCategory::LastSubject, end - 1);
                if (end < T)
                    addRow(TokenCategory::FirstSubsequent, end);
                for (int64_t t = end + 1; t < T - 1; ++t)
                    addRow(TokenCategory::FurtherTokens, t);
                addRow(TokenCategory::LastToken, T - 1);
            }
            if (params.severed) {
                const SeveredScores s = severedScan(tracer, params.trace.batched);
                for (int l = 0; l < L; ++l) {
                    ordinary[static_cast<std::size_t>(l)].add(s.ordinary[static_cast<std::size_t>(l)]);
                    mlpSev[static_cast<std::size_t>(l)].add(s.mlpSevered[static_cast<std::size_t>(l)]);
                    attnSev[static_cast<std::size_t>(l)].add(s.attentionSevered[static_cast<std::size_t>(l)]);
                }
            }
            low.add(b.lowScore);
            high.add(b.highScore);
            ++out.traced;
        } catch (const Error &e) {
            if (e.kind() != ErrorKind::InvalidArgument)
                throw;
            out.skipped.push_back(label + ": " + e.what());
        }
        tracker.advance();
    }
    out.meanLowScore = low.n ? low.sum / static_cast<double>(low.n) : 0.0;
    out.meanHighScore = high.n ? high.sum / static_cast<double>(high.n) : 0.0;
    out.effects.resize(out.kinds.size());
    for (std::size_t k = 0; k < out.kinds.size(); ++k) {
        out.effects[k].resize(kTokenCategories);
        for (int c = 0; c < kTokenCategories; ++c)
            for (int l = 0; l < L; ++l)
                out.effects[k][static_cast<std::size_t>(c)].push_back(
                    samples[k][static_cast<std::size_t>(c)][static_cast<std::size_t>(l)].estimate(out.meanLowScore));
    }
    if (params.severed && out.traced > 0) {
        for (int l = 0; l < L; ++l) {
            out.severed.ordinary.push_back(ordinary[static_cast<std::size_t>(l)].estimate(out.meanLowScore));
            out.severed.mlpSevered.push_back(mlpSev[static_cast<std::size_t>(l)].estimate(out.meanLowScore));
            out.severed.attentionSevered.push_back(attnSev[static_cast<std::size_t>(l)].estimate(out.meanLowScore));
        }
        const int width = std::clamp(
            params.suggestedWidth > 0 ? params.suggestedWidth : static_cast<int>(std::lround(L / 5.0)), 1, L);
        double best = -1e300;
        for (int s = 0; s + width <= L; ++s) {
            double gap = 0;
            for (int l = s; l < s + width; ++l)
                gap += out.severed.ordinary[static_cast<std::size_t>(l)].mean
                    - out.severed.mlpSevered[static_cast<std::size_t>(l)].mean;
            if (gap > best) {
                best = gap;
                out.suggestedFirst = s;
                out.suggestedLast = s + width - 1;
            }
        }
    }
    return out;
}

} // namespace engram
