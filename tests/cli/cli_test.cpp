// Runs the real `t2s` binary (and the real MPI launcher) the way a user does.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "t2s/store/trajectory_store.hpp"
#include "testutil/run_command.hpp"
#include "testutil/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;

using Result = t2s::test::CommandResult;

Result run_shell(const std::string& command) { return t2s::test::run_command(command); }

Result run(const std::string& arguments) { return run_shell(std::string(T2S_BINARY) + " " + arguments); }

// The MPI launcher with the flags that let Open MPI run as root and oversubscribed.
const std::string kLauncher = std::string(T2S_MPIEXEC) + " " + T2S_MPIEXEC_FLAGS;

// `mpiexec -n N t2s ARGS`.
Result run_mpi(int ranks, const std::string& arguments) {
  return run_shell(kLauncher + " -n " + std::to_string(ranks) + " " + T2S_BINARY + " " + arguments);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class Cli : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return (temp_ / name).string(); }
  void write(const std::string& name, const std::string& text) const { temp_.write(name, text); }

  t2s::test::TempDir temp_;
};

const char* kGood =
    R"({"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}],"task_id":"t1","outcome":{"success":true}})"
    "\n";

TEST_F(Cli, VersionAndHelpExitZero) {
  const auto version = run("--version");
  EXPECT_EQ(version.status, 0);
  EXPECT_NE(version.output.find("t2s 0.1.0"), std::string::npos) << version.output;
  EXPECT_NE(version.output.find("HDF5 1.10"), std::string::npos) << version.output;
  for (const char* command : {"--help", "ingest --help", "inspect --help", "export --help", "synth --help"}) {
    const auto help = run(command);
    EXPECT_EQ(help.status, 0) << command;
    EXPECT_NE(help.output.find("Usage"), std::string::npos) << command;
  }
}

TEST_F(Cli, BadUsageExitsTwoWithAMessage) {
  EXPECT_EQ(run("").status, 2);
  EXPECT_EQ(run("frobnicate").status, 2);
  const auto missing_output = run("ingest " + path("x.jsonl"));
  EXPECT_EQ(missing_output.status, 2);
  const auto missing_input = run("ingest " + path("nope.jsonl") + " -o " + path("o.h5"));
  EXPECT_EQ(missing_input.status, 2);
  EXPECT_NE(missing_input.output.find("nope.jsonl"), std::string::npos) << missing_input.output;
  write("in.jsonl", kGood);
  const auto bad_format = run("ingest " + path("in.jsonl") + " --format yaml -o " + path("o.h5"));
  EXPECT_EQ(bad_format.status, 2);
  EXPECT_NE(bad_format.output.find("--format yaml"), std::string::npos) << bad_format.output;
}

TEST_F(Cli, InspectRefusesWhatIsNotAStore) {
  write("notes.txt", "hello");
  const auto result = run("inspect " + path("notes.txt"));
  EXPECT_EQ(result.status, 2);
  EXPECT_NE(result.output.find("not an HDF5 file"), std::string::npos) << result.output;
}

TEST_F(Cli, BadRecordsAreQuarantinedOrFailUnderStrict) {
  write("mixed.jsonl", std::string(kGood) + "{\"messages\": [}\n" +
                           R"({"messages":[{"role":"wizard","content":"x"}]})" "\n");
  const auto lenient = run("ingest " + path("mixed.jsonl") + " -o " + path("o.h5"));
  EXPECT_EQ(lenient.status, 0) << lenient.output;
  EXPECT_NE(lenient.output.find("mixed.jsonl:2: malformed JSON"), std::string::npos) << lenient.output;
  EXPECT_NE(lenient.output.find("mixed.jsonl:3: field \"messages[0].role\": unknown role \"wizard\""),
            std::string::npos) << lenient.output;
  EXPECT_NE(lenient.output.find("3 read = 1 accepted + 0 duplicates + 2 quarantined"), std::string::npos)
      << lenient.output;
  EXPECT_TRUE(fs::exists(path("o.h5.quarantine.jsonl")));

  const auto strict = run("ingest --strict " + path("mixed.jsonl") + " -o " + path("strict.h5"));
  EXPECT_EQ(strict.status, 2);
  EXPECT_NE(strict.output.find("mixed.jsonl:2"), std::string::npos) << strict.output;
  EXPECT_FALSE(fs::exists(path("strict.h5")));
}

