// core/text: small text helpers shared by readers and reports.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace t2s {

// Index of the first byte that is not part of valid UTF-8, or npos when all of `text` is valid.
std::size_t find_invalid_utf8(std::string_view text);

// `text` with every invalid UTF-8 sequence replaced by U+FFFD.
std::string repair_utf8(std::string_view text);

// At most `max_bytes` of `text`, cut on a character boundary, with "…" appended when cut.
std::string abbreviate(std::string_view text, std::size_t max_bytes);

// A Markdown code fence (backticks) longer than any run of backticks in `text`, so that `text`
// cannot close it: for quoting untrusted text in a prompt.
std::string markdown_fence(std::string_view text);

// The pieces of `text` between separators, empty ones included ("a||b" → a, "", b; "" → one "").
std::vector<std::string> split(std::string_view text, char separator);

// "4.1 MB", "512 B": decimal units, for people.
std::string format_bytes(std::uint64_t bytes);

}  // namespace t2s

namespace t2s {
// Standard base64 (RFC 4648) with padding.
std::string base64(std::string_view bytes);
}  // namespace t2s
