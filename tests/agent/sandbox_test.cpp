// Tests of agent/sandbox with real processes: every limit is hit by a command that would break it
// (endless loops, fork bombs, filling the disk, allocating too much, printing gigabytes, reaching
// a port that listens on the host), and path escapes are refused.

#include "t2s/agent/sandbox.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "t2s/core/error.hpp"
#include "testutil/temp_dir.hpp"

using namespace t2s::agent;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Processes on the host whose command line contains `needle`.
int processes_matching(const std::string& needle) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = slurp(entry.path() / "cmdline");
    for (char& c : cmdline)
      if (c == '\0') c = ' ';
    if (cmdline.find(needle) != std::string::npos) ++count;
  }
  return count;
}

// Processes on the host owned by `uid`.
// Processes of `uid` per PID namespace (its /proc/PID/ns/pid link): every sandbox command has its
// own, so one command's processes are counted apart from other tests' sandboxes running meanwhile.
std::map<std::string, int> processes_by_namespace(uid_t uid) {
  std::map<std::string, int> counts;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::istringstream status(slurp(entry.path() / "status"));
    for (std::string line; std::getline(status, line);)
      if (line.rfind("Uid:", 0) == 0) {
        std::istringstream fields(line.substr(4));
        uid_t real = 0;
        fields >> real;
        std::error_code error;
        const auto ns = fs::read_symlink(entry.path() / "ns" / "pid", error);
        if (real == uid && !error) ++counts[ns.string()];
      }
  }
  return counts;
}

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// Children of this process that have not been reaped (or are still running).
std::string our_children() {
  std::string all;
  for (const auto& task : fs::directory_iterator("/proc/self/task")) all += slurp(task.path() / "children");
  return all;
}

CommandLimits quick() {
  CommandLimits limits;
  limits.wall_s = 20;
  limits.cpu_s = 20;
  return limits;
}

// A TCP port listening on the host's 127.0.0.1 (closed when the object goes away).
struct Listener {
  int fd = -1;
  int port = 0;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) std::abort();
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ~Listener() { ::close(fd); }
};

const bool kRoot = ::geteuid() == 0;

}  // namespace

TEST(Sandbox, RunsInItsOwnDirectoryWithAMinimalEnvironmentAsAnUnprivilegedUser) {
  t2s::test::TempDir temp;
  ::setenv("T2S_TEST_API_KEY", "sk-must-not-leak", 1);
  Sandbox sandbox(temp.path(), {{{"input.txt", "hello\n"}, {"data/nested/x.csv", "a,b\n1,2\n"}}, {}});
  EXPECT_EQ(sandbox.path().parent_path(), temp.path());
  EXPECT_EQ(slurp(sandbox.path() / "data/nested/x.csv"), "a,b\n1,2\n");
  const CommandResult r =
      sandbox.run_bash("cat input.txt; pwd; id -u; env; cat data/nested/x.csv | wc -l", quick(), {{"EXTRA", "yes"}});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.isolated);
  EXPECT_NE(r.stdout_text.find("hello\n" + sandbox.path().string() + "\n"), std::string::npos) << r.stdout_text;
  EXPECT_EQ(r.stdout_text.find("sk-must-not-leak"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("EXTRA=yes"), std::string::npos);
  EXPECT_NE(r.stdout_text.find("PATH=/usr/local/bin:/usr/bin:/bin"), std::string::npos);
  if (kRoot) {
    EXPECT_NE(r.stdout_text.find("\n65534\n"), std::string::npos) << r.stdout_text;
  }
  EXPECT_EQ(r.describe(), "exit code 0");
  ::unsetenv("T2S_TEST_API_KEY");

  // The command's files belong to it, and ours are writable by it.
  const CommandResult w = sandbox.run_bash("echo more >> input.txt && mkdir -p out && echo 1 > out/r.txt", quick());
  EXPECT_EQ(w.exit_code, 0) << w.stderr_text;
  EXPECT_EQ(sandbox.read_file("out/r.txt", 100).bytes, "1\n");
  EXPECT_EQ(sandbox.read_file("input.txt", 100).bytes, "hello\nmore\n");
}

