// testutil: a GoogleTest fixture that runs the scripted OpenAI-compatible server
// (tests/llm_server/scripted_server.py) as a child process on 127.0.0.1, so the LLM client is
// tested through real HTTP. No LLM is needed; see tests/llm_server/README.md for the script format.
//
//   TEST(Client, RetriesAfter429) {
//     T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
//     t2s::test::ScriptedServer server(R"({"rules": [{"fault": {"kind": "rate_limit", "times": 2}},
//                                                   {"respond": {"content": "ok"}}]})");
//     ... point the client at server.base_url() ...
//     EXPECT_EQ(server.stats()["by_status"]["429"], 2);
//   }
//
// The destructor stops the server (SIGTERM, then SIGKILL after a grace period) and reaps it; the
// child also gets SIGTERM if the thread that started it dies (PR_SET_PDEATHSIG), so a crashed test
// leaves no orphan. Control requests use a tiny POSIX-socket client, not the product's HTTP client.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

// Skips the current test (with the reason) when python3 or the server script is missing.
#define T2S_SKIP_WITHOUT_SCRIPTED_SERVER()                                                  \
  do {                                                                                      \
    if (auto t2s_unavailable_ = ::t2s::test::ScriptedServer::unavailable_reason()) {        \
      GTEST_SKIP() << *t2s_unavailable_;                                                    \
    }                                                                                       \
  } while (0)

namespace t2s::test {

struct ScriptedServerOptions {
  std::optional<int> latency_ms;         // --latency-ms: fixed latency before each completion
  std::optional<int> max_concurrent;     // --max-concurrent: completions processed at once (excess queue)
  std::optional<std::int64_t> seed;      // --seed: seed of the script's random_faults
  bool log = false;                      // --log: JSONL request log at log_path()
  std::vector<std::string> extra_args;   // anything else for scripted_server.py
  std::chrono::milliseconds startup_timeout{15000};
  std::chrono::milliseconds stop_grace{5000};  // SIGTERM → SIGKILL after this long
};

class ScriptedServer {
 public:
  using Options = ScriptedServerOptions;

  struct HttpResult {
    int status = 0;
    std::string head;  // status line and headers
    std::string body;
  };

  // `script_json_or_path`: JSON text (starts with '{' or '[') or the path of a script file.
  explicit ScriptedServer(const std::string& script_json_or_path, Options options = {})
      : options_(std::move(options)) {
    start([&] {
      const auto first = script_json_or_path.find_first_not_of(" \t\r\n");
      if (first != std::string::npos && (script_json_or_path[first] == '{' || script_json_or_path[first] == '[')) {
        return write_script(nlohmann::json::parse(script_json_or_path));  // throws on malformed JSON
      }
      std::filesystem::path path(script_json_or_path);
      if (!std::filesystem::is_regular_file(path)) {
        throw std::invalid_argument("ScriptedServer: script is neither JSON text nor an existing file: " +
                                    script_json_or_path);
      }
      return std::filesystem::absolute(path);
    });
  }
  explicit ScriptedServer(const char* script_json_or_path, Options options = {})
      : ScriptedServer(std::string(script_json_or_path), std::move(options)) {}
  explicit ScriptedServer(const nlohmann::json& script, Options options = {}) : options_(std::move(options)) {
    start([&] { return write_script(script); });
  }

