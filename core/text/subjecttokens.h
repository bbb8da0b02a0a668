#pragma once
// Where a subject's tokens sit in a prompt, computed exactly as the reference MEMIT/ROME code
// does (memit-spec §2.2, `get_words_idxs_in_templates`): the template is split at "{}", the
// prefix (minus its trailing space), the word (" " + subject, or the bare subject when the
// prefix is empty) and the suffix are tokenised separately, and the indices are counted from
// those token counts. The indices apply to the tokenisation of the filled prompt; they assume
// BPE boundaries fall at the split points, which holds for byte-level BPE with leading-space
// words.

#include <cstdint>
#include <string>

namespace engram {

class Tokenizer;

struct SubjectSpan {
    int64_t first = 0; // index of the subject's first token
    int64_t last = 0; // index of the subject's last token (MEMIT's key position)
    int64_t firstAfter = 0; // first token after the subject (last when nothing follows)
    int64_t promptTokens = 0; // tokens of the filled prompt, P + S + Q
};

/// `promptTemplate` must contain exactly one "{}"; text before it must be empty or end with a
/// space. Throws engram::Error(InvalidArgument) naming the template otherwise.
SubjectSpan locateSubject(const Tokenizer &tokenizer, const std::string &promptTemplate, const std::string &subject);

/// The template filled with the subject, as the reference fills it ("{}" -> subject).
std::string fillTemplate(const std::string &promptTemplate, const std::string &subject);

} // namespace engram
