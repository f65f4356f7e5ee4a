// Tests of trace/readers: OpenAI chat JSONL, tau-bench result JSON and ATIF, format detection,
// input expansion, and the bad-record reporting every reader shares (DESIGN §4).

#include <gtest/gtest.h>

#include "testutil/temp_dir.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "t2s/core/error.hpp"
#include "t2s/trace/readers.hpp"
#include "t2s/trace/trajectory.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using t2s::InputError;
using namespace t2s::trace;

namespace {

// ----------------------------------------------------------------------------------- helpers

// A fresh directory per test, removed afterwards.
class ReadersTest : public ::testing::Test {
 protected:
  fs::path write(const std::string& name, const std::string& bytes) { return temp_.write(name, bytes); }

  t2s::test::TempDir temp_;
  const fs::path& dir_ = temp_.path();
};

// A sink that keeps everything it is given.
struct Collector : RecordSink {
  std::vector<std::pair<Trajectory, RecordLocation>> accepted;
  std::vector<BadRecord> rejected;
  void accept(Trajectory&& t, const RecordLocation& where) override { accepted.emplace_back(std::move(t), where); }
  void reject(BadRecord&& bad) override { rejected.push_back(std::move(bad)); }
};

Collector read(const fs::path& file, Format format, const ReaderOptions& options = {}) {
  Collector sink;
  read_file(file, format, options, sink);
  return sink;
}

// Joins lines with "\n", with a trailing newline.
std::string lines(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += item + "\n";
  return out;
}

// A minimal valid OpenAI JSONL record whose user message says `text`.
std::string openai_line(const std::string& text) {
  return json{{"messages", {{{"role", "user"}, {"content", text}}}}}.dump();
}

// A tau-bench element for task `task_id` with the given reward.
json taubench_element(int task_id, double reward, int trial = 0) {
  return {{"task_id", task_id},
          {"trial", trial},
          {"reward", reward},
          {"info", {{"task", {{"instruction", "task " + std::to_string(task_id)}}}}},
          {"traj", {{{"role", "system"}, {"content", "sys"}}, {{"role", "user"}, {"content", "hi"}}}}};
}

const std::string kOurId(64, 'a');  // shaped like a content id: 64 lowercase hex characters

// ================================================================================ OpenAI JSONL

TEST_F(ReadersTest, OpenAiFullRecordMapsEveryField) {
  const std::string record = R"({"messages":[)"
      R"({"role":"system","content":"You are helpful."},)"
      R"({"role":"developer","content":null},)"
      R"({"role":"user","name":"alice","content":[{"type":"text","text":"part one"},)"
      R"({"type":"image_url","image_url":{"url":"http://x/y.png"}},{"type":"text","text":"part two"}]},)"
      R"({"role":"assistant","content":null,"refusal":null,"weight":0.5,"tool_calls":[)"
      R"({"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\": 1}"}},)"
      R"({"id":"call_2","type":"function","function":{"name":"search","arguments":{"b":2,"a":"x"}}}]},)"
      R"({"role":"tool","tool_call_id":"call_1","content":"result"},)"
      R"({"role":"function","name":"search","content":"old style"}],)"
      R"("source":"my-src","benchmark":"bench","task_id":42,"model":"gpt-x","attempt":3,)"
      R"("outcome":{"success":true,"reward":0.75,"detail":{"note":"ok"}},)"
      R"("task":{"instruction":"Do it","files":["a.txt","s3://b/c"],"gold":{"answer":7}},)"
      R"("meta":{"run":"r1"},"extra_top":{"k":[1,2]},"id":"foreign-7"})";
  const auto sink = read(write("full.jsonl", record + "\n"), Format::openai_jsonl);
  ASSERT_TRUE(sink.rejected.empty()) << sink.rejected[0].reason;
  ASSERT_EQ(sink.accepted.size(), 1u);
  const Trajectory& t = sink.accepted[0].first;

  EXPECT_EQ(t.source, "my-src");
  EXPECT_EQ(t.benchmark, "bench");
  EXPECT_EQ(t.task_id, "42");  // integer ids become strings
  EXPECT_EQ(t.model, "gpt-x");
  EXPECT_EQ(t.attempt, 3);
  EXPECT_TRUE(t.outcome.labelled);
  EXPECT_TRUE(t.outcome.success);
  EXPECT_DOUBLE_EQ(t.outcome.reward, 0.75);
  EXPECT_EQ(t.outcome.detail, json({{"note", "ok"}}));
  EXPECT_EQ(t.task.instruction, "Do it");
  EXPECT_EQ(t.task.files, (std::vector<std::string>{"a.txt", "s3://b/c"}));
  EXPECT_EQ(t.task.gold, json({{"answer", 7}}));
  // meta keeps its own keys, plus unknown top-level keys and a foreign id.
  EXPECT_EQ(t.meta, json({{"run", "r1"}, {"extra_top", {{"k", {1, 2}}}}, {"id", "foreign-7"}}));

  ASSERT_EQ(t.messages.size(), 6u);
  EXPECT_EQ(t.messages[0].role, "system");
  EXPECT_EQ(t.messages[0].content, "You are helpful.");
  EXPECT_EQ(t.messages[1].role, "developer");
  EXPECT_TRUE(t.messages[1].content.is_null());

  const Message& user = t.messages[2];
  EXPECT_EQ(user.role, "user");
  EXPECT_EQ(user.name, "alice");
  ASSERT_TRUE(user.content.is_array());
  EXPECT_EQ(user.content.size(), 3u);
  EXPECT_EQ(user.content[1]["image_url"]["url"], "http://x/y.png");
  EXPECT_EQ(user.text(), "part one\npart two");
  EXPECT_TRUE(user.extra.empty());

  const Message& assistant = t.messages[3];
  EXPECT_EQ(assistant.role, "assistant");
  EXPECT_TRUE(assistant.content.is_null());
  ASSERT_EQ(assistant.tool_calls.size(), 2u);
  EXPECT_EQ(assistant.tool_calls[0], (ToolCall{"call_1", "lookup", "{\"q\": 1}"}));  // string kept verbatim
  EXPECT_EQ(assistant.tool_calls[1].id, "call_2");
  EXPECT_EQ(assistant.tool_calls[1].name, "search");
  EXPECT_EQ(json::parse(assistant.tool_calls[1].arguments), json({{"a", "x"}, {"b", 2}}));  // object → JSON string
  EXPECT_EQ(assistant.extra, json({{"refusal", nullptr}, {"weight", 0.5}}));

  EXPECT_EQ(t.messages[4].role, "tool");
  EXPECT_EQ(t.messages[4].tool_call_id, "call_1");
  EXPECT_EQ(t.messages[4].content, "result");
  EXPECT_EQ(t.messages[5].role, "function");
  EXPECT_EQ(t.messages[5].name, "search");
}

TEST_F(ReadersTest, OpenAiDropsOurOwnIdButKeepsForeignIds) {
  const std::string ours = R"({"id":")" + kOurId + R"(","messages":[{"role":"user","content":"hi"}]})";
  const std::string numeric = R"({"id":17,"messages":[{"role":"user","content":"hi"}]})";
  const auto sink = read(write("ids.jsonl", lines({ours, numeric})), Format::openai_jsonl);
  ASSERT_EQ(sink.accepted.size(), 2u);
  EXPECT_TRUE(sink.accepted[0].first.meta.empty());
  EXPECT_EQ(sink.accepted[1].first.meta, json({{"id", 17}}));
}

TEST_F(ReadersTest, OpenAiDefaultsForAMinimalRecord) {
  const auto sink = read(write("min.jsonl", lines({openai_line("hi")})), Format::openai_jsonl);
  ASSERT_EQ(sink.accepted.size(), 1u);
  const Trajectory& t = sink.accepted[0].first;
  EXPECT_EQ(t.source, "openai-chat");
  EXPECT_FALSE(t.outcome.labelled);
  EXPECT_EQ(t.attempt, 0);
  EXPECT_TRUE(t.task_id.empty());
  EXPECT_TRUE(t.meta.empty());
}

TEST_F(ReadersTest, ReaderOptionsOverrideWhatTheFileSays) {
  const std::string record = R"({"source":"s","benchmark":"b","model":"m","messages":[{"role":"user","content":"x"}]})";
  ReaderOptions options;
  options.source = "cli-source";
  options.benchmark = "cli-bench";
  options.model = "cli-model";
  const auto sink = read(write("o.jsonl", lines({record})), Format::openai_jsonl, options);
  ASSERT_EQ(sink.accepted.size(), 1u);
  EXPECT_EQ(sink.accepted[0].first.source, "cli-source");
  EXPECT_EQ(sink.accepted[0].first.benchmark, "cli-bench");
  EXPECT_EQ(sink.accepted[0].first.model, "cli-model");
}

