// Tests of consolidate/merge's LlmMerger, over real HTTP against the scripted server
// (tests/llm_server): the answers below are test fixtures, not a model's output. Supports are
// computed by the program from `sources`; everything the "model" gets wrong is reported, and an
// unusable call or answer falls back to the deterministic merge.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "t2s/consolidate/merge.hpp"
#include "testutil/scripted_server.hpp"

using nlohmann::json;
using namespace t2s::test;
using namespace t2s::consolidate;
using t2s::skill::Patch;

namespace {

t2s::llm::ClientOptions fast_options() {
  t2s::llm::ClientOptions o;
  o.retry.base_delay_s = 0.01;
  o.retry.max_delay_s = 0.05;
  o.retry.max_attempts = 3;
  o.timeouts.total_s = 10;
  o.timeouts.stall_s = 10;
  return o;
}

t2s::llm::Client client_for(const ScriptedServer& server) {
  return t2s::llm::Client(
      t2s::llm::Endpoint::resolve(server.base_url(), "scripted-model", t2s::llm::ApiKey::of("")), fast_options());
}

const std::string kFonts = "- Never change column widths or fonts unless the task asks.";

std::vector<Patch> children() {
  return {make_patch({append("## Formulas", "- Recalculate after writing formulas.", {"t1"}),
                      append("## Formatting", "- Keep fonts.", {"t2"})},
                     40),
          make_patch({append("## Formulas", "- Recalculate formulas after writing them.", {"t3", "t4"})}, 60),
          make_patch({replace(kFonts, "- Keep column widths.", {"t5"})}, 20)};
}

json answer_edit(const std::string& op, const std::string& section, const std::string& content, json sources) {
  json e = {{"file", "SKILL.md"}, {"op", op},          {"target_section", section}, {"target_text", nullptr},
            {"old_text", nullptr}, {"after_section", nullptr}, {"content", content}, {"sources", std::move(sources)}};
  return e;
}

json replace_edit(const std::string& old_text, const std::string& content, json sources) {
  json e = answer_edit("replace_in_section", "", content, std::move(sources));
  e["target_section"] = nullptr;
  e["old_text"] = old_text;
  return e;
}

// Runs one merge through the client and returns its outcome.
MergeOutcome merge_once(t2s::llm::Client& client, LlmMerger& merger, std::vector<Patch> inputs) {
  std::optional<MergeOutcome> outcome;
  merger.submit(std::move(inputs), [&](MergeOutcome&& o) { outcome = std::move(o); });
  client.run();
  EXPECT_TRUE(outcome.has_value());
  return outcome ? std::move(*outcome) : MergeOutcome{};
}

bool has_note(const MergeReport& report, const std::string& text) {
  return std::any_of(report.notes.begin(), report.notes.end(),
                     [&](const std::string& note) { return note.find(text) != std::string::npos; });
}

}  // namespace

