#include "t2s/pipeline/sweep.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "t2s/core/error.hpp"
#include "t2s/core/files.hpp"
#include "t2s/core/text.hpp"
#include "t2s/eval/report.hpp"
#include "t2s/pipeline/run_summary.hpp"

namespace t2s::pipeline {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool valid_run_name(const std::string& name) {
  return !name.empty() && name.size() <= 128 && name.front() != '.' &&
         std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '_' || c == '-'; });
}

// What a failed or unfinished run's log says last: t2s's own error line when there is one.
std::string last_words(const fs::path& log) {
  std::ifstream in(log, std::ios::binary);
  if (!in) return "";
  std::string line, last, error;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    last = line;
    if (line.starts_with("t2s: error:") || line.starts_with("t2s batch script:") || line.starts_with("t2s: interrupted:"))
      error = line;
  }
  return abbreviate(error.empty() ? last : error, 300);
}

std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  return text;
}

std::string wall_text(const std::optional<double>& wall_s) {
  if (!wall_s) return "";
  const long s = static_cast<long>(*wall_s + 0.5);
  char text[32];
  if (s >= 3600) std::snprintf(text, sizeof text, "%ldh%02ldm", s / 3600, s / 60 % 60);
  else if (s >= 60) std::snprintf(text, sizeof text, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(text, sizeof text, "%lds", s);
  return text;
}

void read_status(const fs::path& path, SweepRun& run) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    run.state = "not started";
    return;
  }
  json status;
  try {
    status = json::parse(in);
    run.job_id = status.value("job_id", "");
    run.restarts = status.value("restart", 0);
    const auto& ended = status.at("ended");
    const auto& exit_status = status.at("exit_status");
    if (!ended.is_null() && status.at("started").is_number()) run.wall_s = ended.get<double>() - status.at("started").get<double>();
    if (!exit_status.is_null()) run.exit_status = exit_status.get<int>();
  } catch (const std::exception& e) {
    throw InputError(path.string() + ": not a run status (" + e.what() + ")");
  }
  if (!run.exit_status) run.state = "unfinished";
  else run.state = *run.exit_status == 0 ? "ok" : "failed";
}

}  // namespace

std::size_t Sweep::count(const std::string& state) const {
  return static_cast<std::size_t>(std::count_if(runs.begin(), runs.end(), [&](const SweepRun& r) { return r.state == state; }));
}

Sweep read_sweep(const fs::path& dir) {
  Sweep sweep;
  sweep.dir = dir;
  const fs::path manifest = dir / "manifest";
  std::ifstream in(manifest, std::ios::binary);
  if (!in) throw InputError(manifest.string() + ": cannot be read (is " + dir.string() + " a sweep directory made by slurm/sweep?)");
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    std::istringstream fields(line);
    SweepRun run;
    if (!(fields >> run.name >> run.job))
      throw InputError(manifest.string() + ":" + std::to_string(number) + ": expected NAME JOB.toml [ARGS...]");
    if (!valid_run_name(run.name))
      throw InputError(manifest.string() + ":" + std::to_string(number) + ": \"" + abbreviate(run.name, 60) +
                       "\" is not a run name (letters, digits, '.', '_' and '-')");
    run.index = sweep.runs.size();
    run.run_dir = dir / "runs" / run.name;
    run.log = dir / "logs" / (std::to_string(run.index) + ".out");
    read_status(run.run_dir / "status.json", run);
    if (run.state == "ok") {
      const auto summary = read_run_summary(run.run_dir);
      run.result = summary ? summary->headline : "finished, but without " + (run.run_dir / "summary.json").string();
    } else if (run.state != "not started") {
      run.result = last_words(run.log);
    }
    sweep.runs.push_back(std::move(run));
  }
  return sweep;
}

std::string render_sweep_markdown(const Sweep& sweep) {
  using eval::escape_markdown;
  std::string md = "# Sweep " + escape_markdown(sweep.dir.string()) + "\n\n" + std::to_string(sweep.runs.size()) +
                   " run(s): " + std::to_string(sweep.count("ok")) + " ok, " + std::to_string(sweep.count("failed")) +
                   " failed, " + std::to_string(sweep.count("unfinished")) + " unfinished, " +
                   std::to_string(sweep.count("not started")) + " not started.\n\n";
  md += "| # | run | state | exit | job | restarts | wall | result |\n|---:|---|---|---:|---|---:|---:|---|\n";
  for (const auto& r : sweep.runs)
    md += "| " + std::to_string(r.index) + " | " + escape_markdown(r.name) + " | " + r.state + " | " +
          (r.exit_status ? std::to_string(*r.exit_status) : "") + " | " + escape_markdown(r.job_id) + " | " +
          std::to_string(r.restarts) + " | " + wall_text(r.wall_s) + " | " + escape_markdown(r.result) + " |\n";
  md += "\nRun directories: " + escape_markdown((sweep.dir / "runs").string()) + "/NAME; logs: " +
        escape_markdown((sweep.dir / "logs").string()) + "/#.out\n";
  return md;
}

std::string render_sweep_tsv(const Sweep& sweep) {
  std::string tsv = "index\tname\tstate\texit_status\tjob_id\trestarts\twall_s\tresult\trun_dir\tlog\n";
  for (const auto& r : sweep.runs) {
    char wall[32] = "";
    if (r.wall_s) std::snprintf(wall, sizeof wall, "%.0f", *r.wall_s);
    tsv += std::to_string(r.index) + "\t" + one_line(r.name) + "\t" + r.state + "\t" +
           (r.exit_status ? std::to_string(*r.exit_status) : "") + "\t" + one_line(r.job_id) + "\t" +
           std::to_string(r.restarts) + "\t" + wall + "\t" + one_line(r.result) + "\t" + one_line(r.run_dir.string()) +
           "\t" + one_line(r.log.string()) + "\n";
  }
  return tsv;
}

void write_sweep_summary(const Sweep& sweep) {
  write_file_whole(sweep.dir / "summary.md", render_sweep_markdown(sweep));
  write_file_whole(sweep.dir / "summary.tsv", render_sweep_tsv(sweep));
}

}  // namespace t2s::pipeline
