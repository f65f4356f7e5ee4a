// SpreadsheetBench: answer positions, the dataset reader and the tasks it makes, the official cell
// rule through the real Python in a checker sandbox, and the whole checker (LibreOffice and openpyxl
// in checker sandboxes) on the shared sample (../shared/data/spreadsheetbench-sample): answers,
// inputs, edited answers, missing and hostile outputs, and the `t2s score` command.
#include "t2s/benchmarks/spreadsheetbench.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "t2s/core/error.hpp"
#include "testutil/run_command.hpp"
#include "testutil/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
namespace agent = t2s::agent;
using namespace t2s::benchmarks::spreadsheetbench;
using nlohmann::json;

fs::path sample() { return fs::path(T2S_SOURCE_DIR) / ".." / "shared" / "data" / "spreadsheetbench-sample"; }

bool have_checker_tools() {
  static const bool present =
      t2s::test::run_command("command -v soffice && /usr/bin/python3 -c 'import openpyxl'").status == 0;
  return present;
}

#define SKIP_WITHOUT_SAMPLE()                                                                     \
  if (!fs::exists(sample() / "dataset.json")) GTEST_SKIP() << "shared data not present: " << sample().string()
#define SKIP_WITHOUT_TOOLS()                                                                      \
  if (!have_checker_tools())                                                                      \
  GTEST_SKIP() << "LibreOffice (soffice) or python3-openpyxl missing: run scripts/install-deps"

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const t2s::InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// Copies workbook `from` to `to` with one cell set to a JSON value (openpyxl, on trusted files).
void edit_cell(const fs::path& from, const fs::path& to, const std::string& cell, const json& value) {
  const std::string script =
      "import json, sys, openpyxl\n"
      "wb = openpyxl.load_workbook(sys.argv[1])\n"
      "wb.worksheets[0][sys.argv[3]].value = json.loads(sys.argv[4])\n"
      "wb.save(sys.argv[2])\n";
  const auto r = t2s::test::run_command("/usr/bin/python3 -W ignore -c " + shell_quote(script) + " " + shell_quote(from.string()) +
                                        " " + shell_quote(to.string()) + " " + cell + " " + shell_quote(value.dump()));
  ASSERT_EQ(r.status, 0) << r.output;
}

// The value of a cell of the first sheet, as openpyxl reads its cached result, in JSON.
json cell_value(const fs::path& workbook, const std::string& cell) {
  const std::string script =
      "import json, sys, openpyxl\n"
      "print(json.dumps(openpyxl.load_workbook(sys.argv[1], data_only=True).worksheets[0][sys.argv[2]].value, default=str))\n";
  const auto r = t2s::test::run_command("(/usr/bin/python3 -W ignore -c " + shell_quote(script) + " " +
                                        shell_quote(workbook.string()) + " " + cell + " 2>/dev/null)");
  EXPECT_EQ(r.status, 0) << r.output;
  return json::parse(r.output);
}

const Entry& entry_of(const std::vector<Entry>& entries, const std::string& id) {
  for (const auto& e : entries)
    if (e.id == id) return e;
  throw std::runtime_error("no task " + id);
}

// A directory of outputs made from the dataset's `kind` ("answer" or "input") workbooks.
void copy_as_outputs(const std::vector<Entry>& entries, const fs::path& dir, const std::string& kind) {
  fs::create_directories(dir);
  for (const auto& e : entries)
    for (const auto& c : e.cases) fs::copy_file(kind == "answer" ? c.answer : c.input, dir / c.output_name);
}

// ------------------------------------------------------------------------------ answer positions

TEST(SpreadsheetbenchPosition, ReadsTheFormsTheDatasetUses) {
  auto r = parse_answer_position("'Sheet1'!A1:A4");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].sheet, "Sheet1");
  EXPECT_EQ(r[0].first, "A1");
  EXPECT_EQ(r[0].last, "A4");
  EXPECT_EQ(r[0].text(), "'Sheet1'!A1:A4");
  r = parse_answer_position("A1:N53");  // no sheet: the answer workbook's first
  EXPECT_EQ(r[0].sheet, "");
  EXPECT_EQ(r[0].text(), "A1:N53");
  r = parse_answer_position("E1");
  EXPECT_EQ(r[0].first, "E1");
  EXPECT_EQ(r[0].last, "E1");
  EXPECT_EQ(r[0].text(), "E1");
  // the sample's stray quotes: they are dropped around the sheet and around the cells
  r = parse_answer_position("'Sheet1!'A2:B19,'Sheet2!'A2:B19,'Sheet3!'A2:D11'");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[2].sheet, "Sheet3");
  EXPECT_EQ(r[2].last, "D11");
  EXPECT_EQ(parse_answer_position("Updated Data'!B5:B9")[0].sheet, "Updated Data");
  EXPECT_EQ(parse_answer_position("'ورقة1'!H2:L4")[0].sheet, "ورقة1");
  EXPECT_EQ(parse_answer_position("'O''Neil'!A1")[0].text(), "'O''Neil'!A1");  // quoted as Excel does
  r = parse_answer_position("C7:A1");  // corners in any order
  EXPECT_EQ(r[0].first, "A1");
  EXPECT_EQ(r[0].last, "C7");
  EXPECT_EQ(parse_answer_position("AA10:AB12")[0].last, "AB12");
}

