// analyze/stats: the corpus-level miner behind the `stats` analyst (see the header).
#include "t2s/analyze/stats.hpp"

#include <algorithm>
#include <numeric>
#include <set>

#include "t2s/core/error.hpp"
#include "t2s/core/sha256.hpp"

namespace t2s::analyze {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxGroupsPerShape = 1000;  // distinct symptom groups of one (first word, length)
constexpr std::size_t kMaxHabitActions = 256;     // habit actions examined for co-occurrence

double share(std::uint64_t part, std::uint64_t whole) { return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole); }

// Words agreeing position by position, over the word count (both must have the same count).
double similarity(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.size() != b.size() || a.empty()) return 0.0;
  std::size_t equal = 0;
  for (std::size_t i = 0; i < a.size(); ++i) equal += a[i] == b[i];
  return share(equal, a.size());
}

// Names that say more come first in a lesson's text: dotted names, keyword arguments and flags,
// then longer names.
std::vector<std::string> for_display(std::vector<std::string> actions, std::size_t limit) {
  // tool names say least; they are shown only when nothing else is there
  if (std::any_of(actions.begin(), actions.end(), [](const std::string& a) { return !a.starts_with("tool:"); }))
    std::erase_if(actions, [](const std::string& a) { return a.starts_with("tool:"); });
  const auto rank = [](const std::string& a) {
    const std::string_view name = std::string_view(a).substr(4);
    return (name.find_first_of(".=") != std::string_view::npos || name.starts_with('-')) ? 0 : 1;
  };
  std::stable_sort(actions.begin(), actions.end(), [&](const std::string& x, const std::string& y) {
    if (rank(x) != rank(y)) return rank(x) < rank(y);
    if (x.size() != y.size()) return x.size() > y.size();
    return x < y;
  });
  if (actions.size() > limit) actions.resize(limit);
  return actions;
}

std::string code_span(std::string_view text) {  // Markdown code span that cannot break out
  std::string out = "`";
  for (char c : text) out += (c == '`') ? '\'' : c;
  return out + "`";
}

std::string action_list(const std::vector<std::string>& actions) {
  std::string out;
  for (std::size_t i = 0; i < actions.size(); ++i) {
    if (i > 0) out += i + 1 == actions.size() ? " and " : ", ";
    const std::string_view action = actions[i];
    out += action.starts_with("tool:") ? "the " + code_span(action.substr(5)) + " tool" : code_span(action.substr(4));
  }
  return out;
}

std::string symptom_display(const std::string& symptom) {
  if (symptom.starts_with("check: ")) return "checker: " + code_span(std::string_view(symptom).substr(7));
  if (symptom.starts_with("error: ")) return "tool error: " + code_span(std::string_view(symptom).substr(7));
  return code_span(symptom);
}

json pairs_json(const std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t>& pairs) {
  json out = json::array();
  for (const auto& [key, count] : pairs) out.push_back({key.first, key.second, count});
  return out;
}

std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> pairs_from_json(const json& value) {
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> out;
  for (const auto& item : value) out[{item.at(0).get<std::uint32_t>(), item.at(1).get<std::uint32_t>()}] = item.at(2).get<std::uint64_t>();
  return out;
}

template <typename Map>
void add_counts(Map& into, const Map& from) {
  for (const auto& [key, value] : from) {
    auto& slot = into[key];
    slot.first += value.first;
    slot.second += value.second;
  }
}

json counts_json(const std::map<std::string, std::pair<std::uint64_t, std::uint64_t>, std::less<>>& counts) {
  json out = json::object();
  for (const auto& [feature, pair] : counts) out[feature] = {pair.first, pair.second};
  return out;
}

std::map<std::string, std::pair<std::uint64_t, std::uint64_t>, std::less<>> counts_from_json(const json& value) {
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>, std::less<>> out;
  for (const auto& [feature, pair] : value.items()) out[feature] = {pair.at(0).get<std::uint64_t>(), pair.at(1).get<std::uint64_t>()};
  return out;
}

