// analyze/stats: the corpus-level miner behind the `stats` analyst (see the header).
#include "t2s/analyze/stats.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <deque>
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
    else if (key == "cooccurrence") o.cooccurrence = number(0, 1);
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
          {"cooccurrence", cooccurrence},
          {"max_lessons", max_lessons},       {"report_candidates", report_candidates},
          {"failure_section", failure_section}, {"habit_section", habit_section}};
}

Label label_of(const trace::Trajectory& trajectory) {
  if (!trajectory.outcome.labelled) return Label::unlabelled;
  return trajectory.outcome.success ? Label::success : Label::failure;
}

// ------------------------------------------------------------------------------------ deciding

namespace {

// How a feature reads: as an instruction ("Call the `X` tool") or said of runs that showed it
// ("called the `X` tool"). One table of phrases for both, so the two never drift apart.
enum class Voice { instruction, past };
std::string phrase(std::string_view feature, Voice voice) {
  const bool now = voice == Voice::instruction;
  const auto verb = [&](const char* instruction, const char* past) { return std::string(now ? instruction : past); };
  const auto colon = feature.find(':');
  const std::string_view kind = feature.substr(0, colon), name = feature.substr(colon + 1);
  if (kind == "tool") return verb("Call", "called") + " the " + code_span(name) + " tool";
  if (kind == "arg") {
    const auto dot = name.rfind('.');
    return verb("Pass", "passed") + " " + code_span(name.substr(dot + 1)) + " to " + code_span(name.substr(0, dot));
  }
  if (kind == "call") return verb("Use", "used") + " " + code_span(std::string(name) + "()") + (now ? " in code" : "");
  if (kind == "kw") return verb("Pass", "passed") + (now && name.ends_with('=') ? " the keyword argument " : " ") + code_span(name);
  if (kind == "import") return verb("Import", "imported") + " " + code_span(name);
  if (kind == "except") return verb("Catch", "caught") + " " + code_span(name);
  if (kind == "raise") return verb("Raise", "raised") + " " + code_span(name);
  if (kind == "cmd") return verb("Run", "ran") + " " + code_span(name);
  if (kind == "flag") return verb("Pass", "passed") + " the " + code_span(name) + " flag";
  if (kind == "before") {
    const auto lt = name.rfind('<');
    const std::string first = code_span(name.substr(0, lt)), then = code_span(name.substr(lt + 1));
    return now ? "Before calling " + then + ", call " + first : "called " + first + " before " + then;
  }
  if (kind == "after") {
    const auto sep = name.find(kAfterSeparator);
    const std::string action = code_span(name.substr(0, sep));
    return now ? "After the tool error " + code_span(name.substr(sep + 1 + 7)) + ", call " + action : "called " + action + " after that error";
  }
  return verb("Do", "showed") + " " + code_span(feature);
}

std::string symptom_display(std::string_view symptom) {
  if (symptom.starts_with("check: ")) return "the checker's " + code_span(symptom.substr(7));
  if (symptom.starts_with("error: ")) return "the tool error " + code_span(symptom.substr(7));
  return code_span(symptom);
}

// Lower is preferred when features have the same evidence.
int priority(std::string_view feature) {
  // a tool error before the checker's verdict: the agent sees it while it can still act
  static constexpr std::array<std::string_view, 12> kOrder = {"error", "check", "tool", "call", "import", "except",
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

// Shares of the passing runs and of the failing runs that show a paired action, in its strata.
std::pair<double, double> shares(const Association& a) {
  const double passing = static_cast<double>(a.with_successes + a.without_successes);
  const double failing = static_cast<double>(a.with_runs + a.without_runs) - passing;
  return {share(static_cast<double>(a.with_successes), passing), share(static_cast<double>(a.with_runs - a.with_successes), failing)};
}

std::string lesson_text(const Candidate& c, const std::vector<std::string>& similar, const Candidate* pair, const std::string& recovery) {
  const Association& a = c.association;
  const double with_rate = share(static_cast<double>(a.with_successes), static_cast<double>(a.with_runs));
  const double without_rate = share(static_cast<double>(a.without_successes), static_cast<double>(a.without_runs));
  std::string out = "- **";
  if (c.kind == Lesson::Kind::failure) {
    out += "Watch for " + symptom_display(c.feature);
    if (!similar.empty()) out += " (or " + (similar.size() == 1 ? code_span(similar.front().substr(7)) : std::to_string(similar.size()) + " similar symptoms") + ")";
    out += ".** ";
    std::string w = where(c);
    w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
    out += w + ", " + percent(1 - with_rate) + " of the " + std::to_string(a.with_runs) + " runs that showed it failed, against " +
           percent(1 - without_rate) + " of the " + std::to_string(a.without_runs) + " that did not (" + replicated(c) + "). ";
    if (pair != nullptr) {
      const auto [passing, failing] = shares(pair->association);
      if (pair->association.risk_difference > 0)
        out += "Passing runs " + where(*pair) + " " + phrase(pair->feature, Voice::past) + " more often (" + percent(passing) + " of them, against " +
               percent(failing) + " of the runs that failed this way).";
      else
        out += "The runs that failed this way " + phrase(pair->feature, Voice::past) + " (" + percent(failing) + " of them, against " + percent(passing) +
               " of the passing runs " + where(*pair) + ").";
    } else if (!recovery.empty()) {
      out += "Runs that hit it and then called " + code_span(recovery) + " passed more often (see the habits).";
    } else {
      out += "Check for it before finishing.";
    }
    return out;
  }
  out += phrase(c.feature, Voice::instruction) + ".** ";
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
    ++by_fold[plan.pools()[pool >> kLayerBits].fold % folds][table];
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
  // (symptoms with the same runs are named together: the tool error and the checker's verdict it causes)
  std::map<std::string, std::vector<std::string>> same_runs;
  const auto generic_of = [](const std::string& symptom) { return symptom.substr(0, 7) + symptom_template(std::string_view(symptom).substr(7), false); };
  for (std::size_t i = 0; i < accepted.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (accepted[j]->verdict.empty() && *accepted[j]->tally == *accepted[i]->tally) {
        accepted[i]->verdict = "the same runs as " + accepted[j]->feature;
        if (accepted[i]->kind == Lesson::Kind::failure && generic_of(accepted[j]->feature) != accepted[i]->feature &&
            generic_of(accepted[i]->feature) != generic_of(accepted[j]->feature))
          same_runs[accepted[j]->feature].push_back(accepted[i]->feature);
        break;
      }
  // A symptom that holds with its literal (a key, a regular expression) and in its generic form (every
  // quoted value <str>) is one lesson: the literal when it covers most of the generic form's failures or
  // its effect is clearly stronger (the key matters), else the generic form (the value varies).
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
    // the literal when it covers most of the generic form's failures, or says clearly more
    const bool covers = c->tally->failures * 5 >= it->second->tally->failures * 4;
    const bool stronger = std::abs(c->association.risk_difference) >= std::abs(it->second->association.risk_difference) + options.min_difference;
    if (covers || stronger) it->second->verdict = "its literal form " + c->feature + " holds (an agent can recognise it)";
    else c->verdict = "its generic form " + generic + " covers more runs as strongly";
  }

  // Habits one at a time, strongest first: each must still help among the runs that show no failure
  // symptom found, comparing runs of one task that agree on the (up to 8 strongest) habits already
  // kept. An action that only marks the runs that did not fail one listed way, or that goes along with
  // a stronger habit, is not a habit of its own.
  if (recount) {
    std::vector<std::string> excluding;
    std::vector<Candidate*> strongest;
    for (auto* c : accepted)
      if (c->verdict.empty()) (c->kind == Lesson::Kind::failure ? (void)excluding.push_back(c->feature) : strongest.push_back(c));
    std::stable_sort(strongest.begin(), strongest.end(), [](const Candidate* x, const Candidate* y) {
      if (x->association.p_value != y->association.p_value) return x->association.p_value < y->association.p_value;
      return x->feature < y->feature;
    });
    std::vector<std::string> habits_kept;
    for (auto* c : strongest) {
      Candidate rest = *c;
      // a conditional habit is scored where its condition applies: the failures it prevents there are
      // its point, so only the habits already kept are left out
      const bool conditional = !condition_of(c->feature).empty();
      Subset subset;
      if (!conditional) subset.excluding = excluding;
      subset.stratify_by.assign(habits_kept.begin(), habits_kept.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(habits_kept.size(), kLayerBits)));
      subset.only = {c->feature};
      const MinedCounts counts = std::move(recount({subset}).front());
      weigh(rest, counts, plan, folds);
      const Association& a = rest.association;
      if (a.strata == 0 || a.p_value > options.fdr || a.risk_difference < options.min_difference) {
        c->verdict = std::string("explained by ") + (conditional ? "the habits found" : "the failure modes and habits found") +
                     " (with them held fixed: risk difference " + fixed(a.risk_difference, 2) + ", p = " + fixed(a.p_value, 2) + ")";
        continue;
      }
      habits_kept.push_back(c->feature);
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
  for (std::size_t i = 0; i < failures.size(); ++i)
    if (const auto it = same_runs.find(failures[i]->feature); it != same_runs.end()) joined[i] = it->second;
  // A symptom that holds in every way but spans too few tasks on its own can still be part of a
  // similar one that does ("rows with Phase <str> remain" beside "rows with Status <str> remain").
  std::vector<Candidate*> narrow;
  for (auto& c : tested)
    if (c.kind == Lesson::Kind::failure && c.verdict.starts_with("support") && c.association.risk_difference < 0 &&
        c.q <= options.fdr && -c.association.risk_difference >= options.min_difference && c.informative_folds >= 2 &&
        static_cast<double>(c.agreeing_folds) >= options.replication * c.informative_folds - 1e-9)
      narrow.push_back(&c);
  const auto similar = [&](const std::vector<std::string>& words, const Candidate& other) {
    const auto theirs = template_words(other.feature);
    if (theirs.size() != words.size() || words.empty()) return false;
    std::size_t equal = 0;
    for (std::size_t w = 0; w < words.size(); ++w) equal += words[w] == theirs[w];
    return share(static_cast<double>(equal), static_cast<double>(words.size())) >= options.template_similarity;
  };
  for (std::size_t i = 0; i < failures.size(); ++i) {
    if (!failures[i]->verdict.empty()) continue;
    const auto words = template_words(failures[i]->feature);
    for (std::size_t j = i + 1; j < failures.size(); ++j) {
      if (!failures[j]->verdict.empty() || !similar(words, *failures[j])) continue;
      joined[i].push_back(failures[j]->feature);
      failures[j]->verdict = "joined with the similar symptom " + failures[i]->feature;
    }
    for (auto* n : narrow) {
      if (!n->verdict.starts_with("support") || !similar(words, *n)) continue;
      joined[i].push_back(n->feature);
      n->verdict = "joined with the similar symptom " + failures[i]->feature + " (" + n->verdict + " on its own)";
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
  // What sets each failure's runs apart from the passing runs of the same tasks: every action tested
  // among those runs only (the other failed runs left out), kept when it passes the same tests and
  // nearly all of the failing runs did it.
  std::deque<Candidate> pairs;
  std::vector<const Candidate*> pair_of(failures.size(), nullptr);
  if (recount) {
    std::vector<std::string> actions;
    for (const auto& c : tested)
      if (c.kind == Lesson::Kind::habit) actions.push_back(c.feature);
    // one pass for every failure: its failed runs and the passing ones, tallying the actions and the
    // other failures' symptoms
    std::vector<std::string> all_symptoms;
    for (std::size_t i = 0; i < failures.size(); ++i)
      if (failures[i]->verdict.empty()) {
        all_symptoms.push_back(failures[i]->feature);
        all_symptoms.insert(all_symptoms.end(), joined[i].begin(), joined[i].end());
      }
    std::vector<Subset> subsets;
    std::vector<std::size_t> subset_of(failures.size(), 0);
    for (std::size_t i = 0; i < failures.size() && !actions.empty(); ++i) {
      if (!failures[i]->verdict.empty()) continue;
      Subset subset;
      subset.failing_with = {failures[i]->feature};
      subset.failing_with.insert(subset.failing_with.end(), joined[i].begin(), joined[i].end());
      subset.only = actions;
      subset.only.insert(subset.only.end(), all_symptoms.begin(), all_symptoms.end());
      subset_of[i] = subsets.size();
      subsets.push_back(std::move(subset));
    }
    const std::vector<MinedCounts> recounted = subsets.empty() ? std::vector<MinedCounts>() : recount(subsets);
    std::vector<std::vector<Candidate>> marks(failures.size());  // per failure: the actions its failing runs share
    for (std::size_t i = 0; i < failures.size() && !actions.empty(); ++i) {
      if (!failures[i]->verdict.empty()) continue;
      const std::vector<std::string>& symptoms = subsets[subset_of[i]].failing_with;
      const MinedCounts& counts = recounted[subset_of[i]];
      // a later symptom shown by (nearly) the same failed runs is the same failure seen twice (the
      // templates of one lesson are counted as one: a run shows one of them)
      const auto failed_with = [&](const std::vector<std::string>& features, const MinedCounts& in) {
        std::uint64_t n = 0;
        for (const auto& f : features)
          if (const auto it = in.features.find(f); it != in.features.end()) n += it->second.failures;
        return static_cast<double>(n);
      };
      std::vector<std::string> mine = symptoms;
      for (std::size_t j = i + 1; j < failures.size(); ++j) {
        if (!failures[j]->verdict.empty()) continue;
        std::vector<std::string> theirs{failures[j]->feature};
        theirs.insert(theirs.end(), joined[j].begin(), joined[j].end());
        const double together = failed_with(theirs, counts);
        const double either = failed_with(mine, total) + failed_with(theirs, total) - together;
        if (share(together, either) < options.cooccurrence) continue;
        joined[i].push_back(failures[j]->feature);
        joined[i].insert(joined[i].end(), joined[j].begin(), joined[j].end());
        failures[j]->verdict = "shown by the same failed runs as " + failures[i]->feature;
      }
      std::vector<Candidate> weighed;
      for (const auto& action : actions) {
        Candidate x;
        x.feature = action;
        weigh(x, counts, plan, folds);
        if (x.association.strata > 0) weighed.push_back(std::move(x));
      }
      std::vector<double> p;
      for (const auto& x : weighed) p.push_back(x.association.p_value);
      const auto q = benjamini_hochberg(p);
      for (std::size_t k = 0; k < weighed.size(); ++k) {
        Candidate& x = weighed[k];
        x.q = q[k];
        // what (nearly) every run that failed this way did and the passing runs of its tasks did not
        if (x.q > options.fdr || x.association.risk_difference >= 0 || -x.association.risk_difference < options.min_difference ||
            x.informative_folds < 2 || static_cast<double>(x.agreeing_folds) < options.replication * x.informative_folds - 1e-9 ||
            shares(x.association).second < options.cooccurrence)
          continue;
        marks[i].push_back(std::move(x));
      }
    }
    // An action is specific when runs that take it almost always fail (at least 90%, anywhere) and most
    // failed runs that took it failed in one of the ways it marks (a common call explains nothing);
    // each failure is paired with the specific action most of its failed runs took (at least the
    // co-occurrence share of them), the rarest of those that most took.
    std::map<std::string, std::uint64_t> marked_runs;  // action → failed runs of the failures it marks
    for (const auto& list : marks)
      for (const auto& x : list) marked_runs[x.feature] += x.association.with_runs - x.association.with_successes;
    const auto failures_with = [&](const Candidate& y) { return total.features.at(y.feature).failures; };
    for (std::size_t i = 0; i < failures.size(); ++i) {
      const Candidate* best = nullptr;
      double best_coverage = 0;
      for (const auto& x : marks[i]) {
        const FeatureTally& anywhere = total.features.at(x.feature);
        if (failures_with(x) * 2 > marked_runs[x.feature] * 3 || anywhere.successes * 10 > anywhere.successes + anywhere.failures) continue;
        // the share of all the runs that failed this way that took it (not only those of the tasks
        // compared): an action a few of them took does not say what the failure is
        const MinedCounts& counts = recounted[subset_of[i]];
        const auto took = counts.features.find(x.feature);
        const double coverage = took == counts.features.end() ? 0.0 : share(static_cast<double>(took->second.failures), static_cast<double>(counts.failures));
        if (coverage < options.cooccurrence) continue;
        if (best == nullptr || coverage > best_coverage ||
            (coverage == best_coverage && (failures_with(x) < failures_with(*best) ||
                                           (failures_with(x) == failures_with(*best) && x.association.p_value < best->association.p_value)))) {
          best = &x;
          best_coverage = coverage;
        }
      }
      if (best != nullptr) {
        pairs.push_back(*best);
        pair_of[i] = &pairs.back();
      }
    }
  }
  // A failure whose runs nearly all show stronger failures' symptoms is a by-product of those (say, a
  // tool error met on the way to several failure modes): it must still hold among the runs free of the
  // stronger failures' symptoms, or it is neither a lesson nor joined to one.
  if (recount) {
    std::vector<Subset> subsets;
    std::vector<std::size_t> subset_of;
    std::vector<std::string> stronger;
    for (std::size_t i = 0; i < failures.size(); ++i) {
      if (!failures[i]->verdict.empty()) continue;
      if (!stronger.empty()) {
        Subset subset;
        subset.excluding = stronger;
        subset.only = {failures[i]->feature};
        subsets.push_back(std::move(subset));
        subset_of.push_back(i);
      }
      stronger.push_back(failures[i]->feature);
      stronger.insert(stronger.end(), joined[i].begin(), joined[i].end());
    }
    const std::vector<MinedCounts> recounted = subsets.empty() ? std::vector<MinedCounts>() : recount(subsets);
    for (std::size_t k = 0; k < subsets.size(); ++k) {
      Candidate rest = *failures[subset_of[k]];
      weigh(rest, recounted[k], plan, folds);
      const Association& a = rest.association;
      if (a.strata == 0 || a.p_value > options.fdr || -a.risk_difference < options.min_difference)
        failures[subset_of[k]]->verdict = "explained by the stronger failure modes (among the runs free of their symptoms: risk difference " +
                                          fixed(a.risk_difference, 2) + ", p = " + fixed(a.p_value, 2) + ")";
    }
  }
  // Failures whose failing runs share the action that sets them apart are symptoms of one cause.
  for (std::size_t i = 0; i < failures.size(); ++i) {
    if (!failures[i]->verdict.empty() || pair_of[i] == nullptr || pair_of[i]->association.risk_difference >= 0) continue;
    for (std::size_t j = i + 1; j < failures.size(); ++j) {
      if (!failures[j]->verdict.empty() || pair_of[j] == nullptr || pair_of[j]->feature != pair_of[i]->feature ||
          pair_of[j]->association.risk_difference >= 0)
        continue;
      joined[i].push_back(failures[j]->feature);
      joined[i].insert(joined[i].end(), joined[j].begin(), joined[j].end());
      failures[j]->verdict = "one cause with " + failures[i]->feature + " (the runs that failed either way " + phrase(pair_of[i]->feature, Voice::past) + ")";
    }
  }
  for (std::size_t i = 0; i < failures.size(); ++i) {
    Candidate& c = *failures[i];
    if (!c.verdict.empty()) continue;
    Lesson lesson;
    lesson.kind = Lesson::Kind::failure;
    lesson.features.push_back(c.feature);
    lesson.features.insert(lesson.features.end(), joined[i].begin(), joined[i].end());
    lesson.section = options.failure_section;
    lesson.text = lesson_text(c, joined[i], pair_of[i], recovery_for(c.feature));
    lesson.evidence = candidate_json(c);
    if (const Candidate* pair = pair_of[i]) {
      const auto [passing, failing] = shares(pair->association);
      lesson.evidence["paired"] = {{"feature", pair->feature}, {"p", pair->association.p_value}, {"q", pair->q},
                                   {"risk_difference", pair->association.risk_difference}, {"passing_share", passing},
                                   {"failing_share", failing}, {"strata", pair->association.strata}};
    }
    decision.lessons.push_back(std::move(lesson));
  }
  for (auto* h : habits) {
    Lesson lesson;
    lesson.kind = Lesson::Kind::habit;
    lesson.features.push_back(h->feature);
    lesson.section = options.habit_section;
    lesson.text = lesson_text(*h, {}, nullptr, {});
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
         std::to_string(report.value("lessons", 0)) + (report.value("lessons", 0) == 1 ? " lesson.\n\n" : " lessons.\n\n");
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

LessonMatcher::LessonMatcher(const std::vector<Lesson>& lessons, const ShardMiner& miner) : miner_(miner) {
  for (std::uint32_t i = 0; i < lessons.size(); ++i) {
    kinds_.push_back(lessons[i].kind);
    for (const auto& f : lessons[i].features) {
      const std::uint32_t id = miner.id_of(f);
      if (id == ShardMiner::kNone) continue;  // no run of this shard shows it
      if (id >= by_id_.size()) by_id_.resize(id + 1);
      by_id_[id].push_back(i);
    }
  }
}

std::vector<std::uint32_t> LessonMatcher::match(std::uint64_t row) const {
  std::vector<std::uint32_t> out;
  const Label label = miner_.plan().label_of(row);
  if (label == Label::unlabelled) return out;
  const Lesson::Kind wanted = label == Label::success ? Lesson::Kind::habit : Lesson::Kind::failure;
  std::vector<std::uint32_t> ids;
  miner_.feature_ids(row, ids);
  for (const auto id : ids) {
    if (id >= by_id_.size()) break;  // ids ascend
    for (const auto i : by_id_[id])
      if (kinds_[i] == wanted) out.push_back(i);
  }
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
