// The stats analyst: feature extraction (procedure, never entity values), lessons on hand-built
// corpora whose right answer is known (a confounded feature, a conditional habit, a literal that must
// survive), shard independence, and the planted patterns of a synthetic corpus.
#include <gtest/gtest.h>

#include <map>
#include <memory>
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


struct Mined {
  std::vector<Lesson> lessons;
  std::vector<std::set<std::string>> supports;  // ids
  nlohmann::json report;
};

// Mines trajectories cut into `shards` contiguous pieces, through JSON between the pieces as between
// ranks, with the recount every rank would do.
Mined mine(const std::vector<trace::Trajectory>& trajectories, std::size_t shards, const StatsOptions& options = {}) {
  std::vector<std::string> task_ids;
  std::vector<std::int8_t> labels;
  for (const auto& t : trajectories) {
    task_ids.push_back(t.task_id);
    labels.push_back(t.outcome.labelled ? (t.outcome.success ? 1 : 0) : -1);
  }
  const TaskPlan plan(task_ids, labels, options.folds, options.single_runs, options.min_mixed_tasks);
  const auto cut = [&](std::size_t s) { return trajectories.size() * s / shards; };
  std::vector<std::unique_ptr<ShardMiner>> miners;
  for (std::size_t s = 0; s < shards; ++s) {
    miners.push_back(std::make_unique<ShardMiner>(plan, cut(s), cut(s + 1)));
    for (std::size_t i = cut(s); i < cut(s + 1); ++i) miners.back()->add(i, extract_features(trajectories[i]));
  }
  const auto total_of = [&](const std::vector<Subset>& subsets) {
    CountsBatch total;
    for (const auto& m : miners) total.merge(CountsBatch::from_json(CountsBatch{m->counts(subsets)}.to_json()));
    for (auto& counts : total.counts) counts.settle(plan);
    return std::move(total.counts);
  };
  const auto decision = decide(std::move(total_of({Subset{}}).front()), plan, options, total_of);
  Mined out{decision.lessons, std::vector<std::set<std::string>>(decision.lessons.size()), decision.report};
  for (std::size_t s = 0; s < shards; ++s) {
    const LessonMatcher matcher(decision.lessons, *miners[s]);
    for (std::size_t i = cut(s); i < cut(s + 1); ++i)
      for (auto l : matcher.match(i)) out.supports[l].insert(trace::trajectory_id(trajectories[i]));
  }
  return out;
}

trace::Message user(const std::string& text) {
  trace::Message m;
  m.role = "user";
  m.content = text;
  return m;
}

trace::Message calls(std::vector<std::pair<std::string, nlohmann::json>> tools) {
  trace::Message m;
  m.role = "assistant";
  int n = 0;
  for (auto& [name, arguments] : tools) m.tool_calls.push_back({"c" + std::to_string(n++), name, arguments.dump()});
  return m;
}

trace::Message tool_output(const std::string& text) {
  trace::Message m;
  m.role = "tool";
  m.content = text;
  return m;
}

trace::Trajectory run(const std::string& task, int attempt, bool success, std::vector<trace::Message> messages,
                      nlohmann::json detail = nullptr) {
  trace::Trajectory t;
  t.source = "test";
  t.task_id = task;
  t.attempt = attempt;
  t.outcome = {true, success, success ? 1.0 : 0.0, std::move(detail)};
  t.task.instruction = "Task " + task + ": do the work.";
  t.messages = {user("Please help with " + task + ".")};
  t.messages.insert(t.messages.end(), messages.begin(), messages.end());
  return t;
}

bool has_lesson(const Mined& m, const std::string& key) {
  return std::any_of(m.lessons.begin(), m.lessons.end(), [&](const Lesson& l) { return l.key() == key; });
}