TEST(SpreadsheetbenchPosition, RefusesWhatIsNotACellRange) {
  for (const char* bad : {"", "A1:B2:C3", "Sheet1!A1!B2", "a1", "A0", "XFE1", "A1048577", "1A", "!A1", "A1,", "Sheet1"})
    EXPECT_NE(error_of([&] { parse_answer_position(bad); }).find("answer position"), std::string::npos) << bad;
  EXPECT_NE(error_of([] { parse_answer_position("A1:XFD1048576"); }).find("more than 1000000 cells"), std::string::npos);
}

// ------------------------------------------------------------------------------ the dataset

TEST(SpreadsheetbenchDataset, ReadsTheSampleOrderedById) {
  SKIP_WITHOUT_SAMPLE();
  const auto entries = read_dataset(sample());
  ASSERT_EQ(entries.size(), 50u);
  for (std::size_t i = 1; i < entries.size(); ++i) EXPECT_LT(entries[i - 1].id, entries[i].id);
  const Entry& numeric = entry_of(entries, "57072");  // an integer id in the file
  EXPECT_EQ(numeric.instruction_type, "Cell-Level Manipulation");
  EXPECT_EQ(numeric.ranges[0].text(), "'Sheet2'!B1:B300");
  const Entry& e = entry_of(entries, "184-45");
  EXPECT_EQ(e.ranges.size(), 3u);
  ASSERT_EQ(e.cases.size(), 3u);
  EXPECT_EQ(e.cases[1].number, 2);
  EXPECT_EQ(e.cases[1].input_name, "2_184-45_input.xlsx");
  EXPECT_EQ(e.cases[1].output_name, "2_184-45_output.xlsx");
  EXPECT_EQ(e.cases[1].answer.filename(), "2_184-45_answer.xlsx");
  for (const auto& entry : entries) EXPECT_EQ(entry.cases.size(), 3u) << entry.id;
}

TEST(SpreadsheetbenchDataset, RefusesUnusableEntriesNamingThem) {
  t2s::test::TempDir temp;
  const auto dataset = [&](const json& entries) {
    fs::remove_all(temp.path());
    temp.write("spreadsheet/t1/1_t1_input.xlsx", "x");
    temp.write("spreadsheet/t1/1_t1_answer.xlsx", "x");
    temp.write("dataset.json", entries.dump());
    return error_of([&] { read_dataset(temp.path()); });
  };
  const json good = {{"id", "t1"}, {"instruction", "do it"}, {"instruction_type", "Cell-Level Manipulation"},
                     {"spreadsheet_path", "spreadsheet/t1"}, {"answer_position", "A1"}};
  EXPECT_EQ(dataset(json::array({good})), "(no InputError)");
  auto bad = good;
  bad["id"] = "../t1";
  EXPECT_NE(dataset(json::array({bad})).find("[0].id: \"../t1\" is not a plain name"), std::string::npos);
  EXPECT_NE(dataset(json::array({good, good})).find("[1].id: \"t1\" appears twice"), std::string::npos);
  bad = good;
  bad["id"] = 1.5;
  EXPECT_NE(dataset(json::array({bad})).find("[0].id: not a string or an integer"), std::string::npos);
  bad = good;
  bad.erase("instruction");
  EXPECT_NE(dataset(json::array({bad})).find("[0]: no \"instruction\""), std::string::npos);
  bad = good;
  bad["answer_position"] = "Sheet1!nowhere";
  EXPECT_NE(dataset(json::array({bad})).find("(task t1): answer position \"Sheet1!nowhere\""), std::string::npos);
  bad = good;
  bad["spreadsheet_path"] = "../elsewhere";
  EXPECT_NE(dataset(json::array({bad})).find("[0].spreadsheet_path"), std::string::npos);
  EXPECT_NE(dataset(json{{"id", "t1"}}).find("not a JSON array"), std::string::npos);

  temp.write("dataset.json", json::array({good}).dump());
  temp.write("spreadsheet/t1/2_t1_input.xlsx", "x");  // an input without its answer
  EXPECT_NE(error_of([&] { read_dataset(temp.path()); }).find("2_t1_input.xlsx has no answer workbook"), std::string::npos);
  fs::remove(temp / "spreadsheet/t1/2_t1_input.xlsx");
  fs::remove(temp / "spreadsheet/t1/1_t1_input.xlsx");
  EXPECT_NE(error_of([&] { read_dataset(temp.path()); }).find("1_t1_answer.xlsx has no input workbook"), std::string::npos);
  EXPECT_NE(error_of([&] { read_dataset(temp / "nowhere"); }).find("dataset.json: cannot be read"), std::string::npos);
}