TEST(LlmMerge, SupportsAreUnionsOfTheSourcesWhateverTheModelWrites) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  json first = answer_edit("append_to_section", "## Formulas", "- Recalculate after writing formulas; read values back.",
                           {"p1.e1", "p2.e1"});
  first["support"] = {"fake-1", "fake-2", "fake-3", "fake-4", "fake-5"};
  json second = replace_edit(kFonts, "- Keep column widths.", {"p3.e1"});
  second["support"] = {"made-up"};
  const json answer = {{"reasoning", "Merged the two recalculation lessons."},
                       {"edits", {first, second}},
                       {"changelog", {"Recalculate after writing formulas."}}};
  ScriptedServer server(json{{"rules", {{{"json", answer}}}}});
  auto client = client_for(server);
  LlmMerger merger(client, spreadsheet_skill(), {});
  const auto outcome = merge_once(client, merger, children());
  ASSERT_FALSE(outcome.fallback) << outcome.fallback_reason;
  ASSERT_EQ(outcome.patch.edits.size(), 2u) << ::testing::PrintToString(outcome.report.notes);
  EXPECT_EQ(outcome.patch.edits[0].support, (Ids{"t1", "t3", "t4"}));
  EXPECT_EQ(outcome.patch.edits[1].support, (Ids{"t5"}));
  EXPECT_EQ(outcome.patch.edits[0].content, "- Recalculate after writing formulas; read values back.");
  EXPECT_EQ(outcome.patch.reasoning, "Merged the two recalculation lessons.");
  EXPECT_EQ(outcome.patch.changelog, (std::vector<std::string>{"Recalculate after writing formulas."}));
  EXPECT_EQ(outcome.patch.origin.population, 60u);
  EXPECT_EQ(outcome.patch.origin.model, "scripted-model");
  EXPECT_EQ(outcome.patch.origin.prompt_hash, merger.prompt_hash());
  EXPECT_EQ(merger.prompt_hash().size(), 64u);
  EXPECT_TRUE(has_note(outcome.report, "input edits no output edit names: p1.e2")) << ::testing::PrintToString(outcome.report.notes);
  EXPECT_GT(outcome.usage.total_tokens, 0);
  EXPECT_EQ(outcome.request_key.size(), 64u);
  EXPECT_TRUE(applies(outcome.patch));
  EXPECT_EQ(client.totals().at("merge").succeeded, 1);

  // The prompt: instructions, the frozen skill, and every child edit with its id and support count.
  const json sent = server.requests().at(0)["body"];
  EXPECT_EQ(sent["response_format"]["type"], "json_schema");
  EXPECT_EQ(sent["temperature"], 0.0);
  const std::string system = sent["messages"][0]["content"];
  const std::string user = sent["messages"][1]["content"];
  EXPECT_NE(system.find("\"sources\""), std::string::npos);
  EXPECT_NE(user.find("## Formulas"), std::string::npos);
  EXPECT_NE(user.find("references/formulas.md"), std::string::npos);
  for (const char* id : {"\"p1.e1\"", "\"p1.e2\"", "\"p2.e1\"", "\"p3.e1\""})
    EXPECT_NE(user.find(std::string("{\"id\":") + id), std::string::npos) << id;
  EXPECT_NE(user.find("{\"id\":\"p2.e1\",\"support_count\":2,"), std::string::npos) << user;
  EXPECT_EQ(user.find("\"t3\""), std::string::npos) << "trajectory ids stay out of the prompt";
}

TEST(LlmMerge, EditsWithoutAValidSourceAreDroppedAndUnknownIdsReported) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  const json answer = {
      {"edits",
       {answer_edit("append_to_section", "## Formulas", "- No source at all.", json::array()),
        answer_edit("append_to_section", "## Formulas", "- Recalculate after writing formulas.", {"p9.e1", "p1.e1", "p2.e1"}),
        answer_edit("append_to_section", "## Formatting", "- Only unknown sources.", {"p1.e7", "q1"})}}};
  ScriptedServer server(json{{"rules", {{{"json", answer}}}}});
  auto client = client_for(server);
  LlmMerger merger(client, spreadsheet_skill(), {});
  const auto outcome = merge_once(client, merger, children());
  ASSERT_FALSE(outcome.fallback) << outcome.fallback_reason;
  ASSERT_EQ(outcome.patch.edits.size(), 1u);
  EXPECT_EQ(outcome.patch.edits[0].support, (Ids{"t1", "t3", "t4"}));
  const auto& report = outcome.report;
  EXPECT_TRUE(has_note(report, "edits[0] dropped: it names no input edit as its source"))
      << ::testing::PrintToString(report.notes);
  EXPECT_TRUE(has_note(report, "edits[1] names unknown sources: p9.e1"));
  EXPECT_TRUE(has_note(report, "edits[2] names unknown sources: p1.e7, q1"));
  EXPECT_TRUE(has_note(report, "edits[2] dropped"));
  EXPECT_TRUE(has_note(report, "input edits no output edit names: p1.e2, p3.e1"));
}

TEST(LlmMerge, InvalidJsonGetsARepairRoundThenFallsBack) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"respond": {"content": "Here is the merged patch: {edits: [oops"}}]})");
  auto client = client_for(server);
  LlmMerger merger(client, spreadsheet_skill(), {});
  const auto outcome = merge_once(client, merger, children());
  EXPECT_TRUE(outcome.fallback);
  EXPECT_NE(outcome.fallback_reason.find("the LLM call failed"), std::string::npos) << outcome.fallback_reason;
  EXPECT_NE(outcome.fallback_reason.find("repair round"), std::string::npos) << outcome.fallback_reason;
  EXPECT_EQ(server.stats()["requests"], 2);  // the question and one repair round
  const std::string repair = server.requests().at(1)["body"]["messages"].back()["content"];
  EXPECT_NE(repair.find("not JSON"), std::string::npos) << repair;
  // The fallback is exactly the deterministic merge, on the frozen skill.
  MergeOptions options;
  options.skill = &spreadsheet_skill();
  const auto expected = merge_deterministic(children(), options);
  EXPECT_EQ(t2s::skill::patch_json(outcome.patch), t2s::skill::patch_json(expected));
  EXPECT_TRUE(outcome.patch.origin.prompt_hash.empty());
  EXPECT_TRUE(has_note(outcome.report, "fell back to the deterministic merge"));
  EXPECT_TRUE(applies(outcome.patch));
}

