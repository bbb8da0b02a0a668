#include "core/text/tokenizer.h"

#include "core/text/utf8.h"
#include "core/util/error.h"
#include "core/util/fileutil.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <fstream>
#include <limits>
#include <map>
#include <queue>
#include <unordered_map>
#include <variant>

namespace engram {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string &source, const std::string &what)
{
    throw Error(ErrorKind::InvalidTokenizer, source + ": " + what);
}

// A compiled PCRE2 pattern (UTF + Unicode properties), shared and immutable.
class Regex
{
public:
    Regex(const std::string &pattern, const std::string &source)
    {
        int err = 0;
        PCRE2_SIZE offset = 0;
        m_code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
            &err, &offset, nullptr);
        if (!m_code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            bad(source,
                "cannot compile regex '" + pattern + "' at offset " + std::to_string(offset) + ": "
                    + reinterpret_cast<const char *>(msg));
        }
        pcre2_jit_compile(m_code, PCRE2_JIT_COMPLETE); // optional speed-up; failure is harmless
    }
    ~Regex() { pcre2_code_free(m_code); }
    Regex(const Regex &) = delete;
    Regex &operator=(const Regex &) = delete;

    /// Non-overlapping matches [begin, end) in valid UTF-8 text.
    std::vector<std::pair<std::size_t, std::size_t>> findAll(std::string_view text) const
    {
        std::vector<std::pair<std::size_t, std::size_t>> out;
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(m_code, nullptr);
        std::size_t pos = 0;
        while (pos <= text.size()) {
            const int rc = pcre2_match(
                m_code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
            if (rc < 0)
                break;
            const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            const std::size_t b = ov[0], e = ov[1];
            if (e == b) { // empty match: step over one code point
                std::size_t next = b + 1;
                while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80)
                    ++next;
                pos = next;
                continue;
            }
            out.emplace_back(b, e);
            pos = e;
        }
        pcre2_match_data_free(md);
        return out;
    }

private:
    pcre2_code *m_code = nullptr;
};

const std::string kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const std::string kMetaspace = "\xE2\x96\x81"; // U+2581 '▁'

// GPT-2's reversible byte -> printable code point table.
struct ByteAlphabet {
    std::array<std::string, 256> toChar;
    std::unordered_map<std::string, unsigned char> toByte;
    ByteAlphabet()
    {
        int n = 0;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            const char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
            toChar[b] = utf8::encode(cp);
            toByte[toChar[b]] = static_cast<unsigned char>(b);
        }
    }
};
const ByteAlphabet &byteAlphabet()
{
    static const ByteAlphabet alphabet;
    return alphabet;
}

struct AddedToken {
    int64_t id = 0;
    std::string content;
    bool special = false;
};

struct NormOp {
    enum Kind { Nfc, Nfd, Nfkc, Nfkd, Lowercase, Prepend, Replace, ReplaceRegex, Strip } kind;
    std::string a, b;
    std::shared_ptr<Regex> re;
    bool left = false, right = false;
};

enum class SplitBehavior { Isolated, Removed, MergedWithPrevious, MergedWithNext };

struct PreOp {
    enum Kind { ByteLevel, Split, Metaspace, Digits } kind;
    bool addPrefixSpace = false;
    bool useRegex = true;
    std::shared_ptr<Regex> re;
    SplitBehavior behavior = SplitBehavior::Isolated;
    std::string replacement = kMetaspace;
    std::string prependScheme = "always"; // always | first | never
    bool split = true;
    bool individualDigits = false;
};

struct DecOp {
    enum Kind { ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace } kind;
    std::string a, b;
    int start = 0, stop = 0;
    bool prefixSpace = true;
};

std::vector<std::pair<std::size_t, std::size_t>> splitBy(std::string_view text, const Regex &re, SplitBehavior how)
{
    // Returns [begin, end) pieces of `text` according to the split behaviour.
    std::vector<std::pair<std::size_t, std::size_t>> pieces;
    std::size_t last = 0;
    std::size_t pendingStart = std::string::npos; // for MergedWithNext
    for (auto [b, e] : re.findAll(text)) {
        switch (how) {
        case SplitBehavior::Isolated:
            if (b > last)
                pieces.emplace_back(last, b);
            pieces.emplace_back(b, e);
            break;
        case SplitBehavior::Removed:
            if (b > last)
                pieces.emplace_back(last, b);
            break;
        case SplitBehavior::MergedWithPrevious:
            pieces.emplace_back(last, e);
            break;
        case SplitBehavior::MergedWithNext:
            if (b > last)
                pieces.emplace_back(pendingStart == std::string::npos ? last : pendingStart, b);
            pendingStart = b;
            break;
        }
        last = e;
    }
    if (how == SplitBehavior::MergedWithNext && pendingStart != std::string::npos)
        last = pendingStart;
    if (last < text.size())
        pieces.emplace_back(last, text.size());
    return pieces;
}

} // namespace

struct Tokenizer::Impl {
    std::string source;
    // Model
    std::unordered_map<std::string, int64_t> vocab;
    std::vector<std::string> idToToken;
    std::unordered_map<uint64_t, std::pair<int, int64_t>> merges; // (a,b) -> (rank, merged id)
    std::optional<int64_t> unkId;
    bool byteFallback = false;
    bool fuseUnk = false;
    bool ignoreMerges = false;
    std::array<int64_t, 256> byteTokens {};
    // Pipeline
    std::vector<AddedToken> added; // longest content first
    std::vector<NormOp> normalizers;
    std::vector<PreOp> preTokenizers;
    std::vector<DecOp> decoders;
    std::vector<std::variant<int64_t, int>> postTemplate; // id, or 0 for the sequence
    bool hasPostTemplate = false;
    std::optional<int64_t> bos, eos;
    std::vector<bool> special;

    static uint64_t pairKey(int64_t a, int64_t b)
    {
        return (static_cast<uint64_t>(a) << 32) | static_cast<uint64_t>(b);
    }

    void setToken(int64_t id, const std::string &token)
    {
        if (id < 0 || id > (1 << 26))
            bad(source, "token id " + std::to_string(id) + " for '" + token + "' is out of range");
        if (static_cast<std::size_t>(id) >= idToToken.size()) {
            idToToken.resize(id + 1);
            special.resize(id + 1, false);
        }
        idToToken[id] = token;
        vocab[token] = id;
    }

