#include "t2s/pipeline/provenance.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <string>

#include "t2s/core/text.hpp"

namespace t2s::pipeline {

nlohmann::json slurm_provenance() {
  nlohmann::json out = nlohmann::json::object();
  for (const char* variable : {"SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_NODELIST",
                               "SLURM_RESTART_COUNT"})
    if (const char* value = std::getenv(variable)) {
      std::string key = variable;
      std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      out[key] = std::string(value);
    }
  // T2S_BATCH_SCRIPT: the batch script Slurm ran and the files it sources, separated by ':'.
  if (const char* scripts = std::getenv("T2S_BATCH_SCRIPT"); scripts != nullptr && *scripts != '\0') {
    constexpr std::size_t kCap = 60 * 1024;  // an HDF5 attribute
    std::string text;
    for (const auto& path : split(scripts, ':')) {
      if (path.empty()) continue;
      std::ifstream in(path, std::ios::binary);
      std::string content(kCap + 1, '\0');
      in.read(content.data(), static_cast<std::streamsize>(content.size()));
      content.resize(static_cast<std::size_t>(in.gcount()));
      text += (text.empty() ? "" : "\n") + std::string("==> ") + path + " <==\n" + content;
    }
    if (!text.empty()) out["batch_script"] = text.size() > kCap ? abbreviate(text, kCap - 8) : repair_utf8(text);
  }
  return out;
}

}  // namespace t2s::pipeline