TEST_F(ReadersTest, OpenAiCrlfLineEndings) {
  const std::string a = openai_line("first"), b = openai_line("second");
  const auto file = write("crlf.jsonl", a + "\r\n" + b + "\r\n");
  const auto sink = read(file, Format::openai_jsonl);
  ASSERT_TRUE(sink.rejected.empty()) << sink.rejected[0].reason;
  ASSERT_EQ(sink.accepted.size(), 2u);
  EXPECT_EQ(sink.accepted[0].first.messages[0].content, "first");
  EXPECT_EQ(sink.accepted[1].first.messages[0].content, "second");
  EXPECT_EQ(sink.accepted[1].second.number, 2u);
  EXPECT_EQ(sink.accepted[1].second.byte_offset, a.size() + 2);
}

TEST_F(ReadersTest, OpenAiBlankLinesAreSkippedButCounted) {
  const std::string a = openai_line("a"), b = openai_line("b");
  const std::string text = "\n" + a + "\n   \n\t\n\r\n" + b + "\n\n";
  const auto file = write("blank.jsonl", text);
  const auto sink = read(file, Format::openai_jsonl);
  EXPECT_TRUE(sink.rejected.empty());
  ASSERT_EQ(sink.accepted.size(), 2u);
  EXPECT_EQ(sink.accepted[0].second.number, 2u);
  EXPECT_EQ(sink.accepted[1].second.number, 6u);
  EXPECT_EQ(sink.accepted[0].second.byte_offset, text.find(a));
  EXPECT_EQ(sink.accepted[1].second.byte_offset, text.find(b));
}

TEST_F(ReadersTest, OpenAiLocationsHaveLineNumbersAndByteOffsets) {
  const std::vector<std::string> records = {openai_line("one"), openai_line(std::string(300, 'x')),
                                            openai_line("three")};
  const std::string text = lines(records);
  const auto file = write("loc.jsonl", text);
  const auto sink = read(file, Format::openai_jsonl);
  ASSERT_EQ(sink.accepted.size(), 3u);
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const RecordLocation& where = sink.accepted[i].second;
    EXPECT_EQ(where.file, file.string());
    EXPECT_EQ(where.unit, RecordLocation::Unit::line);
    EXPECT_EQ(where.number, i + 1);
    EXPECT_EQ(where.byte_offset, offset);
    EXPECT_EQ(where.to_string(), file.string() + ":" + std::to_string(i + 1));
    offset += records[i].size() + 1;
  }
}

TEST_F(ReadersTest, EmptyFileGivesNoRecords) {
  const auto sink = read(write("empty.jsonl", ""), Format::openai_jsonl);
  EXPECT_TRUE(sink.accepted.empty());
  EXPECT_TRUE(sink.rejected.empty());
}

TEST_F(ReadersTest, MissingFileIsAnInputError) {
  Collector sink;
  EXPECT_THROW(read_file(dir_ / "nope.jsonl", Format::openai_jsonl, {}, sink), InputError);
}

// ---- one bad line between two good ones: it is rejected at line 2, the others are accepted.

struct BadLineCase {
  const char* name;
  std::string line;
  std::string reason;  // expected substring of the reason
};
void PrintTo(const BadLineCase& c, std::ostream* os) { *os << c.name << ": " << c.line; }

class OpenAiBadLine : public ReadersTest, public ::testing::WithParamInterface<BadLineCase> {};

TEST_P(OpenAiBadLine, IsRejectedWithLocationAndReasonAndReadingGoesOn) {
  const BadLineCase& c = GetParam();
  const std::string first = openai_line("before"), last = openai_line("after");
  const auto file = write("bad.jsonl", lines({first, c.line, last}));
  const auto sink = read(file, Format::openai_jsonl);

  ASSERT_EQ(sink.rejected.size(), 1u);
  const BadRecord& bad = sink.rejected[0];
  EXPECT_EQ(bad.where.to_string(), file.string() + ":2");
  EXPECT_EQ(bad.where.byte_offset, first.size() + 1);
  EXPECT_NE(bad.reason.find(c.reason), std::string::npos) << "reason: " << bad.reason;
  EXPECT_EQ(bad.raw, c.line);
  EXPECT_FALSE(bad.raw_truncated);

  ASSERT_EQ(sink.accepted.size(), 2u);
  EXPECT_EQ(sink.accepted[0].second.number, 1u);
  EXPECT_EQ(sink.accepted[1].second.number, 3u);
  EXPECT_EQ(sink.accepted[1].first.messages[0].content, "after");
}

const std::string kUser = R"([{"role":"user","content":"hi"}])";

INSTANTIATE_TEST_SUITE_P(
    Cases, OpenAiBadLine,
    ::testing::Values(
        BadLineCase{"MalformedJson", R"({"messages": [}, oops)", "malformed JSON"},
        BadLineCase{"NotAnObject", R"([1, 2, 3])", "expected an object, got array"},
        BadLineCase{"MissingMessages", R"({"task_id": "t1", "model": "m"})", "field \"messages\" is missing"},
        BadLineCase{"MessagesNotAnArray", R"({"messages": "hello"})", "field \"messages\": expected an array, got string"},
        BadLineCase{"MessageWithoutRole", R"({"messages": [{"content": "hi"}]})", "field \"messages[0].role\" is missing"},
        BadLineCase{"RoleNotAString", R"({"messages": [{"role": 7, "content": "hi"}]})", "field \"messages[0].role\": expected a string"},
        BadLineCase{"UnknownRole", R"({"messages": [{"role": "user", "content": "a"}, {"role": "robot", "content": "hi"}]})",
                    "unknown role \"robot\""},
        BadLineCase{"AttemptNotAnInteger", R"({"attempt": "x", "messages": )" + kUser + "}",
                    "field \"attempt\": expected an integer, got string"},
        BadLineCase{"SuccessNotABoolean", R"({"outcome": {"success": "yes"}, "messages": )" + kUser + "}",
                    "field \"outcome.success\": expected a boolean, got string"},
        BadLineCase{"OutcomeWithoutSuccess", R"({"outcome": {"reward": 1}, "messages": )" + kUser + "}",
                    "field \"outcome.success\" is missing"},
        BadLineCase{"ContentNotText", R"({"messages": [{"role": "user", "content": 5}]})", "field \"messages[0].content\""},
        BadLineCase{"ToolCallWithoutFunction", R"({"messages": [{"role": "assistant", "tool_calls": [{"id": "c"}]}]})",
                    "field \"messages[0].tool_calls[0].function\" is missing"},
        BadLineCase{"UnknownTaskField", R"({"task": {"instructions": "typo"}, "messages": )" + kUser + "}",
                    "field \"task.instructions\": unknown task field"},
        BadLineCase{"EmptyMessages", R"({"messages": []})", "field \"messages\" is empty"}),
    [](const ::testing::TestParamInfo<BadLineCase>& info) { return std::string(info.param.name); });

TEST_F(ReadersTest, OpenAiInvalidUtf8IsRejectedWithTheBytePosition) {
  const std::string first = openai_line("ok");
  const std::string bad = "{\"messages\":[{\"role\":\"user\",\"content\":\"caf\xC3\x28 \xFF\"}]}";
  const auto file = write("utf8.jsonl", lines({first, bad, openai_line("later")}));
  const auto sink = read(file, Format::openai_jsonl);
  ASSERT_EQ(sink.rejected.size(), 1u);
  EXPECT_EQ(sink.rejected[0].where.to_string(), file.string() + ":2");
  EXPECT_NE(sink.rejected[0].reason.find("invalid UTF-8"), std::string::npos) << sink.rejected[0].reason;
  EXPECT_NE(sink.rejected[0].reason.find("byte " + std::to_string(bad.find('\xC3'))), std::string::npos)
      << sink.rejected[0].reason;
  EXPECT_EQ(sink.rejected[0].raw, bad);  // the exact bytes, for the quarantine
  EXPECT_EQ(sink.accepted.size(), 2u);
}