TEST(Sandbox, TheDirectoryIsRemovedUnlessKept) {
  t2s::test::TempDir temp;
  fs::path gone, kept;
  {
    Sandbox sandbox(temp.path(), {{{"a", "1"}}, {}});
    sandbox.run_bash("mkdir -p d/e && chmod 000 d", quick());  // even a directory we may not enter
    gone = sandbox.path();
    SandboxOptions options;
    options.keep = true;
    Sandbox keep(temp.path(), {}, options);
    kept = keep.path();
  }
  EXPECT_FALSE(fs::exists(gone));
  EXPECT_TRUE(fs::exists(kept));
}

TEST(Sandbox, AFixedNameGivesTheSamePathEveryTimeAndReplacesAStaleDirectory) {
  t2s::test::TempDir temp;
  SandboxOptions options;
  options.prefix = "t2s-error-abc123";
  options.unique_suffix = false;
  const fs::path expected = fs::canonical(temp.path()) / "t2s-error-abc123";
  {
    Sandbox first(temp.path(), {{{"a", "1"}}, {}}, options);
    EXPECT_EQ(first.path(), expected);
    const auto pwd = first.run_bash("pwd", quick());
    EXPECT_EQ(pwd.stdout_text, expected.string() + "\n") << pwd.describe();
  }
  EXPECT_FALSE(fs::exists(expected));
  // a directory left by a killed run: replaced, its files gone
  fs::create_directories(expected / "old");
  std::ofstream(expected / "old" / "stale.txt") << "stale";
  Sandbox second(temp.path(), {{{"b", "2"}}, {}}, options);
  EXPECT_EQ(second.path(), expected);
  EXPECT_FALSE(fs::exists(expected / "old"));
  EXPECT_TRUE(fs::exists(expected / "b"));
  // while it is in use, another sandbox of the same name gets a name of its own and leaves it alone
  Sandbox third(temp.path(), {{{"c", "3"}}, {}}, options);
  EXPECT_NE(third.path(), expected);
  EXPECT_TRUE(fs::exists(expected / "b"));
}

