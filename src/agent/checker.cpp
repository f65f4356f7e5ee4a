#include "t2s/agent/checker.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <set>
#include <variant>

#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"

namespace t2s::agent {

using nlohmann::json;

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
// Bytes of UTF-8 sequences belong to words: non-ASCII letters are compared as they are.
bool is_word_byte(char c) { return is_alpha(c) || is_digit(c) || static_cast<unsigned char>(c) >= 0x80; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::optional<double> parse_double(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

bool close_enough(double a, double b, double rel_tol, double abs_tol) {
  if (std::isnan(a) || std::isnan(b)) return false;
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::fabs(a - b) <= std::max(abs_tol, rel_tol * std::max(std::fabs(a), std::fabs(b)));
}

// A number at `text[i]`: [+-]? (digits with optional ",ddd" groups | digits? "." digits) exponent?
// Returns its length (0: none) and value.
std::size_t scan_number(std::string_view text, std::size_t i, double& value) {
  const std::size_t start = i;
  std::string digits;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) {
    if (text[i] == '-') digits += '-';
    ++i;
  }
  const std::size_t int_start = i;
  while (i < text.size() && is_digit(text[i])) digits += text[i++];
  const std::size_t int_digits = i - int_start;
  // Thousands separators: 1-3 digits, then groups of exactly three.
  if (int_digits >= 1 && int_digits <= 3) {
    while (i + 3 < text.size() && text[i] == ',' && is_digit(text[i + 1]) && is_digit(text[i + 2]) && is_digit(text[i + 3]) &&
           (i + 4 >= text.size() || !is_digit(text[i + 4]))) {
      digits.append(text.substr(i + 1, 3));
      i += 4;
    }
  }
  std::size_t frac_digits = 0;
  if (i + 1 < text.size() && text[i] == '.' && is_digit(text[i + 1])) {
    digits += text[i++];
    while (i < text.size() && is_digit(text[i])) {
      digits += text[i++];
      ++frac_digits;
    }
  }
  if (int_digits == 0 && frac_digits == 0) return 0;
  if (i + 1 < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    std::size_t j = i + 1;
    if (j < text.size() && (text[j] == '+' || text[j] == '-')) ++j;
    if (j < text.size() && is_digit(text[j])) {
      digits += 'e';
      digits.append(text.substr(i + 1, j - i - 1));
      i = j;
      while (i < text.size() && is_digit(text[i])) digits += text[i++];
    }
  }
  const auto parsed = parse_double(digits);
  if (!parsed) return 0;
  value = *parsed;
  return i - start;
}

using Token = std::variant<std::string, double>;

std::vector<Token> tokenize(std::string_view text) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const bool at_boundary = i == 0 || !is_word_byte(text[i - 1]);
    if (at_boundary && (is_digit(c) || c == '.' || c == '-' || c == '+')) {
      double value = 0;
      if (const std::size_t n = scan_number(text, i, value)) {
        tokens.emplace_back(value);
        i += n;
        continue;
      }
    }
    if (is_word_byte(c)) {
      std::string word;
      while (i < text.size() && is_word_byte(text[i])) {
        const char b = text[i++];
        word += (b >= 'A' && b <= 'Z') ? static_cast<char>(b - 'A' + 'a') : b;
      }
      tokens.emplace_back(std::move(word));
      continue;
    }
    ++i;  // whitespace and punctuation separate tokens and are otherwise ignored
  }
  return tokens;
}

// "1, 2.5; 3", "[1 2 3]", "(4)": numbers separated by commas, semicolons or whitespace.
std::optional<std::vector<double>> parse_number_list(std::string_view text, std::string* bad = nullptr) {
  text = trim(text);
  if (text.size() >= 2 && ((text.front() == '[' && text.back() == ']') || (text.front() == '(' && text.back() == ')'))) {
    text = trim(text.substr(1, text.size() - 2));
  }
  std::vector<double> numbers;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (is_space(text[i]) || text[i] == ',' || text[i] == ';')) ++i;
    if (i >= text.size()) break;
    std::size_t j = i;
    while (j < text.size() && !is_space(text[j]) && text[j] != ',' && text[j] != ';') ++j;
    const auto value = parse_double(text.substr(i, j - i));
    if (!value) {
      if (bad != nullptr) *bad = std::string(text.substr(i, j - i));
      return std::nullopt;
    }
    numbers.push_back(*value);
    i = j;
  }
  if (numbers.empty()) return std::nullopt;
  return numbers;
}

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') quoted += "'\\''";
    else quoted += c;
  }
  return quoted + "'";
}