TEST_F(ReadersTest, OpenAiTruncatedLastLineIsRejected) {
  const std::string good = openai_line("complete");
  const std::string cut = R"({"messages":[{"role":"user","content":"hi"},{"role":"assistant")";  // no newline
  const auto file = write("trunc.jsonl", good + "\n" + cut);
  const auto sink = read(file, Format::openai_jsonl);
  ASSERT_EQ(sink.accepted.size(), 1u);
  ASSERT_EQ(sink.rejected.size(), 1u);
  EXPECT_EQ(sink.rejected[0].where.to_string(), file.string() + ":2");
  EXPECT_NE(sink.rejected[0].reason.find("malformed JSON"), std::string::npos) << sink.rejected[0].reason;
  EXPECT_NE(sink.rejected[0].reason.find("truncated"), std::string::npos) << sink.rejected[0].reason;
  EXPECT_EQ(sink.rejected[0].raw, cut);
}

TEST_F(ReadersTest, OpenAiTruncatedInsideAStringIsRejected) {
  const std::string good = openai_line("complete");
  const std::string cut = R"({"messages":[{"role":"user","content":"hel)";
  const auto file = write("trunc2.jsonl", good + "\n" + cut);
  const auto sink = read(file, Format::openai_jsonl);
  ASSERT_EQ(sink.accepted.size(), 1u);
  ASSERT_EQ(sink.rejected.size(), 1u);
  EXPECT_EQ(sink.rejected[0].where.to_string(), file.string() + ":2");
  EXPECT_NE(sink.rejected[0].reason.find("malformed JSON"), std::string::npos) << sink.rejected[0].reason;
}

TEST_F(ReadersTest, OpenAiOversizedRecordIsRejectedAndTheNextLineIsRead) {
  ReaderOptions options;
  options.max_record_bytes = 200;
  const std::string small = openai_line("small");
  const std::string big = openai_line(std::string(2000, 'x'));  // valid, just too large
  const std::string after = openai_line("after");
  const std::string text = lines({small, big, after});
  const auto file = write("big.jsonl", text);
  const auto sink = read(file, Format::openai_jsonl, options);

  ASSERT_EQ(sink.rejected.size(), 1u);
  const BadRecord& bad = sink.rejected[0];
  EXPECT_EQ(bad.where.to_string(), file.string() + ":2");
  EXPECT_EQ(bad.where.byte_offset, small.size() + 1);
  EXPECT_NE(bad.reason.find("exceeds the limit"), std::string::npos) << bad.reason;
  EXPECT_TRUE(bad.raw_truncated);

  ASSERT_EQ(sink.accepted.size(), 2u);
  EXPECT_EQ(sink.accepted[1].first.messages[0].content, "after");
  EXPECT_EQ(sink.accepted[1].second.number, 3u);
  EXPECT_EQ(sink.accepted[1].second.byte_offset, text.find(after));
}

// Regression: the bytes kept for the report of an oversized line once ran on into the following
// lines, so the same record ended up both in the store and in the quarantine file.
TEST_F(ReadersTest, OpenAiOversizedRawHoldsOnlyThatRecordsBytes) {
  ReaderOptions options;
  options.max_record_bytes = 200;
  const std::string big = openai_line(std::string(1000, 'x'));
  const std::string after = openai_line("after");
  const auto sink = read(write("big2.jsonl", lines({big, after})), Format::openai_jsonl, options);
  ASSERT_EQ(sink.rejected.size(), 1u);
  const std::string& raw = sink.rejected[0].raw;
  EXPECT_FALSE(raw.empty());
  EXPECT_LE(raw.size(), big.size());
  EXPECT_TRUE(big.starts_with(raw)) << "raw runs past the end of its line: ..." << raw.substr(raw.size() - 80);
  EXPECT_EQ(raw.find('\n'), std::string::npos);
}

TEST_F(ReadersTest, OpenAiOversizedRecordSpanningManyReadBlocks) {
  ReaderOptions options;
  options.max_record_bytes = 1000;
  const std::string before = openai_line("before");
  const std::string huge = openai_line(std::string(9u << 20, 'y'));  // larger than the 4 MB read block
  const std::string after = openai_line("after");
  const std::string text = lines({before, huge, after});
  const auto sink = read(write("huge.jsonl", text), Format::openai_jsonl, options);
  ASSERT_EQ(sink.rejected.size(), 1u);
  EXPECT_EQ(sink.rejected[0].where.number, 2u);
  EXPECT_NE(sink.rejected[0].reason.find("exceeds the limit"), std::string::npos);
  EXPECT_LE(sink.rejected[0].raw.size(), std::size_t{4096});
  ASSERT_EQ(sink.accepted.size(), 2u);
  EXPECT_EQ(sink.accepted[1].first.messages[0].content, "after");
  EXPECT_EQ(sink.accepted[1].second.number, 3u);
  EXPECT_EQ(sink.accepted[1].second.byte_offset, text.size() - after.size() - 1);
}

TEST_F(ReadersTest, OpenAiRecordExactlyAtTheLimitIsAccepted) {
  const std::string record = openai_line("edge");
  ReaderOptions options;
  options.max_record_bytes = record.size();
  const auto file = write("edge.jsonl", lines({record}));
  EXPECT_EQ(read(file, Format::openai_jsonl, options).accepted.size(), 1u);
  options.max_record_bytes = record.size() - 1;
  const auto sink = read(file, Format::openai_jsonl, options);
  EXPECT_TRUE(sink.accepted.empty());
  EXPECT_EQ(sink.rejected.size(), 1u);
}

TEST_F(ReadersTest, OpenAiLastLineWithoutNewlineIsRead) {
  const auto sink = read(write("nonl.jsonl", openai_line("a") + "\n" + openai_line("b")), Format::openai_jsonl);
  ASSERT_EQ(sink.accepted.size(), 2u);
  EXPECT_EQ(sink.accepted[1].first.messages[0].content, "b");
}

TEST_F(ReadersTest, OpenAiLinesCrossingReadBlocksKeepTheirLocations) {
  // About 10 MB of lines of varying length, so lines straddle the 4 MB read blocks.
  std::vector<std::string> records;
  std::size_t total = 0;
  for (int i = 0; total < (10u << 20); ++i) {
    records.push_back(openai_line(std::to_string(i) + ":" + std::string(1000 + (i * 7919) % 3000, 'q')));
    total += records.back().size() + 1;
  }
  const auto sink = read(write("blocks.jsonl", lines(records)), Format::openai_jsonl);
  EXPECT_TRUE(sink.rejected.empty());
  ASSERT_EQ(sink.accepted.size(), records.size());
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& [t, where] = sink.accepted[i];
    ASSERT_EQ(where.number, i + 1);
    ASSERT_EQ(where.byte_offset, offset) << "line " << i + 1;
    ASSERT_TRUE(t.messages[0].text().starts_with(std::to_string(i) + ":")) << "line " << i + 1;
    offset += records[i].size() + 1;
  }
}

TEST_F(ReadersTest, OpenAiRecordFarLargerThanTheRestIsReadWhenUnderTheLimit) {
  const std::string huge = openai_line(std::string(6u << 20, 'h'));  // larger than one read block
  const auto sink = read(write("large.jsonl", lines({openai_line("s1"), huge, openai_line("s2")})),
                         Format::openai_jsonl);
  EXPECT_TRUE(sink.rejected.empty());
  ASSERT_EQ(sink.accepted.size(), 3u);
  EXPECT_EQ(sink.accepted[1].first.messages[0].text().size(), 6u << 20);
  EXPECT_EQ(sink.accepted[2].first.messages[0].content, "s2");
}

TEST_F(ReadersTest, OpenAiManyBadLinesInARowDoNotStopReading) {
  std::vector<std::string> items;
  for (int i = 0; i < 50; ++i) items.push_back(i % 2 == 0 ? openai_line("good " + std::to_string(i)) : "{broken");
  const auto sink = read(write("many.jsonl", lines(items)), Format::openai_jsonl);
  EXPECT_EQ(sink.accepted.size(), 25u);
  EXPECT_EQ(sink.rejected.size(), 25u);
  EXPECT_EQ(sink.rejected.back().where.number, 50u);
}

TEST_F(ReadersTest, ParseOpenAiRecordErrorNamesWhereAndWhy) {
  try {
    parse_openai_record(R"({"messages":[{"role":"wizard"}]})", "somewhere:9");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("somewhere:9: ", 0), 0u) << message;
    EXPECT_NE(message.find("wizard"), std::string::npos) << message;
  }
  EXPECT_THROW(parse_openai_record("{not json", "x"), InputError);
}

// ================================================================================= tau-bench