TEST(Sandbox, NamesThatCouldEscapeAreRefused) {
  for (const std::string& bad : std::vector<std::string>{"", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/.", "dir/", std::string("a\0b", 3)})
    EXPECT_THROW(Sandbox::check_name(bad), t2s::InputError) << bad;
  EXPECT_NO_THROW(Sandbox::check_name("a/b.c/..d"));

  t2s::test::TempDir temp;
  EXPECT_THROW(Sandbox(temp.path(), {{{"../outside", "x"}}, {}}), t2s::InputError);
  EXPECT_FALSE(fs::exists(temp.path() / "outside"));
  EXPECT_TRUE(fs::is_empty(temp.path()));  // the half-made sandbox is gone too

  // Symbolic links made by a command cannot lead reads or writes out of the sandbox.
  fs::create_directories(temp.path() / "host");
  std::ofstream(temp.path() / "host/secret.txt") << "gold answer";
  Sandbox sandbox(temp.path(), {{{"ok.txt", "fine"}}, {}});
  const CommandResult r = sandbox.run_bash("ln -s " + (temp.path() / "host").string() + " out && ln -s ../host/secret.txt up && ln -s ok.txt alias",
                                           quick());
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  try {
    sandbox.read_file("out/secret.txt", 100);
    ADD_FAILURE() << "read through an escaping link";
  } catch (const t2s::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("leads outside the sandbox"), std::string::npos) << e.what();
  }
  EXPECT_THROW(sandbox.read_file("up", 100), t2s::InputError);
  EXPECT_THROW(sandbox.write_file("out/planted.txt", "x"), t2s::InputError);
  EXPECT_THROW(sandbox.write_file("up", "overwritten"), t2s::InputError);
  EXPECT_FALSE(fs::exists(temp.path() / "host/planted.txt"));
  EXPECT_EQ(slurp(temp.path() / "host/secret.txt"), "gold answer");
  EXPECT_EQ(sandbox.read_file("alias", 100).bytes, "fine");  // a link that stays inside is fine

  // A FIFO or a directory is not a file to read, and does not block us.
  ASSERT_EQ(sandbox.run_bash("mkfifo pipe && mkdir sub", quick()).exit_code, 0);
  EXPECT_THROW(sandbox.read_file("pipe", 100), t2s::InputError);
  EXPECT_THROW(sandbox.write_file("pipe", "x"), t2s::InputError);
  EXPECT_THROW(sandbox.read_file("sub", 100), t2s::InputError);
  EXPECT_THROW(sandbox.read_file("missing", 100), t2s::InputError);
}

TEST(Sandbox, CopiesFilesAndDirectoriesAndReadsAreCapped) {
  t2s::test::TempDir temp;
  fs::create_directories(temp.path() / "task/sub");
  std::ofstream(temp.path() / "task/sub/table.csv") << "x\n1\n";
  std::ofstream(temp.path() / "task/run.sh") << "#!/bin/bash\necho ran\n";
  fs::permissions(temp.path() / "task/run.sh", fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
  std::ofstream(temp.path() / "big.txt") << std::string(1000, 'z');
  Sandbox sandbox(temp.path() / "boxes", {{}, {{"task", temp.path() / "task"}, {"inputs/big.txt", temp.path() / "big.txt"}}});
  const CommandResult r = sandbox.run_bash("./task/run.sh && cat task/sub/table.csv", quick());
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "ran\nx\n1\n");
  const FileContent part = sandbox.read_file("inputs/big.txt", 10);
  EXPECT_EQ(part.bytes, std::string(10, 'z'));
  EXPECT_TRUE(part.truncated);
  EXPECT_EQ(part.size, 1000u);
  EXPECT_THROW(Sandbox(temp.path() / "boxes", {{}, {{"x", temp.path() / "no-such-file"}}}), t2s::InputError);
}

TEST(Sandbox, AnEndlessLoopIsKilledAtTheWallTimeLimit) {
  t2s::test::TempDir temp;
  Sandbox sandbox(temp.path());
  CommandLimits limits = quick();
  limits.wall_s = 1;
  limits.kill_grace_s = 0.5;
  const CommandResult r = sandbox.run_bash("while true; do :; done", limits);
  EXPECT_TRUE(r.timed_out);
  EXPECT_NE(r.signal, 0);
  EXPECT_FALSE(r.ok());
  EXPECT_GE(r.wall_s, 1.0);
  EXPECT_LT(r.wall_s, 4.0);
  EXPECT_NE(r.describe().find("wall-time limit reached"), std::string::npos) << r.describe();

  // One that ignores SIGTERM gets SIGKILL after the grace period.
  const CommandResult stubborn = sandbox.run_bash("trap '' TERM; while true; do :; done", limits);
  EXPECT_TRUE(stubborn.timed_out);
  EXPECT_EQ(stubborn.signal, SIGKILL);
  EXPECT_GE(stubborn.wall_s, 1.4);
  EXPECT_LT(stubborn.wall_s, 5.0);
}

TEST(Sandbox, NoProcessOfACommandOutlivesIt) {
  t2s::test::TempDir temp;
  Sandbox sandbox(temp.path());
  CommandLimits limits = quick();
  limits.wall_s = 1;
  limits.kill_grace_s = 0.3;
  // Left the process group (setsid), ignores SIGTERM, daemonised: all gone with the command.
  const CommandResult r = sandbox.run_bash(
      "setsid sleep 3001 & (trap '' TERM; exec sleep 3002) & nohup sleep 3003 >/dev/null 2>&1 & sleep 3004", limits);
  EXPECT_TRUE(r.timed_out);
  for (const char* needle : {"sleep 3001", "sleep 3002", "sleep 3003", "sleep 3004"})
    EXPECT_EQ(processes_matching(needle), 0) << needle;
  // A command that finishes leaves no background process running either, and returns at once.
  const CommandResult quick_one = sandbox.run_bash("(setsid sleep 3005 &); echo started", limits);
  EXPECT_EQ(quick_one.exit_code, 0);
  EXPECT_EQ(quick_one.stdout_text, "started\n");
  EXPECT_LT(quick_one.wall_s, 5.0);  // did not wait for its background process
  EXPECT_EQ(processes_matching("sleep 3005"), 0);
  EXPECT_EQ(our_children(), "");  // reaped: no zombie
}

TEST(Sandbox, TheCpuLimitEndsABusyLoopBeforeTheWallLimit) {
  t2s::test::TempDir temp;
  Sandbox sandbox(temp.path());
  CommandLimits limits = quick();
  limits.cpu_s = 1;
  const CommandResult r = sandbox.run_bash("while true; do :; done", limits);
  EXPECT_FALSE(r.timed_out);
  EXPECT_TRUE(r.signal == SIGXCPU || r.signal == SIGKILL) << r.describe();
  EXPECT_LT(r.wall_s, 6.0);
}

TEST(Sandbox, TheMemoryLimitMakesLargeAllocationsFail) {
  t2s::test::TempDir temp;
  Sandbox sandbox(temp.path());
  const std::string allocate = "/usr/bin/python3 -c 'x = bytearray(1 << 30); print(len(x))'";
  CommandLimits limits = quick();
  limits.memory_bytes = 256ull << 20;
  const CommandResult r = sandbox.run_bash(allocate, limits);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.stderr_text.find("MemoryError"), std::string::npos) << r.stderr_text;
  limits.memory_bytes = 3ull << 30;  // the same allocation under a larger limit works
  const CommandResult fine = sandbox.run_bash(allocate, limits);
  EXPECT_EQ(fine.exit_code, 0) << fine.stderr_text;
  EXPECT_EQ(fine.stdout_text, std::to_string(1 << 30) + "\n");
}

