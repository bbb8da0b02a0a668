// tokenizer.json (core/text/tokenizer.h): Tokenizer::fromTokenizerJsonText, then, when it loads,
// encoding and decoding of a few texts (ASCII, multi-byte, ill-formed UTF-8, special-token
// text) and of raw ids; Tokenizer::peekKind's streaming pass over the same bytes as a file.

#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "fuzz/support.h"

#include <string>
#include <vector>

using namespace engram;

namespace {

const char *const kTexts[] = {
    "Hello world",
    " this is \xF0\x9F\xA6\x99.cpp, 3333333\n\tna\xC3\xAFve caf\xC3\xA9",
    "\xFF\xFE broken \xE2\x82 utf-8 \xC0\xAF",
    "<|endoftext|><s></s> [UNK]",
    "",
};

void exercise(const Tokenizer &tok)
{
    fuzz::consume(static_cast<uint64_t>(tok.vocabSize()) + tok.kindName().size());
    std::vector<int64_t> previous;
    for (const char *text : kTexts) {
        for (bool special : {false, true}) {
            try {
                const std::vector<int64_t> ids = tok.encode(text, special);
                fuzz::consume(tok.decode(ids).size() + tok.decode(ids, true).size());
                fuzz::consume(tok.decodeAfter(previous, ids).size());
                previous = ids;
            } catch (const Error &) {
            }
        }
    }
    // Raw ids: the first few, the last, and ones out of range.
    std::vector<int64_t> ids;
    for (int64_t id = 0; id < tok.vocabSize() && id < 64; ++id)
        ids.push_back(id);
    ids.push_back(tok.vocabSize() - 1);
    for (int64_t id : ids) {
        const std::string s = tok.tokenString(id);
        fuzz::consume(s.size() + tok.isSpecial(id) + tok.tokenId(s).value_or(0));
        try {
            fuzz::consume(tok.decode({id}).size());
        } catch (const Error &) {
        }
    }
    try {
        fuzz::consume(tok.decode(ids, true).size());
    } catch (const Error &) {
    }
    for (int64_t bad : {int64_t(-1), tok.vocabSize(), int64_t(1) << 40}) {
        try {
            fuzz::consume(tok.decode({bad}).size());
        } catch (const Error &) {
        }
        fuzz::consume(tok.tokenString(bad).size() + tok.isSpecial(bad));
    }
    fuzz::consume(static_cast<uint64_t>(tok.bosTokenId().value_or(0) + tok.eosTokenId().value_or(0)));
}

} // namespace

static int testOne(const uint8_t *data, size_t size)
{
    const std::string text(reinterpret_cast<const char *>(data), size);
    try {
        const Tokenizer tok = Tokenizer::fromTokenizerJsonText(text, "fuzz/tokenizer.json");
        exercise(tok);
    } catch (const Error &) {
    }
    static const std::filesystem::path dir = [] {
        auto d = fuzz::scratchDir() / "peek";
        std::filesystem::create_directories(d);
        return d;
    }();
    fuzz::writeScratch("peek/tokenizer.json", text);
    fuzz::consume(Tokenizer::peekKind(dir).size());
    return 0;
}

ENGRAM_FUZZ_TARGET(testOne)