std::string number_text(double value) {
  char buffer[64];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return error == std::errc() ? std::string(buffer, end) : "?";
}

// ---- JSON configuration ----

[[noreturn]] void bad(const std::string& where, const std::string& why) { throw InputError(where + ": " + why); }

double number_at(const json& value, const std::string& where) {
  if (!value.is_number()) bad(where, "expected a number, got " + std::string(value.type_name()));
  const double v = value.get<double>();
  if (!std::isfinite(v) || v < 0) bad(where, "expected a finite number >= 0");
  return v;
}

std::uint64_t size_at(const json& value, const std::string& where) {
  if (!value.is_number_integer() && !value.is_number_unsigned()) bad(where, "expected an integer, got " + std::string(value.type_name()));
  if (value.is_number_integer() && value.get<std::int64_t>() < 0) bad(where, "expected an integer >= 0");
  return value.get<std::uint64_t>();
}

std::string string_at(const json& value, const std::string& where) {
  if (!value.is_string()) bad(where, "expected a string, got " + std::string(value.type_name()));
  return value.get<std::string>();
}

std::string gold_text(const json& value, const std::string& where) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number()) return value.dump();
  if (value.is_array()) {
    std::string joined;
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (!value[i].is_string() && !value[i].is_number()) bad(where + "[" + std::to_string(i) + "]", "expected a string or a number");
      joined += (i == 0 ? "" : ", ") + gold_text(value[i], where);
    }
    return joined;
  }
  bad(where, "expected a string, a number or an array of them, got " + std::string(value.type_name()));
}

}  // namespace

const char* to_string(CheckKind kind) {
  switch (kind) {
    case CheckKind::exact: return "exact";
    case CheckKind::normalised: return "normalised";
    case CheckKind::numeric: return "numeric";
    case CheckKind::command: return "command";
  }
  return "?";
}

CheckerConfig CheckerConfig::from_json(const json& config, const std::string& where) {
  if (!config.is_object()) bad(where, "expected a table (object), got " + std::string(config.type_name()));
  static const std::set<std::string> keys = {"kind", "gold", "rel_tol", "abs_tol", "command", "candidate_name", "files",
                                             "copies", "sandbox_root", "disk_bytes", "feedback_bytes", "limits"};
  for (const auto& [key, value] : config.items())
    if (!keys.count(key)) {
      std::string allowed;
      for (const auto& k : keys) allowed += (allowed.empty() ? "" : ", ") + k;
      bad(where + "." + key, "unknown key (allowed: " + allowed + ")");
    }
  CheckerConfig c;
  if (!config.contains("kind")) bad(where + ".kind", "missing (exact, normalised, numeric or command)");
  const std::string kind = string_at(config["kind"], where + ".kind");
  if (kind == "exact") c.kind = CheckKind::exact;
  else if (kind == "normalised" || kind == "normalized") c.kind = CheckKind::normalised;
  else if (kind == "numeric") c.kind = CheckKind::numeric;
  else if (kind == "command") c.kind = CheckKind::command;
  else bad(where + ".kind", "\"" + abbreviate(kind, 40) + "\" is not one of exact, normalised, numeric, command");
  if (c.kind != CheckKind::command && !config.contains("gold")) bad(where + ".gold", "missing (the " + kind + " checker compares with it)");
  if (config.contains("gold")) c.gold = gold_text(config["gold"], where + ".gold");
  if (config.contains("rel_tol")) c.rel_tol = number_at(config["rel_tol"], where + ".rel_tol");
  if (config.contains("abs_tol")) c.abs_tol = number_at(config["abs_tol"], where + ".abs_tol");
  if (config.contains("command")) c.command = string_at(config["command"], where + ".command");
  if (config.contains("candidate_name")) c.candidate_name = string_at(config["candidate_name"], where + ".candidate_name");
  if (config.contains("files")) {
    const json& files = config["files"];
    if (!files.is_object()) bad(where + ".files", "expected a table of name = text");
    for (const auto& [name, text] : files.items()) c.files.files[name] = string_at(text, where + ".files." + name);
  }
  if (config.contains("copies")) {
    const json& copies = config["copies"];
    if (!copies.is_object()) bad(where + ".copies", "expected a table of name = path");
    for (const auto& [name, path] : copies.items()) c.files.copies.emplace_back(name, string_at(path, where + ".copies." + name));
  }
  if (config.contains("sandbox_root")) c.sandbox_root = string_at(config["sandbox_root"], where + ".sandbox_root");
  if (config.contains("disk_bytes")) c.sandbox.disk_bytes = size_at(config["disk_bytes"], where + ".disk_bytes");
  if (config.contains("feedback_bytes")) c.feedback_bytes = size_at(config["feedback_bytes"], where + ".feedback_bytes");
  if (config.contains("limits")) {
    const json& limits = config["limits"];
    const std::string at = where + ".limits";
    if (!limits.is_object()) bad(at, "expected a table");
    for (const auto& [key, value] : limits.items()) {
      if (key == "wall_s") c.limits.wall_s = number_at(value, at + ".wall_s");
      else if (key == "cpu_s") c.limits.cpu_s = number_at(value, at + ".cpu_s");
      else if (key == "memory_bytes") c.limits.memory_bytes = size_at(value, at + ".memory_bytes");
      else if (key == "file_bytes") c.limits.file_bytes = size_at(value, at + ".file_bytes");
      else if (key == "processes") c.limits.processes = size_at(value, at + ".processes");
      else if (key == "output_bytes") c.limits.output_bytes = size_at(value, at + ".output_bytes");
      else bad(at + "." + key, "unknown key (allowed: wall_s, cpu_s, memory_bytes, file_bytes, processes, output_bytes)");
    }
  }
  return c;
}

