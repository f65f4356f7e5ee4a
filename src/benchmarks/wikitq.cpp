// WikiTableQuestions checking, after the official evaluator's documented rules (see the header).
// Where the evaluator leans on Python 2 (unicode.strip/lower/isspace, int(), float(), re), the
// equivalent rule is spelled out here.
#include "t2s/benchmarks/wikitq.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"

namespace t2s::benchmarks::wikitq {

namespace fs = std::filesystem;

namespace {

// ---- code points ---------------------------------------------------------------------------

// Invalid bytes are dropped, as the evaluator's decode(errors='ignore') does.
std::u32string decode(std::string_view text) {
  std::u32string out;
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  for (std::size_t i = 0; i < text.size();) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t n = utf8proc_iterate(bytes + i, static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
    if (n <= 0) {
      ++i;
      continue;
    }
    out.push_back(static_cast<char32_t>(cp));
    i += static_cast<std::size_t>(n);
  }
  return out;
}

std::string encode(const std::u32string& text) {
  std::string out;
  utf8proc_uint8_t buffer[4];
  for (const char32_t c : text) {
    const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buffer);
    out.append(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
  }
  return out;
}

// Python's unicode.isspace (and re's \s with re.UNICODE).
bool is_space(char32_t c) {
  return (c >= 9 && c <= 13) || (c >= 28 && c <= 32) || c == 0x85 || c == 0xA0 || c == 0x1680 || c == 0x180E ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::u32string strip(const std::u32string& text) {
  std::size_t first = 0, last = text.size();
  while (first < last && is_space(text[first])) ++first;
  while (last > first && is_space(text[last - 1])) --last;
  return text.substr(first, last - first);
}

// NFKD, without the combining marks (category Mn): "é" becomes "e".
std::u32string without_diacritics(const std::u32string& text) {
  std::u32string out;
  utf8proc_int32_t buffer[32];
  for (const char32_t c : text) {
    int boundclass = 0;
    const auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buffer, 32,
                                           static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT), &boundclass);
    if (n < 0 || n > 32) {
      out.push_back(c);
      continue;
    }
    for (utf8proc_ssize_t k = 0; k < n; ++k)
      if (utf8proc_category(buffer[k]) != UTF8PROC_CATEGORY_MN) out.push_back(static_cast<char32_t>(buffer[k]));
  }
  return out;
}

bool is_citation_mark(char32_t c) {
  return c == U'•' || c == U'♦' || c == U'†' || c == U'‡' || c == U'*' || c == U'#' || c == U'+';
}

// The start of the longest suffix made only of citations, the evaluator's
// ((?<!^)\[[^\]]*\]|\[\d+\]|[•♦†‡*#+])*$: a bracketed note (one at the very start only when it
// holds ASCII digits) or a mark. Computed from the end, as the regex's leftmost match is.
std::size_t citations_start(const std::u32string& x) {
  const std::size_t n = x.size();
  std::vector<bool> tail(n + 1, false);  // tail[p]: x[p..] is all citations
  tail[n] = true;
  for (std::size_t p = n; p-- > 0;) {
    if (is_citation_mark(x[p])) {
      tail[p] = tail[p + 1];
    } else if (x[p] == U'[') {
      std::size_t close = p + 1;
      while (close < n && x[close] != U']') ++close;
      if (close == n || !tail[close + 1]) continue;
      bool digits = close > p + 1;
      for (std::size_t k = p + 1; k < close; ++k) digits = digits && x[k] >= U'0' && x[k] <= U'9';
      tail[p] = p != 0 || digits;
    }
  }
  std::size_t start = 0;
  while (!tail[start]) ++start;
  return start;
}

// The start of the trailing " (…)" details, the evaluator's (?<!^)( \([^)]*\))*$ (never at 0).
std::size_t details_start(const std::u32string& x) {
  const std::size_t n = x.size();
  std::vector<bool> tail(n + 1, false);
  tail[n] = true;
  for (std::size_t p = n; p-- > 0;) {
    if (x[p] != U' ' || p + 1 >= n || x[p + 1] != U'(') continue;
    std::size_t close = p + 2;
    while (close < n && x[close] != U')') ++close;
    tail[p] = close < n && tail[close + 1];
  }
  std::size_t start = std::min<std::size_t>(1, n);
  while (start < n && !tail[start]) ++start;
  return start;
}

// ---- Python's int() and float() on a string --------------------------------------------------

std::optional<double> python_int(const std::u32string& raw) {
  const std::u32string text = strip(raw);
  std::size_t i = 0;
  if (i < text.size() && (text[i] == U'+' || text[i] == U'-')) ++i;
  if (i == text.size()) return std::nullopt;
  for (std::size_t k = i; k < text.size(); ++k)
    if (text[k] < U'0' || text[k] > U'9') return std::nullopt;
  return std::strtod(encode(text).c_str(), nullptr);
}

// Finite numbers only: the evaluator rejects nan and inf (and a float() that overflows to inf).
std::optional<double> python_float(const std::u32string& raw) {
  const std::u32string text = strip(raw);
  std::size_t i = 0, digits = 0;
  const auto is_digit = [&](std::size_t k) { return k < text.size() && text[k] >= U'0' && text[k] <= U'9'; };
  if (i < text.size() && (text[i] == U'+' || text[i] == U'-')) ++i;
  while (is_digit(i)) ++i, ++digits;
  if (i < text.size() && text[i] == U'.') {
    ++i;
    while (is_digit(i)) ++i, ++digits;
  }
  if (digits == 0) return std::nullopt;
  if (i < text.size() && (text[i] == U'e' || text[i] == U'E')) {
    ++i;
    if (i < text.size() && (text[i] == U'+' || text[i] == U'-')) ++i;
    if (!is_digit(i)) return std::nullopt;
    while (is_digit(i)) ++i;
  }
  if (i != text.size()) return std::nullopt;
  const double value = std::strtod(encode(text).c_str(), nullptr);
  if (!std::isfinite(value)) return std::nullopt;
  return value;
}

std::optional<double> parse_number(const std::u32string& text) {
  if (auto value = python_int(text)) return value;
  return python_float(text);
}

struct Ymd {
  int year, month, day;
};

std::optional<Ymd> parse_date(const std::u32string& text) {
  std::vector<std::u32string> parts(1);
  for (const char32_t c : text) {
    if (c == U'-') parts.emplace_back();
    else parts.back().push_back(c < 128 ? static_cast<char32_t>(std::tolower(static_cast<int>(c))) : c);
  }
  if (parts.size() != 3) return std::nullopt;
  const auto field = [](const std::u32string& part, bool year) -> std::optional<int> {
    if (part == U"xx" || (year && part == U"xxxx")) return -1;
    const auto value = python_int(part);
    if (!value || std::abs(*value) > 1e9) return std::nullopt;
    return static_cast<int>(*value);
  };
  const auto year = field(parts[0], true), month = field(parts[1], false), day = field(parts[2], false);
  if (!year || !month || !day) return std::nullopt;
  if (*year == -1 && *month == -1 && *day == -1) return std::nullopt;
  if (*month != -1 && (*month < 1 || *month > 12)) return std::nullopt;
  if (*day != -1 && (*day < 1 || *day > 31)) return std::nullopt;
  return Ymd{*year, *month, *day};
}

// unicode(amount) for an amount given without its text: Python 2 prints 12 significant digits.
std::string number_text(double amount) {
  char buffer[64];
  if (amount == std::round(amount) && std::abs(amount) < 1e18) std::snprintf(buffer, sizeof buffer, "%lld", static_cast<long long>(amount));
  else std::snprintf(buffer, sizeof buffer, "%.12g", amount);
  return buffer;
}

}  // namespace

