// agent/sandbox: a per-analysis working directory in which untrusted commands (written by a model)
// run under hard limits, with no network and no secrets.
//
// A Sandbox is a fresh directory under a given root, populated with given files; run_bash() runs
// `/bin/bash -c COMMAND` with that directory as its working directory. How each limit is enforced
// (Linux; verified as root on Debian 12 with kernel 6.x, see tests/agent/sandbox_test.cpp):
//   - namespaces: every command starts in new network, PID, mount, IPC and UTS namespaces, plus its
//     own user namespace. The network namespace has only a loopback device (brought up), so nothing
//     outside the command can be reached, not even the host's 127.0.0.1. Without namespaces (kernel
//     or container refuses), run_bash() throws Error unless SandboxOptions::isolation allows it.
//   - who: as root, commands run as an unprivileged uid/gid (nobody by default) with no
//     supplementary groups and no_new_privs (setuid binaries cannot raise privileges).
//   - wall time: when it runs out, SIGTERM goes to the command's process group, and SIGKILL to the
//     PID namespace's init after a grace period, which kills every process of the command, also
//     those that left the group with setsid(). A command's background processes die with it.
//   - CPU: RLIMIT_CPU per process (SIGXCPU, SIGKILL one second later).
//   - memory: RLIMIT_AS per process (allocations fail; it is address space, not resident memory).
//   - file size: RLIMIT_FSIZE per file (SIGXFSZ / EFBIG).
//   - processes: RLIMIT_NPROC, counted per sandbox command: the limit applies in the command's own
//     user namespace, where the kernel enforces it even when we are root (it never does for uid 0)
//     and does not count other sandboxes' processes. Nested user namespaces are forbidden
//     (user.max_user_namespaces = 0 inside), so a command cannot make itself a new root.
//   - disk: the directory's allocated bytes (st_blocks, hard links once) are measured while the
//     command runs (every 0.25 s or so) and after it; past the quota the command is killed and the
//     result says so (a command that starts over quota may shrink the directory but not grow it).
//     /tmp, /var/tmp and /dev/shm are private tmpfs mounts of the quota's size, emptied after each
//     command. A directory tree deeper than 128 levels counts as over quota.
//   - output: stdout and stderr together are kept up to a cap; the rest is read and dropped (the
//     command never blocks on a full pipe), and a marker says how much was dropped.
//   - environment: a minimal one (PATH, HOME, LANG, TMPDIR) plus what the caller adds; nothing of
//     ours (API keys) is inherited. stdin is /dev/null; no other descriptor is inherited.
// Every child is reaped before run_bash() returns, also when it throws.
//
// Names inside the sandbox (files to populate, read_file, write_file) are untrusted: relative, no
// "." or ".." components, and resolved with openat2(RESOLVE_BENEATH), so no symlink leads out.
// Commands on one Sandbox may run concurrently (one quota for the directory).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace t2s::agent {

struct CommandLimits {
  double wall_s = 60.0;                             // wall-clock time of the whole command
  double kill_grace_s = 1.0;                        // SIGTERM at the wall limit, SIGKILL this much later
  double cpu_s = 60.0;                              // CPU seconds per process
  std::uint64_t memory_bytes = std::uint64_t{2} << 30;   // address space per process
  std::uint64_t file_bytes = std::uint64_t{256} << 20;   // largest file a process may write
  std::uint64_t processes = 256;                    // processes and threads of the command at once
  std::size_t output_bytes = std::size_t{64} << 10; // stdout + stderr kept
};

enum class Isolation {
  required,   // namespaces or an Error (the default: fail closed)
  preferred,  // namespaces when the system allows them, else a plain process group (NO network isolation)
  none,       // a plain process group: no network isolation, no PID namespace (tests, trusted commands)
};

