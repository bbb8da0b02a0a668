#pragma once
// Error type used throughout engram_core.
//
// Core code throws engram::Error for expected failures (bad files, unsupported
// configurations, shape mismatches). Each carries a machine-checkable ErrorKind and a
// message written for the user: what went wrong, where (file, tensor, line) and, where
// possible, what to do. Job and CLI boundaries catch it; nothing throws into Qt's loop.

#include <stdexcept>
#include <string>

namespace engram {

enum class ErrorKind {
    Io, // file missing, unreadable, unwritable
    CorruptFile, // structure of a file is invalid (header, JSON, offsets)
    UnsupportedArchitecture, // config.json names a model_type we do not implement
    InvalidConfig, // config.json is missing fields or has inconsistent values
    MissingTensor, // a tensor the architecture needs is not in the checkpoint
    ShapeMismatch, // a tensor's shape disagrees with the config
    DTypeMismatch, // unsupported or inconsistent element type
    InvalidTokenizer, // tokenizer files are malformed or unsupported
    InvalidArgument, // caller passed something out of range
    Unsupported, // valid request that this build cannot do (e.g. CUDA absent)
    Runtime, // a computation failed (LibTorch error, out of memory)
    Cancelled, // the user (or a job's owner) cancelled the work; nothing was half-written
    Conflict, // the request conflicts with the project (facts that contradict each other); nothing changed
};

const char *errorKindName(ErrorKind kind);

/// A JSON parser's exception as a sentence for the user: without the library's
/// "[json.exception.…]" tag, and a number beyond double range (1e400) said as such. Callers
/// put the file and field in front.
std::string jsonErrorText(const std::exception &e);

class Error : public std::runtime_error
{
public:
    Error(ErrorKind kind, const std::string &message)
        : std::runtime_error(message)
        , m_kind(kind)
    {
    }
    ErrorKind kind() const noexcept { return m_kind; }

private:
    ErrorKind m_kind;
};

} // namespace engram