TEST(LlmMerge, ServerErrorsFallBackAfterTheRetries) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"fault": {"kind": "status", "status": 503}}]})");
  auto client = client_for(server);
  LlmMerger merger(client, spreadsheet_skill(), {});
  const auto outcome = merge_once(client, merger, children());
  EXPECT_TRUE(outcome.fallback);
  EXPECT_NE(outcome.fallback_reason.find("gave up after 3 attempts"), std::string::npos) << outcome.fallback_reason;
  EXPECT_NE(outcome.fallback_reason.find("HTTP 503"), std::string::npos) << outcome.fallback_reason;
  EXPECT_EQ(server.stats()["requests"], 3);
  EXPECT_EQ(outcome.patch.edits.size(), 4u);  // the deterministic merge: no two inputs are near-equal
  EXPECT_TRUE(applies(outcome.patch));
}

TEST(LlmMerge, TooManyEditsBreakTheSchemaAndFallBack) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  json edits = json::array();
  for (int i = 0; i < 9; ++i)
    edits.push_back(answer_edit("append_to_section", "## Formulas", "- Lesson " + std::to_string(i), {"p1.e1"}));
  ScriptedServer server(json{{"rules", {{{"json", {{"edits", edits}}}}}}});
  auto client = client_for(server);
  LlmMerger merger(client, spreadsheet_skill(), {});
  const auto outcome = merge_once(client, merger, children());
  EXPECT_TRUE(outcome.fallback);
  EXPECT_NE(outcome.fallback_reason.find("/edits"), std::string::npos) << outcome.fallback_reason;
}

TEST(LlmMerge, ConflictsAndAnchorsTheModelGotWrongAreResolvedByTheProgram) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  const json answer = {
      {"edits",
       {replace_edit(kFonts, "- Keep column widths.", {"p3.e1"}),
        replace_edit(kFonts, "- Keep fonts and widths.", {"p1.e2", "p3.e1"}),
        replace_edit("- This line is not in the skill.", "- Whatever.", {"p2.e1"}),
        answer_edit("append_to_section", "## Formulas", "- Recalculate after writing formulas.", {"p1.e1"})}}};
  ScriptedServer server(json{{"rules", {{{"json", answer}}}}});
  auto client = client_for(server);
  LlmMerger merger(client, spreadsheet_skill(), {});
  const auto outcome = merge_once(client, merger, children());
  ASSERT_FALSE(outcome.fallback) << outcome.fallback_reason;
  ASSERT_EQ(outcome.patch.edits.size(), 2u) << ::testing::PrintToString(outcome.report.notes);
  EXPECT_EQ(outcome.patch.edits[0].content, "- Keep fonts and widths.");  // support 2 beats 1
  EXPECT_EQ(outcome.patch.edits[0].support, (Ids{"t2", "t5"}));
  EXPECT_EQ(outcome.report.conflicts, 1u);
  EXPECT_EQ(outcome.report.refused, 1u);
  EXPECT_TRUE(has_note(outcome.report, "not found")) << ::testing::PrintToString(outcome.report.notes);
  EXPECT_TRUE(applies(outcome.patch));
}

