// benchmarks/wikitq: WikiTableQuestions answers checked with the official evaluator's semantics
// (evaluator.py 1.0.2 of the dataset release): values are strings, numbers or dates; a predicted
// answer list is correct when it has as many distinct values as the target list and every target
// value matches one of them (equal normalised text, or equal number / date).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "t2s/benchmarks/benchmark.hpp"

namespace t2s::benchmarks::wikitq {

// The evaluator's string normalisation: diacritics removed (NFKD without combining marks), smart
// quotes and dashes made ASCII, trailing citations ([1], *, †…) and " (…)" details removed, one pair
// of outer double quotes removed, a final '.' removed, whitespace collapsed, lower case.
std::string normalize(std::string_view text);

struct Value {
  enum class Kind { string, number, date } kind = Kind::string;
  std::string normalized;  // of the original text (numbers and dates match on it too)
  double amount = 0;       // number: integral amounts are kept exact
  int year = -1, month = -1, day = -1;  // date: -1 where unspecified ("xx")

  // The evaluator's match: equal normalised text, or both numbers within 1e-6, or both dates with
  // equal fields.
  bool matches(const Value& other) const;
  // Identity inside a denotation set: strings by text, numbers by amount, dates by fields.
  bool same_as(const Value& other) const;
};

// `original` read as a number (Python's int, then float, without nan/inf), else a date
// ("yyyy-mm-dd", "xx" for an unknown field; a year alone is a number), else a string. `canonical`
// (CoreNLP's targetCanon) decides the kind when given; the text matched is always `original`'s.
Value to_value(std::string_view original, std::optional<std::string_view> canonical = std::nullopt);

// The distinct values of a list (first occurrence kept), as the evaluator's set.
std::vector<Value> to_value_list(const std::vector<std::string>& originals,
                                 const std::vector<std::string>* canonicals = nullptr);

bool check_denotation(const std::vector<Value>& targets, const std::vector<Value>& predicted);

// The dataset's TSV escapes: \n newline, \p '|', \\ backslash; a list is '|'-separated.
std::string tsv_unescape(std::string_view text);
std::vector<std::string> tsv_unescape_list(std::string_view text);

struct Question {
  std::string id, utterance, table, target_text;  // target_text: targetValue as in the file
  std::vector<Value> targets;
  bool canonical = false;  // targets typed by CoreNLP's targetCanon (from tagged/data)
};

// Every question of a dataset directory in the official layout: data/*.tsv, with tagged/data/*.tagged
// (which adds targetCanon) taking precedence for the ids it has. InputError names a malformed file
// and line.
std::map<std::string, Question> read_questions(const std::filesystem::path& dataset_dir);

struct Verdict {
  std::string id;
  bool known = false;    // the id is a question of the dataset
  bool correct = false;
  std::vector<std::string> predicted;  // the answers as given
};

struct Score {
  std::vector<Verdict> verdicts;  // in prediction order
  std::size_t examples = 0, correct = 0, unknown = 0;
  double accuracy() const { return examples == 0 ? 0.0 : static_cast<double>(correct) / static_cast<double>(examples); }
};

// Scores a predictions file in the official format (one line per question: id TAB answer TAB
// answer…; answers are taken as written), as evaluator.py does: ids not in the dataset are counted
// as unknown, not as examples.
Score score_predictions(const std::map<std::string, Question>& questions, const std::filesystem::path& predictions);

// The questions of data/<split>.tsv as tasks: the question, with the table as table.csv (and
// table.tsv when the dataset has it) in the sandbox; an answer is checked as a list of values
// ("a | b") by check_denotation. InputError for a missing split file or table.
std::unique_ptr<Benchmark> open(const std::filesystem::path& dataset_dir, const std::string& split);

}  // namespace t2s::benchmarks::wikitq
