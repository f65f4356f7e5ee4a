// pipeline/run_summary: OUTPUT/summary.json, a finished run's result at a glance (evolve, rollout,
// eval, the loop): the command, one line for people, and the main numbers. `t2s summarize` gathers
// them over the runs of a sweep.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace t2s::pipeline {

struct RunSummary {
  std::string command;   // evolve | rollout | eval | loop
  std::string headline;  // e.g. "passed 30/40 attempts (75.0%), 2 infrastructure errors"
  nlohmann::json numbers = nlohmann::json::object();
};

// Written whole or not at all (a temporary file, renamed). Error when it cannot be written.
void write_run_summary(const std::filesystem::path& output, const RunSummary& summary);
// nullopt when OUTPUT/summary.json does not exist; InputError naming the file when it is not one.
std::optional<RunSummary> read_run_summary(const std::filesystem::path& output);

// "30/40 (75.0%)"; "0/0" without any.
std::string count_and_share(std::uint64_t part, std::uint64_t whole);

}  // namespace t2s::pipeline
