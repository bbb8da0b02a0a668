#include "core/text/utf8.h"

#include "core/util/error.h"

#include <cstdlib>
#include <utf8proc.h>

namespace engram::utf8 {
namespace {

// Length of the well-formed sequence starting at s[i], or the length of the maximal
// subpart to replace (>= 1) with valid=false.
std::size_t scan(std::string_view s, std::size_t i, bool &valid)
{
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    valid = false;
    if (c < 0x80) {
        valid = true;
        return 1;
    }
    int need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 1;
    }
    std::size_t k = 1;
    for (; k <= static_cast<std::size_t>(need); ++k) {
        if (i + k >= s.size())
            return k;
        const unsigned char t = b(i + k);
        const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (t < l || t > h)
            return k;
    }
    valid = true;
    return k;
}

} // namespace

bool isValid(std::string_view bytes)
{
    for (std::size_t i = 0; i < bytes.size();) {
        bool ok = false;
        i += scan(bytes, i, ok);
        if (!ok)
            return false;
    }
    return true;
}

std::string sanitize(std::string_view bytes)
{
    std::string out;
    out.reserve(bytes.size());
    for (std::size_t i = 0; i < bytes.size();) {
        bool ok = false;
        const std::size_t n = scan(bytes, i, ok);
        if (ok)
            out.append(bytes.substr(i, n));
        else
            out += "\xEF\xBF\xBD";
        i += n;
    }
    return out;
}

std::vector<std::string> splitCodePoints(std::string_view text)
{
    std::vector<std::string> out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        bool ok = false;
        const std::size_t n = scan(text, i, ok);
        out.emplace_back(text.substr(i, n));
        i += n;
    }
    return out;
}

std::string encode(char32_t cp)
{
    std::string out;
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return out;
}

std::u32string decode(std::string_view text)
{
    std::u32string out;
    for (std::size_t i = 0; i < text.size();) {
        utf8proc_int32_t cp = 0;
        const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t *>(text.data() + i),
            static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
        if (n <= 0) {
            out += U'\uFFFD';
            ++i;
            continue;
        }
        out += static_cast<char32_t>(cp);
        i += static_cast<std::size_t>(n);
    }
    return out;
}

std::string normalize(std::string_view text, NormalForm form)
{
    int options = UTF8PROC_STABLE;
    switch (form) {
    case NormalForm::NFC:
        options |= UTF8PROC_COMPOSE;
        break;
    case NormalForm::NFD:
        options |= UTF8PROC_DECOMPOSE;
        break;
    case NormalForm::NFKC:
        options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
        break;
    case NormalForm::NFKD:
        options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
        break;
    }
    utf8proc_uint8_t *result = nullptr;
    const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t *>(text.data()),
        static_cast<utf8proc_ssize_t>(text.size()), &result, static_cast<utf8proc_option_t>(options));
    if (n < 0)
        throw Error(ErrorKind::InvalidArgument, std::string("Unicode normalisation failed: ") + utf8proc_errmsg(n));
    std::string out(reinterpret_cast<const char *>(result), static_cast<std::size_t>(n));
    std::free(result);
    return out;
}

std::string toLower(std::string_view text)
{
    std::string out;
    for (char32_t cp : decode(text))
        out += encode(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
    return out;
}

} // namespace engram::utf8
