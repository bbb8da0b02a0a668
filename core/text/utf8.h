#pragma once
// UTF-8 helpers for the tokenizers (Qt-free).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace engram::utf8 {

/// Replaces every ill-formed subsequence with U+FFFD using the "maximal subpart" rule of
/// the Unicode standard (what Python's decode(errors="replace") and Rust's
/// from_utf8_lossy do). Valid input is returned unchanged.
std::string sanitize(std::string_view bytes);
bool isValid(std::string_view bytes);
/// Splits valid UTF-8 into code points, each as its own UTF-8 string.
std::vector<std::string> splitCodePoints(std::string_view text);
/// Encodes one code point.
std::string encode(char32_t cp);
/// Decodes valid UTF-8 into code points.
std::u32string decode(std::string_view text);

enum class NormalForm { NFC, NFD, NFKC, NFKD };
/// Unicode normalisation (utf8proc). Input must be valid UTF-8.
std::string normalize(std::string_view text, NormalForm form);
std::string toLower(std::string_view text);

} // namespace engram::utf8
