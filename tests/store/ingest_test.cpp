// Tests of store/ingest: every record read is accepted, a duplicate or quarantined; the quarantine
// file keeps the exact bad bytes; --strict fails without writing; ingest → export → ingest keeps ids
// and content; the real tau-bench airline results ingest to the known counts.

#include <gtest/gtest.h>

#include "testutil/temp_dir.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "t2s/core/error.hpp"
#include "t2s/store/ingest.hpp"
#include "t2s/store/trajectory_store.hpp"
#include "t2s/trace/readers.hpp"
#include "t2s/trace/trajectory.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using t2s::InputError;
using namespace t2s::store;

namespace {

// ----------------------------------------------------------------------------------- helpers

class IngestTest : public ::testing::Test {
 protected:
  fs::path write(const std::string& name, const std::string& bytes) { return temp_.write(name, bytes); }

  // Options writing dir/<name>, collecting warnings into `warnings`.
  IngestOptions options(const std::string& name = "out.h5") {
    IngestOptions o;
    o.output = dir_ / name;
    o.store.compression_threads = 2;
    o.warn = [this](const std::string& message) { warnings.push_back(message); };
    return o;
  }

  t2s::test::TempDir temp_;
  const fs::path& dir_ = temp_.path();
  std::vector<std::string> warnings;
};

std::string lines(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += item + "\n";
  return out;
}

std::vector<std::string> read_lines(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A distinct OpenAI JSONL record; outcome: 1 success, 0 failure, -1 unlabelled.
std::string record(int i, int outcome = 1) {
  json r = {{"task_id", "t" + std::to_string(i)},
            {"model", "m"},
            {"messages", {{{"role", "user"}, {"content", "question " + std::to_string(i)}},
                          {{"role", "assistant"}, {"content", "answer " + std::to_string(i)}}}}};
  if (outcome >= 0) r["outcome"] = {{"success", outcome == 1}};
  return r.dump();
}

// The content id a JSONL line should get.
std::string id_of(const std::string& line) {
  return t2s::trace::canonical_record(t2s::trace::parse_openai_record(line, "test")).id;
}

// Every row of a store, in row order.
std::vector<IndexRow> all_rows(const TrajectoryStore& store) {
  std::vector<std::uint64_t> numbers(store.size());
  std::iota(numbers.begin(), numbers.end(), std::uint64_t{0});
  return store.rows(numbers);
}

// id → canonical record, for the whole store.
std::map<std::string, std::string> records_by_id(const fs::path& path) {
  const TrajectoryStore store(path);
  std::map<std::string, std::string> out;
  for (const auto& row : all_rows(store)) out[row.id] = store.record_json(row);
  return out;
}

// Writes a store out as `t2s export` does: the canonical record with its id in front.
std::string export_jsonl(const fs::path& path) {
  const TrajectoryStore store(path);
  std::string out;
  for (const auto& row : all_rows(store))
    out += "{\"id\":\"" + row.id + "\"," + store.record_json(row).substr(1) + "\n";
  return out;
}

std::string base64_decode(const std::string& text) {
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const auto value = kAlphabet.find(c);
    if (value == std::string::npos) ADD_FAILURE() << "not base64: " << c;
    buffer = buffer << 6 | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// ============================================================================ accounting

// One line of the mixed file: its text and, for bad ones, a word the reason must contain.
struct Line {
  std::string text;
  std::string reason;  // empty: a good line (or a duplicate)
};

TEST_F(IngestTest, MixedFileAccountsForEveryRecord) {
  const std::string a = record(1, 1), b = record(2, 0), c = record(3, -1);
  const std::string invalid_utf8 = "{\"messages\":[{\"role\":\"user\",\"content\":\"bad \xC0\xAF byte\"}]}";
  const std::vector<Line> content = {
      {a, ""},
      {R"({"messages": [}, garbage)", "malformed JSON"},
      {b, ""},
      {a, ""},  // exact duplicate of line 1
      {R"({"messages":[{"role":"oracle","content":"x"}]})", "unknown role \"oracle\""},
      {invalid_utf8, "invalid UTF-8"},
      {R"({"task_id":"t9"})", "\"messages\" is missing"},
      {record(4, 1).substr(0, 30) + std::string(900, ' ') + record(4, 1).substr(30), "exceeds the limit"},
      {R"({"attempt":"x","messages":[{"role":"user","content":"x"}]})", "\"attempt\": expected an integer"},
      {c, ""},
      {R"({"messages":[]})", "\"messages\" is empty"},
      {R"({"messages":[{"role":"user","content":"cut here)", "malformed JSON"},
  };
  std::string text;
  std::vector<std::uint64_t> offsets;
  for (std::size_t i = 0; i < content.size(); ++i) {
    offsets.push_back(text.size());
    text += content[i].text;
    if (i + 1 < content.size()) text += "\n";  // the last line is cut: no newline
  }
  const auto input = write("mixed.jsonl", text);
  auto opts = options();
  opts.reader.max_record_bytes = 500;
  const IngestSummary summary = ingest({input}, opts);

  // The counts add up, per input and in total.
  EXPECT_EQ(summary.total.read, content.size());
  EXPECT_EQ(summary.total.accepted, 3u);
  EXPECT_EQ(summary.total.duplicates, 1u);
  EXPECT_EQ(summary.total.quarantined, 8u);
  EXPECT_EQ(summary.total.read,
            summary.total.accepted + summary.total.duplicates + summary.total.quarantined);
  ASSERT_EQ(summary.inputs.size(), 1u);
  EXPECT_EQ(summary.inputs[0].counts.read, summary.total.read);
  EXPECT_EQ(summary.inputs[0].format, t2s::trace::Format::openai_jsonl);
  EXPECT_EQ(summary.successes, 1u);
  EXPECT_EQ(summary.failures, 1u);
  EXPECT_EQ(summary.unlabelled, 1u);
  EXPECT_EQ(summary.quarantine, fs::path(opts.output.string() + ".quarantine.jsonl"));

  // The quarantine file: one line per bad record, with location, reason and the exact bytes.
  const auto quarantined = read_lines(summary.quarantine);
  std::vector<std::size_t> bad_lines;
  for (std::size_t i = 0; i < content.size(); ++i)
    if (!content[i].reason.empty()) bad_lines.push_back(i);
  ASSERT_EQ(quarantined.size(), bad_lines.size());
  for (std::size_t k = 0; k < bad_lines.size(); ++k) {
    const std::size_t i = bad_lines[k];
    const json entry = json::parse(quarantined[k]);
    SCOPED_TRACE("line " + std::to_string(i + 1) + ": " + quarantined[k].substr(0, 200));
    EXPECT_EQ(entry["file"], input.string());
    EXPECT_EQ(entry["line"], i + 1);
    EXPECT_EQ(entry["byte_offset"], offsets[i]);
    EXPECT_TRUE(contains(entry["reason"].get<std::string>(), content[i].reason));
    if (content[i].text == invalid_utf8) {
      ASSERT_TRUE(entry.contains("raw_base64"));
      EXPECT_EQ(base64_decode(entry["raw_base64"].get<std::string>()), invalid_utf8);
      EXPECT_TRUE(entry["raw"].is_string());  // a repaired, readable copy
    } else if (content[i].reason == "exceeds the limit") {
      EXPECT_EQ(entry.value("raw_truncated", false), true);
    } else {
      EXPECT_EQ(entry["raw"], content[i].text);
      EXPECT_FALSE(entry.contains("raw_base64"));
    }
  }

  // One warning per problem, naming file:line.
  ASSERT_EQ(warnings.size(), bad_lines.size());
  for (std::size_t k = 0; k < bad_lines.size(); ++k)
    EXPECT_TRUE(contains(warnings[k], input.string() + ":" + std::to_string(bad_lines[k] + 1) + ": ")) << warnings[k];

  // The store holds exactly the accepted trajectories, in input order.
  const TrajectoryStore store(opts.output);
  ASSERT_EQ(store.size(), 3u);
  const auto rows = all_rows(store);
  EXPECT_EQ(rows[0].id, id_of(a));
  EXPECT_EQ(rows[1].id, id_of(b));
  EXPECT_EQ(rows[2].id, id_of(c));
  EXPECT_EQ(rows[0].success, 1);
  EXPECT_EQ(rows[1].success, 0);
  EXPECT_EQ(rows[2].success, -1);
  EXPECT_EQ(rows[1].task_id, "t2");
  EXPECT_EQ(store.record_json(rows[1]),
            t2s::trace::canonical_record(t2s::trace::parse_openai_record(b, "b")).json);
  EXPECT_FALSE(fs::exists(opts.output.string() + ".partial"));
}

// Regression: the raw bytes kept for an oversized line once included the lines after it.
TEST_F(IngestTest, OversizedRecordIsQuarantinedWithOnlyItsOwnBytes) {
  const std::string big = record(1).substr(0, 20) + std::string(800, ' ') + record(1).substr(20);
  const std::string next = record(2);
  auto opts = options();
  opts.reader.max_record_bytes = 500;
  const auto summary = ingest({write("big.jsonl", lines({big, next}))}, opts);
  EXPECT_EQ(summary.total.accepted, 1u);
  ASSERT_EQ(summary.total.quarantined, 1u);
  const json entry = json::parse(read_lines(summary.quarantine).at(0));
  EXPECT_EQ(entry["line"], 1);
  EXPECT_EQ(entry["raw_truncated"], true);
  const std::string raw = entry["raw"].get<std::string>();
  EXPECT_TRUE(big.starts_with(raw)) << "quarantined raw runs into the next record: ..."
                                    << raw.substr(raw.size() > 60 ? raw.size() - 60 : 0);
  EXPECT_FALSE(contains(raw, next));
}

TEST_F(IngestTest, QuarantineGoesWhereItIsAskedTo) {
  const auto input = write("in.jsonl", lines({record(1), "{oops"}));
  auto opts = options();
  opts.quarantine = dir_ / "elsewhere" / "q.jsonl";
  fs::create_directories(opts.quarantine.parent_path());
  const auto summary = ingest({input}, opts);
  EXPECT_EQ(summary.quarantine, opts.quarantine);
  EXPECT_EQ(read_lines(opts.quarantine).size(), 1u);
  EXPECT_FALSE(fs::exists(opts.output.string() + ".quarantine.jsonl"));
}

TEST_F(IngestTest, NoBadRecordsMeansNoQuarantineFileAndAStaleOneIsRemoved) {
  const auto input = write("good.jsonl", lines({record(1), record(2)}));
  auto opts = options();
  const fs::path stale = opts.output.string() + ".quarantine.jsonl";
  write(stale.filename().string(), "{\"stale\":true}\n");
  ASSERT_TRUE(fs::exists(stale));

  const auto summary = ingest({input}, opts);
  EXPECT_EQ(summary.total.accepted, 2u);
  EXPECT_EQ(summary.total.quarantined, 0u);
  EXPECT_TRUE(summary.quarantine.empty());
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(warnings.empty());
}

TEST_F(IngestTest, EmptyInputWarnsAndStillWritesAStore) {
  const auto empty = write("empty.jsonl", "");
  const auto good = write("good.jsonl", lines({record(1)}));
  auto opts = options();
  const auto summary = ingest({empty, good}, opts);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(contains(warnings[0], empty.string())) << warnings[0];
  EXPECT_TRUE(contains(warnings[0], "empty")) << warnings[0];
  ASSERT_EQ(summary.inputs.size(), 2u);
  EXPECT_EQ(summary.inputs[0].counts.read, 0u);
  EXPECT_EQ(summary.total.read, 1u);
  EXPECT_EQ(TrajectoryStore(opts.output).size(), 1u);
}

TEST_F(IngestTest, OnlyAnEmptyInputGivesAnEmptyStore) {
  const auto empty = write("blank.jsonl", "\n \n");
  auto opts = options();
  const auto summary = ingest({empty}, opts);
  EXPECT_EQ(warnings.size(), 1u);
  EXPECT_EQ(summary.total.read, 0u);
  ASSERT_TRUE(fs::exists(opts.output));
  EXPECT_EQ(TrajectoryStore(opts.output).size(), 0u);
}

TEST_F(IngestTest, StrictEmptyInputFailsAndWritesNothing) {
  const auto empty = write("empty.jsonl", "");
  auto opts = options();
  opts.strict = true;
  try {
    ingest({empty}, opts);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_TRUE(contains(e.what(), empty.string())) << e.what();
  }
  EXPECT_FALSE(fs::exists(opts.output));
  EXPECT_FALSE(fs::exists(opts.output.string() + ".partial"));
}

TEST_F(IngestTest, StrictBadRecordFailsNamingLineAndReason) {
  const auto input = write("strict.jsonl", lines({record(1), R"({"messages":[{"role":"oracle","content":"x"}]})", record(2)}));
  auto opts = options();
  opts.strict = true;
  try {
    ingest({input}, opts);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_TRUE(contains(e.what(), input.string() + ":2")) << e.what();
    EXPECT_TRUE(contains(e.what(), "unknown role \"oracle\"")) << e.what();
  }
  EXPECT_FALSE(fs::exists(opts.output));
  EXPECT_FALSE(fs::exists(opts.output.string() + ".partial"));
  EXPECT_FALSE(fs::exists(opts.output.string() + ".quarantine.jsonl"));
}

TEST_F(IngestTest, StrictWithGoodInputSucceeds) {
  const auto input = write("ok.jsonl", lines({record(1), record(2), record(1)}));
  auto opts = options();
  opts.strict = true;
  const auto summary = ingest({input}, opts);
  EXPECT_EQ(summary.total.accepted, 2u);
  EXPECT_EQ(summary.total.duplicates, 1u);  // a duplicate is not a bad record
  EXPECT_EQ(TrajectoryStore(opts.output).size(), 2u);
}

TEST_F(IngestTest, MultipleInputsWithADirectoryCountDuplicatesAcrossFiles) {
  const auto a = write("dir/a.jsonl", lines({record(1), record(2)}));
  const auto b = write("dir/sub/b.jsonl", lines({record(2), record(3)}));
  write("dir/ignored.txt", "not read");
  const auto c = write("c.jsonl", lines({record(1), record(4)}));
  auto opts = options();
  const auto summary = ingest({dir_ / "dir", c}, opts);

  ASSERT_EQ(summary.inputs.size(), 3u);
  EXPECT_EQ(summary.inputs[0].file, a);
  EXPECT_EQ(summary.inputs[1].file, b);
  EXPECT_EQ(summary.inputs[2].file, c);
  EXPECT_EQ(summary.inputs[1].counts.duplicates, 1u);
  EXPECT_EQ(summary.inputs[2].counts.duplicates, 1u);
  EXPECT_EQ(summary.total.read, 6u);
  EXPECT_EQ(summary.total.accepted, 4u);
  EXPECT_EQ(summary.total.duplicates, 2u);
  EXPECT_EQ(summary.total.quarantined, 0u);
  EXPECT_EQ(TrajectoryStore(opts.output).size(), 4u);
  EXPECT_EQ(summary.input_bytes, fs::file_size(a) + fs::file_size(b) + fs::file_size(c));
}

TEST_F(IngestTest, MixedFormatsInOneIngest) {
  const auto jsonl = write("in/a.jsonl", lines({record(1)}));
  const auto trajectory = write("in/trial/agent/trajectory.json", R"({
  "schema_version": "ATIF-v1.2",
  "agent": {"name": "a", "model_name": "mm"},
  "steps": [{"source": "user", "message": "go"}, {"source": "agent", "message": "went"}]
})");
  write("in/trial/result.json", R"({"task_name": "go-task", "verifier_result": {"rewards": {"reward": 1}}})");
  const auto tau = write("tau.json", json::array({{{"task_id", 5},
                                                   {"reward", 0.0},
                                                   {"info", json::object()},
                                                   {"traj", {{{"role", "user"}, {"content", "hi"}}}}}})
                                         .dump());
  auto opts = options();
  const auto summary = ingest({dir_ / "in", tau}, opts);
  ASSERT_EQ(summary.inputs.size(), 3u);
  EXPECT_EQ(summary.inputs[0].file, jsonl);
  EXPECT_EQ(summary.inputs[0].format, t2s::trace::Format::openai_jsonl);
  EXPECT_EQ(summary.inputs[1].format, t2s::trace::Format::atif);
  EXPECT_EQ(summary.inputs[1].file, trajectory);
  EXPECT_EQ(summary.inputs[2].format, t2s::trace::Format::taubench);
  EXPECT_EQ(summary.total.accepted, 3u);
  EXPECT_EQ(summary.successes, 2u);
  EXPECT_EQ(summary.failures, 1u);
  const TrajectoryStore store(opts.output);
  const auto rows = all_rows(store);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].task_id, "go-task");
  EXPECT_EQ(rows[1].model, "mm");
  EXPECT_EQ(rows[2].task_id, "5");
}

