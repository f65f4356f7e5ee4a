#include "t2s/agent/sandbox.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <set>

#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"

namespace t2s::agent {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kMaxDepth = 128;  // of the usage walk: deeper trees count as over quota

std::string errno_text(int error) { return std::strerror(error); }

[[noreturn]] void fail_errno(const std::string& what, int error = errno) {
  throw Error("sandbox: " + what + ": " + errno_text(error));
}

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& other) noexcept : fd(std::exchange(other.fd, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd = std::exchange(other.fd, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

std::vector<std::string> components(const std::string& name) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = name.find('/', start);
    parts.push_back(name.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return parts;
}

// openat2 with RESOLVE_BENEATH: no absolute paths, no "..", no symlink that leaves `dir`.
int openat_beneath(int dir, const std::string& name, int flags, mode_t mode) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  for (int attempt = 0;; ++attempt) {
    const long fd = ::syscall(SYS_openat2, dir, name.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    // EAGAIN: a concurrent rename raced the lookup; the kernel asks to try again.
    if ((errno == EINTR || errno == EAGAIN) && attempt < 16) continue;
    return -1;
  }
}

std::string why_not_opened(const std::string& name, int error) {
  switch (error) {
    case EXDEV: return "\"" + name + "\" leads outside the sandbox";
    case ELOOP: return "\"" + name + "\": too many symbolic links";
    case ENOENT: return "\"" + name + "\": no such file or directory";
    case ENOTDIR: return "\"" + name + "\": a component is not a directory";
    case EISDIR: return "\"" + name + "\" is a directory";
    default: return "\"" + name + "\": " + errno_text(error);
  }
}

void usage_walk(int dir_fd, int depth, std::set<std::pair<dev_t, ino_t>>& seen, std::uint64_t& total, bool& too_deep) {
  DIR* dir = ::fdopendir(dir_fd);
  if (dir == nullptr) {
    ::close(dir_fd);
    return;
  }
  while (dirent* entry = ::readdir(dir)) {
    if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
    struct stat st {};
    if (::fstatat(::dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && !seen.emplace(st.st_dev, st.st_ino).second) continue;
    total += static_cast<std::uint64_t>(st.st_blocks) * 512;
    if (!S_ISDIR(st.st_mode)) continue;
    if (depth + 1 >= kMaxDepth) {
      too_deep = true;
      continue;
    }
    const int sub = ::openat(::dirfd(dir), entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub >= 0) usage_walk(sub, depth + 1, seen, total, too_deep);
  }
  ::closedir(dir);
}

// Removes a tree even when a command left directories without write or search permission.
void remove_tree(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (!ec) return;
  for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
  ::chmod(path.c_str(), 0700);
  fs::remove_all(path, ec);
}

// ------------------------------------------------------------------------------ the child side
//
// Everything below runs in a child cloned from a possibly multi-threaded process: no allocation,
// no locks, no glibc wrappers that coordinate threads (setuid & co. are raw system calls).

enum Step : int {
  step_pdeathsig = 1, step_setsid, step_fds, step_user_map, step_mount_private, step_mount_tmpfs, step_fork,
  step_chdir, step_groups, step_gid, step_uid, step_no_new_privs, step_child_map,
  step_nested_ns, step_rlimit, step_exec,
};

const char* step_name(int step) {
  switch (step) {
    case step_pdeathsig: return "setting the parent-death signal";
    case step_setsid: return "starting a session";
    case step_fds: return "arranging descriptors";
    case step_user_map: return "mapping the user namespace";
    case step_mount_private: return "making mounts private";
    case step_mount_tmpfs: return "mounting a private /tmp";
    case step_fork: return "starting the command";
    case step_chdir: return "entering the sandbox directory";
    case step_groups: return "dropping supplementary groups";
    case step_gid: return "changing the group id";
    case step_uid: return "changing the user id";
    case step_no_new_privs: return "setting no_new_privs";
    case step_child_map: return "mapping the command's user namespace";
    case step_nested_ns: return "forbidding nested user namespaces";
    case step_rlimit: return "setting resource limits";
    case step_exec: return "executing /bin/bash";
    default: return "setting up";
  }
}

// One record on the status pipe (smaller than PIPE_BUF, so written atomically).
struct StatusRecord {
  char kind;   // 'E': a set-up step failed; 'S': the command's wait status
  int step;
  int error;
  int status;
};

constexpr int kStatusFd = 3;

struct ChildPlan {
  bool namespaces = false;
  bool user_ns_at_clone = false;  // not root: the clone created a user namespace to map
  bool drop = false;
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t parent = 0;
  const char* dir = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* uid_map = nullptr;  // "U U 1"
  const char* gid_map = nullptr;
  const char* tmpfs_options = nullptr;
  // Private tmpfs mounts (/tmp, /var/tmp, /dev/shm as they resolve); when the sandbox directory
  // lies beneath one, it is bound back into place (dir_scratch: a writable copy of dir for mkdir -p).
  struct TmpMount {
    const char* target = nullptr;
    bool holds_dir = false;
  } tmp_mounts[3];
  int tmp_count = 0;
  char* dir_scratch = nullptr;
  rlimit cpu{}, as{}, fsize{}, nproc{}, core{};
  unsigned alarm_s = 0;
  int in_fd = -1, out_fd = -1, err_fd = -1, status_fd = -1;
};

void report(char kind, int step, int error, int status) {
  const StatusRecord record{kind, step, error, status};
  while (::write(kStatusFd, &record, sizeof record) < 0 && errno == EINTR) {
  }
}

[[noreturn]] void die(int step) {
  report('E', step, errno, 0);
  ::_exit(125);
}

bool write_text(const char* path, const char* text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const std::size_t n = std::strlen(text);
  const bool ok = ::write(fd, text, n) == static_cast<ssize_t>(n);
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return ok;
}

void loopback_up() {
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return;
  ifreq request{};
  std::memcpy(request.ifr_name, "lo", 3);
  if (::ioctl(s, SIOCGIFFLAGS, &request) == 0) {
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
    ::ioctl(s, SIOCSIFFLAGS, &request);
  }
  ::close(s);
}

void on_alarm(int) { ::syscall(SYS_exit_group, 124); }

// mkdir -p of `path` below its first `skip` bytes, in place (no allocation).
void make_path(char* path, std::size_t skip) {
  for (char* c = path + skip + 1; *c != '\0'; ++c) {
    if (*c != '/') continue;
    *c = '\0';
    ::mkdir(path, 0755);
    *c = '/';
  }
  ::mkdir(path, 0755);
}

// "/proc/self/fd/N" into `out` (no allocation).
void fd_path(int fd, char (&out)[32]) {
  char digits[12];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + fd % 10);
    fd /= 10;
  } while (fd > 0 && n < 11);
  const char prefix[] = "/proc/self/fd/";
  std::size_t at = 0;
  for (; prefix[at] != '\0'; ++at) out[at] = prefix[at];
  while (n > 0) out[at++] = digits[--n];
  out[at] = '\0';
}

[[noreturn]] void command_main(const ChildPlan& p) {
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);  // ignored dispositions survive exec
  // ...but not USR1: Slurm sends its stop request (core/interrupt) to every process of the job step,
  // and a command in flight must finish unharmed (the command may still take the signal itself).
  ::signal(SIGUSR1, SIG_IGN);
  ::alarm(0);
  if (::chdir(p.dir) != 0) die(step_chdir);  // as root first: the root's parents need not be searchable
  if (p.drop) {
    if (::syscall(SYS_setgroups, 0, nullptr) != 0) die(step_groups);
    if (::syscall(SYS_setresgid, p.gid, p.gid, p.gid) != 0) die(step_gid);
    if (::syscall(SYS_setresuid, p.uid, p.uid, p.uid) != 0) die(step_uid);
    ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);  // so that it may write its own /proc/self/uid_map
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die(step_no_new_privs);
  // Its own user namespace: RLIMIT_NPROC is counted (and enforced) per namespace, and the
  // namespace's limit on nested user namespaces can be set to 0 while we still hold the capability.
  // Where the system refuses unprivileged user namespaces, the command cannot create one either, and
  // RLIMIT_NPROC still holds (counted over every process of the uid, which is not root).
  if (p.namespaces && ::unshare(CLONE_NEWUSER) == 0) {
    if (!write_text("/proc/self/setgroups", "deny") || !write_text("/proc/self/uid_map", p.uid_map) ||
        !write_text("/proc/self/gid_map", p.gid_map))
      die(step_child_map);
    if (!write_text("/proc/sys/user/max_user_namespaces", "0") && errno != ENOENT) die(step_nested_ns);  // ENOENT: kernel < 4.9
  }
  if (::setrlimit(RLIMIT_CPU, &p.cpu) != 0 || ::setrlimit(RLIMIT_AS, &p.as) != 0 ||
      ::setrlimit(RLIMIT_FSIZE, &p.fsize) != 0 || ::setrlimit(RLIMIT_NPROC, &p.nproc) != 0 ||
      ::setrlimit(RLIMIT_CORE, &p.core) != 0)
    die(step_rlimit);
  ::execve("/bin/bash", p.argv, p.envp);
  die(step_exec);
}

// The first process of the command: init of its PID namespace (when there is one). It starts the
// command, reaps every orphan, reports the command's status and exits, which kills what is left.
[[noreturn]] void init_main(const ChildPlan& p) {
  // Descriptors first, so that a failure can be reported: stdin, stdout, stderr, status.
  const int in = ::fcntl(p.in_fd, F_DUPFD, 10), out = ::fcntl(p.out_fd, F_DUPFD, 10),
            err = ::fcntl(p.err_fd, F_DUPFD, 10), status = ::fcntl(p.status_fd, F_DUPFD, 10);
  if (in < 0 || out < 0 || err < 0 || status < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0 ||
      ::dup3(status, kStatusFd, O_CLOEXEC) < 0)
    ::_exit(125);
  // Nothing else of the parent's stays open (other threads' pipes would never see end-of-file).
  if (::syscall(SYS_close_range, kStatusFd + 1, ~0U, 0) != 0)
    for (int fd = kStatusFd + 1; fd < 65536; ++fd) ::close(fd);
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) die(step_pdeathsig);
  if (!p.namespaces && ::getppid() != p.parent) ::_exit(125);  // the parent is already gone
  if (::setsid() < 0) die(step_setsid);
  if (p.user_ns_at_clone) {
    if (!write_text("/proc/self/setgroups", "deny") || !write_text("/proc/self/uid_map", p.uid_map) ||
        !write_text("/proc/self/gid_map", p.gid_map))
      die(step_user_map);
  }
  if (p.namespaces) {
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die(step_mount_private);
    // A /proc of the new PID namespace: commands see only their own processes. Not fatal (some
    // containers forbid it); the host's /proc then shows more but grants nothing new.
    ::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
    const int dir_fd = ::open(p.dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) die(step_chdir);
    for (int i = 0; i < p.tmp_count; ++i) {
      const auto& m = p.tmp_mounts[i];
      if (::mount("tmpfs", m.target, "tmpfs", MS_NOSUID | MS_NODEV, p.tmpfs_options) != 0) die(step_mount_tmpfs);
      if (!m.holds_dir) continue;
      make_path(p.dir_scratch, std::strlen(m.target));
      char source[32];
      fd_path(dir_fd, source);
      if (::mount(source, p.dir, nullptr, MS_BIND, nullptr) != 0) die(step_mount_tmpfs);
    }
    ::close(dir_fd);
    loopback_up();
  }
  ::signal(SIGTERM, SIG_IGN);  // the group's SIGTERM is for the command; init goes with SIGKILL
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGUSR1, SIG_IGN);  // the job's stop request, for t2s itself
  if (!p.namespaces) ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  // A backstop for the wall-time limit if the parent cannot enforce it.
  ::signal(SIGALRM, on_alarm);
  ::alarm(p.alarm_s);
  const long command = ::syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (command < 0) die(step_fork);
  if (command == 0) command_main(p);
  ::close(0);
  ::close(1);
  ::close(2);
  while (true) {
    int st = 0;
    const pid_t done = ::wait4(-1, &st, 0, nullptr);
    if (done == static_cast<pid_t>(command)) {
      report('S', 0, 0, st);
      if (!p.namespaces) ::kill(0, SIGKILL);  // the rest of the process group, and this process
      ::_exit(0);
    }
    if (done < 0 && errno != EINTR) ::_exit(124);
  }
}

