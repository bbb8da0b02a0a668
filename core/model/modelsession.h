#pragma once
// ModelSession: a loaded model with its tokenizer behind a torch-free interface, for the
// CLI and the UI. Text in, text out; token ids as plain vectors.
//
// Thread-safety: generate() may run on a worker thread; one call at a time per session.

#include "core/model/generator.h"
#include "core/model/loadoptions.h"
#include "core/model/modelinfo.h"

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace engram {

class Transformer;
class Tokenizer;

struct TextGeneration {
    std::vector<int64_t> promptTokens; // including any BOS the tokenizer adds
    std::vector<int64_t> generatedTokens;
    std::string continuation; // decoded generated tokens only
    bool stoppedOnToken = false;
};

class ModelSession
{
public:
    /// Loads weights and tokenizer from a Hugging Face directory. Throws engram::Error.
    static std::unique_ptr<ModelSession> open(const std::filesystem::path &dir, const LoadOptions &options = {});
    ~ModelSession();

    const CheckpointSummary &summary() const { return m_summary; }
    std::vector<int64_t> encode(const std::string &text, bool addSpecialTokens = true) const;
    std::string decode(const std::vector<int64_t> &ids, bool skipSpecialTokens = true) const;

    /// Continues `prompt`; stops at the model's EOS unless params.stopTokens is set.
    TextGeneration generate(
        const std::string &prompt, GenerationParams params, const std::function<bool(int64_t)> &onToken = {}) const;

    Transformer &model() { return *m_model; }
    const Transformer &model() const { return *m_model; }
    const Tokenizer &tokenizer() const { return *m_tokenizer; }

private:
    ModelSession() = default;
    static std::unique_ptr<ModelSession> openUnchecked(const std::filesystem::path &dir, const LoadOptions &options);
    TextGeneration generateUnchecked(
        const std::string &prompt, GenerationParams params, const std::function<bool(int64_t)> &onToken) const;
    CheckpointSummary m_summary;
    std::unique_ptr<Transformer> m_model;
    std::unique_ptr<Tokenizer> m_tokenizer;
};

} // namespace engram
