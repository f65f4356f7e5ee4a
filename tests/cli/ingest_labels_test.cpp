// `t2s ingest` and `t2s inspect` on labels, through the real binary: top-level label fields are read,
// a record whose labels disagree is quarantined and accounted for, and a store without labels (or
// with one outcome only) is warned about loudly, whatever --max-messages says.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

// Registered with t2s_add_test alone: the binary sits in the build directory.
#ifndef T2S_BINARY
#define T2S_BINARY T2S_BINARY_DIR "/t2s"
#endif
#include "testutil/t2s_cli.hpp"
#include "testutil/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using t2s::test::run_t2s;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

// A distinct OpenAI JSONL record (by `i`) with `fields` (JSON members, may be empty) at its top level.
std::string record(int i, const std::string& fields) {
  const std::string messages = R"({"messages":[{"role":"user","content":"question )" + std::to_string(i) +
                               R"("},{"role":"assistant","content":"answer )" + std::to_string(i) + R"("}],)";
  return messages + R"("task_id":"t)" + std::to_string(i) + "\"" + (fields.empty() ? "" : "," + fields) + "}\n";
}

class IngestLabels : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return (temp_ / name).string(); }
  std::string write(const std::string& name, const std::vector<std::string>& records) const {
    std::string text;
    for (const auto& r : records) text += r;
    return temp_.write(name, text).string();
  }

  t2s::test::TempDir temp_;
};

TEST_F(IngestLabels, AnUnlabelledCorpusIsWarnedAboutByIngestAndInspect) {
  const auto input = write("plain.jsonl", {record(1, ""), record(2, ""), record(3, R"("result":"pass")")});
  const auto ingest = run_t2s("ingest " + input + " -o " + path("plain.h5"));
  ASSERT_EQ(ingest.status, 0) << ingest.output;  // a warning, not a failure
  EXPECT_TRUE(contains(ingest.output, "3 trajectories (0 success, 0 failure, 3 unlabelled)")) << ingest.output;
  EXPECT_TRUE(contains(ingest.output, "warning: " + path("plain.h5") +
                                          " has no outcome labels: 3 of 3 trajectories are unlabelled;"))
      << ingest.output;
  EXPECT_TRUE(contains(ingest.output, "add a top-level \"success\" (true/false) or \"reward\" (0 to 1)")) << ingest.output;
  EXPECT_FALSE(contains(ingest.output, "only one outcome")) << ingest.output;

  const auto inspect = run_t2s("inspect " + path("plain.h5"));
  ASSERT_EQ(inspect.status, 0) << inspect.output;
  EXPECT_TRUE(contains(inspect.output, "3 (0 success, 0 failure, 3 unlabelled)")) << inspect.output;
  EXPECT_TRUE(contains(inspect.output, "warning: " + path("plain.h5") + " has no outcome labels: 3 of 3")) << inspect.output;

  const auto inspect_json = run_t2s("inspect --json " + path("plain.h5"));
  ASSERT_EQ(inspect_json.status, 0) << inspect_json.output;
  const json report = json::parse(inspect_json.output);
  EXPECT_EQ(report["unlabelled"], 3);
  ASSERT_EQ(report["label_warnings"].size(), 1u);
  EXPECT_TRUE(contains(report["label_warnings"][0].get<std::string>(), "has no outcome labels"));
}

TEST_F(IngestLabels, TheWarningIsNotSilencedByMaxMessagesAndJsonCarriesIt) {
  const auto input = write("plain.jsonl", {record(1, ""), "{broken\n"});
  // stdout alone is the JSON summary; the warnings go to stderr.
  const auto stdout_only = t2s::test::run_command("(" + std::string(T2S_BINARY) + " ingest --json --max-messages 0 " +
                                                  input + " -o " + path("p.h5") + " 2>/dev/null)");
  ASSERT_EQ(stdout_only.status, 0) << stdout_only.output;
  const json summary = json::parse(stdout_only.output);
  EXPECT_EQ(summary["quarantined"], 1);
  ASSERT_EQ(summary["label_warnings"].size(), 1u);
  EXPECT_TRUE(contains(summary["label_warnings"][0].get<std::string>(), "1 of 1 trajectories are unlabelled"));

  const auto both = run_t2s("ingest --max-messages 0 " + input + " -o " + path("p.h5"));
  ASSERT_EQ(both.status, 0) << both.output;
  EXPECT_FALSE(contains(both.output, "{broken")) << both.output;  // the bad record's warning is held back
  EXPECT_TRUE(contains(both.output, "... and 1 more problems")) << both.output;
  EXPECT_EQ(count(both.output, "has no outcome labels"), 1u) << both.output;
}