rlimit limit_of(std::uint64_t value) {
  const rlim_t v = value >= static_cast<std::uint64_t>(RLIM_INFINITY) ? RLIM_INFINITY : static_cast<rlim_t>(value);
  return rlimit{v, v};
}

bool valid_env_name(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

// Kept output, shared by stdout and stderr.
struct Capture {
  std::size_t budget;
  std::uint64_t dropped[2] = {0, 0};
  void take(int stream, std::string& text, const char* data, std::size_t n) {
    const std::size_t keep = std::min(n, budget);
    text.append(data, keep);
    budget -= keep;
    dropped[stream] += n - keep;
  }
};

}  // namespace

// ----------------------------------------------------------------------------------- CommandResult

std::string CommandResult::describe() const {
  std::string text;
  if (signal != 0) text = "killed by " + signal_name(signal);
  else text = "exit code " + std::to_string(exit_code);
  if (timed_out) text += " (wall-time limit reached)";
  if (disk_quota_exceeded) text += " (disk quota exceeded)";
  if (signal == SIGXCPU) text += " (CPU-time limit reached)";
  if (signal == SIGXFSZ) text += " (file-size limit reached)";
  return text;
}

// ----------------------------------------------------------------------------------------- Sandbox

void Sandbox::check_name(const std::string& name) {
  if (name.empty()) throw InputError("sandbox file name: empty");
  if (name.size() > 4096) throw InputError("sandbox file name \"" + abbreviate(name, 60) + "\": longer than 4096 bytes");
  if (name.find('\0') != std::string::npos) throw InputError("sandbox file name \"" + abbreviate(name, 60) + "\": contains a NUL byte");
  if (name.front() == '/') throw InputError("sandbox file name \"" + abbreviate(name, 60) + "\": absolute paths are not allowed");
  for (const std::string& part : components(name)) {
    if (part.empty() || part == "." || part == "..")
      throw InputError("sandbox file name \"" + abbreviate(name, 60) + "\": empty, \".\" and \"..\" components are not allowed");
    if (part.size() > 255) throw InputError("sandbox file name \"" + abbreviate(name, 60) + "\": a component is longer than 255 bytes");
  }
}

