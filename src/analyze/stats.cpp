// analyze/stats: the corpus-level miner behind the `stats` analyst (see the header).
#include "t2s/analyze/stats.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <cmath>
#include <numeric>
#include <set>

#include "t2s/core/error.hpp"
#include "t2s/core/sha256.hpp"

namespace t2s::analyze {
namespace {

using nlohmann::json;

double share(double part, double whole) { return whole == 0 ? 0.0 : part / whole; }

std::string percent(double fraction) { return std::to_string(static_cast<long long>(std::llround(fraction * 100))) + "%"; }

std::string code_span(std::string_view text) {  // a Markdown code span that cannot break out
  std::string out = "`";
  for (char c : text) out += (c == '`' || c == '\n' || c == '\r') ? '\'' : c;
  return out + "`";
}

bool is_symptom(std::string_view feature) { return feature.starts_with("check: ") || feature.starts_with("error: "); }

// The task family of a task id: what precedes its first digit or separator ("HumanEval_95_x" →
// "HumanEval", "pick_and_place_simple-Mug-…" → "pick_and_place_simple", "17" → "").
std::string family_of(std::string_view task_id) {
  std::size_t end = 0;
  while (end < task_id.size() && !std::isdigit(static_cast<unsigned char>(task_id[end])) &&
         std::string_view("-/:.# ").find(task_id[end]) == std::string_view::npos)
    ++end;
  std::string_view family = task_id.substr(0, end);
  while (!family.empty() && family.back() == '_') family.remove_suffix(1);
  return std::string(family);
}

std::uint32_t fold_of(std::string_view task_id, std::uint32_t folds) {
  const auto digest = sha256(task_id);
  const std::uint32_t word = (static_cast<std::uint32_t>(digest[0]) << 24) | (static_cast<std::uint32_t>(digest[1]) << 16) |
                             (static_cast<std::uint32_t>(digest[2]) << 8) | static_cast<std::uint32_t>(digest[3]);
  return folds <= 1 ? 0 : word % folds;
}

// Adds a complete task's counts (feature → runs showing it that succeeded / failed; the key "" counts
// every run that is counted at all) to the tallies. A feature is compared among the runs its
// condition applies to: all runs, or the runs showing the condition.
template <typename Counts, typename TallyOf, typename ConditionOf>
void contribute(const TaskPlan& plan, std::uint32_t task_index, const Counts& counts, TallyOf&& tally_of, ConditionOf&& condition_of_key) {
  const auto& task = plan.tasks()[task_index];
  for (const auto& [key, sf] : counts) {
    const auto [s, f] = sf;
    FeatureTally& t = tally_of(key);
    t.successes += s;
    t.failures += f;
    ++t.tasks;
    if (s > 0) ++t.success_tasks;
    if (f > 0) ++t.failure_tasks;
    if (task.pool >= 0) {
      auto& p = t.pooled[static_cast<std::uint32_t>(task.pool)];
      p.first += s + f;
      p.second += s;
      continue;
    }
    const auto condition = counts.find(condition_of_key(key));
    if (condition == counts.end()) continue;
    const Table table{condition->second.first + condition->second.second, condition->second.first, s + f, s};
    if (table.informative() && table.valid()) ++t.tables[{task.fold, table}];
  }
}

void merge_tally(FeatureTally& into, const FeatureTally& from) {
  into.successes += from.successes;
  into.failures += from.failures;
  into.tasks += from.tasks;
  into.success_tasks += from.success_tasks;
  into.failure_tasks += from.failure_tasks;
  for (const auto& [key, count] : from.tables) into.tables[key] += count;
  for (const auto& [pool, counts] : from.pooled) {
    auto& p = into.pooled[pool];
    p.first += counts.first;
    p.second += counts.second;
  }
}

json tally_json(const FeatureTally& t) {
  json tables = json::array(), pooled = json::array();
  for (const auto& [key, count] : t.tables) tables.push_back({key.first, key.second.n, key.second.m, key.second.k, key.second.a, count});
  for (const auto& [pool, counts] : t.pooled) pooled.push_back({pool, counts.first, counts.second});
  return {t.successes, t.failures, t.tasks, t.success_tasks, t.failure_tasks, tables, pooled};
}

FeatureTally tally_from_json(const json& v) {
  FeatureTally t;
  t.successes = v.at(0).get<std::uint64_t>();
  t.failures = v.at(1).get<std::uint64_t>();
  t.tasks = v.at(2).get<std::uint64_t>();
  t.success_tasks = v.at(3).get<std::uint64_t>();
  t.failure_tasks = v.at(4).get<std::uint64_t>();
  for (const auto& r : v.at(5))
    t.tables[{r.at(0).get<std::uint32_t>(), Table{r.at(1).get<std::uint32_t>(), r.at(2).get<std::uint32_t>(),
                                                   r.at(3).get<std::uint32_t>(), r.at(4).get<std::uint32_t>()}}] = r.at(5).get<std::uint64_t>();
  for (const auto& r : v.at(6)) t.pooled[r.at(0).get<std::uint32_t>()] = {r.at(1).get<std::uint64_t>(), r.at(2).get<std::uint64_t>()};
  return t;
}

void put_varint(std::vector<std::uint8_t>& out, std::uint32_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(value));
}

}  // namespace

