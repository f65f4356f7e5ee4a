// benchmarks/generic: any benchmark given as a tasks JSONL file, one task per line:
//   {"id": "t1", "instruction": "...", "files": ["data/x.csv"] or {"name": "path"}, "answer": "42"}
// `files` are relative to the JSONL file's directory (a list puts each under its own relative
// name; an object names each); `answer` (string, number or a list of them) is the gold, optional
// when an external checker command has its own. Attempts are checked by an agent::Checker built
// from the options' `checker` table with the task's answer as gold: exact, normalised (the
// default) or numeric matching of the final answer, or a command ("{task_id}" in it is replaced by
// the task's id, shell-quoted). With `answer_file`, the candidate is that file of the sandbox
// instead of the final answer.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "t2s/benchmarks/benchmark.hpp"

namespace t2s::benchmarks::generic {

// options: name, checker, answer_file (any other key: InputError naming `where.key`). A malformed
// line, a duplicate id or a missing file is an InputError naming the file and line.
std::unique_ptr<Benchmark> open(const std::filesystem::path& tasks_jsonl, const nlohmann::json& options,
                                const std::string& where);

}  // namespace t2s::benchmarks::generic