// ---- normalisation ----------------------------------------------------------------------------

std::string normalize(std::string_view text) {
  std::u32string x = without_diacritics(decode(text));
  for (char32_t& c : x) {
    if (c == U'‘' || c == U'’' || c == U'´' || c == U'`') c = U'\'';
    else if (c == U'“' || c == U'”') c = U'"';
    else if (c == U'‐' || c == U'‑' || c == U'‒' || c == U'–' || c == U'—' || c == U'−') c = U'-';
  }
  while (true) {
    const std::u32string before = x;
    x = strip(x);
    x.resize(citations_start(x));
    x = strip(x);
    x.resize(details_start(x));
    x = strip(x);
    if (x.size() >= 2 && x.front() == U'"' && x.back() == U'"' &&
        x.find(U'"', 1) == x.size() - 1)
      x = x.substr(1, x.size() - 2);
    if (x == before) break;
  }
  if (!x.empty() && x.back() == U'.') x.pop_back();
  std::u32string collapsed;
  for (const char32_t c : x) {
    if (is_space(c)) {
      if (collapsed.empty() || collapsed.back() != U' ') collapsed.push_back(U' ');
    } else {
      collapsed.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
    }
  }
  return encode(strip(collapsed));
}

// ---- values -------------------------------------------------------------------------------------