TEST(SpreadsheetbenchBenchmark, TasksHoldTheInputsAndSayWhatToWrite) {
  SKIP_WITHOUT_SAMPLE();
  const auto benchmark = open(sample(), json::object());
  EXPECT_EQ(benchmark->name(), "spreadsheetbench");
  ASSERT_EQ(benchmark->tasks().size(), 50u);
  const t2s::benchmarks::Task* task = nullptr;
  for (const auto& t : benchmark->tasks())
    if (t.id == "79-7") task = &t;
  ASSERT_NE(task, nullptr);
  EXPECT_EQ(task->files_listed, (std::vector<std::string>{"1_79-7_input.xlsx", "2_79-7_input.xlsx", "3_79-7_input.xlsx"}));
  ASSERT_EQ(task->files.copies.size(), 3u);
  for (const auto& [name, source] : task->files.copies) EXPECT_EQ(source.filename().string().find("answer"), std::string::npos);
  EXPECT_EQ(task->gold, "'Sheet1'!A1:A4");
  for (const char* words : {"find and replace all instances of double quotes", "Sheet-Level Manipulation", "'Sheet1'!A1:A4",
                            "1_79-7_input.xlsx -> write the result to 1_79-7_output.xlsx",
                            "3_79-7_input.xlsx -> write the result to 3_79-7_output.xlsx", "same operation"})
    EXPECT_NE(task->instruction.find(words), std::string::npos) << words << "\n" << task->instruction;

  // the agent's sandbox starts with the inputs and nothing else
  t2s::test::TempDir temp;
  agent::Sandbox sandbox(temp.path(), task->files);
  EXPECT_TRUE(fs::exists(sandbox.path() / "2_79-7_input.xlsx"));
  for (const auto& file : fs::directory_iterator(sandbox.path()))
    EXPECT_EQ(file.path().filename().string().find("answer"), std::string::npos) << file.path();

  EXPECT_NO_THROW(open(sample(), nullptr));
  EXPECT_NO_THROW(open(sample(), {{"kind", "spreadsheetbench"}, {"data", sample().string()}, {"limit", 3}}));
  EXPECT_NE(error_of([] { open(sample(), {{"bogus", 1}}, "job.benchmark"); }).find("job.benchmark.bogus: unknown key"),
            std::string::npos);
  EXPECT_NE(error_of([] { open(sample(), {{"isolation", "none"}}); }).find("benchmark.isolation: must be"), std::string::npos);
  EXPECT_NE(error_of([] { open(sample(), {{"sandbox_root", 3}}); }).find("benchmark.sandbox_root: not a string"), std::string::npos);
  EXPECT_NE(error_of([] { open(sample(), json::array()); }).find("benchmark: not a table"), std::string::npos);
}

// ------------------------------------------------------------------------------ the cell rule

