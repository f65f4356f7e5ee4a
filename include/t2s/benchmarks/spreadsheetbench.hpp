// benchmarks/spreadsheetbench: SpreadsheetBench tasks (dataset.json and spreadsheet/<id>/ holding
// <case>_<id>_input.xlsx and <case>_<id>_answer.xlsx) and the official online-judge checking: the
// agent applies the request to every input workbook and writes <case>_<id>_output.xlsx; each output
// is compared with its answer workbook on every cell of answer_position, after its formulas are
// recalculated. A case passes when all its cells match; soft score = share of cases passed, hard =
// all cases passed.
//
// The official cell rule (evaluation/evaluation.py of RUCKBReasoning/SpreadsheetBench): numbers
// (and booleans) are rounded to 2 decimals; datetimes become Excel serial days rounded to 0; times
// "HH:MM"; text that Python's float() reads is that number, rounded; an empty cell equals ''; the
// types must otherwise match. A range without a sheet is on the answer workbook's first sheet.
//
// Output workbooks are written by a model: they are opened only inside a checker sandbox
// (agent::Sandbox), by Debian's /usr/bin/python3 with openpyxl, after LibreOffice headless has
// recalculated them (one soffice call for a batch of workbooks). A workbook whose every formula
// already carries a result (saved by Excel or LibreOffice) is read as it is: LibreOffice 7.4 lacks
// XLOOKUP and evaluates some array expressions otherwise than Excel, so recalculating Excel's results
// would only make them worse. Workbooks with formulas but no results (openpyxl's), or that ask for
// a full calculation on load, are recalculated.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "t2s/agent/sandbox.hpp"
#include "t2s/benchmarks/benchmark.hpp"

namespace t2s::benchmarks::spreadsheetbench {

// One range of an answer position: cells first..last (corners ordered) on `sheet`.
struct Range {
  std::string sheet;        // empty: the answer workbook's first sheet
  std::string first, last;  // "A1", "C7" (equal for a single cell)
  std::string text() const; // "'Sheet1'!A1:C7"
};

// The dataset's answer_position as the official checker reads it: ranges separated by ',', each
// SHEET!RANGE or RANGE, quotes around either part dropped ("'Sheet1!'A2:B19" is Sheet1, A2:B19).
// InputError (naming `text`) for a range that is not CELL or CELL:CELL, or more than 1,000,000 cells.
std::vector<Range> parse_answer_position(std::string_view text);

struct TestCase {
  int number = 0;
  std::string input_name, output_name;  // <case>_<id>_input.xlsx, <case>_<id>_output.xlsx
  std::filesystem::path input, answer;  // in the dataset directory
};

struct Entry {
  std::string id, instruction, instruction_type, answer_position;
  std::vector<Range> ranges;
  std::vector<TestCase> cases;  // by case number
};

// Every task of a dataset directory, ordered by id (ids may be strings or integers in the file).
// InputError naming the file (and the entry's index and key) for anything unusable: a missing field,
// an id that is not a plain name ([A-Za-z0-9_.-], as it becomes part of file names), an answer
// position that cannot be read, a task without test cases or an input without its answer.
std::vector<Entry> read_dataset(const std::filesystem::path& dataset_dir);

// Where and how the checker sandboxes run.
struct CheckerOptions {
  std::filesystem::path sandbox_root;  // empty: the temporary directory
  agent::Isolation isolation = agent::Isolation::required;
};

struct CaseVerdict {
  int number = 0;
  std::string output_name;
  bool passed = false;
  bool missing = false;  // no output workbook
  std::string reason;    // which cell failed and why, never the expected value
};

struct TaskVerdict {
  std::string id;
  std::vector<CaseVerdict> cases;
  std::size_t passed() const;
  double soft() const;  // share of the cases passed
  bool hard() const;    // every case passed
  bool missing() const; // no output for any case
  std::string feedback() const;  // one line per case, then "N of M test cases passed"
};

// The bytes of each case's output workbook (nullopt: missing), in the order of entry.cases.
using CaseOutputs = std::vector<std::optional<std::string>>;

// Checks the outputs of several tasks in one checker sandbox (one LibreOffice call for all the
// workbooks that need a recalculation). Verdicts in the order given. Error when the checker cannot
// run (no LibreOffice, Python or openpyxl; a sandbox that cannot be made).
std::vector<TaskVerdict> check_outputs(const std::vector<std::pair<const Entry*, CaseOutputs>>& work,
                                       const CheckerOptions& options = {});

struct Score {
  std::vector<TaskVerdict> tasks;  // in dataset order
  std::size_t missing = 0;         // tasks with no output at all (counted as failures)
  double soft = 0.0, hard = 0.0;   // averages over all tasks of the dataset
};

// Scores a directory of <case>_<id>_output.xlsx files (as the official evaluation lays them out)
// against the dataset. A file that is not a regular file, or is larger than 64 MiB, fails its case.
Score score_outputs(const std::vector<Entry>& entries, const std::filesystem::path& outputs_dir,
                    const CheckerOptions& options = {});

// The cell rule alone, run by the same Python code in a checker sandbox: for each pair (expected,
// got) whether they match. Values are JSON null, numbers, booleans, strings, or {"datetime":
// "2024-01-31T12:00:00"} / {"time": "13:45:10"} for the Python types openpyxl reads.
std::vector<bool> compare_values(const std::vector<std::pair<nlohmann::json, nlohmann::json>>& pairs,
                                 const CheckerOptions& options = {});

// The benchmark of a dataset directory. `options` (an object, or null): sandbox_root (string: where
// checker sandboxes are made), isolation ("required" or "preferred"); kind, data and limit are the
// caller's ([benchmark] keys read by open_benchmark) and are accepted. InputError naming
// `where.key` for any other key or a wrong type.
std::unique_ptr<Benchmark> open(const std::filesystem::path& dataset_dir, const nlohmann::json& options,
                                const std::string& where = "benchmark");

}  // namespace t2s::benchmarks::spreadsheetbench
