#include "core/eval/counterfact.h"

#include "core/eval/teacherforcing.h"
#include "core/model/generator.h"
#include "core/model/transformer.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "core/model/torcherrors.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <map>

namespace engram {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string withSpace(const std::string &s)
{
    return !s.empty() && s.front() == ' ' ? s : " " + s;
}

double meanOf(const std::vector<double> &v)
{
    double sum = 0;
    int n = 0;
    for (double x : v)
        if (!std::isnan(x)) {
            sum += x;
            ++n;
        }
    return n ? sum / n : kNaN;
}

// Collects continuations for one batch pass and hands back their scores by handle.
class Jobs
{
public:
    std::size_t add(std::vector<int64_t> prompt, std::vector<int64_t> target)
    {
        m_items.push_back({std::move(prompt), std::move(target)});
        return m_items.size() - 1;
    }
    void run(const LogitsFunction &f, int64_t budget) { m_scores = scoreContinuations(f, m_items, budget); }
    const ContinuationScore &operator[](std::size_t h) const { return m_scores[h]; }

private:
    std::vector<Continuation> m_items;
    std::vector<ContinuationScore> m_scores;
};

double accuracy(const ContinuationScore &s)
{
    double hit = 0;
    for (bool c : s.correct)
        hit += c;
    return s.correct.empty() ? kNaN : hit / static_cast<double>(s.correct.size());
}

bool allCorrect(const ContinuationScore &s)
{
    for (bool c : s.correct)
        if (!c)
            return false;
    return true;
}

MetricSummary summarizeMetric(const std::vector<RecordScores> &scores, double RecordScores::*field)
{
    MetricSummary m;
    double sum = 0, sumSq = 0;
    for (const auto &s : scores) {
        const double v = s.*field;
        if (std::isnan(v))
            continue;
        sum += v;
        sumSq += v * v;
        ++m.count;
    }
    if (m.count == 0) {
        m.mean = kNaN;
        return m;
    }
    const double mean = sum / static_cast<double>(m.count);
    m.mean = 100 * mean;
    if (m.count > 1) {
        const double var = std::max(0.0, (sumSq - sum * mean) / static_cast<double>(m.count - 1));
        m.ci95 = 100 * 1.96 * std::sqrt(var) / std::sqrt(static_cast<double>(m.count));
    }
    return m;
}

std::vector<RecordScores> evaluateUnchecked(const Transformer &model, const Tokenizer &tok,
    const std::vector<EvalRecord> &records, const EvalParams &params, const ProgressSink &progress)
{
    ProgressTracker tracker(progress, "scoring", static_cast<int64_t>(records.size()));
    tracker.report();
    const LogitsFunction logits = [&model](const at::Tensor &ids, const at::Tensor &mask, const at::Tensor &index) {
        ForwardOptions fo;
        fo.logitIndex = index;
        return model.forward(ids.to(model.device()), mask.to(model.device()), fo).logits;
    };
    std::vector<RecordScores> out(records.size());
    const std::size_t chunk = 64; // records per scoring pass (keeps progress moving)
    for (std::size_t c0 = 0; c0 < records.size(); c0 += chunk) {
        const std::size_t c1 = std::min(records.size(), c0 + chunk);
        Jobs jobs;
        struct Handles {
            std::vector<std::pair<std::size_t, std::size_t>> rewrite, para, neigh; // (new, true)
            std::vector<std::size_t> localAcc;
        };
        std::vector<Handles> h(c1 - c0);
        for (std::size_t i = c0; i < c1; ++i) {
            const EvalRecord &r = records[i];
            const auto newIds = r.targetNew.empty() ? std::vector<int64_t>() : tok.encode(withSpace(r.targetNew));
            const auto trueIds = r.targetTrue.empty() ? std::vector<int64_t>() : tok.encode(withSpace(r.targetTrue));
            auto pair = [&](const std::string &prompt) {
                const auto p = tok.encode(prompt, true);
                return std::make_pair(
                    newIds.empty() ? SIZE_MAX : jobs.add(p, newIds), trueIds.empty() ? SIZE_MAX : jobs.add(p, trueIds));
            };
            Handles &hh = h[i - c0];
            hh.rewrite.push_back(pair(r.prompt()));
            for (const auto &p : r.paraphrasePrompts)
                hh.para.push_back(pair(p));
            for (const auto &p : r.neighborhoodPrompts)
                hh.neigh.push_back(pair(p));
            if (!r.localityPrompt.empty() && !r.localityAnswer.empty())
                hh.localAcc.push_back(
                    jobs.add(tok.encode(r.localityPrompt, true), tok.encode(withSpace(r.localityAnswer))));
        }
        jobs.run(logits, params.tokenBudget);
        for (std::size_t i = c0; i < c1; ++i) {
            RecordScores &s = out[i];
            const Handles &hh = h[i - c0];
            s.caseId = records[i].caseId;
            // Success and magnitude where both objects are known; accuracy on the new object
            // (rewrite, paraphrase) and on the true object (neighbourhood), as the reference.
            auto both = [&](const std::pair<std::size_t, std::size_t> &p) {
                return p.first != SIZE_MAX && p.second != SIZE_MAX;
            };
            if (both(hh.rewrite[0])) {
                const double nNew = jobs[hh.rewrite[0].first].nll, nTrue = jobs[hh.rewrite[0].second].nll;
                s.es = nTrue > nNew;
                s.em = std::exp(-nNew) - std::exp(-nTrue);
                s.pNew = std::exp(-nNew);
                s.pTrue = std::exp(-nTrue);
            }
            if (hh.rewrite[0].first != SIZE_MAX)
                s.rewriteAcc = records[i].targetTrue.empty() ? accuracy(jobs[hh.rewrite[0].first])
                                                             : double(allCorrect(jobs[hh.rewrite[0].first]));
            std::vector<double> ps, pm, pa, ns, nm, na;
            for (const auto &p : hh.para) {
                if (both(p)) {
                    const double nNew = jobs[p.first].nll, nTrue = jobs[p.second].nll;
                    ps.push_back(nTrue > nNew);
                    pm.push_back(std::exp(-nNew) - std::exp(-nTrue));
                }
                if (p.first != SIZE_MAX)
                    pa.push_back(
                        records[i].targetTrue.empty() ? accuracy(jobs[p.first]) : double(allCorrect(jobs[p.first])));
            }
            for (const auto &p : hh.neigh) {
                if (both(p)) {
                    const double nNew = jobs[p.first].nll, nTrue = jobs[p.second].nll;
                    ns.push_back(nTrue < nNew);
                    nm.push_back(std::exp(-nTrue) - std::exp(-nNew));
                    na.push_back(allCorrect(jobs[p.second]));
                }
            }
            for (std::size_t a : hh.localAcc)
                na.push_back(accuracy(jobs[a]));
            s.ps = meanOf(ps);
            s.pm = meanOf(pm);
            s.paraphraseAcc = meanOf(pa);
            s.ns = meanOf(ns);
            s.nm = meanOf(nm);
            s.neighborhoodAcc = meanOf(na);

            if (params.generationInterval > 0 && i % static_cast<std::size_t>(params.generationInterval) == 0
                && !records[i].generationPrompts.empty()) {
                std::vector<double> ge;
                for (std::size_t g = 0; g < records[i].generationPrompts.size(); ++g) {
                    const auto prompt = tok.encode(records[i].generationPrompts[g], true);
                    GenerationParams gp;
                    gp.greedy = false;
                    gp.topK = 5;
                    gp.seed = params.seed + static_cast<uint64_t>(i) * 131 + g;
                    gp.maxNewTokens = std::max(1, params.generationLength - static_cast<int>(prompt.size()));
                    const auto gen = generate(model, prompt, gp);
                    auto ids = prompt;
                    ids.insert(ids.end(), gen.tokens.begin(), gen.tokens.end());
                    s.generations.push_back(tok.decode(ids, true));
                    ge.push_back(generationEntropy(s.generations.back()));
                }
                s.fluency = meanOf(ge);
                if (params.references) {
                    const std::string refs = params.references->joined(records[i].relationId, records[i].targetNewId);
                    if (!refs.empty()) {
                        std::string gens;
                        for (const auto &g : s.generations)
                            gens += (gens.empty() ? "" : " ") + g;
                        s.consistency = params.references->model.similarity(gens, refs);
                    }
                }
            }
        }
        tracker.advance(static_cast<int64_t>(c1 - c0));
    }
    return out;
}

} // namespace

