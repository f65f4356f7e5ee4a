// The Benchmark interface's shared pieces: the answer convention, open_benchmark's checks, and the
// generic adapter's tasks file (bad input named by file and line) and checking.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "t2s/benchmarks/benchmark.hpp"
#include "t2s/core/error.hpp"
#include "testutil/temp_dir.hpp"

namespace {

using nlohmann::json;
using t2s::InputError;
namespace benchmarks = t2s::benchmarks;

TEST(FinalAnswer, TakesTheLastAnswerLineInAnyCaseAndMarkdown) {
  EXPECT_EQ(benchmarks::final_answer("I computed it.\nANSWER: 42\n"), "42");
  EXPECT_EQ(benchmarks::final_answer("answer: 1\nthen\n**Answer:** `Paris | Rome`"), "Paris | Rome");
  EXPECT_EQ(benchmarks::final_answer("  just this  "), "just this");
  EXPECT_EQ(benchmarks::final_answer("ANSWER:"), "");
}

class Generic : public ::testing::Test {
 protected:
  std::unique_ptr<benchmarks::Benchmark> open(const std::string& lines, json checker = json::object()) {
    dir_.write("data/t.csv", "a,b\n1,2\n");
    const auto file = dir_.write("tasks.jsonl", lines);
    json config = {{"kind", "generic"}, {"data", file.string()}};
    if (!checker.empty()) config["checker"] = checker;
    return benchmarks::open_benchmark(config, "[benchmark]");
  }
  std::string error_of(const std::string& lines, json checker = json::object()) {
    try {
      open(lines, checker);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  }
  t2s::test::TempDir dir_;
};

TEST_F(Generic, ChecksTheFinalAnswerWithTheConfiguredMatching) {
  const auto b = open("{\"id\": \"b\", \"instruction\": \"x\", \"answer\": 3.5}\n{\"id\": \"a\", \"instruction\": \"y\", "
                      "\"files\": [\"data/t.csv\"], \"answer\": \"Paris\"}\n");
  ASSERT_EQ(b->tasks().size(), 2u);
  EXPECT_EQ(b->tasks()[0].id, "a");  // ordered by id
  EXPECT_EQ(b->tasks()[0].files_listed, std::vector<std::string>{"data/t.csv"});
  t2s::agent::Sandbox sandbox(dir_ / "sandboxes");
  EXPECT_TRUE(b->check(b->tasks()[0], "It is\nANSWER: paris.", sandbox).passed);  // normalised by default
  EXPECT_FALSE(b->check(b->tasks()[0], "ANSWER: Rome", sandbox).passed);
  EXPECT_TRUE(b->check(b->tasks()[1], "ANSWER: 3.50", sandbox).passed);
  const auto exact = open("{\"id\": \"a\", \"instruction\": \"y\", \"answer\": \"Paris\"}\n", {{"kind", "exact"}});
  EXPECT_FALSE(exact->check(exact->tasks()[0], "ANSWER: paris", sandbox).passed);
}

// An external checker command: it gets the candidate as a file and the task's id (quoted), and
// holds its own gold files; the tasks carry no answer.
TEST_F(Generic, AnExternalCheckerCommandJudgesWithItsOwnGold) {
  const json checker = {{"kind", "command"},
                        {"command", "grep -qx \"$(cat {candidate})\" \"gold/$(basename {task_id})\""},
                        {"files", {{"gold/t 1", "42"}, {"gold/t2", "7"}}}};
  const auto b = open("{\"id\": \"t 1\", \"instruction\": \"x\"}\n{\"id\": \"t2\", \"instruction\": \"y\"}\n", checker);
  t2s::agent::Sandbox sandbox(dir_ / "sandboxes");
  EXPECT_TRUE(b->check(b->tasks()[0], "ANSWER: 42", sandbox).passed);
  EXPECT_FALSE(b->check(b->tasks()[0], "ANSWER: 7", sandbox).passed);
  EXPECT_TRUE(b->check(b->tasks()[1], "ANSWER: 7", sandbox).passed);
}

TEST_F(Generic, BadTasksAreNamedByFileAndLine) {
  EXPECT_NE(error_of("{\"id\": \"a\", \"instruction\": \"x\", \"answer\": 1}\nnot json\n").find("tasks.jsonl:2: not a JSON object"), std::string::npos);
  EXPECT_NE(error_of("{\"id\": \"a\", \"instruction\": \"x\", \"answer\": 1}\n{\"id\": \"a\", \"instruction\": \"x\", \"answer\": 1}\n")
                .find("tasks.jsonl:2: empty or duplicate id"), std::string::npos);
  EXPECT_NE(error_of("{\"id\": \"a\", \"instruction\": \"x\"}\n").find("tasks.jsonl:1: no \"answer\""), std::string::npos);
  EXPECT_NE(error_of("{\"id\": \"a\", \"instruction\": \"x\", \"answer\": \"many\"}\n", {{"kind", "numeric"}}).find("tasks.jsonl:1:"),
            std::string::npos);
  EXPECT_NE(error_of("{\"id\": \"a\", \"instruction\": \"x\", \"answer\": 1, \"files\": [\"data/missing.csv\"]}\n").find("tasks.jsonl:1: file"),
            std::string::npos);
  EXPECT_NE(error_of("{\"id\": \"a\", \"instruction\": \"x\", \"answer\": 1, \"files\": [\"data\"]}\n").find("not a regular file"),
            std::string::npos);
  EXPECT_NE(error_of("{\"id\": \"a\", \"instruction\": \"x\", \"answer\": 1, \"files\": {\"../up.csv\": \"data/t.csv\"}}\n")
                .find("tasks.jsonl:1: file \"../up.csv\""), std::string::npos);
  EXPECT_NE(error_of("", {}).find("no tasks"), std::string::npos);
}

TEST(OpenBenchmark, RefusesWhatItCannotUse) {
  const auto error_of = [](const json& config) -> std::string {
    try {
      benchmarks::open_benchmark(config, "[benchmark]");
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of(json{{"data", "x"}}).find("[benchmark].kind: missing"), std::string::npos);
  EXPECT_NE(error_of(json{{"kind", "nope"}, {"data", "x"}}).find("unknown benchmark \"nope\""), std::string::npos);
  EXPECT_NE(error_of(json{{"kind", "generic"}, {"data", "x"}, {"limit", -1}}).find("[benchmark].limit"), std::string::npos);
  EXPECT_NE(error_of(json{{"kind", "wikitq"}, {"data", "x"}, {"colour", "red"}}).find("[benchmark].colour"), std::string::npos);
}

}  // namespace