bool Value::matches(const Value& other) const {
  if (normalized == other.normalized) return true;
  if (kind == Kind::number && other.kind == Kind::number) return std::abs(amount - other.amount) < 1e-6;
  if (kind == Kind::date && other.kind == Kind::date)
    return year == other.year && month == other.month && day == other.day;
  return false;
}

bool Value::same_as(const Value& other) const {
  if (kind != other.kind) return false;
  switch (kind) {
    case Kind::string: return normalized == other.normalized;
    case Kind::number: return amount == other.amount;
    case Kind::date: return year == other.year && month == other.month && day == other.day;
  }
  return false;
}

Value to_value(std::string_view original, std::optional<std::string_view> canonical) {
  const std::u32string kind_text = decode(canonical && !canonical->empty() ? *canonical : original);
  Value value;
  const auto number = [&](double amount) {
    value.kind = Value::Kind::number;
    value.amount = std::abs(amount - std::round(amount)) < 1e-6 ? std::round(amount) : amount;
    value.normalized = original.empty() ? number_text(value.amount) : normalize(original);
    return value;
  };
  if (const auto amount = parse_number(kind_text)) return number(*amount);
  if (const auto ymd = parse_date(kind_text)) {
    if (ymd->month == -1 && ymd->day == -1) return number(ymd->year);
    value.kind = Value::Kind::date;
    value.year = ymd->year;
    value.month = ymd->month;
    value.day = ymd->day;
    // The evaluator prints an unknown day as -1 here (it compares the day with the string '-1').
    value.normalized = original.empty() ? (ymd->year == -1 ? "xx" : std::to_string(ymd->year)) + "-" +
                                              (ymd->month == -1 ? "xx" : std::to_string(ymd->month)) + "-" + std::to_string(ymd->day)
                                        : normalize(original);
    return value;
  }
  value.normalized = normalize(original);
  return value;
}

std::vector<Value> to_value_list(const std::vector<std::string>& originals, const std::vector<std::string>* canonicals) {
  if (canonicals != nullptr && canonicals->size() != originals.size())
    throw InputError("the target has " + std::to_string(originals.size()) + " value(s) but " +
                     std::to_string(canonicals->size()) + " canonical form(s)");
  std::vector<Value> values;
  for (std::size_t i = 0; i < originals.size(); ++i) {
    Value v = canonicals != nullptr ? to_value(originals[i], (*canonicals)[i]) : to_value(originals[i]);
    bool seen = false;
    for (const auto& earlier : values) seen = seen || earlier.same_as(v);
    if (!seen) values.push_back(std::move(v));
  }
  return values;
}

