// core/error: the exceptions every module throws, and the exit status each one maps to.
// An error says what failed, on which input (file, line, record), and why, in one sentence.
#pragma once

#include <stdexcept>
#include <string>

namespace t2s {

// Process exit statuses of every `t2s` command (DESIGN §11).
// interrupted: stopped on request with the work checkpointed; rerun to resume (core/interrupt).
enum class ExitStatus : int { ok = 0, failure = 1, bad_input = 2, interrupted = 75 };

// The work itself failed (I/O error, library failure, a rank died): exit status 1.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  virtual ExitStatus status() const noexcept { return ExitStatus::failure; }
};

// The user gave us something we cannot use (bad flag, malformed file, bad record in --strict
// mode): exit status 2.
class InputError : public Error {
 public:
  using Error::Error;
  ExitStatus status() const noexcept override { return ExitStatus::bad_input; }
};

}  // namespace t2s