Checker::Checker(CheckerConfig config) : config_(std::move(config)) {
  const std::string where = std::string("checker (") + to_string(config_.kind) + ")";
  if (!std::isfinite(config_.rel_tol) || config_.rel_tol < 0 || !std::isfinite(config_.abs_tol) || config_.abs_tol < 0)
    throw InputError(where + ": rel_tol and abs_tol must be finite and >= 0");
  switch (config_.kind) {
    case CheckKind::numeric: {
      std::string bad_token;
      auto numbers = parse_number_list(config_.gold, &bad_token);
      if (!numbers) throw InputError(where + ": the gold answer is not a number or a list of numbers (\"" + abbreviate(bad_token, 40) + "\")");
      gold_numbers_ = std::move(*numbers);
      break;
    }
    case CheckKind::command:
      if (trim(config_.command).empty()) throw InputError(where + ": needs a command");
      Sandbox::check_name(config_.candidate_name);
      for (const auto& [name, bytes] : config_.files.files) Sandbox::check_name(name);
      for (const auto& [name, path] : config_.files.copies) Sandbox::check_name(name);
      if (!(config_.limits.wall_s > 0) || !(config_.limits.cpu_s > 0)) throw InputError(where + ": limits.wall_s and cpu_s must be > 0");
      break;
    case CheckKind::exact:
    case CheckKind::normalised:
      break;
  }
}

