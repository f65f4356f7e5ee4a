#include "t2s/skill/diff.hpp"

#include <algorithm>
#include <set>

#include "t2s/core/text.hpp"
#include "t2s/skill/markdown.hpp"
#include "t2s/skill/paths.hpp"
#include "t2s/skill/provenance.hpp"

namespace t2s::skill {

namespace {

enum class Step { same, removed, added };

// Myers' O(ND) shortest edit script over the lines between a common prefix and suffix. Past
// kMaxD differences the middle is reported as removed and added whole (still a correct diff).
std::vector<Step> edit_script(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  constexpr long kMaxD = 1000;  // bounds the trace to about (kMaxD + 1)^2 entries
  std::size_t prefix = 0;
  while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
  std::size_t suffix = 0;
  while (suffix < a.size() - prefix && suffix < b.size() - prefix && a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix])
    ++suffix;
  const long n = static_cast<long>(a.size() - prefix - suffix), m = static_cast<long>(b.size() - prefix - suffix);
  const auto A = [&](long i) -> const std::string& { return a[prefix + static_cast<std::size_t>(i)]; };
  const auto B = [&](long j) -> const std::string& { return b[prefix + static_cast<std::size_t>(j)]; };

  std::vector<Step> middle;
  const long max = n + m;
  std::vector<long> v(static_cast<std::size_t>(2 * max + 3), 0);
  const auto V = [&](long k) -> long& { return v[static_cast<std::size_t>(k + max + 1)]; };
  std::vector<std::vector<long>> trace;  // V over diagonals [-d, d] after each step d
  long found = -1;
  for (long d = 0; d <= std::min(max, kMaxD) && found < 0; ++d) {
    for (long k = -d; k <= d; k += 2) {
      long x = (k == -d || (k != d && V(k - 1) < V(k + 1))) ? V(k + 1) : V(k - 1) + 1;
      long y = x - k;
      while (x < n && y < m && A(x) == B(y)) ++x, ++y;
      V(k) = x;
      if (x >= n && y >= m) found = d;
    }
    trace.emplace_back(v.begin() + (max + 1 - d), v.begin() + (max + 1 + d + 1));
  }
  if (found < 0) {
    middle.assign(static_cast<std::size_t>(n), Step::removed);
    middle.insert(middle.end(), static_cast<std::size_t>(m), Step::added);
  } else {
    long x = n, y = m;
    for (long d = found; d > 0; --d) {
      const auto& previous = trace[static_cast<std::size_t>(d - 1)];
      const auto P = [&](long k) { return previous[static_cast<std::size_t>(k + d - 1)]; };
      const long k = x - y;
      const long previous_k = (k == -d || (k != d && P(k - 1) < P(k + 1))) ? k + 1 : k - 1;
      const long previous_x = P(previous_k), previous_y = previous_x - previous_k;
      for (; x > previous_x && y > previous_y; --x, --y) middle.push_back(Step::same);
      middle.push_back(x == previous_x ? Step::added : Step::removed);
      x = previous_x;
      y = previous_y;
    }
    for (; x > 0; --x) middle.push_back(Step::same);
    std::reverse(middle.begin(), middle.end());
  }
  std::vector<Step> script(prefix, Step::same);
  script.insert(script.end(), middle.begin(), middle.end());
  script.insert(script.end(), suffix, Step::same);
  return script;
}

bool is_text(std::string_view bytes) {
  return bytes.find('\0') == std::string_view::npos && find_invalid_utf8(bytes) == std::string_view::npos;
}

std::string hunk_range(std::size_t first, std::size_t count) {
  return std::to_string(count == 0 ? first : first + 1) + "," + std::to_string(count);
}

}  // namespace