    /// Ids index a table: they must be nearly dense, or a short file could make it gigabytes
    /// (one token with id 2^26 is 2 GiB of empty strings). `count` ids are about to be set, the
    /// largest `maxId`; a gap of kMaxIdGap beyond them (and the ids already set) is allowed.
    void checkIdsDense(int64_t maxId, std::size_t count, const std::string &what) const
    {
        constexpr int64_t kMaxIdGap = 1 << 16;
        const int64_t room = static_cast<int64_t>(std::max(count, idToToken.size())) + kMaxIdGap;
        if (maxId >= room)
            bad(source,
                what + ": token id " + std::to_string(maxId) + " is far beyond the " + std::to_string(count)
                    + " tokens listed (ids must number the vocabulary from 0 without large gaps)");
    }

    void addMerge(std::string_view a, std::string_view b, int rank)
    {
        // One buffer for every lookup: a Llama-3 file has 280k merges, three lookups each.
        mergeScratch.assign(a);
        const auto ia = vocab.find(mergeScratch);
        mergeScratch.append(b);
        const auto im = vocab.find(mergeScratch);
        mergeScratch.assign(b);
        const auto ib = vocab.find(mergeScratch);
        if (ia == vocab.end() || ib == vocab.end() || im == vocab.end())
            return; // unusable merge (HF refuses such files; we simply never apply it)
        merges.emplace(pairKey(ia->second, ib->second), std::make_pair(rank, im->second));
    }
    std::string mergeScratch;

