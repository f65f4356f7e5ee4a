#include "t2s/skill/support.hpp"

#include <algorithm>
#include <iterator>
#include <limits>
#include <ostream>

#include "t2s/core/error.hpp"

namespace t2s::skill {

namespace {

template <class T>
void sort_distinct(std::vector<T>& items) {
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
}

template <class T>
std::vector<T> sorted_union(const std::vector<T>& a, const std::vector<T>& b) {
  if (b.empty()) return a;
  if (a.empty()) return b;
  std::vector<T> out;
  out.reserve(a.size() + b.size());
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

}  // namespace

Support::Support(std::vector<std::string> ids) : ids_(std::move(ids)) { sort_distinct(ids_); }

Support Support::of_positions(std::vector<std::uint32_t> positions) {
  Support s;
  s.positions_ = std::move(positions);
  sort_distinct(s.positions_);
  return s;
}

Support Support::from_json(const nlohmann::json& value, const std::string& path) {
  if (!value.is_array()) throw InputError(path + ": must be a list of trajectory ids, not " + std::string(value.type_name()));
  if (value.empty()) return {};
  const bool numbers = value.front().is_number();
  std::vector<std::string> ids;
  std::vector<std::uint32_t> positions;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto& item = value[i];
    const std::string where = path + "[" + std::to_string(i) + "]";
    if (numbers) {
      if (!item.is_number_unsigned() || item.get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max())
        throw InputError(where + ": must be a trajectory position (an integer from 0 to 4294967295), as the list's "
                         "first member is, not " + item.dump());
      positions.push_back(item.get<std::uint32_t>());
    } else {
      if (!item.is_string()) throw InputError(where + ": must be a string, not " + std::string(item.type_name()));
      if (item.get_ref<const std::string&>().empty()) throw InputError(where + ": empty trajectory id");
      ids.push_back(item.get<std::string>());
    }
  }
  return numbers ? of_positions(std::move(positions)) : Support(std::move(ids));
}

nlohmann::json Support::to_json() const {
  return by_position() ? nlohmann::json(positions_) : nlohmann::json(ids_);
}

std::string Support::member_text(std::size_t i) const {
  return by_position() ? "#" + std::to_string(positions_.at(i)) : ids_.at(i);
}

Support& Support::operator|=(const Support& other) {
  if ((by_position() && !other.ids_.empty()) || (!ids_.empty() && other.by_position()))
    throw Error("cannot unite a support set of trajectory ids with one of store positions");
  ids_ = sorted_union(ids_, other.ids_);
  positions_ = sorted_union(positions_, other.positions_);
  return *this;
}

void PrintTo(const Support& support, std::ostream* out) { *out << support.to_json().dump(); }

}  // namespace t2s::skill