// ------------------------------------------------------------------------------------- options

StatsOptions StatsOptions::from_json(const json& table, const std::string& where) {
  StatsOptions o;
  if (table.is_null()) return o;
  if (!table.is_object()) throw InputError(where + ": must be a table");
  for (const auto& [key, value] : table.items()) {
    const auto number = [&](double lo, double hi) {
      if (!value.is_number()) throw InputError(where + "." + key + ": must be a number");
      const double v = value.get<double>();
      if (!(v >= lo && v <= hi)) throw InputError(where + "." + key + ": must be between " + std::to_string(lo) + " and " + std::to_string(hi));
      return v;
    };
    const auto text = [&] {
      if (!value.is_string()) throw InputError(where + "." + key + ": must be a string");
      return value.get<std::string>();
    };
    if (key == "min_support") o.min_support = static_cast<std::uint64_t>(number(1, 1e12));
    else if (key == "min_tasks") o.min_tasks = static_cast<std::uint64_t>(number(1, 1e12));
    else if (key == "min_task_share") o.min_task_share = number(0, 1);
    else if (key == "fdr") o.fdr = number(0, 1);
    else if (key == "min_difference") o.min_difference = number(0, 1);
    else if (key == "folds") o.folds = static_cast<std::uint32_t>(number(1, 20));
    else if (key == "replication") o.replication = number(0, 1);
    else if (key == "min_mixed_tasks") o.min_mixed_tasks = static_cast<std::uint64_t>(number(0, 1e12));
    else if (key == "template_similarity") o.template_similarity = number(0, 1);
    else if (key == "max_lessons") o.max_lessons = static_cast<std::size_t>(number(0, 1e6));
    else if (key == "report_candidates") o.report_candidates = static_cast<std::size_t>(number(0, 1e6));
    else if (key == "failure_section") o.failure_section = text();
    else if (key == "habit_section") o.habit_section = text();
    else if (key == "single_runs") {
      const std::string v = text();
      if (v == "auto") o.single_runs = SingleRuns::automatic;
      else if (v == "pooled") o.single_runs = SingleRuns::pooled;
      else if (v == "ignored") o.single_runs = SingleRuns::ignored;
      else throw InputError(where + ".single_runs: must be \"auto\", \"pooled\" or \"ignored\", not \"" + v + "\"");
    } else {
      throw InputError(where + "." + key + ": unknown key");
    }
  }
  for (const auto* section : {&o.failure_section, &o.habit_section})
    if (!section->starts_with("## ") || section->size() < 4 || section->find('\n') != std::string::npos)
      throw InputError(where + ": a section must be a level-2 heading like \"## Known failure modes\", not \"" + *section + "\"");
  return o;
}

json StatsOptions::to_json() const {
  const char* single = single_runs == SingleRuns::automatic ? "auto" : single_runs == SingleRuns::pooled ? "pooled" : "ignored";
  return {{"min_support", min_support},       {"min_tasks", min_tasks},
          {"min_task_share", min_task_share}, {"fdr", fdr},
          {"min_difference", min_difference}, {"folds", folds},
          {"replication", replication},       {"single_runs", single},
          {"min_mixed_tasks", min_mixed_tasks}, {"template_similarity", template_similarity},
          {"max_lessons", max_lessons},       {"report_candidates", report_candidates},
          {"failure_section", failure_section}, {"habit_section", habit_section}};
}

Label label_of(const trace::Trajectory& trajectory) {
  if (!trajectory.outcome.labelled) return Label::unlabelled;
  return trajectory.outcome.success ? Label::success : Label::failure;
}

// ------------------------------------------------------------------------------------ the plan

TaskPlan::TaskPlan(const std::vector<std::string>& task_ids, const std::vector<std::int8_t>& labels, const StatsOptions& options)
    : row_task_(task_ids.size(), kNone), labels_(labels) {
  std::map<std::string_view, std::uint32_t> index;
  for (std::uint64_t row = 0; row < task_ids.size(); ++row) {
    if (labels[row] < 0) continue;
    const auto [it, inserted] = index.emplace(task_ids[row], static_cast<std::uint32_t>(tasks_.size()));
    if (inserted) tasks_.push_back({task_ids[row], 0, 0, row, row, fold_of(task_ids[row], options.folds), -1});
    Task& task = tasks_[it->second];
    row_task_[row] = it->second;
    ++task.runs;
    task.successes += labels[row] > 0;
    task.last_row = row;
  }
  for (const auto& t : tasks_) mixed_ += t.successes > 0 && t.successes < t.runs;
  const bool pool = options.single_runs == StatsOptions::SingleRuns::pooled ||
                    (options.single_runs == StatsOptions::SingleRuns::automatic && mixed_ < options.min_mixed_tasks);
  if (!pool) return;
  std::map<std::pair<std::string, std::uint32_t>, std::size_t> pool_index;
  for (auto& t : tasks_) {
    if (t.runs != 1) continue;
    const auto key = std::make_pair(family_of(t.id), t.fold);
    const auto [it, inserted] = pool_index.emplace(key, pools_.size());
    if (inserted) pools_.push_back({key.first, key.second, 0, 0});
    t.pool = static_cast<std::int64_t>(it->second);
    ++pools_[it->second].runs;
    pools_[it->second].successes += t.successes;
  }
}