    void finishModel()
    {
        byteTokens.fill(-1);
        for (int b = 0; b < 256; ++b) {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);
            const auto it = vocab.find(name);
            if (it != vocab.end())
                byteTokens[b] = it->second;
        }
        std::sort(added.begin(), added.end(),
            [](const AddedToken &x, const AddedToken &y) { return x.content.size() > y.content.size(); });
    }

    // Applies merges in rank order, leftmost first among equal ranks (as the reference does),
    // with a heap of candidate pairs over a linked list of symbols: O(n log n) per word, which
    // matters for SentencePiece-style tokenizers where a whole text segment is one "word".
    // Negative entries are unknown characters and never merge.
    void mergeSymbols(std::vector<int64_t> &sym) const
    {
        const int n = static_cast<int>(sym.size());
        if (n < 2)
            return;
        std::vector<int> prev(n), next(n);
        for (int i = 0; i < n; ++i) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        struct Candidate {
            int rank;
            int left;
            int64_t leftId, rightId;
            bool operator>(const Candidate &o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
        };
        std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
        auto consider = [&](int left) {
            if (left < 0 || next[left] < 0)
                return;
            const int64_t a = sym[left], b = sym[next[left]];
            if (a < 0 || b < 0)
                return;
            const auto it = merges.find(pairKey(a, b));
            if (it != merges.end())
                heap.push({it->second.first, left, a, b});
        };
        for (int i = 0; i + 1 < n; ++i)
            consider(i);
        std::vector<bool> alive(n, true);
        while (!heap.empty()) {
            const Candidate c = heap.top();
            heap.pop();
            const int right = next[c.left];
            if (!alive[c.left] || right < 0 || sym[c.left] != c.leftId || sym[right] != c.rightId)
                continue; // stale: one side was merged away since this pair was queued
            sym[c.left] = merges.at(pairKey(c.leftId, c.rightId)).second;
            alive[right] = false;
            next[c.left] = next[right];
            if (next[right] >= 0)
                prev[next[right]] = c.left;
            consider(prev[c.left]);
            consider(c.left);
        }
        std::vector<int64_t> out;
        for (int i = 0; i >= 0 && i < n; i = next[i])
            out.push_back(sym[i]);
        sym.swap(out);
    }

    // BPE over one pre-tokenized word; appends ids.
    void bpeWord(const std::string &word, std::vector<int64_t> &out) const
    {
        if (word.empty())
            return;
        if (ignoreMerges) {
            const auto it = vocab.find(word);
            if (it != vocab.end()) {
                out.push_back(it->second);
                return;
            }
        }
        const auto chars = utf8::splitCodePoints(word);
        std::vector<int64_t> sym(chars.size());
        for (std::size_t i = 0; i < chars.size(); ++i) {
            const auto it = vocab.find(chars[i]);
            sym[i] = it == vocab.end() ? -1 - static_cast<int64_t>(i) : it->second; // negative: unknown char i
        }
        mergeSymbols(sym);
        bool lastWasUnk = false;
        for (int64_t s : sym) {
            if (s >= 0) {
                out.push_back(s);
                lastWasUnk = false;
                continue;
            }
            const std::string &ch = chars[static_cast<std::size_t>(-1 - s)];
            if (byteFallback) {
                bool all = true;
                for (unsigned char c : ch)
                    all = all && byteTokens[c] >= 0;
                if (all) {
                    for (unsigned char c : ch)
                        out.push_back(byteTokens[c]);
                    lastWasUnk = false;
                    continue;
                }
            }
            if (!unkId)
                throw Error(ErrorKind::InvalidArgument,
                    "cannot encode character '" + ch
                        + "': not in the vocabulary and the tokenizer has no unknown token");
            if (!(fuseUnk && lastWasUnk))
                out.push_back(*unkId);
            lastWasUnk = true;
        }
    }

    std::string normalizeText(std::string text) const
    {
        for (const auto &op : normalizers) {
            switch (op.kind) {
            case NormOp::Nfc:
                text = utf8::normalize(text, utf8::NormalForm::NFC);
                break;
            case NormOp::Nfd:
                text = utf8::normalize(text, utf8::NormalForm::NFD);
                break;
            case NormOp::Nfkc:
                text = utf8::normalize(text, utf8::NormalForm::NFKC);
                break;
            case NormOp::Nfkd:
                text = utf8::normalize(text, utf8::NormalForm::NFKD);
                break;
            case NormOp::Lowercase:
                text = utf8::toLower(text);
                break;
            case NormOp::Prepend:
                if (!text.empty())
                    text = op.a + text;
                break;
            case NormOp::Replace: {
                if (op.a.empty())
                    break;
                std::string out;
                std::size_t pos = 0, hit;
                while ((hit = text.find(op.a, pos)) != std::string::npos) {
                    out.append(text, pos, hit - pos);
                    out += op.b;
                    pos = hit + op.a.size();
                }
                out.append(text, pos);
                text.swap(out);
                break;
            }
            case NormOp::ReplaceRegex: {
                std::string out;
                std::size_t last = 0;
                for (auto [b, e] : op.re->findAll(text)) {
                    out.append(text, last, b - last);
                    out += op.b;
                    last = e;
                }
                out.append(text, last);
                text.swap(out);
                break;
            }
            case NormOp::Strip: {
                std::size_t b = 0, e = text.size();
                if (op.left)
                    while (b < e && std::isspace(static_cast<unsigned char>(text[b])))
                        ++b;
                if (op.right)
                    while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1])))
                        --e;
                text = text.substr(b, e - b);
                break;
            }
            }
        }
        return text;
    }

    std::vector<std::string> preTokenize(std::string text, bool firstSegment) const
    {
        std::vector<std::string> pieces {std::move(text)};
        for (const auto &op : preTokenizers) {
            std::vector<std::string> next;
            for (auto &piece : pieces) {
                switch (op.kind) {
                case PreOp::ByteLevel: {
                    if (op.addPrefixSpace && !piece.empty() && piece[0] != ' ')
                        piece = " " + piece;
                    static const Regex gpt2(kGpt2Pattern, "GPT-2 pre-tokenizer");
                    std::vector<std::pair<std::size_t, std::size_t>> spans;
                    if (op.useRegex)
                        spans = splitBy(piece, gpt2, SplitBehavior::Isolated);
                    else
                        spans.emplace_back(0, piece.size());
                    const auto &alpha = byteAlphabet();
                    for (auto [b, e] : spans) {
                        std::string mapped;
                        for (std::size_t i = b; i < e; ++i)
                            mapped += alpha.toChar[static_cast<unsigned char>(piece[i])];
                        next.push_back(std::move(mapped));
                    }
                    break;
                }
                case PreOp::Split:
                    for (auto [b, e] : splitBy(piece, *op.re, op.behavior))
                        next.push_back(piece.substr(b, e - b));
                    break;
                case PreOp::Digits: {
                    static const Regex digits(R"(\p{N}+)", "Digits pre-tokenizer");
                    static const Regex digit(R"(\p{N})", "Digits pre-tokenizer");
                    for (auto [b, e] : splitBy(piece, op.individualDigits ? digit : digits, SplitBehavior::Isolated))
                        next.push_back(piece.substr(b, e - b));
                    break;
                }
                case PreOp::Metaspace: {
                    std::string replaced;
                    for (char c : piece) {
                        if (c == ' ')
                            replaced += op.replacement;
                        else
                            replaced += c;
                    }
                    const bool prepend = op.prependScheme == "always" || (op.prependScheme == "first" && firstSegment);
                    if (prepend && replaced.rfind(op.replacement, 0) != 0)
                        replaced = op.replacement + replaced;
                    if (!op.split) {
                        next.push_back(std::move(replaced));
                        break;
                    }
                    std::size_t start = 0;
                    for (std::size_t pos = replaced.find(op.replacement, 1); pos != std::string::npos;
                         pos = replaced.find(op.replacement, pos + 1)) {
                        next.push_back(replaced.substr(start, pos - start));
                        start = pos;
                    }
                    next.push_back(replaced.substr(start));
                    break;
                }
                }
            }
            pieces.swap(next);
        }
        return pieces;
    }

    std::vector<int64_t> encodePlain(const std::string &segment, bool firstSegment) const
    {
        std::vector<int64_t> ids;
        for (const auto &word : preTokenize(normalizeText(segment), firstSegment))
            bpeWord(word, ids);
        return ids;
    }

    std::vector<int64_t> encode(std::string_view rawText) const
    {
        const std::string text = utf8::sanitize(rawText);
        std::vector<int64_t> ids;
        std::size_t segStart = 0;
        bool first = true;
        auto flush = [&](std::size_t end) {
            if (end > segStart) {
                const auto part = encodePlain(text.substr(segStart, end - segStart), first);
                ids.insert(ids.end(), part.begin(), part.end());
                first = false;
            }
        };
        for (std::size_t i = 0; i < text.size();) {
            const AddedToken *hit = nullptr;
            for (const auto &tok : added) {
                if (!tok.content.empty() && text.compare(i, tok.content.size(), tok.content) == 0) {
                    hit = &tok;
                    break;
                }
            }
            if (!hit) {
                ++i;
                continue;
            }
            flush(i);
            ids.push_back(hit->id);
            first = false;
            i += hit->content.size();
            segStart = i;
        }
        flush(text.size());
        return ids;
    }

    std::string decode(const std::vector<int64_t> &ids, bool skipSpecial) const
    {
        std::vector<std::string> tokens;
        tokens.reserve(ids.size());
        for (int64_t id : ids) {
            if (id < 0 || static_cast<std::size_t>(id) >= idToToken.size() || idToToken[id].empty())
                throw Error(ErrorKind::InvalidArgument, "token id " + std::to_string(id) + " is not in the vocabulary");
            if (skipSpecial && special[id])
                continue;
            tokens.push_back(idToToken[id]);
        }
        for (const auto &op : decoders) {
            switch (op.kind) {
            case DecOp::ByteLevel: {
                const auto &alpha = byteAlphabet();
                for (auto &t : tokens) {
                    std::string bytes;
                    for (const auto &ch : utf8::splitCodePoints(t)) {
                        const auto it = alpha.toByte.find(ch);
                        if (it != alpha.toByte.end())
                            bytes += static_cast<char>(it->second);
                        else
                            bytes += ch;
                    }
                    t.swap(bytes);
                }
                // Bytes of one character may be split across tokens: repair after joining.
                std::string joined;
                for (const auto &t : tokens)
                    joined += t;
                tokens.assign(1, utf8::sanitize(joined));
                break;
            }
            case DecOp::Replace:
                for (auto &t : tokens) {
                    std::string out;
                    std::size_t pos = 0, hit;
                    while (!op.a.empty() && (hit = t.find(op.a, pos)) != std::string::npos) {
                        out.append(t, pos, hit - pos);
                        out += op.b;
                        pos = hit + op.a.size();
                    }
                    out.append(t, pos);
                    t.swap(out);
                }
                break;
            case DecOp::ByteFallback: {
                std::vector<std::string> out;
                std::string pending;
                int pendingCount = 0;
                auto flushBytes = [&] {
                    if (pendingCount == 0)
                        return;
                    if (utf8::isValid(pending)) {
                        out.push_back(pending);
                    } else {
                        for (int k = 0; k < pendingCount; ++k)
                            out.emplace_back("\xEF\xBF\xBD");
                    }
                    pending.clear();
                    pendingCount = 0;
                };
                for (auto &t : tokens) {
                    unsigned value = 0;
                    if (t.size() == 6 && t.rfind("<0x", 0) == 0 && t[5] == '>'
                        && std::sscanf(t.c_str() + 3, "%2X", &value) == 1) {
                        pending += static_cast<char>(value);
                        ++pendingCount;
                        continue;
                    }
                    flushBytes();
                    out.push_back(std::move(t));
                }
                flushBytes();
                tokens.swap(out);
                break;
            }
            case DecOp::Fuse: {
                std::string joined;
                for (const auto &t : tokens)
                    joined += t;
                tokens.assign(1, std::move(joined));
                break;
            }
            case DecOp::Strip:
                if (op.a.empty())
                    break; // nothing to strip (and the loops below would not advance)
                for (auto &t : tokens) {
                    int s = 0;
                    std::size_t b = 0, e = t.size();
                    while (s < op.start && b < e && t.compare(b, op.a.size(), op.a) == 0) {
                        b += op.a.size();
                        ++s;
                    }
                    s = 0;
                    while (s < op.stop && e >= b + op.a.size() && t.compare(e - op.a.size(), op.a.size(), op.a) == 0) {
                        e -= op.a.size();
                        ++s;
                    }
                    t = t.substr(b, e - b);
                }
                break;
            case DecOp::Metaspace:
                for (std::size_t i = 0; i < tokens.size(); ++i) {
                    std::string out;
                    std::size_t pos = 0, hit;
                    while ((hit = tokens[i].find(op.a, pos)) != std::string::npos) {
                        out.append(tokens[i], pos, hit - pos);
                        out += ' ';
                        pos = hit + op.a.size();
                    }
                    out.append(tokens[i], pos);
                    if (i == 0 && op.prefixSpace && !out.empty() && out[0] == ' ')
                        out.erase(0, 1);
                    tokens[i].swap(out);
                }
                break;
            }
        }
        std::string text;
        for (const auto &t : tokens)
            text += t;
        return utf8::sanitize(text);
    }
};