Sandbox::Sandbox(const fs::path& root, const SandboxContents& contents, SandboxOptions options)
    : options_(std::move(options)), drop_(::geteuid() == 0) {
  if (options_.prefix.empty() || options_.prefix.find('/') != std::string::npos)
    throw InputError("sandbox prefix \"" + options_.prefix + "\": must be a non-empty name without '/'");
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw Error("sandbox: cannot create " + root.string() + ": " + ec.message());
  if (!options_.unique_suffix) {
    lock_path_ = fs::absolute(root) / (options_.prefix + ".lock");
    lock_fd_ = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ >= 0 && ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {  // in use by another process
      ::close(lock_fd_);
      lock_fd_ = -1;
      options_.unique_suffix = true;
    }
  }
  if (options_.unique_suffix) {
    std::string templ = (fs::absolute(root) / (options_.prefix + "-XXXXXX")).string();
    if (::mkdtemp(templ.data()) == nullptr) fail_errno("mkdtemp in " + root.string());
    path_ = templ;
  } else {
    path_ = fs::absolute(root) / options_.prefix;
    if (fs::exists(fs::symlink_status(path_))) remove_tree(path_);  // left by a run that was killed
    if (::mkdir(path_.c_str(), 0700) != 0) fail_errno("mkdir " + path_.string());
  }
  try {
    path_ = fs::canonical(path_);  // the real path: mounts in the command's namespace are matched against it
    root_fd_ = ::open(path_.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root_fd_ < 0) fail_errno("opening " + path_.string());
    if (drop_ && ::chown(path_.c_str(), options_.uid, options_.gid) != 0) fail_errno("chown " + path_.string());
    for (const auto& [name, bytes] : contents.files) write_file(name, bytes);
    for (const auto& [name, source] : contents.copies) {
      check_name(name);
      copy_in(name, source);
    }
  } catch (...) {
    if (root_fd_ >= 0) ::close(root_fd_);
    remove_tree(path_);
    release_lock();
    throw;
  }
}