TEST_F(ReadersTest, TaubenchMapsEveryField) {
  const json element = {
      {"task_id", 0},
      {"trial", 2},
      {"reward", 1.0},
      {"info",
       {{"task",
         {{"user_id", "mia_li_3668"},
          {"instruction", "You are Mia. Book a flight."},
          {"actions", {{{"name", "book_reservation"}, {"kwargs", {{"user_id", "mia_li_3668"}}}}}},
          {"outputs", {"done"}}}},
        {"source", "user"},
        {"user_cost", 0.25},
        {"reward_info", {{"reward", 1.0}, {"info", {{"r_actions", true}}}}}}},
      {"traj",
       {{{"role", "system"}, {"content", "policy"}},
        {{"role", "user"}, {"content", "hi"}},
        {{"role", "assistant"},
         {"content", nullptr},
         {"tool_calls",
          {{{"id", "c1"}, {"type", "function"}, {"function", {{"name", "get_user"}, {"arguments", "{}"}}}}}}},
        {{"role", "tool"}, {"tool_call_id", "c1"}, {"name", "get_user"}, {"content", "{...}"}}}}};
  const auto file = write("tau.json", json::array({element}).dump(2));
  const auto sink = read(file, Format::taubench);
  ASSERT_TRUE(sink.rejected.empty()) << sink.rejected[0].reason;
  ASSERT_EQ(sink.accepted.size(), 1u);
  const Trajectory& t = sink.accepted[0].first;
  EXPECT_EQ(t.source, "tau-bench");
  EXPECT_EQ(t.task_id, "0");
  EXPECT_EQ(t.attempt, 2);
  EXPECT_TRUE(t.outcome.labelled);
  EXPECT_TRUE(t.outcome.success);
  EXPECT_DOUBLE_EQ(t.outcome.reward, 1.0);
  EXPECT_EQ(t.outcome.detail, element["info"]["reward_info"]);
  EXPECT_EQ(t.task.instruction, "You are Mia. Book a flight.");
  EXPECT_EQ(t.task.gold, json({{"actions", element["info"]["task"]["actions"]}, {"outputs", {"done"}}}));
  // What is left of info (minus instruction, gold and reward_info) is kept in meta.
  EXPECT_EQ(t.meta["info"], json({{"task", {{"user_id", "mia_li_3668"}}}, {"source", "user"}, {"user_cost", 0.25}}));
  ASSERT_EQ(t.messages.size(), 4u);
  EXPECT_EQ(t.messages[2].tool_calls.at(0).name, "get_user");
  EXPECT_EQ(t.messages[3].tool_call_id, "c1");
  EXPECT_EQ(sink.accepted[0].second.unit, RecordLocation::Unit::index);
  EXPECT_EQ(sink.accepted[0].second.to_string(), file.string() + "[0]");
}

TEST_F(ReadersTest, TaubenchSuccessOnlyAtFullReward) {
  const json array = {taubench_element(1, 0.0), taubench_element(2, 0.5), taubench_element(3, 1),
                      taubench_element(4, 0.999)};
  const auto sink = read(write("rewards.json", array.dump()), Format::taubench);
  ASSERT_EQ(sink.accepted.size(), 4u);
  EXPECT_FALSE(sink.accepted[0].first.outcome.success);
  EXPECT_FALSE(sink.accepted[1].first.outcome.success);
  EXPECT_DOUBLE_EQ(sink.accepted[1].first.outcome.reward, 0.5);
  EXPECT_TRUE(sink.accepted[2].first.outcome.success);
  EXPECT_FALSE(sink.accepted[3].first.outcome.success);
  for (const auto& [t, where] : sink.accepted) EXPECT_TRUE(t.outcome.labelled);
}

TEST_F(ReadersTest, TaubenchIndicesAndOffsets) {
  const std::string e0 = taubench_element(1, 1).dump(), e1 = taubench_element(2, 0).dump();
  const std::string text = "  [\n  " + e0 + " ,\n\t" + e1 + "\n]\n";
  const auto sink = read(write("idx.json", text), Format::taubench);
  ASSERT_EQ(sink.accepted.size(), 2u);
  EXPECT_EQ(sink.accepted[0].second.number, 0u);
  EXPECT_EQ(sink.accepted[0].second.byte_offset, text.find(e0));
  EXPECT_EQ(sink.accepted[1].second.number, 1u);
  EXPECT_EQ(sink.accepted[1].second.byte_offset, text.find(e1));
}

TEST_F(ReadersTest, TaubenchEmptyArrayGivesNoRecords) {
  const auto sink = read(write("none.json", " [ ] "), Format::taubench);
  EXPECT_TRUE(sink.accepted.empty());
  EXPECT_TRUE(sink.rejected.empty());
}

TEST_F(ReadersTest, TaubenchBadElementInTheMiddleIsRejectedWithItsIndex) {
  json bad = taubench_element(2, 1);
  bad["traj"] = "not a list";
  json missing = taubench_element(3, 1);
  missing.erase("reward");
  const json array = {taubench_element(1, 1), bad, missing, taubench_element(4, 0)};
  const auto file = write("mid.json", array.dump());
  const auto sink = read(file, Format::taubench);
  ASSERT_EQ(sink.rejected.size(), 2u);
  EXPECT_EQ(sink.rejected[0].where.to_string(), file.string() + "[1]");
  EXPECT_NE(sink.rejected[0].reason.find("field \"traj\": expected an array"), std::string::npos) << sink.rejected[0].reason;
  EXPECT_EQ(sink.rejected[0].raw, bad.dump());
  EXPECT_EQ(sink.rejected[1].where.to_string(), file.string() + "[2]");
  EXPECT_NE(sink.rejected[1].reason.find("field \"reward\" is missing"), std::string::npos) << sink.rejected[1].reason;
  ASSERT_EQ(sink.accepted.size(), 2u);
  EXPECT_EQ(sink.accepted[0].second.number, 0u);
  EXPECT_EQ(sink.accepted[1].second.number, 3u);
  EXPECT_EQ(sink.accepted[1].first.task_id, "4");
}

TEST_F(ReadersTest, TaubenchUnknownRoleInTrajIsRejected) {
  json bad = taubench_element(2, 1);
  bad["traj"][1]["role"] = "narrator";
  const auto file = write("role.json", json::array({taubench_element(1, 1), bad}).dump());
  const auto sink = read(file, Format::taubench);
  ASSERT_EQ(sink.rejected.size(), 1u);
  EXPECT_EQ(sink.rejected[0].where.to_string(), file.string() + "[1]");
  EXPECT_NE(sink.rejected[0].reason.find("traj[1].role"), std::string::npos) << sink.rejected[0].reason;
  EXPECT_NE(sink.rejected[0].reason.find("narrator"), std::string::npos) << sink.rejected[0].reason;
  EXPECT_EQ(sink.accepted.size(), 1u);
}

TEST_F(ReadersTest, TaubenchTruncatedFileRejectsTheCutElement) {
  const std::string e0 = taubench_element(1, 1).dump(), e1 = taubench_element(2, 1).dump();
  const std::string text = "[" + e0 + ", " + e1.substr(0, e1.size() / 2);
  const auto file = write("cut.json", text);
  const auto sink = read(file, Format::taubench);
  ASSERT_EQ(sink.accepted.size(), 1u);
  ASSERT_EQ(sink.rejected.size(), 1u);
  EXPECT_EQ(sink.rejected[0].where.to_string(), file.string() + "[1]");
  EXPECT_EQ(sink.rejected[0].where.byte_offset, 1 + e0.size() + 2);
  EXPECT_NE(sink.rejected[0].reason.find("truncated"), std::string::npos) << sink.rejected[0].reason;
}

// Only the closing bracket is missing: every record was read, so this is a warning, not a record.
TEST_F(ReadersTest, TaubenchMissingClosingBracketIsAWarning) {
  const auto file = write("open.json", "[" + taubench_element(1, 1).dump() + "\n");
  std::vector<std::string> warnings;
  ReaderOptions options;
  options.warn = [&](const std::string& message) { warnings.push_back(message); };
  const auto sink = read(file, Format::taubench, options);
  EXPECT_EQ(sink.accepted.size(), 1u);
  EXPECT_TRUE(sink.rejected.empty());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("truncated"), std::string::npos) << warnings[0];
}

// A broken array structure: what follows cannot be split into records, so it is quarantined whole.
TEST_F(ReadersTest, TaubenchBrokenStructureQuarantinesTheUnreadRest) {
  const std::string rest = " " + taubench_element(3, 1).dump() + "]";
  const auto file = write("broken.json", "[" + taubench_element(1, 1).dump() + " x" + rest);
  const auto sink = read(file, Format::taubench);
  EXPECT_EQ(sink.accepted.size(), 1u);
  ASSERT_EQ(sink.rejected.size(), 1u);
  EXPECT_NE(sink.rejected[0].reason.find("quarantined unread"), std::string::npos) << sink.rejected[0].reason;
  EXPECT_EQ(sink.rejected[0].raw, rest);
}

