#include "normalize.hpp"

#include <algorithm>
#include <array>
#include <iterator>

#include "t2s/core/text.hpp"
#include "t2s/skill/markdown.hpp"

namespace t2s::consolidate::detail {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string collapse(std::string_view text, bool fold_case) {
  std::string out;
  bool space = false;
  for (const char c : text) {
    if (is_space(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += fold_case ? lower(c) : c;
  }
  return out;
}

// A line without its list or quote markers ("- ", "* ", "+ ", "12. ", "3) ", "> "), repeatedly
// ("> - x" is "x").
std::string_view strip_markers(std::string_view line) {
  for (;;) {
    while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
    if (line.empty()) return line;
    const char c = line.front();
    if (c == '>') {
      line.remove_prefix(1);
      continue;
    }
    if ((c == '-' || c == '*' || c == '+') && (line.size() == 1 || is_space(line[1]))) {
      line.remove_prefix(1);
      continue;
    }
    std::size_t digits = 0;
    while (digits < line.size() && digits < 9 && is_digit(line[digits])) ++digits;
    if (digits > 0 && digits < line.size() && (line[digits] == '.' || line[digits] == ')') &&
        (digits + 1 == line.size() || is_space(line[digits + 1]))) {
      line.remove_prefix(digits + 1);
      continue;
    }
    return line;
  }
}

// Words whose presence on one side only turns a lesson around.
constexpr std::array<std::string_view, 16> kNegations = {"avoid",  "avoiding", "cannot", "except", "neither", "never",
                                                         "no",     "none",     "nor",    "not",    "nothing", "unless",
                                                         "without", "instead", "dont",   "stop"};

bool is_negation(std::string_view word) {
  return std::find(kNegations.begin(), kNegations.end(), word) != kNegations.end();
}

}  // namespace

std::string normalized_content(std::string_view text) {
  std::string out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const auto line = strip_markers(text.substr(start, end - start));
    out += ' ';
    for (std::size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      // "don't", "can't", "isn’t": the "n't" is a "not", a word the negation guard looks for.
      if ((c == 'n' || c == 'N') && i + 2 < line.size() && line[i + 1] == '\'' && lower(line[i + 2]) == 't' &&
          (i + 3 == line.size() || !is_alnum(line[i + 3]))) {
        out += " not ";
        i += 2;
        continue;
      }
      if ((c == 'n' || c == 'N') && line.substr(i + 1, 4) == "\xE2\x80\x99t" &&
          (i + 5 == line.size() || !is_alnum(line[i + 5]))) {
        out += " not ";
        i += 4;
        continue;
      }
      const auto byte = static_cast<unsigned char>(c);
      out += byte >= 0x80 || is_alnum(c) ? lower(c) : ' ';
    }
    start = end + 1;
  }
  return collapse(out, false);
}

std::vector<std::string> words_of(std::string_view normalized) {
  std::vector<std::string> words;
  std::size_t start = 0;
  while (start < normalized.size()) {
    auto end = normalized.find(' ', start);
    if (end == std::string_view::npos) end = normalized.size();
    if (end > start) words.emplace_back(normalized.substr(start, end - start));
    start = end + 1;
  }
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  return words;
}

double jaccard(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.empty() && b.empty()) return 1.0;
  std::size_t common = 0;
  for (auto i = a.begin(), j = b.begin(); i != a.end() && j != b.end();) {
    if (*i < *j) {
      ++i;
    } else if (*j < *i) {
      ++j;
    } else {
      ++common;
      ++i;
      ++j;
    }
  }
  return static_cast<double>(common) / static_cast<double>(a.size() + b.size() - common);
}

bool negation_differs(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::string> only;
  std::set_symmetric_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(only));
  return std::any_of(only.begin(), only.end(), [](const std::string& w) { return is_negation(w); });
}

std::string anchor_key(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i)
    if (!(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) out += text[i];
  const auto first = out.find_first_not_of(" \t\n\r");
  if (first == std::string::npos) return {};
  const auto last = out.find_last_not_of(" \t\n\r");
  return out.substr(first, last - first + 1);
}

std::string section_key(std::string_view spec, bool fold_case) {
  const auto parsed = skill::parse_section_spec(spec);
  const auto title = collapse(parsed.title, fold_case);
  if (title.empty()) return {};
  return std::to_string(parsed.level) + "|" + title;
}

bool same_section(std::string_view a, std::string_view b) {
  const auto x = skill::parse_section_spec(a), y = skill::parse_section_spec(b);
  const auto tx = collapse(x.title, false), ty = collapse(y.title, false);
  return !tx.empty() && tx == ty && (x.level == 0 || y.level == 0 || x.level == y.level);
}

const std::string& text_anchor(const skill::Edit& edit) {
  static const std::string none;
  switch (edit.op) {
    case skill::Op::insert_after:
    case skill::Op::insert_before: return edit.target_text;
    case skill::Op::replace_in_section: return edit.old_text;
    default: return none;
  }
}

std::string place_key(const skill::Edit& edit) {
  std::string key = edit.file;
  key += '\0';
  key += skill::op_name(edit.op);
  key += '\0';
  switch (edit.op) {
    case skill::Op::add_section: key += section_key(edit.target_section, true); break;
    case skill::Op::create:
    case skill::Op::delete_file: break;
    default:
      key += section_key(edit.target_section);
      key += '\0';
      key += anchor_key(text_anchor(edit));
  }
  return key;
}

std::string describe_edit(const skill::Edit& edit) {
  // Appended piece by piece: GCC 12 reports a false -Wrestrict on "\"" + std::string.
  std::string text(skill::op_name(edit.op));
  text.append(" ").append(edit.file);
  const auto quote = [&](std::string_view prefix, std::string_view t) {
    text.append(prefix).append("\"").append(abbreviate(t.substr(0, t.find('\n')), 60)).append("\"");
  };
  if (!edit.target_section.empty()) quote(" ", edit.target_section);
  if (const auto& anchor = text_anchor(edit); !anchor.empty()) quote(" at ", anchor);
  return text;
}

std::string edit_id(std::size_t patch, std::size_t edit) {
  // Appended piece by piece: GCC 12 reports a false -Wrestrict on "p" + std::to_string(...).
  std::string id = "p";
  id.append(std::to_string(patch + 1)).append(".e").append(std::to_string(edit + 1));
  return id;
}

}  // namespace t2s::consolidate::detail
