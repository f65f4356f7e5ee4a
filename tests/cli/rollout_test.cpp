// `t2s rollout` through the real binary and the real MPI launcher, against the scripted server
// playing an agent (tests/llm_server/scripts/rollout_agent.json): its bash tool calls run for real
// in the sandbox, its final answer is what the command printed, and the benchmark's real checker
// judges it. Also: the skill in the prompt and in the sandbox, resume, infrastructure errors as
// missing results that a rerun retries, the sandbox's limits against a looping, forking,
// disk-filling, network-reaching agent, and WikiTableQuestions verdicts that agree with `t2s score`.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "testutil/run_command.hpp"
#include "testutil/scripted_server.hpp"
#include "testutil/t2s_cli.hpp"
#include "testutil/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using t2s::test::ScriptedServer;

const std::string kScript = std::string(T2S_SOURCE_DIR) + "/tests/llm_server/scripts/rollout_agent.json";
const fs::path kWikiTQ = fs::path(T2S_SOURCE_DIR) / ".." / "shared" / "data" / "wikitablequestions-sample";

std::vector<json> results_of(const fs::path& output) {
  std::vector<json> rows;
  std::ifstream in(output / "results.jsonl");
  for (std::string line; std::getline(in, line);) rows.push_back(json::parse(line));
  return rows;
}

// The store's rows as the h5py reader sees them: task_id → success flags, and every record.
json store_rows(const fs::path& store) {
  const auto r = t2s::test::run_command(
      "/usr/bin/python3 -c \"import h5py, json, sys\n"
      "g = h5py.File(sys.argv[1], 'r')['trajectories']\n"
      "text = g['text'][:].tobytes()\n"
      "print(json.dumps([{'id': i.decode(), 'task_id': t.decode(), 'success': int(s), 'record': json.loads(text[o:o+n])} "
      "for i, t, s, o, n in zip(g['id'][:], g['task_id'][:], g['success'][:], g['offset'][:], g['length'][:])]))\" " + store.string() + " 2>&1");
  EXPECT_EQ(r.status, 0) << r.output;
  return r.status == 0 ? json::parse(r.output) : json::array();
}

class Rollout : public ::testing::Test {
 protected:
  // Six "sum the column" tasks; two have a misnamed column, so the agent's command fails on them
  // and its guess is wrong: 4 pass, 2 fail, decided by what really ran.
  fs::path sum_tasks() {
    std::ofstream tasks(dir_ / "tasks.jsonl");
    for (int t = 0; t < 6; ++t) {
      const std::string column = t % 3 == 2 ? "Value" : "value";
      long sum = 0;
      std::string csv = column + "\n";
      for (int i = 1; i <= 5 + t; ++i) {
        csv += std::to_string(i * (t + 3)) + "\n";
        sum += i * (t + 3);
      }
      dir_.write("data/numbers-" + std::to_string(t) + ".csv", csv);
      tasks << json{{"id", "sum-" + std::to_string(t)},
                    {"instruction", "What is the sum of the column `value` in numbers.csv?"},
                    {"files", {{"numbers.csv", "data/numbers-" + std::to_string(t) + ".csv"}}},
                    {"answer", sum}}
                   .dump()
            << "\n";
    }
    return dir_ / "tasks.jsonl";
  }
  fs::path job(const std::string& name, const std::string& base_url, const std::string& benchmark, const std::string& extra = "") {
    return dir_.write(name + ".toml", "[rollout]\noutput = \"" + (dir_ / name).string() + "\"\ncheckpoint_seconds = 0\n" + extra +
                                          "\n[benchmark]\n" + benchmark + "\n[agent]\nmax_turns = 6\n[llm]\nbase_url = \"" +
                                          base_url + "\"\nmodel = \"scripted-model\"\nmax_attempts = 2\n");
  }
  std::string generic() { return "kind = \"generic\"\ndata = \"" + sum_tasks().string() + "\"\n[benchmark.checker]\nkind = \"numeric\"\n"; }

  t2s::test::TempDir dir_;
};

