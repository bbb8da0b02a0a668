#pragma once
// CounterFact and zsRE metrics exactly as memit-spec §8.2-§8.4 define them, computed in
// batched teacher-forced passes, plus generation entropy (fluency).
//
//   NLL(x, a) = mean over the tokens a_j of " " + a of −log p(a_j | x, a_<j)
//   ES = 1[NLL(x_r, true) > NLL(x_r, new)], EM = e^−NLL(x_r,new) − e^−NLL(x_r,true)
//   PS/PM the same averaged over paraphrase prompts; NS/NM with the roles swapped over
//   neighbourhood prompts; Score = harmonic mean of ES, PS, NS (×100).
//   zsRE: token-level teacher-forced accuracy of the answer after src (efficacy), after the
//   rephrase (paraphrase) and of the locality answer after its question (specificity).
//   GE (fluency) = ⅔·H₂ + 4⁄3·H₃ averaged as the reference does (H_n: base-2 entropy of the
//   n-gram distribution of the text's word tokens).
//
// Tokens: the prompt and " " + candidate are tokenised separately and concatenated (spec
// §2.1); the reference tokenises them jointly, which gives the same ids at a space boundary
// for byte-level BPE. zsRE accuracy compares the teacher-forced argmax with the answer's own
// tokens (the reference re-tokenises each decoded token; the same for byte-level BPE).
// Word tokens for GE: runs of letters/digits (bytes ≥ 0x80 count as letters) and single
// punctuation marks, an approximation of NLTK's Treebank tokenizer.

#include "core/data/datasets.h"
#include "core/eval/consistency.h"
#include "core/util/progress.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace engram {

class Transformer;
class Tokenizer;

/// Per-record scores in [0, 1] (magnitudes in [−1, 1]); NaN where a record lacks the part.
struct RecordScores {
    int64_t caseId = 0;
    double es, em, ps, pm, ns, nm; // CounterFact
    double rewriteAcc, paraphraseAcc, neighborhoodAcc; // token accuracy (zsRE; CounterFact *_correct)
    double fluency; // GE of the generations, when made
    double consistency; // TF-IDF reference score of the generations, when reference texts are given
    double pNew, pTrue; // e^−NLL of the new and true object on the rewrite prompt
    std::vector<std::string> generations;
    RecordScores();
};

struct MetricSummary {
    double mean = 0; // ×100 (like the reference's summarize.py)
    double ci95 = 0; // 1.96·std/√count, ×100
    int64_t count = 0;
};

struct EvalSummary {
    MetricSummary es, ps, ns, em, pm, nm, rewriteAcc, paraphraseAcc, neighborhoodAcc, fluency, consistency;
    double score = 0; // harmonic mean of ES, PS, NS means (CounterFact) or of the three accuracies (zsRE)
    int64_t records = 0;
};

struct EvalParams {
    int generationInterval = 0; // generate for records with index % interval == 0 (0 = none)
    int generationLength = 100; // tokens, prompt included (top-k 5 sampling)
    uint64_t seed = 0;
    int64_t tokenBudget = 16384; // rows × tokens per forward pass
    const ReferenceTexts *references = nullptr; // when set: consistency of the generations
};

std::vector<RecordScores> evaluateRecords(const Transformer &model, const Tokenizer &tokenizer,
    const std::vector<EvalRecord> &records, const EvalParams &params, const ProgressSink &progress = {});

EvalSummary summarize(const std::vector<RecordScores> &scores);

/// Harmonic mean of positive values (0 when any is 0; NaN values are ignored).
double harmonicMean(const std::vector<double> &values);

/// GE of one text (see above).
double generationEntropy(const std::string &text);

/// Mean GE of one top-5 sample per prompt (`newTokens` new tokens, seed `seed` + index): the
/// fixed-prompt fluency the health view and the sequential benchmark follow run after run.
double sampledFluency(const Transformer &model, const Tokenizer &tokenizer, const std::vector<std::string> &prompts,
    int newTokens = 40, uint64_t seed = 1000);
std::vector<std::string> wordTokens(const std::string &text);

} // namespace engram