std::vector<Hunk> diff_lines(const std::vector<std::string>& a, const std::vector<std::string>& b, std::size_t context) {
  const auto script = edit_script(a, b);
  // Positions (in A and B) before each step, so a hunk can start anywhere.
  std::vector<std::size_t> at_a(script.size() + 1), at_b(script.size() + 1);
  for (std::size_t s = 0; s < script.size(); ++s) {
    at_a[s + 1] = at_a[s] + (script[s] != Step::added);
    at_b[s + 1] = at_b[s] + (script[s] != Step::removed);
  }
  std::vector<Hunk> hunks;
  for (std::size_t s = 0; s < script.size();) {
    if (script[s] == Step::same) {
      ++s;
      continue;
    }
    // Extend over changes separated by at most 2 * context unchanged lines.
    auto end = s;
    for (auto last_change = s; end < script.size(); ++end) {
      if (script[end] != Step::same) last_change = end;
      else if (end - last_change > 2 * context) break;
    }
    while (end > s && script[end - 1] == Step::same) --end;
    const auto first = s >= context ? s - context : 0;
    const auto last = std::min(script.size(), end + context);
    Hunk hunk;
    hunk.old_first = at_a[first];
    hunk.new_first = at_b[first];
    hunk.old_count = at_a[last] - at_a[first];
    hunk.new_count = at_b[last] - at_b[first];
    for (auto i = first; i < last; ++i) {
      switch (script[i]) {
        case Step::same: hunk.lines.push_back(" " + a[at_a[i]]); break;
        case Step::removed: hunk.lines.push_back("-" + a[at_a[i]]); break;
        case Step::added: hunk.lines.push_back("+" + b[at_b[i]]); break;
      }
    }
    hunks.push_back(std::move(hunk));
    s = last;
  }
  return hunks;
}

std::string diff_skills(const SkillDir& a, const SkillDir& b, const DiffOptions& options) {
  const auto provenance = options.provenance ? read_provenance(b) : Provenance{};
  std::set<std::string> paths;
  for (const auto* skill : {&a, &b})
    for (const auto& [path, file] : skill->files)
      if (!is_sidecar(path)) paths.insert(path);
  std::string out;
  for (const auto& path : paths) {
    const auto* before = a.files.contains(path) ? &a.files.find(path)->second : nullptr;
    const auto* after = b.files.contains(path) ? &b.files.find(path)->second : nullptr;
    if (before && after && before->bytes == after->bytes && before->executable == after->executable) continue;
    const std::string from = before ? "a/" + path : "/dev/null", to = after ? "b/" + path : "/dev/null";
    if (before && after && before->executable != after->executable)
      out += "old mode " + std::string(before->executable ? "100755" : "100644") + "\nnew mode " +
             (after->executable ? "100755" : "100644") + " (" + path + ")\n";
    if ((before && !is_text(before->bytes)) || (after && !is_text(after->bytes))) {
      out += "Binary files " + from + " and " + to + " differ\n";
      continue;
    }
    const auto old_lines = before ? split_lines(before->bytes) : std::vector<std::string>{};
    const auto new_lines = after ? split_lines(after->bytes) : std::vector<std::string>{};
    const auto hunks = diff_lines(old_lines, new_lines, options.context);
    if (hunks.empty()) continue;
    out += "--- " + from + "\n+++ " + to + "\n";
    for (const auto& hunk : hunks) {
      out += "@@ -" + hunk_range(hunk.old_first, hunk.old_count) + " +" + hunk_range(hunk.new_first, hunk.new_count) + " @@\n";
      std::vector<std::size_t> added;  // 1-based lines of B this hunk adds
      std::size_t line_b = hunk.new_first;
      for (const auto& line : hunk.lines) {
        out += line;
        if (!line.ends_with('\n')) out += "\n\\ No newline at end of file\n";
        if (line[0] != '-') ++line_b;
        if (line[0] == '+') added.push_back(line_b);
      }
      for (const auto& block : provenance.blocks)
        if (block.file == path && std::any_of(added.begin(), added.end(), [&](std::size_t l) {
              return l >= block.first_line && l <= block.last_line;
            }))
          out += "# provenance: " + describe(block) + "\n";
    }
  }
  return out;
}

}  // namespace t2s::skill
