// core/files: writing outputs so that readers see the old file or the whole new one, never a part (a
// temporary file beside it, renamed over it) — and so that a rename only ever replaces a regular file.
// Something else at an output path (/dev/null, a FIFO, /dev/stdout) is written in place where the
// output is a stream, and refused where it is not; a directory or a socket is always refused.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace t2s {

// Where an output goes: `path` (symbolic links followed), and whether it is a stream (a character
// device or a FIFO: written in place) rather than a regular file (written through PATH.partial).
struct Output {
  std::filesystem::path path;
  bool stream = false;
};

// Looks at `target` before anything is written. InputError, naming it, for a directory, socket or
// block device, and for a device or FIFO unless `stream_ok` (a store or an archive must be a file).
Output resolve_output(const std::filesystem::path& target, bool stream_ok);

// Renames `partial` over `path` when `path` is absent or a regular file (looked at again now); else
// removes `partial` and throws, naming `path`.
void commit_output(const std::filesystem::path& partial, const std::filesystem::path& path);

// An exclusive lock on a directory (flock on DIR/.t2s-lock, which names its holder), held while the
// object lives; the kernel drops it when the process ends, crashed or killed. Default: no lock.
class DirectoryLock {
 public:
  DirectoryLock() = default;
  // The lock, or no lock with `holder` set to what the lock file says of the process holding it.
  static DirectoryLock try_lock(const std::filesystem::path& directory, std::string& holder);
  ~DirectoryLock();
  DirectoryLock(DirectoryLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DirectoryLock& operator=(DirectoryLock&& other) noexcept;
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;
  bool held() const { return fd_ >= 0; }

 private:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// `bytes` as the whole content of `path` (a regular file, written through PATH.partial); error naming
// the file when it cannot be written.
void write_file_whole(const std::filesystem::path& path, std::string_view bytes);

}  // namespace t2s