// Position of `name` in a sorted list, or npos.
std::size_t find_sorted(const std::vector<std::string>& sorted, std::string_view name) {
  const auto it = std::lower_bound(sorted.begin(), sorted.end(), name);
  return (it != sorted.end() && *it == name) ? static_cast<std::size_t>(it - sorted.begin()) : std::string::npos;
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
    else if (key == "symptom_precision") o.symptom_precision = number(0, 1);
    else if (key == "habit_precision") o.habit_precision = number(0, 1);
    else if (key == "habit_lift") o.habit_lift = number(0, 1e6);
    else if (key == "template_similarity") o.template_similarity = number(0, 1);
    else if (key == "cooccurrence") o.cooccurrence = number(0, 1);
    else if (key == "failing_action_coverage") o.failing_action_coverage = number(0, 1);
    else if (key == "max_lessons") o.max_lessons = static_cast<std::size_t>(number(0, 1e6));
    else if (key == "failure_section") o.failure_section = text();
    else if (key == "habit_section") o.habit_section = text();
    else throw InputError(where + "." + key + ": unknown key");
  }
  for (const auto* section : {&o.failure_section, &o.habit_section})
    if (!section->starts_with("## ") || section->size() < 4 || section->find('\n') != std::string::npos)
      throw InputError(where + ": a section must be a level-2 heading like \"## Known failure modes\", not \"" + *section + "\"");
  return o;
}

json StatsOptions::to_json() const {
  return {{"min_support", min_support},         {"symptom_precision", symptom_precision},
          {"habit_precision", habit_precision}, {"habit_lift", habit_lift},
          {"template_similarity", template_similarity}, {"cooccurrence", cooccurrence},
          {"failing_action_coverage", failing_action_coverage}, {"max_lessons", max_lessons},
          {"failure_section", failure_section}, {"habit_section", habit_section}};
}

Label label_of(const trace::Trajectory& trajectory) {
  if (!trajectory.outcome.labelled) return Label::unlabelled;
  return trajectory.outcome.success ? Label::success : Label::failure;
}

// -------------------------------------------------------------------------------------- counts

void FeatureCounts::add(const Features& features, Label label) {
  ++trajectories;
  if (label == Label::unlabelled) return;
  const bool success = label == Label::success;
  ++(success ? successes : failures);
  for (const auto& s : features.symptoms) ++(success ? symptoms[s].first : symptoms[s].second);
  for (const auto& a : features.actions) ++(success ? actions[a].first : actions[a].second);
}

void FeatureCounts::merge(const FeatureCounts& other) {
  trajectories += other.trajectories;
  successes += other.successes;
  failures += other.failures;
  add_counts(symptoms, other.symptoms);
  add_counts(actions, other.actions);
}

json FeatureCounts::to_json() const {
  return {{"trajectories", trajectories}, {"successes", successes}, {"failures", failures},
          {"symptoms", counts_json(symptoms)}, {"actions", counts_json(actions)}};
}

FeatureCounts FeatureCounts::from_json(const json& value) {
  FeatureCounts c;
  c.trajectories = value.at("trajectories").get<std::uint64_t>();
  c.successes = value.at("successes").get<std::uint64_t>();
  c.failures = value.at("failures").get<std::uint64_t>();
  c.symptoms = counts_from_json(value.at("symptoms"));
  c.actions = counts_from_json(value.at("actions"));
  return c;
}

// ---------------------------------------------------------------------------------- candidates

