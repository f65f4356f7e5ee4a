#include "t2s/core/files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include "t2s/core/error.hpp"

namespace t2s {
namespace fs = std::filesystem;
namespace {

std::string kind_of(fs::file_type type) {
  switch (type) {
    case fs::file_type::directory: return "a directory";
    case fs::file_type::character: return "a character device";
    case fs::file_type::block: return "a block device";
    case fs::file_type::fifo: return "a FIFO";
    case fs::file_type::socket: return "a socket";
    case fs::file_type::symlink: return "a symbolic link";
    default: return "not a regular file";
  }
}

}  // namespace

Output resolve_output(const fs::path& target, bool stream_ok) {
  std::error_code ec;
  Output out{target, false};
  const bool link = fs::symlink_status(target, ec).type() == fs::file_type::symlink;
  const fs::file_status status = fs::status(target, ec);  // what the path leads to, links followed
  switch (status.type()) {
    case fs::file_type::regular:  // written beside the file a link points to; the link stays
      if (link) out.path = fs::canonical(target);
      return out;
    case fs::file_type::not_found:  // a link to nothing yet: the file goes where it points
      for (int hops = 0; link && fs::symlink_status(out.path, ec).type() == fs::file_type::symlink; ++hops) {
        const fs::path next = fs::read_symlink(out.path, ec);
        if (ec || hops == 40) throw InputError(target.string() + ": a symbolic link that cannot be followed");
        out.path = next.is_absolute() ? next : out.path.parent_path() / next;
      }
      return out;
    case fs::file_type::character:  // /dev/null, a terminal; /dev/stdout leads to one or to a FIFO
    case fs::file_type::fifo:
      if (stream_ok) {
        out.stream = true;
        return out;
      }
      throw InputError(target.string() + ": is " + kind_of(status.type()) + "; this output must be a regular file");
    default: throw InputError(target.string() + ": is " + kind_of(status.type()) + ", not a file to write");
  }
}

void commit_output(const fs::path& partial, const fs::path& path) {
  std::error_code ec;
  const fs::file_status status = fs::symlink_status(path, ec);
  if (status.type() != fs::file_type::not_found && status.type() != fs::file_type::regular) {
    fs::remove(partial, ec);
    throw Error(path.string() + ": is " + kind_of(status.type()) + " now, and only a regular file is ever replaced; nothing was written");
  }
  fs::rename(partial, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(partial, ignored);
    throw Error(path.string() + ": cannot be written (" + ec.message() + ")");
  }
}

void write_file_whole(const fs::path& path, std::string_view bytes) {
  const Output out = resolve_output(path, false);
  fs::path partial = out.path;
  partial += ".partial";
  {
    std::ofstream file(partial, std::ios::binary | std::ios::trunc);
    file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    file.close();
    if (!file) {
      std::error_code ec;
      fs::remove(partial, ec);
      throw Error(path.string() + ": cannot be written");
    }
  }
  commit_output(partial, out.path);
}

DirectoryLock DirectoryLock::try_lock(const fs::path& directory, std::string& holder) {
  const fs::path path = directory / ".t2s-lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(path.string() + ": cannot open the lock file: " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    char text[512] = {};
    const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
    ::close(fd);
    if (error != EWOULDBLOCK) throw Error(path.string() + ": cannot lock: " + std::strerror(error));
    holder = n > 0 ? std::string(text, static_cast<std::size_t>(n)) : std::string("another process");
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return DirectoryLock();
  }
  // who holds it, for the message a second run prints
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const auto since = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string who = "t2s pid " + std::to_string(::getpid()) + " on " + host + " (since unix time " + std::to_string(since) + ")\n";
  // (a note that cannot be written leaves the lock held; a second run then names no holder)
  const bool noted = ::ftruncate(fd, 0) == 0 && ::pwrite(fd, who.data(), who.size(), 0) == static_cast<ssize_t>(who.size());
  static_cast<void>(noted);
  return DirectoryLock(fd);
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the lock
}

DirectoryLock& DirectoryLock::operator=(DirectoryLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

}  // namespace t2s