TEST_F(Rollout, TheAgentsCommandsRunForRealAndTheCheckerJudgesTheirOutput) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(kScript);
  dir_.write("skill/sums/SKILL.md", "---\nname: sums\ndescription: Summing CSV columns.\n---\n\n# Sums\n\nALWAYS-SUM-WITH-PYTHON\n");
  dir_.write("skill/sums/references/tips.md", "Check the header's case.\n");
  const auto job_file = job("run", server.base_url(), generic(), "attempts = 2\nseeds = [11, 12]\nskill = \"" + (dir_ / "skill/sums").string() + "\"");
  const auto r = t2s::test::run_t2s_mpi(2, "rollout " + job_file.string());
  ASSERT_EQ(r.status, 0) << r.output;

  const auto results = results_of(dir_ / "run");
  ASSERT_EQ(results.size(), 12u) << r.output;  // 6 tasks x 2 attempts, each once
  std::set<std::pair<std::string, int>> seen;
  for (const auto& row : results) {
    seen.insert({row["task_id"].get<std::string>(), row["attempt"].get<int>()});
    const bool misnamed = row["task_id"] == "sum-2" || row["task_id"] == "sum-5";
    EXPECT_EQ(row["status"], misnamed ? "failed" : "passed") << row.dump();
    EXPECT_EQ(row["seed"], row["attempt"] == 0 ? 11 : 12);
    EXPECT_EQ(row["turns"], 2);
  }
  EXPECT_EQ(seen.size(), 12u);

  // The store holds every attempt with the verdict as its outcome, and the real command's output.
  // Both attempts of a task are the same transcript (the script is deterministic): one trajectory.
  const json rows = store_rows(dir_ / "run" / "trajectories.h5");
  ASSERT_EQ(rows.size(), 6u);
  std::set<std::string> stored;
  for (const auto& row : rows) stored.insert(row["id"]);
  for (const auto& row : results) EXPECT_TRUE(stored.count(row["trajectory_id"])) << row.dump();
  for (const auto& row : rows) {
    const bool misnamed = row["task_id"] == "sum-2" || row["task_id"] == "sum-5";
    EXPECT_EQ(row["success"], misnamed ? 0 : 1);
    const json& messages = row["record"]["messages"];
    ASSERT_EQ(messages.size(), 5u);  // system, user, tool call, tool result, answer
    EXPECT_NE(messages[0]["content"].get<std::string>().find("ALWAYS-SUM-WITH-PYTHON"), std::string::npos);
    const std::string tool = messages[3]["content"];
    EXPECT_NE(tool.find("tips.md"), std::string::npos) << tool;  // the skill's files are in the sandbox
    EXPECT_EQ(tool.find("KeyError") != std::string::npos, misnamed) << tool;
    EXPECT_EQ(row["record"]["task"]["files"], json::array({"numbers.csv"}));
  }
  // The seeds went to the model.
  std::set<int> seeds;
  for (const auto& request : server.requests()) seeds.insert(request["body"]["seed"].get<int>());
  EXPECT_EQ(seeds, (std::set<int>{11, 12}));

  // A rerun resumes: nothing is asked of the model again, and the results are the same.
  const auto requests = server.stats()["requests"].get<int>();
  const auto again = t2s::test::run_t2s("rollout " + job_file.string());
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_EQ(server.stats()["requests"].get<int>(), requests);
  EXPECT_EQ(results_of(dir_ / "run"), results);
}