Candidates candidates(const FeatureCounts& total, const StatsOptions& options) {
  Candidates out;
  // Symptoms of failures, most frequent first, grouped with the first group they resemble.
  std::vector<std::pair<std::string, std::uint64_t>> symptoms;
  for (const auto& [symptom, counts] : total.symptoms)
    if (counts.second > 0 && share(counts.second, counts.first + counts.second) >= options.symptom_precision)
      symptoms.emplace_back(symptom, counts.second);
  std::stable_sort(symptoms.begin(), symptoms.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  struct Group {
    std::vector<std::string> words;  // of the first member
    std::vector<std::string> members;
    std::uint64_t failures = 0;
  };
  std::vector<Group> groups;
  // Only templates with the same first word and word count can be alike: index the groups by both.
  std::map<std::pair<std::string, std::size_t>, std::vector<std::size_t>> by_shape;
  for (const auto& [symptom, failures] : symptoms) {
    auto words = template_words(symptom);
    if (words.empty()) continue;
    auto& candidates_of_shape = by_shape[{words.front(), words.size()}];
    const auto it = std::find_if(candidates_of_shape.begin(), candidates_of_shape.end(), [&](std::size_t g) {
      return similarity(groups[g].words, words) >= options.template_similarity;
    });
    std::size_t g;
    if (it != candidates_of_shape.end()) {
      g = *it;
    } else {
      // a flood of distinct templates of one shape (most frequent first) is cut off: bounded time
      if (candidates_of_shape.size() >= kMaxGroupsPerShape) continue;
      g = groups.size();
      groups.push_back({std::move(words), {}, 0});
      candidates_of_shape.push_back(g);
    }
    groups[g].members.push_back(symptom);
    groups[g].failures += failures;
  }
  std::stable_sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) { return a.failures > b.failures; });
  for (auto& g : groups)
    if (g.failures >= options.min_support) out.symptom_groups.push_back(std::move(g.members));

  const double base = share(total.successes, total.successes + total.failures);
  std::vector<std::pair<std::uint64_t, std::string>> habits;  // (successes, action)
  for (const auto& [action, counts] : total.actions) {
    const auto [in_success, in_failure] = counts;
    if (in_failure >= options.min_support && share(in_failure, in_success + in_failure) >= options.symptom_precision)
      out.failing_actions.push_back(action);
    const double precision = share(in_success, in_success + in_failure);
    if (in_success >= options.min_support && precision >= options.habit_precision && base > 0 &&
        precision / base >= options.habit_lift)
      habits.emplace_back(in_success, action);
  }
  // The evidence counts pairs of habit actions: keep the most supported few hundred.
  if (habits.size() > kMaxHabitActions) {
    std::stable_sort(habits.begin(), habits.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    habits.resize(kMaxHabitActions);
  }
  for (auto& [_, action] : habits) out.habit_actions.push_back(std::move(action));
  std::sort(out.habit_actions.begin(), out.habit_actions.end());
  return out;  // action lists are sorted
}

json Candidates::to_json() const {
  return {{"symptom_groups", symptom_groups}, {"failing_actions", failing_actions}, {"habit_actions", habit_actions}};
}

Candidates Candidates::from_json(const json& value) {
  Candidates c;
  c.symptom_groups = value.at("symptom_groups").get<std::vector<std::vector<std::string>>>();
  c.failing_actions = value.at("failing_actions").get<std::vector<std::string>>();
  c.habit_actions = value.at("habit_actions").get<std::vector<std::string>>();
  return c;
}

// ------------------------------------------------------------------------------------ evidence

void Evidence::add(const Features& features, Label label, const Candidates& candidates) {
  group_members.resize(candidates.symptom_groups.size());
  habit_members.resize(candidates.habit_actions.size());
  if (label == Label::failure) {
    std::vector<std::uint32_t> failing;
    for (const auto& a : features.actions)
      if (const auto i = find_sorted(candidates.failing_actions, a); i != std::string::npos) failing.push_back(static_cast<std::uint32_t>(i));
    for (std::uint32_t g = 0; g < candidates.symptom_groups.size(); ++g) {
      const auto& group = candidates.symptom_groups[g];
      const bool member = std::any_of(group.begin(), group.end(), [&](const std::string& s) {
        return std::binary_search(features.symptoms.begin(), features.symptoms.end(), s);
      });
      if (!member) continue;
      ++group_members[g];
      for (const auto a : failing) ++group_actions[{g, a}];
    }
  } else if (label == Label::success) {
    std::vector<std::uint32_t> habits;
    for (const auto& a : features.actions)
      if (const auto i = find_sorted(candidates.habit_actions, a); i != std::string::npos) habits.push_back(static_cast<std::uint32_t>(i));
    for (std::size_t i = 0; i < habits.size(); ++i) {
      ++habit_members[habits[i]];
      for (std::size_t j = i + 1; j < habits.size(); ++j) ++habit_pairs[{habits[i], habits[j]}];
    }
  }
}

void Evidence::merge(const Evidence& other) {
  group_members.resize(std::max(group_members.size(), other.group_members.size()));
  habit_members.resize(std::max(habit_members.size(), other.habit_members.size()));
  for (std::size_t i = 0; i < other.group_members.size(); ++i) group_members[i] += other.group_members[i];
  for (std::size_t i = 0; i < other.habit_members.size(); ++i) habit_members[i] += other.habit_members[i];
  for (const auto& [key, count] : other.group_actions) group_actions[key] += count;
  for (const auto& [key, count] : other.habit_pairs) habit_pairs[key] += count;
}

json Evidence::to_json() const {
  return {{"group_members", group_members}, {"group_actions", pairs_json(group_actions)},
          {"habit_members", habit_members}, {"habit_pairs", pairs_json(habit_pairs)}};
}