Label TaskPlan::label_of(std::uint64_t row) const {
  return labels_[row] < 0 ? Label::unlabelled : labels_[row] > 0 ? Label::success : Label::failure;
}

// -------------------------------------------------------------------------------------- counts

void MinedCounts::merge(const MinedCounts& other) {
  trajectories += other.trajectories;
  successes += other.successes;
  failures += other.failures;
  for (const auto& [feature, tally] : other.features) merge_tally(features[feature], tally);
  for (const auto& [task, counts] : other.open_tasks) {
    auto& into = open_tasks[task];
    for (const auto& [feature, sf] : counts) {
      into[feature].first += sf.first;
      into[feature].second += sf.second;
    }
  }
  for (const auto& [task, runs] : other.open_runs) open_runs[task] += runs;
}

void MinedCounts::settle(const TaskPlan& plan) {
  for (auto it = open_runs.begin(); it != open_runs.end();) {
    const std::uint32_t task = it->first;
    if (it->second < plan.tasks()[task].runs) {
      ++it;
      continue;
    }
    contribute(
        plan, task, open_tasks[task], [&](const std::string& f) -> FeatureTally& { return features[f]; },
        [](const std::string& f) { return condition_of(f); });
    open_tasks.erase(task);
    it = open_runs.erase(it);
  }
}

json MinedCounts::to_json() const {
  json f = json::object(), open = json::array();
  for (const auto& [feature, tally] : features) f[feature] = tally_json(tally);
  for (const auto& [task, runs] : open_runs) {
    json counts = json::object();
    if (const auto it = open_tasks.find(task); it != open_tasks.end())
      for (const auto& [feature, sf] : it->second) counts[feature] = {sf.first, sf.second};
    open.push_back({task, runs, counts});
  }
  return {{"trajectories", trajectories}, {"successes", successes}, {"failures", failures}, {"features", f}, {"open", open}};
}

MinedCounts MinedCounts::from_json(const json& value) {
  MinedCounts c;
  c.trajectories = value.at("trajectories").get<std::uint64_t>();
  c.successes = value.at("successes").get<std::uint64_t>();
  c.failures = value.at("failures").get<std::uint64_t>();
  for (const auto& [feature, tally] : value.at("features").items()) c.features[feature] = tally_from_json(tally);
  for (const auto& item : value.at("open")) {
    const auto task = item.at(0).get<std::uint32_t>();
    c.open_runs[task] = item.at(1).get<std::uint32_t>();
    auto& counts = c.open_tasks[task];
    for (const auto& [feature, sf] : item.at(2).items()) counts[feature] = {sf.at(0).get<std::uint32_t>(), sf.at(1).get<std::uint32_t>()};
  }
  return c;
}

// ----------------------------------------------------------------------------------- one shard

ShardMiner::ShardMiner(const TaskPlan& plan, std::uint64_t first_row, std::uint64_t end_row)
    : plan_(plan), first_(first_row), end_(end_row) {
  offsets_.push_back(0);
  intern("");  // id 0: every run counted
}

std::uint32_t ShardMiner::intern(const std::string& feature) {
  const auto [it, inserted] = index_.emplace(feature, static_cast<std::uint32_t>(names_.size()));
  if (inserted) {
    names_.push_back(&it->first);
    condition_.push_back(0);
    if (!feature.empty()) {
      const std::uint32_t c = intern(condition_of(feature));
      condition_[it->second] = c;
    }
  }
  return it->second;
}

void ShardMiner::add(std::uint64_t row, const Features& features) {
  if (row != first_ + offsets_.size() - 1) throw Error("ShardMiner: rows must be added in order");
  std::vector<std::uint32_t> ids{0};
  ids.reserve(features.symptoms.size() + features.actions.size() + 1);
  for (const auto* list : {&features.symptoms, &features.actions})
    for (const auto& f : *list) ids.push_back(intern(f));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::uint32_t previous = 0;
  for (const auto id : ids) {
    put_varint(packed_, id - previous);
    previous = id;
  }
  offsets_.push_back(packed_.size());
}

std::vector<std::uint32_t> ShardMiner::ids_of(std::uint64_t i) const {
  std::vector<std::uint32_t> ids;
  std::uint32_t id = 0;
  for (std::uint64_t at = offsets_[i]; at < offsets_[i + 1];) {
    std::uint32_t delta = 0;
    for (int shift = 0;; shift += 7) {
      const std::uint8_t byte = packed_[at++];
      delta |= static_cast<std::uint32_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) break;
    }
    id += delta;
    ids.push_back(id);
  }
  return ids;
}

