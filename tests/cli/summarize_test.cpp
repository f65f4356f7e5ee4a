// `t2s summarize SWEEP_DIR`: every run of a sweep's manifest is one row, whatever became of it.
// The directory is laid out here as slurm/sweep and its array tasks lay it out (slurm_test runs the
// real thing under Slurm).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "testutil/run_command.hpp"
#include "testutil/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;

t2s::test::CommandResult run(const std::string& arguments) {
  return t2s::test::run_command(std::string(T2S_BINARY) + " " + arguments);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// name → the row's fields (index, name, state, exit_status, job_id, restarts, wall_s, result, ...)
std::map<std::string, std::vector<std::string>> rows(const fs::path& tsv) {
  std::map<std::string, std::vector<std::string>> out;
  std::istringstream in(read_file(tsv));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::istringstream cells(line);
    for (std::string cell; std::getline(cells, cell, '\t');) fields.push_back(cell);
    out[fields.at(1)] = fields;
  }
  return out;
}

TEST(Summarize, EveryRunIsARowWhateverBecameOfIt) {
  t2s::test::TempDir temp;
  const fs::path sweep = temp / "sweep";
  temp.write("sweep/manifest",
             "done /jobs/a.toml\nbroken /jobs/b.toml --set evolve.trajectories=missing.h5\nkilled /jobs/a.toml\nqueued /jobs/a.toml\n");
  temp.write("sweep/runs/done/status.json",
             R"({"name": "done", "job_id": "41", "array_job_id": "40", "array_task_id": 0, "restart": 1, "nodes": "n1", "started": 1000, "ended": 1125, "exit_status": 0})");
  temp.write("sweep/runs/done/summary.json", R"({"command": "evolve", "headline": "skill s: 3 lesson(s) in SKILL.md", "numbers": {}})");
  temp.write("sweep/runs/broken/status.json",
             R"({"name": "broken", "job_id": "42", "array_job_id": "40", "array_task_id": 1, "restart": 0, "nodes": "n1", "started": 1000, "ended": 1001, "exit_status": 2})");
  temp.write("sweep/logs/1.out", "t2s evolve ...\nt2s: error: missing.h5: cannot be opened\n\n");
  temp.write("sweep/runs/killed/status.json",
             R"({"name": "killed", "job_id": "43", "array_job_id": "40", "array_task_id": 2, "restart": 0, "nodes": "n1", "started": 1000, "ended": null, "exit_status": null})");
  temp.write("sweep/logs/2.out", "[evolve] analysed 10/100\nslurmstepd: error: *** JOB 43 CANCELLED DUE TO TIME LIMIT ***\n");

  const auto result = run("summarize " + sweep.string());
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_NE(result.output.find("4 run(s): 1 ok, 1 failed, 1 unfinished, 1 not started."), std::string::npos) << result.output;
  EXPECT_EQ(read_file(sweep / "summary.md"), result.output);
  const auto table = rows(sweep / "summary.tsv");
  ASSERT_EQ(table.size(), 4u);
  EXPECT_EQ(table.at("done")[2], "ok");
  EXPECT_EQ(table.at("done")[3], "0");
  EXPECT_EQ(table.at("done")[4], "41");
  EXPECT_EQ(table.at("done")[5], "1");
  EXPECT_EQ(table.at("done")[6], "125");
  EXPECT_EQ(table.at("done")[7], "skill s: 3 lesson(s) in SKILL.md");
  EXPECT_EQ(table.at("broken")[2], "failed");
  EXPECT_EQ(table.at("broken")[3], "2");
  EXPECT_EQ(table.at("broken")[7], "t2s: error: missing.h5: cannot be opened");  // t2s's own line, not the last
  EXPECT_EQ(table.at("killed")[2], "unfinished");
  EXPECT_EQ(table.at("killed")[3], "");
  EXPECT_NE(table.at("killed")[7].find("TIME LIMIT"), std::string::npos);
  EXPECT_EQ(table.at("queued")[2], "not started");
  EXPECT_EQ(table.at("queued")[0], "3");
  EXPECT_EQ(table.at("queued")[9], (sweep / "logs" / "3.out").string());
}

TEST(Summarize, BadInputIsNamed) {
  t2s::test::TempDir temp;
  const auto missing = run("summarize " + (temp / "nothing").string());
  EXPECT_EQ(missing.status, 2);
  EXPECT_NE(missing.output.find("is " + (temp / "nothing").string() + " a sweep directory made by slurm/sweep?"), std::string::npos)
      << missing.output;

  temp.write("a/manifest", "ok /jobs/a.toml\n../escape /jobs/a.toml\n");
  const auto bad_name = run("summarize " + (temp / "a").string());
  EXPECT_EQ(bad_name.status, 2);
  EXPECT_NE(bad_name.output.find("manifest:2: \"../escape\" is not a run name"), std::string::npos) << bad_name.output;

  temp.write("b/manifest", "ok /jobs/a.toml\n");
  temp.write("b/runs/ok/status.json", "{\"name\": ");
  const auto bad_status = run("summarize " + (temp / "b").string());
  EXPECT_EQ(bad_status.status, 2);
  EXPECT_NE(bad_status.output.find("status.json: not a run status"), std::string::npos) << bad_status.output;
}

}  // namespace