// ============================================================================== round trips

// Varied records: tool calls, content parts, foreign ids, unknown keys, outcome detail, unicode.
std::string rich_jsonl() {
  return lines({
      R"({"id":"ext-1","source":"s","benchmark":"b","task_id":1,"model":"m","attempt":2,"custom":{"x":[1,2.5,null]},)"
      R"("outcome":{"success":false,"reward":0.25,"detail":{"why":"off by one"}},)"
      R"("task":{"instruction":"Sum the column","files":["t.csv"],"gold":{"answer":"42"}},)"
      R"("messages":[{"role":"system","content":"sys"},{"role":"user","name":"u","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},)"
      R"({"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"sum","arguments":{"col":"x"}}}]},)"
      R"({"role":"tool","tool_call_id":"c1","content":"42"},{"role":"assistant","content":"It is 42.","audio":null}]})",
      R"({"messages":[{"role":"user","content":"ünïcödé ✓ 😀 \"quotes\" \\ \n\t\u0001"}],"meta":{"k":18446744073709551615}})",
      R"({"task_id":"t3","outcome":{"success":true},"messages":[{"role":"developer","content":"d"},{"role":"user","content":"u"},{"role":"function","name":"f","content":"r"}]})",
  });
}

TEST_F(IngestTest, IngestExportIngestKeepsIdsAndContent) {
  const auto tau = write("tau.json", json::array({{{"task_id", 0},
                                                   {"trial", 1},
                                                   {"reward", 1.0},
                                                   {"info", {{"task", {{"instruction", "fly"}, {"actions", json::array()}}},
                                                             {"reward_info", {{"r", 1}}}}},
                                                   {"traj", {{{"role", "user"}, {"content", "hi"}}}}}})
                                         .dump());
  const auto jsonl = write("rich.jsonl", rich_jsonl());
  auto first = options("first.h5");
  const auto summary1 = ingest({jsonl, tau}, first);
  ASSERT_EQ(summary1.total.quarantined, 0u) << (warnings.empty() ? "" : warnings[0]);
  ASSERT_EQ(summary1.total.accepted, 4u);

  const std::string exported = export_jsonl(first.output);
  const auto exported_file = write("export.jsonl", exported);
  auto second = options("second.h5");
  const auto summary2 = ingest({exported_file}, second);
  EXPECT_EQ(summary2.total.read, 4u);
  EXPECT_EQ(summary2.total.accepted, 4u);
  EXPECT_EQ(summary2.total.quarantined, 0u);

  const auto before = records_by_id(first.output), after = records_by_id(second.output);
  EXPECT_EQ(before, after);
  // The ids really are the content ids of the stored records.
  for (const auto& [id, record_json] : after)
    EXPECT_EQ(t2s::trace::canonical_record(t2s::trace::parse_openai_record(record_json, id)).id, id);
  // And exporting again gives the same bytes.
  EXPECT_EQ(export_jsonl(second.output), exported);
}