RecordScores::RecordScores()
    : es(kNaN)
    , em(kNaN)
    , ps(kNaN)
    , pm(kNaN)
    , ns(kNaN)
    , nm(kNaN)
    , rewriteAcc(kNaN)
    , paraphraseAcc(kNaN)
    , neighborhoodAcc(kNaN)
    , fluency(kNaN)
    , consistency(kNaN)
    , pNew(kNaN)
    , pTrue(kNaN)
{
}

std::vector<RecordScores> evaluateRecords(const Transformer &model, const Tokenizer &tokenizer,
    const std::vector<EvalRecord> &records, const EvalParams &params, const ProgressSink &progress)
{
    return translateTorchErrors(
        "evaluation", [&] { return evaluateUnchecked(model, tokenizer, records, params, progress); });
}

double harmonicMean(const std::vector<double> &values)
{
    double inv = 0;
    int n = 0;
    for (double v : values) {
        if (std::isnan(v))
            continue;
        if (v <= 0)
            return 0;
        inv += 1 / v;
        ++n;
    }
    return n ? n / inv : kNaN;
}

EvalSummary summarize(const std::vector<RecordScores> &scores)
{
    EvalSummary e;
    e.records = static_cast<int64_t>(scores.size());
    e.es = summarizeMetric(scores, &RecordScores::es);
    e.ps = summarizeMetric(scores, &RecordScores::ps);
    e.ns = summarizeMetric(scores, &RecordScores::ns);
    e.em = summarizeMetric(scores, &RecordScores::em);
    e.pm = summarizeMetric(scores, &RecordScores::pm);
    e.nm = summarizeMetric(scores, &RecordScores::nm);
    e.rewriteAcc = summarizeMetric(scores, &RecordScores::rewriteAcc);
    e.paraphraseAcc = summarizeMetric(scores, &RecordScores::paraphraseAcc);
    e.neighborhoodAcc = summarizeMetric(scores, &RecordScores::neighborhoodAcc);
    e.fluency = summarizeMetric(scores, &RecordScores::fluency);
    e.consistency = summarizeMetric(scores, &RecordScores::consistency);
    e.score = e.es.count > 0 ? harmonicMean({e.es.mean, e.ps.mean, e.ns.mean})
                             : harmonicMean({e.rewriteAcc.mean, e.paraphraseAcc.mean, e.neighborhoodAcc.mean});
    return e;
}

