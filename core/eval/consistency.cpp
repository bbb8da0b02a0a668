#include "core/eval/consistency.h"

#include "core/util/error.h"
#include "core/util/fileutil.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <set>

namespace engram {

std::vector<std::string> tfidfTokens(const std::string &text)
{
    std::vector<std::string> out;
    std::string word;
    auto flush = [&] {
        if (word.size() >= 2)
            out.push_back(word);
        word.clear();
    };
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '_' || c >= 0x80)
            word += static_cast<char>(std::tolower(c));
        else
            flush();
    }
    flush();
    return out;
}

TfidfModel TfidfModel::fit(const std::vector<std::string> &documents)
{
    std::map<std::string, int64_t> df;
    for (const auto &d : documents) {
        const auto tokens = tfidfTokens(d);
        for (const auto &t : std::set<std::string>(tokens.begin(), tokens.end()))
            ++df[t];
    }
    TfidfModel m;
    const double n = static_cast<double>(documents.size());
    for (const auto &[term, count] : df)
        m.m_idf[term] = std::log((1 + n) / (1 + static_cast<double>(count))) + 1;
    return m;
}

std::map<std::string, double> TfidfModel::vector(const std::string &text) const
{
    std::map<std::string, double> v;
    for (const auto &t : tfidfTokens(text))
        if (m_idf.count(t))
            v[t] += 1;
    double norm = 0;
    for (auto &[term, x] : v) {
        x *= m_idf.at(term);
        norm += x * x;
    }
    norm = std::sqrt(norm);
    if (norm > 0)
        for (auto &[term, x] : v)
            x /= norm;
    return v;
}

double TfidfModel::similarity(const std::string &a, const std::string &b) const
{
    const auto va = vector(a), vb = vector(b);
    double dot = 0;
    for (const auto &[term, x] : va) {
        const auto it = vb.find(term);
        if (it != vb.end())
            dot += x * it->second;
    }
    return dot;
}

ReferenceTexts ReferenceTexts::load(const std::filesystem::path &file)
{
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(readTextFile(file));
    } catch (const nlohmann::json::parse_error &e) {
        throw Error(ErrorKind::CorruptFile, file.string() + ": not valid JSON (" + e.what() + ")");
    }
    if (!doc.is_array())
        throw Error(ErrorKind::CorruptFile, file.string() + ": expected a list of {relation_id, target_id, samples}");
    ReferenceTexts r;
    std::vector<std::string> all;
    for (std::size_t i = 0; i < doc.size(); ++i) {
        const auto &e = doc[i];
        const std::string where = file.string() + ", entry " + std::to_string(i + 1);
        if (!e.is_object() || !e.contains("relation_id") || !e.contains("target_id") || !e.contains("samples")
            || !e["samples"].is_array())
            throw Error(ErrorKind::CorruptFile, where + ": needs relation_id, target_id and a samples list");
        auto &texts = r.snippets[{e["relation_id"].get<std::string>(), e["target_id"].get<std::string>()}];
        for (const auto &s : e["samples"]) {
            if (!s.is_object() || !s.contains("text") || !s["text"].is_string())
                throw Error(ErrorKind::CorruptFile, where + ": a sample has no text");
            texts.push_back(s["text"].get<std::string>());
            all.push_back(texts.back());
        }
    }
    r.model = TfidfModel::fit(all);
    return r;
}

std::string ReferenceTexts::joined(const std::string &relationId, const std::string &targetId) const
{
    const auto it = snippets.find({relationId, targetId});
    if (it == snippets.end())
        return {};
    std::string out;
    for (const auto &t : it->second)
        out += (out.empty() ? "" : " ") + t;
    return out;
}

} // namespace engram