MinedCounts ShardMiner::counts(const std::vector<std::string>& excluding, const std::vector<std::string>& only) const {
  std::vector<bool> excluded(names_.size(), false), wanted(names_.size(), only.empty());
  for (const auto& f : excluding)
    if (const auto it = index_.find(f); it != index_.end()) excluded[it->second] = true;
  wanted[0] = true;
  for (const auto& f : only)
    if (const auto it = index_.find(f); it != index_.end()) wanted[it->second] = wanted[condition_[it->second]] = true;
  MinedCounts out;
  std::vector<FeatureTally> tallies(names_.size());
  std::map<std::uint32_t, Open> open;
  const auto finish = [&](std::uint32_t task, const Open& o) {
    contribute(
        plan_, task, o.counts, [&](std::uint32_t id) -> FeatureTally& { return tallies[id]; },
        [&](std::uint32_t id) { return condition_[id]; });
  };
  for (std::uint64_t i = 0; i + 1 < offsets_.size(); ++i) {
    const std::uint64_t row = first_ + i;
    ++out.trajectories;
    const Label label = plan_.label_of(row);
    if (label == Label::unlabelled) continue;
    const std::uint32_t task = plan_.task_of(row);
    Open& o = open[task];
    ++o.runs;
    const auto ids = ids_of(i);
    if (!std::any_of(ids.begin(), ids.end(), [&](std::uint32_t id) { return excluded[id]; })) {
      ++(label == Label::success ? out.successes : out.failures);
      for (const auto id : ids)
        if (wanted[id]) ++(label == Label::success ? o.counts[id].first : o.counts[id].second);
    }
    const auto& t = plan_.tasks()[task];
    if (o.runs == t.runs && t.first_row >= first_ && t.last_row < end_) {
      finish(task, o);
      open.erase(task);
    }
  }
  for (std::uint32_t id = 0; id < names_.size(); ++id)
    if (!(tallies[id] == FeatureTally{})) out.features.emplace(*names_[id], std::move(tallies[id]));
  for (const auto& [task, o] : open) {
    out.open_runs[task] = o.runs;
    auto& counts = out.open_tasks[task];
    for (const auto& [id, sf] : o.counts) counts[*names_[id]] = sf;
  }
  return out;
}

std::vector<std::string> ShardMiner::features_of(std::uint64_t row) const {
  std::vector<std::string> out;
  if (!has(row)) return out;
  for (const auto id : ids_of(row - first_))
    if (id != 0) out.push_back(*names_[id]);
  std::sort(out.begin(), out.end());
  return out;
}

// ------------------------------------------------------------------------------------ deciding

