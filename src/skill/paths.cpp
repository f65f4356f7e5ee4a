#include "t2s/skill/paths.hpp"

#include <algorithm>
#include <vector>

namespace t2s::skill {

namespace {

std::vector<std::string_view> split(std::string_view path, char separator) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const auto end = path.find(separator, start);
    parts.push_back(path.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (auto& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

bool has_scheme(std::string_view target) {
  const auto colon = target.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!is_alpha(target[0])) return false;
  return std::all_of(target.begin(), target.begin() + static_cast<std::ptrdiff_t>(colon), [&](char c) {
    return is_alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
  });
}

}  // namespace

std::optional<std::string> unsafe_path_reason(std::string_view path) {
  if (path.empty()) return "the path is empty";
  for (const char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return "the path contains a control character";
    if (c == '\\') return "the path contains a backslash";
  }
  if (path.front() == '/') return "absolute paths are not allowed";
  for (const auto part : split(path, '/')) {
    if (part == "..") return "'..' would leave the skill directory";
    if (part.empty() || part == ".") return "the path has an empty or '.' component";
  }
  return std::nullopt;
}

bool is_reference_name(std::string_view name) {
  const auto is_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  return name.size() > 3 && name.ends_with(".md") && is_alnum(name[0]) &&
         std::all_of(name.begin(), name.end(), [&](char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; });
}

bool is_reference(std::string_view path) {
  return path.starts_with(kReferencesDir) && is_reference_name(path.substr(kReferencesDir.size()));
}

bool is_markdown_file(std::string_view path) {
  return path == kSkillMd || (path.starts_with(kReferencesDir) && path.ends_with(".md"));
}

bool is_editable(std::string_view path) { return (path == kSkillMd || is_reference(path)) && !is_protected(path); }

bool is_sidecar(std::string_view path) {
  return path.starts_with(kSidecarDir) || path == kSidecarDir.substr(0, kSidecarDir.size() - 1);
}

bool is_protected(std::string_view path) {
  if (path.starts_with("scripts/") || is_sidecar(path)) return true;
  const auto slash = path.rfind('/');
  const auto name = upper(path.substr(slash == std::string_view::npos ? 0 : slash + 1));
  return name.starts_with("LICENSE") || name.starts_with("LICENCE") || name.starts_with("COPYING");
}

std::optional<std::string> edit_path_problem(std::string_view path) {
  if (auto reason = unsafe_path_reason(path)) return reason;
  if (is_protected(path)) return "protected file (scripts/, licence files and .trace2skill/ are never edited)";
  if (const auto name = path.substr(std::min(path.size(), kReferencesDir.size()));
      path.starts_with(kReferencesDir) && path.ends_with(".md") && name.find('/') == std::string_view::npos &&
      !is_reference_name(name))
    return "reference names are letters, digits, '.', '_' and '-', starting with a letter or digit, ending in .md";
  if (!is_editable(path)) return "not editable (only SKILL.md and references/*.md can be edited)";
  return std::nullopt;
}

LinkTarget resolve_link(std::string_view from_file, std::string_view target) {
  using Kind = LinkTarget::Kind;
  if (target.starts_with("//")) return {Kind::external, {}};
  if (has_scheme(target)) {
    const auto scheme = upper(target.substr(0, target.find(':')));
    return {scheme == "FILE" ? Kind::absolute : Kind::external, {}};
  }
  target = target.substr(0, std::min(target.find('#'), target.find('?')));
  if (target.empty()) return {Kind::anchor, {}};
  const auto decoded = percent_decode(target);
  if (decoded.starts_with('/')) return {Kind::absolute, {}};
  auto parts = split(from_file, '/');
  parts.pop_back();  // the file name: links are relative to its directory
  std::vector<std::string_view> resolved(parts.begin(), parts.end());
  for (const auto part : split(decoded, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (resolved.empty()) return {Kind::escapes, {}};
      resolved.pop_back();
    } else {
      resolved.push_back(part);
    }
  }
  std::string path;
  for (const auto part : resolved) path.append(path.empty() ? "" : "/").append(part);
  return {Kind::local, std::move(path)};
}

}  // namespace t2s::skill