namespace {

std::string patternString(const json &pattern, const std::string &source, bool &isRegex)
{
    if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string()) {
        isRegex = false;
        return pattern["String"].get<std::string>();
    }
    if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string()) {
        isRegex = true;
        return pattern["Regex"].get<std::string>();
    }
    bad(source, "pattern must be {\"String\": ...} or {\"Regex\": ...}");
}

// A token id written in the file: a whole number (a float such as 1e20 converted to an integer
// is undefined behaviour) in the range setToken accepts.
int64_t tokenIdValue(const json &v, const std::string &source, const std::string &what)
{
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > (1 << 26))
        bad(source, what + ": token id " + v.dump() + " is not a whole number from 0 to 67108864");
    return v.get<int64_t>();
}

std::string quoteRegex(const std::string &literal)
{
    std::string out = "\\Q";
    out += literal;
    out += "\\E";
    return out;
}

void parseNormalizer(const json &n, Tokenizer::Impl &t)
{
    if (n.is_null())
        return;
    const std::string type = n.value("type", "");
    if (type == "Sequence") {
        for (const auto &child : n.value("normalizers", json::array()))
            parseNormalizer(child, t);
    } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
        t.normalizers.push_back({type == "NFC" ? NormOp::Nfc
                : type == "NFD"                ? NormOp::Nfd
                : type == "NFKC"               ? NormOp::Nfkc
                                               : NormOp::Nfkd});
    } else if (type == "Lowercase") {
        t.normalizers.push_back({NormOp::Lowercase});
    } else if (type == "Prepend") {
        t.normalizers.push_back({NormOp::Prepend, n.value("prepend", "")});
    } else if (type == "Replace") {
        bool isRegex = false;
        const auto pat = patternString(n.value("pattern", json()), t.source, isRegex);
        NormOp op {isRegex ? NormOp::ReplaceRegex : NormOp::Replace, pat, n.value("content", "")};
        if (isRegex)
            op.re = std::make_shared<Regex>(pat, t.source);
        t.normalizers.push_back(op);
    } else if (type == "Strip") {
        NormOp op {NormOp::Strip};
        op.left = n.value("strip_left", true);
        op.right = n.value("strip_right", true);
        t.normalizers.push_back(op);
    } else {
        bad(t.source,
            "unsupported normalizer '" + type
                + "' (supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip)");
    }
}

