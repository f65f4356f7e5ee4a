// skill/support: the trajectories that back an edit (its support set), sorted and distinct.
//
// A set names its members one of two ways, never both:
// - by trajectory id (strings): patch files, the provenance sidecar, anything a person writes;
// - by position in the id order of a run's trajectory store (integers): inside an evolve run, so
//   that support sets over millions of trajectories cost 4 bytes a member as they travel through
//   the merge tree, the checkpoint and the run archive (whose /trajectories/id turns them back
//   into ids).
// In JSON a set is a list of strings or a list of non-negative integers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace t2s::skill {

class Support {
 public:
  Support() = default;
  Support(std::vector<std::string> ids);  // NOLINT: implicit, a list of ids is a support set
  Support(std::initializer_list<std::string> ids) : Support(std::vector<std::string>(ids)) {}
  static Support of_positions(std::vector<std::uint32_t> positions);

  // Reads a JSON list (strings or integers); `path` names it in messages. Throws InputError.
  static Support from_json(const nlohmann::json& value, const std::string& path);
  nlohmann::json to_json() const;

  std::size_t size() const { return ids_.size() + positions_.size(); }
  bool empty() const { return size() == 0; }
  bool by_position() const { return !positions_.empty(); }
  const std::vector<std::string>& ids() const { return ids_; }
  const std::vector<std::uint32_t>& positions() const { return positions_; }
  // The i-th member as text (an id, or "#" and the position), for messages.
  std::string member_text(std::size_t i) const;

  // Union. Throws Error when one set names members by id and the other by position.
  Support& operator|=(const Support& other);
  friend Support operator|(Support a, const Support& b) { return a |= b; }
  friend bool operator==(const Support&, const Support&) = default;

 private:
  std::vector<std::string> ids_;
  std::vector<std::uint32_t> positions_;
};

// For test failure messages: the members as a JSON list.
void PrintTo(const Support& support, std::ostream* out);

}  // namespace t2s::skill