TEST(SymptomTemplate, ValuesBecomePlaceholdersWhatAnAgentNeedsStays) {
  EXPECT_EQ(symptom_template("cell G45 expected 4035.2, got None (149 of 149 formula cells have no value)"),
            "cell <cell> expected <num>, got None (<num> of <num> formula cells have no value)");
  EXPECT_EQ(symptom_template("KeyError: 'price'"), "KeyError: 'price'");
  EXPECT_EQ(symptom_template("KeyError: 'price'", false), "KeyError: <str>");
  EXPECT_EQ(symptom_template("KeyError: 'Unit Price'"), "KeyError: <str>");  // a value, not a key
  EXPECT_EQ(symptom_template("reservation 'PEP4E0' not found"), "reservation <str> not found");
  EXPECT_EQ(symptom_template("value X-12345 does not match ^X-[0-9]{6}$"), "value X-<num> does not match ^X-[0-9]{6}$");
  EXPECT_EQ(symptom_template("expected output outputs/inventory_0041.xlsx not found"), "expected output <path> not found");
  EXPECT_EQ(symptom_template("wrote report_2.csv; wb.active is fine"), "wrote <file>.csv; wb.active is fine");
  EXPECT_EQ(symptom_template("don't   stop\n-3 at 4f3a9c0b12"), "don't stop <num> at <hex>");
  EXPECT_EQ(template_words("cell <cell> expected <num>, got None"),
            (std::vector<std::string>{"cell", "<cell>", "expected", "<num>", "got", "None"}));
}

TEST(Features, ProcedureIsAFeatureEntityValuesAreNot) {
  trace::Trajectory t = run("42", 0, false,
                            {calls({{"python", {{"code", "import pandas as pd\n\"\"\"Given the sheet, sum it.\"\"\"\n"
                                                         "def check_dict_case(d):\n    return check_dict_case(d)\n"
                                                         "df = pd.read_excel(\"in.xlsx\", sheet_name=\"Orders\")\n"
                                                         "df.to_excel(\"out.xlsx\", index=False)\ntry:\n    x = anya_garcia_5901(1)\n"
                                                         "except KeyError:\n    pass\nfor r in sorted(rows, reverse=True):\n    ws.delete_rows(r)"}}},
                                    {"bash", {{"command", "soffice --headless --convert-to xlsx out_1.xlsx && ls inputs/ && "
                                                          "python3 - <<'EOF'\nimport json\nprint(json.dumps(rows))\nEOF"}}},
                                    {"send_message", {{"user_id", "anya_garcia_5901"}, {"summary", "the user would like a refund"}}}}),
                             tool_output("Traceback (most recent call last):\n  File \"<stdin>\", line 2\nKeyError: 'price'\n")},
                            nlohmann::json{{"message", "sheet 'Notes' missing"}});
  t.messages.push_back(user("My user id is anya_garcia_5901 and I would like a refund."));
  const Features f = extract_features(t);
  EXPECT_EQ(f.symptoms, (std::vector<std::string>{"check: sheet 'Notes' missing", "check: sheet <str> missing",
                                                  "error: KeyError: 'price'", "error: KeyError: <str>"}));
  const std::set<std::string> actions(f.actions.begin(), f.actions.end());
  for (const char* expected :
       {"tool:python", "tool:bash", "tool:send_message", "arg:send_message.user_id", "arg:send_message.summary", "import:pandas",
        "call:pd.read_excel", "call:.to_excel", "kw:sheet_name=", "kw:index=False", "kw:reverse=True", "call:.delete_rows",
        "call:sorted", "except:KeyError", "cmd:soffice", "cmd:ls", "cmd:python3", "flag:--headless", "flag:--convert-to",
        "import:json", "call:json.dumps", "before:python<bash", "before:bash<send_message", "before:python<send_message"})
    EXPECT_TRUE(actions.count(expected)) << expected;
  for (const auto& a : actions) {
    // the task's entities, the run's own names, free text, file names, docstring words
    for (const char* value : {"anya_garcia_5901", "check_dict_case", "would", "refund", "Given", "Orders", "xlsx", "inputs", "out_1"})
      EXPECT_EQ(a.find(value), std::string::npos) << a;
  }
}

