// agent/limits_config: the sandbox limits as job files write them ([agent], [analyze.llm]).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "t2s/agent/sandbox.hpp"

namespace t2s::agent {

// Reads `key` when it is one of wall_s, cpu_s, memory_mb, file_mb, processes, disk_mb into `limits`
// or `disk_bytes` and returns true; false for any other key. InputError naming `name` for a value
// that is not a number in range.
bool read_sandbox_limit(const std::string& key, const nlohmann::json& value, const std::string& name, CommandLimits& limits,
                        std::uint64_t& disk_bytes);

}  // namespace t2s::agent