bool check_denotation(const std::vector<Value>& targets, const std::vector<Value>& predicted) {
  if (targets.size() != predicted.size()) return false;
  for (const auto& target : targets) {
    bool found = false;
    for (const auto& p : predicted) found = found || target.matches(p);
    if (!found) return false;
  }
  return true;
}

std::string tsv_unescape(std::string_view text) {
  // In the evaluator's order: \n, then \p, then \\ (so "\\n" becomes a backslash and a newline).
  std::string out(text);
  const auto replace_all = [&](std::string_view from, std::string_view to) {
    std::string result;
    for (std::size_t i = 0; i < out.size();) {
      if (out.compare(i, from.size(), from) == 0) {
        result += to;
        i += from.size();
      } else {
        result.push_back(out[i++]);
      }
    }
    out = std::move(result);
  };
  replace_all("\\n", "\n");
  replace_all("\\p", "|");
  replace_all("\\\\", "\\");
  return out;
}

std::vector<std::string> tsv_unescape_list(std::string_view text) {
  std::vector<std::string> out;
  for (const auto& part : split(text, '|')) out.push_back(tsv_unescape(part));
  return out;
}

// ---- dataset and predictions ------------------------------------------------------------------

namespace {

// Reads one dataset TSV (header line, then a question per line) into `questions`.
void read_tsv(const fs::path& file, bool tagged, std::map<std::string, Question>& questions) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(file.string() + ": cannot be read");
  std::string line;
  if (!std::getline(in, line)) throw InputError(file.string() + ": empty (expected a header line)");
  const auto header = split(line, '\t');
  const auto column = [&](const char* name) -> std::size_t {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return i;
    throw InputError(file.string() + ": no column \"" + name + "\" in the header");
  };
  const std::size_t id = column("id"), utterance = column("utterance"), context = column("context"),
                    target = column("targetValue"), canon = tagged ? column("targetCanon") : 0;
  for (std::size_t number = 2; std::getline(in, line); ++number) {
    const auto fields = split(line, '\t');
    const std::string where = file.string() + ":" + std::to_string(number);
    if (fields.size() < header.size())
      throw InputError(where + ": " + std::to_string(fields.size()) + " field(s), the header has " + std::to_string(header.size()));
    if (!tagged && questions.count(fields[id])) continue;  // the tagged file's typing wins
    Question q{fields[id], fields[utterance], fields[context], fields[target], {}, tagged};
    const auto originals = tsv_unescape_list(fields[target]);
    try {
      if (tagged) {
        const auto canonicals = tsv_unescape_list(fields[canon]);
        q.targets = to_value_list(originals, &canonicals);
      } else {
        q.targets = to_value_list(originals);
      }
    } catch (const InputError& e) {
      throw InputError(where + ": question " + q.id + ": " + e.what());
    }
    questions[q.id] = std::move(q);
  }
}

std::vector<fs::path> files_in(const fs::path& dir, const std::string& extension) {
  std::vector<fs::path> files;
  std::error_code error;
  if (!fs::is_directory(dir, error)) return files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().extension() == extension) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

std::map<std::string, Question> read_questions(const fs::path& dataset_dir) {
  const auto tagged = files_in(dataset_dir / "tagged" / "data", ".tagged");
  const auto plain = files_in(dataset_dir / "data", ".tsv");
  if (tagged.empty() && plain.empty())
    throw InputError(dataset_dir.string() + ": not a WikiTableQuestions directory (no data/*.tsv or tagged/data/*.tagged)");
  std::map<std::string, Question> questions;
  for (const auto& file : tagged) read_tsv(file, true, questions);
  for (const auto& file : plain) read_tsv(file, false, questions);
  return questions;
}

