#include "t2s/agent/limits_config.hpp"

#include "t2s/core/error.hpp"

namespace t2s::agent {

bool read_sandbox_limit(const std::string& key, const nlohmann::json& value, const std::string& name, CommandLimits& limits,
                        std::uint64_t& disk_bytes) {
  const auto number = [&](double lo, double hi) {
    if (!value.is_number()) throw InputError(name + ": must be a number");
    const double v = value.get<double>();
    if (!(v >= lo && v <= hi)) throw InputError(name + ": must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return v;
  };
  constexpr double kMiB = 1024.0 * 1024.0;
  if (key == "wall_s") limits.wall_s = number(0.1, 86400);
  else if (key == "cpu_s") limits.cpu_s = number(0.1, 86400);
  else if (key == "memory_mb") limits.memory_bytes = static_cast<std::uint64_t>(number(16, 1e6) * kMiB);
  else if (key == "file_mb") limits.file_bytes = static_cast<std::uint64_t>(number(1, 1e6) * kMiB);
  else if (key == "processes") limits.processes = static_cast<std::uint64_t>(number(1, 1e5));
  else if (key == "disk_mb") disk_bytes = static_cast<std::uint64_t>(number(1, 1e7) * kMiB);
  else return false;
  return true;
}

}  // namespace t2s::agent