void parsePreTokenizer(const json &p, Tokenizer::Impl &t)
{
    if (p.is_null())
        return;
    const std::string type = p.value("type", "");
    if (type == "Sequence") {
        for (const auto &child : p.value("pretokenizers", json::array()))
            parsePreTokenizer(child, t);
    } else if (type == "ByteLevel") {
        PreOp op {PreOp::ByteLevel};
        op.addPrefixSpace = p.value("add_prefix_space", false);
        op.useRegex = p.value("use_regex", true);
        t.preTokenizers.push_back(op);
    } else if (type == "Split") {
        PreOp op {PreOp::Split};
        bool isRegex = false;
        const auto pat = patternString(p.value("pattern", json()), t.source, isRegex);
        op.re = std::make_shared<Regex>(isRegex ? pat : quoteRegex(pat), t.source);
        const std::string behavior = p.value("behavior", "Isolated");
        if (p.value("invert", false))
            bad(t.source, "Split pre-tokenizer with invert=true is not supported");
        if (behavior == "Isolated")
            op.behavior = SplitBehavior::Isolated;
        else if (behavior == "Removed")
            op.behavior = SplitBehavior::Removed;
        else if (behavior == "MergedWithPrevious")
            op.behavior = SplitBehavior::MergedWithPrevious;
        else if (behavior == "MergedWithNext")
            op.behavior = SplitBehavior::MergedWithNext;
        else
            bad(t.source, "unsupported Split behavior '" + behavior + "'");
        t.preTokenizers.push_back(op);
    } else if (type == "Metaspace") {
        PreOp op {PreOp::Metaspace};
        op.replacement = p.value("replacement", kMetaspace);
        if (p.contains("prepend_scheme") && p["prepend_scheme"].is_string())
            op.prependScheme = p["prepend_scheme"].get<std::string>();
        else
            op.prependScheme = p.value("add_prefix_space", true) ? "always" : "never";
        op.split = p.value("split", true);
        t.preTokenizers.push_back(op);
    } else if (type == "Digits") {
        PreOp op {PreOp::Digits};
        op.individualDigits = p.value("individual_digits", false);
        t.preTokenizers.push_back(op);
    } else {
        bad(t.source,
            "unsupported pre_tokenizer '" + type + "' (supported: Sequence, ByteLevel, Split, Metaspace, Digits)");
    }
}

void parseDecoder(const json &d, Tokenizer::Impl &t)
{
    if (d.is_null())
        return;
    const std::string type = d.value("type", "");
    if (type == "Sequence") {
        for (const auto &child : d.value("decoders", json::array()))
            parseDecoder(child, t);
    } else if (type == "ByteLevel") {
        t.decoders.push_back({DecOp::ByteLevel});
    } else if (type == "Replace") {
        bool isRegex = false;
        const auto pat = patternString(d.value("pattern", json()), t.source, isRegex);
        if (isRegex)
            bad(t.source, "Replace decoder with a regex pattern is not supported");
        t.decoders.push_back({DecOp::Replace, pat, d.value("content", "")});
    } else if (type == "ByteFallback") {
        t.decoders.push_back({DecOp::ByteFallback});
    } else if (type == "Fuse") {
        t.decoders.push_back({DecOp::Fuse});
    } else if (type == "Strip") {
        DecOp op {DecOp::Strip, d.value("content", " ")};
        // Counts of `content` to strip (usize in Hugging Face's tokenizers). Read checked: a float
        // such as 1e300 converted to int is undefined behaviour.
        const auto count = [&](const char *key) {
            if (!d.contains(key) || d[key].is_null())
                return 0;
            if (!d[key].is_number_integer() || d[key].get<int64_t>() < 0 || d[key].get<int64_t>() > (1 << 20))
                bad(t.source, std::string("Strip decoder: \"") + key + "\" must be a whole number from 0 to 1048576");
            return static_cast<int>(d[key].get<int64_t>());
        };
        op.start = count("start");
        op.stop = count("stop");
        t.decoders.push_back(op);
    } else if (type == "Metaspace") {
        DecOp op {DecOp::Metaspace, d.value("replacement", kMetaspace)};
        if (d.contains("prepend_scheme") && d["prepend_scheme"].is_string())
            op.prefixSpace = d["prepend_scheme"].get<std::string>() != "never";
        else
            op.prefixSpace = d.value("add_prefix_space", true);
        t.decoders.push_back(op);
    } else {
        bad(t.source,
            "unsupported decoder '" + type
                + "' (supported: Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace)");
    }
}

void parsePostProcessor(const json &p, Tokenizer::Impl &t)
{
    if (p.is_null())
        return;
    const std::string type = p.value("type", "");
    if (type == "Sequence") {
        for (const auto &child : p.value("processors", json::array()))
            parsePostProcessor(child, t);
    } else if (type == "ByteLevel") {
        // Adjusts offsets only; ids are unchanged.
    } else if (type == "TemplateProcessing") {
        t.hasPostTemplate = true;
        const auto specials = p.value("special_tokens", json::object());
        for (const auto &item : p.value("single", json::array())) {
            if (item.contains("SpecialToken")) {
                const std::string name = item["SpecialToken"].value("id", "");
                if (!specials.contains(name) || !specials[name].contains("ids"))
                    bad(t.source, "post_processor template names unknown special token '" + name + "'");
                for (const auto &id : specials[name]["ids"])
                    t.postTemplate.emplace_back(tokenIdValue(id, t.source, "post_processor"));
            } else if (item.contains("Sequence")) {
                t.postTemplate.emplace_back(0);
            }
        }
    } else {
        bad(t.source, "unsupported post_processor '" + type + "' (supported: TemplateProcessing, ByteLevel, Sequence)");
    }
}

// model.vocab and model.merges of a tokenizer.json as read by the streaming reader below: a
// Llama-3 file holds 128k tokens and 280k merges, and building a JSON tree of them costs far
// more than the tokenizer's own tables.
struct StreamedModel {
    bool hasVocab = false; // model.vocab was an object
    std::vector<std::pair<std::string, int64_t>> vocab; // in file order
    std::string vocabError; // the first entry that is not token -> integer id
    /// In rank order: the two tokens joined by one space, and where the space is (tokens may
    /// hold spaces themselves when a merge was given as a pair).
    std::vector<std::pair<std::string, std::size_t>> merges;
    std::string mergeError; // the first merge that is neither "a b" nor ["a", "b"]
};