TEST_F(ReadersTest, TaubenchGarbageElementIsRejectedAndItsNeighboursRead) {
  const std::string text =
      "[" + taubench_element(1, 1).dump() + ", nonsense, " + taubench_element(3, 1).dump() + "]";
  const auto file = write("garbage.json", text);
  const auto sink = read(file, Format::taubench);
  ASSERT_EQ(sink.rejected.size(), 1u);
  EXPECT_EQ(sink.rejected[0].where.to_string(), file.string() + "[1]");
  EXPECT_NE(sink.rejected[0].reason.find("malformed JSON"), std::string::npos) << sink.rejected[0].reason;
  EXPECT_EQ(sink.rejected[0].raw, "nonsense");
  ASSERT_EQ(sink.accepted.size(), 2u);
  EXPECT_EQ(sink.accepted[1].first.task_id, "3");
  EXPECT_EQ(sink.accepted[1].second.number, 2u);
}

TEST_F(ReadersTest, TaubenchGarbageBetweenElementsWithoutCommaIsReported) {
  const std::string text =
      "[" + taubench_element(1, 1).dump() + " @@@ , " + taubench_element(3, 1).dump() + "]";
  const auto file = write("nocomma.json", text);
  const auto sink = read(file, Format::taubench);
  EXPECT_EQ(sink.accepted.size(), 1u);
  ASSERT_GE(sink.rejected.size(), 1u);
  EXPECT_EQ(sink.rejected[0].where.to_string(), file.string() + "[1]");
  EXPECT_NE(sink.rejected[0].reason.find("expected ',' or ']'"), std::string::npos) << sink.rejected[0].reason;
}

// Regression: a stray closing bracket once drove the nesting depth below zero and swallowed every
// later element into one bad record.
TEST_F(ReadersTest, TaubenchStrayClosingBracketDoesNotSwallowTheRestOfTheFile) {
  const std::string text = "[" + taubench_element(1, 1).dump() + ", }, " + taubench_element(3, 1).dump() +
                           ", " + taubench_element(4, 0).dump() + "]";
  const auto file = write("stray.json", text);
  const auto sink = read(file, Format::taubench);
  ASSERT_FALSE(sink.rejected.empty());
  EXPECT_EQ(sink.rejected[0].where.to_string(), file.string() + "[1]");
  ASSERT_EQ(sink.accepted.size(), 3u) << "elements after the stray '}' were swallowed: "
                                       << sink.rejected[0].raw.substr(0, 60);
  EXPECT_EQ(sink.accepted[2].first.task_id, "4");
}

TEST_F(ReadersTest, TaubenchOversizedElementIsRejectedAndTheNextRead) {
  ReaderOptions options;
  options.max_record_bytes = 600;
  json big = taubench_element(2, 1);
  big["traj"][1]["content"] = std::string(5000, 'z');
  const std::string text =
      json::array({taubench_element(1, 1), big, taubench_element(3, 0)}).dump();
  const auto file = write("bigtau.json", text);
  const auto sink = read(file, Format::taubench, options);
  ASSERT_EQ(sink.rejected.size(), 1u);
  EXPECT_EQ(sink.rejected[0].where.to_string(), file.string() + "[1]");
  EXPECT_NE(sink.rejected[0].reason.find("exceeds the limit"), std::string::npos) << sink.rejected[0].reason;
  EXPECT_TRUE(sink.rejected[0].raw_truncated);
  EXPECT_TRUE(big.dump().starts_with(sink.rejected[0].raw));
  ASSERT_EQ(sink.accepted.size(), 2u);
  EXPECT_EQ(sink.accepted[1].first.task_id, "3");
  EXPECT_EQ(sink.accepted[1].second.number, 2u);
}

TEST_F(ReadersTest, TaubenchInvalidUtf8ElementIsRejected) {
  const std::string bad = R"({"task_id":2,"reward":1,"traj":[{"role":"user","content":"x)" "\xFE" R"("}]})";
  const std::string text = "[" + taubench_element(1, 1).dump() + "," + bad + "," + taubench_element(3, 1).dump() + "]";
  const auto file = write("tauutf8.json", text);
  const auto sink = read(file, Format::taubench);
  ASSERT_EQ(sink.rejected.size(), 1u);
  EXPECT_EQ(sink.rejected[0].where.to_string(), file.string() + "[1]");
  EXPECT_NE(sink.rejected[0].reason.find("invalid UTF-8"), std::string::npos) << sink.rejected[0].reason;
  EXPECT_EQ(sink.rejected[0].raw, bad);
  EXPECT_EQ(sink.accepted.size(), 2u);
}

// ====================================================================================== ATIF

const char* kAtifTrajectory = R"({
  "schema_version": "ATIF-v1.2",
  "session_id": "sess-1",
  "agent": {"name": "terminus", "version": "1.0", "model_name": "claude-x"},
  "steps": [
    {"step_id": 1, "source": "system", "message": "You are an agent."},
    {"step_id": 2, "source": "user", "message": "Fix the bug in foo.py"},
    {"step_id": 3, "source": "agent", "message": "Let me look.",
     "tool_calls": [{"tool_call_id": "tc1", "function_name": "bash", "arguments": {"timeout": 5, "cmd": "ls"}}],
     "observation": {"results": [{"source_call_id": "tc1", "content": "foo.py"},
                                 {"content": "Note: 2 minutes left"}]}},
    {"step_id": 4, "source": "agent", "message": "Done."}
  ],
  "final_metrics": {"total_steps": 4}
}
)";

TEST_F(ReadersTest, AtifTrialMapsStepsAndResult) {
  const auto file = write("trial/agent/trajectory.json", kAtifTrajectory);
  write("trial/result.json",
        R"({"task_name": "fix-foo", "trial_name": "fix-foo__x1", "source": "terminal-bench",
            "verifier_result": {"rewards": {"reward": 1.0}}})");
  const auto sink = read(file, Format::atif);
  ASSERT_TRUE(sink.rejected.empty()) << sink.rejected[0].reason;
  ASSERT_EQ(sink.accepted.size(), 1u);
  const Trajectory& t = sink.accepted[0].first;
  EXPECT_EQ(t.source, "harbor");
  EXPECT_EQ(t.model, "claude-x");
  EXPECT_EQ(t.task_id, "fix-foo");
  EXPECT_EQ(t.benchmark, "terminal-bench");
  EXPECT_TRUE(t.outcome.labelled);
  EXPECT_TRUE(t.outcome.success);
  EXPECT_DOUBLE_EQ(t.outcome.reward, 1.0);
  EXPECT_EQ(t.task.instruction, "Fix the bug in foo.py");
  EXPECT_EQ(t.meta["trial_name"], "fix-foo__x1");
  EXPECT_EQ(t.meta["atif"]["session_id"], "sess-1");
  EXPECT_FALSE(t.meta["atif"].contains("steps"));

  ASSERT_EQ(t.messages.size(), 6u);
  EXPECT_EQ(t.messages[0].role, "system");
  EXPECT_EQ(t.messages[0].content, "You are an agent.");
  EXPECT_EQ(t.messages[1].role, "user");
  const Message& call = t.messages[2];
  EXPECT_EQ(call.role, "assistant");
  EXPECT_EQ(call.content, "Let me look.");
  ASSERT_EQ(call.tool_calls.size(), 1u);
  EXPECT_EQ(call.tool_calls[0].id, "tc1");
  EXPECT_EQ(call.tool_calls[0].name, "bash");
  EXPECT_EQ(json::parse(call.tool_calls[0].arguments), json({{"cmd", "ls"}, {"timeout", 5}}));
  EXPECT_EQ(call.extra["step_id"], 3);
  EXPECT_EQ(t.messages[3].role, "tool");
  EXPECT_EQ(t.messages[3].tool_call_id, "tc1");
  EXPECT_EQ(t.messages[3].content, "foo.py");
  EXPECT_EQ(t.messages[4].role, "user");  // an observation not answering a call
  EXPECT_EQ(t.messages[4].content, "Note: 2 minutes left");
  EXPECT_TRUE(t.messages[4].tool_call_id.empty());
  EXPECT_EQ(t.messages[5].role, "assistant");
  EXPECT_EQ(t.messages[5].content, "Done.");
  EXPECT_EQ(sink.accepted[0].second.unit, RecordLocation::Unit::file);
  EXPECT_EQ(sink.accepted[0].second.to_string(), file.string());
}

