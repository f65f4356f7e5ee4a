// Tests for synth: determinism, planted rates and truth, the at-most-one-failure rule, rate
// validation, message well-formedness, visible symptoms, the conditional habit and the literal
// failure modes, and the files write_corpus produces.
#include "t2s/synth/synth.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "t2s/core/canonical_json.hpp"
#include "t2s/core/error.hpp"
#include "t2s/core/sha256.hpp"
#include "t2s/trace/trajectory.hpp"

namespace {

using nlohmann::json;
using t2s::synth::Options;
using t2s::synth::Pattern;

// One emitted trajectory, as the tests look at it.
struct Emitted {
  t2s::trace::Trajectory trajectory;
  std::vector<std::string> planted;
  std::string json;  // canonical record
  std::string id;
};

struct Corpus {
  json truth;
  std::vector<Emitted> items;
};

Corpus run(const Options& options) {
  Corpus corpus;
  corpus.truth = t2s::synth::generate(options, [&](const t2s::trace::Trajectory& t, const std::vector<std::string>& planted) {
    auto record = t2s::trace::canonical_record(t);
    corpus.items.push_back({t, planted, std::move(record.json), std::move(record.id)});
  });
  return corpus;
}

Options with(std::uint64_t trajectories, std::uint64_t seed = 7) {
  Options options;
  options.trajectories = trajectories;
  options.seed = seed;
  return options;
}

const Pattern& pattern(const std::string& id) {
  for (const auto& p : t2s::synth::patterns())
    if (p.id == id) return p;
  throw std::runtime_error("no pattern " + id);
}

bool is_failure(const std::string& id) { return pattern(id).kind == Pattern::Kind::failure; }
bool is_plain_habit(const std::string& id) { return pattern(id).kind == Pattern::Kind::habit; }

// The patterns added with the spreadsheet tools and the literals; with them off, the corpus is the
// one the generator made before they existed.
Options without_new_patterns(Options options) {
  options.updaters = 0.0;
  options.rates["price-key-error"] = 0.0;
  options.rates["ref-code-format"] = 0.0;
  return options;
}

const json& truth_pattern(const json& truth, const std::string& id) {
  for (const auto& p : truth["patterns"])
    if (p["id"] == id) return p;
  throw std::runtime_error("no pattern " + id + " in truth");
}

bool has(const std::vector<std::string>& planted, const std::string& id) {
  return std::find(planted.begin(), planted.end(), id) != planted.end();
}

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

// All tool-message and tool-call text of a trajectory (code, commands, outputs; the arguments of the
// spreadsheet tools as their JSON).
std::string tool_text(const t2s::trace::Trajectory& t) {
  std::string out;
  for (const auto& m : t.messages) {
    if (m.role == "tool") out += m.text() + "\n";
    for (const auto& call : m.tool_calls) {
      const json arguments = json::parse(call.arguments);
      out += (arguments.size() == 1 ? arguments.begin().value().get<std::string>() : arguments.dump()) + "\n";
    }
  }
  return out;
}

// The tool calls of a trajectory in order: name and parsed arguments.
std::vector<std::pair<std::string, json>> calls(const t2s::trace::Trajectory& t) {
  std::vector<std::pair<std::string, json>> out;
  for (const auto& m : t.messages)
    for (const auto& call : m.tool_calls) out.emplace_back(call.name, json::parse(call.arguments));
  return out;
}

// What a trajectory shows about the totals row: whether it calls update_cells, whether it calls
// describe_sheet before that, and where it writes.
struct UpdateView {
  bool updates = false, looked_first = false, looks = false;
  std::string range;
};

UpdateView update_view(const t2s::trace::Trajectory& t) {
  UpdateView view;
  for (const auto& [name, arguments] : calls(t)) {
    if (name == "describe_sheet") {
      view.looks = true;
      if (!view.updates) view.looked_first = true;
    }
    if (name == "update_cells" && !view.updates) {
      view.updates = true;
      view.range = arguments["range"].get<std::string>();
    }
  }
  if (!view.updates) view.looked_first = false;
  return view;
}

// The file write_corpus would write for these records: their canonical JSON, one per line.
std::string digest_of_records(const std::vector<std::string>& lines) {
  t2s::Sha256 hasher;
  for (const auto& line : lines) hasher.update(line).update("\n");
  return t2s::to_hex(hasher.finish());
}

// ----------------------------------------------------------------------------------- catalogue

TEST(SynthCatalogue, HasTheRequiredPatternsWithSensibleDefaults) {
  const std::map<std::string, Pattern::Kind> required = {
      {"stale-formula-values", Pattern::Kind::failure},       {"dataframe-formatting-loss", Pattern::Kind::failure},
      {"topdown-row-deletion", Pattern::Kind::failure},       {"text-numbers", Pattern::Kind::failure},
      {"recalculate-before-readback", Pattern::Kind::habit}, {"edit-in-place-openpyxl", Pattern::Kind::habit},
      {"delete-rows-bottom-up", Pattern::Kind::habit},        {"price-key-error", Pattern::Kind::failure},
      {"ref-code-format", Pattern::Kind::failure},
      {"lookup-before-update", Pattern::Kind::conditional_habit}};
  std::set<std::string> ids;
  for (const auto& p : t2s::synth::patterns()) {
    EXPECT_TRUE(ids.insert(p.id).second) << "duplicate id " << p.id;
    EXPECT_FALSE(p.symptom.empty()) << p.id;
    EXPECT_FALSE(p.lesson.empty()) << p.id;
    // A literal is what the lesson must keep verbatim, so the lesson has it.
    if (!p.literal.empty()) {
      EXPECT_TRUE(contains(p.lesson, p.literal)) << p.id;
    }
    EXPECT_EQ(p.condition.empty(), p.kind != Pattern::Kind::conditional_habit) << p.id;
    EXPECT_EQ(p.action.empty(), p.kind != Pattern::Kind::conditional_habit) << p.id;
    if (p.kind == Pattern::Kind::failure) {
      // Rare enough to leave room for the habits, common enough to stand out (over 3% of the runs).
      EXPECT_GE(p.default_rate, 0.04) << p.id;
      EXPECT_LE(p.default_rate, 0.20) << p.id;
    } else if (p.kind == Pattern::Kind::habit) {
      EXPECT_GE(p.default_rate, 0.25) << p.id;
      EXPECT_LE(p.default_rate, 0.35) << p.id;
    } else {  // a share of the updaters: both groups must be well represented
      EXPECT_GE(p.default_rate, 0.3) << p.id;
      EXPECT_LE(p.default_rate, 0.7) << p.id;
    }
  }
  EXPECT_EQ(pattern("price-key-error").literal, "'price'");
  EXPECT_EQ(pattern("ref-code-format").literal, "^X-[0-9]{6}$");
  EXPECT_EQ(pattern("lookup-before-update").condition, "update_cells");
  EXPECT_EQ(pattern("lookup-before-update").action, "describe_sheet");
  for (const auto& [id, kind] : required) {
    ASSERT_TRUE(ids.count(id)) << id;
    EXPECT_EQ(pattern(id).kind, kind) << id;
  }
}

// --------------------------------------------------------------------------------- determinism

TEST(SynthDeterminism, SameOptionsGiveIdenticalOutput) {
  const Corpus a = run(with(300)), b = run(with(300));
  ASSERT_EQ(a.items.size(), 300u);
  ASSERT_EQ(b.items.size(), 300u);
  for (std::size_t i = 0; i < a.items.size(); ++i) {
    ASSERT_EQ(a.items[i].json, b.items[i].json) << "trajectory " << i;
    ASSERT_EQ(a.items[i].planted, b.items[i].planted) << "trajectory " << i;
  }
  EXPECT_EQ(a.truth, b.truth);
}

// With the spreadsheet tools and the literal failure modes off, the corpus is byte for byte the one
// the generator made before they existed (digests of `t2s synth --trajectories 300 --seed 7` then).
TEST(SynthDeterminism, WithoutTheNewPatternsTheCorpusIsTheOldOne) {
  const Corpus c = run(without_new_patterns(with(300)));
  std::vector<std::string> records, truth_lines;
  for (const auto& e : c.items) {
    records.push_back(e.json);
    truth_lines.push_back(t2s::canonical_json({{"id", e.id},
                                               {"planted", e.planted},
                                               {"success", e.trajectory.outcome.success},
                                               {"task_id", e.trajectory.task_id}}));
  }
  EXPECT_EQ(digest_of_records(records), "d8dfe48af961baee4c48f1d377239a8abea42a70d183d7c112de749719b2dbf2");
  EXPECT_EQ(digest_of_records(truth_lines), "08aa9fe0ba6b471fb1d52a2a1496804405e4e7f8b4a329f24997bafb607956c9");
  // ... and the defaults do plant them.
  const Corpus d = run(with(300));
  EXPECT_NE(d.items.front().json, c.items.front().json);
}

TEST(SynthDeterminism, DifferentSeedsGiveDifferentOutput) {
  const Corpus a = run(with(100, 1)), b = run(with(100, 2));
  std::set<std::string> ids_a;
  for (const auto& e : a.items) ids_a.insert(e.id);
  std::size_t shared = 0, same_plans = 0;
  for (std::size_t i = 0; i < b.items.size(); ++i) {
    shared += ids_a.count(b.items[i].id);
    same_plans += a.items[i].planted == b.items[i].planted;
  }
  EXPECT_EQ(shared, 0u);
  EXPECT_LT(same_plans, 90u);
}

TEST(SynthDeterminism, PlantingDoesNotDependOnNoise) {
  Options quiet = with(400), noisy = with(400);
  quiet.noise = 0.0;
  noisy.noise = 0.9;
  const Corpus a = run(quiet), b = run(noisy);
  for (std::size_t i = 0; i < a.items.size(); ++i) ASSERT_EQ(a.items[i].planted, b.items[i].planted) << i;
  EXPECT_EQ(a.truth["patterns"], b.truth["patterns"]);
}

// ------------------------------------------------------------------------------------- planting

TEST(SynthTruth, CountsEqualWhatWasEmitted) {
  const Corpus c = run(with(1000));
  std::map<std::string, std::uint64_t> counts;
  std::uint64_t successes = 0;
  for (const auto& e : c.items) {
    for (const auto& id : e.planted) ++counts[id];
    successes += e.trajectory.outcome.success;
  }
  EXPECT_EQ(c.truth["generator"], "t2s synth");
  EXPECT_EQ(c.truth["synthetic"], true);
  EXPECT_EQ(c.truth["trajectories"], 1000);
  EXPECT_EQ(c.truth["successes"], successes);
  EXPECT_EQ(c.truth["failures"], 1000 - successes);
  EXPECT_EQ(c.truth["options"]["seed"], 7);
  EXPECT_EQ(c.truth["options"]["attempts"], 4);
  ASSERT_EQ(c.truth["patterns"].size(), t2s::synth::patterns().size());
  for (std::size_t i = 0; i < t2s::synth::patterns().size(); ++i) {
    const Pattern& p = t2s::synth::patterns()[i];
    const json& t = c.truth["patterns"][i];  // catalogue order
    EXPECT_EQ(t["id"], p.id);
    EXPECT_EQ(t["kind"], p.kind == Pattern::Kind::failure ? "failure"
                         : p.kind == Pattern::Kind::habit ? "habit"
                                                          : "conditional-habit");
    EXPECT_EQ(t["count"], counts[p.id]) << p.id;
    EXPECT_EQ(t["symptom"], p.symptom);
    EXPECT_EQ(t["lesson"], p.lesson);
    EXPECT_GT(counts[p.id], 0u) << p.id;
  }
}

TEST(SynthTruth, ObservedRatesMatchRequestedRates) {
  const std::uint64_t n = 4000;
  const Corpus c = run(with(n, 11));
  for (const auto& p : c.truth["patterns"]) {
    const double rate = p["rate"].get<double>();
    // A conditional habit's rate is a share of the runs its condition applies to.
    const double of = p["kind"] == "conditional-habit" ? p["updaters"].get<double>() : static_cast<double>(n);
    const double observed = p["count"].get<double>() / of;
    const double sigma = std::sqrt(rate * (1 - rate) / of);
    EXPECT_NEAR(observed, rate, 4.5 * sigma + 1e-9) << p["id"];
    EXPECT_DOUBLE_EQ(rate, pattern(p["id"]).default_rate) << "defaults fit without scaling";
  }
  // The updaters are about their share of the runs (whole tasks: a wider spread).
  const double updaters = truth_pattern(c.truth, "lookup-before-update")["updaters"].get<double>() / n;
  EXPECT_NEAR(updaters, Options{}.updaters, 0.05);
}

TEST(SynthTruth, PlantedPatternsObeyTheRules) {
  for (const bool new_patterns : {false, true}) {
    const Corpus c = run(new_patterns ? with(3000, 3) : without_new_patterns(with(3000, 3)));
    std::size_t unplanted_failures = 0, bare_successes = 0, failed_habits = 0;
    const auto& catalogue = t2s::synth::patterns();
    for (const auto& e : c.items) {
      const auto& outcome = e.trajectory.outcome;
      int failures = 0, habits = 0;
      for (const auto& id : e.planted) {
        failures += is_failure(id) ? 1 : 0;
        habits += is_plain_habit(id) ? 1 : 0;
      }
      EXPECT_LE(failures, 1) << "at most one failure mode";
      EXPECT_LE(habits, 2) << "at most two habits";
      if (failures) {
        EXPECT_FALSE(outcome.success) << "a failure mode makes the trajectory fail";
      }
      // Habits are planted in successes; an updater that writes its totals row in the wrong row fails
      // with its habits (the only other cause of failure it can have).
      const UpdateView view = update_view(e.trajectory);
      const json& detail = outcome.detail;
      const bool wrong_write =
          view.updates && !outcome.success && detail["mismatches"][0].value("cell", "") == view.range;
      if (habits && !outcome.success) {
        EXPECT_TRUE(wrong_write) << "habits only in successes, or in a wrong update: " << e.id;
        ++failed_habits;
      }
      EXPECT_TRUE(failures == 0 || habits == 0);
      EXPECT_FALSE(failures && wrong_write) << "one cause per failure";
      unplanted_failures += !outcome.success && failures == 0;
      bare_successes += outcome.success && habits == 0;
      // Planted ids are unique and listed in catalogue order.
      std::vector<std::size_t> positions;
      for (const auto& id : e.planted)
        positions.push_back(static_cast<std::size_t>(
            std::find_if(catalogue.begin(), catalogue.end(), [&](const Pattern& p) { return p.id == id; }) -
            catalogue.begin()));
      EXPECT_TRUE(std::is_sorted(positions.begin(), positions.end()));
      EXPECT_EQ(std::set<std::size_t>(positions.begin(), positions.end()).size(), positions.size());
      // The verdict agrees with the label.
      EXPECT_TRUE(outcome.labelled);
      EXPECT_EQ(outcome.reward, outcome.success ? 1.0 : 0.0);
      ASSERT_TRUE(outcome.detail.is_object());
      EXPECT_TRUE(outcome.detail["checker"].is_string());
      EXPECT_TRUE(outcome.detail["message"].is_string());
      EXPECT_EQ(outcome.detail["mismatches"].empty(), outcome.success);
    }
    EXPECT_GT(unplanted_failures, 60u) << "not every failure is planted";
    // With the two failure modes that carry literals, the habits' default rates take nearly every
    // success (1.97 habits per success, at most 2): fewer than 1% carry none.
    EXPECT_GT(bare_successes, new_patterns ? 0u : 60u) << "some successes carry no habit";
    EXPECT_EQ(failed_habits > 0, new_patterns);
  }
}

// Each pattern leaves its signature where an analyst can see it, with values that vary.
TEST(SynthTruth, SymptomsAreVisibleAndVaried) {
  const Corpus c = run(with(1500, 5));
  const std::map<std::string, std::vector<std::string>> signatures = {
      {"stale-formula-values", {"data_only=True", "None"}},
      {"dataframe-formatting-loss", {".to_excel("}},
      {"topdown-row-deletion", {"ws.delete_rows(r)", "deleted += 1"}},
      {"text-numbers", {}},
      {"active-sheet-edit", {"ws = wb.active"}},
      {"recalculate-before-readback", {"soffice --headless", "data_only=True"}},
      {"edit-in-place-openpyxl", {"load_workbook(", "number_format"}},
      {"delete-rows-bottom-up", {"reverse=True", "ws.delete_rows(r)"}},
      {"price-key-error", {"item[\"price\"]", "KeyError: 'price'"}},
      {"ref-code-format", {"f\"X-{digits}\""}},
      {"lookup-before-update", {"\"max_row\": "}}};
  const std::map<std::string, std::string> checker_says = {
      {"stale-formula-values", "got None"},
      {"dataframe-formatting-loss", "' missing"},
      {"topdown-row-deletion", "should have been deleted"},
      {"text-numbers", "got text '"},
      {"active-sheet-edit", "is unchanged; edits were found"},
      {"price-key-error", "('List Price') is missing"},
      {"ref-code-format", " does not match ^X-[0-9]{6}$ (cell "}};
  std::map<std::string, std::set<std::string>> messages;
  for (const auto& e : c.items) {
    const std::string text = tool_text(e.trajectory);
    const std::string message = e.trajectory.outcome.detail["message"];
    for (const auto& id : e.planted) {
      for (const auto& s : signatures.at(id)) EXPECT_TRUE(contains(text, s)) << id << " lacks " << s;
      if (is_failure(id)) messages[id].insert(message);
      if (id == "dataframe-formatting-loss") {
        EXPECT_TRUE(contains(message, "' missing") || contains(message, "lost")) << message;
      } else if (checker_says.count(id)) {
        EXPECT_TRUE(contains(message, checker_says.at(id))) << id << ": " << message;
      }
    }
    // Signatures of patterns that were not planted do not show up (noise never imitates them).
    const std::vector<std::tuple<std::string, const std::string*, std::string>> exclusive = {
        {"recalculate-before-readback", &text, "soffice"},
        {"delete-rows-bottom-up", &text, "reverse=True"},
        {"active-sheet-edit", &text, "ws = wb.active"},
        {"stale-formula-values", &message, "got None"},
        {"topdown-row-deletion", &text, "deleted += 1"},
        {"price-key-error", &text, "KeyError: 'price'"},
        {"ref-code-format", &message, "does not match"},
        {"ref-code-format", &text, "f\"X-{digits}\""}};
    for (const auto& [id, haystack, needle] : exclusive)
      EXPECT_EQ(contains(*haystack, needle), has(e.planted, id)) << id << " / " << needle << " in " << e.id;
    EXPECT_EQ(update_view(e.trajectory).looked_first, has(e.planted, "lookup-before-update")) << e.id;
  }
  for (const auto& [id, seen] : messages) EXPECT_GT(seen.size(), 10u) << id << ": checker messages must vary";
}

TEST(SynthTruth, PatternIdsNeverAppearInTrajectories) {
  const Corpus c = run(with(500));
  for (const auto& e : c.items)
    for (const auto& p : t2s::synth::patterns()) ASSERT_FALSE(contains(e.json, p.id)) << p.id;
}

// ------------------------------------------------------------------------------ rate overrides

TEST(SynthRates, ZeroRatePlantsNone) {
  Options options = with(800);
  options.rates = {{"stale-formula-values", 0.0}, {"delete-rows-bottom-up", 0.0}};
  const Corpus c = run(options);
  for (const auto& e : c.items) {
    EXPECT_FALSE(has(e.planted, "stale-formula-values"));
    EXPECT_FALSE(has(e.planted, "delete-rows-bottom-up"));
  }
  EXPECT_EQ(truth_pattern(c.truth, "stale-formula-values")["count"], 0);
  EXPECT_EQ(truth_pattern(c.truth, "delete-rows-bottom-up")["count"], 0);
  EXPECT_EQ(c.truth["options"]["rates"]["stale-formula-values"], 0.0);
}

TEST(SynthRates, OverrideIsHonouredExactlyInExpectation) {
  Options options = with(4000, 9);
  options.rates = {{"text-numbers", 0.2}, {"edit-in-place-openpyxl", 0.3}};
  const Corpus c = run(options);
  EXPECT_EQ(truth_pattern(c.truth, "text-numbers")["rate"], 0.2);
  EXPECT_NEAR(truth_pattern(c.truth, "text-numbers")["count"].get<double>() / 4000, 0.2, 0.03);
  EXPECT_NEAR(truth_pattern(c.truth, "edit-in-place-openpyxl")["count"].get<double>() / 4000, 0.3, 0.035);
}

// A failure mode at rate 1 takes every trajectory; since a trajectory carries at most one failure
// mode, the other (default-rate) failure modes and all habits give way to zero.
TEST(SynthRates, FailureRateOneTakesEveryTrajectory) {
  Options options = with(300);
  options.rates = {{"topdown-row-deletion", 1.0}};
  const Corpus c = run(options);
  for (const auto& e : c.items) {
    std::vector<std::string> planted = e.planted;  // the conditional habit is planted independently
    planted.erase(std::remove(planted.begin(), planted.end(), "lookup-before-update"), planted.end());
    EXPECT_EQ(planted, std::vector<std::string>{"topdown-row-deletion"});
    EXPECT_FALSE(e.trajectory.outcome.success);
  }
  EXPECT_EQ(c.truth["successes"], 0);
  for (const auto& p : c.truth["patterns"]) {
    if (p["kind"] == "conditional-habit") continue;
    const bool chosen = p["id"] == "topdown-row-deletion";
    EXPECT_EQ(p["rate"], chosen ? 1.0 : 0.0) << p["id"];
    EXPECT_EQ(p["count"], chosen ? 300 : 0) << p["id"];
  }
}

// A habit at rate 1 needs every trajectory to succeed: default failure rates give way. Only a totals
// row written in the wrong row (updaters) still fails a run.
TEST(SynthRates, HabitRateOneMakesEveryTrajectorySucceed) {
  for (const double updaters : {0.0, 0.3}) {
    Options options = with(300);
    options.updaters = updaters;
    options.rates = {{"delete-rows-bottom-up", 1.0}};
    const Corpus c = run(options);
    std::size_t failures = 0;
    for (const auto& e : c.items) {
      EXPECT_TRUE(has(e.planted, "delete-rows-bottom-up"));
      if (e.trajectory.outcome.success) continue;
      ++failures;
      const UpdateView view = update_view(e.trajectory);
      EXPECT_TRUE(view.updates) << e.id;
      EXPECT_EQ(e.trajectory.outcome.detail["mismatches"][0]["cell"], view.range) << e.id;
    }
    EXPECT_EQ(failures > 0, updaters > 0) << updaters;
    EXPECT_GT(truth_pattern(c.truth, "recalculate-before-readback")["count"], 0);
  }
}

TEST(SynthRates, ConflictingOverridesThrow) {
  Options options = with(10);
  options.rates = {{"stale-formula-values", 0.6}, {"text-numbers", 0.6}};
  EXPECT_THROW(t2s::synth::generate(options, {}), t2s::InputError);
  options.rates = {{"stale-formula-values", 1.0}, {"recalculate-before-readback", 0.5}};
  EXPECT_THROW(t2s::synth::generate(options, {}), t2s::InputError);
}

TEST(SynthRates, InvalidRatesThrowNamingThePattern) {
  auto message_for = [](std::map<std::string, double> rates) -> std::string {
    Options options = with(10);
    options.rates = std::move(rates);
    try {
      t2s::synth::generate(options, {});
    } catch (const t2s::InputError& error) {
      return error.what();
    }
    return "no error";
  };
  EXPECT_TRUE(contains(message_for({{"no-such-pattern", 0.1}}), "no-such-pattern"));
  EXPECT_TRUE(contains(message_for({{"text-numbers", -0.1}}), "text-numbers"));
  EXPECT_TRUE(contains(message_for({{"text-numbers", 1.5}}), "text-numbers"));
  EXPECT_TRUE(contains(message_for({{"text-numbers", std::numeric_limits<double>::quiet_NaN()}}), "text-numbers"));
  Options bad = with(10);
  bad.attempts = 0;
  EXPECT_THROW(t2s::synth::generate(bad, {}), t2s::InputError);
  bad = with(10);
  bad.noise = 1.5;
  EXPECT_THROW(t2s::synth::generate(bad, {}), t2s::InputError);
}

// ------------------------------------------------------------------------------------ contents

TEST(SynthContent, MessagesAreWellFormed) {
  const Corpus c = run(with(600, 13));
  const std::regex call_id("call_[0-9a-f]{24}");
  std::set<std::string> all_call_ids;
  for (const auto& e : c.items) {
    const auto& messages = e.trajectory.messages;
    ASSERT_GE(messages.size(), 5u);
    EXPECT_EQ(messages[0].role, "system");
    EXPECT_EQ(messages[1].role, "user");
    EXPECT_EQ(messages[1].text(), e.trajectory.task.instruction);
    std::map<std::string, std::string> open;  // tool calls made and not yet answered, and their tool
    for (const auto& m : messages) {
      ASSERT_TRUE(t2s::trace::is_known_role(m.role)) << m.role;
      if (m.role == "tool") {
        const auto call = open.find(m.tool_call_id);
        ASSERT_NE(call, open.end()) << "tool message answers an earlier call: " << m.tool_call_id;
        EXPECT_FALSE(m.text().empty());
        if (call->second == "describe_sheet") {  // the tool answers in JSON
          const json answer = json::parse(m.text());
          EXPECT_TRUE(answer["max_row"].is_number_integer() && answer["header"].is_array()) << answer;
        }
        open.erase(call);
      }
      for (const auto& call : m.tool_calls) {
        EXPECT_EQ(m.role, "assistant");
        EXPECT_TRUE(std::regex_match(call.id, call_id)) << call.id;
        EXPECT_TRUE(all_call_ids.insert(call.id).second) << "call id reused: " << call.id;
        open.emplace(call.id, call.name);
        const json arguments = json::parse(call.arguments);
        if (call.name == "python") {
          EXPECT_TRUE(arguments["code"].is_string());
        } else if (call.name == "bash") {
          EXPECT_TRUE(arguments["command"].is_string());
        } else if (call.name == "describe_sheet") {
          EXPECT_EQ(arguments.size(), 2u);
          EXPECT_TRUE(arguments["workbook"].is_string() && arguments["sheet"].is_string()) << arguments;
        } else {
          ASSERT_EQ(call.name, "update_cells");
          EXPECT_EQ(arguments.size(), 4u);
          EXPECT_TRUE(arguments["workbook"].is_string() && arguments["sheet"].is_string()) << arguments;
          EXPECT_TRUE(std::regex_match(arguments["range"].get<std::string>(), std::regex("[A-H][0-9]+"))) << arguments;
          ASSERT_TRUE(arguments["values"].is_array() && arguments["values"].size() == 1) << arguments;
          EXPECT_TRUE(arguments["values"][0].is_array() && arguments["values"][0][0].is_number_integer()) << arguments;
        }
      }
    }
    EXPECT_TRUE(open.empty()) << "every call is answered";
    EXPECT_EQ(messages.back().role, "assistant");
    EXPECT_TRUE(messages.back().tool_calls.empty());
    EXPECT_FALSE(messages.back().text().empty());
  }
}

TEST(SynthContent, RecordsDescribeThemselves) {
  Options options = with(10);
  options.attempts = 4;
  const Corpus c = run(options);
  const std::vector<std::pair<std::string, int>> expected = {
      {"sheet-0000", 0}, {"sheet-0000", 1}, {"sheet-0000", 2}, {"sheet-0000", 3}, {"sheet-0001", 0},
      {"sheet-0001", 1}, {"sheet-0001", 2}, {"sheet-0001", 3}, {"sheet-0002", 0}, {"sheet-0002", 1}};
  ASSERT_EQ(c.items.size(), expected.size());
  for (std::size_t i = 0; i < c.items.size(); ++i) {
    const auto& t = c.items[i].trajectory;
    EXPECT_EQ(t.task_id, expected[i].first);
    EXPECT_EQ(t.attempt, expected[i].second);
    EXPECT_EQ(t.source, "t2s-synth");
    EXPECT_EQ(t.model, "t2s-synth-agent");
    EXPECT_EQ(t.benchmark, "synth-spreadsheet");
    EXPECT_EQ(t.meta, (json{{"synthetic", true}, {"generator", "t2s synth"}, {"seed", 7}}));
    ASSERT_FALSE(t.task.files.empty());
    EXPECT_TRUE(contains(t.task.instruction, t.task.files.front()));
    // Attempts of one task share the task.
    if (t.attempt > 0) {
      EXPECT_EQ(t.task, c.items[i - 1].trajectory.task);
    }
  }
}

TEST(SynthContent, IdsAreUniqueAndSizesRealistic) {
  const Corpus c = run(with(2000, 21));
  std::set<std::string> ids;
  std::set<std::string> instructions;
  double total = 0;
  std::size_t smallest = SIZE_MAX, largest = 0;
  for (const auto& e : c.items) {
    EXPECT_TRUE(ids.insert(e.id).second) << "duplicate id " << e.id;
    instructions.insert(e.trajectory.task.instruction);
    total += static_cast<double>(e.json.size());
    smallest = std::min(smallest, e.json.size());
    largest = std::max(largest, e.json.size());
  }
  const double average = total / static_cast<double>(c.items.size());
  EXPECT_GT(average, 3000);
  EXPECT_LT(average, 15000);
  EXPECT_GT(smallest, 1500u);
  EXPECT_LT(largest, 30000u);
  EXPECT_EQ(instructions.size(), 500u) << "every task has its own instruction";
}

TEST(SynthContent, NoiseOptionControlsRecoveredErrors) {
  const std::vector<std::string> errors = {"ModuleNotFoundError", "FileNotFoundError", "SyntaxError",
                                           "NameError: name 'load_workbook'", "KeyError: 'Worksheet"};
  auto noisy = [&](const Emitted& e) {
    const std::string text = tool_text(e.trajectory);
    return std::any_of(errors.begin(), errors.end(), [&](const std::string& s) { return contains(text, s); });
  };
  Options options = with(400);
  options.noise = 0.0;
  for (const auto& e : run(options).items) EXPECT_FALSE(noisy(e)) << e.id;
  options.noise = 1.0;
  for (const auto& e : run(options).items) EXPECT_TRUE(noisy(e)) << e.id;
  // Noise leaves the planting alone, and recovers: the verdict is the same with or without it.
  options.noise = 0.0;
  const Corpus quiet = run(options);
  options.noise = 1.0;
  const Corpus loud = run(options);
  for (std::size_t i = 0; i < quiet.items.size(); ++i)
    EXPECT_EQ(quiet.items[i].trajectory.outcome.success, loud.items[i].trajectory.outcome.success);
}

TEST(SynthContent, EmptyCorpus) {
  const Corpus c = run(with(0));
  EXPECT_TRUE(c.items.empty());
  EXPECT_EQ(c.truth["trajectories"], 0);
  EXPECT_EQ(c.truth["successes"], 0);
  EXPECT_EQ(c.truth["failures"], 0);
}

// ---------------------------------------------------------------------------- conditional habit

struct Group {
  std::uint64_t runs = 0, successes = 0;
  void add(bool success) { ++runs, successes += success ? 1 : 0; }
  double rate() const { return runs ? static_cast<double>(successes) / static_cast<double>(runs) : 0.0; }
};

void expect_rate(const Group& group, double p, const std::string& what) {
  ASSERT_GT(group.runs, 100u) << what;
  const double sigma = std::sqrt(p * (1 - p) / static_cast<double>(group.runs));
  EXPECT_NEAR(group.rate(), p, 4.5 * sigma) << what << ": " << group.successes << " of " << group.runs;
}

// Updaters are the attempts of the tasks that ask for a totals row, which they write with
// update_cells; the habit is describe_sheet before update_cells. Where nothing else goes wrong (the
// run succeeds, or fails only because the write landed in the wrong row), the habit decides: about
// 93% of the runs with it succeed and 60% without. Everything here is read from the trajectories.
TEST(SynthConditionalHabit, LiftsSuccessAmongUpdatersButHardlyOverall) {
  const std::uint64_t n = 4000;
  const Corpus c = run(with(n, 19));
  std::array<Group, 2> updaters{}, rest_right{};  // [looked first]
  Group everyone, habit;
  std::map<std::string, std::set<bool>> habit_in_task;  // tasks with a totals row: with/without seen
  std::set<std::string> update_tasks, other_tasks;
  std::size_t looks_elsewhere = 0, looks_after = 0;
  for (const auto& e : c.items) {
    const auto& t = e.trajectory;
    const UpdateView view = update_view(t);
    const bool success = t.outcome.success;
    everyone.add(success);
    EXPECT_EQ(view.looked_first, has(e.planted, "lookup-before-update")) << e.id;
    if (!view.updates) {
      other_tasks.insert(t.task_id);
      looks_elsewhere += view.looks ? 1 : 0;
      continue;
    }
    update_tasks.insert(t.task_id);
    habit_in_task[t.task_id].insert(view.looked_first);
    looks_after += view.looks && !view.looked_first ? 1 : 0;
    const bool wrong_write = !success && t.outcome.detail["mismatches"][0].value("cell", "") == view.range;
    if (wrong_write) {  // an ordinary difference: the last record's value replaced by the total
      EXPECT_TRUE(std::regex_match(t.outcome.detail["message"].get<std::string>(),
                                   std::regex("row ([0-9]+) differs from the expected output: [A-F]\\1 is [0-9]+, "
                                              "expected [0-9]+")))
          << t.outcome.detail;
    }
    updaters[view.looked_first].add(success);
    if (success || wrong_write) rest_right[view.looked_first].add(success);
    if (view.looked_first) habit.add(success);
  }
  // Every attempt of a task with a totals row updates; no attempt of another task does.
  for (const auto& task : update_tasks) EXPECT_FALSE(other_tasks.count(task)) << task;
  expect_rate(rest_right[1], 0.93, "with describe_sheet first");
  expect_rate(rest_right[0], 0.60, "without");
  // Among all updaters (other failures included) the habit still lifts success about 1.55 times...
  const double among_updaters = updaters[1].rate() / updaters[0].rate();
  EXPECT_GT(among_updaters, 1.3);
  EXPECT_LT(among_updaters, 1.9);
  // ... but overall it hardly shows.
  const double overall = habit.rate() / everyone.rate();
  EXPECT_GT(overall, 0.85);
  EXPECT_LT(overall, 1.25);
  // It varies within tasks: most tasks with a totals row have attempts with and without it (84% at
  // 4 attempts and rate 0.6).
  const auto mixed = std::count_if(habit_in_task.begin(), habit_in_task.end(),
                                   [](const auto& task) { return task.second.size() == 2; });
  EXPECT_GT(static_cast<double>(mixed), 0.75 * static_cast<double>(update_tasks.size()));
  // describe_sheet is also called where it changes nothing: a first look in other tasks, a look
  // after the update.
  EXPECT_GT(looks_elsewhere, n / 20);
  EXPECT_GT(looks_after, 50u);
  // The truth says the same.
  const json& truth = truth_pattern(c.truth, "lookup-before-update");
  EXPECT_EQ(truth["kind"], "conditional-habit");
  EXPECT_EQ(truth["condition"], "update_cells");
  EXPECT_EQ(truth["action"], "describe_sheet");
  EXPECT_EQ(truth["count"], updaters[1].runs);
  EXPECT_EQ(truth["updaters"], updaters[0].runs + updaters[1].runs);
  EXPECT_EQ(truth["planted_update_success"], (json{{"with", 0.93}, {"without", 0.6}}));
  const json& measured = truth["measured"];
  EXPECT_EQ(measured["with"]["successes"], updaters[1].successes);
  EXPECT_EQ(measured["without"]["successes"], updaters[0].successes);
  EXPECT_EQ(measured["with_rest_right"]["runs"], rest_right[1].runs);
  EXPECT_EQ(measured["without_rest_right"]["runs"], rest_right[0].runs);
  EXPECT_DOUBLE_EQ(measured["lift_overall"].get<double>(), overall);
}

// --rate lookup-before-update=R: the share of updaters that call describe_sheet first.
TEST(SynthConditionalHabit, RateIsTheShareOfUpdatersThatLookFirst) {
  for (const double rate : {0.0, 0.2, 0.8, 1.0}) {
    Options options = with(2400, 23);
    options.rates = {{"lookup-before-update", rate}};
    const Corpus c = run(options);
    Group looked;  // updaters; "success" = looked first
    for (const auto& e : c.items) {
      const UpdateView view = update_view(e.trajectory);
      if (view.updates) looked.add(view.looked_first);
    }
    const json& truth = truth_pattern(c.truth, "lookup-before-update");
    EXPECT_EQ(truth["rate"], rate);
    EXPECT_EQ(truth["count"], looked.successes);
    ASSERT_GT(looked.runs, 400u);
    const double sigma = std::sqrt(rate * (1 - rate) / static_cast<double>(looked.runs));
    EXPECT_NEAR(looked.rate(), rate, 4.5 * sigma + 1e-12) << rate;
  }
}

TEST(SynthConditionalHabit, UpdatersOptionSetsTheShareOfTasks) {
  Options options = with(400);
  options.updaters = 0.0;
  Corpus c = run(options);
  for (const auto& e : c.items) {
    for (const auto& [name, arguments] : calls(e.trajectory)) EXPECT_TRUE(name == "python" || name == "bash") << name;
    EXPECT_FALSE(contains(e.trajectory.messages.front().text(), "update_cells"));
    EXPECT_FALSE(has(e.planted, "lookup-before-update"));
  }
  EXPECT_EQ(truth_pattern(c.truth, "lookup-before-update")["updaters"], 0);
  EXPECT_EQ(c.truth["options"]["updaters"], 0.0);
  options.updaters = 1.0;
  c = run(options);
  for (const auto& e : c.items) {
    EXPECT_TRUE(update_view(e.trajectory).updates) << e.id;
    EXPECT_TRUE(contains(e.trajectory.messages.front().text(), "update_cells"));
    // The task asks for the totals row, and the gold says where it goes.
    EXPECT_TRUE(contains(e.trajectory.task.instruction, "total")) << e.trajectory.task.instruction;
    EXPECT_TRUE(e.trajectory.task.gold["totals"]["cell"].is_string());
  }
  EXPECT_EQ(truth_pattern(c.truth, "lookup-before-update")["updaters"], 400);
  for (const double bad : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    options.updaters = bad;
    EXPECT_THROW(t2s::synth::generate(options, {}), t2s::InputError) << bad;
  }
}

// -------------------------------------------------------------------------------------- literals

// The two failure modes whose lessons need a literal show it verbatim: the same KeyError key and the
// same regular expression in every run, around values that differ per run.
TEST(SynthLiterals, TheKeyAndTheRegexAppearVerbatim) {
  const Corpus c = run(with(3000, 29));
  const std::regex message_form(R"(value 'X-([0-9]+)' does not match \^X-\[0-9\]\{6\}\$ \(cell [G-I][0-9]+, .*)");
  const std::regex code_form(pattern("ref-code-format").literal);  // the checker's own pattern
  std::size_t key_runs = 0, ref_runs = 0, good_codes = 0, right_key = 0;
  std::set<std::string> quoted, list_tasks, failing_list_tasks;
  for (const auto& e : c.items) {
    const auto& t = e.trajectory;
    const std::string text = tool_text(t);
    const std::string message = t.outcome.detail["message"];
    bool key_error_line = false;  // a tool output whose last line is exactly the error
    for (const auto& m : t.messages)
      if (m.role == "tool") {
        const std::string out = m.text();
        key_error_line |= out.substr(out.rfind('\n') + 1) == "KeyError: 'price'";
      }
    EXPECT_EQ(key_error_line, has(e.planted, "price-key-error")) << e.id;
    if (has(e.planted, "price-key-error")) {
      ++key_runs;
      failing_list_tasks.insert(t.task_id);
    }
    if (contains(text, "item[\"unit_price\"]")) {
      ++right_key;
      list_tasks.insert(t.task_id);
    }
    std::smatch match;
    if (has(e.planted, "ref-code-format")) {
      ++ref_runs;
      ASSERT_TRUE(std::regex_match(message, match, message_form)) << message;
      EXPECT_LT(match[1].str().size(), 6u);
      EXPECT_FALSE(std::regex_match("X-" + match[1].str(), code_form));
      quoted.insert(match[1].str());
    } else {
      EXPECT_FALSE(contains(message, "^X-")) << message;
      static const std::regex written(R"(Ref codes, e\.g\. (\S+))");
      if (std::regex_search(text, match, written) && !has(e.planted, "active-sheet-edit")) {
        EXPECT_TRUE(std::regex_match(match[1].str(), code_form)) << match[1];
        ++good_codes;
      }
    }
  }
  EXPECT_GT(key_runs, 60u);
  EXPECT_GT(ref_runs, 60u);
  EXPECT_GT(good_codes, 100u);
  EXPECT_GT(quoted.size(), ref_runs * 9 / 10) << "the quoted values differ per run";
  // Other attempts of the same tasks read the right key; the step is not a sign of failure alone.
  EXPECT_GT(right_key, key_runs);
  std::size_t shared = 0;
  for (const auto& task : failing_list_tasks) shared += list_tasks.count(task);
  EXPECT_GT(shared, failing_list_tasks.size() / 2);
  EXPECT_GT(list_tasks.size(), failing_list_tasks.size());
  // The truth names the literals.
  EXPECT_EQ(truth_pattern(c.truth, "price-key-error")["literal"], "'price'");
  EXPECT_EQ(truth_pattern(c.truth, "ref-code-format")["literal"], "^X-[0-9]{6}$");
  EXPECT_FALSE(truth_pattern(c.truth, "stale-formula-values").contains("literal"));
}

// --------------------------------------------------------------------------------- write_corpus

std::vector<std::string> read_lines(const std::filesystem::path& path, bool& newline_terminated) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  newline_terminated = text.empty() || text.back() == '\n';
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

TEST(SynthWriteCorpus, WritesMatchingFiles) {
  const std::filesystem::path dir = std::filesystem::path(testing::TempDir()) / "t2s_synth_corpus" / "nested";
  std::filesystem::remove_all(dir.parent_path());
  Options options = with(150, 17);
  const json truth = t2s::synth::write_corpus(options, dir);
  const Corpus expected = run(options);
  EXPECT_EQ(truth, expected.truth);

  bool terminated = false;
  const auto records = read_lines(dir / "trajectories.jsonl", terminated);
  EXPECT_TRUE(terminated);
  const auto truth_lines = read_lines(dir / "truth.jsonl", terminated);
  EXPECT_TRUE(terminated);
  ASSERT_EQ(records.size(), 150u);
  ASSERT_EQ(truth_lines.size(), 150u);
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i], expected.items[i].json) << i;
    const json line = json::parse(truth_lines[i]);
    EXPECT_EQ(truth_lines[i], t2s::canonical_json(line));
    EXPECT_EQ(line["id"], expected.items[i].id);
    EXPECT_EQ(line["task_id"], expected.items[i].trajectory.task_id);
    EXPECT_EQ(line["success"], expected.items[i].trajectory.outcome.success);
    EXPECT_EQ(line["planted"], expected.items[i].planted);
  }
  std::ifstream summary(dir / "truth.json");
  std::stringstream text;
  text << summary.rdbuf();
  EXPECT_EQ(json::parse(text.str()), truth);
  EXPECT_EQ(text.str(), truth.dump(2) + "\n");
  std::filesystem::remove_all(dir.parent_path());
}

}  // namespace