void parseBpeModel(const json &m, StreamedModel &streamed, Tokenizer::Impl &t)
{
    if (!m.is_object())
        bad(t.source, "\"model\" is missing");
    const std::string type = m.value("type", "BPE");
    if (type != "BPE")
        bad(t.source, "unsupported tokenizer model '" + type + "' (supported: BPE)");
    if (!streamed.hasVocab)
        bad(t.source, "model.vocab must be an object of token -> id");
    if (!streamed.vocabError.empty())
        bad(t.source, streamed.vocabError);
    int64_t maxId = -1;
    for (const auto &entry : streamed.vocab)
        maxId = std::max(maxId, entry.second);
    t.checkIdsDense(maxId, streamed.vocab.size(), "model.vocab");
    t.vocab.reserve(streamed.vocab.size() + 512);
    if (maxId >= 0 && static_cast<std::size_t>(maxId) >= t.idToToken.size()) {
        t.idToToken.resize(maxId + 1);
        t.special.resize(maxId + 1, false);
    }
    for (auto &[token, id] : streamed.vocab)
        t.setToken(id, token);
    for (const char *key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        if (m.contains(key) && m[key].is_string() && !m[key].get<std::string>().empty())
            bad(t.source, std::string("BPE option ") + key + " is not supported");
    }
    if (m.contains("dropout") && m["dropout"].is_number() && m["dropout"].get<double>() > 0)
        bad(t.source, "BPE dropout is not supported (deterministic tokenisation is required)");
    t.byteFallback = m.value("byte_fallback", false);
    t.fuseUnk = m.value("fuse_unk", false);
    t.ignoreMerges = m.value("ignore_merges", false);
    if (m.contains("unk_token") && m["unk_token"].is_string()) {
        const auto it = t.vocab.find(m["unk_token"].get<std::string>());
        if (it != t.vocab.end())
            t.unkId = it->second;
    }
    if (!streamed.mergeError.empty())
        bad(t.source, streamed.mergeError);
    t.merges.reserve(streamed.merges.size());
    int rank = 0;
    for (const auto &[joined, space] : streamed.merges) {
        const std::string_view both(joined);
        t.addMerge(both.substr(0, space), both.substr(space + 1), rank++);
    }
}

// Reads tokenizer.json in one pass: model.vocab and model.merges go straight into a
// StreamedModel, everything else (normaliser, pre-tokeniser, added tokens, ...) into a JSON
// tree as json::parse would build it.
class TokenizerJsonReader : public nlohmann::json_sax<json>
{
public:
    json root;
    StreamedModel model;
    std::string error; // the parser's message when the text is not JSON

    bool null() override { return value(json()); }
    bool boolean(bool v) override { return value(v); }
    bool number_integer(number_integer_t v) override
    {
        if (m_mode == Mode::Vocab) {
            model.vocab.emplace_back(std::move(m_key), v);
            return true;
        }
        return value(v);
    }
    bool number_unsigned(number_unsigned_t v) override
    {
        if (m_mode == Mode::Vocab) {
            if (v > static_cast<number_unsigned_t>(std::numeric_limits<int64_t>::max()))
                return vocabEntryNotAnId();
            model.vocab.emplace_back(std::move(m_key), static_cast<int64_t>(v));
            return true;
        }
        return value(v);
    }
    bool number_float(number_float_t v, const string_t &) override
    {
        if (m_mode == Mode::Vocab)
            return vocabEntryNotAnId();
        return value(v);
    }
    bool string(string_t &v) override
    {
        if (m_mode == Mode::Vocab)
            return vocabEntryNotAnId();
        if (m_mode == Mode::Merges) {
            const auto space = v.find(' ', 1);
            if (space == std::string::npos)
                return mergeIsBad("merge '" + v + "' is not two tokens separated by a space");
            model.merges.emplace_back(std::move(v), space);
            return true;
        }
        if (m_mode == Mode::MergePair) {
            m_pair.push_back(std::move(v));
            return m_pair.size() <= 2 || mergeIsBad(neitherForm());
        }
        return value(std::move(v));
    }
    bool binary(binary_t &) override { return false; }
    bool start_object(std::size_t) override
    {
        if (m_mode == Mode::Vocab)
            return vocabEntryNotAnId();
        if (m_mode == Mode::Merges || m_mode == Mode::MergePair)
            return mergeIsBad(neitherForm());
        if (m_stack.size() == 2 && m_inModel && m_key == "vocab") {
            model.hasVocab = true;
            model.vocab.clear();
            m_mode = Mode::Vocab;
            return true;
        }
        return open(json::object());
    }
    bool end_object() override
    {
        if (m_mode == Mode::Vocab) {
            m_mode = Mode::Tree;
            return true;
        }
        return close();
    }
    bool start_array(std::size_t) override
    {
        if (m_mode == Mode::Vocab)
            return vocabEntryNotAnId();
        if (m_mode == Mode::Merges) {
            m_mode = Mode::MergePair;
            m_pair.clear();
            return true;
        }
        if (m_mode == Mode::MergePair)
            return mergeIsBad(neitherForm());
        if (m_stack.size() == 2 && m_inModel && m_key == "merges") {
            model.merges.clear();
            m_mode = Mode::Merges;
            return true;
        }
        return open(json::array());
    }
    bool end_array() override
    {
        if (m_mode == Mode::MergePair) {
            if (m_pair.size() != 2)
                return mergeIsBad(neitherForm());
            const std::size_t space = m_pair[0].size();
            model.merges.emplace_back(std::move(m_pair[0].append(" ").append(m_pair[1])), space);
            m_mode = Mode::Merges;
            return true;
        }
        if (m_mode == Mode::Merges) {
            m_mode = Mode::Tree;
            return true;
        }
        return close();
    }
    bool key(string_t &k) override
    {
        m_key = std::move(k);
        return true;
    }
    bool parse_error(std::size_t, const std::string &, const nlohmann::detail::exception &e) override
    {
        error = jsonErrorText(e);
        return false;
    }

private:
    enum class Mode { Tree, Vocab, Merges, MergePair };

    bool value(json v)
    {
        if (m_mode != Mode::Tree) // a number, bool or null where a merge was expected
            return m_mode == Mode::Vocab ? vocabEntryNotAnId() : mergeIsBad(neitherForm());
        insert(std::move(v));
        return true;
    }
    json *insert(json v)
    {
        if (m_stack.empty()) {
            root = std::move(v);
            return &root;
        }
        json &top = *m_stack.back();
        if (top.is_array()) {
            top.push_back(std::move(v));
            return &top.back();
        }
        json &slot = top[m_key];
        slot = std::move(v);
        return &slot;
    }
    bool open(json container)
    {
        const bool model = m_stack.size() == 1 && m_key == "model" && container.is_object();
        // Children are only appended to the innermost container, so the pointers to the
        // enclosing ones stay valid.
        m_stack.push_back(insert(std::move(container)));
        if (model)
            m_inModel = true;
        return true;
    }
    bool close()
    {
        if (m_stack.empty())
            return false;
        if (m_stack.size() == 2)
            m_inModel = false;
        m_stack.pop_back();
        return true;
    }
    bool vocabEntryNotAnId()
    {
        if (model.vocabError.empty())
            model.vocabError = "model.vocab id for '" + m_key + "' is not an integer";
        m_mode = Mode::Tree;
        return false;
    }
    std::string neitherForm() const
    {
        return "merge #" + std::to_string(model.merges.size()) + " is neither \"a b\" nor [\"a\", \"b\"]";
    }
    bool mergeIsBad(const std::string &why)
    {
        if (model.mergeError.empty())
            model.mergeError = why;
        m_mode = Mode::Tree;
        return false;
    }