// SIGUSR1 (what Slurm's --signal=B:USR1@N becomes, passed on by mpirun or srun): the attempts in
// flight finish, nothing new starts, everything is checkpointed, exit 75; the rerun does only the
// rest, so the model is asked exactly what one uninterrupted run asks it.
TEST_F(Rollout, AStopRequestCheckpointsAndTheRerunDoesOnlyTheRest) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer::Options options;
  options.latency_ms = 150;
  ScriptedServer server(kScript, options);
  const std::string tasks = generic();
  const auto whole = t2s::test::run_t2s_mpi(2, "rollout " + job("whole", server.base_url(), tasks, "attempts = 4").string());
  ASSERT_EQ(whole.status, 0) << whole.output;
  const int asked_whole = server.stats()["requests"].get<int>();

  const auto job_file = job("stopped", server.base_url(), tasks, "attempts = 4");
  const fs::path parts = dir_ / "stopped" / "parts";
  // One attempt in flight per rank; USR1 to mpirun once the first attempt is checkpointed.
  const auto stopped = t2s::test::run_command(
      t2s::test::mpi_launcher() + " -n 2 " + T2S_BINARY + " rollout " + job_file.string() + " --set llm.max_in_flight=1 > " +
      (dir_ / "stopped.out").string() + " 2>&1 & pid=$!; for i in $(seq 600); do ls " + parts.string() +
      "/*.h5 > /dev/null 2>&1 && break; sleep 0.05; done; kill -USR1 $pid; wait $pid; echo \"exit $?\"; cat " +
      (dir_ / "stopped.out").string());
  EXPECT_NE(stopped.output.find("exit 75"), std::string::npos) << stopped.output;
  EXPECT_NE(stopped.output.find("t2s: interrupted: stopped on request after"), std::string::npos) << stopped.output;
  EXPECT_FALSE(fs::exists(dir_ / "stopped" / "results.jsonl"));  // not finished: no outputs yet
  const int asked_before = server.stats()["requests"].get<int>() - asked_whole;
  EXPECT_GT(asked_before, 0);
  EXPECT_LT(asked_before, asked_whole) << "the stop came too late to stop anything";

  const auto rerun = t2s::test::run_t2s_mpi(2, "rollout " + job_file.string());
  ASSERT_EQ(rerun.status, 0) << rerun.output;
  EXPECT_NE(rerun.output.find("attempt(s) already done"), std::string::npos) << rerun.output;
  // Nothing was asked twice. (Fewer than an uninterrupted run, even: the tasks' first requests are
  // alike, and the rerun replays the ones the first part recorded.)
  EXPECT_LE(server.stats()["requests"].get<int>() - asked_whole, asked_whole);
  const auto results = results_of(dir_ / "stopped"), expected = results_of(dir_ / "whole");
  ASSERT_EQ(results.size(), 24u);
  ASSERT_EQ(expected.size(), 24u);
  for (std::size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i]["task_id"], expected[i]["task_id"]);
    EXPECT_EQ(results[i]["attempt"], expected[i]["attempt"]);
    EXPECT_EQ(results[i]["status"], expected[i]["status"]) << results[i].dump();
    EXPECT_EQ(results[i]["trajectory_id"], expected[i]["trajectory_id"]) << results[i].dump();
  }
}

TEST_F(Rollout, InfrastructureErrorsAreMissingResultsThatARerunRetries) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  std::string base_url;
  fs::path job_file;
  {
    ScriptedServer broken(R"({"rules": [{"respond": {"status": 500, "error": "the GPU fell over"}}]})");
    job_file = job("run", broken.base_url(), generic());
    const auto r = t2s::test::run_t2s("rollout " + job_file.string());
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("infrastructure error"), std::string::npos) << r.output;
    const auto results = results_of(dir_ / "run");
    ASSERT_EQ(results.size(), 6u);
    for (const auto& row : results) EXPECT_EQ(row["status"], "error") << row.dump();
  }
  ScriptedServer server(kScript);
  const auto r = t2s::test::run_t2s("rollout " + job_file.string() + " --set llm.base_url=" + server.base_url());
  ASSERT_EQ(r.status, 0) << r.output;
  int passed = 0;
  for (const auto& row : results_of(dir_ / "run")) passed += row["status"] == "passed";
  EXPECT_EQ(passed, 4);
}

TEST_F(Rollout, TheSandboxHoldsAnAgentThatLoopsForksFillsTheDiskAndReachesForTheNetwork) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(kScript);
  dir_.write("probe_url.txt", server.base_url() + "/models\n");
  // From here the URL answers: only the sandbox cannot reach it.
  ASSERT_EQ(t2s::test::run_command("/usr/bin/python3 -c \"import urllib.request; urllib.request.urlopen('" + server.base_url() + "/models')\"").status, 0);
  std::ofstream(dir_ / "limits.jsonl") << json{{"id", "limits"}, {"instruction", "Please test the limits."},
                                               {"files", {"probe_url.txt"}}, {"answer", 7}}.dump() << "\n";
  const auto job_file = job("limits", server.base_url(),
                            "kind = \"generic\"\ndata = \"" + (dir_ / "limits.jsonl").string() + "\"\n",
                            "") ;
  // Tight limits: 2 s per command, 32 processes, a 16 MB disk.
  std::string text = t2s::test::read_file(job_file);
  text.replace(text.find("[agent]\n"), 8, "[agent]\nwall_s = 2\nprocesses = 32\ndisk_mb = 16\n");
  dir_.write("limits.toml", text);
  const auto start = std::chrono::steady_clock::now();
  const auto r = t2s::test::run_t2s("rollout " + job_file.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 60.0);
  const auto results = results_of(dir_ / "limits");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0]["status"], "passed") << results[0].dump();  // the agent survived its own commands
  const json rows = store_rows(dir_ / "limits" / "trajectories.h5");
  ASSERT_EQ(rows.size(), 1u);
  std::vector<std::string> tools;
  for (const auto& m : rows[0]["record"]["messages"])
    if (m["role"] == "tool") tools.push_back(m["content"]);
  ASSERT_EQ(tools.size(), 4u);
  EXPECT_NE(tools[0].find("wall-time limit"), std::string::npos) << tools[0];
  EXPECT_EQ(tools[1].find("forked-all"), std::string::npos) << tools[1];  // 200 background sleeps never all started
  EXPECT_NE(tools[1].find("fork"), std::string::npos) << tools[1];
  EXPECT_NE(tools[2].find("disk quota"), std::string::npos) << tools[2];
  EXPECT_EQ(tools[3].find("NET 200"), std::string::npos) << tools[3];
  EXPECT_NE(tools[3].find("URLError"), std::string::npos) << tools[3];
}