Evidence Evidence::from_json(const json& value) {
  Evidence e;
  e.group_members = value.at("group_members").get<std::vector<std::uint64_t>>();
  e.group_actions = pairs_from_json(value.at("group_actions"));
  e.habit_members = value.at("habit_members").get<std::vector<std::uint64_t>>();
  e.habit_pairs = pairs_from_json(value.at("habit_pairs"));
  return e;
}

// ------------------------------------------------------------------------------------- lessons

std::string Lesson::id() const {
  return std::string(kind == Kind::failure ? "failure-" : "habit-") + to_hex(sha256(text)).substr(0, 8);
}

std::vector<Lesson> lessons(const FeatureCounts& total, const Candidates& candidates, const Evidence& evidence,
                            const StatsOptions& options) {
  std::vector<Lesson> failures, habits;

  // Failure modes: a symptom group, joined with the groups whose main failing action it shares.
  std::map<std::string, std::size_t> by_action;  // main failing action → index in failures
  for (std::uint32_t g = 0; g < candidates.symptom_groups.size(); ++g) {
    const std::uint64_t members = g < evidence.group_members.size() ? evidence.group_members[g] : 0;
    if (members < options.min_support) continue;
    std::vector<std::pair<double, std::string>> covering;
    for (std::uint32_t a = 0; a < candidates.failing_actions.size(); ++a) {
      const auto it = evidence.group_actions.find({g, a});
      const double coverage = it == evidence.group_actions.end() ? 0.0 : share(it->second, members);
      if (coverage >= options.failing_action_coverage) covering.emplace_back(-coverage, candidates.failing_actions[a]);
    }
    // The main action covers most of the group and is the rarest elsewhere: the one most specific
    // to this failure (two symptoms of one cause share it).
    const auto failures_with = [&](const std::string& a) {
      const auto it = total.actions.find(a);
      return it == total.actions.end() ? std::uint64_t{0} : it->second.second;
    };
    std::sort(covering.begin(), covering.end(), [&](const auto& x, const auto& y) {
      if (x.first != y.first) return x.first < y.first;
      if (failures_with(x.second) != failures_with(y.second)) return failures_with(x.second) < failures_with(y.second);
      return x.second < y.second;
    });
    std::vector<std::string> actions;
    for (auto& [_, action] : covering) actions.push_back(std::move(action));
    const auto& group = candidates.symptom_groups[g];
    std::optional<std::string> main_action;
    if (!actions.empty()) main_action = actions.front();
    if (main_action) {
      if (const auto it = by_action.find(*main_action); it != by_action.end()) {
        Lesson& joined = failures[it->second];
        joined.symptoms.insert(joined.symptoms.end(), group.begin(), group.end());
        joined.estimated_support += members;
        continue;
      }
      by_action[*main_action] = failures.size();
    }
    Lesson lesson;
    lesson.kind = Lesson::Kind::failure;
    lesson.symptoms = group;
    lesson.actions = std::move(actions);
    lesson.section = options.failure_section;
    lesson.estimated_support = members;
    failures.push_back(std::move(lesson));
  }

  // Habits: actions of successful runs, joined when they occur together.
  const auto members_of = [&](std::uint32_t a) { return a < evidence.habit_members.size() ? evidence.habit_members[a] : 0; };
  std::vector<std::uint32_t> order(candidates.habit_actions.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return members_of(a) > members_of(b); });
  std::vector<bool> taken(order.size(), false);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const std::uint32_t seed = order[i];
    if (taken[seed] || members_of(seed) < options.min_support) continue;
    taken[seed] = true;
    Lesson lesson;
    lesson.kind = Lesson::Kind::habit;
    lesson.actions.push_back(candidates.habit_actions[seed]);
    lesson.section = options.habit_section;
    lesson.estimated_support = members_of(seed);
    for (std::size_t j = i + 1; j < order.size(); ++j) {
      const std::uint32_t other = order[j];
      if (taken[other]) continue;
      const auto key = std::make_pair(std::min(seed, other), std::max(seed, other));
      const auto it = evidence.habit_pairs.find(key);
      const std::uint64_t both = it == evidence.habit_pairs.end() ? 0 : it->second;
      const std::uint64_t either = members_of(seed) + members_of(other) - both;
      if (share(both, either) >= options.cooccurrence) {
        taken[other] = true;
        lesson.actions.push_back(candidates.habit_actions[other]);
      }
    }
    std::sort(lesson.actions.begin(), lesson.actions.end());
    habits.push_back(std::move(lesson));
  }

  const auto by_support = [](const Lesson& a, const Lesson& b) { return a.estimated_support > b.estimated_support; };
  std::stable_sort(failures.begin(), failures.end(), by_support);
  std::stable_sort(habits.begin(), habits.end(), by_support);
  std::vector<Lesson> out = std::move(failures);
  out.insert(out.end(), std::make_move_iterator(habits.begin()), std::make_move_iterator(habits.end()));
  if (out.size() > options.max_lessons) out.resize(options.max_lessons);

  for (auto& lesson : out) {
    if (lesson.kind == Lesson::Kind::failure) {
      std::string text = "- **Failure seen in past runs:** ";
      const std::size_t shown = std::min<std::size_t>(lesson.symptoms.size(), 3);
      for (std::size_t i = 0; i < shown; ++i) text += (i ? "; " : "") + symptom_display(lesson.symptoms[i]);
      if (lesson.symptoms.size() > shown) text += " (and " + std::to_string(lesson.symptoms.size() - shown) + " similar)";
      const auto actions = for_display(lesson.actions, 4);
      if (!actions.empty()) text += ". The runs that failed this way used " + action_list(actions) + "; passing runs avoided that.";
      else text += ". It occurs only in failed runs: check for it before finishing.";
      lesson.text = std::move(text);
    } else {
      lesson.text = "- **Habit of passing runs:** they used " + action_list(for_display(lesson.actions, 5)) +
                    (lesson.actions.size() > 1 ? " together" : "") + "; failing runs rarely did.";
    }
  }
  // Two lessons with one text would be one edit to the merge: keep the first (most supported).
  std::set<std::string> texts;
  std::erase_if(out, [&](const Lesson& l) { return !texts.insert(l.text).second; });
  return out;
}

