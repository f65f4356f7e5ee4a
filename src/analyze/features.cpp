// analyze/features: symptom templates and action tokens (see the header).
#include "t2s/analyze/features.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "t2s/core/text.hpp"

namespace t2s::analyze {
namespace {

constexpr std::size_t kMaxTemplate = 240;
constexpr std::size_t kMaxLiteral = 2000;     // longest quoted literal recognised in code
constexpr int kMaxArgumentDepth = 64;         // nesting of tool-call arguments that is looked into

bool is_word_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)); }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// "G12", "AB3", "F2:F220" (at most 3 capitals, then digits).
bool is_cell_reference(std::string_view word) {
  const auto cell = [](std::string_view w) {
    std::size_t letters = 0;
    while (letters < w.size() && w[letters] >= 'A' && w[letters] <= 'Z') ++letters;
    if (letters == 0 || letters > 3 || letters == w.size()) return false;
    return std::all_of(w.begin() + static_cast<std::ptrdiff_t>(letters), w.end(), is_digit);
  };
  const auto colon = word.find(':');
  if (colon == std::string_view::npos) return cell(word);
  return cell(word.substr(0, colon)) && cell(word.substr(colon + 1));
}

bool is_hex_id(std::string_view word) {
  return word.size() >= 8 && std::all_of(word.begin(), word.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }) &&
         std::any_of(word.begin(), word.end(), is_digit);
}

// "inventory_0071.xlsx", "out/a.csv": a name with an extension and a digit or a slash in it is a
// file (a value), while "wb.active" or "pd.read_excel" is code.
bool is_file_name(std::string_view word) {
  const auto dot = word.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || word.size() - dot - 1 < 2 || word.size() - dot - 1 > 5) return false;
  const std::string_view extension = word.substr(dot + 1);
  if (!std::all_of(extension.begin(), extension.end(), [](char c) { return c >= 'a' && c <= 'z'; })) return false;
  return std::any_of(word.begin(), word.end(), [](char c) { return is_digit(c) || c == '/'; });
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (std::size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) text.replace(at, from.size(), to);
}

// The last line of a tool output that reports an error: a Python exception line ("KeyError: 'x'"),
// a line starting with "error:" or "fatal:", or a shell's "command not found" / missing file.
std::string_view last_error_line(std::string_view output) {
  std::string_view found;
  std::size_t start = 0;
  while (start < output.size()) {
    std::size_t end = output.find('\n', start);
    if (end == std::string_view::npos) end = output.size();
    std::string_view line = output.substr(start, end - start);
    start = end + 1;
    while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
    while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
    if (line.empty()) continue;
    std::size_t name = 0;
    while (name < line.size() && (is_word_char(line[name]) || line[name] == '.')) ++name;
    const std::string_view head = line.substr(0, name);
    const bool exception = name > 0 && is_word_start(line[0]) && (name == line.size() || line[name] == ':') &&
                           (head.ends_with("Error") || head.ends_with("Exception"));
    std::string lower(line.substr(0, std::min<std::size_t>(line.size(), 6)));
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (exception || lower.starts_with("error:") || lower.starts_with("fatal:") ||
        line.find("command not found") != std::string_view::npos ||
        line.find("No such file or directory") != std::string_view::npos ||
        line.find("Permission denied") != std::string_view::npos)
      found = line;
  }
  return found;
}

// Code with comments and string literals removed: names in strings are data (file names, column
// values), not actions.
std::string code_without_literals(std::string_view code) {
  std::string out;
  out.reserve(code.size());
  std::size_t eol = 0;  // the end of the current line, found once per line (never a rescan per quote)
  for (std::size_t i = 0; i < code.size(); ++i) {
    const char c = code[i];
    if (i >= eol) {
      eol = code.find('\n', i);
      if (eol == std::string_view::npos) eol = code.size();
    }
    if (c == '\'' || c == '"') {
      // a literal ends on its line, within kMaxLiteral bytes (a longer one is left as code)
      const std::string_view rest = code.substr(i + 1, std::min(eol - i - 1, kMaxLiteral));
      const std::size_t found = rest.find(c);
      const std::size_t close = found == std::string_view::npos ? std::string_view::npos : i + 1 + found;
      if (close != std::string_view::npos) {
        out += ' ';
        i = close;
        continue;
      }
    }
    if (c == '#' && (i == 0 || is_space(code[i - 1]))) {
      const std::size_t eol = code.find('\n', i);
      if (eol == std::string_view::npos) break;
      i = eol - 1;
      continue;
    }
    out += c;
  }
  return out;
}

// "act:" + parts, built by appending (GCC 12 warns falsely on operator+ chains with literals).
std::string feature(std::string_view prefix, std::string_view a, std::string_view b = {}, std::string_view c = {}) {
  std::string out;
  out.reserve(prefix.size() + a.size() + b.size() + c.size());
  out.append(prefix).append(a).append(b).append(c);
  return out;
}