TEST_F(Rollout, WikiTQVerdictsAgreeWithTheScoreCommand) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  if (!fs::exists(kWikiTQ / "data")) GTEST_SKIP() << "no WikiTableQuestions sample at " << kWikiTQ;
  ScriptedServer server(kScript);
  const auto job_file = job("wtq", server.base_url(), "kind = \"wikitq\"\ndata = \"" + kWikiTQ.string() +
                                                          "\"\nsplit = \"pristine-unseen-tables\"\nlimit = 40\n");
  const auto r = t2s::test::run_t2s_mpi(2, "rollout " + job_file.string());
  ASSERT_EQ(r.status, 0) << r.output;
  // The agent answers with the first cell of each table (read by its command): right only where
  // that is the answer. The same answers through `t2s score` must get the same verdicts.
  const json rows = store_rows(dir_ / "wtq" / "trajectories.h5");
  ASSERT_EQ(rows.size(), 40u);
  std::ofstream predictions(dir_ / "pred.tsv");
  std::map<std::string, bool> verdicts;
  for (const auto& row : rows) {
    std::string answer = row["record"]["messages"].back()["content"];
    answer = answer.substr(answer.find("ANSWER:") + 7);
    const auto first = answer.find_first_not_of(' ');
    predictions << row["task_id"].get<std::string>() << "\t" << (first == std::string::npos ? "" : answer.substr(first)) << "\n";
    verdicts[row["task_id"]] = row["success"] == 1;
  }
  predictions.close();
  const auto score = t2s::test::run_command(std::string(T2S_BINARY) + " score wikitq " + kWikiTQ.string() + " " +
                                            (dir_ / "pred.tsv").string() + " --json 2>/dev/null");
  ASSERT_EQ(score.status, 0) << score.output;
  int correct = 0;
  const json scored = json::parse(score.output);
  EXPECT_EQ(scored["examples"], 40);
  for (const auto& v : scored["verdicts"]) {
    EXPECT_EQ(v["correct"].get<bool>(), verdicts.at(v["id"])) << v.dump();
    correct += v["correct"].get<bool>();
  }
  EXPECT_GT(correct, 0);   // the check can pass...
  EXPECT_LT(correct, 40);  // ...and fail
}

}  // namespace

