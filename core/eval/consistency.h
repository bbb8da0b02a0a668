#pragma once
// The reference-score (consistency) metric of memit-spec §8.2: TF-IDF cosine similarity
// between a record's generated texts (joined) and reference texts about other subjects that
// truly have the new object (joined). Our own TF-IDF, matching scikit-learn's defaults:
// lower-cased tokens of two or more word characters, raw term counts, smooth idf
// ln((1 + n) / (1 + df)) + 1, L2-normalised vectors. The reference loads an idf table fitted on
// Wikipedia; we fit it on the supplied reference texts (one document per snippet), so values
// are comparable in kind, not digit for digit.

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace engram {

/// Lower-cased runs of two or more word characters (letters, digits, '_'; bytes ≥ 0x80 count
/// as letters).
std::vector<std::string> tfidfTokens(const std::string &text);

class TfidfModel
{
public:
    /// Fits the idf on `documents`.
    static TfidfModel fit(const std::vector<std::string> &documents);
    /// L2-normalised TF-IDF vector; terms not seen in fitting are ignored (as scikit-learn does).
    std::map<std::string, double> vector(const std::string &text) const;
    /// Cosine similarity of the two texts' vectors (0 when either is empty).
    double similarity(const std::string &a, const std::string &b) const;
    std::size_t vocabularySize() const { return m_idf.size(); }

private:
    std::map<std::string, double> m_idf;
};

/// Attribute snippets in the reference's format: a JSON list of {"relation_id", "target_id",
/// "samples": [{"name", "text"}, ...]}, indexed by (relation_id, target_id).
struct ReferenceTexts {
    std::map<std::pair<std::string, std::string>, std::vector<std::string>> snippets;
    TfidfModel model; // fitted on all snippets
    /// Throws engram::Error naming the file and entry.
    static ReferenceTexts load(const std::filesystem::path &file);
    /// Joined snippets for (relation, target); empty when there are none.
    std::string joined(const std::string &relationId, const std::string &targetId) const;
};

} // namespace engram
