#include "t2s/trace/redact.hpp"

#include <re2/re2.h>

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

// Whether a secret may start at `at`: not in the middle of a word. A backslash escape written out
// in JSON or a log ("\\nsk-...", "\\tBearer") ends the word before it.
bool at_word_start(std::string_view text, std::size_t at) {
  if (at == 0 || !is_key_char(text[at - 1])) return true;
  return at >= 2 && text[at - 2] == '\\';
}

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
      if (!at_word_start(text, at)) continue;  // inside a word: "task-...", "mask-..."
      const std::size_t tail = run_length(text, at + format.prefix.size(), format.alphabet);
      if (tail < format.min_tail) continue;
      spans.push_back({at, at + format.prefix.size() + tail, format.kind});
    }
  }
}

// "Bearer <token>" in any letter case: the token is the secret. A token has a digit, an upper-case
// letter or punctuation: "the bearer responsibilities" is prose.
void find_bearer_tokens(std::string_view text, std::vector<Span>& spans) {
  for (std::size_t at = text.find("earer"); at != std::string_view::npos; at = text.find("earer", at + 1)) {
    if (at == 0 || (text[at - 1] != 'B' && text[at - 1] != 'b')) continue;
    if (!at_word_start(text, at - 1)) continue;
    std::size_t start = at + 5;
    const std::size_t spaces = run_length(text, start, [](char c) { return c == ' ' || c == '\t'; });
    if (spaces == 0) continue;
    start += spaces;
    const std::size_t length = run_length(text, start, is_token_char);
    const std::string_view token = text.substr(start, length);
    const bool token_like = std::any_of(token.begin(), token.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || !is_alnum(c);
    });
    if (length >= 16 && token_like) spans.push_back({start, start + length, "bearer-token"});
  }
}

// JSON Web Tokens: three base64url parts, the first "eyJ" (an encoded '{"').
void find_jwts(std::string_view text, std::vector<Span>& spans) {
  auto is_b64url = [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '='; };
  for (std::size_t at = text.find("eyJ"); at != std::string_view::npos; at = text.find("eyJ", at + 1)) {
    if (!at_word_start(text, at)) continue;
    std::size_t end = at;
    int parts = 0;
    for (; parts < 3; ++parts) {
      const std::size_t length = run_length(text, end, is_b64url);
      if (length < 8) break;
      end += length;
      if (parts < 2) {
        if (end >= text.size() || text[end] != '.') break;
        ++end;
      }
    }
    if (parts == 3) spans.push_back({at, end, "jwt"});
  }
}

// Values assigned to names that say they are secret: `password=...`, `"api_key": "..."`,
// `AWS_SECRET_ACCESS_KEY=...`. The value (8 or more characters) is the secret.
void find_assigned_secrets(std::string_view text, std::vector<Span>& spans) {
  static constexpr std::string_view kNames[] = {"password", "passwd", "secret", "api_key", "apikey", "api-key",
                                                "access_token", "auth_token", "private_key"};
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const auto name : kNames) {
    for (std::size_t at = lower.find(name); at != std::string::npos; at = lower.find(name, at + 1)) {
      // The rest of the key (AWS_SECRET_ACCESS_KEY), a closing quote, then '=' or ':'.
      std::size_t i = at + name.size() + run_length(text, at + name.size(), is_key_char);
      i += run_length(text, i, [](char c) { return c == '"' || c == '\'' || c == ' '; });
      if (i >= text.size() || (text[i] != '=' && text[i] != ':')) continue;
      ++i;
      i += run_length(text, i, [](char c) { return c == ' ' || c == '"' || c == '\''; });
      const std::size_t length = run_length(text, i, [](char c) {
        return c != ' ' && c != '"' && c != '\'' && c != '\n' && c != '\r' && c != '\t' && c != ',' && c != ';' &&
               c != '}' && c != '&' && c != '\\';
      });
      if (length >= 8) spans.push_back({i, i + length, "secret-value"});
    }
  }
}