TEST(LlmMerge, TheModelsOwnDuplicatesBecomeOneEdit) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"respond": {"content": "unused"}}]})");
  auto client = client_for(server);
  LlmMerger merger(client, spreadsheet_skill(), {});
  const json answer = {
      {"edits",
       {answer_edit("append_to_section", "## Formulas", "- Recalculate after writing formulas.", {"p1.e1"}),
        answer_edit("append_to_section", "## Formulas", "* recalculate after writing formulas", {"p2.e1"})}}};
  const auto outcome = merger.read_answer(children(), answer);
  ASSERT_FALSE(outcome.fallback) << outcome.fallback_reason;
  ASSERT_EQ(outcome.patch.edits.size(), 1u);
  EXPECT_EQ(outcome.patch.edits[0].support, (Ids{"t1", "t3", "t4"}));
  EXPECT_EQ(outcome.patch.edits[0].content, "* recalculate after writing formulas");  // the larger support
  EXPECT_EQ(outcome.report.grouped, 1u);
}

TEST(LlmMerge, ChildrenWithoutEditsNeedNoCall) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"respond": {"content": "unused"}}]})");
  auto client = client_for(server);
  LlmMerger merger(client, spreadsheet_skill(), {});
  bool called = false;
  merger.submit({make_patch({}, 10), make_patch({}, 30)}, [&](MergeOutcome&& o) {
    called = true;
    EXPECT_TRUE(o.patch.edits.empty());
    EXPECT_FALSE(o.fallback);
    EXPECT_EQ(o.patch.origin.population, 30u);
  });
  EXPECT_TRUE(called);  // at once, before run()
  client.run();
  EXPECT_EQ(server.stats()["requests"], 0);
}

// Untrusted answers, read without the network: each is reported or falls back, never throws.
TEST(LlmMerge, AnyAnswerIsReadWithAReasonAndNeverCrashes) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"respond": {"content": "unused"}}]})");
  auto client = client_for(server);
  LlmMerger merger(client, spreadsheet_skill(), {});
  const auto inputs = children();
  const auto good = answer_edit("append_to_section", "## Formulas", "- Recalculate.", {"p1.e1"});
  const auto with = [&](const std::string& key, const json& value) {
    json e = good;
    e[key] = value;
    return json{{"edits", {e, good}}};
  };
  struct Case {
    json answer;
    bool fallback;
    std::string words;  // in the fallback reason or a note
  };
  const std::vector<Case> cases = {
      {json::array({1, 2}), true, "not a JSON object"},
      {json{{"edits", "none"}}, true, "no \"edits\" list"},
      {json{{"edits", json::array({good, good, good, good, good})}}, true, "more than the 4 input edits"},
      {json{{"edits", {42, good}}}, false, "edits[0] dropped: not an object"},
      {with("op", "explode"), false, "unknown op \"explode\""},
      {with("op", 7), false, "edits[0].op"},
      {with("file", "../outside.md"), false, "edits[0] dropped: file \"../outside.md\""},
      {with("file", "/etc/passwd"), false, "edits[0] dropped: file \"/etc/passwd\""},
      {with("file", "scripts/recalc.py"), false, "edits[0] dropped: file \"scripts/recalc.py\""},
      {with("file", nullptr), false, "edits[0] dropped"},
      {with("content", std::string(70000, 'x')), false, "longer than 65536 bytes"},
      {with("content", std::string("- a\x01 control")), false, "control character"},
      {with("sources", "p1.e1"), false, "edits[0] dropped: it names no input edit"},
      {with("sources", {nullptr, json::object(), "p0.e1", "p1.e0", "p1.e1x", "p99999999999.e1"}), false,
       "edits[0] dropped: it names no input edit"},
      {json{{"edits", {good}}, {"reasoning", 5}, {"changelog", {1, "ok"}}}, false, ""},
      {json{{"edits", json::array({replace_edit("- Not in the skill.", "- x", {"p1.e1"})})}}, true,
       "no edit of the answer applies"},
      {json{{"edits", json::array()}}, true, "no usable edit"},
  };
  for (const auto& c : cases) {
    MergeOutcome outcome;
    ASSERT_NO_THROW(outcome = merger.read_answer(inputs, c.answer)) << c.answer.dump();
    EXPECT_EQ(outcome.fallback, c.fallback) << c.answer.dump().substr(0, 200) << ": " << outcome.fallback_reason;
    const bool mentioned = outcome.fallback_reason.find(c.words) != std::string::npos || has_note(outcome.report, c.words);
    EXPECT_TRUE(mentioned) << c.words << " in " << outcome.fallback_reason << " / "
                           << ::testing::PrintToString(outcome.report.notes);
    EXPECT_TRUE(applies(outcome.patch)) << c.answer.dump().substr(0, 200);
  }
}