struct SandboxOptions {
  std::uint64_t disk_bytes = std::uint64_t{1} << 30;  // quota of the directory (and of the private /tmp)
  Isolation isolation = Isolation::required;
  uid_t uid = 65534;  // whom commands run as when we are root (nobody/nogroup); ignored otherwise
  gid_t gid = 65534;
  std::string prefix = "sandbox";  // of the directory's name (prefix-XXXXXX)
  // false: the directory is named `prefix` exactly (a stale one from a crash is replaced), so that the
  // path commands print is the same on every run: a replay of recorded model exchanges needs that.
  // The name is held with a lock (root/prefix.lock) while the Sandbox lives; when another process
  // holds it, a unique name is used after all.
  bool unique_suffix = true;
  bool keep = false;               // leave the directory in place when the Sandbox goes away
};

// What the sandbox starts with. Names are relative paths inside it (parents are created).
struct SandboxContents {
  std::map<std::string, std::string> files;                              // name -> bytes
  std::vector<std::pair<std::string, std::filesystem::path>> copies;     // name -> file or directory to copy
};

struct CommandResult {
  int exit_code = -1;         // bash's exit status when it exited (-1 otherwise)
  int signal = 0;             // the signal that ended it, when one did
  bool timed_out = false;     // the wall-time limit ended it
  bool disk_quota_exceeded = false;
  std::string stdout_text, stderr_text;  // what was kept (with a marker when truncated)
  bool stdout_truncated = false, stderr_truncated = false;
  double wall_s = 0.0;
  std::uint64_t disk_bytes = 0;  // the directory's usage afterwards
  bool isolated = false;         // ran in namespaces (no network)

  bool ok() const { return exit_code == 0 && !timed_out && !disk_quota_exceeded; }
  // "exit code 0", "killed by SIGKILL: wall-time limit of 2 s reached", ...
  std::string describe() const;
};

struct FileContent {
  std::string bytes;       // at most the size asked for
  std::uint64_t size = 0;  // the file's full size
  bool truncated = false;
};

class Sandbox {
 public:
  // Creates root/<prefix>-XXXXXX (root is created when missing) and populates it. Throws InputError
  // naming a bad name (absolute, "..", empty component) or a copy source that does not exist.
  Sandbox(const std::filesystem::path& root, const SandboxContents& contents = {}, SandboxOptions options = {});
  ~Sandbox();  // removes the directory unless options.keep
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const SandboxOptions& options() const { return options_; }

  // Runs `/bin/bash -c command` in the directory under `limits`. `env` is added to the minimal
  // environment (names: [A-Za-z_][A-Za-z0-9_]*). Throws InputError for a command or variable with a
  // NUL byte, Error when the sandbox cannot be set up (e.g. no namespaces and isolation required).
  CommandResult run_bash(const std::string& command, const CommandLimits& limits = {},
                         const std::map<std::string, std::string>& env = {}) const;

  // A regular file inside the sandbox, at most max_bytes of it. InputError for a bad or escaping
  // name, a missing file, a directory or a special file.
  FileContent read_file(const std::string& name, std::size_t max_bytes) const;
  // Creates or replaces a regular file (and its parent directories) inside the sandbox.
  void write_file(const std::string& name, std::string_view bytes) const;
  // Allocated bytes of the directory tree (UINT64_MAX when deeper than 128 levels).
  std::uint64_t disk_usage() const;

  // InputError unless `name` is a relative path without "", "." or ".." components or NUL bytes.
  static void check_name(const std::string& name);

 private:
  void copy_in(const std::string& name, const std::filesystem::path& source) const;
  int open_beneath(const std::string& name, int flags, mode_t mode = 0) const;
  int make_parents(const std::string& name) const;  // the parent directory of name, opened beneath
  void own(int fd) const;                           // hands a created file to the command's uid
  void release_lock();

  std::filesystem::path path_;
  SandboxOptions options_;
  int root_fd_ = -1;       // O_PATH descriptor of the directory: every name is resolved beneath it
  int lock_fd_ = -1;       // the lock on a fixed name (unique_suffix = false)
  std::filesystem::path lock_path_;
  bool drop_ = false;      // we are root: commands run as options_.uid/gid, created files are theirs
};

}  // namespace t2s::agent