namespace {

// `t2s eval`: a skill that teaches the agent to mind the header's case against no skill, the same
// skill used by another model (cross-model is configuration), and a condition whose server is down
// (its attempts are missing, not failures). Rates, paired counts, eval.h5 and the reports.
TEST_F(Rollout, EvalComparesConditionsPairedAndCountsInfrastructureErrorsAsMissing) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(kScript);
  ScriptedServer down(R"({"rules": [{"respond": {"status": 503, "error": "overloaded"}}]})");
  dir_.write("skill/header-case/SKILL.md",
             "---\nname: header-case\ndescription: Summing CSV columns.\n---\n\n# Header case\n\nCHECK-THE-HEADER-CASE of every column.\n");
  const std::string skill = (dir_ / "skill/header-case").string();
  const auto job_file = dir_.write(
      "eval.toml", "[eval]\noutput = \"" + (dir_ / "eval").string() + "\"\ncheckpoint_seconds = 0\nresamples = 2000\n"
                   "compare = [[\"no-skill\", \"skill\"], [\"no-skill\", \"skill-on-b\"], [\"no-skill\", \"server-down\"]]\n"
                   "[[eval.conditions]]\nname = \"no-skill\"\n"
                   "[[eval.conditions]]\nname = \"skill\"\nskill = \"" + skill + "\"\n"
                   "[[eval.conditions]]\nname = \"skill-on-b\"\nskill = \"" + skill + "\"\nmodel = \"model-b\"\n"
                   "[[eval.conditions]]\nname = \"server-down\"\nbase_url = \"" + down.base_url() + "\"\n"
                   "[benchmark]\n" + generic() + "[agent]\nmax_turns = 4\n[llm]\nbase_url = \"" + server.base_url() +
                   "\"\nmodel = \"model-a\"\nmax_attempts = 1\n");
  const auto r = t2s::test::run_t2s_mpi(2, "eval " + job_file.string());
  ASSERT_EQ(r.status, 0) << r.output;

  const auto h5 = t2s::test::run_command(
      "/usr/bin/python3 -c \"import h5py, json, sys\n"
      "f = h5py.File(sys.argv[1], 'r')\n"
      "col = lambda g, n: [x.decode() if isinstance(x, bytes) else (float(x) if x == x else None) for x in f[g][n][:]]\n"
      "print(json.dumps({'format': f.attrs['format'], 'command': f['provenance'].attrs['command'],\n"
      " 'conditions': dict(zip(col('conditions', 'name'), zip(col('conditions', 'model'), col('conditions', 'passed'), col('conditions', 'missing'), col('conditions', 'rate')))),\n"
      " 'comparisons': [dict(zip(['a', 'b', 'a_only', 'b_only', 'pairs', 'p'], row)) for row in zip(col('comparisons', 'a'), col('comparisons', 'b'), col('comparisons', 'a_only'), col('comparisons', 'b_only'), col('comparisons', 'pairs'), col('comparisons', 'mcnemar_p'))],\n"
      " 'results': len(f['results']['task_id'])}))\" " + (dir_ / "eval" / "eval.h5").string() + " 2>&1");
  ASSERT_EQ(h5.status, 0) << h5.output;
  const json e = json::parse(h5.output);
  EXPECT_EQ(e["format"], "trace2skill/eval");
  EXPECT_NE(e["command"].get<std::string>().find("eval"), std::string::npos);
  EXPECT_EQ(e["results"], 24);  // 4 conditions x 6 tasks
  // name -> [model, passed, missing, rate]
  EXPECT_EQ(e["conditions"]["no-skill"], json::array({"model-a", 4.0, 0.0, 4.0 / 6}));
  EXPECT_EQ(e["conditions"]["skill"], json::array({"model-a", 6.0, 0.0, 1.0}));
  EXPECT_EQ(e["conditions"]["skill-on-b"], json::array({"model-b", 6.0, 0.0, 1.0}));
  EXPECT_EQ(e["conditions"]["server-down"][2], 6.0);  // missing, not failed
  EXPECT_EQ(e["conditions"]["server-down"][3], nullptr);
  ASSERT_EQ(e["comparisons"].size(), 3u);
  EXPECT_EQ(e["comparisons"][0]["a_only"], 0.0);
  EXPECT_EQ(e["comparisons"][0]["b_only"], 2.0);  // the two misnamed columns, fixed by the skill
  EXPECT_NEAR(e["comparisons"][0]["p"].get<double>(), 0.5, 1e-12);  // McNemar exact, 2 discordant pairs
  EXPECT_EQ(e["comparisons"][2]["pairs"], 0.0);

  // Model B was really asked (a cross-model condition is configuration only).
  std::set<std::string> models;
  for (const auto& request : server.requests()) models.insert(request["body"]["model"]);
  EXPECT_EQ(models, (std::set<std::string>{"model-a", "model-b"}));

  const std::string md = t2s::test::read_file(dir_ / "eval" / "report.md");
  const std::string html = t2s::test::read_file(dir_ / "eval" / "report.html");
  // Six tasks are too few for +33 points to be clear: the verdict says so.
  EXPECT_NE(md.find("skill does not differ clearly from no-skill: +33.3 points"), std::string::npos) << md;
  for (const char* name : {"no-skill", "skill-on-b", "server-down"}) {
    EXPECT_NE(md.find(name), std::string::npos) << name;
    EXPECT_NE(html.find(name), std::string::npos) << name;
  }
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  // Each condition is a rollout of its own, with its trajectories.
  EXPECT_TRUE(fs::exists(dir_ / "eval" / "conditions" / "skill" / "trajectories.h5"));
}

}  // namespace