TEST_F(ReadersTest, AtifFailedTrialIsLabelledFailure) {
  const auto file = write("t2/agent/trajectory.json", kAtifTrajectory);
  write("t2/result.json", R"({"task_name": "fix-foo", "verifier_result": {"rewards": {"reward": 0.0}}})");
  const auto sink = read(file, Format::atif);
  ASSERT_EQ(sink.accepted.size(), 1u);
  EXPECT_TRUE(sink.accepted[0].first.outcome.labelled);
  EXPECT_FALSE(sink.accepted[0].first.outcome.success);
}

TEST_F(ReadersTest, AtifWithoutResultIsUnlabelled) {
  const auto file = write("lonely/agent/trajectory.json", kAtifTrajectory);
  const auto sink = read(file, Format::atif);
  ASSERT_EQ(sink.accepted.size(), 1u);
  const Trajectory& t = sink.accepted[0].first;
  EXPECT_FALSE(t.outcome.labelled);
  EXPECT_TRUE(t.task_id.empty());
  EXPECT_EQ(t.model, "claude-x");
}

TEST_F(ReadersTest, AtifUnknownStepSourceIsRejected) {
  std::string text = kAtifTrajectory;
  text.replace(text.find("\"source\": \"user\""), 16, "\"source\": \"environment\"");
  const auto file = write("weird/agent/trajectory.json", text);
  const auto sink = read(file, Format::atif);
  EXPECT_TRUE(sink.accepted.empty());
  ASSERT_EQ(sink.rejected.size(), 1u);
  EXPECT_EQ(sink.rejected[0].where.to_string(), file.string());
  EXPECT_NE(sink.rejected[0].reason.find("steps[1].source"), std::string::npos) << sink.rejected[0].reason;
  EXPECT_NE(sink.rejected[0].reason.find("environment"), std::string::npos) << sink.rejected[0].reason;
}

TEST_F(ReadersTest, AtifMalformedDocumentIsRejected) {
  const std::string text = std::string(kAtifTrajectory).substr(0, 200);
  const auto file = write("cut/agent/trajectory.json", text);
  const auto sink = read(file, Format::atif);
  EXPECT_TRUE(sink.accepted.empty());
  ASSERT_EQ(sink.rejected.size(), 1u);
  EXPECT_NE(sink.rejected[0].reason.find("malformed JSON"), std::string::npos) << sink.rejected[0].reason;
}

TEST_F(ReadersTest, AtifOversizedDocumentIsRejected) {
  const auto file = write("big/agent/trajectory.json", kAtifTrajectory);
  ReaderOptions options;
  options.max_record_bytes = 100;
  const auto sink = read(file, Format::atif, options);
  EXPECT_TRUE(sink.accepted.empty());
  ASSERT_EQ(sink.rejected.size(), 1u);
  EXPECT_EQ(sink.rejected[0].where.to_string(), file.string());
  EXPECT_NE(sink.rejected[0].reason.find("exceeds the limit"), std::string::npos) << sink.rejected[0].reason;
}

// ============================================================================ format detection

TEST(FormatNames, RoundTrip) {
  for (Format f : {Format::openai_jsonl, Format::taubench, Format::atif, Format::t2s_store})
    EXPECT_EQ(parse_format(format_name(f)), f);
  EXPECT_FALSE(parse_format("csv").has_value());
  EXPECT_EQ(known_format_names(), "openai, taubench, atif, t2s");
}

TEST_F(ReadersTest, DetectFormatOfEachKind) {
  EXPECT_EQ(detect_format(write("a.jsonl", lines({openai_line("x")}))), Format::openai_jsonl);
  EXPECT_EQ(detect_format(write("b.json", "\n  " + json::array({taubench_element(1, 1)}).dump())), Format::taubench);
  EXPECT_EQ(detect_format(write("c/agent/trajectory.json", kAtifTrajectory)), Format::atif);
  EXPECT_EQ(detect_format(write("d.h5", std::string("\x89HDF\r\n\x1a\n", 8) + std::string(64, '\0'))),
            Format::t2s_store);
}

TEST_F(ReadersTest, DetectFormatRejectsUnknownAndEmptyFiles) {
  const auto text = write("notes.txt", "hello, world\n");
  try {
    detect_format(text);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(text.string()), std::string::npos) << e.what();
  }
  EXPECT_THROW(detect_format(write("empty.jsonl", " \n\n")), InputError);
  EXPECT_THROW(detect_format(dir_ / "missing.jsonl"), InputError);
}

TEST_F(ReadersTest, ReadFileRefusesTheStoreFormat) {
  Collector sink;
  EXPECT_THROW(read_file(write("s.h5", "x"), Format::t2s_store, {}, sink), InputError);
}

// ============================================================================ input expansion

TEST_F(ReadersTest, ExpandInputsWalksDirectoriesInSortedOrder) {
  const auto b = write("in/b.jsonl", "");
  const auto a = write("in/a/agent/trajectory.json", "");
  const auto c = write("in/c.h5", "");
  const auto z = write("in/sub/z.jsonl", "");
  write("in/notes.txt", "");
  write("in/results.json", "");
  write("in/sub/other.json", "");
  const auto single = write("single.txt", "");  // a file given by name is kept whatever its name

  const auto files = expand_inputs({single, dir_ / "in"});
  EXPECT_EQ(files, (std::vector<fs::path>{single, a, b, c, z}));
}

TEST_F(ReadersTest, ExpandInputsFailsOnADirectoryWithNothingToRead) {
  write("empty/readme.md", "");
  try {
    expand_inputs({dir_ / "empty"});
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find((dir_ / "empty").string()), std::string::npos) << e.what();
  }
  EXPECT_THROW(expand_inputs({dir_ / "does-not-exist"}), InputError);
}

// =============================================================================== round trip

Trajectory rich_trajectory() {
  Trajectory t;
  t.source = "t2s-test";
  t.benchmark = "wikitq";
  t.task_id = "task-7";
  t.model = "gpt-4o";
  t.attempt = 4;
  t.outcome = {true, false, 0.25, json{{"feedback", "wrong year"}, {"scores", {0.1, 0.2}}}};
  t.task = {"Answer: which year? \"quoted\" \\ and ünïcödé ✓", {"data/table.csv", "s3://bucket/x"},
            json{{"answer", {"1999", 1999}}}};
  t.meta = {{"run", {{"seed", 42}, {"big", 18446744073709551615ull}, {"neg", -3}}}, {"id", "foreign"},
            {"tags", {"a", "b"}}};

  Message system{"system", "Be terse.\n\tLine two\x01", "", {}, ""};
  Message user{"user",
               json::array({{{"type", "text"}, {"text", "see"}}, {{"type", "image_url"}, {"image_url", {{"url", "u"}}}}}),
               "bob", {}, ""};
  Message assistant{"assistant", nullptr, "", {{"c1", "lookup", R"({"q":"x"})"}, {"", "noid", ""}}, "",
                    json{{"refusal", nullptr}, {"zeta", 1.5}}};
  Message tool{"tool", "result 😀", "lookup", {}, "c1"};
  Message function{"function", "", "f", {}, ""};
  t.messages = {system, user, assistant, tool, function};
  return t;
}

TEST(RoundTrip, ParseOfCanonicalRecordGivesTheSameTrajectory) {
  const Trajectory t = rich_trajectory();
  const CanonicalRecord record = canonical_record(t);
  const Trajectory back = parse_openai_record(record.json, "test");
  EXPECT_EQ(back, t);
  EXPECT_EQ(trajectory_id(back), record.id);
  EXPECT_EQ(canonical_record(back).json, record.json);
}

TEST(RoundTrip, ExportLineWithOurIdParsesToTheSameTrajectory) {
  const Trajectory t = rich_trajectory();
  const CanonicalRecord record = canonical_record(t);
  const std::string line = "{\"id\":\"" + record.id + "\"," + record.json.substr(1);
  const Trajectory back = parse_openai_record(line, "export");
  EXPECT_EQ(back, t);
  EXPECT_EQ(trajectory_id(back), record.id);
}

TEST(RoundTrip, UnlabelledMinimalTrajectory) {
  Trajectory t;
  t.source = "s";
  t.messages = {Message{"user", "hi", "", {}, ""}};
  const CanonicalRecord record = canonical_record(t);
  const Trajectory back = parse_openai_record(record.json, "test");
  EXPECT_EQ(back, t);
  EXPECT_FALSE(back.outcome.labelled);
  EXPECT_EQ(trajectory_id(back), record.id);
}

}  // namespace

