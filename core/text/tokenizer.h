#pragma once
// Tokenizer: BPE as written in Hugging Face tokenizer.json files, covering
//  - byte-level BPE (GPT-2, GPT-J, GPT-NeoX, Llama 3, Qwen2): ByteLevel pre-tokenizer
//    with the GPT-2 split rules or a Split regex, byte-to-unicode alphabet;
//  - SentencePiece-style BPE with byte fallback (Llama 1/2, Mistral): Prepend/Replace
//    normalizers or Metaspace, <0xXX> byte tokens, decoder that strips the leading space;
// and GPT-2's legacy vocab.json + merges.txt pair.
//
// Text is UTF-8. Ill-formed input is first repaired to U+FFFD per maximal subpart, as
// Python's bytes.decode(errors="replace") does before a reference tokenizer sees it; valid
// input round-trips exactly: decode(encode(s)) == s for every well-formed s (given
// add_prefix_space=false and no added-token text). Decoding byte sequences that are not
// valid UTF-8 yields U+FFFD the same way.
//
// Thread-safety: immutable after construction; encode/decode may run concurrently.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace engram {

class Tokenizer
{
public:
    /// tokenizer.json when present, else vocab.json + merges.txt. Throws engram::Error.
    static Tokenizer fromDirectory(const std::filesystem::path &dir);
    static Tokenizer fromTokenizerJson(const std::filesystem::path &file);
    static Tokenizer fromTokenizerJsonText(const std::string &json, const std::string &source);
    static Tokenizer fromVocabMerges(const std::filesystem::path &vocabJson, const std::filesystem::path &mergesTxt);

    Tokenizer(Tokenizer &&) noexcept;
    Tokenizer &operator=(Tokenizer &&) noexcept;
    ~Tokenizer();

    /// Token ids of `text`. With addSpecialTokens, the post-processor's template is
    /// applied (e.g. Llama's leading <s>); GPT-2-style tokenizers add nothing.
    std::vector<int64_t> encode(std::string_view text, bool addSpecialTokens = false) const;
    /// Text of `ids`; special (added) tokens are dropped when skipSpecialTokens.
    std::string decode(const std::vector<int64_t> &ids, bool skipSpecialTokens = false) const;
    /// Text of `tokens` as it reads after `prompt` (special tokens dropped): decoded in context,
    /// since decoders that strip a leading space (SentencePiece) or merge bytes across tokens
    /// would garble a continuation decoded on its own.
    std::string decodeAfter(const std::vector<int64_t> &prompt, const std::vector<int64_t> &tokens) const;

    /// Vocabulary size including added tokens (max id + 1).
    int64_t vocabSize() const;
    /// The raw vocabulary string of `id` ("Ġthe", "▁the", "<0x0A>"); empty if unknown.
    std::string tokenString(int64_t id) const;
    std::optional<int64_t> tokenId(const std::string &tokenString) const;
    bool isSpecial(int64_t id) const;
    std::optional<int64_t> bosTokenId() const;
    std::optional<int64_t> eosTokenId() const;
    /// "byte-level BPE" or "SentencePiece BPE (byte fallback)", for display.
    std::string kindName() const;
    /// What kindName() of fromDirectory(dir) says, read without building the tokenizer: a
    /// streaming pass over tokenizer.json that keeps nothing and stops at the vocabulary once
    /// the pre-tokenizer has been seen (a Llama-3 tokenizer.json in milliseconds). Empty when
    /// the directory has no tokenizer this program reads or the file is not JSON; a tokenizer
    /// the full load refuses (an unsupported pre-tokenizer) is reported by that load.
    static std::string peekKind(const std::filesystem::path &dir);

    struct Impl;

private:
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> d;
};

} // namespace engram
