// llm_client_bench: drives the real LLM client against an OpenAI-compatible server (in the
// benchmark, the scripted server of tests/llm_server) and reports what bench/llm_bench.sh needs:
// wall time, outcomes, client CPU time and peak memory. Under mpirun each rank sends its share of
// the requests and rank 0 prints the job's figures as one JSON object.
//
//   llm_client_bench --base-url URL --requests N [--in-flight C] [--max-attempts A]
//                    [--total-timeout S] [--prompt-bytes B]
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "t2s/llm/client.hpp"
#include "t2s/mpi/comm.hpp"

using nlohmann::json;

namespace {

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace

int main(int argc, char** argv) {
  t2s::mpi::Session session(argc, argv);
  const auto comm = session.world();
  std::string base_url;
  std::size_t requests = 100, prompt_bytes = 200;
  t2s::llm::ClientOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--base-url") base_url = value;
    else if (flag == "--requests") requests = std::stoul(value);
    else if (flag == "--in-flight") options.max_in_flight = std::stoul(value);
    else if (flag == "--max-attempts") options.retry.max_attempts = std::stoi(value);
    else if (flag == "--total-timeout") options.timeouts.total_s = std::stod(value);
    else if (flag == "--prompt-bytes") prompt_bytes = std::stoul(value);
    else {
      std::cerr << "llm_client_bench: unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (base_url.empty()) {
    std::cerr << "llm_client_bench: --base-url is required\n";
    return 2;
  }
  options.retry.base_delay_s = 0.05;
  options.retry.max_delay_s = 1.0;
  options.timeouts.stall_s = options.timeouts.total_s;
  options.seed = static_cast<std::uint64_t>(comm.rank());
  const auto [first, count] = t2s::mpi::shard_range(requests, comm.rank(), comm.size());

  t2s::llm::Client client(t2s::llm::Endpoint::resolve(base_url, "bench-model", {}), options);
  std::size_t ok = 0, failed = 0, failed_without_reason = 0;
  std::map<std::string, std::size_t> reasons;
  const std::string padding(prompt_bytes, 'x');
  for (std::size_t i = first; i < first + count; ++i) {
    t2s::llm::ChatRequest request;
    request.body = {{"messages", {{{"role", "user"}, {"content", "request " + std::to_string(i) + " " + padding}}}}};
    request.stage = "bench";
    client.submit(std::move(request), [&](t2s::llm::ChatResult&& r) {
      if (r.ok) {
        ++ok;
      } else {
        ++failed;
        if (r.error.empty()) ++failed_without_reason;
        ++reasons[r.error.substr(0, r.error.find(':'))];
      }
    });
  }
  const double cpu_before = cpu_seconds();
  comm.barrier();
  const auto start = std::chrono::steady_clock::now();
  client.run();
  const double local_wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double local_cpu = cpu_seconds() - cpu_before;

  const double wall = comm.all_max(local_wall);
  const double cpu = comm.all_sum(local_cpu);
  const double rss = comm.all_max(peak_rss_mb());
  const auto total_ok = comm.all_sum(static_cast<std::uint64_t>(ok));
  const auto total_failed = comm.all_sum(static_cast<std::uint64_t>(failed));
  const auto total_unexplained = comm.all_sum(static_cast<std::uint64_t>(failed_without_reason));
  const auto& totals = client.totals().at("total");
  const auto attempts = comm.all_sum(static_cast<std::uint64_t>(totals.attempts));
  if (comm.is_main()) {
    json reason_counts = json::object();
    for (const auto& [reason, n] : reasons) reason_counts[reason] = n;
    std::cout << json{{"ranks", comm.size()},
                      {"requests", requests},
                      {"in_flight_per_rank", options.max_in_flight},
                      {"wall_s", wall},
                      {"succeeded", total_ok},
                      {"failed", total_failed},
                      {"failed_without_reason", total_unexplained},
                      {"attempts", attempts},
                      {"client_cpu_s", cpu},
                      {"client_cpu_us_per_request", requests > 0 ? cpu / static_cast<double>(requests) * 1e6 : 0.0},
                      {"peak_rss_mb", rss},
                      {"rank0_failure_reasons", reason_counts}}
                     .dump()
              << "\n";
  }
  return total_ok + total_failed == requests && total_unexplained == 0 ? 0 : 1;
}
