#include "t2s/trace/redact.hpp"

#include <algorithm>
#include <string_view>

#include "t2s/core/error.hpp"

namespace t2s::trace {

namespace {

struct Span {
  std::size_t begin, end;
  std::string_view kind;
};

bool is_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_key_char(char c) { return is_alnum(c) || c == '_' || c == '-'; }
bool is_token_char(char c) { return is_key_char(c) || c == '.' || c == '~' || c == '+' || c == '/' || c == '='; }
bool is_upper_or_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); }

template <typename Pred>
std::size_t run_length(std::string_view text, std::size_t from, Pred pred) {
  std::size_t end = from;
  while (end < text.size() && pred(text[end])) ++end;
  return end - from;
}

// A provider key: a literal prefix at a word start, then at least `min_tail` characters of the key's
// alphabet (the whole run is the secret).
struct KeyFormat {
  std::string_view prefix, kind;
  std::size_t min_tail;
  bool (*alphabet)(char);
};

constexpr KeyFormat kKeyFormats[] = {
    {"sk-", "api-key", 20, is_key_char},          // OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), others
    {"AKIA", "aws-access-key", 16, is_upper_or_digit},
    {"ASIA", "aws-access-key", 16, is_upper_or_digit},
    {"ghp_", "github-token", 30, is_alnum},
    {"gho_", "github-token", 30, is_alnum},
    {"ghu_", "github-token", 30, is_alnum},
    {"ghs_", "github-token", 30, is_alnum},
    {"ghr_", "github-token", 30, is_alnum},
    {"github_pat_", "github-token", 20, is_key_char},
    {"glpat-", "gitlab-token", 20, is_key_char},
    {"AIza", "google-api-key", 30, is_key_char},
    {"xoxb-", "slack-token", 10, is_key_char},
    {"xoxp-", "slack-token", 10, is_key_char},
    {"xoxa-", "slack-token", 10, is_key_char},
    {"xoxr-", "slack-token", 10, is_key_char},
    {"xoxs-", "slack-token", 10, is_key_char},
    {"hf_", "huggingface-token", 30, is_alnum},
};

void find_keys(std::string_view text, std::vector<Span>& spans) {
  for (const auto& format : kKeyFormats) {
    for (std::size_t at = text.find(format.prefix); at != std::string_view::npos;
         at = text.find(format.prefix, at + 1)) {
      if (at > 0 && is_key_char(text[at - 1])) continue;  // inside a word: "task-...", "mask-..."
      const std::size_t tail = run_length(text, at + format.prefix.size(), format.alphabet);
      if (tail < format.min_tail) continue;
      spans.push_back({at, at + format.prefix.size() + tail, format.kind});
    }
  }
}

// "Bearer <token>" in any letter case: the token is the secret.
void find_bearer_tokens(std::string_view text, std::vector<Span>& spans) {
  for (std::size_t at = text.find("earer"); at != std::string_view::npos; at = text.find("earer", at + 1)) {
    if (at == 0 || (text[at - 1] != 'B' && text[at - 1] != 'b')) continue;
    if (at >= 2 && is_alnum(text[at - 2])) continue;
    std::size_t start = at + 5;
    const std::size_t spaces = run_length(text, start, [](char c) { return c == ' ' || c == '\t'; });
    if (spaces == 0) continue;
    start += spaces;
    const std::size_t length = run_length(text, start, is_token_char);
    if (length >= 16) spans.push_back({start, start + length, "bearer-token"});
  }
}

// PEM private-key blocks, BEGIN to END (or to the end of the text when the END line is missing).
void find_private_keys(std::string_view text, std::vector<Span>& spans) {
  for (std::size_t at = text.find("-----BEGIN "); at != std::string_view::npos; at = text.find("-----BEGIN ", at + 1)) {
    const std::size_t line_end = text.find("-----", at + 11);
    if (line_end == std::string_view::npos) break;
    const std::string_view label = text.substr(at + 11, line_end - (at + 11));
    if (label.size() > 40 || label.find("PRIVATE KEY") == std::string_view::npos) continue;
    std::size_t end = text.find("-----END ", line_end);
    if (end == std::string_view::npos) {
      end = text.size();
    } else {
      const std::size_t close = text.find("-----", end + 9);
      end = close == std::string_view::npos ? text.size() : close + 5;
    }
    spans.push_back({at, end, "private-key"});
  }
}

// scheme://user:password@host — the password is the secret.
void find_url_passwords(std::string_view text, std::vector<Span>& spans) {
  for (std::size_t at = text.find("://"); at != std::string_view::npos; at = text.find("://", at + 1)) {
    const std::size_t user_begin = at + 3;
    std::size_t end = user_begin;
    while (end < text.size() && end - user_begin < 512) {
      const char c = text[end];
      if (c == '@' || c == '/' || c == ' ' || c == '\n' || c == '"' || c == '\'' || c == '\t' || c == '<' || c == '>') break;
      ++end;
    }
    if (end >= text.size() || text[end] != '@') continue;
    const std::size_t colon = text.find(':', user_begin);
    if (colon == std::string_view::npos || colon >= end || colon + 1 == end) continue;
    spans.push_back({colon + 1, end, "url-password"});
  }
}

}  // namespace

void Redactor::add_pattern(const std::string& kind, const std::string& regex) {
  std::regex compiled;
  try {
    compiled = std::regex(regex, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw InputError("redaction pattern \"" + kind + "\": invalid regular expression: " + e.what());
  }
  if (std::regex_match(std::string(), compiled))
    throw InputError("redaction pattern \"" + kind + "\" matches the empty string");
  extra_.push_back({kind, std::move(compiled)});
}

std::size_t Redactor::redact(std::string& text) const {
  std::vector<Span> spans;
  find_keys(text, spans);
  find_bearer_tokens(text, spans);
  find_private_keys(text, spans);
  find_url_passwords(text, spans);
  for (const auto& pattern : extra_) {
    for (auto it = std::sregex_iterator(text.begin(), text.end(), pattern.regex); it != std::sregex_iterator(); ++it)
      if (it->length() > 0)
        spans.push_back({static_cast<std::size_t>(it->position()), static_cast<std::size_t>(it->position() + it->length()),
                         pattern.kind});
  }
  if (spans.empty()) return 0;
  // Overlapping finds (a key inside a private-key block) count once, as the outermost.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
  });
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0, count = 0;
  for (const auto& span : spans) {
    if (span.begin < copied) continue;
    out.append(text, copied, span.begin - copied);
    out.append("[REDACTED:").append(span.kind).append("]");
    copied = span.end;
    ++count;
  }
  out.append(text, copied, std::string::npos);
  text = std::move(out);
  return count;
}

}  // namespace t2s::trace