Verdict Checker::check(std::string_view candidate) const {
  Verdict v;
  switch (config_.kind) {
    case CheckKind::exact: {
      v.passed = trim(candidate) == trim(config_.gold);
      v.score = v.passed ? 1.0 : 0.0;
      v.feedback = v.passed ? "correct (exact match)"
                            : "wrong: the answer does not match the expected one exactly (compared byte for byte after "
                              "trimming surrounding whitespace)";
      return v;
    }
    case CheckKind::normalised: {
      const std::vector<Token> got = tokenize(candidate), want = tokenize(config_.gold);
      std::size_t first_difference = std::min(got.size(), want.size());
      for (std::size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
        const bool same = got[i].index() == want[i].index() &&
                          (got[i].index() == 0 ? std::get<0>(got[i]) == std::get<0>(want[i])
                                               : close_enough(std::get<1>(got[i]), std::get<1>(want[i]), config_.rel_tol, config_.abs_tol));
        if (!same) {
          first_difference = i;
          break;
        }
      }
      v.passed = got.size() == want.size() && first_difference == got.size();
      v.score = v.passed ? 1.0 : 0.0;
      if (v.passed) v.feedback = "correct (normalised match)";
      else if (got.size() != want.size() && first_difference == std::min(got.size(), want.size()))
        v.feedback = "wrong: the answer has " + std::to_string(got.size()) + " words and numbers, the expected one " +
                     std::to_string(want.size()) + " (case, spacing and punctuation are ignored)";
      else
        v.feedback = "wrong: the answer differs from the expected one at word or number " + std::to_string(first_difference + 1) +
                     " (case, spacing and punctuation are ignored; numbers are compared as numbers)";
      return v;
    }
    case CheckKind::numeric: {
      std::string bad_token;
      const auto numbers = parse_number_list(candidate, &bad_token);
      if (!numbers) {
        v.feedback = bad_token.empty() ? "wrong: the answer holds no number"
                                       : "wrong: \"" + abbreviate(bad_token, 40) + "\" is not a number (expected a number or a list of numbers)";
        return v;
      }
      if (numbers->size() != gold_numbers_.size()) {
        v.feedback = "wrong: expected " + std::to_string(gold_numbers_.size()) + (gold_numbers_.size() == 1 ? " number" : " numbers") +
                     ", got " + std::to_string(numbers->size());
        return v;
      }
      std::size_t right = 0;
      std::string wrong;
      for (std::size_t i = 0; i < numbers->size(); ++i) {
        if (close_enough((*numbers)[i], gold_numbers_[i], config_.rel_tol, config_.abs_tol)) ++right;
        else if (wrong.size() < 200) wrong += (wrong.empty() ? "" : ", ") + std::string("#") + std::to_string(i + 1) + " (" + number_text((*numbers)[i]) + ")";
      }
      v.score = static_cast<double>(right) / static_cast<double>(numbers->size());
      v.passed = right == numbers->size();
      v.feedback = v.passed ? "correct (numeric match)"
                            : "wrong: " + std::to_string(numbers->size() - right) + " of " + std::to_string(numbers->size()) +
                                  " numbers are outside the tolerance: " + wrong;
      return v;
    }
    case CheckKind::command:
      return check_command(candidate);
  }
  return v;
}

Verdict Checker::check_command(std::string_view candidate) const {
  SandboxContents contents = config_.files;
  contents.files[config_.candidate_name] = std::string(candidate);
  const std::filesystem::path root = config_.sandbox_root.empty() ? std::filesystem::temp_directory_path() : config_.sandbox_root;
  SandboxOptions options = config_.sandbox;
  options.prefix = "checker";
  const Sandbox sandbox(root, contents, options);
  std::string command = config_.command;
  const std::string quoted = shell_quote(config_.candidate_name);
  for (std::size_t at = command.find("{candidate}"); at != std::string::npos; at = command.find("{candidate}", at + quoted.size()))
    command.replace(at, 11, quoted);
  const CommandResult r = sandbox.run_bash(command, config_.limits, {{"T2S_CANDIDATE", config_.candidate_name}});
  Verdict v;
  v.passed = r.ok();
  v.score = v.passed ? 1.0 : 0.0;
  std::string output = r.stdout_text;
  if (!r.stderr_text.empty()) output += (output.empty() || output.back() == '\n' ? "" : "\n") + r.stderr_text;
  output = abbreviate(repair_utf8(std::string(trim(output))), config_.feedback_bytes);
  if (v.passed) v.feedback = output.empty() ? "correct (the checker passed)" : output;
  else v.feedback = "wrong: the checker " + r.describe() + (output.empty() ? std::string() : ":\n" + output);
  return v;
}

Verdict Checker::check_file(const Sandbox& sandbox, const std::string& name) const {
  constexpr std::size_t kMax = std::size_t{64} << 20;
  FileContent file;
  try {
    file = sandbox.read_file(name, kMax);
  } catch (const InputError& e) {
    return Verdict{false, 0.0, std::string("wrong: ") + e.what()};
  }
  if (file.truncated) return Verdict{false, 0.0, "wrong: \"" + name + "\" is larger than " + format_bytes(kMax)};
  return check(file.bytes);
}

}  // namespace t2s::agent
