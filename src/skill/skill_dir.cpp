#include "t2s/skill/skill_dir.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "t2s/core/error.hpp"
#include "t2s/core/sha256.hpp"

namespace t2s::skill {

namespace fs = std::filesystem;

const std::string* SkillDir::text(std::string_view path) const {
  const auto found = files.find(path);
  return found == files.end() ? nullptr : &found->second.bytes;
}

bool SkillDir::exists(std::string_view path) const {
  if (path.empty() || files.contains(path)) return true;
  const std::string prefix = std::string(path) + "/";
  const auto next = files.lower_bound(prefix);
  return next != files.end() && next->first.starts_with(prefix);
}

namespace {

constexpr auto kExecutable = fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec;

// An unreadable file is bad input (exit status 2), like a missing one.
std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string() + ": cannot read: " + std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw InputError(path.string() + ": cannot read: read failed");
  return bytes;
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw Error(path.string() + ": write failed");
}

constexpr std::string_view kOutputFormat = "trace2skill/output";

// Every file but the marker: name, executable bit, size and bytes.
std::string files_digest(const SkillDir& skill) {
  Sha256 hasher;
  for (const auto& [path, file] : skill.files) {
    if (path == kOutputMarkerPath) continue;
    const auto header = path + '\0' + (file.executable ? 'x' : '-') + std::to_string(file.bytes.size()) + '\0';
    hasher.update(header).update(file.bytes);
  }
  return to_hex(hasher.finish());
}

int system_rename(const char* from, const char* to, unsigned flags) {
  return ::renameat2(AT_FDCWD, from, AT_FDCWD, to, flags);
}

}  // namespace

void replace_directory(const fs::path& from, const fs::path& to, RenameFunction rename) {
  if (rename == nullptr) rename = system_rename;
  const auto fail = [&](const std::string& what) { throw Error(to.string() + ": cannot replace: " + what); };
  if (rename(from.c_str(), to.c_str(), RENAME_EXCHANGE) != 0) {
    if (errno != EINVAL && errno != ENOSYS) fail(std::strerror(errno));
    // No atomic exchange here: move `to` aside, then `from` in; put `to` back if that fails.
    const fs::path old = from.string() + ".old";
    if (rename(to.c_str(), old.c_str(), 0) != 0) fail(std::strerror(errno));
    if (rename(from.c_str(), to.c_str(), 0) != 0) {
      const std::string reason = std::strerror(errno);
      if (rename(old.c_str(), to.c_str(), 0) != 0) fail(reason + "; the previous directory is left at " + old.string());
      fail(reason);
    }
    if (rename(old.c_str(), from.c_str(), 0) != 0) fail(std::string(std::strerror(errno)) + " (cleaning up " + old.string() + ")");
  }
  std::error_code ec;
  fs::remove_all(from, ec);  // the old directory
}

void mark_as_output(SkillDir& skill) {
  const nlohmann::json marker = {{"format", kOutputFormat}, {"files_sha256", files_digest(skill)}};
  skill.files[std::string(kOutputMarkerPath)] = {marker.dump(2) + "\n", false};
}

bool is_unchanged_output(const SkillDir& skill) {
  const auto* text = skill.text(kOutputMarkerPath);
  if (text == nullptr) return false;
  const auto marker = nlohmann::json::parse(*text, nullptr, false);
  const auto field = [&](const char* key) {
    const auto found = marker.is_object() ? marker.find(key) : marker.end();
    return found != marker.end() && found->is_string() ? found->get<std::string>() : std::string();
  };
  return field("format") == kOutputFormat && field("files_sha256") == files_digest(skill);
}

SkillDir load_skill_dir(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_symlink(dir, ec) || !fs::is_directory(dir, ec))
    throw InputError(dir.string() + ": not a skill directory (no such directory)");
  SkillDir skill;
  fs::path current = dir;  // the entry being read, to name it when reading fails
  try {
    for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
      current = it->path();
      const auto relative = current.lexically_relative(dir).generic_string();
      for (const char c : relative)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
          throw InputError(current.string() + ": file name has control characters");
      const auto status = it->symlink_status();
      if (fs::is_symlink(status))
        throw InputError(current.string() + ": symbolic links are not allowed in a skill (they may point outside it)");
      if (fs::is_directory(status)) continue;
      if (!fs::is_regular_file(status)) throw InputError(current.string() + ": not a regular file");
      skill.files[relative] = {read_bytes(current), (status.permissions() & fs::perms::owner_exec) != fs::perms::none};
    }
  } catch (const fs::filesystem_error& e) {  // a directory that cannot be listed
    throw InputError((e.path1().empty() ? current : e.path1()).string() + ": cannot read: " + e.code().message());
  }
  return skill;
}

fs::path without_trailing_separators(const fs::path& dir) {
  auto text = dir.string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  return text;
}

std::string directory_name(const fs::path& dir) {
  return without_trailing_separators(fs::absolute(dir).lexically_normal()).filename().string();
}

void write_skill_dir(const SkillDir& skill, const fs::path& out) {
  static std::atomic<unsigned> counter{0};
  const auto target = without_trailing_separators(fs::absolute(out).lexically_normal());
  const auto name = target.filename().string();
  const auto parent = target.parent_path();
  fs::create_directories(parent);
  const auto temporary =
      parent / ("." + name + ".t2s-partial-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  struct RemoveOnExit {
    fs::path path;
    ~RemoveOnExit() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  } cleanup{temporary};
  fs::remove_all(temporary);
  fs::create_directory(temporary);
  for (const auto& [path, file] : skill.files) {
    const auto file_path = temporary / path;
    fs::create_directories(file_path.parent_path());
    write_bytes(file_path, file.bytes);
    if (file.executable) fs::permissions(file_path, kExecutable, fs::perm_options::add);
  }
  std::error_code ec;
  if (fs::exists(fs::symlink_status(target, ec)))
    replace_directory(temporary, target);
  else
    fs::rename(temporary, target);
}

}  // namespace t2s::skill