json lessons_json(const std::vector<Lesson>& lessons) {
  json out = json::array();
  for (const auto& l : lessons)
    out.push_back({{"kind", l.kind == Lesson::Kind::failure ? "failure" : "habit"}, {"id", l.id()},
                   {"symptoms", l.symptoms}, {"actions", l.actions}, {"section", l.section}, {"text", l.text},
                   {"estimated_support", l.estimated_support}});
  return out;
}

std::vector<Lesson> lessons_from_json(const json& value) {
  std::vector<Lesson> out;
  for (const auto& item : value) {
    Lesson l;
    l.kind = item.at("kind") == "failure" ? Lesson::Kind::failure : Lesson::Kind::habit;
    l.symptoms = item.at("symptoms").get<std::vector<std::string>>();
    l.actions = item.at("actions").get<std::vector<std::string>>();
    l.section = item.at("section").get<std::string>();
    l.text = item.at("text").get<std::string>();
    l.estimated_support = item.at("estimated_support").get<std::uint64_t>();
    out.push_back(std::move(l));
  }
  return out;
}

// ------------------------------------------------------------------------------------ matching

LessonMatcher::LessonMatcher(const std::vector<Lesson>& lessons) {
  habits_.resize(lessons.size());
  for (std::uint32_t i = 0; i < lessons.size(); ++i) {
    if (lessons[i].kind == Lesson::Kind::failure) {
      for (const auto& s : lessons[i].symptoms) symptom_lessons_[s].push_back(i);
    } else {
      habits_[i] = Habit{lessons[i].actions, (lessons[i].actions.size() + 1) / 2};
    }
  }
}

std::vector<std::uint32_t> LessonMatcher::match(const Features& features, Label label) const {
  std::vector<std::uint32_t> out;
  if (label == Label::failure) {
    for (const auto& s : features.symptoms)
      if (const auto it = symptom_lessons_.find(s); it != symptom_lessons_.end()) out.insert(out.end(), it->second.begin(), it->second.end());
  } else if (label == Label::success) {
    for (std::uint32_t i = 0; i < habits_.size(); ++i) {
      if (!habits_[i]) continue;
      std::size_t present = 0;
      for (const auto& a : habits_[i]->actions) present += std::binary_search(features.actions.begin(), features.actions.end(), a);
      if (present >= habits_[i]->needed) out.push_back(i);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

skill::Patch lessons_patch(const std::vector<Lesson>& lessons, const std::vector<skill::Support>& supports,
                           std::uint64_t population) {
  skill::Patch patch;
  patch.reasoning = "stats analyst: lessons mined from counts over the corpus";
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