namespace {

// How a feature reads as an instruction.
std::string instruction(std::string_view feature) {
  const auto colon = feature.find(':');
  const std::string_view kind = feature.substr(0, colon), name = feature.substr(colon + 1);
  if (kind == "tool") return "Call the " + code_span(name) + " tool";
  if (kind == "arg") {
    const auto dot = name.rfind('.');
    return "Pass " + code_span(name.substr(dot + 1)) + " to " + code_span(name.substr(0, dot));
  }
  if (kind == "call") return "Use " + code_span(std::string(name) + "()") + " in code";
  if (kind == "kw") return name.ends_with('=') ? "Pass the keyword argument " + code_span(name) : "Pass " + code_span(name);
  if (kind == "import") return "Import " + code_span(name);
  if (kind == "except") return "Catch " + code_span(name);
  if (kind == "raise") return "Raise " + code_span(name);
  if (kind == "cmd") return "Run " + code_span(name);
  if (kind == "flag") return "Pass the " + code_span(name) + " flag";
  if (kind == "before") {
    const auto lt = name.rfind('<');
    return "Before calling " + code_span(name.substr(lt + 1)) + ", call " + code_span(name.substr(0, lt));
  }
  if (kind == "after") {
    const auto sep = name.find(kAfterSeparator);
    return "After the tool error " + code_span(name.substr(sep + 1 + 7)) + ", call " + code_span(name.substr(0, sep));
  }
  return "Do " + code_span(feature);
}

std::string symptom_display(std::string_view symptom) {
  if (symptom.starts_with("check: ")) return "the checker's " + code_span(symptom.substr(7));
  if (symptom.starts_with("error: ")) return "the tool error " + code_span(symptom.substr(7));
  return code_span(symptom);
}

// Lower is preferred when features have the same evidence.
int priority(std::string_view feature) {
  static constexpr std::array<std::string_view, 12> kOrder = {"check", "error", "tool", "call", "import", "except",
                                                              "raise", "kw",    "flag", "cmd",  "arg",    "before"};
  const auto kind = feature.substr(0, feature.find(':'));
  const auto it = std::find(kOrder.begin(), kOrder.end(), kind);
  return static_cast<int>(it - kOrder.begin());
}

struct Candidate {
  std::string feature;
  Lesson::Kind kind = Lesson::Kind::habit;
  const FeatureTally* tally = nullptr;
  Association association;
  std::uint64_t own_strata = 0, pooled_runs = 0;
  double q = 1.0;
  std::uint32_t informative_folds = 0, agreeing_folds = 0;
  std::string verdict;  // empty: a lesson
  std::uint64_t support() const { return kind == Lesson::Kind::habit ? tally->successes : tally->failures; }
  std::uint64_t support_tasks() const { return kind == Lesson::Kind::habit ? tally->success_tasks : tally->failure_tasks; }
};

std::string fixed(double value, int digits) {
  if (std::isinf(value)) return "inf";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.*g", digits, value);
  return buffer;
}

json candidate_json(const Candidate& c) {
  return {{"feature", c.feature},
          {"kind", c.kind == Lesson::Kind::habit ? "habit" : "failure"},
          {"support_runs", c.support()},
          {"support_tasks", c.support_tasks()},
          {"runs_with", c.tally->successes + c.tally->failures},
          {"tasks_with", c.tally->tasks},
          {"p", c.association.p_value},
          {"q", c.q},
          {"exact", c.association.exact},
          {"odds_ratio", std::isinf(c.association.odds_ratio) ? json("inf") : json(c.association.odds_ratio)},
          {"risk_difference", c.association.risk_difference},
          {"strata", c.association.strata},
          {"own_tasks", c.own_strata},
          {"pooled_runs", c.pooled_runs},
          {"with_runs", c.association.with_runs},
          {"with_successes", c.association.with_successes},
          {"without_runs", c.association.without_runs},
          {"without_successes", c.association.without_successes},
          {"folds", {c.agreeing_folds, c.informative_folds}},
          {"verdict", c.verdict.empty() ? "lesson" : c.verdict}};
}

// "Within the same 12 tasks" / "Across 80 tasks of one run each (compared within their family)".
std::string where(const Candidate& c) {
  if (c.pooled_runs == 0) return "within the same " + std::to_string(c.own_strata) + " tasks";
  if (c.own_strata == 0) return "across " + std::to_string(c.pooled_runs) + " tasks of one run each (compared within their task family)";
  return "within the same " + std::to_string(c.own_strata) + " tasks and across " + std::to_string(c.pooled_runs) + " one-run tasks";
}

std::string replicated(const Candidate& c) {
  return "replicated in " + std::to_string(c.agreeing_folds) + " of " + std::to_string(c.informative_folds) + " held-out task folds";
}

std::string lesson_text(const Candidate& c, const std::vector<std::string>& similar, const std::string& recovery) {
  const Association& a = c.association;
  const double with_rate = share(static_cast<double>(a.with_successes), static_cast<double>(a.with_runs));
  const double without_rate = share(static_cast<double>(a.without_successes), static_cast<double>(a.without_runs));
  std::string out = "- **";
  if (c.kind == Lesson::Kind::failure) {
    out += "Watch for " + symptom_display(c.feature);
    if (!similar.empty()) out += " (or the similar " + (similar.size() == 1 ? code_span(similar.front().substr(7)) : std::to_string(similar.size()) + " similar symptoms") + ")";
    out += ".** ";
    std::string w = where(c);
    w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
    out += w + ", " + percent(1 - with_rate) + " of the " + std::to_string(a.with_runs) + " runs that showed it failed, against " +
           percent(1 - without_rate) + " of the " + std::to_string(a.without_runs) + " that did not (" + replicated(c) + "). ";
    out += recovery.empty() ? "The data shows no action that avoids it: check for it before finishing."
                            : "Runs that hit it and then called " + code_span(recovery) + " passed more often (see the habits).";
    return out;
  }
  out += instruction(c.feature) + ".** ";
  std::string lead;
  if (c.feature.starts_with("before:")) {
    const auto lt = c.feature.rfind('<');
    lead = "Among runs that called " + code_span(std::string_view(c.feature).substr(lt + 1)) + ", " + where(c) + ", " +
           percent(with_rate) + " of the " + std::to_string(a.with_runs) + " that called " +
           code_span(std::string_view(c.feature).substr(7, lt - 7)) + " first passed";
  } else if (c.feature.starts_with("after:")) {
    lead = "Among runs that hit that error, " + where(c) + ", " + percent(with_rate) + " of the " + std::to_string(a.with_runs) +
           " that then did so passed";
  } else {
    lead = where(c) + ", " + percent(with_rate) + " of the " + std::to_string(a.with_runs) + " runs that did passed";
    lead[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(lead[0])));
  }
  return out + lead + ", against " + percent(without_rate) + " of the " + std::to_string(a.without_runs) + " that did not (" +
         replicated(c) + ").";
}

// The evidence of a feature in `counts`: the association over all its strata (tasks, and pools of
// one-run tasks) and its direction in each held-out fold.
void weigh(Candidate& c, const MinedCounts& counts, const TaskPlan& plan, std::uint32_t folds) {
  c.own_strata = c.pooled_runs = c.informative_folds = c.agreeing_folds = 0;
  const auto it = counts.features.find(c.feature);
  if (it == counts.features.end()) {
    c.association = {};
    return;
  }
  const FeatureTally& tally = it->second;
  const auto condition = counts.features.find(condition_of(c.feature));
  TableCounts all;
  std::vector<TableCounts> by_fold(folds);
  for (const auto& [key, count] : tally.tables) {
    all[key.second] += count;
    by_fold[key.first % folds][key.second] += count;
    c.own_strata += count;
  }
  for (const auto& [pool, with] : tally.pooled) {
    if (condition == counts.features.end()) break;
    const auto base = condition->second.pooled.find(pool);
    if (base == condition->second.pooled.end()) continue;
    const Table table{static_cast<std::uint32_t>(base->second.first), static_cast<std::uint32_t>(base->second.second),
                      static_cast<std::uint32_t>(with.first), static_cast<std::uint32_t>(with.second)};
    if (!table.valid() || !table.informative()) continue;
    ++all[table];
    ++by_fold[plan.pools()[pool].fold % folds][table];
    c.pooled_runs += table.n;
  }
  c.association = associate(all);
  const double sign = c.association.risk_difference;
  for (const auto& fold : by_fold) {
    const Association a = associate(fold);
    if (a.strata == 0) continue;
    ++c.informative_folds;
    if ((a.risk_difference > 0 && sign > 0) || (a.risk_difference < 0 && sign < 0)) ++c.agreeing_folds;
  }
}

}  // namespace

