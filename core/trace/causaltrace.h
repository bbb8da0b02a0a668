#pragma once
// Causal tracing (memit-spec §7): corrupt the subject's token embeddings with noise, then
// restore clean activations one (token, layer) cell at a time and record how much of the
// clean answer's probability comes back. Results are plain values (no torch types), so the
// CLI and the UI use them directly.
//
// Deliberate differences from the reference scripts, all documented in the README:
//   * noise comes from our own platform-independent generator (core/util/random.h), so a
//     seed gives bit-identical scores on every machine;
//   * the severed ("frozen MLP/attention") runs reuse the very noise samples of the
//     ordinary run (the reference draws successive samples from one stream, a quirk);
//   * a fact counts as correctly predicted when the clean argmax token equals the first
//     token of " " + expected object (the reference compares decoded strings).
//
// Batching: all restoration cells of a scan go through the model together, `samples` rows
// per cell, in chunks bounded by a token budget; logits are computed at the last position
// only. `batched = false` runs one cell per forward pass (the reference's loop), for
// benchmarks and equivalence tests.
//
// Thread-safety: runs forward passes on the calling thread; the model must not change
// meanwhile.

#include "core/util/progress.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace engram {

class Transformer;
class Tokenizer;

enum class TraceKind { Hidden, Mlp, Attention };
const char *traceKindName(TraceKind kind); // "hidden", "mlp", "attn"
std::optional<TraceKind> parseTraceKind(const std::string &name); // also accepts "attention"

enum class NoiseMode { Gaussian, Uniform };

struct NoiseSettings {
    NoiseMode mode = NoiseMode::Gaussian;
    double scale = 0.1; // ν: standard deviation (Gaussian) or half-width (uniform in [-ν, ν])
    int samples = 10; // corrupted copies per cell
    uint64_t seed = 1; // the same samples for every restoration of one trace
    std::string origin; // how the scale was chosen, for reports ("3σ of 1000 subjects' embeddings")
};

struct TraceRequest {
    std::string prompt; // the full prompt text (subject included)
    std::string subject;
    std::string expected; // optional: the object; when set, facts predicted otherwise are skipped
};

/// p(answer) after restoring one matrix per kind: scores[t * layers + l].
struct TraceMatrix {
    TraceKind kind = TraceKind::Hidden;
    std::vector<double> scores;
    double at(int64_t token, int layer, int layers) const
    {
        return scores[static_cast<std::size_t>(token * layers + layer)];
    }
};

struct TraceResult {
    std::string prompt;
    std::string subject;
    std::vector<int64_t> tokenIds;
    std::vector<std::string> tokens; // each token decoded alone
    int64_t subjectBegin = 0; // subject tokens are [subjectBegin, subjectEnd)
    int64_t subjectEnd = 0;
    int layers = 0;
    int64_t answerToken = -1; // the clean run's argmax at the last position
    std::string answer; // its text
    double highScore = 0; // p(answer), clean
    double lowScore = 0; // p(answer), corrupted, nothing restored (mean over samples)
    bool correct = true; // false: the clean prediction differs from request.expected (nothing traced)
    NoiseSettings noise;
    int window = 10; // layers restored together for the MLP and attention kinds
    std::vector<TraceMatrix> matrices; // one per traced kind, in the order asked
    const TraceMatrix *matrix(TraceKind kind) const;
};

struct TraceParams {
    std::vector<TraceKind> kinds {TraceKind::Hidden, TraceKind::Mlp, TraceKind::Attention};
    NoiseSettings noise;
    int window = 10; // reference: 10 (layers max(0, l - 5) .. min(L, l + 5) - 1); see defaultTraceWindow
    int64_t tokenBudget = 32768; // rows × tokens per forward pass
    bool batched = true;
};

/// The MLP/attention restoration window for a model of `layers` layers: the reference's 10 at
/// GPT-J's depth (28 layers) and beyond, scaled with depth below it (at least 1), so that a
/// small model's window does not cover all of its layers (which makes every column equal).
int defaultTraceWindow(int layers);

/// One restoration in a cell: set `kind`'s activation (block output, MLP output or attention
/// output) of `layer` at `position` to its clean value, or, with toCorrupted, to its value in
/// the corrupted run without restoration (per noise sample: "freezing" for severed traces).
struct Restoration {
    TraceKind kind = TraceKind::Hidden;
    int layer = 0;
    int64_t position = 0;
    bool toCorrupted = false;
};

/// One prompt's clean and corrupted runs, ready for any number of restoration experiments.
class CausalTracer
{
public:
    /// Runs the clean pass (answer, high score) and the corrupted pass (low score). Throws
    /// engram::Error(InvalidArgument) when the subject is not in the prompt.
    CausalTracer(const Transformer &model, const Tokenizer &tokenizer, const TraceRequest &request,
        const NoiseSettings &noise, int64_t tokenBudget = 32768);
    ~CausalTracer();
    CausalTracer(const CausalTracer &) = delete;
    CausalTracer &operator=(const CausalTracer &) = delete;