void Sandbox::release_lock() {
  if (lock_fd_ < 0) return;
  std::error_code ec;
  fs::remove(lock_path_, ec);  // while still held, so no one else holds this file
  ::close(lock_fd_);
  lock_fd_ = -1;
}

Sandbox::~Sandbox() {
  if (root_fd_ >= 0) ::close(root_fd_);
  if (!options_.keep) remove_tree(path_);
  release_lock();
}

int Sandbox::open_beneath(const std::string& name, int flags, mode_t mode) const {
  return openat_beneath(root_fd_, name, flags, mode);
}

void Sandbox::own(int fd) const {
  if (drop_ && ::fchown(fd, options_.uid, options_.gid) != 0) fail_errno("chown in the sandbox");
}

int Sandbox::make_parents(const std::string& name) const {
  const std::vector<std::string> parts = components(name);
  Fd parent(::openat(root_fd_, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (parent.fd < 0) fail_errno("opening " + path_.string());
  std::string prefix;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    prefix += (i == 0 ? "" : "/") + parts[i];
    int fd = open_beneath(prefix, O_PATH | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT) {
      if (::mkdirat(parent.fd, parts[i].c_str(), 0755) != 0 && errno != EEXIST)
        throw InputError("sandbox: cannot create directory " + why_not_opened(prefix, errno));
      if (drop_) ::fchownat(parent.fd, parts[i].c_str(), options_.uid, options_.gid, AT_SYMLINK_NOFOLLOW);
      fd = open_beneath(prefix, O_PATH | O_DIRECTORY);
    }
    if (fd < 0) throw InputError("sandbox: " + why_not_opened(prefix, errno));
    parent = Fd(fd);
  }
  return std::exchange(parent.fd, -1);
}

void Sandbox::write_file(const std::string& name, std::string_view bytes) const {
  check_name(name);
  const std::uint64_t used = disk_usage();
  if (used != UINT64_MAX && used + bytes.size() > options_.disk_bytes)
    throw InputError("sandbox: writing " + std::to_string(bytes.size()) + " bytes to \"" + name + "\" would exceed the disk quota of " +
                     std::to_string(options_.disk_bytes) + " bytes (" + std::to_string(used) + " used)");
  Fd parent(make_parents(name));
  // O_NONBLOCK: a FIFO planted by a command must not block us; regular files ignore the flag.
  Fd file(open_beneath(name, O_WRONLY | O_CREAT | O_NONBLOCK, 0644));
  if (file.fd < 0) throw InputError("sandbox: cannot write " + why_not_opened(name, errno));
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) fail_errno("stat " + name);
  if (!S_ISREG(st.st_mode)) throw InputError("sandbox: cannot write \"" + name + "\": not a regular file");
  // A hard link to a file from elsewhere (not the command's own) must not be written through.
  if (st.st_nlink > 1 && (!drop_ || st.st_uid != options_.uid))
    throw InputError("sandbox: cannot write \"" + name + "\": it has other hard links");
  if (::ftruncate(file.fd, 0) != 0) fail_errno("truncating " + name);
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(file.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail_errno("writing " + name);
    done += static_cast<std::size_t>(n);
  }
  own(file.fd);
}