namespace {

// The whole loop in one evolve job: rollouts on the evolving split, the stats analyst finds the
// failing runs' KeyError, the evolved skill warns of it, and on the held-out split the agent that
// reads that warning (the script heeds "KeyError" in its prompt) passes what it failed before. The
// splits are disjoint, recorded, and each step touches only its own.
TEST_F(Rollout, TheLoopEvolvesOnOneSplitAndEvaluatesOnTheOther) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(kScript);
  std::ofstream tasks(dir_ / "loop.jsonl");
  std::set<std::string> all;
  for (int t = 0; t < 48; ++t) {  // enough tasks for the failure to recur in every held-out fold of the analyst
    const std::string file = "data/loop-" + std::to_string(t) + ".csv";
    dir_.write(file, std::string(t % 3 == 2 ? "Value" : "value") + "\n" + std::to_string(t) + "\n5\n");
    const std::string id = "sum-" + std::to_string(100 + t);
    all.insert(id);
    tasks << json{{"id", id}, {"instruction", "What is the sum of the column `value` in numbers.csv?"},
                  {"files", {{"numbers.csv", file}}}, {"answer", t + 5}}.dump() << "\n";
  }
  tasks.close();
  const fs::path out = dir_ / "loop";
  const auto job_file = dir_.write(
      "loop.toml", "[evolve]\noutput = \"" + out.string() + "\"\nskill_name = \"csv-sums\"\ndescription = \"Summing CSV columns.\"\n"
                   "[loop]\nheld_out = 0.5\nattempts = 1\ncheckpoint_seconds = 0\nresamples = 1000\n"
                   "[benchmark]\nkind = \"generic\"\ndata = \"" + (dir_ / "loop.jsonl").string() + "\"\n[benchmark.checker]\nkind = \"numeric\"\n"
                   "[agent]\nmax_turns = 4\n[llm]\nbase_url = \"" + server.base_url() + "\"\nmodel = \"scripted-model\"\n");
  const auto r = t2s::test::run_t2s_mpi(2, "evolve " + job_file.string());
  ASSERT_EQ(r.status, 0) << r.output;

  const json split = json::parse(t2s::test::read_file(out / "split.json"));
  std::set<std::string> evolving(split["evolving"].begin(), split["evolving"].end());
  std::set<std::string> held_out(split["held_out"].begin(), split["held_out"].end());
  ASSERT_FALSE(evolving.empty());
  ASSERT_FALSE(held_out.empty());
  std::set<std::string> joined = evolving;
  joined.insert(held_out.begin(), held_out.end());
  EXPECT_EQ(joined, all);
  EXPECT_EQ(joined.size(), evolving.size() + held_out.size());  // disjoint

  // Rollouts saw the evolving split only; each evaluation condition the held-out split only.
  const auto ids_of = [](const fs::path& output) {
    std::set<std::string> ids;
    for (const auto& row : results_of(output)) ids.insert(row["task_id"]);
    return ids;
  };
  EXPECT_EQ(ids_of(out / "rollouts"), evolving);
  EXPECT_EQ(ids_of(out / "eval" / "conditions" / "before"), held_out);
  EXPECT_EQ(ids_of(out / "eval" / "conditions" / "after"), held_out);

  // The skill learned the failure from the rollouts, and it pays off on unseen tasks.
  const std::string skill = t2s::test::read_file(out / "skill" / "csv-sums" / "SKILL.md");
  EXPECT_NE(skill.find("KeyError"), std::string::npos) << skill << t2s::test::read_file(out / "stats-report.md");
  int before = 0, after = 0, misnamed = 0;
  for (const auto& row : results_of(out / "eval" / "conditions" / "before")) before += row["status"] == "passed";
  for (const auto& row : results_of(out / "eval" / "conditions" / "after")) after += row["status"] == "passed";
  for (const auto& id : held_out) misnamed += (std::stoi(id.substr(4)) - 100) % 3 == 2;
  ASSERT_GT(misnamed, 0);
  EXPECT_EQ(before, static_cast<int>(held_out.size()) - misnamed);
  EXPECT_EQ(after, static_cast<int>(held_out.size()));