TEST(Features, ATheTaskNamesIsTheTasksRequirementNotAHabit) {
  const trace::Trajectory t = run("env_3", 0, true, {calls({{"craft", {{"command", "craft 1 torch using 1 stick"}}}, {"inventory", {{"command", "inventory"}}}})});
  trace::Trajectory named = t;
  named.task.instruction = "Goal: craft a torch.";
  const Features plain = extract_features(t), required = extract_features(named);
  EXPECT_TRUE(std::binary_search(plain.actions.begin(), plain.actions.end(), std::string("tool:craft")));
  EXPECT_FALSE(std::binary_search(required.actions.begin(), required.actions.end(), std::string("tool:craft")));
  EXPECT_FALSE(std::binary_search(required.actions.begin(), required.actions.end(), std::string("arg:craft.command")));
  EXPECT_TRUE(std::binary_search(required.actions.begin(), required.actions.end(), std::string("before:inventory<craft")) ||
              !std::binary_search(required.actions.begin(), required.actions.end(), std::string("before:craft<inventory")));
  // plain text arguments are values: no word of "craft 1 torch using 1 stick" is a feature
  for (const auto& a : plain.actions) EXPECT_EQ(a.find("torch"), std::string::npos) << a;
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


// Hard tasks fail whatever the agent does and their runs all call `search`; easy tasks pass and never
// do. Pooled, `search` looks like a cause of failure; within tasks it makes no difference. What does
// make a difference within the mixed tasks is `verify`.
std::vector<trace::Trajectory> confounded_corpus() {
  std::vector<trace::Trajectory> out;
  for (int t = 0; t < 20; ++t)
    for (int a = 0; a < 4; ++a) out.push_back(run("hard-" + std::to_string(t), a, false, {calls({{"search", {{"q", "x"}}}, {"submit", {}}})}));
  for (int t = 0; t < 20; ++t)
    for (int a = 0; a < 4; ++a) out.push_back(run("easy-" + std::to_string(t), a, true, {calls({{"submit", {}}})}));
  for (int t = 0; t < 30; ++t)
    for (int a = 0; a < 4; ++a) {
      const bool pass = a < 2, search = (a + t) % 2 == 0;  // search independent of the outcome
      std::vector<std::pair<std::string, nlohmann::json>> tools;
      if (search) tools.push_back({"search", {{"q", "x"}}});
      if (pass) tools.push_back({"verify", {}});
      tools.push_back({"submit", {}});
      out.push_back(run("mixed-" + std::to_string(t), a, pass, {calls(tools)}));
    }
  return out;
}

TEST(Stats, AFeatureOfHardTasksIsNotALessonOnlyWithinTaskEffectsAre) {
  const Mined m = mine(confounded_corpus(), 1);
  EXPECT_FALSE(has_lesson(m, "tool:search"));
  ASSERT_TRUE(has_lesson(m, "tool:verify")) << m.report.dump(1);
  const Lesson& verify = *std::find_if(m.lessons.begin(), m.lessons.end(), [](const Lesson& l) { return l.key() == "tool:verify"; });
  EXPECT_NE(verify.text.find("Call the `verify` tool"), std::string::npos) << verify.text;
  EXPECT_NE(verify.text.find("Within the same 30 tasks"), std::string::npos) << verify.text;
  EXPECT_EQ(m.supports[0].size(), 60u);  // every passing run of the mixed tasks, counted exactly
  // the report says why `search` was not kept
  bool reported = false;
  for (const auto& c : m.report.at("candidates"))
    if (c.at("feature") == "tool:search") reported = c.at("verdict").get<std::string>() != "lesson";
  EXPECT_TRUE(reported) << m.report.dump(1);
}

// Runs that update: calling `lookup` before `update` lifts success from 50% to 100%; runs that do not
// update pass 70% of the time whatever they do. Overall `lookup` barely matters.
TEST(Stats, AConditionalHabitIsScoredAmongTheRunsItAppliesTo) {
  std::vector<trace::Trajectory> corpus;
  for (int t = 0; t < 40; ++t)
    for (int a = 0; a < 10; ++a) {
      const std::string task = "task-" + std::to_string(t);
      if (a < 4) {  // updaters: a = 0, 1 look up first and pass; a = 2, 3 do not, one passes
        const bool first = a < 2;
        std::vector<std::pair<std::string, nlohmann::json>> tools;
        if (first) tools.push_back({"lookup", {{"key", "k"}}});
        tools.push_back({"update", {{"key", "k"}, {"value", 1}}});
        if (!first) tools.push_back({"lookup", {{"key", "k"}}});
        corpus.push_back(run(task, a, first || a == 2, {calls(tools)}));
      } else {  // the rest look up or not, independently of passing (70%)
        const bool pass = a < 9 - 1 || (a == 9 && t % 2 == 0);
        std::vector<std::pair<std::string, nlohmann::json>> tools;
        if (a % 2 == 0) tools.push_back({"lookup", {{"key", "k"}}});
        tools.push_back({"answer", {}});
        corpus.push_back(run(task, a, pass, {calls(tools)}));
      }
    }
  const Mined m = mine(corpus, 1);
  ASSERT_TRUE(has_lesson(m, "before:lookup<update")) << m.report.dump(1);
  const Lesson& l = *std::find_if(m.lessons.begin(), m.lessons.end(), [](const Lesson& x) { return x.key() == "before:lookup<update"; });
  EXPECT_NE(l.text.find("Before calling `update`, call `lookup`"), std::string::npos) << l.text;
  EXPECT_NE(l.text.find("Among runs that called `update`"), std::string::npos) << l.text;
  EXPECT_NE(l.text.find("100% of the 80 that called `lookup` first passed, against 50% of the 80 that did not"), std::string::npos) << l.text;
}

// The same KeyError on the key 'price' in many tasks: the lesson quotes the key; an id that differs
// in every task is templated, and a failure seen in two tasks only is not a lesson.
TEST(Stats, AFailureLessonKeepsTheLiteralAnAgentNeeds) {
  std::vector<trace::Trajectory> corpus;
  for (int t = 0; t < 30; ++t)
    for (int a = 0; a < 4; ++a) {
      const bool pass = a % 2 == 0;
      const std::string task = "t" + std::to_string(t);
      std::vector<trace::Message> messages = {calls({{"python", {{"code", "rows = load()\nprint(rows[0]['price'])"}}}})};
      if (!pass) messages.push_back(tool_output("Traceback (most recent call last):\nKeyError: 'price'"));
      if (!pass && t < 2) messages.push_back(tool_output("error: reservation 'PEP4E" + std::to_string(t) + "' is not valid"));
      corpus.push_back(run(task, a, pass, messages));
    }
  const Mined m = mine(corpus, 1);
  ASSERT_TRUE(has_lesson(m, "error: KeyError: 'price'")) << m.report.dump(1);
  EXPECT_FALSE(has_lesson(m, "error: KeyError: <str>"));  // its literal form covers it
  for (const auto& l : m.lessons) {
    EXPECT_EQ(l.text.find("PEP4E"), std::string::npos) << l.text;
    EXPECT_EQ(l.text.find("reservation"), std::string::npos) << l.text;
  }
  const Lesson& l = *std::find_if(m.lessons.begin(), m.lessons.end(), [](const Lesson& x) { return x.kind == Lesson::Kind::failure; });
  EXPECT_NE(l.text.find("`KeyError: 'price'`"), std::string::npos) << l.text;
}

// A tool error met on the way to two different failure modes is a by-product of both: among the
// runs free of their symptoms it never occurs, so it is neither a lesson nor part of one, and each
// failure lesson's support is exactly its own failed runs.
TEST(Stats, ASymptomSharedByTwoFailureModesJoinsNeither) {
  std::vector<trace::Trajectory> corpus;
  for (int t = 0; t < 60; ++t)
    for (int a = 0; a < 4; ++a) {
      const bool pass = a % 2 == 0;
      const std::string task = "t" + std::to_string(t);
      std::vector<trace::Message> messages = {
          calls({{"python", {{"code", "import openpyxl\nwb = openpyxl.load_workbook(p)  # try " + std::to_string(a)}}}})};
      if (!pass && a == 1 && t % 2 == 0) messages.push_back(tool_output("ModuleNotFoundError: No module named 'pandas'"));
      nlohmann::json detail = nullptr;
      if (!pass) detail = {{"message", t < 30 ? "sheet 'Notes' missing" : "number format of B2 lost"}};
      corpus.push_back(run(task, a, pass, messages, detail));
    }
  const Mined m = mine(corpus, 1);
  const std::string shared = "error: ModuleNotFoundError: No module named 'pandas'";
  ASSERT_TRUE(has_lesson(m, "check: sheet 'Notes' missing")) << m.report.dump(1);
  ASSERT_TRUE(has_lesson(m, "check: number format of <cell> lost")) << m.report.dump(1);
  for (std::size_t i = 0; i < m.lessons.size(); ++i) {
    const auto& features = m.lessons[i].features;
    EXPECT_EQ(std::find(features.begin(), features.end(), shared), features.end()) << m.lessons[i].text;
    EXPECT_EQ(m.supports[i].size(), 60u) << m.lessons[i].text;  // 30 tasks, 2 failed runs each
  }
}

TEST(Stats, SilentWithAClearReportWhenNothingHolds) {
  std::vector<trace::Trajectory> corpus;  // outcomes independent of what the runs do
  for (int t = 0; t < 20; ++t)
    for (int a = 0; a < 4; ++a)
      corpus.push_back(run("t" + std::to_string(t), a, (a + t) % 2 == 0, {calls({{(a % 2 == 0) ? "alpha" : "beta", {}}})}));
  const Mined m = mine(corpus, 1);
  EXPECT_TRUE(m.lessons.empty());
  EXPECT_GT(m.report.at("tested").get<int>(), 0);
  EXPECT_FALSE(m.report.at("candidates").empty());
  EXPECT_NE(report_markdown(m.report).find("No feature passed the tests"), std::string::npos);
}

TEST(Stats, OneRunPerTaskIsComparedWithinTheTaskFamily) {
  std::vector<trace::Trajectory> corpus;
  for (int t = 0; t < 120; ++t) {
    const bool pass = t % 3 != 0, check = pass ? t % 6 != 1 : t % 9 == 0;
    std::vector<std::pair<std::string, nlohmann::json>> tools = {{"act", {}}};
    if (check) tools.push_back({"check", {}});
    corpus.push_back(run("family_" + std::to_string(t), 0, pass, {calls(tools)}));
  }
  const Mined m = mine(corpus, 1);
  EXPECT_EQ(m.report.at("mixed_tasks"), 0);
  EXPECT_GT(m.report.at("single_run_pools").get<int>(), 0);
  ASSERT_TRUE(has_lesson(m, "tool:check")) << m.report.dump(1);
  EXPECT_NE(m.lessons.front().text.find("tasks of one run each"), std::string::npos) << m.lessons.front().text;
  StatsOptions within_only;
  within_only.single_runs = SingleRuns::ignored;
  EXPECT_TRUE(mine(corpus, 1, within_only).lessons.empty());
}

// The planted failure modes and habits of a synthetic corpus come back with their exact support.
TEST(Stats, RecoversPlantedPatterns) {
  const Corpus c = make_corpus(2000, 11);
  const Mined m = mine(c.trajectories, 1);
  std::map<std::string, std::set<std::string>> planted;
  for (std::size_t i = 0; i < c.trajectories.size(); ++i)
    for (const auto& p : c.planted[i]) planted[p].insert(c.ids[i]);
  std::size_t recovered = 0;
  for (const auto& [pattern, ids] : planted)
    for (const auto& support : m.supports)
      if (support == ids) {
        ++recovered;
        break;
      }
  EXPECT_GE(recovered, 5u) << m.report.dump(1);
}

TEST(Stats, SameLessonsAndSupportsWhateverTheSharding) {
  const Corpus c = make_corpus(600, 5);
  const auto one = mine(c.trajectories, 1);
  ASSERT_FALSE(one.lessons.empty());
  for (std::size_t shards : {2u, 3u, 7u}) {
    const auto many = mine(c.trajectories, shards);
    ASSERT_EQ(lessons_json(many.lessons), lessons_json(one.lessons)) << shards;
    EXPECT_EQ(many.supports, one.supports) << shards;
  }
  // a corpus whose tasks' runs are spread over every shard
  std::vector<trace::Trajectory> interleaved;
  for (std::size_t a = 0; a < 4; ++a)
    for (std::size_t i = a; i < c.trajectories.size(); i += 4) interleaved.push_back(c.trajectories[i]);
  const auto spread = mine(interleaved, 3);
  EXPECT_EQ(lessons_json(spread.lessons), lessons_json(mine(interleaved, 1).lessons));
}

// counts() cuts a shard's rows into parts counted on threads of their own (parts of 4096 rows and
// more); a task whose runs fall in several parts is closed when the parts are summed. The counts are
// the same for any number of threads, in storage order and with every task's runs spread out.
TEST(ShardMiner, CountsAreTheSameWhateverTheThreads) {
  const Corpus c = make_corpus(9000, 3);
  std::vector<Features> features;
  for (const auto& t : c.trajectories) features.push_back(extract_features(t));
  for (const bool interleaved : {false, true}) {
    std::vector<std::size_t> order;
    for (std::size_t a = 0; a < (interleaved ? 5 : 1); ++a)
      for (std::size_t i = a; i < c.trajectories.size(); i += (interleaved ? 5 : 1)) order.push_back(i);
    std::vector<std::string> task_ids;
    std::vector<std::int8_t> labels;
    for (const auto i : order) {
      task_ids.push_back(c.trajectories[i].task_id);
      labels.push_back(c.trajectories[i].outcome.success ? 1 : 0);
    }
    const TaskPlan plan(task_ids, labels, 3, SingleRuns::automatic, 10);
    std::vector<Subset> subsets(3);
    subsets[1].excluding = {"tool:python"};
    subsets[2].stratify_by = {"tool:bash", "call:sorted"};
    std::string first;
    for (const unsigned threads : {1u, 2u, 3u}) {
      ShardMiner miner(plan, 0, order.size(), threads);
      for (std::size_t row = 0; row < order.size(); ++row) miner.add(row, features[order[row]]);
      const std::string counted = CountsBatch{miner.counts(subsets)}.to_json().dump();
      if (threads == 1) first = counted;
      else EXPECT_EQ(counted, first) << threads << " threads, interleaved " << interleaved;
    }
    EXPECT_NE(first.find("\"tool:python\""), std::string::npos) << "the corpus shows the features the subsets name";
  }
}

TEST(Stats, OptionsAreChecked) {
  EXPECT_THROW(StatsOptions::from_json({{"min_supprt", 3}}, "job.toml [analyze.stats]"), InputError);
  EXPECT_THROW(StatsOptions::from_json({{"fdr", 2}}, "x"), InputError);
  EXPECT_THROW(StatsOptions::from_json({{"single_runs", "sometimes"}}, "x"), InputError);
  EXPECT_THROW(StatsOptions::from_json({{"failure_section", "Pitfalls"}}, "x"), InputError);
  EXPECT_EQ(StatsOptions::from_json({{"min_support", 7}}, "x").min_support, 7u);
  EXPECT_EQ(StatsOptions::from_json({{"folds", 5}}, "x").folds, 5u);
}

}  // namespace
}  // namespace t2s::analyze