// PEM private-key blocks, BEGIN to END (or to the end of the text when the END line is missing).
void find_private_keys(std::string_view text, std::vector<Span>& spans) {
  for (std::size_t at = text.find("-----BEGIN "); at != std::string_view::npos; at = text.find("-----BEGIN ", at + 1)) {
    const std::size_t line_end = text.find("-----", at + 11);
    if (line_end == std::string_view::npos) break;
    const std::string_view label = text.substr(at + 11, line_end - (at + 11));
    if (label.size() > 40 || label.find("PRIVATE KEY") == std::string_view::npos) continue;
    const std::size_t end = text.find("-----END ", line_end);
    if (end == std::string_view::npos) {
      spans.push_back({at, text.size(), "private-key"});
      break;  // everything after is redacted already: searching on would be quadratic
    }
    const std::size_t close = text.find("-----", end + 9);
    spans.push_back({at, close == std::string_view::npos ? text.size() : close + 5, "private-key"});
    at = end;
  }
}

// scheme://user:password@host — the password is the secret. It runs to the last '@' before the
// end of the URL, since real passwords contain '@' and '/' (over-redacting is the safe side).
void find_url_passwords(std::string_view text, std::vector<Span>& spans) {
  for (std::size_t at = text.find("://"); at != std::string_view::npos; at = text.find("://", at + 1)) {
    const std::size_t user_begin = at + 3;
    std::size_t end = user_begin;
    while (end < text.size() && end - user_begin < 512) {
      const char c = text[end];
      if (c == ' ' || c == '\n' || c == '\r' || c == '"' || c == '\'' || c == '\t' || c == '<' || c == '>') break;
      ++end;
    }
    const std::string_view url = text.substr(user_begin, end - user_begin);
    const std::size_t last_at = url.rfind('@');
    if (last_at == std::string_view::npos) continue;
    const std::size_t colon = url.find(':');
    if (colon == std::string_view::npos || colon >= last_at || colon + 1 == last_at) continue;
    if (url.substr(0, colon).find('/') != std::string_view::npos) continue;  // no user: "host/a:b@c"
    spans.push_back({user_begin + colon + 1, user_begin + last_at, "url-password"});
  }
}

}  // namespace

struct Redactor::Pattern {
  std::string kind;
  std::unique_ptr<re2::RE2> regex;
};

Redactor::Redactor() = default;
Redactor::~Redactor() = default;
Redactor::Redactor(Redactor&&) noexcept = default;
Redactor& Redactor::operator=(Redactor&&) noexcept = default;

void Redactor::add_pattern(const std::string& kind, const std::string& regex) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  auto compiled = std::make_unique<re2::RE2>(regex, options);
  if (!compiled->ok()) throw InputError("redaction pattern \"" + kind + "\": invalid regular expression: " + compiled->error());
  if (re2::RE2::FullMatch("", *compiled)) throw InputError("redaction pattern \"" + kind + "\" matches the empty string");
  extra_.push_back({kind, std::move(compiled)});
}

std::size_t Redactor::redact(std::string& text) const {
  std::vector<Span> spans;
  find_keys(text, spans);
  find_bearer_tokens(text, spans);
  find_jwts(text, spans);
  find_assigned_secrets(text, spans);
  find_private_keys(text, spans);
  find_url_passwords(text, spans);
  for (const auto& pattern : extra_) {
    std::size_t from = 0;
    re2::StringPiece whole;
    while (from <= text.size() &&
           pattern.regex->Match(text, from, text.size(), re2::RE2::UNANCHORED, &whole, 1)) {
      const std::size_t begin = static_cast<std::size_t>(whole.data() - text.data());
      const std::size_t end = begin + whole.size();
      if (end > begin) spans.push_back({begin, end, pattern.kind});
      from = end > begin ? end : end + 1;
    }
  }
  if (spans.empty()) return 0;
  // Overlapping finds (a key inside a private-key block) count once: the redaction covers their union.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
  });
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0, count = 0;
  for (const auto& span : spans) {
    if (span.begin < copied) {
      copied = std::max(copied, span.end);
      continue;
    }
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