TEST_F(IngestTest, IngestingAStoreGivesTheSameIdsAndRecords) {
  const auto jsonl = write("rich.jsonl", rich_jsonl());
  auto first = options("first.h5");
  ingest({jsonl}, first);
  auto second = options("second.h5");
  const auto summary = ingest({first.output}, second);
  ASSERT_EQ(summary.inputs.size(), 1u);
  EXPECT_EQ(summary.inputs[0].format, t2s::trace::Format::t2s_store);
  EXPECT_EQ(summary.total.accepted, 3u);
  EXPECT_EQ(records_by_id(first.output), records_by_id(second.output));
}

TEST_F(IngestTest, ReingestingTheSameFileTwiceGivesOnlyDuplicates) {
  const auto jsonl = write("rich.jsonl", rich_jsonl());
  auto opts = options();
  const auto summary = ingest({jsonl, jsonl}, opts);
  EXPECT_EQ(summary.total.read, 6u);
  EXPECT_EQ(summary.total.accepted, 3u);
  EXPECT_EQ(summary.total.duplicates, 3u);
}

// ============================================================================== the id order

TEST_F(IngestTest, IdOrderListsRowsSortedById) {
  std::vector<std::string> items;
  for (int i = 0; i < 40; ++i) items.push_back(record(i, i % 3 - 1));
  auto opts = options();
  ingest({write("many.jsonl", lines(items))}, opts);

  const TrajectoryStore store(opts.output);
  ASSERT_EQ(store.size(), 40u);
  const auto order = store.id_order(0, store.size());
  const auto rows = store.rows(order);
  std::set<std::uint64_t> seen(order.begin(), order.end());
  EXPECT_EQ(seen.size(), 40u);  // a permutation of the rows
  EXPECT_EQ(*seen.rbegin(), 39u);
  for (std::size_t i = 1; i < rows.size(); ++i) EXPECT_LT(rows[i - 1].id, rows[i].id) << "at " << i;
  // Row order is input order, so the id order differs from it.
  EXPECT_NE(order, std::vector<std::uint64_t>(seen.begin(), seen.end()));
  const auto slice = store.id_order(10, 5);
  EXPECT_EQ(slice, std::vector<std::uint64_t>(order.begin() + 10, order.begin() + 15));
}