Score score_predictions(const std::map<std::string, Question>& questions, const fs::path& predictions) {
  std::ifstream in(predictions, std::ios::binary);
  if (!in) throw InputError(predictions.string() + ": cannot be read");
  Score score;
  for (std::string line; std::getline(in, line);) {
    auto fields = split(line, '\t');
    Verdict verdict;
    verdict.id = fields.front();
    verdict.predicted.assign(fields.begin() + 1, fields.end());
    const auto it = questions.find(verdict.id);
    verdict.known = it != questions.end();
    if (verdict.known) {
      verdict.correct = check_denotation(it->second.targets, to_value_list(verdict.predicted));
      ++score.examples;
      score.correct += verdict.correct;
    } else {
      ++score.unknown;
    }
    score.verdicts.push_back(std::move(verdict));
  }
  return score;
}

// ---- as a benchmark for rollouts ---------------------------------------------------------------

namespace {

class WikiTQ final : public Benchmark {
 public:
  WikiTQ(const fs::path& dataset_dir, const std::string& split) {
    const fs::path file = dataset_dir / "data" / (split + ".tsv");
    std::error_code error;
    if (!fs::is_regular_file(file, error))
      throw InputError(file.string() + ": no such split file (benchmark.split names data/<split>.tsv)");
    auto all = read_questions(dataset_dir);
    std::ifstream in(file, std::ios::binary);
    std::string line;
    std::getline(in, line);  // header (read_questions has checked it)
    while (std::getline(in, line)) {
      const std::string id = line.substr(0, line.find('\t'));
      auto it = all.find(id);
      if (it == all.end() || questions_.count(id)) continue;
      Question& q = questions_[id] = std::move(it->second);
      const fs::path table = dataset_dir / q.table;
      if (q.table.empty() || !fs::is_regular_file(table, error))
        throw InputError(file.string() + ": question " + id + ": its table " + table.string() + " is missing");
      Task task;
      task.id = id;
      task.files.copies.emplace_back("table.csv", table);
      fs::path tsv = table;
      tsv.replace_extension(".tsv");
      const bool has_tsv = fs::is_regular_file(tsv, error);
      if (has_tsv) task.files.copies.emplace_back("table.tsv", tsv);
      task.instruction = "Answer this question about the table in table.csv (comma-separated, first line is the header" +
                         std::string(has_tsv ? "; table.tsv holds the same table tab-separated" : "") + "):\n\n" +
                         q.utterance + "\n\n" + kAnswerInstruction;
      for (const auto& [name, path] : task.files.copies) task.files_listed.push_back(name);
      task.gold = tsv_unescape_list(q.target_text);
      tasks_.push_back(std::move(task));
    }
    std::sort(tasks_.begin(), tasks_.end(), [](const Task& a, const Task& b) { return a.id < b.id; });
  }

  std::string name() const override { return "wikitq"; }
  const std::vector<Task>& tasks() const override { return tasks_; }

  agent::Verdict check(const Task& task, const std::string& answer, const agent::Sandbox&) const override {
    const Question& q = questions_.at(task.id);
    std::vector<std::string> values;
    for (auto& value : split(final_answer(answer), '|')) {
      const auto first = value.find_first_not_of(" \t\r\n");
      const auto last = value.find_last_not_of(" \t\r\n");
      if (first != std::string::npos) values.push_back(value.substr(first, last - first + 1));
    }
    agent::Verdict verdict;
    if (values.empty()) {
      verdict.feedback = "no answer was given";
      return verdict;
    }
    const auto predicted = to_value_list(values);
    verdict.passed = check_denotation(q.targets, predicted);
    verdict.score = verdict.passed ? 1.0 : 0.0;
    verdict.feedback = verdict.passed ? "correct"
                       : predicted.size() != q.targets.size()
                           ? "wrong: the answer has " + std::to_string(predicted.size()) + " distinct value(s), the question wants " +
                                 std::to_string(q.targets.size())
                           : "wrong answer";
    return verdict;
  }

 private:
  std::map<std::string, Question> questions_;
  std::vector<Task> tasks_;
};

}  // namespace

std::unique_ptr<Benchmark> open(const fs::path& dataset_dir, const std::string& split) {
  return std::make_unique<WikiTQ>(dataset_dir, split);
}

}  // namespace t2s::benchmarks::wikitq
