#pragma once
// Evaluation and edit datasets in the formats people have (memit-spec §8.1), read into one
// record type. Each record is checked on its own: a malformed record is named (index, field,
// reason) and skipped, the rest still import.
//
// Formats (detected per file from the first record):
//   CounterFact / MultiCounterFact  {"case_id", "requested_rewrite": {"prompt" with {},
//                                    "subject", "relation_id", "target_new": {"str","id"},
//                                    "target_true": {"str","id"}}, "paraphrase_prompts",
//                                    "neighborhood_prompts", "attribute_prompts", "generation_prompts"}
//   zsRE (MEND/MEMIT schema)        {"subject", "src", "rephrase", "answers": [..], "loc",
//                                    "loc_ans"}; as the reference loads it: prompt = src with the
//                                    subject replaced by {}, target_new = answers[0]
//   ROME known facts                {"subject", "prompt" (full text or with {}), "attribute"
//                                    (or "expected", or "object" as in the demo's retention.json,
//                                    or none)}: target_true
//   EasyEdit request lists          {"prompt" (full text), "subject", "target_new",
//                                    "ground_truth", "rephrase_prompt", "locality_prompt", ...}
//   CSV                             header subject,prompt,target_new[,target_true,relation,
//                                    paraphrases,neighborhood,attribute_prompts,
//                                    generation_prompts,tags,case_id] in any order; "|" between
//                                    list items ("\|" and "\\" for a literal | and \); quoted
//                                    fields may span lines; a UTF-8 byte order mark is skipped

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace engram {

enum class DatasetFormat { CounterFact, Zsre, KnownFacts, EasyEdit, Csv };
const char *datasetFormatName(DatasetFormat format);

struct EvalRecord {
    int64_t caseId = 0;
    std::string promptTemplate; // exactly one {} for the subject
    std::string subject;
    std::string relationId;
    std::string targetNew; // may be empty (known facts)
    std::string targetTrue; // may be empty (zsRE: unknown)
    std::string targetNewId; // CounterFact's Wikidata id of target_new (consistency references)
    std::vector<std::string> paraphrasePrompts;
    std::vector<std::string> neighborhoodPrompts; // CounterFact: answered with targetTrue
    std::vector<std::string> attributePrompts;
    std::vector<std::string> generationPrompts;
    std::vector<std::string> tags; // the project's labels (Engram's own exports carry them)
    // zsRE specificity: an unrelated question and its answer (scored token by token)
    std::string localityPrompt;
    std::string localityAnswer;

    std::string prompt() const; // the template filled with the subject
};

struct RejectedRecord {
    int64_t index = 0; // 1-based position in the file
    std::string field;
    std::string reason;
};

struct Dataset {
    DatasetFormat format = DatasetFormat::CounterFact;
    std::vector<EvalRecord> records;
    std::vector<RejectedRecord> rejected;
};

/// Reads `file` (JSON list or CSV), at most `limit` accepted records (0 = all). Throws
/// engram::Error only when the file as a whole is unreadable (missing, not JSON, unknown shape).
Dataset importDataset(const std::filesystem::path &file, int64_t limit = 0);

/// Writes records so that importDataset reads back the same records (case ids, every text and
/// list, tags; any characters, newlines included): CounterFact JSON (.json: case_id,
/// requested_rewrite with prompt, subject, relation_id, target_new/true, the prompt lists and
/// tags) or CSV (.csv: every column the CSV reader knows). Written atomically. Throws engram::Error(Io, InvalidArgument for other extensions).
void exportDataset(const std::vector<EvalRecord> &records, const std::filesystem::path &file);

} // namespace engram
