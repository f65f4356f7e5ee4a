// agent/tools: the ready-made tools of agent loops, working inside one Sandbox.
//
//   bash        {"command": string}            runs it in the sandbox under the given limits; the
//                                               result says how it ended, then stdout and stderr
//   read_file   {"path": string}               a file of the sandbox (capped; says when cut)
//   write_file  {"path": string, "content": string}  creates or replaces a file of the sandbox
//   evaluate    {"answer": string|number} or {"file": string}
//                                               runs the Checker on the answer or on a file of the
//                                               sandbox; a pass ends the loop as passed, a failure
//                                               returns the checker's feedback
// Paths are the sandbox's untrusted names (relative, resolved beneath it); a bad one is an error
// message to the model. The sandbox and checker are shared, so they live as long as any loop.
#pragma once

#include <memory>

#include "t2s/agent/checker.hpp"
#include "t2s/agent/sandbox.hpp"
#include "t2s/agent/tool_loop.hpp"

namespace t2s::agent {

Tool bash_tool(std::shared_ptr<const Sandbox> sandbox, CommandLimits limits = {});
Tool read_file_tool(std::shared_ptr<const Sandbox> sandbox, std::size_t max_bytes = std::size_t{64} << 10);
Tool write_file_tool(std::shared_ptr<const Sandbox> sandbox, std::size_t max_bytes = std::size_t{1} << 20);
Tool evaluate_tool(std::shared_ptr<const Sandbox> sandbox, std::shared_ptr<const Checker> checker);

// How the bash tool reports a command: "exit code 1\nstdout:\n...\nstderr:\n..." (valid UTF-8).
std::string format_command_result(const CommandResult& result);

}  // namespace t2s::agent