namespace {

TEST_F(ReadersTest, ByteOrderMarkIsNotPartOfTheFirstRecord) {
  const auto file = write("bom.jsonl", "\xEF\xBB\xBF" + lines({openai_line("first"), openai_line("second")}));
  EXPECT_EQ(detect_format(file), Format::openai_jsonl);
  const auto sink = read(file, Format::openai_jsonl);
  ASSERT_TRUE(sink.rejected.empty()) << sink.rejected[0].reason;
  ASSERT_EQ(sink.accepted.size(), 2u);
  EXPECT_EQ(sink.accepted[0].first.messages[0].content, "first");
}

TEST_F(ReadersTest, TaubenchTrailingCommaEndsTheArrayWithoutABadRecord) {
  const auto file = write("trailing.json", "[" + taubench_element(1, 1).dump() + ", ]");
  const auto sink = read(file, Format::taubench);
  EXPECT_TRUE(sink.rejected.empty());
  EXPECT_EQ(sink.accepted.size(), 1u);
}

TEST_F(ReadersTest, TaubenchFormatOnAFileThatIsNoArrayIsAnInputError) {
  const auto file = write("object.json", openai_line("not an array"));
  EXPECT_THROW(read(file, Format::taubench), InputError);
}

TEST_F(ReadersTest, OpenAiUnknownOutcomeFieldIsRejectedLikeUnknownTaskFields) {
  const auto file = write("outcome.jsonl",
                          lines({R"({"messages":[{"role":"user","content":"x"}],"outcome":{"success":true,"sucess":false}})"}));
  const auto sink = read(file, Format::openai_jsonl);
  ASSERT_EQ(sink.rejected.size(), 1u);
  EXPECT_NE(sink.rejected[0].reason.find("outcome.sucess"), std::string::npos) << sink.rejected[0].reason;
}

}  // namespace

namespace {

TEST_F(ReadersTest, TaubenchFormatOnAnObjectAfterWhiteSpaceIsStillAnInputError) {
  const auto file = write("object.json", "\n   " + openai_line("not an array"));
  EXPECT_THROW(read(file, Format::taubench), InputError);
}

// Messages with extra keys are written through nlohmann::json, the others by hand: both paths must
// give the same text for tool calls, or ids would depend on an unrelated key.
TEST(CanonicalRecordPaths, ToolCallsAreWrittenTheSameWithAndWithoutExtraKeys) {
  Trajectory plain;
  plain.messages.push_back({"assistant", nullptr, "", {{"call_1", "python", R"j({"code": "print(\"hi\")\n"})j"}}, ""});
  Trajectory with_extra = plain;
  with_extra.messages[0].extra = {{"zzz_note", 1}};
  // The raw text of the tool_calls value: it ends where the message ends (plain) or where the next
  // key begins (with the extra key, which sorts after it).
  const std::string key = "\"tool_calls\":";
  const std::string a = canonical_record(plain).json, b = canonical_record(with_extra).json;
  const std::size_t a_begin = a.find(key) + key.size(), b_begin = b.find(key) + key.size();
  const std::string a_calls = a.substr(a_begin, a.find("}],\"meta\"") - a_begin);
  const std::string b_calls = b.substr(b_begin, b.find(",\"zzz_note\"") - b_begin);
  EXPECT_EQ(a_calls, b_calls);
  EXPECT_NE(a_calls.find("print"), std::string::npos) << a_calls;
}

}  // namespace

// Ingest parses every record of a worker into one reused trajectory: nothing of a record may leak
// into the next, in any order, nor survive a bad record in between.
TEST(ScratchReuse, ParsingIntoAReusedTrajectoryEqualsAFreshParse) {
  const std::vector<std::string> records = {
      R"({"messages":[{"role":"system","content":"be brief","name":"sys","x-extra":1},)"
      R"({"role":"user","content":[{"type":"text","text":"hi"}]},)"
      R"({"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"read","arguments":"{\"a\":1}"}},)"
      R"({"id":7,"function":{"name":"write","arguments":{"b":[1,2]}}}]},)"
      R"({"role":"tool","tool_call_id":"call_1","content":"ok"},{"role":"tool","tool_call_id":7,"content":"done"}],)"
      R"("source":"s","benchmark":"b","task_id":12,"model":"m","attempt":3,)"
      R"("outcome":{"success":false,"reward":0.25,"detail":{"why":"late"}},)"
      R"("task":{"instruction":"do it","files":["a.xlsx"],"gold":{"cell":"B2"}},"meta":{"k":"v"},"other":true})",
      R"({"messages":[{"role":"user","content":"plain"},{"role":"assistant"}]})",
      R"({"messages":[{"role":"user"},{"role":"assistant","content":"x","tool_calls":[]}],"task":{"instruction":"i"}})",
      R"({"messages":[{"role":"wizard","content":"bad"}]})",
      R"({"messages":[{"role":"assistant","content":"y","tool_calls":[{"id":"c","function":{"name":"only"}}]}],"outcome":null})",
  };
  auto raw = [](const std::string& text) {
    RawRecord r;
    r.where = {"mem", RecordLocation::Unit::line, 1, 0};
    r.text = text;
    return r;
  };
  std::vector<std::variant<Trajectory, BadRecord>> fresh;
  for (const auto& text : records) fresh.push_back(parse_record(Format::openai_jsonl, raw(text), {}));
  std::size_t compared = 0;
  for (std::size_t first = 0; first < records.size(); ++first) {
    for (std::size_t second = 0; second < records.size(); ++second) {
      Trajectory scratch;
      for (std::size_t i : {first, second}) {
        const auto bad = parse_record(Format::openai_jsonl, raw(records[i]), {}, scratch);
        ASSERT_EQ(bad.has_value(), std::holds_alternative<BadRecord>(fresh[i])) << i;
        if (bad) continue;
        EXPECT_EQ(canonical_record(scratch).json, canonical_record(std::get<Trajectory>(fresh[i])).json)
            << "record " << i << " after record " << first;
        ++compared;
      }
    }
  }
  EXPECT_EQ(compared, 2u * 4 * 5);  // each of the 4 good records first and second in 5 pairs each
}

// ===================================================================== top-level label fields

