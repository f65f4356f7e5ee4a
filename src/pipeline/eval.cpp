#include "t2s/pipeline/eval.hpp"
#include "t2s/pipeline/provenance.hpp"
#include "t2s/pipeline/run_summary.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>
#include <ostream>
#include <set>

#include "t2s/core/error.hpp"
#include "t2s/core/files.hpp"
#include "t2s/core/sha256.hpp"
#include "t2s/core/version.hpp"
#include "t2s/skill/skill_dir.hpp"
#include "t2s/store/eval_archive.hpp"

namespace t2s::pipeline {

namespace fs = std::filesystem;
using json = nlohmann::json;

EvalJob EvalJob::from_config(const Config& config) {
  const std::string& name = config.name();
  if (config.has("eval.skill") || config.has("eval.model"))
    throw InputError(name + ": eval.skill / eval.model: skills and models belong to the conditions ([[eval.conditions]])");
  EvalJob job;
  const json conditions = config.list("eval.conditions");
  const json compare = config.list("eval.compare");
  if (const auto resamples = config.integer("eval.resamples")) {
    if (*resamples < 100 || *resamples > 10'000'000) throw InputError(name + ": eval.resamples: must be between 100 and 10000000");
    job.bootstrap.resamples = static_cast<int>(*resamples);
  }
  if (const auto confidence = config.number("eval.confidence")) {
    if (!(*confidence > 0.5 && *confidence < 1)) throw InputError(name + ": eval.confidence: must be between 0.5 and 1");
    job.bootstrap.confidence = *confidence;
  }
  if (const auto seed = config.integer("eval.bootstrap_seed")) job.bootstrap.seed = static_cast<std::uint64_t>(*seed);
  job.rollout = RolloutJob::from_config(config, "eval");
  job.rollout.fail_when_all_errors = false;
  job.output = job.rollout.output;
  config.reject_unread("eval");

  if (!conditions.is_array() || conditions.empty())
    throw InputError(name + ": eval.conditions: at least one is required ([[eval.conditions]] with name, and skill, model, base_url)");
  std::set<std::string> names;
  for (std::size_t i = 0; i < conditions.size(); ++i) {
    const json& c = conditions[i];
    const std::string where = name + ": eval.conditions[" + std::to_string(i) + "]";
    if (!c.is_object()) throw InputError(where + ": must be a table");
    EvalCondition condition;
    for (const auto& [key, value] : c.items()) {
      if (!value.is_string()) throw InputError(where + "." + key + ": must be a string");
      const std::string text = value.get<std::string>();
      if (key == "name") condition.name = text;
      else if (key == "skill") condition.skill = text;
      else if (key == "model") condition.model = text;
      else if (key == "base_url") condition.base_url = text;
      else throw InputError(where + "." + key + ": unknown key (name, skill, model, base_url)");
    }
    const bool good_name = !condition.name.empty() && condition.name != "." && condition.name != ".." &&
                           std::all_of(condition.name.begin(), condition.name.end(), [](unsigned char ch) {
                             return std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.';
                           });
    if (!good_name) throw InputError(where + ".name: required, letters, digits, '-', '_' and '.' only (it names a directory)");
    if (!names.insert(condition.name).second) throw InputError(where + ".name: \"" + condition.name + "\" is used twice");
    job.conditions.push_back(std::move(condition));
  }
  if (compare.is_null()) {
    for (std::size_t i = 1; i < job.conditions.size(); ++i) job.comparisons.emplace_back(job.conditions[0].name, job.conditions[i].name);
  } else {
    if (!compare.is_array()) throw InputError(name + ": eval.compare: must be a list of [A, B] pairs");
    for (const auto& pair : compare) {
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string())
        throw InputError(name + ": eval.compare: must be a list of [A, B] pairs of condition names");
      for (const auto& n : pair)
        if (!names.count(n.get<std::string>())) throw InputError(name + ": eval.compare: \"" + n.get<std::string>() + "\" is not a condition");
      job.comparisons.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
    }
  }
  return job;
}

namespace {

std::string now_utc() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

std::string skill_digest(const fs::path& skill) {
  if (skill.empty()) return "";
  std::string bytes;
  for (const auto& [path, file] : skill::load_skill_dir(skill).files) bytes += path + '\0' + file.bytes + '\0';
  return to_hex(sha256(bytes));
}

}  // namespace

