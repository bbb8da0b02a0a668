// GPT-2's vocab.json + merges.txt pair (Tokenizer::fromVocabMerges). The input is split at the
// first "\n#merges\n" line: vocab.json before it, merges.txt after it (no separator: all of it
// is vocab.json and merges.txt is empty). On success a few texts are encoded and decoded.

#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "fuzz/support.h"

#include <string>
#include <string_view>

using namespace engram;

static int testOne(const uint8_t *data, size_t size)
{
    const std::string_view input(reinterpret_cast<const char *>(data), size);
    static const std::string_view kSeparator = "\n#merges\n";
    const std::size_t at = input.find(kSeparator);
    const std::string_view vocab = input.substr(0, at);
    const std::string_view merges = at == std::string_view::npos ? std::string_view() : input.substr(at + kSeparator.size());
    const auto vocabPath = fuzz::writeScratch("vocab.json", vocab);
    const auto mergesPath = fuzz::writeScratch("merges.txt", merges);
    try {
        const Tokenizer tok = Tokenizer::fromVocabMerges(vocabPath, mergesPath);
        fuzz::consume(static_cast<uint64_t>(tok.vocabSize()) + tok.kindName().size());
        for (const char *text : {"Hello world", " 3333333 caf\xC3\xA9 \xF0\x9F\xA6\x99\n", "\xFF\xC0 x<|endoftext|>"}) {
            try {
                const auto ids = tok.encode(text, true);
                fuzz::consume(tok.decode(ids).size() + tok.decode(ids, true).size());
            } catch (const Error &) {
            }
        }
    } catch (const Error &) {
    }
    return 0;
}

ENGRAM_FUZZ_TARGET(testOne)