  ~ScriptedServer() {
    stop();
    remove_dir();
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  // Why the server cannot run here (missing python3 or script), or nullopt when it can.
  static std::optional<std::string> unavailable_reason() {
    const std::string script = script_path();
    if (script.empty()) {
      return "scripted LLM server unavailable: T2S_SOURCE_DIR is not defined for this test target "
             "(or set T2S_SCRIPTED_SERVER to tests/llm_server/scripted_server.py)";
    }
    if (!std::filesystem::is_regular_file(script)) {
      return "scripted LLM server unavailable: " + script + " not found";
    }
    const std::string python = python_path();
    if (::access(python.c_str(), X_OK) != 0) {
      return "scripted LLM server unavailable: " + python + " is not an executable (install python3, "
             "or point T2S_PYTHON at one)";
    }
    return std::nullopt;
  }
  // $T2S_PYTHON, else /usr/bin/python3.
  static std::string python_path() {
    const char* env = std::getenv("T2S_PYTHON");
    return env != nullptr && *env != '\0' ? std::string(env) : std::string("/usr/bin/python3");
  }
  // $T2S_SCRIPTED_SERVER, else T2S_SOURCE_DIR/tests/llm_server/scripted_server.py ("" if neither).
  static std::string script_path() {
    const char* env = std::getenv("T2S_SCRIPTED_SERVER");
    if (env != nullptr && *env != '\0') return env;
#ifdef T2S_SOURCE_DIR
    return std::string(T2S_SOURCE_DIR) + "/tests/llm_server/scripted_server.py";
#else
    return {};
#endif
  }

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string root_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string base_url() const { return root_url() + "/v1"; }  // what an OpenAI client is given
  const std::filesystem::path& dir() const { return dir_; }    // scratch directory of this server
  std::filesystem::path log_path() const { return options_.log ? dir_ / "requests.jsonl" : std::filesystem::path(); }
  // What the server printed (startup errors, internal errors); normally empty.
  std::string output() const { return slurp(dir_ / "server.out"); }

  // GET /__stats: {requests, by_status, by_fault, by_rule, max_in_flight_observed, connections_opened, ...}.
  nlohmann::json stats() const { return get_json("/__stats"); }
  // GET /__requests: every recorded request {seq, method, path, headers (lower-case names), body, rule,
  // fault, status, ...}, from sequence number `since` on.
  nlohmann::json requests(std::size_t since = 0) const {
    return get_json(since == 0 ? std::string("/__requests") : "/__requests?since=" + std::to_string(since));
  }
  // POST /__reset: counters, the request record, rule `times` and the random-fault sequence start over.
  void reset() const { expect_ok(http("POST", "/__reset"), "/__reset"); }
  // POST /__script: replaces the script (and resets, as above).
  void set_script(const nlohmann::json& script) const { expect_ok(http("POST", "/__script", script.dump()), "/__script"); }

  // Polls /__stats until `requests` >= n; false on timeout.
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      if (stats().value("requests", std::size_t{0}) >= n) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // One HTTP/1.1 request on a fresh connection (Connection: close), for control endpoints and raw checks.
  HttpResult http(const std::string& method, const std::string& path, const std::string& body = {},
                  std::chrono::milliseconds timeout = std::chrono::seconds(30)) const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(errno_message("ScriptedServer: socket()"));
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc;
    do {
      rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) throw std::runtime_error(errno_message("ScriptedServer: connect to " + root_url()));

    std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_) +
                          "\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body;
    for (std::size_t sent = 0; sent < request.size();) {
      const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::runtime_error(errno_message("ScriptedServer: send " + method + " " + path));
      sent += static_cast<std::size_t>(n);
    }
    std::string raw;
    char buf[65536];
    while (true) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error(errno_message("ScriptedServer: reading the answer to " + method + " " + path));
      if (n == 0) break;
      raw.append(buf, static_cast<std::size_t>(n));
    }
    HttpResult result;
    const auto end = raw.find("\r\n\r\n");
    if (raw.compare(0, 5, "HTTP/") != 0 || end == std::string::npos || raw.find(' ') == std::string::npos) {
      throw std::runtime_error("ScriptedServer: malformed answer to " + method + " " + path + ": " + raw.substr(0, 200));
    }
    result.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
    result.head = raw.substr(0, end);
    result.body = raw.substr(end + 4);
    return result;
  }

  // Stops the server (SIGTERM; SIGKILL after options.stop_grace) and reaps it. Returns its exit code, or
  // 128 + signal when killed by one, or -1 if it was not running. Idempotent; the destructor calls it.
  int stop() {
    if (pid_ <= 0) return -1;
    const pid_t pid = pid_;
    pid_ = -1;
    ::kill(pid, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + options_.stop_grace;
    while (true) {
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) break;
      if (r < 0 && errno != EINTR) return -1;  // already reaped by someone else
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
  }

 private:
  template <class MakeScript>
  void start(MakeScript make_script) {
    if (auto reason = unavailable_reason()) throw std::runtime_error(*reason);
    make_dir();
    try {
      const std::filesystem::path script = make_script();
      launch(script);
      wait_for_port();
    } catch (...) {
      stop();
      remove_dir();
      throw;
    }
  }

  void make_dir() {
    std::string templ = (std::filesystem::temp_directory_path() / "t2s-scripted-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error(errno_message("ScriptedServer: mkdtemp"));
    dir_ = templ;
  }

  void remove_dir() {
    if (dir_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }

  std::filesystem::path write_script(const nlohmann::json& script) const {
    const auto path = dir_ / "script.json";
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << script.dump();
    if (!out.flush()) throw std::runtime_error("ScriptedServer: cannot write " + path.string());
    return path;
  }

  void launch(const std::filesystem::path& script) {
    std::vector<std::string> args = {python_path(), script_path(), "--script", script.string(),
                                     "--port-file", (dir_ / "port").string(), "--quiet"};
    if (options_.latency_ms) args.insert(args.end(), {"--latency-ms", std::to_string(*options_.latency_ms)});
    if (options_.max_concurrent) args.insert(args.end(), {"--max-concurrent", std::to_string(*options_.max_concurrent)});
    if (options_.seed) args.insert(args.end(), {"--seed", std::to_string(*options_.seed)});
    if (options_.log) args.insert(args.end(), {"--log", log_path().string()});
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    // Everything the child needs is prepared before fork: after it only async-signal-safe calls.
    const std::string out_path = (dir_ / "server.out").string();
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || in < 0) {
      if (out >= 0) ::close(out);
      if (in >= 0) ::close(in);
      throw std::runtime_error(errno_message("ScriptedServer: open " + out_path));
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // no orphan if the test process dies
      if (::getppid() != parent) ::_exit(127);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
#ifdef SYS_close_range
      ::syscall(SYS_close_range, 3U, ~0U, 0U);  // no inherited sockets or pipes of the test process
#endif
      sigset_t none;
      ::sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the parent (MPI, threads) may block SIGTERM
      ::signal(SIGTERM, SIG_DFL);
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGPIPE, SIG_DFL);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    const int fork_errno = errno;
    ::close(out);
    ::close(in);
    if (pid < 0) {
      errno = fork_errno;
      throw std::runtime_error(errno_message("ScriptedServer: fork"));
    }
    pid_ = pid;
  }

  void wait_for_port() {
    const auto port_file = dir_ / "port";
    const auto deadline = std::chrono::steady_clock::now() + options_.startup_timeout;
    while (true) {
      if (std::filesystem::exists(port_file)) {  // written atomically (tmp + rename)
        port_ = std::atoi(slurp(port_file).c_str());
        if (port_ > 0) return;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("ScriptedServer: the server exited during startup (" +
                                 std::string(WIFEXITED(status) ? "status " + std::to_string(WEXITSTATUS(status))
                                                               : "signal " + std::to_string(WTERMSIG(status))) +
                                 "): " + output());
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        throw std::runtime_error("ScriptedServer: no port file after " +
                                 std::to_string(options_.startup_timeout.count()) + " ms: " + output());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  nlohmann::json get_json(const std::string& path) const {
    const HttpResult r = http("GET", path);
    expect_ok(r, path);
    return nlohmann::json::parse(r.body);
  }

  static void expect_ok(const HttpResult& r, const std::string& what) {
    if (r.status != 200) {
      throw std::runtime_error("ScriptedServer: " + what + " answered " + std::to_string(r.status) + ": " + r.body);
    }
  }

  static std::string slurp(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  static std::string errno_message(const std::string& what) { return what + ": " + std::strerror(errno); }

  Options options_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace t2s::test