TEST(SpreadsheetbenchRules, FollowTheOfficialCellRule) {
  SKIP_WITHOUT_TOOLS();
  const json day = {{"datetime", "2024-01-31T00:00:00"}};  // Excel serial 45322
  const std::vector<std::tuple<json, json, bool>> cases = {
      // numbers: rounded to 2 decimals
      {1.0, 1.004, true}, {1.0, 1.006, false}, {3, 3.0, true}, {2.675, 2.67, true}, {-0.001, 0, true},
      // numeric text is its number; other text is compared exactly
      {3.1, "3.10", true}, {1000, "1e3", true}, {42, " 42 ", true}, {1000, "1,000", false},
      {"abc", "abc", true}, {"abc", "ABC", false}, {"abc", "abc ", false},
      // empty and ''
      {nullptr, "", true}, {"", nullptr, true}, {nullptr, nullptr, true}, {nullptr, 0, false}, {"", 0, false}, {nullptr, " ", false},
      // booleans count as the numbers 1 and 0
      {true, 1, true}, {false, 0, true}, {true, "TRUE", false},
      // datetimes: Excel serial days, rounded to 0
      {day, 45322, true}, {day, {{"datetime", "2024-01-31T11:00:00"}}, true}, {day, {{"datetime", "2024-01-31T13:00:00"}}, false},
      {day, "2024-01-31", false},
      // times: HH:MM
      {{{"time", "13:45:10"}}, {{"time", "13:45:59"}}, true}, {{{"time", "13:45:00"}}, {{"time", "13:46:00"}}, false},
      {{{"time", "13:45:00"}}, "13:45", true}, {{{"time", "13:45:00"}}, 0.5729, false},
  };
  std::vector<std::pair<json, json>> pairs;
  for (const auto& [a, b, same] : cases) pairs.emplace_back(a, b);
  const auto got = compare_values(pairs);
  ASSERT_EQ(got.size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(got[i], std::get<2>(cases[i])) << std::get<0>(cases[i]).dump() << " vs " << std::get<1>(cases[i]).dump();
}

// ------------------------------------------------------------------------------ the sample, checked

class SpreadsheetbenchSample : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(sample() / "dataset.json")) GTEST_SKIP() << "shared data not present: " << sample().string();
    if (!have_checker_tools()) GTEST_SKIP() << "LibreOffice (soffice) or python3-openpyxl missing: run scripts/install-deps";
    entries_ = read_dataset(sample());
  }
  std::vector<Entry> entries_;
};

// Every task at once, as `t2s score` does (two checker sandboxes of 25 tasks; about 20 s here).
// 208-20's answer workbooks were saved by openpyxl: their formula cells in the answer position carry
// no results, so the expected values are empty, while the same workbook recalculated (as the
// official pipeline does too) has text there. No output can match both: the dataset's flaw.
TEST_F(SpreadsheetbenchSample, AnswersAsOutputsPassEveryTaskButTheOneWithoutResults) {
  t2s::test::TempDir temp;
  copy_as_outputs(entries_, temp / "outputs", "answer");
  const Score score = score_outputs(entries_, temp / "outputs");
  ASSERT_EQ(score.tasks.size(), 50u);
  EXPECT_EQ(score.missing, 0u);
  for (const auto& task : score.tasks) {
    if (task.id == "208-20") {
      EXPECT_EQ(task.passed(), 0u);
      EXPECT_NE(task.cases[0].reason.find("the first at 'Q'!F7"), std::string::npos) << task.cases[0].reason;
    } else {
      EXPECT_TRUE(task.hard()) << task.id << "\n" << task.feedback();
    }
  }
  EXPECT_DOUBLE_EQ(score.hard, 49.0 / 50.0);
  EXPECT_DOUBLE_EQ(score.soft, 49.0 / 50.0);
}

// Unchanged inputs pass only where the answer cells already hold the input's values: the two
// conditional-formatting tasks (the official checker compares values, not formats), 570-43 (whose
// input formulas already give the answer), and some cases of 193-42 and 30468.
TEST_F(SpreadsheetbenchSample, InputsAsOutputsFailWhereTheAnswerDiffers) {
  t2s::test::TempDir temp;
  copy_as_outputs(entries_, temp / "outputs", "input");
  const Score score = score_outputs(entries_, temp / "outputs");
  const std::set<std::string> unchanged = {"570-43", "CF_4909", "CF_8276"};
  const std::map<std::string, std::size_t> partly = {{"193-42", 2}, {"30468", 1}};
  for (const auto& task : score.tasks) {
    if (unchanged.count(task.id)) EXPECT_TRUE(task.hard()) << task.id << "\n" << task.feedback();
    else if (partly.count(task.id)) EXPECT_EQ(task.passed(), partly.at(task.id)) << task.id << "\n" << task.feedback();
    else EXPECT_EQ(task.passed(), 0u) << task.id << "\n" << task.feedback();
  }
  EXPECT_DOUBLE_EQ(score.hard, 3.0 / 50.0);
  EXPECT_DOUBLE_EQ(score.soft, 4.0 / 50.0);
}