EvalSummary run_eval(const EvalJob& job, const mpi::Comm& comm, std::ostream& out, const std::string& command_line) {
  const std::string started = now_utc();
  std::map<std::string, std::vector<eval::Unit>> units;  // rank 0: condition → its attempts
  store::EvalArchive archive;
  std::string benchmark, base_model;
  std::uint64_t tasks = 0;
  // Every skill is read before any condition runs: a wrong path fails now, not hours in.
  std::map<std::string, std::string> digests;
  for (const auto& condition : job.conditions) digests[condition.name] = skill_digest(condition.skill);
  for (const auto& condition : job.conditions) {
    if (comm.is_main()) out << "[eval] condition " << condition.name << std::endl;
    RolloutJob rollout = job.rollout;
    rollout.output = job.output / "conditions" / condition.name;
    rollout.skill = condition.skill;
    if (!condition.model.empty()) rollout.model = condition.model;
    if (!condition.base_url.empty()) rollout.llm.base_url = condition.base_url;
    // The condition's own checkpoint identity: the evaluation's settings and this condition.
    rollout.effective = job.rollout.effective + '\0' +
                        json{{"name", condition.name}, {"skill", condition.skill.string()}, {"model", condition.model}}.dump();
    const RolloutSummary summary = run_rollout(rollout, comm, out, command_line);
    benchmark = summary.benchmark;
    tasks = summary.tasks;
    if (!comm.is_main()) continue;
    if (base_model.empty()) base_model = summary.model;
    auto& mine = units[condition.name];
    for (const auto& r : summary.results) {
      mine.push_back({r.task_id, r.attempt, r.status == "error" ? std::nullopt : std::optional<double>(r.score)});
      archive.results.push_back({condition.name, r.task_id, r.status, r.reason, r.trajectory_id, r.attempt,
                                 static_cast<std::int64_t>(r.seed), r.status == "error" ? std::nan("") : r.score});
    }
    archive.conditions.push_back({condition.name, summary.model, condition.skill.string(), digests[condition.name]});
  }
  EvalSummary result;
  if (!comm.is_main()) return result;

  eval::EvalReport& report = result.report;
  report.provenance = {{"benchmark", benchmark}, {"tasks", tasks}, {"attempts", job.rollout.attempts},
                       {"job", job.rollout.job_name}, {"started", started}, {"finished", now_utc()},
                       {"t2s", std::string(version()) + " (" + git_revision() + ")"}, {"ranks", comm.size()},
                       {"bootstrap", std::to_string(job.bootstrap.resamples) + " resamples over tasks, seed " +
                                         std::to_string(job.bootstrap.seed)}};
  for (const auto& [key, value] : job.provenance.items()) report.provenance[key] = value;
  for (auto& c : archive.conditions) {
    const auto summary = eval::summarize(units[c.name], job.bootstrap);
    report.conditions.push_back({c.name, c.model, c.skill, summary});
    c.tasks = static_cast<std::int64_t>(summary.tasks);
    c.units = static_cast<std::int64_t>(summary.units);
    c.passed = static_cast<std::int64_t>(summary.passed);
    c.failed = static_cast<std::int64_t>(summary.failed);
    c.missing = static_cast<std::int64_t>(summary.missing);
    c.tasks_all_missing = static_cast<std::int64_t>(summary.tasks_all_missing);
    c.rate = summary.rate, c.low = summary.interval.low, c.high = summary.interval.high;
  }
  for (const auto& [a, b] : job.comparisons) {
    const auto stats = eval::compare(units[a], units[b], job.bootstrap);
    report.comparisons.push_back({a, b, stats});
    archive.comparisons.push_back({a, b, static_cast<std::int64_t>(stats.pairs), static_cast<std::int64_t>(stats.a_only),
                                   static_cast<std::int64_t>(stats.b_only), static_cast<std::int64_t>(stats.both),
                                   static_cast<std::int64_t>(stats.neither), static_cast<std::int64_t>(stats.excluded),
                                   stats.rate_a, stats.rate_b, stats.difference, stats.difference_interval.low,
                                   stats.difference_interval.high, stats.mcnemar_p, stats.bootstrap_p});
  }
  const std::string markdown = eval::render_markdown(report);
  const std::string html = eval::render_html(report);
  archive.provenance = report.provenance;
  archive.provenance["command"] = command_line;
  archive.provenance["version"] = version();
  archive.provenance["git_revision"] = git_revision();
  const nlohmann::json slurm = slurm_provenance();
  for (const auto& [key, value] : slurm.items()) archive.provenance[key] = value;
  archive.job_text = job.rollout.job_text;
  archive.report_markdown = markdown;
  result.archive = job.output / "eval.h5";
  result.markdown = job.output / "report.md";
  result.html = job.output / "report.html";
  store::write_eval_archive(result.archive, archive);
  write_file_whole(result.markdown, markdown);
  write_file_whole(result.html, html);
  RunSummary run_summary{"eval", "", {{"conditions", json::object()}, {"comparisons", json::array()}}};
  for (const auto& c : report.conditions) {
    const auto& s = c.summary;
    run_summary.headline += (run_summary.headline.empty() ? "" : "; ") + c.name + " " + count_and_share(s.passed, s.units - s.missing) +
                            (s.missing ? ", " + std::to_string(s.missing) + " missing" : "");
    run_summary.numbers["conditions"][c.name] = {{"passed", s.passed}, {"failed", s.failed}, {"missing", s.missing},
                                                 {"rate", std::isnan(s.rate) ? json() : json(s.rate)}};
  }
  for (const auto& c : report.comparisons) {
    run_summary.headline += "; " + eval::verdict(c);
    run_summary.numbers["comparisons"].push_back({{"a", c.a}, {"b", c.b},
                                                  {"difference", std::isnan(c.stats.difference) ? json() : json(c.stats.difference)},
                                                  {"mcnemar_p", c.stats.mcnemar_p}});
  }
  write_run_summary(job.output, run_summary);
  for (const auto& c : report.comparisons) out << "[eval] " << eval::verdict(c) << "\n";
  out << "[eval] report: " << result.markdown.string() << " and " << result.html.string() << "; results: " << result.archive.string()
      << std::endl;
  return result;
}

}  // namespace t2s::pipeline
