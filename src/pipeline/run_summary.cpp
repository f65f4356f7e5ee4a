#include "t2s/pipeline/run_summary.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "t2s/core/error.hpp"
#include "t2s/core/files.hpp"

namespace t2s::pipeline {

namespace fs = std::filesystem;
using nlohmann::json;

void write_run_summary(const fs::path& output, const RunSummary& summary) {
  write_file_whole(output / "summary.json",
                   json{{"command", summary.command}, {"headline", summary.headline}, {"numbers", summary.numbers}}.dump(
                       2, ' ', false, json::error_handler_t::replace) +
                       "\n");
}

std::optional<RunSummary> read_run_summary(const fs::path& output) {
  const fs::path path = output / "summary.json";
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  try {
    const json j = json::parse(file);
    RunSummary summary;
    summary.command = j.at("command").get<std::string>();
    summary.headline = j.at("headline").get<std::string>();
    summary.numbers = j.value("numbers", json::object());
    return summary;
  } catch (const std::exception& e) {
    throw InputError(path.string() + ": not a run summary (" + e.what() + ")");
  }
}

std::string count_and_share(std::uint64_t part, std::uint64_t whole) {
  std::string text = std::to_string(part) + "/" + std::to_string(whole);
  if (whole == 0) return text;
  char share[32];
  std::snprintf(share, sizeof share, " (%.1f%%)", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return text + share;
}

}  // namespace t2s::pipeline