// ============================================================================== real data

TEST_F(IngestTest, RealTaubenchAirlineResults) {
  const fs::path data = fs::path(T2S_SOURCE_DIR) / ".." / "shared" / "data" / "taubench-airline" / "gpt-4o-airline.json";
  if (!fs::exists(data)) GTEST_SKIP() << "shared data not present: " << data.string();

  auto opts = options();
  const auto summary = ingest({data}, opts);
  ASSERT_EQ(summary.inputs.size(), 1u);
  EXPECT_EQ(summary.inputs[0].format, t2s::trace::Format::taubench);
  EXPECT_EQ(summary.total.read, 200u);
  EXPECT_EQ(summary.total.accepted, 200u);
  EXPECT_EQ(summary.total.duplicates, 0u);
  EXPECT_EQ(summary.total.quarantined, 0u) << (warnings.empty() ? "" : warnings[0]);
  EXPECT_EQ(summary.successes, 84u);
  EXPECT_EQ(summary.failures, 116u);
  EXPECT_EQ(summary.unlabelled, 0u);

  const TrajectoryStore store(opts.output);
  ASSERT_EQ(store.size(), 200u);
  std::set<std::string> tasks;
  int successes = 0;
  for (const auto& row : all_rows(store)) {
    tasks.insert(row.task_id);
    successes += row.success == 1;
    EXPECT_EQ(row.source, "tau-bench");
    EXPECT_GT(row.n_messages, 0u);
  }
  EXPECT_EQ(tasks.size(), 50u);
  EXPECT_EQ(successes, 84);
}

}  // namespace