TEST(Sandbox, AForkBombIsContainedAndLeavesNothingBehind) {
  t2s::test::TempDir temp;
  Sandbox sandbox(temp.path());
  CommandLimits limits = quick();
  limits.processes = 32;
  limits.wall_s = 3;
  limits.kill_grace_s = 0.2;
  // Watches the host while the bomb goes off: the command (its PID namespace) never has more than
  // its 32 processes. Other tests' sandboxes may run meanwhile, as nobody too, in namespaces of their own.
  std::atomic<bool> running{true};
  int most = 0;
  std::string bomb_namespace;
  std::thread watch([&] {
    while (running) {
      if (kRoot)
        for (const auto& [ns, count] : processes_by_namespace(65534))
          if (count > most) most = count, bomb_namespace = ns;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  const CommandResult r = sandbox.run_bash("bomb() { bomb | bomb; }; bomb", limits);
  running = false;
  watch.join();
  EXPECT_TRUE(r.timed_out);
  EXPECT_NE(r.stderr_text.find("Resource temporarily unavailable"), std::string::npos) << r.stderr_text;
  EXPECT_LT(r.wall_s, 6.0);
  if (kRoot) {
    EXPECT_GT(most, 10);   // it did multiply...
    EXPECT_LE(most, 32);   // ...up to the limit, not beyond
    EXPECT_EQ(processes_by_namespace(65534).count(bomb_namespace), 0u);  // and nothing of it is left
  }
  EXPECT_EQ(our_children(), "");
}

TEST(Sandbox, TheProcessLimitHoldsAsRootAndIsCountedPerSandbox) {
  t2s::test::TempDir temp;
  // Forks children that sleep until 100 exist or fork fails; prints how many it got.
  const std::string forker =
      "/usr/bin/python3 -c '\nimport os, time\nn = 0\nfor i in range(100):\n"
      "    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
      "    if pid == 0:\n        time.sleep(3)\n        os._exit(0)\n    n += 1\nprint(n)\n'";
  CommandLimits limits = quick();
  limits.processes = 20;
  // Two sandboxes at once: each gets its own 20, so neither is starved by the other.
  Sandbox a(temp.path()), b(temp.path());
  CommandResult ra, rb;
  std::thread other([&] { rb = b.run_bash(forker, limits); });
  ra = a.run_bash(forker, limits);
  other.join();
  for (const CommandResult* r : {&ra, &rb}) {
    ASSERT_EQ(r->exit_code, 0) << r->stderr_text;
    const int forked = std::stoi(r->stdout_text);
    EXPECT_LT(forked, 20);   // the limit holds (bash and python count too)
    EXPECT_GE(forked, 15);   // and it is this sandbox's own: the other's processes do not count
  }
}

TEST(Sandbox, FileSizeAndDiskQuotaStopACommandFillingTheDisk) {
  t2s::test::TempDir temp;
  SandboxOptions options;
  options.disk_bytes = 24ull << 20;
  Sandbox sandbox(temp.path(), {}, options);
  CommandLimits limits = quick();
  limits.file_bytes = 8ull << 20;

  // One file past the file-size limit.
  const CommandResult big = sandbox.run_bash("head -c 50M /dev/zero > big", limits);
  EXPECT_FALSE(big.ok());
  EXPECT_LE(fs::file_size(sandbox.path() / "big"), 8ull << 20);

  // Many files, each under the limit, past the quota: stopped while it runs.
  const CommandResult many = sandbox.run_bash("for i in $(seq 1 60); do head -c 6M /dev/zero > f$i; sleep 0.1; done; echo finished", limits);
  EXPECT_TRUE(many.disk_quota_exceeded);
  EXPECT_FALSE(many.ok());
  EXPECT_EQ(many.stdout_text.find("finished"), std::string::npos);
  EXPECT_NE(many.describe().find("disk quota exceeded"), std::string::npos);
  EXPECT_GT(many.disk_bytes, options.disk_bytes);
  EXPECT_LT(many.disk_bytes, 60ull * (6 << 20));
  EXPECT_THROW(sandbox.write_file("more.txt", std::string(1 << 20, 'x')), t2s::InputError);  // no room

  // Over quota, a command may still clean up.
  const CommandResult cleanup = sandbox.run_bash("rm -f f* big && echo cleaned", limits);
  EXPECT_EQ(cleanup.exit_code, 0) << cleanup.stderr_text;
  EXPECT_FALSE(cleanup.disk_quota_exceeded);
  EXPECT_LT(cleanup.disk_bytes, 1ull << 20);

  // /tmp is private to the command and bounded by the quota too.
  const CommandResult tmp = sandbox.run_bash("head -c 7M /dev/zero > /tmp/t2s-sandbox-probe; for i in 1 2 3 4 5; do cp /tmp/t2s-sandbox-probe /tmp/copy$i || exit 9; done", limits);
  EXPECT_EQ(tmp.exit_code, 9);
  EXPECT_NE(tmp.stderr_text.find("No space left on device"), std::string::npos) << tmp.stderr_text;
  EXPECT_FALSE(fs::exists("/tmp/t2s-sandbox-probe"));
}

TEST(Sandbox, GigabytesOfOutputAreCappedWithoutBlockingTheCommand) {
  t2s::test::TempDir temp;
  Sandbox sandbox(temp.path());
  CommandLimits limits = quick();
  limits.output_bytes = 4096;
  const CommandResult r = sandbox.run_bash("head -c 2G /dev/zero; echo done >&2", limits);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_FALSE(r.timed_out);
  EXPECT_TRUE(r.stdout_truncated);
  EXPECT_EQ(r.stdout_text.substr(0, 4096), std::string(4096, '\0'));
  EXPECT_NE(r.stdout_text.find("[output truncated: " + std::to_string((2ull << 30) - 4096) + " more bytes not shown]"),
            std::string::npos);
  EXPECT_LT(r.stdout_text.size(), 4200u);
  EXPECT_TRUE(r.stderr_truncated);  // the budget is shared: nothing was left for stderr
  // Endless output ends at the wall limit, capped.
  limits.wall_s = 1;
  limits.kill_grace_s = 0.2;
  const CommandResult endless = sandbox.run_bash("yes", limits);
  EXPECT_TRUE(endless.timed_out);
  EXPECT_TRUE(endless.stdout_truncated);
  EXPECT_LT(endless.stdout_text.size(), 4200u);
}

TEST(Sandbox, HasNoNetworkButItsOwnLoopback) {
  Listener host;
  t2s::test::TempDir temp;
  const std::string connect = "/usr/bin/python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", " +
                              std::to_string(host.port) + "), timeout=3); print(\"connected\")'";
  Sandbox sandbox(temp.path());
  const CommandResult r = sandbox.run_bash(connect, quick());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.stdout_text.find("connected"), std::string::npos);
  EXPECT_NE(r.stderr_text.find("Error"), std::string::npos) << r.stderr_text;
  // The same command without isolation does reach the port: the refusal above is the sandbox's.
  SandboxOptions open;
  open.isolation = Isolation::none;
  Sandbox unisolated(temp.path(), {}, open);
  const CommandResult control = unisolated.run_bash(connect, quick());
  EXPECT_FALSE(control.isolated);
  EXPECT_EQ(control.stdout_text, "connected\n") << control.stderr_text;
  // Inside, 127.0.0.1 works between the command's own processes.
  const CommandResult local = sandbox.run_bash(
      "/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen(); "
      "socket.create_connection(s.getsockname()); print(\"local ok\")'",
      quick());
  EXPECT_EQ(local.stdout_text, "local ok\n") << local.stderr_text;
}

TEST(Sandbox, CommandsCannotRegainPrivileges) {
  if (!kRoot) GTEST_SKIP() << "checks what a command run by root may not do";
  t2s::test::TempDir temp;
  Sandbox sandbox(temp.path());
  const CommandResult r = sandbox.run_bash(
      "cat /etc/shadow >/dev/null 2>&1 && echo read-shadow; unshare -U true 2>/dev/null && echo nested-userns; "
      "touch /root/t2s-probe 2>/dev/null && echo wrote-root; grep -c . /proc/self/status >/dev/null && ls /proc | grep -c '^[0-9]'; echo end",
      quick());
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(r.stdout_text.find("read-shadow"), std::string::npos);
  EXPECT_EQ(r.stdout_text.find("nested-userns"), std::string::npos);
  EXPECT_EQ(r.stdout_text.find("wrote-root"), std::string::npos);
  EXPECT_FALSE(fs::exists("/root/t2s-probe"));
  // Its own PID namespace: only a handful of processes are visible (init, bash, ls, grep).
  EXPECT_LT(std::stoi(r.stdout_text), 8) << r.stdout_text;
}

TEST(Sandbox, NoDescriptorLeaksAndNoZombiesAcrossManyConcurrentCommands) {
  t2s::test::TempDir temp;
  Sandbox sandbox(temp.path());
  sandbox.run_bash("true", quick());  // warm-up: anything opened once (e.g. by the C library) is not a leak
  const std::size_t before = open_descriptors();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        // The command sees only its stdin, stdout and stderr (3 is ls's own directory).
        const CommandResult r = sandbox.run_bash("ls /proc/self/fd | tr '\\n' ' '; echo " + std::to_string(t * 10 + i), quick());
        if (r.exit_code == 0 && r.stdout_text == "0 1 2 3 " + std::to_string(t * 10 + i) + "\n") ++ok;
        else ADD_FAILURE() << r.stdout_text << r.stderr_text;
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 40);
  EXPECT_EQ(open_descriptors(), before);
  EXPECT_EQ(our_children(), "");
}

TEST(Sandbox, BadCommandsAndVariablesAreInputErrors) {
  t2s::test::TempDir temp;
  Sandbox sandbox(temp.path());
  EXPECT_THROW(sandbox.run_bash(std::string("echo a\0b", 8)), t2s::InputError);
  EXPECT_THROW(sandbox.run_bash("true", quick(), {{"1BAD", "x"}}), t2s::InputError);
  EXPECT_THROW(sandbox.run_bash("true", quick(), {{"A=B", "x"}}), t2s::InputError);
  CommandLimits none = quick();
  none.wall_s = 0;
  EXPECT_THROW(sandbox.run_bash("true", none), t2s::InputError);
  const CommandResult r = sandbox.run_bash("exit 7", quick());
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.describe(), "exit code 7");
}

TEST(Sandbox, WithoutNamespacesItFailsClosedUnlessAllowed) {
  t2s::test::TempDir temp;
  // A child process in a user namespace where it has no user id: the kernel refuses it every new
  // namespace, as on a system without user namespaces.
  const pid_t child = ::fork();
  if (child == 0) {
    if (::unshare(CLONE_NEWUSER) != 0) ::_exit(10);
    int code = 0;
    try {
      Sandbox sandbox(temp.path());
      sandbox.run_bash("echo reached");
      code = 1;  // ran without isolation although it was required
    } catch (const t2s::Error& e) {
      if (std::string(e.what()).find("cannot isolate the command") == std::string::npos) code = 2;
    }
    try {
      SandboxOptions options;
      options.isolation = Isolation::preferred;
      Sandbox sandbox(temp.path(), {}, options);
      const CommandResult r = sandbox.run_bash("echo reached");
      if (r.isolated || r.stdout_text != "reached\n") code = 3;
    } catch (...) {
      code = 4;
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 10) GTEST_SKIP() << "no user namespaces here to take away";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: ran unisolated, 2: wrong error, 3: preferred did not fall back, 4: it threw";
}