namespace {

// A minimal OpenAI record with `fields` (a JSON object's members, without braces) at the top level.
std::string labelled_line(const std::string& fields) {
  return R"({"messages":[{"role":"user","content":"hi"}],)" + fields + "}";
}

struct LabelCase {
  const char* name;
  std::string fields;  // top-level members beside "messages"
  bool success;
  double reward;
};
void PrintTo(const LabelCase& c, std::ostream* os) { *os << c.name << ": " << c.fields; }

class OpenAiTopLevelLabel : public ReadersTest, public ::testing::WithParamInterface<LabelCase> {};

TEST_P(OpenAiTopLevelLabel, IsReadAsTheOutcomeAndNotKeptInMeta) {
  const LabelCase& c = GetParam();
  const auto sink = read(write("labels.jsonl", lines({labelled_line(c.fields)})), Format::openai_jsonl);
  ASSERT_TRUE(sink.rejected.empty()) << sink.rejected[0].reason;
  ASSERT_EQ(sink.accepted.size(), 1u);
  const Trajectory& t = sink.accepted[0].first;
  EXPECT_TRUE(t.outcome.labelled);
  EXPECT_EQ(t.outcome.success, c.success);
  EXPECT_DOUBLE_EQ(t.outcome.reward, c.reward);
  EXPECT_TRUE(t.meta.is_null() || t.meta.empty()) << t.meta.dump();
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, OpenAiTopLevelLabel,
    ::testing::Values(
        LabelCase{"SuccessTrue", R"("success": true)", true, 1.0},
        LabelCase{"SuccessFalse", R"("success": false)", false, 0.0},
        LabelCase{"Succeeded", R"("succeeded": true)", true, 1.0},
        LabelCase{"PassedAsOne", R"("passed": 1)", true, 1.0},
        LabelCase{"PassedAsZero", R"("passed": 0)", false, 0.0},
        LabelCase{"ResolvedFalse", R"("resolved": false)", false, 0.0},
        LabelCase{"SolvedWordInCapitals", R"("solved": "PASSED")", true, 1.0},
        LabelCase{"CorrectWordFail", R"("correct": "fail")", false, 0.0},
        LabelCase{"IsCorrect", R"("is_correct": true)", true, 1.0},
        LabelCase{"IsResolvedYes", R"("is_resolved": "Yes")", true, 1.0},
        LabelCase{"IsSuccessWordFailure", R"("is_success": "failure")", false, 0.0},
        LabelCase{"RewardOne", R"("reward": 1)", true, 1.0},
        LabelCase{"RewardZero", R"("reward": 0.0)", false, 0.0},
        LabelCase{"PartialRewardIsAFailure", R"("reward": 0.999)", false, 0.999},
        LabelCase{"ScoreOne", R"("score": 1.0)", true, 1.0},
        LabelCase{"ScoreHalf", R"("score": 0.5)", false, 0.5},
        LabelCase{"AgreeingVerdictAndReward", R"("success": true, "reward": 1)", true, 1.0},
        LabelCase{"AgreeingFailureKeepsTheReward", R"("passed": false, "score": 0.25)", false, 0.25},
        LabelCase{"AgreeingRewardAndScore", R"("reward": 0.5, "score": 0.5, "resolved": "unresolved")", false, 0.5},
        LabelCase{"NullBesideALabel", R"("success": null, "score": 1)", true, 1.0},
        LabelCase{"AgreeingOutcomeObject", R"("outcome": {"success": true}, "resolved": true)", true, 1.0},
        LabelCase{"OutcomeRewardAgreesWithScore", R"("score": 0.25, "outcome": {"success": false, "reward": 0.25})",
                  false, 0.25},
        LabelCase{"OutcomeWithoutRewardTakesTheScore", R"("outcome": {"success": false}, "score": 0.5)", false, 0.5}),
    [](const ::testing::TestParamInfo<LabelCase>& info) { return std::string(info.param.name); });

// Labels that disagree, and label fields of no label shape: the record is rejected, the reason naming
// the fields and their values.
INSTANTIATE_TEST_SUITE_P(
    Labels, OpenAiBadLine,
    ::testing::Values(
        BadLineCase{"SuccessButZeroReward", labelled_line(R"("success": true, "reward": 0)"),
                    R"(conflicting labels: "success": true says success but "reward": 0 says failure)"},
        BadLineCase{"FailureButFullScore", labelled_line(R"("score": 1, "passed": "fail")"),
                    R"(conflicting labels: "score": 1 says success but "passed": "fail" says failure)"},
        BadLineCase{"TwoVerdicts", labelled_line(R"("passed": true, "resolved": false)"),
                    R"("passed": true says success but "resolved": false says failure)"},
        BadLineCase{"TwoRewards", labelled_line(R"("reward": 0.5, "score": 0.7)"),
                    R"(conflicting labels: "reward": 0.5 and "score": 0.7 are different rewards)"},
        BadLineCase{"OutcomeObjectAgainstTopLevel", labelled_line(R"("success": true, "outcome": {"success": false})"),
                    R"("outcome.success": false says failure but "success": true says success)"},
        BadLineCase{"OutcomeRewardAgainstScore", labelled_line(R"("outcome": {"success": false, "reward": 0.5}, "score": 0.25)"),
                    R"("outcome.reward": 0.5 and "score": 0.25 are different rewards)"},
        BadLineCase{"PartialOutcomeSuccessAgainstItsReward", labelled_line(R"("outcome": {"success": true, "reward": 0.75}, "reward": 0.75)"),
                    R"("outcome.success": true says success but "reward": 0.75 says failure (a reward or score means success only at 1))"},
        BadLineCase{"ScoreOutOfRange", labelled_line(R"("score": 7)"), R"(field "score": 7 is outside 0 to 1)"},
        BadLineCase{"NegativeReward", labelled_line(R"("reward": -1)"), R"(field "reward": -1 is outside 0 to 1)"},
        BadLineCase{"RewardAsText", labelled_line(R"("reward": "1")"),
                    R"(field "reward": expected a number from 0 to 1, got string "1")"},
        BadLineCase{"RewardAsBoolean", labelled_line(R"("reward": true)"),
                    R"(field "reward": expected a number from 0 to 1, got boolean true)"},
        BadLineCase{"AnswerInACorrectField", labelled_line(R"("correct": "B")"),
                    R"(field "correct": a label field holds true/false, 0/1 or a verdict word)"},
        BadLineCase{"FractionInAVerdictField", labelled_line(R"("passed": 0.5)"), R"(not number 0.5 (rename the field)"},
        BadLineCase{"ArrayInAVerdictField", labelled_line(R"("success": [true])"), R"(field "success": a label field holds)"}),
    [](const ::testing::TestParamInfo<BadLineCase>& info) { return std::string(info.param.name); });

TEST_F(ReadersTest, OtherFieldsThatLookLikeLabelsStayInMetaAndLeaveTheRecordUnlabelled) {
  // Only the README's names are labels: no guessing at `result`, `label`, `status` or another case.
  const std::string record = labelled_line(
      R"("result": "pass", "label": "positive", "status": "success", "Success": true, "is_reward": 1, "rewards": [1])");
  const auto sink = read(write("near.jsonl", lines({record})), Format::openai_jsonl);
  ASSERT_TRUE(sink.rejected.empty()) << sink.rejected[0].reason;
  ASSERT_EQ(sink.accepted.size(), 1u);
  const Trajectory& t = sink.accepted[0].first;
  EXPECT_FALSE(t.outcome.labelled);
  EXPECT_EQ(t.meta, json({{"result", "pass"}, {"label", "positive"}, {"status", "success"}, {"Success", true},
                          {"is_reward", 1}, {"rewards", {1}}}));
}

TEST_F(ReadersTest, ANullLabelIsNoLabel) {
  const auto sink = read(write("null.jsonl", lines({labelled_line(R"("success": null, "reward": null)")})),
                         Format::openai_jsonl);
  ASSERT_EQ(sink.accepted.size(), 1u);
  EXPECT_FALSE(sink.accepted[0].first.outcome.labelled);
  EXPECT_TRUE(sink.accepted[0].first.meta.is_null() || sink.accepted[0].first.meta.empty());
}

TEST_F(ReadersTest, TopLevelLabelKeepsTheOutcomeDetailAndOtherMeta) {
  const auto sink = read(write("detail.jsonl", lines({labelled_line(
                             R"("outcome": {"success": false, "detail": {"why": "late"}}, "passed": "FAILED", "run": 3)")})),
                         Format::openai_jsonl);
  ASSERT_TRUE(sink.rejected.empty()) << sink.rejected[0].reason;
  const Trajectory& t = sink.accepted.at(0).first;
  EXPECT_TRUE(t.outcome.labelled);
  EXPECT_FALSE(t.outcome.success);
  EXPECT_EQ(t.outcome.detail, json({{"why", "late"}}));
  EXPECT_EQ(t.meta, json({{"run", 3}}));
}

// A top-level label becomes the stored outcome: the canonical record carries it as `outcome` (so an
// export reads back the same), and the id does not change, labels being no part of it.
TEST(RoundTrip, TopLevelLabelIsStoredAsTheOutcomeAndLeavesTheIdAlone) {
  const Trajectory labelled = parse_openai_record(labelled_line(R"("task_id": "t", "score": 0.5)"), "test");
  const Trajectory unlabelled = parse_openai_record(labelled_line(R"("task_id": "t")"), "test");
  const CanonicalRecord record = canonical_record(labelled);
  EXPECT_EQ(record.id, trajectory_id(unlabelled));
  const json stored = json::parse(record.json);
  EXPECT_EQ(stored["outcome"], json({{"success", false}, {"reward", 0.5}}));
  EXPECT_FALSE(stored.contains("score"));
  EXPECT_EQ(stored["meta"], json::object());
  EXPECT_EQ(parse_openai_record(record.json, "store"), labelled);
}

// Ingest parses records into one reused trajectory: a top-level label must not outlive its record.
TEST(ScratchReuse, ATopLevelLabelDoesNotLeakIntoTheNextRecord) {
  auto raw = [](const std::string& text) {
    RawRecord r;
    r.where = {"mem", RecordLocation::Unit::line, 1, 0};
    r.text = text;
    return r;
  };
  Trajectory scratch;
  ASSERT_FALSE(parse_record(Format::openai_jsonl, raw(labelled_line(R"("reward": 0.5, "score": 0.5)")), {}, scratch));
  EXPECT_TRUE(scratch.outcome.labelled);
  ASSERT_TRUE(parse_record(Format::openai_jsonl, raw(labelled_line(R"("success": true, "score": 0)")), {}, scratch));
  ASSERT_FALSE(parse_record(Format::openai_jsonl, raw(labelled_line(R"("task_id": 1)")), {}, scratch));
  EXPECT_FALSE(scratch.outcome.labelled);
  EXPECT_EQ(scratch.outcome.reward, 0.0);
}

}  // namespace