namespace {

// Re-running an ingest whose output lies inside an input directory must not read back its own store
// or quarantine file (that once fed the quarantine into itself without end).
TEST_F(IngestTest, OwnOutputsInsideAnInputDirectoryAreNotReadBack) {
  write("in/a.jsonl", lines({record(1), record(2), "{bad"}));
  auto opts = options();
  opts.output = dir_ / "in" / "out.h5";
  const auto first = ingest({dir_ / "in"}, opts);
  EXPECT_EQ(first.total.read, 3u);
  ASSERT_TRUE(fs::exists(dir_ / "in" / "out.h5.quarantine.jsonl"));
  const auto second = ingest({dir_ / "in"}, opts);
  EXPECT_EQ(second.total.read, 3u);
  EXPECT_EQ(second.total.accepted, 2u);
  EXPECT_EQ(second.total.quarantined, 1u);
  EXPECT_EQ(read_lines(dir_ / "in" / "out.h5.quarantine.jsonl").size(), 1u);
}

TEST_F(IngestTest, AnInputThatIsAlsoAnOutputIsRefused) {
  const auto input = write("in.jsonl", lines({record(1)}));
  auto opts = options();
  opts.quarantine = input;
  EXPECT_THROW(ingest({input}, opts), InputError);
  EXPECT_EQ(read_lines(input).size(), 1u);  // untouched
}

TEST_F(IngestTest, AByteOrderMarkAloneIsAnEmptyFile) {
  const auto bom = write("bom.jsonl", "\xEF\xBB\xBF\n");
  const auto summary = ingest({bom}, options());
  EXPECT_EQ(summary.total.read, 0u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("empty file"), std::string::npos) << warnings[0];
}

TEST_F(IngestTest, OverridesApplyToStoreInputsToo) {
  const auto input = write("in.jsonl", lines({record(1), record(2)}));
  ingest({input}, options("first.h5"));
  auto opts = options("second.h5");
  opts.reader.benchmark = "relabelled";
  opts.reader.model = "other-model";
  ingest({dir_ / "first.h5"}, opts);
  TrajectoryStore store(dir_ / "second.h5");
  for (const auto& row : store.rows(store.id_order(0, store.size()))) {
    EXPECT_EQ(row.benchmark, "relabelled");
    EXPECT_EQ(row.model, "other-model");
  }
}

// ============================================================================== labels

// A distinct record (by `i`) with `fields` (JSON members) at its top level.
std::string record_with(int i, const std::string& fields) {
  json r = json::parse(record(i, -1));
  const json added = json::parse("{" + fields + "}");
  for (const auto& [key, value] : added.items()) r[key] = value;
  return r.dump();
}

TEST_F(IngestTest, TopLevelLabelsAreStoredAndAConflictingRecordIsQuarantined) {
  const std::vector<std::string> content = {
      record_with(1, R"("success": true)"),
      record_with(2, R"("reward": 0.25)"),
      record_with(3, R"("resolved": "PASSED", "score": 1)"),
      record_with(4, R"("success": true, "reward": 0)"),  // conflicting
      record_with(5, R"("note": "no label")"),
  };
  const auto input = write("labels.jsonl", lines(content));
  const IngestSummary summary = ingest({input}, options());
  EXPECT_EQ(summary.total.read, 5u);
  EXPECT_EQ(summary.total.accepted, 4u);
  EXPECT_EQ(summary.total.quarantined, 1u);
  EXPECT_EQ(summary.successes, 2u);
  EXPECT_EQ(summary.failures, 1u);
  EXPECT_EQ(summary.unlabelled, 1u);

  const auto quarantined = read_lines(summary.quarantine);
  ASSERT_EQ(quarantined.size(), 1u);
  const json entry = json::parse(quarantined[0]);
  EXPECT_EQ(entry["line"], 4);
  EXPECT_EQ(entry["raw"], content[3]);
  const std::string reason = entry["reason"].get<std::string>();
  EXPECT_TRUE(contains(reason, "conflicting labels: ")) << reason;
  EXPECT_TRUE(contains(reason, R"("success": true says success)")) << reason;
  EXPECT_TRUE(contains(reason, R"("reward": 0 says failure)")) << reason;
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(contains(warnings[0], input.string() + ":4: conflicting labels")) << warnings[0];

  const TrajectoryStore store(dir_ / "out.h5");
  const auto rows = all_rows(store);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].success, 1);
  EXPECT_EQ(rows[0].reward, 1.0);
  EXPECT_EQ(rows[1].success, 0);
  EXPECT_EQ(rows[1].reward, 0.25);
  EXPECT_EQ(rows[2].success, 1);
  EXPECT_EQ(rows[3].success, -1);
  // The stored record carries the label as its outcome, not as meta.
  const json stored = json::parse(store.record_json(rows[1]));
  EXPECT_EQ(stored["outcome"], json({{"success", false}, {"reward", 0.25}}));
  EXPECT_EQ(stored["meta"], json::object());
}

