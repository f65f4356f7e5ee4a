// analyze/features: symptom templates and action features (see the header).
#include "t2s/analyze/features.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <simdjson.h>

#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"

namespace t2s::analyze {
namespace {

constexpr std::size_t kMaxTemplate = 240;
constexpr std::size_t kMaxLiteral = 2000;     // longest quoted literal recognised in code
constexpr int kMaxArgumentDepth = 64;         // nesting of tool-call arguments that is looked into
constexpr std::size_t kMaxKeptQuote = 24;     // longest quoted key a template keeps literally
constexpr std::size_t kMaxRegex = 80;         // longest regular expression a template keeps
constexpr std::size_t kMaxOrderedTools = 16;  // distinct tools whose order is looked at
constexpr std::size_t kMaxAfterSymptoms = 8;  // distinct tool errors that recovery is looked at after

// ASCII classes (what <cctype> gives in the C locale), without a library call per character.
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_word_start(char c) { return is_alpha(c) || c == '_'; }
bool is_word_char(char c) { return is_alpha(c) || is_digit(c) || c == '_'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A set of string views (into text that outlives it) by open addressing: no allocation per entry,
// where std::unordered_set makes a node for each (the feature reader builds two such sets per run).
class ViewSet {
 public:
  explicit ViewSet(std::size_t expected = 16) {
    std::size_t capacity = 32;
    while (capacity < 2 * expected) capacity *= 2;
    slots_.resize(capacity);
  }
  bool insert(std::string_view word) {  // true when it was not there
    if (2 * (size_ + 1) > slots_.size()) grow();
    const std::size_t i = find_slot(word);
    if (slots_[i].data() != nullptr) return false;
    slots_[i] = word.empty() ? std::string_view("", 0) : word;
    ++size_;
    return true;
  }
  bool contains(std::string_view word) const { return slots_[find_slot(word)].data() != nullptr; }
  bool empty() const { return size_ == 0; }

 private:
  static std::size_t hash(std::string_view word) { return std::hash<std::string_view>{}(word); }
  // The slot holding `word`, or the empty slot where it would go.
  std::size_t find_slot(std::string_view word) const {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash(word) & mask;; i = (i + 1) & mask)
      if (slots_[i].data() == nullptr || slots_[i] == word) return i;
  }
  void grow() {
    std::vector<std::string_view> old(slots_.size() * 2);
    old.swap(slots_);
    for (const auto word : old)
      if (word.data() != nullptr) slots_[find_slot(word)] = word;
  }
  std::vector<std::string_view> slots_;  // an empty slot has a null data()
  std::size_t size_ = 0;
};

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

// The extension of a file name ("inventory_0071.xlsx" → "xlsx"), or "" when `word` is not one: a
// name with an extension and a digit or a slash in it is a file (a value), while "wb.active" or
// "pd.read_excel" is code.
std::string_view file_extension(std::string_view word) {
  const auto dot = word.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || word.size() - dot - 1 < 2 || word.size() - dot - 1 > 5) return {};
  const std::string_view extension = word.substr(dot + 1);
  if (!std::all_of(extension.begin(), extension.end(), [](char c) { return c >= 'a' && c <= 'z'; })) return {};
  if (!std::any_of(word.begin(), word.end(), [](char c) { return is_digit(c) || c == '/'; })) return {};
  return extension;
}

// A quoted value an agent needs literally: a short key or name without digits ('price', "Status").
bool is_key_literal(std::string_view inner) {
  return !inner.empty() && inner.size() <= kMaxKeptQuote && is_word_start(inner.front()) &&
         std::all_of(inner.begin(), inner.end(), [](char c) { return is_word_char(c) && !is_digit(c); });
}

// A regular expression: anchored, with a class, a group, a repetition or an escape in it.
bool is_regex(std::string_view word) {
  if (word.size() < 3 || word.size() > kMaxRegex) return false;
  if (word.front() != '^' && word.back() != '$') return false;
  return word.find_first_of("[]()*+?{}\\") != std::string_view::npos;
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (std::size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) text.replace(at, from.size(), to);
}

std::string_view trim(std::string_view line) {
  while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
  while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
  return line;
}

// The last line of a tool output that reports an error: a Python exception line ("KeyError: 'x'"),
// a line starting with "error:" or "fatal:", or a shell's "command not found" / missing file.
std::string_view last_error_line(std::string_view output) {
  std::string_view found;
  std::size_t start = 0;
  while (start < output.size()) {
    std::size_t end = output.find('\n', start);
    if (end == std::string_view::npos) end = output.size();
    const std::string_view line = trim(output.substr(start, end - start));
    start = end + 1;
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

// Code with comments and string literals (triple-quoted ones too) blanked out: names in strings are
// data (file names, column values, docstrings), not actions.
std::string code_without_literals(std::string_view code) {
  std::string out;
  out.reserve(code.size());
  std::size_t eol = 0;  // the end of the current line, found once per line (never a rescan per quote)
  for (std::size_t i = 0; i < code.size(); ++i) {
    // the plain code up to the next quote, comment sign or line end, appended whole
    std::size_t special = i;
    while (special < code.size() && code[special] != '\'' && code[special] != '"' && code[special] != '#' && code[special] != '\n') ++special;
    out.append(code.substr(i, special - i));
    if (special == code.size()) break;
    i = special;
    const char c = code[i];
    if (i >= eol) {
      eol = code.find('\n', i);
      if (eol == std::string_view::npos) eol = code.size();
    }
    if ((c == '\'' || c == '"') && i + 2 < code.size() && code[i + 1] == c && code[i + 2] == c) {
      const char triple[] = {c, c, c};
      const std::size_t close = code.find(std::string_view(triple, 3), i + 3);
      if (close != std::string_view::npos) {
        out += ' ';
        i = close + 2;
        continue;
      }
    }
    if (c == '\'' || c == '"') {
      // a literal ends on its line, within kMaxLiteral bytes (a longer one is left as code)
      const std::string_view rest = code.substr(i + 1, std::min(eol - i - 1, kMaxLiteral));
      const std::size_t found = rest.find(c);
      if (found != std::string_view::npos) {
        out += ' ';
        i += found + 1;
        continue;
      }
    }
    if (c == '#' && (i == 0 || is_space(code[i - 1]))) {
      if (eol >= code.size()) break;
      i = eol - 1;
      continue;
    }
    out += c;
  }
  return out;
}

std::string feature(std::string_view prefix, std::string_view a, std::string_view b = {}, std::string_view c = {}) {
  std::string out;  // built by appending (GCC 12 warns falsely on operator+ chains with literals)
  out.reserve(prefix.size() + a.size() + b.size() + c.size());
  out.append(prefix).append(a).append(b).append(c);
  return out;
}

bool is_keyword(std::string_view word) {
  static constexpr std::array<std::string_view, 35> kKeywords = {
      "and",   "as",     "assert", "async", "await",  "break",  "class", "continue", "def",  "del",   "elif", "else",
      "except", "finally", "for",  "from",  "global", "if",     "import", "in",     "is",   "lambda", "nonlocal",
      "not",   "or",     "pass",   "raise", "return", "try",    "while", "with",    "yield", "True",  "False", "None"};
  static const ViewSet keywords = [] {
    ViewSet set(kKeywords.size());
    for (const auto k : kKeywords) set.insert(k);
    return set;
  }();
  return keywords.contains(word);
}

// Words of the task's own text (instruction and user messages): a name found there is the task's.
class TaskWords {
 public:
  void add(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
      if (!is_word_char(text[i])) {
        ++i;
        continue;
      }
      std::size_t j = i;
      while (j < text.size() && is_word_char(text[j])) ++j;
      if (j - i >= 2) words_.insert(text.substr(i, j - i));
      i = j;
    }
  }
  // Any part of a dotted name is the task's.
  bool owns(std::string_view name) const {
    for (std::size_t i = 0; i <= name.size();) {
      const std::size_t dot = std::min(name.find('.', i), name.size());
      if (dot > i && words_.contains(name.substr(i, dot - i))) return true;
      i = dot + 1;
    }
    return false;
  }

 private:
  ViewSet words_{256};  // views into the run's text, which outlives this
};

// Arguments that are code or a command line, rather than a plain value.
bool looks_like_code(std::string_view text) {
  const auto code_sign = [](char c) {
    switch (c) {
      case '\n': case '(': case ')': case '=': case ';': case '|': case '&': case '$': case '<': case '>':
      case '[': case ']': case '{': case '}': return true;
      default: return false;
    }
  };
  if (std::any_of(text.begin(), text.end(), code_sign)) return true;
  for (std::size_t at = text.find(" -"); at != std::string_view::npos; at = text.find(" -", at + 1))
    if (at + 2 < text.size() && (is_alpha(text[at + 2]) || text[at + 2] == '-')) return true;
  return false;
}

bool is_shell_tool(std::string_view tool, std::string_view key) {
  std::string name(tool);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (std::string_view shell : {"bash", "shell", "terminal", "sh", "zsh", "execute_command", "run_command", "exec"})
    if (name == shell || name.find(std::string(shell) + "_") == 0 || name.ends_with("_" + std::string(shell))) return true;
  return key == "command" || key == "cmd" || key == "script";
}

// The procedural tokens of code (see the header for the kinds).
class CodeReader {
 public:
  CodeReader(const TaskWords& task, std::vector<std::string>& out) : task_(task), out_(out) {}

  void read(std::string_view code, bool shell) {
    if (shell) {  // a here-document ("python3 - <<'EOF'" ... "EOF") holds a script: read it as code
      std::string command;
      std::size_t at = 0;
      while (at < code.size()) {
        std::size_t eol = code.find('\n', at);
        if (eol == std::string_view::npos) eol = code.size();
        const std::string_view line = code.substr(at, eol - at);
        command.append(line).append("\n");
        at = eol + 1;
        const std::size_t here = line.find("<<");
        if (here == std::string_view::npos || line.substr(here).starts_with("<<<")) continue;
        std::size_t d = here + 2;
        while (d < line.size() && (line[d] == '-' || line[d] == ' ' || line[d] == '\'' || line[d] == '"')) ++d;
        std::size_t e = d;
        while (e < line.size() && is_word_char(line[e])) ++e;
        if (e == d) continue;
        const std::string_view delimiter = line.substr(d, e - d);
        std::size_t end = at;
        while (end < code.size()) {
          std::size_t next = code.find('\n', end);
          if (next == std::string_view::npos) next = code.size();
          if (trim(code.substr(end, next - end)) == delimiter) break;
          end = next + 1;
        }
        read(code.substr(at, std::min(end, code.size()) - at), false);
        const std::size_t after = end < code.size() ? code.find('\n', end) : std::string_view::npos;
        at = after == std::string_view::npos ? code.size() : after + 1;
      }
      read_text(command, true);
      return;
    }
    read_text(code, false);
  }

 private:
  void read_text(std::string_view code, bool shell) {
    const std::string text = code_without_literals(code);
    const std::string_view s = text;
    ViewSet modules;  // imported names (and aliases); views into `text`, as all names here
    ViewSet defined;  // names the code defines itself
    std::string_view previous;                         // the previous word
    int depth = 0;                                     // bracket depth
    bool command_start = shell;                        // shell: the next word is a command
    for (std::size_t i = 0; i < s.size();) {
      const char c = s[i];
      if (c == '\n' || c == ';' || c == '|' || c == '&' || c == '`' || (c == '(' && i > 0 && s[i - 1] == '$')) {
        if (shell) command_start = true;
        if (c == '\n') previous = {};
        ++i;
        continue;
      }
      if (c == '(' || c == '[' || c == '{') ++depth;
      if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
      if (c == '-' && (i == 0 || is_space(s[i - 1])) && shell) {  // a command-line flag
        std::size_t j = i;
        while (j < s.size() && s[j] == '-') ++j;
        std::size_t k = j;
        while (k < s.size() && (is_word_char(s[k]) || s[k] == '-')) ++k;
        if (j - i <= 2 && k - j >= 1 && is_alpha(s[j]) && !task_.owns(s.substr(j, k - j)))
          add("flag:", s.substr(i, k - i));
        i = std::max(k, i + 1);
        command_start = false;
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
      const std::string_view name = s.substr(i, j - i);
      const bool attribute = i > 0 && s[i - 1] == '.';
      const bool path = j < s.size() && (s[j] == '/' || (i > 0 && s[i - 1] == '/'));
      i = j;
      if (path) {  // a path is a value
        while (i < s.size() && !is_space(s[i]) && s[i] != ')' && s[i] != ',') ++i;
        command_start = false;
        continue;
      }
      if (shell && command_start) {
        command_start = false;
        if (!file_extension(name).empty() || task_.owns(name)) continue;
        add("cmd:", name);
        previous = name;
        continue;
      }
      command_start = false;
      if (attribute) continue;
      const std::string_view before = previous;
      previous = name;
      if (before == "def" || before == "class") {
        defined.insert(name);
        continue;
      }
      if (before == "import" || (before == "from" && !modules.contains(name))) {
        const std::string_view root = name.substr(0, name.find('.'));
        modules.insert(root);
        if (!task_.owns(name)) add("import:", name);
        continue;
      }
      if (before == "as" && !modules.empty()) {  // import x as y: y names a module too
        modules.insert(name);
        continue;
      }
      if (before == "except" || before == "raise") {
        if ((name.ends_with("Error") || name.ends_with("Exception") || name.ends_with("Warning") || name == "StopIteration") &&
            !task_.owns(name))
          add(before == "except" ? "except:" : "raise:", name);
        continue;
      }
      if (is_keyword(name) || name.size() < 2 || !file_extension(name).empty()) continue;
      std::size_t next = j;
      while (next < s.size() && (s[next] == ' ' || s[next] == '\t')) ++next;
      if (depth > 0 && next < s.size() && s[next] == '=' && (next + 1 >= s.size() || s[next + 1] != '=') &&
          name.find('.') == std::string_view::npos) {  // keyword argument
        std::size_t v = next + 1;
        while (v < s.size() && s[v] == ' ') ++v;
        std::size_t w = v;
        while (w < s.size() && is_word_char(s[w])) ++w;
        const std::string_view value = s.substr(v, w - v);
        if (task_.owns(name)) continue;
        if (value == "True" || value == "False" || value == "None") add("kw:", name, "=", value);
        else add("kw:", name, "=");
        continue;
      }
      if (next >= s.size() || s[next] != '(') continue;  // only calls are actions; variables are names
      const std::size_t dot = name.find('.');
      if (dot == std::string_view::npos) {
        if (defined.contains(name) || task_.owns(name)) continue;
        add("call:", name);
      } else if (modules.contains(name.substr(0, dot))) {
        if (!task_.owns(name)) add("call:", name);
      } else {
        const std::string_view method = name.substr(name.rfind('.'));
        if (method.size() > 2 && !task_.owns(method.substr(1))) add("call:", method);
      }
    }
  }

  void add(std::string_view prefix, std::string_view a, std::string_view b = {}, std::string_view c = {}) {
    out_.push_back(feature(prefix, a, b, c));
  }
  const TaskWords& task_;
  std::vector<std::string>& out_;
};

// The string values of an argument object, each with the top-level key it sits under.
void collect_strings(simdjson::dom::element value, const std::string& key, std::vector<std::pair<std::string, std::string>>& out,
                     int depth = 0) {
  std::string_view text;
  if (value.get(text) == simdjson::SUCCESS) {
    out.emplace_back(key, text);
  } else if (value.is_array() && depth < kMaxArgumentDepth) {
    for (const auto item : value.get_array()) collect_strings(item, key, out, depth + 1);
  } else if (value.is_object() && depth < kMaxArgumentDepth) {
    for (const auto field : value.get_object()) collect_strings(field.value, key, out, depth + 1);
  }
}

// A run names the same feature many times (every call of a tool): the duplicates go first, by hash,
// so that only distinct features are sorted.
void sort_unique(std::vector<std::string>& items) {
  ViewSet seen(items.size());
  std::vector<std::size_t> first;
  for (std::size_t i = 0; i < items.size(); ++i)
    if (seen.insert(items[i])) first.push_back(i);
  if (first.size() < items.size()) {
    std::vector<std::string> distinct;
    distinct.reserve(first.size());
    for (const auto i : first) distinct.push_back(std::move(items[i]));
    items.swap(distinct);
  }
  std::sort(items.begin(), items.end());
}

}  // namespace

std::string symptom_template(std::string_view message, bool keep_literals) {
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
          !(c == '\'' && i > 0 && is_alpha(message[i - 1]))) {
        const std::string_view inner = message.substr(i + 1, close - i - 1);
        if (keep_literals && is_key_literal(inner)) out.append(message.substr(i, close - i + 1));
        else out += "<str>";
        i = close + 1;
        continue;
      }
    }
    if (is_space(c) || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {  // control characters: a space
      if (!out.empty() && out.back() != ' ') out += ' ';
      ++i;
      continue;
    }
    if ((i == 0 || is_space(message[i - 1])) && !is_space(c)) {  // a regular expression, a path, a file name
      std::size_t j = i;
      while (j < message.size() && !is_space(message[j])) ++j;
      std::string_view word = message.substr(i, j - i);
      while (!word.empty() && (word.back() == ',' || word.back() == ';' || word.back() == ')' || word.back() == '.')) word.remove_suffix(1);
      if (is_regex(word)) {
        out.append(word);
        i += word.size();
        continue;
      }
      j = i;
      while (j < message.size() && !is_space(message[j]) && message[j] != ',' && message[j] != ')' && message[j] != ';') ++j;
      word = message.substr(i, j - i);
      while (!word.empty() && (word.back() == '.' || word.back() == ':')) word.remove_suffix(1);
      if (word.size() > 1 && word.find('<') == std::string_view::npos) {
        if (const auto extension = file_extension(word); !extension.empty() && word.find('/') == std::string_view::npos) {
          out.append("<file>.").append(extension);
          i += word.size();
          continue;
        }
        if (word.find('/') != std::string_view::npos) {
          out += "<path>";
          i += word.size();
          continue;
        }
      }
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
      } else if (std::any_of(word.begin(), word.end(), is_digit) && std::any_of(word.begin(), word.end(), is_word_start) &&
                 !word.ends_with("Error")) {
        out += "<id>";  // letters and digits mixed: a code or an id (PEP4E0, SO-1042's parts, x86_64 too)
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

std::string condition_of(std::string_view feature) {
  if (feature.starts_with("before:")) {
    const auto lt = feature.rfind('<');
    return lt == std::string_view::npos ? std::string() : "tool:" + std::string(feature.substr(lt + 1));
  }
  if (feature.starts_with("after:")) {
    const auto sep = feature.find(kAfterSeparator);
    return sep == std::string_view::npos ? std::string() : std::string(feature.substr(sep + 1));
  }
  return {};
}

RunText run_text(const trace::Trajectory& trajectory) {
  RunText run;
  run.instruction = trajectory.task.instruction;
  for (const auto& message : trajectory.messages) {
    RunText::Message m{message.role, message.text(), {}};
    for (const auto& call : message.tool_calls) m.calls.push_back({call.name, call.arguments});
    run.messages.push_back(std::move(m));
  }
  const nlohmann::json& detail = trajectory.outcome.detail;
  if (detail.is_string()) {
    run.checker.push_back(detail.get<std::string>());
  } else if (detail.is_object()) {
    for (const char* key : {"message", "feedback", "error", "reason"})
      if (const auto it = detail.find(key); it != detail.end() && it->is_string()) run.checker.push_back(it->get<std::string>());
  }
  return run;
}

RunText run_text(std::string_view record, const std::string& where) {
  thread_local simdjson::dom::parser parser;
  RunText run;
  try {
    const simdjson::padded_string padded(record);
    const simdjson::dom::element root = parser.parse(padded);
    const auto text_of = [](simdjson::dom::element content) {
      if (content.is_string()) return std::string(std::string_view(content.get_string()));
      std::string out;
      if (content.is_array())
        for (const auto part : content.get_array()) {  // content parts: their text, joined by newlines
          std::string_view text;
          if (part.is_object() && part["text"].get(text) == simdjson::SUCCESS) {
            if (!out.empty()) out += '\n';
            out.append(text);
          }
        }
      return out;
    };
    simdjson::dom::element task;
    std::string_view instruction;
    if (root["task"].get(task) == simdjson::SUCCESS && task["instruction"].get(instruction) == simdjson::SUCCESS) run.instruction = instruction;
    for (const auto message : root["messages"].get_array()) {
      RunText::Message m;
      m.role = std::string(std::string_view(message["role"].get_string()));
      simdjson::dom::element content, calls;
      if (message["content"].get(content) == simdjson::SUCCESS) m.text = text_of(content);
      if (message["tool_calls"].get(calls) == simdjson::SUCCESS && calls.is_array())
        for (const auto call : calls.get_array()) {
          std::string_view name, arguments;
          const auto function = call["function"];
          if (function["name"].get(name) != simdjson::SUCCESS) continue;
          if (function["arguments"].get(arguments) != simdjson::SUCCESS) arguments = {};
          m.calls.push_back({std::string(name), std::string(arguments)});
        }
      run.messages.push_back(std::move(m));
    }
    simdjson::dom::element detail;
    if (root["outcome"]["detail"].get(detail) == simdjson::SUCCESS) {
      std::string_view text;
      if (detail.get(text) == simdjson::SUCCESS) run.checker.emplace_back(text);
      else if (detail.is_object())
        for (const char* key : {"message", "feedback", "error", "reason"})
          if (detail[key].get(text) == simdjson::SUCCESS) run.checker.emplace_back(text);
    }
  } catch (const simdjson::simdjson_error& e) {
    throw InputError(where + ": not a trajectory record (" + e.what() + ")");
  }
  return run;
}

Features extract_features(const trace::Trajectory& trajectory) { return extract_features(run_text(trajectory)); }

Features extract_features(const RunText& run) {
  Features features;
  TaskWords task;
  task.add(run.instruction);
  for (const auto& message : run.messages)
    if (message.role == "user") task.add(message.text);

  std::vector<std::string> error_symptoms;  // tool errors seen so far, in order
  const auto add_symptom = [&](std::string_view prefix, std::string_view text, bool tool_error) {
    const std::string literal = symptom_template(text, true);
    if (literal.empty()) return;
    features.symptoms.push_back(feature(prefix, literal));
    const std::string generic = symptom_template(text, false);
    if (generic != literal) features.symptoms.push_back(feature(prefix, generic));
    if (tool_error && error_symptoms.size() < kMaxAfterSymptoms) {
      const std::string first = feature(prefix, literal);
      if (std::find(error_symptoms.begin(), error_symptoms.end(), first) == error_symptoms.end()) error_symptoms.push_back(first);
    }
  };
  for (const auto& text : run.checker) add_symptom("check: ", text, false);

  std::vector<std::pair<std::string, bool>> tools_in_order;  // distinct tools by first call, and whether the task names it
  CodeReader reader(task, features.actions);
  for (const auto& message : run.messages) {
    if (message.role == "tool" || message.role == "function") {
      const std::string_view line = last_error_line(message.text);
      if (!line.empty()) add_symptom("error: ", line, true);
    }
    for (const auto& call : message.calls) {
      if (call.name.empty()) continue;
      // a tool the task's own text names ("craft 1 torch", "put a clean apple in the fridge") is the
      // task's requirement, not a procedure learned from runs: neither it nor its arguments are
      // features (it can still be the condition of "before B, call A")
      const bool required = task.owns(call.name);
      if (!required) features.actions.push_back(feature("tool:", call.name));
      if (tools_in_order.size() < kMaxOrderedTools &&
          std::find_if(tools_in_order.begin(), tools_in_order.end(), [&](const auto& t) { return t.first == call.name; }) == tools_in_order.end())
        tools_in_order.emplace_back(call.name, required);
      if (!required)
        for (const auto& symptom : error_symptoms) features.actions.push_back(feature("after:", call.name, std::string(1, kAfterSeparator), symptom));
      std::vector<std::pair<std::string, std::string>> strings;  // (argument name, text)
      thread_local simdjson::dom::parser parser;  // simdjson's DOM parser does not recurse on the input
      simdjson::dom::element arguments;
      if (!call.arguments.empty() && parser.parse(call.arguments).get(arguments) == simdjson::SUCCESS) {
        if (arguments.is_object()) {
          for (const auto field : arguments.get_object()) {
            const std::string key(field.key);
            if (!required && !task.owns(key)) features.actions.push_back(feature("arg:", call.name, ".", key));
            collect_strings(field.value, key, strings);
          }
        } else {
          collect_strings(arguments, "", strings);
        }
      } else {
        strings.emplace_back("", call.arguments);  // arguments that are not JSON are taken as text
      }
      for (const auto& [key, text] : strings)
        if (looks_like_code(text)) reader.read(text, is_shell_tool(call.name, key));
    }
  }
  for (std::size_t i = 0; i < tools_in_order.size(); ++i)
    for (std::size_t j = i + 1; j < tools_in_order.size(); ++j)
      if (!tools_in_order[i].second) features.actions.push_back(feature("before:", tools_in_order[i].first, "<", tools_in_order[j].first));
  sort_unique(features.symptoms);
  sort_unique(features.actions);
  return features;
}

}  // namespace t2s::analyze