std::vector<std::string> wordTokens(const std::string &text)
{
    std::vector<std::string> out;
    std::string word;
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c >= 0x80 || c == '\'') {
            word += ch;
            continue;
        }
        if (!word.empty()) {
            out.push_back(word);
            word.clear();
        }
        if (!std::isspace(c))
            out.emplace_back(1, ch);
    }
    if (!word.empty())
        out.push_back(word);
    return out;
}

double sampledFluency(const Transformer &model, const Tokenizer &tokenizer, const std::vector<std::string> &prompts,
    int newTokens, uint64_t seed)
{
    double sum = 0;
    for (std::size_t i = 0; i < prompts.size(); ++i) {
        GenerationParams g;
        g.greedy = false;
        g.topK = 5;
        g.seed = seed + i;
        g.maxNewTokens = newTokens;
        auto ids = tokenizer.encode(prompts[i], true);
        const auto gen = generate(model, ids, g).tokens;
        ids.insert(ids.end(), gen.begin(), gen.end());
        sum += generationEntropy(tokenizer.decode(ids, true));
    }
    return prompts.empty() ? 0.0 : sum / static_cast<double>(prompts.size());
}

double generationEntropy(const std::string &text)
{
    const auto tokens = wordTokens(text);
    double weighted = 0;
    const int ns[2] = {2, 3};
    const double weights[2] = {2.0 / 3.0, 4.0 / 3.0};
    for (int k = 0; k < 2; ++k) {
        const int n = ns[k];
        std::map<std::vector<std::string>, int64_t> counts;
        int64_t total = 0;
        for (std::size_t i = 0; i + static_cast<std::size_t>(n) <= tokens.size(); ++i) {
            ++counts[std::vector<std::string>(
                tokens.begin() + static_cast<std::ptrdiff_t>(i), tokens.begin() + static_cast<std::ptrdiff_t>(i) + n)];
            ++total;
        }
        double h = 0;
        for (const auto &[gram, c] : counts) {
            const double p = static_cast<double>(c) / static_cast<double>(total);
            h -= p * std::log2(p);
        }
        weighted += weights[k] * h;
    }
    return weighted / 2.0; // np.mean over the two weighted entropies
}

} // namespace engram