TEST(LabelWarnings, NoLabelsAtAllSaysSoAndNamesTheFix) {
  const auto lines = label_warnings("s.h5", 0, 0, 7);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(contains(lines[0], "s.h5 has no outcome labels: 7 of 7 trajectories are unlabelled")) << lines[0];
  for (const char* fix : {"\"success\"", "\"reward\"", "\"outcome\""}) EXPECT_TRUE(contains(lines[0], fix)) << lines[0];
}

TEST(LabelWarnings, OneOutcomeOnlyIsNamed) {
  const auto all_passed = label_warnings("s.h5", 5, 0, 0);
  ASSERT_EQ(all_passed.size(), 1u);
  EXPECT_TRUE(contains(all_passed[0], "s.h5 has only one outcome: all 5 labelled trajectories succeeded, none failed"))
      << all_passed[0];
  const auto all_failed = label_warnings("s.h5", 0, 3, 0);
  ASSERT_EQ(all_failed.size(), 1u);
  EXPECT_TRUE(contains(all_failed[0], "all 3 labelled trajectories failed, none succeeded")) << all_failed[0];
}

TEST(LabelWarnings, SomeUnlabelledAndOneOutcomeGiveTwoLines) {
  const auto lines = label_warnings("s.h5", 4, 0, 2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(contains(lines[0], "s.h5: 2 of 6 trajectories are unlabelled")) << lines[0];
  EXPECT_TRUE(contains(lines[1], "all 4 labelled trajectories succeeded")) << lines[1];
}

TEST(LabelWarnings, NothingToSayForBothOutcomesOrNoTrajectories) {
  EXPECT_TRUE(label_warnings("s.h5", 3, 1, 0).empty());
  EXPECT_TRUE(label_warnings("s.h5", 0, 0, 0).empty());
  EXPECT_EQ(label_warnings("s.h5", 3, 1, 1).size(), 1u);  // only the unlabelled ones
}

}  // namespace