// Through the Benchmark interface, as a rollout does: the outputs are files the agent left in its
// sandbox. One cell changed in one case fails that case only, without the expected value in the
// feedback.
TEST_F(SpreadsheetbenchSample, OneChangedCellFailsItsCaseOnly) {
  t2s::test::TempDir temp;
  const auto benchmark = open(sample(), {{"sandbox_root", (temp / "checkers").string()}});
  const Entry& entry = entry_of(entries_, "79-7");
  const auto& task = *std::find_if(benchmark->tasks().begin(), benchmark->tasks().end(), [](const auto& t) { return t.id == "79-7"; });
  agent::Sandbox sandbox(temp / "agent", task.files);
  sandbox.write_file(entry.cases[0].output_name, slurp(entry.cases[0].answer));
  edit_cell(entry.cases[1].answer, temp / "edited.xlsx", "A3", "changed");
  sandbox.write_file(entry.cases[1].output_name, slurp(temp / "edited.xlsx"));
  sandbox.write_file(entry.cases[2].output_name, slurp(entry.cases[2].answer));

  const agent::Verdict v = benchmark->check(task, "done", sandbox);
  EXPECT_FALSE(v.passed);
  EXPECT_DOUBLE_EQ(v.score, 2.0 / 3.0);
  EXPECT_NE(v.feedback.find("test case 2 (2_79-7_output.xlsx): failed: 1 of 4 checked cells differ from the expected values, "
                            "the first at 'Sheet1'!A3 (yours: \"changed\")"),
            std::string::npos)
      << v.feedback;
  EXPECT_NE(v.feedback.find("test case 1 (1_79-7_output.xlsx): passed"), std::string::npos) << v.feedback;
  EXPECT_NE(v.feedback.find("2 of 3 test cases passed"), std::string::npos) << v.feedback;
  const json gold = cell_value(entry.cases[1].answer, "A3");
  ASSERT_TRUE(gold.is_string());
  EXPECT_EQ(v.feedback.find(gold.get<std::string>()), std::string::npos) << "the feedback quotes the expected value";
  EXPECT_TRUE(fs::is_empty(temp / "checkers"));  // the checker sandbox is gone
}

// 39180 asks for a SUMPRODUCT in C2 (14 in case 1): a number equal to 2 decimals passes, and so
// does numeric text; a number that rounds otherwise does not.
TEST_F(SpreadsheetbenchSample, AValueEqualToTwoDecimalsPasses) {
  t2s::test::TempDir temp;
  const Entry& entry = entry_of(entries_, "39180");
  ASSERT_EQ(cell_value(entry.cases[0].answer, "C2"), 14);
  const auto verdict_with = [&](const json& value) {
    fs::remove_all(temp / "outputs");
    copy_as_outputs({entry}, temp / "outputs", "answer");
    edit_cell(entry.cases[0].answer, temp / "outputs" / entry.cases[0].output_name, "C2", value);
    return score_outputs({entry}, temp / "outputs").tasks.at(0);
  };
  EXPECT_TRUE(verdict_with(14.004).hard());
  EXPECT_TRUE(verdict_with("14.00").hard());
  const TaskVerdict off = verdict_with(14.006);
  EXPECT_FALSE(off.hard());
  EXPECT_EQ(off.passed(), 2u);
  EXPECT_NE(off.cases[0].reason.find("'Sheet1'!C2 (yours: 14.006)"), std::string::npos) << off.cases[0].reason;
}

