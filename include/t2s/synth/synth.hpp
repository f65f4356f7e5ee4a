// synth: a seeded generator of realistic, synthetic OpenAI-format agent trajectories for a
// spreadsheet-editing domain, with planted recurring failure modes and winning habits at chosen
// rates, plus noise. The planted truth is returned (and written beside the corpus) so that later
// stages can be scored on what they recover. Same options → byte-identical output, everywhere.
//
// Every trajectory says what it is: source "t2s-synth", model "t2s-synth-agent", meta.synthetic.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "t2s/trace/trajectory.hpp"

namespace t2s::synth {

// A pattern the generator can plant.
struct Pattern {
  // failure: a failure mode (causes failures); habit: a winning habit (in successes); conditional
  // habit: "before `condition`, call `action`", which matters only among the runs that call
  // `condition` (there it lifts success; elsewhere it is not done or does nothing).
  enum class Kind { failure, habit, conditional_habit };
  std::string id;                      // e.g. "stale-formula-values"
  Kind kind;
  // Failure modes and habits: fraction of trajectories that carry it by default. Conditional
  // habits: fraction of the runs that call `condition` (the updaters) that do `action` first.
  double default_rate;
  std::string symptom;                 // what shows in the trajectory (tool output, checker feedback)
  std::string lesson;                  // the skill lesson an analyst should recover from it
  // Text a lesson must keep verbatim to be useful (a quoted key, a regular expression); "" if none.
  std::string literal;
  std::string condition, action;       // conditional habits: the tools, e.g. "update_cells", "describe_sheet"
};

// The catalogue of plantable patterns, in a fixed order.
const std::vector<Pattern>& patterns();

struct Options {
  std::uint64_t seed = 7;
  std::uint64_t trajectories = 240;  // total trajectories
  std::uint32_t attempts = 4;        // attempts per task: tasks = ceil(trajectories / attempts)
  double noise = 0.3;                // chance of an unrelated, recovered-from error per trajectory
  // Share of tasks that ask for a totals row, which every attempt writes with the update_cells tool
  // (the "updaters" of the conditional habit lookup-before-update). 0: no task has the spreadsheet
  // tools, and with the rates of the literal failure modes at 0 the corpus is the one made before
  // they existed (trajectories.jsonl and truth.jsonl byte for byte).
  double updaters = 0.3;
  std::map<std::string, double> rates;  // pattern id → rate, overriding default_rate
};

// Called once per trajectory, in generation order, with the ids of the patterns planted in it.
using Emit = std::function<void(const trace::Trajectory&, const std::vector<std::string>& planted)>;

// Generates the corpus. Returns the planted truth: options, and per pattern its kind, rate, count of
// trajectories carrying it, symptom and lesson, its literal when it has one, and for a conditional
// habit its condition, action and the success rates measured with and without it (see README
// "Synthetic corpus"). Throws InputError for an unknown pattern id, or a rate or share of updaters
// outside [0, 1].
nlohmann::json generate(const Options& options, const Emit& emit);

// Writes DIR/trajectories.jsonl (canonical records, one per line), DIR/truth.json (the truth above)
// and DIR/truth.jsonl (one line per trajectory: {"id", "task_id", "success", "planted"}).
// Returns the truth.
nlohmann::json write_corpus(const Options& options, const std::filesystem::path& directory);

}  // namespace t2s::synth