std::string Lesson::id() const {
  return std::string(kind == Kind::failure ? "failure-" : "habit-") + to_hex(sha256(key())).substr(0, 8);
}

Decision decide(const MinedCounts& total, const TaskPlan& plan, const StatsOptions& options, const Recount& recount) {
  if (!total.open_tasks.empty()) throw Error("analyze::decide: tasks are still open (settle the counts first)");
  std::vector<Candidate> tested;
  std::uint64_t too_rare = 0, uninformative = 0;
  const std::uint32_t folds = std::max<std::uint32_t>(1, options.folds);
  for (const auto& [feature, tally] : total.features) {
    if (feature.empty()) continue;  // every run: the baseline, not a feature
    if (tally.successes + tally.failures < options.min_support || tally.tasks < options.min_tasks) {
      ++too_rare;  // too rare to test: filtered on how often it occurs, not on its outcome
      continue;
    }
    Candidate c;
    c.feature = feature;
    c.kind = is_symptom(feature) ? Lesson::Kind::failure : Lesson::Kind::habit;
    c.tally = &tally;
    weigh(c, total, plan, folds);
    if (c.association.strata == 0) {
      ++uninformative;
      continue;
    }
    tested.push_back(std::move(c));
  }
  std::vector<double> p_values;
  for (const auto& c : tested) p_values.push_back(c.association.p_value);
  const auto q_values = benjamini_hochberg(p_values);
  const std::uint64_t needed_tasks = std::max<std::uint64_t>(
      options.min_tasks, static_cast<std::uint64_t>(std::ceil(options.min_task_share * static_cast<double>(plan.labelled_tasks()) - 1e-9)));
  for (std::size_t i = 0; i < tested.size(); ++i) {
    Candidate& c = tested[i];
    c.q = q_values[i];
    const double rd = c.association.risk_difference;
    if (c.kind == Lesson::Kind::habit && rd <= 0) c.verdict = "goes with failure, not success (no habit to recommend)";
    else if (c.kind == Lesson::Kind::failure && rd >= 0) c.verdict = "goes with success, not failure";
    else if (c.q > options.fdr) c.verdict = "not significant within tasks (q = " + fixed(c.q, 2) + " > " + fixed(options.fdr, 2) + ")";
    else if (std::abs(rd) < options.min_difference) c.verdict = "effect too small (" + fixed(std::abs(rd), 2) + " < " + fixed(options.min_difference, 2) + ")";
    else if (c.support() < options.min_support) c.verdict = "support too small (" + std::to_string(c.support()) + " runs)";
    else if (c.support_tasks() < needed_tasks)
      c.verdict = "support spans " + std::to_string(c.support_tasks()) + " tasks, fewer than " + std::to_string(needed_tasks);
    else if (c.informative_folds < 2 || static_cast<double>(c.agreeing_folds) < options.replication * c.informative_folds - 1e-9)
      c.verdict = "did not replicate on held-out tasks (" + std::to_string(c.agreeing_folds) + " of " + std::to_string(c.informative_folds) + " folds)";
  }

  // Accepted features with the same evidence are one lesson: keep the plainest.
  std::vector<Candidate*> accepted;
  for (auto& c : tested)
    if (c.verdict.empty()) accepted.push_back(&c);
  std::stable_sort(accepted.begin(), accepted.end(), [](const Candidate* x, const Candidate* y) {
    if (priority(x->feature) != priority(y->feature)) return priority(x->feature) < priority(y->feature);
    return x->feature < y->feature;
  });
  for (std::size_t i = 0; i < accepted.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (accepted[j]->verdict.empty() && *accepted[j]->tally == *accepted[i]->tally) {
        accepted[i]->verdict = "the same runs as " + accepted[j]->feature;
        break;
      }
  // A symptom kept with its literal and in its generic form: the literal when it covers most of it.
  std::map<std::string, Candidate*> by_feature;
  for (auto* c : accepted)
    if (c->verdict.empty()) by_feature[c->feature] = c;
  for (auto* c : accepted) {
    if (!c->verdict.empty() || c->kind != Lesson::Kind::failure) continue;
    const std::string prefix = c->feature.substr(0, 7);
    const std::string generic = prefix + symptom_template(std::string_view(c->feature).substr(7), false);
    if (generic == c->feature) continue;
    const auto it = by_feature.find(generic);
    if (it == by_feature.end() || !it->second->verdict.empty()) continue;
    if (c->tally->failures * 5 >= it->second->tally->failures * 4) it->second->verdict = "covered by its literal form " + c->feature;
    else c->verdict = "its generic form " + generic + " covers more runs";
  }

  // Habits one at a time, strongest first: each must still help among the runs that show neither a
  // failure symptom found nor a habit already kept. An action that only marks the runs that did not
  // fail in one listed way, or that goes along with a stronger habit, is not a habit of its own.
  if (recount) {
    std::vector<std::string> excluding;
    std::vector<Candidate*> strongest;
    for (auto* c : accepted)
      if (c->verdict.empty()) (c->kind == Lesson::Kind::failure ? (void)excluding.push_back(c->feature) : strongest.push_back(c));
    std::stable_sort(strongest.begin(), strongest.end(), [](const Candidate* x, const Candidate* y) {
      if (x->association.p_value != y->association.p_value) return x->association.p_value < y->association.p_value;
      return x->feature < y->feature;
    });
    std::string kept;  // the first habit kept, for the reason given
    for (auto* c : strongest) {
      Candidate rest = *c;
      const MinedCounts counts = recount(excluding, {c->feature});
      weigh(rest, counts, plan, folds);
      const Association& a = rest.association;
      if (a.strata == 0 || a.p_value > options.fdr || a.risk_difference < options.min_difference) {
        c->verdict = "explained by " + (excluding.empty() ? std::string("the failure modes found") : "the failure modes and habits found") +
                     " (among the runs without them: risk difference " + fixed(a.risk_difference, 2) + ", p = " + fixed(a.p_value, 2) + ")";
        continue;
      }
      excluding.push_back(c->feature);
    }
  }

  // Lessons: similar symptoms are one failure lesson; most supported first, failures before habits.
  std::vector<Candidate*> failures, habits;
  for (auto* c : accepted)
    if (c->verdict.empty()) (c->kind == Lesson::Kind::failure ? failures : habits).push_back(c);
  const auto by_support = [](const Candidate* x, const Candidate* y) {
    if (x->support() != y->support()) return x->support() > y->support();
    return x->feature < y->feature;
  };
  std::sort(failures.begin(), failures.end(), by_support);
  std::sort(habits.begin(), habits.end(), by_support);
  Decision decision;
  std::vector<std::vector<std::string>> joined(failures.size());
  for (std::size_t i = 0; i < failures.size(); ++i) {
    if (!failures[i]->verdict.empty()) continue;
    const auto words = template_words(failures[i]->feature);
    for (std::size_t j = i + 1; j < failures.size(); ++j) {
      if (!failures[j]->verdict.empty()) continue;
      const auto other = template_words(failures[j]->feature);
      if (other.size() != words.size() || words.empty()) continue;
      std::size_t equal = 0;
      for (std::size_t w = 0; w < words.size(); ++w) equal += words[w] == other[w];
      if (share(static_cast<double>(equal), static_cast<double>(words.size())) >= options.template_similarity) {
        joined[i].push_back(failures[j]->feature);
        failures[j]->verdict = "joined with the similar symptom " + failures[i]->feature;
      }
    }
  }
  const auto recovery_for = [&](const std::string& symptom) {
    for (const auto* h : habits) {
      if (!h->feature.starts_with("after:")) continue;
      const auto sep = h->feature.find(kAfterSeparator);
      if (h->feature.substr(sep + 1) == symptom) return h->feature.substr(6, sep - 6);
    }
    return std::string();
  };
  for (std::size_t i = 0; i < failures.size(); ++i) {
    Candidate& c = *failures[i];
    if (!c.verdict.empty()) continue;
    Lesson lesson;
    lesson.kind = Lesson::Kind::failure;
    lesson.features.push_back(c.feature);
    lesson.features.insert(lesson.features.end(), joined[i].begin(), joined[i].end());
    lesson.section = options.failure_section;
    lesson.text = lesson_text(c, joined[i], recovery_for(c.feature));
    lesson.evidence = candidate_json(c);
    decision.lessons.push_back(std::move(lesson));
  }
  for (auto* h : habits) {
    Lesson lesson;
    lesson.kind = Lesson::Kind::habit;
    lesson.features.push_back(h->feature);
    lesson.section = options.habit_section;
    lesson.text = lesson_text(*h, {}, {});
    lesson.evidence = candidate_json(*h);
    decision.lessons.push_back(std::move(lesson));
  }
  if (decision.lessons.size() > options.max_lessons) {
    for (std::size_t i = options.max_lessons; i < decision.lessons.size(); ++i)
      for (auto& c : tested)
        if (c.feature == decision.lessons[i].key()) c.verdict = "beyond max_lessons";
    decision.lessons.resize(options.max_lessons);
  }

  // The report: every lesson, then the closest rejected candidates (smallest p first).
  std::vector<const Candidate*> order;
  for (const auto& c : tested) order.push_back(&c);
  std::stable_sort(order.begin(), order.end(), [](const Candidate* x, const Candidate* y) {
    if (x->verdict.empty() != y->verdict.empty()) return x->verdict.empty();
    return x->association.p_value < y->association.p_value;
  });
  json candidates = json::array();
  std::size_t rejected = 0;
  for (const auto* c : order) {
    if (!c->verdict.empty() && rejected++ >= options.report_candidates) break;
    candidates.push_back(candidate_json(*c));
  }
  std::uint64_t labelled_runs = total.successes + total.failures;
  decision.report = {{"trajectories", total.trajectories},
                     {"labelled", labelled_runs},
                     {"successes", total.successes},
                     {"failures", total.failures},
                     {"tasks", plan.labelled_tasks()},
                     {"mixed_tasks", plan.mixed_tasks()},
                     {"single_run_pools", plan.pools().size()},
                     {"regime", plan.pooled() ? "within tasks, and one-run tasks within their task family"
                                              : "within tasks (tasks with both outcomes)"},
                     {"features", total.features.size()},
                     {"too_rare", too_rare},
                     {"uninformative", uninformative},
                     {"tested", tested.size()},
                     {"needed_tasks", needed_tasks},
                     {"lessons", decision.lessons.size()},
                     {"candidates", candidates}};
  return decision;
}

std::string report_markdown(const json& report) {
  std::string out = "# What the stats analyst considered\n\n";
  out += std::to_string(report.value("labelled", 0)) + " labelled runs (" + std::to_string(report.value("successes", 0)) + " passed) over " +
         std::to_string(report.value("tasks", 0)) + " tasks, " + std::to_string(report.value("mixed_tasks", 0)) +
         " of them with both outcomes. Effects are estimated " + report.value("regime", std::string()) + ".\n\n";
  out += std::to_string(report.value("features", 0)) + " features seen; " + std::to_string(report.value("too_rare", 0)) +
         " too rare to test; " + std::to_string(report.value("uninformative", 0)) +
         " never varied between comparable runs (runs of one task, or one-run tasks of one family); " + std::to_string(report.value("tested", 0)) + " tested; " +
         std::to_string(report.value("lessons", 0)) + " lessons.\n\n";
  if (report.value("lessons", 0) == 0)
    out += "No feature passed the tests. The closest candidates are below, with the reason each was not kept.\n\n";
  out += "| feature | kind | support (runs / tasks) | risk difference | p | q | folds | verdict |\n|---|---|---:|---:|---:|---:|---:|---|\n";
  for (const auto& c : report.value("candidates", json::array())) {
    std::string feature = c.value("feature", std::string());
    std::replace(feature.begin(), feature.end(), kAfterSeparator, ' ');
    std::replace(feature.begin(), feature.end(), '|', '/');
    std::string verdict = c.value("verdict", std::string());
    std::replace(verdict.begin(), verdict.end(), '|', '/');
    std::replace(verdict.begin(), verdict.end(), kAfterSeparator, ' ');
    const auto folds = c.value("folds", json::array({0, 0}));
    out += "| " + code_span(feature) + " | " + c.value("kind", std::string()) + " | " + std::to_string(c.value("support_runs", 0)) +
           " / " + std::to_string(c.value("support_tasks", 0)) + " | " + fixed(c.value("risk_difference", 0.0), 2) + " | " +
           fixed(c.value("p", 1.0), 2) + " | " + fixed(c.value("q", 1.0), 2) + " | " + std::to_string(folds.at(0).get<int>()) + "/" +
           std::to_string(folds.at(1).get<int>()) + " | " + verdict + " |\n";
  }
  return out;
}

json lessons_json(const std::vector<Lesson>& lessons) {
  json out = json::array();
  for (const auto& l : lessons)
    out.push_back({{"kind", l.kind == Lesson::Kind::failure ? "failure" : "habit"}, {"id", l.id()}, {"features", l.features},
                   {"section", l.section}, {"text", l.text}, {"evidence", l.evidence}});
  return out;
}

std::vector<Lesson> lessons_from_json(const json& value) {
  std::vector<Lesson> out;
  for (const auto& item : value) {
    Lesson l;
    l.kind = item.at("kind") == "failure" ? Lesson::Kind::failure : Lesson::Kind::habit;
    l.features = item.at("features").get<std::vector<std::string>>();
    l.section = item.at("section").get<std::string>();
    l.text = item.at("text").get<std::string>();
    l.evidence = item.value("evidence", json::object());
    out.push_back(std::move(l));
  }
  return out;
}

// ------------------------------------------------------------------------------------ matching

LessonMatcher::LessonMatcher(const std::vector<Lesson>& lessons) {
  for (std::uint32_t i = 0; i < lessons.size(); ++i) {
    kinds_.push_back(lessons[i].kind);
    for (const auto& f : lessons[i].features) by_feature_[f].push_back(i);
  }
}

std::vector<std::uint32_t> LessonMatcher::match(const std::vector<std::string>& sorted_features, Label label) const {
  std::vector<std::uint32_t> out;
  if (label == Label::unlabelled) return out;
  const Lesson::Kind wanted = label == Label::success ? Lesson::Kind::habit : Lesson::Kind::failure;
  for (const auto& f : sorted_features)
    if (const auto it = by_feature_.find(f); it != by_feature_.end())
      for (const auto i : it->second)
        if (kinds_[i] == wanted) out.push_back(i);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

skill::Patch lessons_patch(const std::vector<Lesson>& lessons, const std::vector<skill::Support>& supports,
                           std::uint64_t population) {
  skill::Patch patch;
  patch.reasoning = "stats analyst: lessons that hold within tasks, from counts over the corpus";
  patch.origin.model = "stats";
  patch.origin.population = population;
  for (std::size_t i = 0; i < lessons.size() && i < supports.size(); ++i) {
    if (supports[i].empty()) continue;
    skill::Edit edit;
    edit.file = "SKILL.md";
    edit.op = skill::Op::append_to_section;
    edit.target_section = lessons[i].section;
    edit.content = lessons[i].text;
    edit.support = supports[i];
    patch.edits.push_back(std::move(edit));
    patch.changelog.push_back(lessons[i].id());
  }
  return patch;
}

}  // namespace t2s::analyze