bool is_stop_word(std::string_view word) {
  static constexpr std::array<std::string_view, 36> kStop = {
      "and",   "as",     "assert", "break", "class", "continue", "def",  "del",    "elif",  "else",    "except", "finally",
      "for",   "from",   "global", "if",    "import", "in",      "is",   "lambda", "not",   "or",      "pass",   "raise",
      "return", "try",   "while",  "with",  "yield", "True",     "False", "None",  "print", "range",   "len",    "EOF"};
  return word.size() < 2 || std::find(kStop.begin(), kStop.end(), word) != kStop.end();
}

void add_action_tokens(std::string_view code, std::vector<std::string>& out) {
  const std::string text = code_without_literals(code);
  const std::string_view s = text;
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (c == '-' && (i == 0 || is_space(s[i - 1]))) {  // a command-line flag
      std::size_t j = i;
      while (j < s.size() && s[j] == '-') ++j;
      if (j - i <= 2 && j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) {
        std::size_t k = j;
        while (k < s.size() && (is_word_char(s[k]) || s[k] == '-')) ++k;
        if (k - j >= 2) out.push_back(feature("act:", s.substr(i, k - i)));
        i = k;
        continue;
      }
      i = j;
      continue;
    }
    if (is_digit(c)) {  // numbers (and names glued to them) are values
      while (i < s.size() && (is_word_char(s[i]) || s[i] == '.')) ++i;
      continue;
    }
    if (!is_word_start(c)) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < s.size() && (is_word_char(s[j]) || (s[j] == '.' && j + 1 < s.size() && is_word_start(s[j + 1])))) ++j;
    std::string_view name = s.substr(i, j - i);
    const bool attribute = i > 0 && s[i - 1] == '.';
    i = j;
    if (attribute || is_stop_word(name)) continue;
    if (j < s.size() && s[j] == '/') {
      while (i < s.size() && !is_space(s[i]) && s[i] != ')' && s[i] != ',') ++i;  // a path: a value
      continue;
    }
    if (is_file_name(name)) continue;
    // keyword argument: name=value without spaces (an assignment has them, a comparison is "==")
    if (j + 1 < s.size() && s[j] == '=' && s[j + 1] != '=' && (is_word_char(s[j + 1]))) {
      std::size_t k = j + 1;
      while (k < s.size() && is_word_char(s[k])) ++k;
      out.push_back(feature("act:", name, "=", s.substr(j + 1, k - j - 1)));
      i = k;
      continue;
    }
    out.push_back(feature("act:", name));
    // each attribute of a dotted name on its own: the method matters more than the variable name
    for (std::size_t dot = name.find('.'); dot != std::string_view::npos; dot = name.find('.', dot + 1)) {
      const std::size_t next = name.find('.', dot + 1);
      const std::string_view attr = name.substr(dot, next == std::string_view::npos ? name.npos : next - dot);
      if (attr.size() > 2) out.push_back(feature("act:", attr));
    }
  }
}

void collect_strings(const nlohmann::json& value, std::string& out, int depth = 0) {
  if (value.is_string()) {
    out += value.get_ref<const std::string&>();
    out += '\n';
  } else if ((value.is_array() || value.is_object()) && depth < kMaxArgumentDepth) {
    for (const auto& item : value) collect_strings(item, out, depth + 1);
  }
}

// The deepest bracket nesting of JSON text, ignoring brackets inside strings.
int nesting_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

void sort_unique(std::vector<std::string>& items) {
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
}

}  // namespace

