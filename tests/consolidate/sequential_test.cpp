// Tests of consolidate/sequential: the "online skill editing" baseline, as a deterministic fold and
// as a chain of LLM merges (over real HTTP against the scripted server), strictly one at a time.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "t2s/consolidate/sequential.hpp"
#include "testutil/scripted_server.hpp"

using nlohmann::json;
using namespace t2s::test;
using namespace t2s::consolidate;
using t2s::skill::Patch;

namespace {

std::vector<Patch> four_patches() {
  return {make_patch({append("## Formulas", "- Recalculate after writing formulas.", {"t1"}),
                      append("## Charts", "- Rebuild charts after saving.", {"t1"})},
                     4),
          make_patch({append("## Formulas", "recalculate after writing formulas", {"t2", "t3"})}, 4),
          make_patch({replace("- Never change column widths or fonts unless the task asks.", "- Keep widths.", {"t3"})}, 4),
          make_patch({replace("- Never change column widths or fonts unless the task asks.", "- Keep fonts.", {"t4", "t5"}),
                      append("## Charts", "- rebuild charts after saving", {"t4"})},
                     4)};
}

}  // namespace

TEST(Sequential, TheDeterministicFoldMergesTwoAtATime) {
  const auto patches = four_patches();
  MergeOptions options;
  options.skill = &spreadsheet_skill();
  MergeReport report;
  const Patch folded = merge_sequential(patches, options, &report);
  // By hand: ((p0 + p1) + p2) + p3.
  Patch expected = merge_deterministic(std::span<const Patch>(patches).subspan(0, 1), options);
  for (std::size_t i = 1; i < patches.size(); ++i)
    expected = merge_deterministic(std::vector<Patch>{expected, patches[i]}, options);
  EXPECT_EQ(t2s::skill::patch_json(folded), t2s::skill::patch_json(expected));
  ASSERT_EQ(folded.edits.size(), 3u);
  EXPECT_EQ(folded.edits[0].support, (Ids{"t1", "t2", "t3"}));
  EXPECT_EQ(folded.edits[0].content, "recalculate after writing formulas");  // support 2 beat 1
  EXPECT_EQ(folded.edits[1].support, (Ids{"t1", "t4"}));
  EXPECT_EQ(folded.edits[2].content, "- Keep fonts.");  // the later replacement has more support
  EXPECT_EQ(report.conflicts, 1u);
  EXPECT_EQ(report.edits_in, 6u);
  EXPECT_EQ(report.edits_out, 3u);
  // Here the fold agrees with one flat merge on every support set.
  EXPECT_EQ(supports(folded), supports(merge_deterministic(patches, options)));
  EXPECT_TRUE(applies(folded));
  EXPECT_TRUE(merge_sequential({}).edits.empty());
}

TEST(Sequential, TheLlmChainMakesNMinusOneCallsStrictlyOneAtATime) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  // Every step merges the accumulated patch (p1) with the next one (p2): one edit from both.
  const json answer = {{"edits",
                        {{{"file", "SKILL.md"},
                          {"op", "append_to_section"},
                          {"target_section", "## Formulas"},
                          {"content", "- Recalculate after writing formulas."},
                          {"sources", {"p1.e1", "p2.e1"}}}}}};
  ScriptedServerOptions server_options;
  server_options.latency_ms = 150;
  ScriptedServer server(json{{"rules", {{{"json", answer}}}}}, server_options);
  t2s::llm::ClientOptions client_options;
  client_options.max_in_flight = 8;  // the chain, not the client, keeps it to one at a time
  t2s::llm::Client client(t2s::llm::Endpoint::resolve(server.base_url(), "scripted-model", t2s::llm::ApiKey::of("")),
                          client_options);
  LlmMerger merger(client, spreadsheet_skill(), {});
  std::vector<Patch> patches;
  for (int i = 0; i < 5; ++i)
    patches.push_back(make_patch({append("## Formulas", "- Lesson " + std::to_string(i) + ".", {"t" + std::to_string(i)})}, 5));
  std::optional<ChainOutcome> outcome;
  merge_sequential_llm(merger, patches, [&](ChainOutcome&& o) { outcome = std::move(o); });
  client.run();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->calls, 4u);
  EXPECT_EQ(outcome->fallbacks, 0u) << ::testing::PrintToString(outcome->notes);
  ASSERT_EQ(outcome->patch.edits.size(), 1u);
  EXPECT_EQ(outcome->patch.edits[0].support, (Ids{"t0", "t1", "t2", "t3", "t4"}));
  EXPECT_EQ(outcome->request_keys.size(), 4u);
  EXPECT_GT(outcome->usage.total_tokens, 0);

  const json stats = server.stats();
  EXPECT_EQ(stats["requests"], 4);
  EXPECT_EQ(stats["max_in_flight_observed"], 1);
  // Each step carries what the one before produced: its accumulated edit backs 1, 2, 3, 4 trajectories.
  const json sent = server.requests();
  ASSERT_EQ(sent.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    const std::string user = sent[i]["body"]["messages"][1]["content"];
    EXPECT_NE(user.find("{\"id\":\"p1.e1\",\"support_count\":" + std::to_string(i + 1) + ","), std::string::npos)
        << "step " << i + 1;
    if (i > 0) EXPECT_GE(sent[i]["t"].get<double>() - sent[i - 1]["t"].get<double>(), 0.14);
  }
}

TEST(Sequential, AChainOfFewerThanTwoPatchesNeedsNoCall) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(R"({"rules": [{"respond": {"content": "unused"}}]})");
  t2s::llm::Client client(t2s::llm::Endpoint::resolve(server.base_url(), "scripted-model", t2s::llm::ApiKey::of("")), {});
  LlmMerger merger(client, spreadsheet_skill(), {});
  std::size_t calls = 99;
  merge_sequential_llm(merger, {make_patch({append("## Formulas", "- x", {"a"})})}, [&](ChainOutcome&& o) {
    calls = o.calls;
    EXPECT_EQ(o.patch.edits.size(), 1u);
  });
  EXPECT_EQ(calls, 0u);
  merge_sequential_llm(merger, {}, [&](ChainOutcome&& o) { EXPECT_TRUE(o.patch.edits.empty()); });
  client.run();
  EXPECT_EQ(server.stats()["requests"], 0);
}
