#include "core/text/subjecttokens.h"

#include "core/text/tokenizer.h"
#include "core/util/error.h"

namespace engram {
namespace {

std::string strip(const std::string &s)
{
    const auto b = s.find_first_not_of(" \t\n\r");
    if (b == std::string::npos)
        return {};
    const auto e = s.find_last_not_of(" \t\n\r");
    return s.substr(b, e - b + 1);
}

std::size_t placeholder(const std::string &promptTemplate)
{
    const auto at = promptTemplate.find("{}");
    if (at == std::string::npos || promptTemplate.find("{}", at + 2) != std::string::npos)
        throw Error(ErrorKind::InvalidArgument,
            "prompt template \"" + promptTemplate + "\" must contain exactly one {} where the subject goes");
    return at;
}

} // namespace

std::string fillTemplate(const std::string &promptTemplate, const std::string &subject)
{
    const auto at = placeholder(promptTemplate);
    return promptTemplate.substr(0, at) + subject + promptTemplate.substr(at + 2);
}

SubjectSpan locateSubject(const Tokenizer &tokenizer, const std::string &promptTemplate, const std::string &subject)
{
    const auto at = placeholder(promptTemplate);
    if (strip(subject).empty())
        throw Error(ErrorKind::InvalidArgument, "the subject for \"" + promptTemplate + "\" is empty");
    std::string prefix = promptTemplate.substr(0, at);
    const std::string suffix = promptTemplate.substr(at + 2);
    std::string word = subject;
    if (!prefix.empty()) {
        if (prefix.back() != ' ')
            throw Error(ErrorKind::InvalidArgument,
                "in prompt template \"" + promptTemplate + "\" the text before {} must end with a space");
        prefix.pop_back();
        word = " " + strip(subject);
    }
    const auto P = static_cast<int64_t>(tokenizer.encode(prefix).size());
    const auto S = static_cast<int64_t>(tokenizer.encode(word).size());
    const auto Q = static_cast<int64_t>(tokenizer.encode(suffix).size());
    SubjectSpan span;
    span.first = P;
    span.last = P + S - 1;
    span.firstAfter = Q == 0 ? P + S - 1 : P + S;
    span.promptTokens = P + S + Q;
    return span;
}

} // namespace engram