// A missing output, one that is not a workbook, and a symbolic link out of the sandbox each fail
// their own case with a reason; the answer text plays no part.
TEST_F(SpreadsheetbenchSample, MissingBrokenAndEscapingOutputsFailTheirCase) {
  t2s::test::TempDir temp;
  const auto benchmark = open(sample(), json::object());
  const Entry& entry = entry_of(entries_, "79-7");
  const auto& task = *std::find_if(benchmark->tasks().begin(), benchmark->tasks().end(), [](const auto& t) { return t.id == "79-7"; });
  agent::Sandbox sandbox(temp / "agent", task.files);
  sandbox.write_file(entry.cases[0].output_name, slurp(entry.cases[0].answer));
  sandbox.write_file(entry.cases[1].output_name, slurp(entry.cases[1].answer));
  agent::Verdict v = benchmark->check(task, "", sandbox);
  EXPECT_FALSE(v.passed);
  EXPECT_DOUBLE_EQ(v.score, 2.0 / 3.0);
  EXPECT_NE(v.feedback.find("test case 3 (3_79-7_output.xlsx): failed: 3_79-7_output.xlsx was not written"), std::string::npos)
      << v.feedback;

  sandbox.write_file(entry.cases[2].output_name, "this is not a workbook\n");
  v = benchmark->check(task, "", sandbox);
  EXPECT_DOUBLE_EQ(v.score, 2.0 / 3.0);
  EXPECT_NE(v.feedback.find("test case 3 (3_79-7_output.xlsx): failed: "), std::string::npos) << v.feedback;

  fs::remove(sandbox.path() / entry.cases[2].output_name);
  fs::create_symlink(entry.cases[2].answer, sandbox.path() / entry.cases[2].output_name);
  v = benchmark->check(task, "", sandbox);
  EXPECT_DOUBLE_EQ(v.score, 2.0 / 3.0);
  EXPECT_NE(v.feedback.find("sandbox: cannot read \"3_79-7_output.xlsx\" leads outside the sandbox"), std::string::npos)
      << v.feedback;

  fs::remove(sandbox.path() / entry.cases[2].output_name);
  sandbox.write_file(entry.cases[2].output_name, slurp(entry.cases[2].answer));
  v = benchmark->check(task, "", sandbox);
  EXPECT_TRUE(v.passed) << v.feedback;
  EXPECT_DOUBLE_EQ(v.score, 1.0);
}

TEST_F(SpreadsheetbenchSample, TheScoreCommandReportsTasksAndTotals) {
  t2s::test::TempDir temp;
  // answers for two tasks, one of them with a case missing; nothing for the other 48
  std::vector<Entry> two = {entry_of(entries_, "79-7"), entry_of(entries_, "39180")};
  copy_as_outputs(two, temp / "outputs", "answer");
  fs::remove(temp / "outputs" / "3_39180_output.xlsx");
  const std::string binary = T2S_BINARY;
  const std::string args = " score spreadsheetbench " + sample().string() + " " + (temp / "outputs").string();

  const auto result = t2s::test::run_command("(" + binary + args + " --json 2>/dev/null)");
  ASSERT_EQ(result.status, 0) << result.output;
  const json report = json::parse(result.output);
  EXPECT_EQ(report["benchmark"], "spreadsheetbench");
  EXPECT_EQ(report["tasks"], 50);
  EXPECT_EQ(report["missing"], 48);
  EXPECT_DOUBLE_EQ(report["hard"].get<double>(), 1.0 / 50);
  EXPECT_DOUBLE_EQ(report["soft"].get<double>(), (1.0 + 2.0 / 3.0) / 50);
  for (const auto& v : report["verdicts"]) {
    if (v["id"] == "79-7") EXPECT_EQ(v["status"], "passed");
    else if (v["id"] == "39180") {
      EXPECT_EQ(v["status"], "partial");
      EXPECT_EQ(v["cases"][2]["missing"], true);
      EXPECT_EQ(v["cases"][2]["reason"], "3_39180_output.xlsx was not written");
    } else {
      EXPECT_EQ(v["status"], "missing") << v.dump();
    }
  }

  const auto text = t2s::test::run_command(binary + args);
  EXPECT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("79-7\tpassed\t3/3\n"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("39180\tpartial\t2/3\n  case 3: 3_39180_output.xlsx was not written\n"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("10452\tmissing\t0/3\n"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("tasks: 50, soft: 0.0333, hard: 0.0200, missing: 48"), std::string::npos) << text.output;

  const auto not_a_dir = t2s::test::run_command(binary + " score spreadsheetbench " + sample().string() + " " +
                                                (sample() / "dataset.json").string());
  EXPECT_EQ(not_a_dir.status, 2);
  EXPECT_NE(not_a_dir.output.find("not a directory of <case>_<id>_output.xlsx files"), std::string::npos) << not_a_dir.output;
  const auto not_a_dataset = t2s::test::run_command(binary + " score spreadsheetbench " + temp.path().string() + " " +
                                                    (temp / "outputs").string());
  EXPECT_EQ(not_a_dataset.status, 2);
  EXPECT_NE(not_a_dataset.output.find("dataset.json: cannot be read"), std::string::npos) << not_a_dataset.output;
  const auto unknown = t2s::test::run_command(binary + " score nosuchbench " + sample().string() + " " + (temp / "outputs").string());
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.output.find("unknown benchmark \"nosuchbench\" (known: generic, spreadsheetbench, wikitq)"), std::string::npos)
      << unknown.output;
}

}  // namespace
