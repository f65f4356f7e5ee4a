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
  for (const char* variable : {"SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_NODELIST"})
    if (const char* value = std::getenv(variable)) {
      std::string key = variable;
      std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      out[key] = std::string(value);
    }
  if (const char* script = std::getenv("T2S_BATCH_SCRIPT"); script != nullptr && *script != '\0') {
    std::ifstream in(script, std::ios::binary);
    std::string text(60 * 1024 + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (!text.empty()) out["batch_script"] = text.size() > 60 * 1024 ? abbreviate(text, 60 * 1024 - 8) : repair_utf8(text);
  }
  return out;
}

}  // namespace t2s::pipeline