std::string symptom_template(std::string_view message) {
  std::string out;
  out.reserve(std::min(message.size(), kMaxTemplate + 16));
  for (std::size_t i = 0; i < message.size() && out.size() < kMaxTemplate * 2;) {
    const char c = message[i];
    if (c == '\'' || c == '"') {
      const std::string_view rest = message.substr(i + 1, 200);
      const std::size_t found = rest.find(c), newline = rest.find('\n');
      const std::size_t close = found == std::string_view::npos ? std::string_view::npos : i + 1 + found;
      if (close != std::string_view::npos && (newline == std::string_view::npos || found < newline) &&
          // an apostrophe inside a word ("don't") is not a quote
          !(c == '\'' && i > 0 && std::isalpha(static_cast<unsigned char>(message[i - 1])))) {
        out += "<str>";
        i = close + 1;
        continue;
      }
    }
    if (is_space(c) || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {  // control characters: a space
      if (!out.empty() && out.back() != ' ') out += ' ';
      ++i;
      continue;
    }
    if ((i == 0 || is_space(message[i - 1])) && !is_space(c)) {  // a path or file name: a value
      std::size_t j = i;
      while (j < message.size() && !is_space(message[j]) && message[j] != ',' && message[j] != ')' && message[j] != ';') ++j;
      std::string_view word = message.substr(i, j - i);
      while (!word.empty() && (word.back() == '.' || word.back() == ':')) word.remove_suffix(1);
      if (word.size() > 1 && (word.find('/') != std::string_view::npos || is_file_name(word)) && word.find('<') == std::string_view::npos) {
        out += "<path>";
        i += word.size();
        continue;
      }
    }
    if (c == '/' && (i == 0 || is_space(message[i - 1])) && i + 1 < message.size() && !is_space(message[i + 1])) {
      std::size_t j = i;
      while (j < message.size() && !is_space(message[j]) && message[j] != ',' && message[j] != ')') ++j;
      out += "<path>";
      i = j;
      continue;
    }
    if (is_word_char(c) || ((c == '-' || c == '+') && i + 1 < message.size() && is_digit(message[i + 1]) &&
                            (i == 0 || !is_word_char(message[i - 1])))) {
      std::size_t j = i + 1;
      // a run of word characters with inner ':', ',', '.' (cell ranges, 1,234.50, 3.14)
      while (j < message.size()) {
        if (is_word_char(message[j])) {
          ++j;
        } else if ((message[j] == '.' || message[j] == ',' || message[j] == ':') && j + 1 < message.size() &&
                   is_word_char(message[j + 1]) && (message[j] != ',' || is_digit(message[j - 1]))) {
          if (message[j] == ':' && !(message[j + 1] >= 'A' && message[j + 1] <= 'Z')) break;
          ++j;
        } else {
          break;
        }
      }
      std::string_view word = message.substr(i, j - i);
      const std::string_view bare = (word[0] == '-' || word[0] == '+') ? word.substr(1) : word;
      if (is_cell_reference(word)) {
        out += "<cell>";
      } else if (is_hex_id(bare) && !std::all_of(bare.begin(), bare.end(), [](char d) { return is_digit(d) || d == ','; })) {
        out += "<hex>";
      } else if (!bare.empty() && is_digit(bare[0])) {
        out += "<num>";
      } else if (word.find(':') != std::string_view::npos || word.find(',') != std::string_view::npos) {
        // "name:Value" runs are split back into their words
        out.append(word.substr(0, word.find_first_of(":,")));
        j = i + word.find_first_of(":,");
      } else {
        out.append(word);
      }
      i = j;
      continue;
    }
    out += c;
    ++i;
  }
  replace_all(out, "<str>!<cell>", "<cell>");
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > kMaxTemplate) out = abbreviate(out, kMaxTemplate);
  return out;
}

std::vector<std::string> template_words(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  const auto flush = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '<') {
      const std::size_t close = text.find('>', i);
      if (close != std::string_view::npos && close - i <= 6) {
        flush();
        words.emplace_back(text.substr(i, close - i + 1));
        i = close;
        continue;
      }
    }
    if (is_word_char(c) || static_cast<unsigned char>(c) >= 0x80) word += c;
    else flush();
  }
  flush();
  return words;
}

Features extract_features(const trace::Trajectory& trajectory) {
  Features features;
  const auto add_symptom = [&](std::string_view prefix, std::string_view text) {
    std::string tpl = symptom_template(text);
    if (!tpl.empty()) features.symptoms.push_back(feature(prefix, tpl));
  };
  const nlohmann::json& detail = trajectory.outcome.detail;
  if (detail.is_string()) {
    add_symptom("check: ", detail.get_ref<const std::string&>());
  } else if (detail.is_object()) {
    for (const char* key : {"message", "feedback", "error", "reason"}) {
      const auto it = detail.find(key);
      if (it != detail.end() && it->is_string()) add_symptom("check: ", it->get_ref<const std::string&>());
    }
  }
  for (const auto& message : trajectory.messages) {
    if (message.role == "tool" || message.role == "function") {
      const std::string text = message.text();
      const std::string_view line = last_error_line(text);
      if (!line.empty()) add_symptom("error: ", line);
    }
    for (const auto& call : message.tool_calls) {
      if (!call.name.empty()) features.actions.push_back(feature("tool:", call.name));
      std::string code;
      if (nesting_depth(call.arguments) <= kMaxArgumentDepth) {
        try {
          collect_strings(nlohmann::json::parse(call.arguments), code);
        } catch (const nlohmann::json::exception&) {
          code = call.arguments;  // arguments that are not JSON are taken as text
        }
      } else {
        code = call.arguments;  // too deep to parse safely (the parser recurses): taken as text
      }
      add_action_tokens(code, features.actions);
    }
  }
  sort_unique(features.symptoms);
  sort_unique(features.actions);
  return features;
}

}  // namespace t2s::analyze
