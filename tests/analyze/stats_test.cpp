// The stats analyst on synthetic corpora with planted truth: recovery, shard independence, and the
// feature extraction it rests on.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "t2s/analyze/stats.hpp"
#include "t2s/core/error.hpp"
#include "t2s/synth/synth.hpp"

namespace t2s::analyze {
namespace {

struct Corpus {
  std::vector<trace::Trajectory> trajectories;
  std::vector<std::string> ids;
  std::vector<std::vector<std::string>> planted;
  nlohmann::json truth;
};

Corpus make_corpus(std::uint64_t n, std::uint64_t seed) {
  Corpus c;
  synth::Options options;
  options.trajectories = n;
  options.seed = seed;
  c.truth = synth::generate(options, [&](const trace::Trajectory& t, const std::vector<std::string>& planted) {
    c.trajectories.push_back(t);
    c.ids.push_back(trace::trajectory_id(t));
    c.planted.push_back(planted);
  });
  return c;
}

// Runs the three steps with the corpus cut into `shards` contiguous pieces; returns the lessons and
// the support of each (ids).
std::pair<std::vector<Lesson>, std::vector<std::set<std::string>>> mine(const Corpus& c, std::size_t shards,
                                                                        const StatsOptions& options = {}) {
  std::vector<Features> features;
  for (const auto& t : c.trajectories) features.push_back(extract_features(t));
  const auto cut = [&](std::size_t s) { return c.trajectories.size() * s / shards; };
  FeatureCounts total;
  for (std::size_t s = 0; s < shards; ++s) {
    FeatureCounts part;
    for (std::size_t i = cut(s); i < cut(s + 1); ++i) part.add(features[i], label_of(c.trajectories[i]));
    total.merge(FeatureCounts::from_json(part.to_json()));  // through JSON, as between ranks
  }
  const Candidates cand = Candidates::from_json(candidates(total, options).to_json());
  Evidence evidence;
  for (std::size_t s = 0; s < shards; ++s) {
    Evidence part;
    for (std::size_t i = cut(s); i < cut(s + 1); ++i) part.add(features[i], label_of(c.trajectories[i]), cand);
    evidence.merge(Evidence::from_json(part.to_json()));
  }
  auto found = lessons(total, cand, evidence, options);
  LessonMatcher matcher(found);
  std::vector<std::set<std::string>> supports(found.size());
  for (std::size_t i = 0; i < c.trajectories.size(); ++i)
    for (auto l : matcher.match(features[i], label_of(c.trajectories[i]))) supports[l].insert(c.ids[i]);
  return {found, supports};
}

TEST(SymptomTemplate, ValuesBecomePlaceholders) {
  EXPECT_EQ(symptom_template("cell G45 expected 4035.2, got None (149 of 149 formula cells have no value)"),
            "cell <cell> expected <num>, got None (<num> of <num> formula cells have no value)");
  EXPECT_EQ(symptom_template("cell 'Orders'!G12 expected 1,543.20 got None"), "cell <cell> expected <num> got None");
  EXPECT_EQ(symptom_template("KeyError: 'Unit Price'"), "KeyError: <str>");
  EXPECT_EQ(symptom_template("number format of F2:F220 lost (expected '0.00', got 'General')"),
            "number format of <cell> lost (expected <str>, got <str>)");
  EXPECT_EQ(symptom_template("FileNotFoundError: [Errno 2] No such file: /work/in/a.xlsx"),
            "FileNotFoundError: [Errno <num>] No such file: <path>");
  EXPECT_EQ(symptom_template("don't   stop\n-3 at 4f3a9c0b12"), "don't stop <num> at <hex>");
  EXPECT_EQ(symptom_template("expected output outputs/inventory_0041.xlsx not found"), "expected output <path> not found");
  EXPECT_EQ(symptom_template("wrote report_2.csv; wb.active is fine"), "wrote <path>; wb.active is fine");
  EXPECT_EQ(template_words("cell <cell> expected <num>, got None"),
            (std::vector<std::string>{"cell", "<cell>", "expected", "<num>", "got", "None"}));
}

TEST(Features, ActionsAndSymptomsOfATrajectory) {
  trace::Trajectory t;
  t.outcome = {true, false, 0.0, nlohmann::json{{"message", "sheet 'Notes' missing"}}};
  trace::Message call;
  call.role = "assistant";
  call.tool_calls.push_back({"c1", "python",
                             R"J({"code":"import pandas as pd\n# read it\ndf = pd.read_excel(\"in.xlsx\", sheet_name=\"Orders\")\ndf.to_excel(\"out.xlsx\", index=False)\nfor r in sorted(rows, reverse=True):\n    ws.delete_rows(r)"})J"});
  trace::Message bash;
  bash.role = "assistant";
  bash.tool_calls.push_back({"c2", "bash", R"({"command":"soffice --headless --convert-to xlsx out_1.xlsx && ls inputs/ && cat data_2026.csv"})"});
  trace::Message tool;
  tool.role = "tool";
  tool.content = "Traceback (most recent call last):\n  File \"<stdin>\", line 2\nKeyError: 'Unit Price'\n";
  t.messages = {call, tool, bash};
  const Features f = extract_features(t);
  EXPECT_EQ(f.symptoms, (std::vector<std::string>{"check: sheet <str> missing", "error: KeyError: <str>"}));
  const std::set<std::string> actions(f.actions.begin(), f.actions.end());
  for (const char* expected : {"tool:python", "tool:bash", "act:pd.read_excel", "act:.read_excel", "act:df.to_excel",
                               "act:index=False", "act:reverse=True", "act:ws.delete_rows", "act:soffice",
                               "act:--headless", "act:--convert-to", "act:sorted"})
    EXPECT_TRUE(actions.count(expected)) << expected;
  for (const char* absent : {"act:read", "act:it", "act:in.xlsx", "act:Orders", "act:import", "act:for", "act:out_1.xlsx",
                             "act:inputs", "act:data_2026.csv"})
    EXPECT_FALSE(actions.count(absent)) << absent;
}

TEST(Features, HostileInputIsReadInBoundedTimeAndNeverCrashes) {
  trace::Trajectory t;
  t.outcome = {true, false, 0.0, nlohmann::json{{"message", std::string("bad \x1b[31mred\x07 \0x", 17)}}};
  trace::Message call;
  call.role = "assistant";
  call.tool_calls.push_back({"c1", "python", std::string(100000, '[')});  // nesting that would overflow a recursive parser
  std::string quotes;
  for (int i = 0; i < 100000; ++i) quotes += "'a' ";  // quadratic if every quote rescanned the line
  call.tool_calls.push_back({"c2", "python", nlohmann::json{{"code", quotes}}.dump()});
  t.messages = {call};
  const Features f = extract_features(t);
  ASSERT_EQ(f.symptoms.size(), 1u);
  for (char c : f.symptoms[0]) EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f) << f.symptoms[0];
  EXPECT_TRUE(std::binary_search(f.actions.begin(), f.actions.end(), std::string("tool:python")));
}

TEST(Stats, AHabitOfToolsAloneNamesTheToolAndLessonsAreDistinct) {
  // passing runs call a `verify` tool, failing ones never do; nothing else tells them apart
  FeatureCounts total;
  Evidence evidence;
  std::vector<std::pair<Features, Label>> runs;
  for (int i = 0; i < 20; ++i) runs.push_back({Features{{}, {"tool:bash", "tool:verify"}}, Label::success});
  for (int i = 0; i < 20; ++i) runs.push_back({Features{{}, {"tool:bash"}}, Label::failure});
  for (const auto& [f, l] : runs) total.add(f, l);
  const Candidates cand = candidates(total, {});
  for (const auto& [f, l] : runs) evidence.add(f, l, cand);
  const auto found = lessons(total, cand, evidence, {});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].text.find("`verify` tool"), std::string::npos) << found[0].text;
}

// Every planted pattern is found as one lesson whose support is (nearly) the planted set, and
// every lesson with a planted-size support is a planted pattern.
TEST(Stats, RecoversThePlantedPatterns) {
  const Corpus c = make_corpus(2000, 11);
  const auto [found, supports] = mine(c, 1);
  std::map<std::string, std::set<std::string>> planted;
  for (std::size_t i = 0; i < c.ids.size(); ++i)
    for (const auto& p : c.planted[i]) planted[p].insert(c.ids[i]);
  ASSERT_EQ(planted.size(), 8u);
  std::size_t matched_lessons = 0;
  std::set<std::string> recovered;
  for (std::size_t l = 0; l < found.size(); ++l) {
    std::string best;
    double best_j = 0;
    for (const auto& [p, ids] : planted) {
      std::size_t both = 0;
      for (const auto& id : supports[l]) both += ids.count(id);
      const double j = static_cast<double>(both) / static_cast<double>(ids.size() + supports[l].size() - both);
      if (j > best_j) best_j = j, best = p;
    }
    if (best_j >= 0.9) {
      ++matched_lessons;
      recovered.insert(best);
      const double planted_n = static_cast<double>(planted[best].size());
      EXPECT_NEAR(static_cast<double>(supports[l].size()), planted_n, 0.05 * planted_n) << best << ": " << found[l].text;
    } else if (supports[l].size() >= 0.03 * static_cast<double>(c.ids.size())) {
      ADD_FAILURE() << "a frequent lesson that is no planted pattern (best " << best << " J=" << best_j
                    << ", support " << supports[l].size() << "): " << found[l].text;
    }
  }
  EXPECT_EQ(recovered.size(), planted.size());
  for (const auto& [p, ids] : planted) EXPECT_TRUE(recovered.count(p)) << "not recovered: " << p;
}

TEST(Stats, SameLessonsAndSupportsWhateverTheSharding) {
  const Corpus c = make_corpus(600, 5);
  const auto one = mine(c, 1);
  for (std::size_t shards : {2u, 3u, 7u}) {
    const auto many = mine(c, shards);
    ASSERT_EQ(lessons_json(many.first), lessons_json(one.first)) << shards;
    EXPECT_EQ(many.second, one.second) << shards;
  }
}

TEST(Stats, OptionsAreChecked) {
  EXPECT_THROW(StatsOptions::from_json({{"min_supprt", 3}}, "job.toml [analyze.stats]"), InputError);
  EXPECT_THROW(StatsOptions::from_json({{"habit_precision", 2}}, "x"), InputError);
  EXPECT_THROW(StatsOptions::from_json({{"failure_section", "Pitfalls"}}, "x"), InputError);
  EXPECT_EQ(StatsOptions::from_json({{"min_support", 7}}, "x").min_support, 7u);
}

}  // namespace
}  // namespace t2s::analyze