    /// Prompt, tokens, subject range, answer, high and low scores (no matrices).
    const TraceResult &base() const;
    /// p(answer) averaged over the noise samples for each cell (a set of restorations).
    std::vector<double> probabilities(const std::vector<std::vector<Restoration>> &cells, bool batched = true,
        ProgressTracker *progress = nullptr) const;
    /// The token × layer scan of one kind (window as in TraceParams for MLP/attention).
    TraceMatrix scan(TraceKind kind, int window, bool batched = true, ProgressTracker *progress = nullptr) const;

private:
    struct Impl;
    std::unique_ptr<Impl> d;
};

/// The full trace of one fact: skips the scans (correct = false) when request.expected is set
/// and the model predicts something else.
TraceResult traceFact(const Transformer &model, const Tokenizer &tokenizer, const TraceRequest &request,
    const TraceParams &params, const ProgressSink &progress = {});

/// Standard deviation of all entries of the token embeddings of the subjects' tokens (each
/// subject tokenised alone, without a leading space): ν = 3σ is the reference's default.
double subjectEmbeddingStd(
    const Transformer &model, const Tokenizer &tokenizer, const std::vector<std::string> &subjects);

/// The reference's noise recipe, the one every front end uses: Gaussian noise of scale
/// `multiple` × σ, σ = subjectEmbeddingStd of `subjects`; origin records σ and whose subjects
/// (`whose`, e.g. "project subjects"). Samples and seed stay at `base`'s.
NoiseSettings subjectNoise(const Transformer &model, const Tokenizer &tokenizer,
    const std::vector<std::string> &subjects, const std::string &whose, double multiple = 3.0, NoiseSettings base = {});

// ---- Averages over a fact set -------------------------------------------------------------

/// The six token groups of the reference's average-indirect-effect plots. A position may
/// belong to several (a one-token subject is first and last; the token right after the
/// subject may also be the prompt's last).
enum class TokenCategory { FirstSubject, MiddleSubject, LastSubject, FirstSubsequent, FurtherTokens, LastToken };
constexpr int kTokenCategories = 6;
const char *tokenCategoryName(TokenCategory category);

struct EffectEstimate {
    double mean = 0; // average indirect effect: mean restored p − mean low score
    double ci95 = 0; // half-width of the 95% interval, 1.96·std/√count of the restored p
    int64_t count = 0;
};

struct SeveredEffects {
    // Per layer: AIE of restoring the block output at the last subject token, with the MLP
    // (or attention) outputs at that token frozen to their corrupted values at every layer.
    std::vector<EffectEstimate> ordinary, mlpSevered, attentionSevered;
};

struct AverageEffects {
    int layers = 0;
    int64_t traced = 0; // facts predicted correctly and traced
    std::vector<std::string> skipped; // one line per skipped fact, with the reason
    double meanHighScore = 0, meanLowScore = 0;
    std::vector<TraceKind> kinds;
    // effects[kind index][category][layer]
    std::vector<std::vector<std::vector<EffectEstimate>>> effects;
    SeveredEffects severed; // empty unless asked for
    // The window of `suggestedWidth` consecutive layers with the largest summed gap between
    // the ordinary and the MLP-severed effect: a suggested MEMIT layer range.
    int suggestedFirst = -1, suggestedLast = -1;
};

struct AverageParams {
    TraceParams trace; // kinds, noise, window, batching
    bool severed = true;
    int suggestedWidth = 0; // 0: max(1, round(layers / 5))
};

AverageEffects averageEffects(const Transformer &model, const Tokenizer &tokenizer,
    const std::vector<TraceRequest> &facts, const AverageParams &params, const ProgressSink &progress = {});

/// Severed scan of one prepared fact (per layer p(answer), not yet minus the low score).
struct SeveredScores {
    std::vector<double> ordinary, mlpSevered, attentionSevered;
};
SeveredScores severedScan(const CausalTracer &tracer, bool batched = true, ProgressTracker *progress = nullptr);

} // namespace engram

namespace engram {

// ---- Files ---------------------------------------------------------------------------------

/// Facts to trace from a JSON list in one of these shapes (each record's shape is detected):
///   ROME known facts:  {"subject", "prompt" (full text), "attribute"}
///   CounterFact:       {"requested_rewrite": {"prompt" with {}, "subject", "target_true": {"str"}}}
///   plain:             {"subject", "prompt" (full text or with {}), "expected" (optional)}
/// At most `limit` records (0 = all). Throws engram::Error naming the file, record and field.
std::vector<TraceRequest> readTraceRequests(const std::filesystem::path &file, int64_t limit = 0);

/// JSON documents for the CLI and the project store (numbers as plain doubles).
std::string traceResultToJson(const TraceResult &result);
/// Reads what traceResultToJson wrote (e.g. to draw it elsewhere); `where` names the source in
/// errors. Error(CorruptFile) for anything else or inconsistent sizes.
TraceResult traceResultFromJson(const std::string &json, const std::string &where);
std::string averageEffectsToJson(const AverageEffects &effects);

} // namespace engram