    std::vector<json *> m_stack; // the open containers, outermost first
    std::string m_key; // the key of the value being read
    bool m_inModel = false; // the innermost container but one is the root's "model" object
    Mode m_mode = Mode::Tree;
    std::vector<std::string> m_pair; // the strings of a merge given as an array
};

std::optional<std::string> specialTokenName(const json &config, const char *key)
{
    if (!config.contains(key))
        return std::nullopt;
    const auto &v = config[key];
    if (v.is_string())
        return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string())
        return v["content"].get<std::string>();
    return std::nullopt;
}

} // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl)
    : d(std::move(impl))
{
}
Tokenizer::Tokenizer(Tokenizer &&) noexcept = default;
Tokenizer &Tokenizer::operator=(Tokenizer &&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::fromTokenizerJsonText(const std::string &text, const std::string &source)
{
    auto impl = std::make_unique<Impl>();
    impl->source = source;
    TokenizerJsonReader reader;
    const bool complete = json::sax_parse(text, &reader);
    if (!reader.model.vocabError.empty() && reader.root.is_object() && reader.root.contains("model"))
        bad(source, reader.model.vocabError);
    if (!reader.model.mergeError.empty() && reader.model.hasVocab)
        bad(source, reader.model.mergeError);
    if (!complete || !reader.error.empty())
        bad(source, "not valid JSON: " + (reader.error.empty() ? std::string("unexpected structure") : reader.error));
    json &j = reader.root;
    if (!j.is_object())
        bad(source, "not a JSON object");
    try {
        parseBpeModel(j.value("model", json()), reader.model, *impl);
        const json added = j.value("added_tokens", json::array());
        for (const auto &a : added) {
            AddedToken tok;
            tok.id = tokenIdValue(a.at("id"), impl->source, "added_tokens");
            impl->checkIdsDense(tok.id, added.size(), "added_tokens");
            tok.content = a.at("content").get<std::string>();
            tok.special = a.value("special", false);
            impl->setToken(tok.id, tok.content);
            impl->special[tok.id] = tok.special;
            impl->added.push_back(tok);
        }
        parseNormalizer(j.value("normalizer", json()), *impl);
        parsePreTokenizer(j.value("pre_tokenizer", json()), *impl);
        parseDecoder(j.value("decoder", json()), *impl);
        parsePostProcessor(j.value("post_processor", json()), *impl);
    } catch (const json::exception &e) {
        bad(source, "unexpected structure: " + jsonErrorText(e));
    }
    impl->finishModel();
    return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::fromTokenizerJson(const std::filesystem::path &file)
{
    return fromTokenizerJsonText(readTextFile(file), file.string());
}

Tokenizer Tokenizer::fromVocabMerges(const std::filesystem::path &vocabJson, const std::filesystem::path &mergesTxt)
{
    auto impl = std::make_unique<Impl>();
    impl->source = vocabJson.string();
    json vocab;
    try {
        vocab = json::parse(readTextFile(vocabJson));
    } catch (const json::exception &e) { // parse_error; out_of_range for numbers beyond double
        bad(vocabJson.string(), "not valid JSON: " + jsonErrorText(e));
    }
    if (!vocab.is_object())
        bad(vocabJson.string(), "must be a JSON object of token -> id");
    int64_t maxId = -1;
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
        if (!it.value().is_number_integer())
            bad(vocabJson.string(), "id for '" + it.key() + "' is not an integer");
        maxId = std::max(maxId, it.value().get<int64_t>());
    }
    impl->checkIdsDense(maxId, vocab.size(), "vocab.json");
    for (auto it = vocab.begin(); it != vocab.end(); ++it)
        impl->setToken(it.value().get<int64_t>(), it.key());
    std::ifstream in(mergesTxt);
    if (!in)
        throw Error(ErrorKind::Io, "cannot open " + mergesTxt.string());
    std::string line;
    int rank = 0, lineNo = 0;
    while (std::getline(in, line)) {
        ++lineNo;
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.empty() || (lineNo == 1 && line.rfind("#version", 0) == 0))
            continue;
        const auto space = line.find(' ');
        if (space == std::string::npos || space == 0)
            bad(mergesTxt.string(), "line " + std::to_string(lineNo) + " is not two tokens separated by a space");
        impl->addMerge(line.substr(0, space), line.substr(space + 1), rank++);
    }
    impl->preTokenizers.push_back({PreOp::ByteLevel});
    impl->decoders.push_back({DecOp::ByteLevel});
    const auto eot = impl->vocab.find("<|endoftext|>");
    if (eot != impl->vocab.end()) {
        impl->added.push_back({eot->second, "<|endoftext|>", true});
        impl->special[eot->second] = true;
        impl->bos = impl->eos = eot->second;
    }
    impl->finishModel();
    return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::fromDirectory(const std::filesystem::path &dir)
{
    std::optional<Tokenizer> tok;
    if (std::filesystem::exists(dir / "tokenizer.json"))
        tok.emplace(fromTokenizerJson(dir / "tokenizer.json"));
    else if (std::filesystem::exists(dir / "vocab.json") && std::filesystem::exists(dir / "merges.txt"))
        tok.emplace(fromVocabMerges(dir / "vocab.json", dir / "merges.txt"));
    else if (std::filesystem::exists(dir / "tokenizer.model"))
        throw Error(ErrorKind::InvalidTokenizer,
            "only a SentencePiece tokenizer.model is in " + dir.string()
                + "; Engram reads tokenizer.json (save the tokenizer with transformers to create one)");
    else
        throw Error(ErrorKind::InvalidTokenizer, "no tokenizer.json or vocab.json + merges.txt in " + dir.string());

    const auto configPath = dir / "tokenizer_config.json";
    if (std::filesystem::exists(configPath)) {
        try {
            const json config = json::parse(readTextFile(configPath));
            if (const auto bos = specialTokenName(config, "bos_token"))
                if (auto id = tok->tokenId(*bos))
                    tok->d->bos = id;
            if (const auto eos = specialTokenName(config, "eos_token"))
                if (auto id = tok->tokenId(*eos))
                    tok->d->eos = id;
        } catch (const json::exception &e) {
            bad(configPath.string(), "not valid JSON: " + jsonErrorText(e));
        }
    }
    return std::move(*tok);
}

std::vector<int64_t> Tokenizer::encode(std::string_view text, bool addSpecialTokens) const
{
    std::vector<int64_t> ids = d->encode(text);
    if (!addSpecialTokens || !d->hasPostTemplate)
        return ids;
    std::vector<int64_t> out;
    for (const auto &item : d->postTemplate) {
        if (std::holds_alternative<int>(item))
            out.insert(out.end(), ids.begin(), ids.end());
        else
            out.push_back(std::get<int64_t>(item));
    }
    return out;
}

std::string Tokenizer::decodeAfter(const std::vector<int64_t> &prompt, const std::vector<int64_t> &tokens) const
{
    std::vector<int64_t> all = prompt;
    all.insert(all.end(), tokens.begin(), tokens.end());
    const std::string full = decode(all, /*skipSpecialTokens=*/true);
    const std::string head = decode(prompt, /*skipSpecialTokens=*/true);
    return full.rfind(head, 0) == 0 ? full.substr(head.size()) : decode(tokens, true);
}

std::string Tokenizer::decode(const std::vector<int64_t> &ids, bool skipSpecialTokens) const
{
    return d->decode(ids, skipSpecialTokens);
}

int64_t Tokenizer::vocabSize() const
{
    return static_cast<int64_t>(d->idToToken.size());
}

std::string Tokenizer::tokenString(int64_t id) const
{
    if (id < 0 || static_cast<std::size_t>(id) >= d->idToToken.size())
        return {};
    return d->idToToken[id];
}

std::optional<int64_t> Tokenizer::tokenId(const std::string &token) const
{
    const auto it = d->vocab.find(token);
    if (it == d->vocab.end())
        return std::nullopt;
    return it->second;
}

bool Tokenizer::isSpecial(int64_t id) const
{
    return id >= 0 && static_cast<std::size_t>(id) < d->special.size() && d->special[id];
}

std::optional<int64_t> Tokenizer::bosTokenId() const
{
    return d->bos;
}
std::optional<int64_t> Tokenizer::eosTokenId() const
{
    return d->eos;
}

namespace {
// Streams tokenizer.json and notes the two facts kindName() depends on: a ByteLevel step in
// the pre-tokenizer and model.byte_fallback. Keeps only the key path.
class KindPeek : public nlohmann::json_sax<json>
{
public:
    bool byteLevel = false, byteFallback = false, preTokenizerSeen = false, stoppedEarly = false;

    bool null() override { return value(); }
    bool boolean(bool v) override
    {
        if (v && m_path.size() == 2 && m_path[1] == "model" && m_key == "byte_fallback")
            byteFallback = true;
        return value();
    }
    bool number_integer(number_integer_t) override { return value(); }
    bool number_unsigned(number_unsigned_t) override { return value(); }
    bool number_float(number_float_t, const string_t &) override { return value(); }
    bool string(string_t &v) override
    {
        if (m_key == "type" && v == "ByteLevel" && m_path.size() >= 2 && m_path[1] == "pre_tokenizer")
            byteLevel = true;
        return value();
    }
    bool binary(binary_t &) override { return value(); }
    bool start_object(std::size_t) override { return open(); }
    bool end_object() override { return close(); }
    bool start_array(std::size_t) override { return open(); }
    bool end_array() override { return close(); }
    bool key(string_t &k) override
    {
        m_key = k;
        // The vocabulary and merges are most of the file: skip them when nothing is missing.
        if (m_path.size() == 2 && m_path[1] == "model" && (k == "vocab" || k == "merges") && preTokenizerSeen) {
            stoppedEarly = true;
            return false;
        }
        return true;
    }
    bool parse_error(std::size_t, const std::string &, const nlohmann::detail::exception &) override { return false; }

private:
    bool value()
    {
        if (m_path.size() == 1 && m_key == "pre_tokenizer")
            preTokenizerSeen = true;
        return true;
    }
    bool open()
    {
        m_path.push_back(m_key);
        m_key.clear();
        return true;
    }
    bool close()
    {
        if (m_path.empty())
            return false;
        if (m_path.size() == 2 && m_path[1] == "pre_tokenizer")
            preTokenizerSeen = true;
        m_path.pop_back();
        m_key.clear();
        return true;
    }
    std::vector<std::string> m_path; // keys of the open containers: "" for the root and inside arrays
    std::string m_key; // the key of the value being read
};
} // namespace

std::string Tokenizer::peekKind(const std::filesystem::path &dir)
{
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::exists(dir / "tokenizer.json", ec)) {
        std::ifstream in(dir / "tokenizer.json", std::ios::binary);
        if (!in)
            return {};
        KindPeek peek;
        const bool complete = json::sax_parse(in, &peek);
        if (!complete && !peek.stoppedEarly)
            return {};
        if (peek.byteLevel)
            return "byte-level BPE";
        return peek.byteFallback ? "SentencePiece BPE (byte fallback)" : "BPE";
    }
    if (fs::exists(dir / "vocab.json", ec) && fs::exists(dir / "merges.txt", ec))
        return "byte-level BPE";
    return {};
}

std::string Tokenizer::kindName() const
{
    for (const auto &op : d->preTokenizers)
        if (op.kind == PreOp::ByteLevel)
            return "byte-level BPE";
    return d->byteFallback ? "SentencePiece BPE (byte fallback)" : "BPE";
}

} // namespace engram
