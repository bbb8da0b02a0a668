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

std::string jsonErrorText(const std::exception &e)
{
    std::string text = e.what();
    if (text.rfind("[json.exception.", 0) == 0) {
        const auto close = text.find("] ");
        if (close != std::string::npos)
            text.erase(0, close + 2);
    }
    const std::string overflow = "number overflow parsing ";
    if (const auto at = text.find(overflow); at != std::string::npos) {
        std::string number = text.substr(at + overflow.size());
        if (number.size() >= 2 && number.front() == '\'' && number.back() == '\'')
            number = number.substr(1, number.size() - 2);
        return "the number " + number + " is beyond the range of a double";
    }
    return text;
}

} // namespace engram
