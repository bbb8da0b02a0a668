#include "core/util/error.h"

namespace engram {

const char *errorKindName(ErrorKind kind)
{
    switch (kind) {
    case ErrorKind::Io:
        return "io";
    case ErrorKind::CorruptFile:
        return "corrupt-file";
    case ErrorKind::UnsupportedArchitecture:
        return "unsupported-architecture";
    case ErrorKind::InvalidConfig:
        return "invalid-config";
    case ErrorKind::MissingTensor:
        return "missing-tensor";
    case ErrorKind::ShapeMismatch:
        return "shape-mismatch";
    case ErrorKind::DTypeMismatch:
        return "dtype-mismatch";
    case ErrorKind::InvalidTokenizer:
        return "invalid-tokenizer";
    case ErrorKind::InvalidArgument:
        return "invalid-argument";
    case ErrorKind::Unsupported:
        return "unsupported";
    case ErrorKind::Runtime:
        return "runtime";
    case ErrorKind::Cancelled:
        return "cancelled";
    case ErrorKind::Conflict:
        return "conflict";
    }
    return "unknown";
}

} // namespace engram