FileContent Sandbox::read_file(const std::string& name, std::size_t max_bytes) const {
  check_name(name);
  Fd file(open_beneath(name, O_RDONLY | O_NONBLOCK));
  if (file.fd < 0) throw InputError("sandbox: cannot read " + why_not_opened(name, errno));
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) fail_errno("stat " + name);
  if (!S_ISREG(st.st_mode)) throw InputError("sandbox: cannot read \"" + name + "\": not a regular file");
  if (st.st_nlink > 1 && (!drop_ || st.st_uid != options_.uid))
    throw InputError("sandbox: cannot read \"" + name + "\": it has other hard links");
  FileContent content;
  content.size = static_cast<std::uint64_t>(st.st_size);
  content.bytes.resize(std::min<std::uint64_t>(max_bytes, content.size));
  std::size_t done = 0;
  while (done < content.bytes.size()) {
    const ssize_t n = ::read(file.fd, content.bytes.data() + done, content.bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno("reading " + name);
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  content.bytes.resize(done);
  content.truncated = content.size > done;
  return content;
}

void Sandbox::copy_in(const std::string& name, const fs::path& source) const {
  std::error_code ec;
  const fs::file_status status = fs::symlink_status(source, ec);
  if (ec || !fs::exists(status)) throw InputError("sandbox: copy source " + source.string() + " does not exist");
  if (fs::is_directory(status)) {
    Fd parent(make_parents(name));
    const std::string leaf = components(name).back();
    if (::mkdirat(parent.fd, leaf.c_str(), 0755) != 0 && errno != EEXIST) fail_errno("creating " + name);
    if (drop_) ::fchownat(parent.fd, leaf.c_str(), options_.uid, options_.gid, AT_SYMLINK_NOFOLLOW);
    std::vector<fs::path> entries;
    for (const auto& entry : fs::directory_iterator(source, ec)) entries.push_back(entry.path());
    if (ec) throw Error("sandbox: cannot list " + source.string() + ": " + ec.message());
    std::sort(entries.begin(), entries.end());
    for (const fs::path& entry : entries) copy_in(name + "/" + entry.filename().string(), entry);
  } else if (fs::is_symlink(status)) {
    const fs::path target = fs::read_symlink(source, ec);
    if (ec) throw Error("sandbox: cannot read the link " + source.string() + ": " + ec.message());
    Fd parent(make_parents(name));
    const std::string leaf = components(name).back();
    // Resolution inside the sandbox is always beneath it, so a link's target cannot lead us out.
    if (::symlinkat(target.c_str(), parent.fd, leaf.c_str()) != 0) fail_errno("creating the link " + name);
    if (drop_) ::fchownat(parent.fd, leaf.c_str(), options_.uid, options_.gid, AT_SYMLINK_NOFOLLOW);
  } else if (fs::is_regular_file(status)) {
    Fd in(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
    if (in.fd < 0) fail_errno("opening " + source.string());
    Fd parent(make_parents(name));
    Fd out(open_beneath(name, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK, 0644));
    if (out.fd < 0) throw InputError("sandbox: cannot write " + why_not_opened(name, errno));
    std::array<char, 1 << 16> buffer;
    while (true) {
      const ssize_t n = ::read(in.fd, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail_errno("reading " + source.string());
      if (n == 0) break;
      for (ssize_t done = 0; done < n;) {
        const ssize_t w = ::write(out.fd, buffer.data() + done, static_cast<std::size_t>(n - done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) fail_errno("writing " + name);
        done += w;
      }
    }
    struct stat st {};
    if (::fstat(in.fd, &st) == 0) ::fchmod(out.fd, st.st_mode & 0755);  // keeps the executable bit
    own(out.fd);
  }
  // Sockets, FIFOs and devices are not copied.
}

std::uint64_t Sandbox::disk_usage() const {
  const int dir = ::openat(root_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) fail_errno("opening " + path_.string());
  struct stat st {};
  std::uint64_t total = ::fstat(dir, &st) == 0 ? static_cast<std::uint64_t>(st.st_blocks) * 512 : 0;
  std::set<std::pair<dev_t, ino_t>> seen;
  bool too_deep = false;
  usage_walk(dir, 0, seen, total, too_deep);
  return too_deep ? UINT64_MAX : total;
}

CommandResult Sandbox::run_bash(const std::string& command, const CommandLimits& limits,
                                const std::map<std::string, std::string>& env) const {
  if (command.find('\0') != std::string::npos) throw InputError("sandbox command: contains a NUL byte");
  if (!(limits.wall_s > 0) || !(limits.cpu_s > 0) || limits.kill_grace_s < 0 || limits.processes == 0)
    throw InputError("sandbox limits: wall_s, cpu_s and processes must be positive");

  // Everything the child needs is prepared here: after the clone it may not allocate.
  std::vector<std::string> env_strings = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + path_.string(),
                                          "PWD=" + path_.string(), "LANG=C.UTF-8", "TMPDIR=/tmp",
                                          "SHELL=/bin/bash"};
  for (const auto& [name, value] : env) {
    if (!valid_env_name(name)) throw InputError("sandbox environment: \"" + abbreviate(name, 60) + "\" is not a variable name");
    if (value.find('\0') != std::string::npos) throw InputError("sandbox environment: " + name + " contains a NUL byte");
    env_strings.push_back(name + "=" + value);
  }
  std::vector<std::string> arg_strings = {"/bin/bash", "-c", command};
  std::vector<char*> argv, envp;
  for (auto& a : arg_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  const uid_t run_uid = drop_ ? options_.uid : ::geteuid();
  const gid_t run_gid = drop_ ? options_.gid : ::getegid();
  const std::string uid_map = std::to_string(run_uid) + " " + std::to_string(run_uid) + " 1";
  const std::string gid_map = std::to_string(run_gid) + " " + std::to_string(run_gid) + " 1";
  const std::string tmpfs_options = "size=" + std::to_string(std::max<std::uint64_t>(options_.disk_bytes, 4096)) + ",mode=1777";
  const std::string dir = path_.string();
  std::string dir_scratch = dir;
  std::vector<std::string> tmp_targets;
  for (const char* target : {"/tmp", "/var/tmp", "/dev/shm"}) {
    std::error_code ec;
    const fs::path real = fs::canonical(target, ec);
    if (ec || !fs::is_directory(real, ec) || std::find(tmp_targets.begin(), tmp_targets.end(), real.string()) != tmp_targets.end())
      continue;
    tmp_targets.push_back(real.string());
  }

  int out_pipe[2], err_pipe[2], status_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) fail_errno("pipe");
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) fail_errno("pipe");
  Fd err_read(err_pipe[0]), err_write(err_pipe[1]);
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) fail_errno("pipe");
  Fd status_read(status_pipe[0]), status_write(status_pipe[1]);
  Fd dev_null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (dev_null.fd < 0) fail_errno("opening /dev/null");

  ChildPlan plan;
  plan.drop = drop_;
  plan.uid = run_uid;
  plan.gid = run_gid;
  plan.parent = ::getpid();
  plan.dir = dir.c_str();
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.uid_map = uid_map.c_str();
  plan.gid_map = gid_map.c_str();
  plan.tmpfs_options = tmpfs_options.c_str();
  for (const std::string& target : tmp_targets) {
    auto& m = plan.tmp_mounts[plan.tmp_count++];
    m.target = target.c_str();
    m.holds_dir = dir.size() > target.size() && dir.compare(0, target.size(), target) == 0 && dir[target.size()] == '/';
  }
  plan.dir_scratch = dir_scratch.data();
  const auto cpu = static_cast<rlim_t>(std::ceil(limits.cpu_s));
  plan.cpu = rlimit{cpu, cpu + 1};  // SIGXCPU at the soft limit, SIGKILL a second later
  plan.as = limit_of(limits.memory_bytes);
  plan.fsize = limit_of(limits.file_bytes);
  plan.nproc = limit_of(limits.processes);
  plan.core = rlimit{0, 0};
  plan.alarm_s = static_cast<unsigned>(std::ceil(limits.wall_s + limits.kill_grace_s)) + 5;
  plan.in_fd = dev_null.fd;
  plan.out_fd = out_write.fd;
  plan.err_fd = err_write.fd;
  plan.status_fd = status_write.fd;

  const std::uint64_t usage_before = disk_usage();
  const std::uint64_t quota = std::max(options_.disk_bytes, usage_before == UINT64_MAX ? 0 : usage_before);
  CommandResult result;
  int pidfd = -1;
  long pid = -1;
  std::string ns_error;
  if (options_.isolation != Isolation::none) {
    plan.namespaces = true;
    plan.user_ns_at_clone = !drop_;  // without root, a user namespace is what allows the others
    const unsigned long flags = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS |
                                (drop_ ? 0UL : static_cast<unsigned long>(CLONE_NEWUSER)) | CLONE_PIDFD | SIGCHLD;
    pid = ::syscall(SYS_clone, flags, nullptr, &pidfd, nullptr, nullptr);
    if (pid == 0) init_main(plan);
    if (pid < 0) {
      ns_error = errno_text(errno);
      if (options_.isolation == Isolation::required)
        throw Error("sandbox: cannot isolate the command in namespaces (" + ns_error +
                    "), so it would have network access; refusing (allow it with isolation = preferred or none)");
    }
  }
  if (pid < 0) {
    plan.namespaces = false;
    plan.user_ns_at_clone = false;
    pid = ::syscall(SYS_clone, static_cast<unsigned long>(CLONE_PIDFD | SIGCHLD), nullptr, &pidfd, nullptr, nullptr);
    if (pid == 0) init_main(plan);
    if (pid < 0) fail_errno("clone");
  }
  result.isolated = plan.namespaces;
  const auto start = Clock::now();
  out_write.reset();
  err_write.reset();
  status_write.reset();
  dev_null.reset();
  Fd pid_fd(pidfd);

  // Whatever happens from here on, the child is killed and reaped.
  struct Reaper {
    pid_t pid;
    bool reaped = false;
    int status = 0;
    ~Reaper() {
      if (reaped) return;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
  } reaper{static_cast<pid_t>(pid)};

  for (Fd* fd : {&out_read, &err_read}) ::fcntl(fd->fd, F_SETFL, ::fcntl(fd->fd, F_GETFL) | O_NONBLOCK);
  Capture capture{limits.output_bytes};
  const auto wall = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limits.wall_s));
  const auto grace = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limits.kill_grace_s));
  const auto deadline = start + wall;
  std::optional<Clock::time_point> kill_at, exited_at;
  auto next_usage_check = start + std::chrono::milliseconds(250);
  bool out_open = true, err_open = true;
  std::array<char, 1 << 16> buffer;

  auto kill_all = [&](int sig) {
    ::kill(-reaper.pid, sig);
    if (sig == SIGKILL) ::kill(reaper.pid, SIGKILL);  // init of the PID namespace: takes everything with it
  };
  auto drain = [&](Fd& fd, bool& open, int stream, std::string& text) {
    while (open) {
      const ssize_t n = ::read(fd.fd, buffer.data(), buffer.size());
      if (n > 0) {
        capture.take(stream, text, buffer.data(), static_cast<std::size_t>(n));
      } else if (n == 0) {
        open = false;
      } else if (errno != EINTR) {
        if (errno != EAGAIN) open = false;
        return;
      }
    }
  };

  while (true) {
    const auto now = Clock::now();
    if (exited_at && ((!out_open && !err_open) || now - *exited_at > std::chrono::milliseconds(500))) break;
    if (!exited_at) {
      if (!kill_at && now >= deadline) {
        result.timed_out = true;
        kill_all(SIGTERM);
        kill_at = now + grace;
      }
      if (kill_at && now >= *kill_at) {
        kill_all(SIGKILL);
        kill_at = now + std::chrono::seconds(1);  // again later, should the first be missed
      }
      if (now >= next_usage_check) {
        const std::uint64_t used = disk_usage();
        const auto cost = Clock::now() - now;
        if (used > quota && !result.disk_quota_exceeded) {
          result.disk_quota_exceeded = true;
          kill_all(SIGKILL);
        }
        next_usage_check = Clock::now() + std::max<Clock::duration>(std::chrono::milliseconds(250), cost * 10);
      }
    }
    auto wake = exited_at ? *exited_at + std::chrono::milliseconds(500) : std::min(next_usage_check, kill_at.value_or(deadline));
    const auto wait_ms = std::max<std::int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(wake - Clock::now()).count());
    pollfd fds[3] = {{out_open ? out_read.fd : -1, POLLIN, 0}, {err_open ? err_read.fd : -1, POLLIN, 0},
                     {exited_at ? -1 : pid_fd.fd, POLLIN, 0}};
    const int n = ::poll(fds, 3, static_cast<int>(std::min<std::int64_t>(wait_ms, 1000)));
    if (n < 0 && errno != EINTR) fail_errno("poll");
    drain(out_read, out_open, 0, result.stdout_text);
    drain(err_read, err_open, 1, result.stderr_text);
    if (!exited_at && n > 0 && (fds[2].revents & (POLLIN | POLLHUP))) {
      while (::waitpid(reaper.pid, &reaper.status, 0) < 0 && errno == EINTR) {
      }
      reaper.reaped = true;
      exited_at = Clock::now();
    }
  }
  result.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  if (!reaper.reaped) {  // the pipes closed first; the child is about to exit
    while (::waitpid(reaper.pid, &reaper.status, 0) < 0 && errno == EINTR) {
    }
    reaper.reaped = true;
  }

  // What the child reported: a set-up failure, or the command's wait status.
  std::optional<int> command_status;
  StatusRecord record{};
  ::fcntl(status_read.fd, F_SETFL, ::fcntl(status_read.fd, F_GETFL) | O_NONBLOCK);
  while (::read(status_read.fd, &record, sizeof record) == static_cast<ssize_t>(sizeof record)) {
    if (record.kind == 'E')
      throw Error(std::string("sandbox: ") + step_name(record.step) + " failed: " + errno_text(record.error));
    if (record.kind == 'S') command_status = record.status;
  }
  const int status = command_status.value_or(reaper.status);
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
    if (!command_status && result.exit_code == 125) throw Error("sandbox: the command could not be started");
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  for (int stream = 0; stream < 2; ++stream) {
    if (capture.dropped[stream] == 0) continue;
    std::string& text = stream == 0 ? result.stdout_text : result.stderr_text;
    (stream == 0 ? result.stdout_truncated : result.stderr_truncated) = true;
    text += "\n[output truncated: " + std::to_string(capture.dropped[stream]) + " more bytes not shown]\n";
  }
  result.disk_bytes = disk_usage();
  if (result.disk_bytes > quota) result.disk_quota_exceeded = true;
  return result;
}

}  // namespace t2s::agent