TEST_F(Cli, IngestExportIngestKeepsIdsAndContent) {
  ASSERT_EQ(run("synth -o " + path("corpus") + " --trajectories 60 --seed 3").status, 0);
  ASSERT_EQ(run("ingest " + path("corpus/trajectories.jsonl") + " -o " + path("a.h5")).status, 0);
  ASSERT_EQ(run("export " + path("a.h5") + " -o " + path("a.jsonl")).status, 0);
  ASSERT_EQ(run("ingest " + path("a.jsonl") + " -o " + path("b.h5")).status, 0);
  ASSERT_EQ(run("export " + path("b.h5") + " -o " + path("b.jsonl")).status, 0);
  const std::string exported = read_file(path("a.jsonl"));
  EXPECT_EQ(exported, read_file(path("b.jsonl")));
  EXPECT_EQ(std::count(exported.begin(), exported.end(), '\n'), 60);
}

// An output path that is not a regular file is never renamed over (as root, `export -o /dev/null`
// once turned the null device into a file): a stream (a FIFO here, like /dev/stdout or /dev/null) is
// written in place, a store or archive refuses it, a directory is refused, and a symbolic link is
// followed and kept.
TEST_F(Cli, OutputsThatAreNotRegularFilesAreWrittenInPlaceOrRefused) {
  ASSERT_EQ(run("synth -o " + path("corpus") + " --trajectories 40 --seed 5").status, 0);
  ASSERT_EQ(run("ingest " + path("corpus/trajectories.jsonl") + " -o " + path("a.h5")).status, 0);
  ASSERT_EQ(run("export " + path("a.h5") + " -o " + path("expected.jsonl")).status, 0);
  const std::string fifo = path("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // export into the FIFO while a reader drains it
  const auto piped = run_shell("timeout 60 cat " + fifo + " > " + path("read.jsonl") + " & " + T2S_BINARY + " export " + path("a.h5") +
                               " -o " + fifo + " && wait");
  ASSERT_EQ(piped.status, 0) << piped.output;
  EXPECT_EQ(read_file(path("read.jsonl")), read_file(path("expected.jsonl")));
  EXPECT_TRUE(fs::is_fifo(fifo));
  EXPECT_FALSE(fs::exists(fifo + ".partial"));
  // /dev/stdout (a link through /proc to this pipe): the records, and the summary line on stderr
  const auto streamed = run_shell(std::string(T2S_BINARY) + " export " + path("a.h5") + " -o /dev/stdout | cat > " + path("stdout.jsonl"));
  ASSERT_EQ(streamed.status, 0) << streamed.output;
  EXPECT_EQ(read_file(path("stdout.jsonl")), read_file(path("expected.jsonl")));
  EXPECT_TRUE(fs::is_symlink("/dev/stdout"));
  // a store into a FIFO, and anything into a directory: refused before anything is written
  const auto store = run("ingest " + path("corpus/trajectories.jsonl") + " -o " + fifo);
  EXPECT_EQ(store.status, 2) << store.output;
  EXPECT_NE(store.output.find("is a FIFO; this output must be a regular file"), std::string::npos) << store.output;
  EXPECT_TRUE(fs::is_fifo(fifo));
  fs::create_directory(path("dir"));
  const auto into_dir = run("export " + path("a.h5") + " -o " + path("dir"));
  EXPECT_EQ(into_dir.status, 2) << into_dir.output;
  EXPECT_NE(into_dir.output.find("is a directory"), std::string::npos) << into_dir.output;
  EXPECT_TRUE(fs::is_directory(path("dir")));
  // a symbolic link to a file: the file gets the output, the link stays a link
  write("target.jsonl", "old\n");
  fs::create_symlink(path("target.jsonl"), path("link.jsonl"));
  ASSERT_EQ(run("export " + path("a.h5") + " -o " + path("link.jsonl")).status, 0);
  EXPECT_TRUE(fs::is_symlink(path("link.jsonl")));
  EXPECT_EQ(read_file(path("target.jsonl")), read_file(path("expected.jsonl")));
}

TEST_F(Cli, InspectIsIdenticalAtOneTwoAndThreeRanks) {
  ASSERT_EQ(run("synth -o " + path("corpus") + " --trajectories 150 --seed 5").status, 0);
  ASSERT_EQ(run("ingest " + path("corpus/trajectories.jsonl") + " -o " + path("s.h5")).status, 0);
  const auto serial = run("inspect --json " + path("s.h5"));
  ASSERT_EQ(serial.status, 0) << serial.output;
  EXPECT_NE(serial.output.find("\"trajectories\": 150"), std::string::npos) << serial.output;
  for (int ranks : {1, 2, 3}) {
    const auto parallel = run_mpi(ranks, "inspect --json " + path("s.h5"));
    EXPECT_EQ(parallel.status, 0) << parallel.output;
    EXPECT_EQ(parallel.output, serial.output) << ranks << " ranks";
  }
}

// A usage error on one rank only (a file missing on one node) must end the whole job, not leave the
// other ranks waiting in a collective.
TEST_F(Cli, AUsageErrorOnOneRankEndsTheJob) {
  ASSERT_EQ(run("synth -o " + path("corpus") + " --trajectories 20").status, 0);
  ASSERT_EQ(run("ingest " + path("corpus/trajectories.jsonl") + " -o " + path("s.h5")).status, 0);
  const std::string binary = T2S_BINARY;
  const auto result = run_shell("timeout 60 " + kLauncher + " -n 1 " + binary + " inspect " + path("s.h5") +
                                " : -n 1 " + binary + " inspect " + path("missing.h5"));
  EXPECT_NE(result.status, 0) << result.output;
  EXPECT_NE(result.status, 124) << "the job hung until the timeout: " << result.output;
}

TEST_F(Cli, OutOfRangeOptionsAreRefused) {
  write("in.jsonl", kGood);
  const auto huge = run("ingest " + path("in.jsonl") + " -o " + path("o.h5") + " --max-record-mb 1e300");
  EXPECT_EQ(huge.status, 2) << huge.output;
  write("job.toml", "[ingest]\ninputs = [\"" + path("in.jsonl") + "\"]\noutput = \"" + path("o.h5") +
                        "\"\nmax_record_mb = -1\n");
  const auto negative = run("ingest --job " + path("job.toml"));
  EXPECT_EQ(negative.status, 2) << negative.output;
  EXPECT_NE(negative.output.find("max_record_mb"), std::string::npos) << negative.output;
  write("typo.toml", "[ingst]\noutput = \"x.h5\"\n");
  const auto typo = run("ingest --job " + path("typo.toml"));
  EXPECT_EQ(typo.status, 2);
  EXPECT_NE(typo.output.find("has no [ingest] table"), std::string::npos) << typo.output;
}

TEST_F(Cli, SynthIsDeterministic) {
  ASSERT_EQ(run("synth -o " + path("one") + " --trajectories 40 --seed 11").status, 0);
  ASSERT_EQ(run("synth -o " + path("two") + " --trajectories 40 --seed 11").status, 0);
  ASSERT_EQ(run("synth -o " + path("three") + " --trajectories 40 --seed 12").status, 0);
  for (const char* file : {"trajectories.jsonl", "truth.json", "truth.jsonl"})
    EXPECT_EQ(read_file(path("one/") + file), read_file(path("two/") + file)) << file;
  EXPECT_NE(read_file(path("one/trajectories.jsonl")), read_file(path("three/trajectories.jsonl")));
}

// The demo corpus shipped in data/ is exactly what its recorded `t2s synth` command makes.
TEST_F(Cli, DemoCorpusIsReproducedByItsRecordedCommand) {
  const fs::path demo = fs::path(T2S_SOURCE_DIR) / "data" / "demo";
  std::ifstream command_file(demo / "COMMAND");
  std::string arguments;
  ASSERT_TRUE(std::getline(command_file, arguments)) << "data/demo/COMMAND is missing";
  ASSERT_EQ(arguments.rfind("t2s synth ", 0), 0u) << arguments;
  ASSERT_EQ(run(arguments.substr(4) + " -o " + path("demo")).status, 0);
  for (const char* file : {"trajectories.jsonl", "truth.json", "truth.jsonl"})
    EXPECT_EQ(read_file(path("demo/") + file), read_file(demo / file)) << file;
}

TEST_F(Cli, RealTauBenchDataIngests) {
  const fs::path data = fs::path(T2S_SOURCE_DIR) / ".." / "shared" / "data" / "taubench-airline" / "gpt-4o-airline.json";
  if (!fs::exists(data)) GTEST_SKIP() << "shared data not present (" << data << "): skipping the real-data check";
  const auto ingest = run("ingest " + data.string() + " -o " + path("tau.h5"));
  ASSERT_EQ(ingest.status, 0) << ingest.output;
  EXPECT_NE(ingest.output.find("200 read = 200 accepted + 0 duplicates + 0 quarantined"), std::string::npos)
      << ingest.output;
  const auto inspect = run("inspect " + path("tau.h5"));
  EXPECT_NE(inspect.output.find("200 (84 success, 116 failure, 0 unlabelled)"), std::string::npos) << inspect.output;
  EXPECT_NE(inspect.output.find("tasks         50 "), std::string::npos) << inspect.output;
}

}  // namespace