  // The split is recorded in both archives.
  const auto provenance = t2s::test::run_command(
      "/usr/bin/python3 -c \"import h5py, sys\n"
      "print(h5py.File(sys.argv[1], 'r')['provenance'].attrs['split'])\n"
      "print(h5py.File(sys.argv[2], 'r')['provenance'].attrs['split'])\" " +
      (out / "run.h5").string() + " " + (out / "eval" / "eval.h5").string() + " 2>&1");
  ASSERT_EQ(provenance.status, 0) << provenance.output;
  const std::string expected = std::to_string(evolving.size()) + " evolving / " + std::to_string(held_out.size()) + " held-out";
  EXPECT_EQ(provenance.output.find(expected), 0u) << provenance.output;
  EXPECT_NE(provenance.output.find(expected, 1), std::string::npos) << provenance.output;
  EXPECT_NE(t2s::test::read_file(out / "eval" / "report.md").find("| before | after |"), std::string::npos);
}

}  // namespace

namespace {

// `t2s score generic`: every predictions line is scored, an unknown id, or invalid; tasks without a
// prediction count as wrong.
TEST_F(Rollout, ScoreGenericAccountsForEveryLine) {
  const fs::path tasks = sum_tasks();  // sum-0 … sum-5; sum-0's answer is 3+6+9+12+15 = 45
  const fs::path predictions = dir_.write("pred.jsonl", "{\"id\": \"sum-0\", \"answer\": \"45.0\"}\n{\"id\": \"sum-1\", \"answer\": 1}\n"
                                                        "not json\n{\"id\": \"nope\", \"answer\": 1}\n{\"id\": \"sum-0\", \"answer\": 45}\n");
  const auto r = t2s::test::run_command(std::string(T2S_BINARY) + " score generic " + tasks.string() + " " + predictions.string() +
                                        " --match numeric --json 2>&1");
  ASSERT_EQ(r.status, 0) << r.output;
  const json s = json::parse(r.output);
  EXPECT_EQ(s["tasks"], 6);
  EXPECT_EQ(s["examples"], 2);
  EXPECT_EQ(s["correct"], 1);
  EXPECT_EQ(s["unknown"], 1);
  EXPECT_EQ(s["invalid"], 2);  // the broken line and the second prediction for sum-0
  EXPECT_EQ(s["missing"], 4);
  EXPECT_EQ(s["verdicts"].size(), 5u);
  const auto exact = t2s::test::run_command(std::string(T2S_BINARY) + " score generic " + tasks.string() + " " + predictions.string() +
                                            " --match exact --json 2>&1");
  ASSERT_EQ(exact.status, 0) << exact.output;
  EXPECT_EQ(json::parse(exact.output)["correct"], 0);  // "45.0" is not exactly 45
  EXPECT_EQ(t2s::test::run_command(std::string(T2S_BINARY) + " score generic " + tasks.string() + " " + predictions.string() +
                                   " --match fuzzy 2>&1").status, 2);
}

}  // namespace

namespace {

// Under Slurm, the MPI commands run as exactly the step's tasks: `t2s evolve|rollout|eval` started
// without srun in a 3-task job fails at once, naming the cause, instead of running on one rank.
TEST_F(Rollout, UnderSlurmTheWorldMustBeTheStepsTasks) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(kScript);
  const auto job_file = job("slurm", server.base_url(), generic());
  for (const char* command : {"rollout", "evolve", "eval"}) {
    const auto r = t2s::test::run_command("SLURM_NTASKS=3 " + std::string(T2S_BINARY) + " " + command + " " + job_file.string() + " 2>&1");
    EXPECT_EQ(r.status, 2) << command << ": " << r.output;
    EXPECT_NE(r.output.find("has 3 task(s) (SLURM_NTASKS) but t2s runs as 1 MPI rank(s)"), std::string::npos) << r.output;
  }
  const auto matching = t2s::test::run_command("SLURM_NTASKS=2 " + t2s::test::mpi_launcher() + " -n 2 " + T2S_BINARY +
                                               " rollout " + job_file.string() + " 2>&1");
  EXPECT_EQ(matching.status, 0) << matching.output;
  EXPECT_EQ(results_of(dir_ / "slurm").size(), 6u);
}

}  // namespace