TEST_F(IngestLabels, TopLevelLabelsOfEveryKindAreReadAndGiveNoWarning) {
  const auto input = write("labels.jsonl", {record(1, R"("success":true)"), record(2, R"("reward":0)"),
                                            record(3, R"("score":1.0)"), record(4, R"("resolved":false)"),
                                            record(5, R"("passed":"PASSED")"), record(6, R"("is_correct":1)"),
                                            record(7, R"("solved":"fail","reward":0.5)")});
  const auto ingest = run_t2s("ingest " + input + " -o " + path("l.h5"));
  ASSERT_EQ(ingest.status, 0) << ingest.output;
  EXPECT_TRUE(contains(ingest.output, "7 trajectories (4 success, 3 failure, 0 unlabelled)")) << ingest.output;
  EXPECT_FALSE(contains(ingest.output, "warning")) << ingest.output;

  const auto inspect = run_t2s("inspect --json " + path("l.h5"));
  ASSERT_EQ(inspect.status, 0) << inspect.output;
  const json report = json::parse(inspect.output);
  EXPECT_EQ(report["successes"], 4);
  EXPECT_EQ(report["failures"], 3);
  EXPECT_EQ(report["label_warnings"], json::array());
  EXPECT_DOUBLE_EQ(report["mean_reward"].get<double>(), (1 + 0 + 1 + 0 + 1 + 1 + 0.5) / 7.0);

  // The labels survive export and re-ingest: they are the stored outcome now.
  ASSERT_EQ(run_t2s("export " + path("l.h5") + " -o " + path("l.jsonl")).status, 0);
  const auto again = run_t2s("ingest " + path("l.jsonl") + " -o " + path("again.h5"));
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_TRUE(contains(again.output, "7 trajectories (4 success, 3 failure, 0 unlabelled)")) << again.output;
}

TEST_F(IngestLabels, AllSuccessesGiveTheOneOutcomeWarning) {
  const auto input = write("wins.jsonl", {record(1, R"("success":true)"), record(2, R"("reward":1)"),
                                          record(3, R"("outcome":{"success":true})")});
  const auto ingest = run_t2s("ingest " + input + " -o " + path("wins.h5"));
  ASSERT_EQ(ingest.status, 0) << ingest.output;
  EXPECT_TRUE(contains(ingest.output, "warning: " + path("wins.h5") +
                                          " has only one outcome: all 3 labelled trajectories succeeded, none failed"))
      << ingest.output;
  EXPECT_FALSE(contains(ingest.output, "unlabelled;")) << ingest.output;

  const auto inspect = run_t2s("inspect " + path("wins.h5"));
  ASSERT_EQ(inspect.status, 0) << inspect.output;
  EXPECT_TRUE(contains(inspect.output, "has only one outcome: all 3 labelled trajectories succeeded")) << inspect.output;
}

TEST_F(IngestLabels, AllFailuresGiveTheOneOutcomeWarningToo) {
  const auto input = write("losses.jsonl", {record(1, R"("success":false)"), record(2, R"("score":0.5)")});
  const auto ingest = run_t2s("ingest " + input + " -o " + path("losses.h5"));
  ASSERT_EQ(ingest.status, 0) << ingest.output;
  EXPECT_TRUE(contains(ingest.output, "has only one outcome: all 2 labelled trajectories failed, none succeeded"))
      << ingest.output;
}

TEST_F(IngestLabels, ConflictingLabelsAreQuarantinedAndAccountedFor) {
  const std::string conflicting = record(3, R"("success":true,"reward":0)");
  const auto input = write("mixed.jsonl", {record(1, R"("success":true)"), record(2, R"("success":false)"), conflicting});
  const auto ingest = run_t2s("ingest " + input + " -o " + path("m.h5"));
  ASSERT_EQ(ingest.status, 0) << ingest.output;
  EXPECT_TRUE(contains(ingest.output, "total: 3 read = 2 accepted + 0 duplicates + 1 quarantined")) << ingest.output;
  EXPECT_TRUE(contains(ingest.output, "warning: " + input + ":3: conflicting labels: \"success\": true says success "
                                                            "but \"reward\": 0 says failure"))
      << ingest.output;
  EXPECT_FALSE(contains(ingest.output, "only one outcome")) << ingest.output;
  const std::string quarantine = t2s::test::read_file(path("m.h5") + ".quarantine.jsonl");
  const json entry = json::parse(quarantine);
  EXPECT_EQ(entry["line"], 3);
  EXPECT_EQ(entry["raw"].get<std::string>() + "\n", conflicting);

  const auto strict = run_t2s("ingest --strict " + input + " -o " + path("strict.h5"));
  EXPECT_EQ(strict.status, 2) << strict.output;
  EXPECT_TRUE(contains(strict.output, input + ":3: conflicting labels")) << strict.output;
  EXPECT_FALSE(fs::exists(path("strict.h5")));
}

TEST_F(IngestLabels, RealLabelledCorporaGiveNoLabelWarning) {
  const fs::path data = fs::path(T2S_SOURCE_DIR) / "../shared/data";
  const std::vector<fs::path> corpora = {data / "taubench-airline/gpt-4o-airline.json", data / "real-dev/lats.jsonl"};
  for (const auto& corpus : corpora) {
    if (!fs::exists(corpus)) GTEST_SKIP() << "shared data not present: " << corpus.string();
    const auto ingest = run_t2s("ingest " + corpus.string() + " -o " + path(corpus.stem().string() + ".h5"));
    ASSERT_EQ(ingest.status, 0) << ingest.output;
    EXPECT_FALSE(contains(ingest.output, "warning")) << ingest.output;
    EXPECT_TRUE(contains(ingest.output, " 0 unlabelled)")) << ingest.output;
  }
}

}  // namespace
