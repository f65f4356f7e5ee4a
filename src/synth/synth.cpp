// synth: seeded generator of synthetic spreadsheet-agent trajectories with planted patterns.
//
// How a corpus is made:
//   1. Effective rates are solved once from the catalogue defaults and the overrides (rates_for).
//   2. Each trajectory draws a Plan from its own random stream: at most one failure mode (or an
//      unplanted "other" failure, or success) and, for successes, 0-2 habits.
//   3. Trajectories are grouped into tasks (`attempts` per task). A task's workbook and instruction
//      are built to support every plan of its attempts (a planted row-deletion bug needs a task
//      that deletes rows), plus random extra steps for variety. A share of the tasks (`updaters`)
//      ask for a totals row, which every attempt writes with the update_cells tool; per attempt,
//      a stream of its own decides whether it calls describe_sheet first (the conditional habit)
//      and whether the write lands in the right row (more often when it looked first). A wrong
//      write fails an attempt only when its plan would succeed, so the planted failure modes keep
//      their rates and signatures.
//   4. A Builder renders each trajectory: tool calls with realistic code and outputs, noise, a final
//      answer and the checker's verdict. Planted patterns change the method of one step, so their
//      symptoms show in tool outputs and checker feedback with the task's concrete values.
//
// Every random choice comes from our own xoshiro256** streams and integer arithmetic, so the same
// options give byte-identical output on every machine.
#include "t2s/synth/synth.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "t2s/core/canonical_json.hpp"
#include "t2s/core/error.hpp"

namespace t2s::synth {
namespace {

using nlohmann::json;
using std::string;
using std::string_view;

// ------------------------------------------------------------------------------------ catalogue

// Catalogue positions; patterns() lists them in this order.
enum PatternIndex : int {
  kStale,
  kPandasLoss,
  kTopDown,
  kTextNumbers,
  kActiveSheet,
  kRecalc,
  kInPlace,
  kBottomUp,
  kPriceKey,
  kRefFormat,
  kLookup,
  kPatternCount
};

// Probability of an unplanted failure (wrong column, wrong rows, wrong output path) per trajectory,
// before scaling: keeps "failed" from meaning "carries a planted mode".
constexpr double kOtherFailureRate = 0.06;

// The conditional habit: how often an updater writes its totals row in the right row when the rest
// of its work is right, with and without calling describe_sheet first.
constexpr double kLookupSuccess = 0.93;
constexpr double kNoLookupSuccess = 0.60;
// describe_sheet where it changes nothing: a first look at the input (attempts of tasks without a
// totals row, and updaters that also look before the update), and a look after the update (updaters
// without the habit). Both keep the tool from meaning "success" outside the condition.
constexpr double kEarlyLookup = 0.25;
constexpr double kLookupAfter = 0.3;
// Tasks with a list-price or Ref step that none of their attempts' plans needs (for variety).
constexpr double kExtraStep = 0.15;

// ---------------------------------------------------------------------------------- randomness
// Our own generator and range mappings: std:: distributions differ between standard libraries.

std::uint64_t mix(std::uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class Rng {  // xoshiro256**
 public:
  explicit Rng(std::uint64_t seed) {
    for (auto& word : s_) word = seed = mix(seed);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n), n < 2^32: multiply-shift on the top 32 bits.
  std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(((next() >> 32) * n) >> 32); }
  int between(int lo, int hi) { return lo + static_cast<int>(below(static_cast<std::uint32_t>(hi - lo + 1))); }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  bool chance(double p) { return unit() < p; }
  template <class T, std::size_t N>
  const T& pick(const std::array<T, N>& items) {
    return items[below(N)];
  }
  string hex(int digits) {
    static constexpr char kHex[] = "0123456789abcdef";
    string out;
    std::uint64_t bits = 0;
    for (int i = 0; i < digits; ++i) {
      if (i % 16 == 0) bits = next();
      out.push_back(kHex[bits & 15]);
      bits >>= 4;
    }
    return out;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

// Independent streams per purpose and index, so that e.g. plans do not move when noise changes.
// (update: per trajectory, the conditional habit's draws; update_task: per task, whether it asks for
// a totals row; extra: per task, the steps added with the literal failure modes and their wording.)
enum class Stream : std::uint64_t { plan = 1, task = 2, content = 3, update = 4, update_task = 5, extra = 6 };
Rng stream(std::uint64_t seed, Stream purpose, std::uint64_t index) {
  return Rng(mix(mix(mix(seed) ^ static_cast<std::uint64_t>(purpose)) ^ index));
}

// ------------------------------------------------------------------------------------ templates
// Text is written as templates with {{slot}} placeholders; a trajectory fills them from its Slots.

// Slots may sit on top of a parent (a trajectory's on its task's): lookups fall through to it.
class Slots {
 public:
  explicit Slots(const Slots* parent = nullptr) : parent_(parent) {}
  Slots& set(string_view key, string value) {  // key must outlive the Slots (a literal)
    for (auto& [k, v] : items_)
      if (k == key) {
        v = std::move(value);
        return *this;
      }
    items_.emplace_back(key, std::move(value));
    return *this;
  }
  string_view get(string_view key) const {
    for (const auto& [k, v] : items_)
      if (k == key) return v;
    if (parent_ != nullptr) return parent_->get(key);
    throw std::logic_error("synth: template slot '" + string(key) + "' is not set");
  }

 private:
  const Slots* parent_;
  std::vector<std::pair<string_view, string>> items_;
};

string fill(string_view tpl, const Slots& slots) {
  string out;
  out.reserve(tpl.size() + tpl.size() / 4);
  std::size_t pos = 0;
  for (std::size_t open; (open = tpl.find("{{", pos)) != string_view::npos;) {
    const std::size_t close = tpl.find("}}", open + 2);
    if (close == string_view::npos) throw std::logic_error("synth: unclosed {{ in template");
    out.append(tpl.substr(pos, open - pos));
    out.append(slots.get(tpl.substr(open + 2, close - open - 2)));
    pos = close + 2;
  }
  out.append(tpl.substr(pos));
  return out;
}

// ------------------------------------------------------------------------------ number formats
// Money is kept in integer cents; these print it the way Python and pandas would.

string py_money(long long cents) {  // Python repr of cents / 100: 1299.95, 756.0, 12.5
  string out = std::to_string(cents / 100) + '.';
  const long long c = cents % 100;
  if (c % 10 == 0) return out + static_cast<char>('0' + c / 10);
  return out + static_cast<char>('0' + c / 10) + static_cast<char>('0' + c % 10);
}

string fixed2(long long cents) {  // 1299.95, 756.00
  const long long c = cents % 100;
  return std::to_string(cents / 100) + '.' + static_cast<char>('0' + c / 10) + static_cast<char>('0' + c % 10);
}

string grouped2(long long cents) {  // 1,299.95: how text-typed amounts arrive
  string whole = std::to_string(cents / 100);
  for (int i = static_cast<int>(whole.size()) - 3; i > 0; i -= 3) whole.insert(whole.begin() + i, ',');
  return whole + fixed2(cents).substr(fixed2(cents).find('.'));
}

double as_number(long long cents) { return static_cast<double>(cents) / 100.0; }

long long list_price(long long cents) { return cents * 11 / 10 / 5 * 5; }  // what the price list says

string py_str(string_view text) {  // Python repr of plain text
  string out;
  out.reserve(text.size() + 2);
  out.append(1, '\'').append(text).append(1, '\'');
  return out;
}

string column_letter(int column) { return string(1, static_cast<char>('A' + column - 1)); }

// ---------------------------------------------------------------------------------------- rates

struct Rates {
  std::array<double, kPatternCount> rate{};  // effective per-trajectory rate of each pattern
  double other = 0.0;                         // unplanted failures
  double success = 0.0;                       // 1 - all failures
};

bool is_failure(int p) { return patterns()[static_cast<std::size_t>(p)].kind == Pattern::Kind::failure; }
bool is_habit(int p) { return patterns()[static_cast<std::size_t>(p)].kind == Pattern::Kind::habit; }

// Overrides are honoured exactly; default rates give way when the overrides need the room (a
// trajectory carries at most one failure mode, and at most two habits, only when its plan succeeds;
// the conditional habit is drawn apart, as a share of the updaters).
Rates rates_for(const Options& options) {
  const auto& catalogue = patterns();
  for (const auto& entry : options.rates) {
    const std::string& id = entry.first;  // not a structured binding: clang 14 cannot capture those
    const double rate = entry.second;
    const bool known = std::any_of(catalogue.begin(), catalogue.end(), [&](const Pattern& p) { return p.id == id; });
    if (!known) {
      string ids;
      for (const auto& p : catalogue) ids += (ids.empty() ? "" : ", ") + p.id;
      throw InputError("synth: unknown pattern id '" + id + "' in rates; known ids: " + ids);
    }
    if (!(rate >= 0.0 && rate <= 1.0))
      throw InputError("synth: rate for pattern '" + id + "' must be in [0, 1], got " + std::to_string(rate));
  }
  Rates rates;
  std::array<bool, kPatternCount> fixed{};
  double fixed_failures = 0, free_failures = kOtherFailureRate, fixed_habits = 0, free_habits = 0, widest_habit = 0;
  for (int p = 0; p < kPatternCount; ++p) {
    const Pattern& pattern = catalogue[static_cast<std::size_t>(p)];
    auto it = options.rates.find(pattern.id);
    fixed[p] = it != options.rates.end();
    rates.rate[p] = fixed[p] ? it->second : pattern.default_rate;
    if (pattern.kind == Pattern::Kind::conditional_habit) continue;  // a share of the updaters, not of all
    double& sum = is_failure(p) ? (fixed[p] ? fixed_failures : free_failures) : (fixed[p] ? fixed_habits : free_habits);
    sum += rates.rate[p];
    if (fixed[p] && !is_failure(p)) widest_habit = std::max(widest_habit, rates.rate[p]);
  }
  constexpr double kSlack = 1e-12;
  if (fixed_failures > 1.0 + kSlack)
    throw InputError("synth: failure-mode rates sum to " + std::to_string(fixed_failures) +
                     " > 1, but a trajectory carries at most one failure mode");
  // Successes needed by the overridden habits: each habit needs its rate, and a success holds two.
  const double needed = std::max(widest_habit, fixed_habits / 2.0);
  const double room = 1.0 - fixed_failures - needed;
  if (room < -kSlack)
    throw InputError("synth: habit rates need " + std::to_string(needed) + " of trajectories to succeed, but the "
                     "failure-mode rates leave only " + std::to_string(1.0 - fixed_failures));
  const double failure_scale = free_failures > 0 ? std::clamp(room / free_failures, 0.0, 1.0) : 1.0;
  rates.other = kOtherFailureRate * failure_scale;
  for (int p = 0; p < kPatternCount; ++p)
    if (is_failure(p) && !fixed[p]) rates.rate[p] *= failure_scale;
  // No inexact a*b+c here or in sampling: compilers may fuse it (FMA) on some machines only.
  rates.success = std::max(0.0, 1.0 - fixed_failures - (failure_scale < 1.0 ? std::max(0.0, room) : free_failures));

  double habit_scale = 1.0;
  if (free_habits > 0) habit_scale = std::clamp((2.0 * rates.success - fixed_habits) / free_habits, 0.0, 1.0);
  for (int p = 0; p < kPatternCount; ++p)
    if (is_habit(p) && !fixed[p] && rates.rate[p] > 0)
      habit_scale = std::min(habit_scale, rates.success / rates.rate[p]);
  for (int p = 0; p < kPatternCount; ++p)
    if (is_habit(p) && !fixed[p]) rates.rate[p] *= habit_scale;
  return rates;
}

// ---------------------------------------------------------------------------------------- plans

struct Plan {
  int failure = -1;            // planted failure mode, or -1
  bool other_failure = false;  // an unplanted failure
  std::vector<int> habits;     // planted habits (sampled for successes), in catalogue order
  bool updater = false;        // the task asks for a totals row, written with update_cells
  bool lookup = false;         // ... and this attempt calls describe_sheet before update_cells
  bool update_ok = true;       // ... and writes it in the right row (false only when all else is right)
  bool success() const { return failure < 0 && !other_failure && update_ok; }
  bool has(int p) const {
    return failure == p || (p == kLookup && lookup) || std::find(habits.begin(), habits.end(), p) != habits.end();
  }
};

// 0-2 habits for a success, with P(habit h) = q[h] exactly. Mixes pairs, singles and none; a pair
// is drawn by systematic sampling over marginals 2q/Q, so it never repeats a habit.
std::vector<int> sample_habits(Rng& rng, const std::vector<std::pair<int, double>>& q) {
  double total = 0, top = 0;
  int top_index = -1;
  for (const auto& [p, v] : q) {
    total += v;
    if (v > top) top = v, top_index = p;
  }
  if (total <= 0) return {};
  const double u = rng.unit();
  // One habit outweighs the rest together: pair it with another, or take it alone.
  if (top > total / 2) {
    const double rest = total - top;
    if (u >= top) return {};
    if (u >= rest) return {top_index};
    const double pick = rng.unit();
    double below = 0;
    int other = -1;
    for (const auto& [p, v] : q)
      if (p != top_index && v > 0) {
        other = p;
        if (pick < (below += v / rest)) break;
      }
    return {std::min(top_index, other), std::max(top_index, other)};
  }
  const double pairs = (std::max(0.0, total - 1.0) + total / 2.0) / 2.0;  // P(2 habits)
  const double singles = total - 2.0 * pairs;                             // P(1 habit)
  std::vector<int> chosen;
  if (u < pairs) {
    int last = -1;  // the last habit with a positive rate closes the interval at exactly 2
    for (const auto& [p, v] : q)
      if (v > 0) last = p;
    double point = rng.unit(), start = 0;  // points `point` and `point + 1` on [0, 2)
    for (const auto& [p, v] : q) {
      const double end = p == last ? 2.0 : start + 2.0 * v / total;
      if ((point >= start && point < end) || (point + 1 >= start && point + 1 < end)) chosen.push_back(p);
      start = end;
    }
  } else if (u < pairs + singles) {
    const double pick = rng.unit();
    double below = 0;
    for (const auto& [p, v] : q)
      if (v > 0) {
        chosen = {p};
        if (pick < (below += v / total)) break;
      }
  }
  return chosen;
}

Plan sample_plan(Rng rng, const Rates& rates) {
  Plan plan;
  double u = rng.unit();
  for (int p = 0; p < kPatternCount; ++p) {
    if (!is_failure(p)) continue;
    if (u < rates.rate[p]) {
      plan.failure = p;
      return plan;
    }
    u -= rates.rate[p];
  }
  if (u < rates.other) {
    plan.other_failure = true;
    return plan;
  }
  std::vector<std::pair<int, double>> q;
  for (int p = 0; p < kPatternCount; ++p)
    if (is_habit(p)) q.emplace_back(p, rates.success > 0 ? std::min(1.0, rates.rate[p] / rates.success) : 0.0);
  plan.habits = sample_habits(rng, q);
  return plan;
}

// ---------------------------------------------------------------------------------------- tasks

// A spreadsheet domain: one data sheet whose columns play fixed roles.
struct Domain {
  string_view stem, sheet, id_prefix;
  string_view id_col, cat_col, item_col, qty_col, price_col, status_col, total_col;
  std::array<string_view, 5> categories, items;
  std::array<string_view, 3> statuses;  // kept, other (kept), to delete
  int qty_lo, qty_hi, price_lo, price_hi;  // price in cents
};

constexpr std::array<Domain, 6> kDomains = {{
    {"sales", "Orders", "SO-", "Order ID", "Region", "Product", "Units", "Unit Price", "Status", "Revenue",
     {"North", "South", "East", "West", "Central"}, {"Laptop", "Monitor", "Dock", "Keyboard", "Headset"},
     {"Shipped", "Pending", "Cancelled"}, 1, 40, 1500, 189900},
    {"inventory", "Stock", "SKU-", "SKU", "Warehouse", "Item", "Qty", "Unit Cost", "Status", "Stock Value",
     {"Reno", "Dallas", "Newark", "Tacoma", "Joliet"}, {"Hinge", "Bracket", "Gasket", "Washer", "Caster"},
     {"Active", "On Hold", "Discontinued"}, 5, 900, 35, 4200},
    {"payroll", "Hours", "E", "Employee ID", "Department", "Name", "Hours", "Rate", "Status", "Pay",
     {"Finance", "Support", "Research", "Sales", "Operations"}, {"A. Novak", "J. Okafor", "M. Silva", "R. Chen", "T. Berg"},
     {"Active", "On Leave", "Terminated"}, 8, 60, 1800, 9500},
    {"purchases", "PO Lines", "PO-", "PO Number", "Department", "Supplier", "Quantity", "Unit Cost", "State",
     "Line Total", {"Marketing", "Legal", "IT", "Facilities", "HR"}, {"Staples", "Dell", "Grainger", "Uline", "CDW"},
     {"Received", "Open", "Cancelled"}, 1, 120, 250, 64900},
    {"shipments", "Shipments", "SH", "Shipment", "Carrier", "Destination", "Boxes", "Rate per Box", "State",
     "Freight", {"DHL", "UPS", "FedEx", "USPS", "Maersk"}, {"Lyon", "Austin", "Osaka", "Leeds", "Quito"},
     {"Delivered", "In transit", "Returned"}, 1, 80, 400, 3900},
    {"projects", "Costs", "L", "Line", "Project", "Resource", "Days", "Day Rate", "Phase", "Cost",
     {"Apollo", "Borealis", "Cygnus", "Delphi", "Eos"}, {"Architect", "Developer", "Analyst", "Tester", "PM"},
     {"Active", "Planned", "Closed"}, 1, 25, 45000, 150000},
}};

enum Role { kId, kCat, kItem, kQty, kPrice, kStatus, kRoleCount };
constexpr std::array<std::array<Role, kRoleCount>, 4> kLayouts = {{
    {kId, kCat, kItem, kQty, kPrice, kStatus},
    {kId, kItem, kCat, kQty, kPrice, kStatus},
    {kId, kStatus, kCat, kItem, kQty, kPrice},
    {kId, kCat, kStatus, kItem, kQty, kPrice},
}};
enum Status { kKept, kOther, kDrop };

struct Row {
  int id, cat, item, qty;
  long long price;  // cents
  Status status;
  bool from_csv;
  long long amount() const { return price * qty; }
};

// Which steps the task asks for and what its workbook holds.
struct Features {
  bool text = false;          // numbers arrive as text: convert a column, or append CSV rows
  bool csv = false;           // ... the CSV variant
  bool deletion = false;      // delete rows whose status matches
  bool formulas = false;      // a computed column or per-category totals, and report a value
  bool by_category = false;   // ... the per-category variant
  bool reformat = false;      // number format, bold header
  bool preserve = false;      // workbook has other sheets and number formats to keep
  bool active_other = false;  // ... and opens on one of those other sheets
  bool feed = false;          // add a List Price column from a JSON price list
  bool ref = false;           // add a Ref column of codes in the format ^X-[0-9]{6}$
  bool update = false;        // add a totals row under the data, written with update_cells
};

Features needs_of(const Plan& plan) {
  Features f;
  f.formulas = plan.has(kStale) || plan.has(kRecalc);
  f.deletion = plan.has(kTopDown) || plan.has(kBottomUp);
  f.text = plan.has(kTextNumbers);
  f.preserve = plan.has(kPandasLoss) || plan.has(kInPlace) || plan.has(kActiveSheet);
  f.active_other = plan.has(kActiveSheet);
  f.feed = plan.has(kPriceKey);
  f.ref = plan.has(kRefFormat);
  return f;
}

struct Task {
  std::uint64_t index = 0;
  const Domain* d = nullptr;
  std::array<Role, kRoleCount> layout{};
  std::array<int, kRoleCount> column{};  // 1-based column of each role
  int total_column = 0;
  int list_column = 0, ref_column = 0;  // the List Price and Ref columns, when the task has them
  Features f;
  std::vector<Row> rows;  // data rows, then CSV rows
  int base_rows = 0;
  std::vector<string> other_sheets;  // first one is active when f.active_other
  string price_format = "General", new_format;
  Slots slots;  // task-level template values
  string instruction;
  trace::Task record;
};

constexpr std::array<string_view, 5> kOtherSheets = {"Summary", "Notes", "Lookup", "Dashboard", "Targets"};

std::vector<Row> make_rows(Rng& rng, const Domain& d, const Features& f, int count, int csv_count) {
  std::vector<Row> rows;
  const int first_id = rng.between(1000, 90000);
  for (int i = 0; i < count + csv_count; ++i) {
    Row r{first_id + i, static_cast<int>(rng.below(5)), static_cast<int>(rng.below(5)),
          rng.between(d.qty_lo, d.qty_hi), rng.between(d.price_lo, d.price_hi), kKept, i >= count};
    r.price = rng.chance(0.4) ? r.price / 100 * 100 + 99 : r.price / 5 * 5;
    const double u = rng.unit();
    r.status = u < 0.74 ? kKept : (u < 0.87 || r.from_csv) ? kOther : kDrop;
    rows.push_back(r);
  }
  if (!f.deletion) return rows;
  // Deletion tasks always contain adjacent matches, the case an ascending delete loop gets wrong.
  for (int pair = 0; pair < 2; ++pair) {
    const int at = rng.between(0, count - 2);
    rows[static_cast<std::size_t>(at)].status = rows[static_cast<std::size_t>(at) + 1].status = kDrop;
  }
  return rows;
}

// Features the plans need, plus random extra steps; every task has at least one step.
Features task_features(Rng& rng, Features f) {
  f.formulas = f.formulas || rng.chance(0.3);
  f.deletion = f.deletion || rng.chance(0.25);
  f.text = f.text || rng.chance(0.2);
  f.reformat = rng.chance(0.3);
  f.preserve = f.preserve || rng.chance(0.45);
  f.active_other = f.active_other || (f.preserve && rng.chance(0.25));
  if (!f.formulas && !f.deletion && !f.text && !f.reformat) {
    const std::uint32_t step = rng.below(3);
    (step == 0 ? f.formulas : step == 1 ? f.deletion : f.reformat) = true;
  }
  f.csv = f.text && rng.chance(0.4);
  f.by_category = f.formulas && rng.chance(0.45);
  return f;
}

constexpr std::array<string_view, 3> kOpenings = {
    "Work on the workbook {{in}}.", "I have a spreadsheet at {{in}} (sheet \"{{sheet}}\").",
    "Please update {{in}}."};
constexpr std::array<string_view, 3> kTextAsks = {
    "The {{price_col}} column was imported as text (some values have thousands separators); convert it to real "
    "numbers.",
    "Column {{price_L}} ({{price_col}}) holds numbers stored as text. Make them numeric.",
    "Fix the {{price_col}} values so they are numbers, not text."};
constexpr std::array<string_view, 2> kCsvAsks = {"Append the rows in {{csv}} to the bottom of the {{sheet}} sheet.",
                                                 "New records arrived in {{csv}}; add them to {{sheet}}."};
constexpr std::array<string_view, 3> kDeleteAsks = {"Delete every row whose {{status_col}} is \"{{drop}}\".",
                                                    "Remove all {{drop}} rows from {{sheet}}.",
                                                    "Rows with {{status_col}} = {{drop}} are obsolete; delete them."};
constexpr std::array<string_view, 2> kFillAsks = {
    "Add a {{total_col}} column in {{total_L}} equal to {{qty_col}} × {{price_col}} for each row, and tell me the "
    "grand total.",
    "Fill column {{total_L}} (header \"{{total_col}}\") with {{qty_col}} times {{price_col}} and report the total of "
    "that column."};
constexpr std::array<string_view, 2> kCategoryAsks = {
    "Create a sheet named \"{{cat_sheet}}\" with the total {{qty_col}} per {{cat_col}}, and tell me which "
    "{{cat_col}} has the largest total.",
    "Summarise {{qty_col}} by {{cat_col}} on a new sheet \"{{cat_sheet}}\" (one row per {{cat_col}}) and report the "
    "top {{cat_col}}."};
constexpr std::array<string_view, 2> kFormatAsks = {"Format {{price_col}} as {{new_fmt}} and make the header row bold.",
                                                    "Make the header bold, freeze it, and give column {{price_L}} the "
                                                    "number format {{new_fmt}}."};
constexpr std::array<string_view, 2> kFeedAsks = {
    "Add a \"List Price\" column in {{list_L}} with each row's list price from {{feed}} (match on {{id_col}}).",
    "The price list {{feed}} has the current list price of every {{id_col}}; put it in a new column {{list_L}} "
    "headed \"List Price\"."};
constexpr std::array<string_view, 3> kRefAsks = {
    "Add a \"Ref\" column in {{ref_L}}: X- followed by the number in the {{id_col}}, zero-padded to six digits "
    "(X-004217).",
    "Give every row a reference code in a new column {{ref_L}} (header \"Ref\"): \"X-\" and the digits of its "
    "{{id_col}} as a six-digit number.",
    "Column {{ref_L}} should hold a Ref for each row in our code format (X-000123, from the digits of the "
    "{{id_col}})."};
constexpr std::array<string_view, 2> kTotalsAsks = {
    "Finally, add a totals row directly under the last record with the sum of {{qty_col}} in column {{qty_L}}.",
    "Then put the total {{qty_col}} in column {{qty_L}} of the first row below the data."};
constexpr std::array<string_view, 3> kClosings = {"Save the result as {{out}}.",
                                                  "Write the edited workbook to {{out}}.", "Put the output in {{out}}."};

// `extra` words the steps that came with the literal failure modes and the totals row, so that the
// task stream (and every task without those steps) stays as it was.
string instruction_for(Rng& rng, Rng& extra, const Task& t) {
  const Features& f = t.f;
  string text(rng.pick(kOpenings));
  auto ask = [&](string_view sentence) { (text += ' ') += sentence; };
  if (f.text) ask(f.csv ? rng.pick(kCsvAsks) : rng.pick(kTextAsks));
  if (f.deletion) ask(rng.pick(kDeleteAsks));
  if (f.formulas) ask(f.by_category ? rng.pick(kCategoryAsks) : rng.pick(kFillAsks));
  if (f.reformat) ask(rng.pick(kFormatAsks));
  if (f.feed) ask(extra.pick(kFeedAsks));
  if (f.ref) ask(extra.pick(kRefAsks));
  if (f.update) ask(extra.pick(kTotalsAsks));
  if (f.preserve && rng.chance(0.5)) ask("Keep the other sheets and the existing formatting intact.");
  ask(rng.pick(kClosings));
  return fill(text, t.slots);
}

void set_task_slots(Task& t, const string& num) {
  const Domain& d = *t.d;
  Slots& s = t.slots;
  const bool quote = d.sheet.find(' ') != string_view::npos;
  s.set("in", "inputs/" + string(d.stem) + "_" + num + ".xlsx")
      .set("out", "outputs/" + string(d.stem) + "_" + num + ".xlsx")
      .set("out_name", string(d.stem) + "_" + num + ".xlsx")
      .set("csv", "inputs/new_" + string(d.stem) + "_" + num + ".csv")
      .set("sheet", string(d.sheet))
      .set("sheet_ref", quote ? "'" + string(d.sheet) + "'" : string(d.sheet))
      .set("cat_sheet", string(d.cat_col) + " Totals")
      .set("cat_col", string(d.cat_col))
      .set("id_col", string(d.id_col))
      .set("qty_col", string(d.qty_col))
      .set("price_col", string(d.price_col))
      .set("status_col", string(d.status_col))
      .set("total_col", string(d.total_col))
      .set("drop", string(d.statuses[kDrop]))
      .set("other", string(d.statuses[kOther]))
      .set("new_fmt", t.new_format)
      .set("total_L", column_letter(t.total_column))
      .set("total_i", std::to_string(t.total_column))
      .set("feed", "inputs/list_prices_" + num + ".json")
      .set("list_L", column_letter(t.list_column))
      .set("list_i", std::to_string(t.list_column))
      .set("ref_L", column_letter(t.ref_column))
      .set("ref_i", std::to_string(t.ref_column));
  static constexpr std::array<std::array<string_view, 3>, kRoleCount> kRoleKeys = {{{"id_L", "id_i", "id_i0"},
                                                                                     {"cat_L", "cat_i", "cat_i0"},
                                                                                     {"item_L", "item_i", "item_i0"},
                                                                                     {"qty_L", "qty_i", "qty_i0"},
                                                                                     {"price_L", "price_i", "price_i0"},
                                                                                     {"status_L", "status_i", "status_i0"}}};
  for (int role = 0; role < kRoleCount; ++role) {
    const int c = t.column[static_cast<std::size_t>(role)];
    s.set(kRoleKeys[static_cast<std::size_t>(role)][0], column_letter(c))
        .set(kRoleKeys[static_cast<std::size_t>(role)][1], std::to_string(c))
        .set(kRoleKeys[static_cast<std::size_t>(role)][2], std::to_string(c - 1));
  }
}

// The rows a correct solution ends with, and the value it reports.
std::vector<int> expected_rows(const Task& t) {
  std::vector<int> rows;
  for (int i = 0; i < static_cast<int>(t.rows.size()); ++i) {
    const Row& r = t.rows[static_cast<std::size_t>(i)];
    if (r.from_csv && !t.f.csv) continue;
    if (t.f.deletion && r.status == kDrop) continue;
    rows.push_back(i);
  }
  return rows;
}

// Per-category sums of quantity (or of price, for the wrong-column mistake), in category order.
std::array<long long, 5> category_sums(const Task& t, const std::vector<int>& rows, bool of_price = false) {
  std::array<long long, 5> sums{};
  for (int i : rows) {
    const Row& r = t.rows[static_cast<std::size_t>(i)];
    sums[static_cast<std::size_t>(r.cat)] += of_price ? r.price : r.qty;
  }
  return sums;
}

int top_category(const std::array<long long, 5>& sums) {
  return static_cast<int>(std::max_element(sums.begin(), sums.end()) - sums.begin());
}

long long grand_total(const Task& t, const std::vector<int>& rows) {
  long long sum = 0;
  for (int i : rows) sum += t.rows[static_cast<std::size_t>(i)].amount();
  return sum;
}

// The steps a task may have beyond the original catalogue's: offered at all (their pattern's rate is
// above 0, or the share of updaters), and whether this task asks for a totals row.
struct Extras {
  bool feed = false, ref = false, update = false;
};

Task make_task(std::uint64_t seed, std::uint64_t index, const Features& needs, const Extras& extras) {
  Rng rng = stream(seed, Stream::task, index);
  Rng extra = stream(seed, Stream::extra, index);
  Task t;
  t.index = index;
  t.d = &kDomains[rng.below(kDomains.size())];
  t.f = task_features(rng, needs);
  t.f.feed = needs.feed || (extras.feed && extra.chance(kExtraStep));
  t.f.ref = needs.ref || (extras.ref && extra.chance(kExtraStep));
  t.f.update = extras.update;
  t.layout = rng.pick(kLayouts);
  for (int c = 0; c < kRoleCount; ++c) t.column[t.layout[static_cast<std::size_t>(c)]] = c + 1;
  t.total_column = kRoleCount + 1;
  t.list_column = t.total_column + (t.f.formulas && !t.f.by_category ? 1 : 0);
  t.ref_column = t.list_column + (t.f.feed ? 1 : 0);
  const int count = rng.chance(0.75) ? rng.between(18, 120) : rng.between(121, 480);
  t.rows = make_rows(rng, *t.d, t.f, count, t.f.csv ? rng.between(4, 16) : 0);
  t.base_rows = count;
  if (t.f.preserve) {
    const int sheets = rng.between(1, 2);
    while (static_cast<int>(t.other_sheets.size()) < sheets) {
      string name(rng.pick(kOtherSheets));
      if (std::find(t.other_sheets.begin(), t.other_sheets.end(), name) == t.other_sheets.end())
        t.other_sheets.push_back(name);
    }
    t.price_format = string(rng.pick(std::array<string_view, 3>{"#,##0.00", "$#,##0.00", "0.00"}));
  }
  t.new_format = string(rng.pick(std::array<string_view, 3>{"#,##0.00", "$#,##0.00", "€#,##0.00"}));

  string num = std::to_string(index);
  if (num.size() < 4) num.insert(0, 4 - num.size(), '0');
  set_task_slots(t, num);
  t.instruction = instruction_for(rng, extra, t);

  t.record.instruction = t.instruction;
  t.record.files = {string(t.slots.get("in"))};
  if (t.f.csv) t.record.files.emplace_back(t.slots.get("csv"));
  if (t.f.feed) t.record.files.emplace_back(t.slots.get("feed"));
  t.record.gold = {{"reference", "gold/" + string(t.d->stem) + "_" + num + ".xlsx"}};
  const std::vector<int> rows = expected_rows(t);
  if (t.f.formulas && t.f.by_category)
    t.record.gold["answer"] = t.d->categories[static_cast<std::size_t>(top_category(category_sums(t, rows)))];
  else if (t.f.formulas)
    t.record.gold["answer"] = as_number(grand_total(t, rows));
  if (t.f.update) {
    long long quantity = 0;
    for (int i : rows) quantity += t.rows[static_cast<std::size_t>(i)].qty;
    t.record.gold["totals"] = {{"cell", string(t.slots.get("qty_L")) + std::to_string(rows.size() + 2)},
                               {"value", quantity}};
  }
  return t;
}

// ---------------------------------------------------------------------------------- code blocks
// Each python call runs in a fresh interpreter, so every block loads and saves the workbook.

constexpr string_view kLoad = R"py(from openpyxl import load_workbook

wb = load_workbook("{{src}}")
ws = {{ws}}
)py";

constexpr string_view kInspect = R"py(from openpyxl import load_workbook

wb = load_workbook("{{in}}")
print(wb.sheetnames)
ws = wb["{{sheet}}"]
print(ws.dimensions)
for row in ws.iter_rows(min_row=1, max_row={{head_last}}, values_only=True):
    print(row)
)py";

constexpr string_view kInspectFormats = R"py(print("active:", wb.active.title)
print({cell.column_letter: cell.number_format for cell in ws[2]})
)py";

constexpr string_view kInspectPandas = R"py(import pandas as pd

df = pd.read_excel("{{in}}")
print(df.shape)
print(df.head({{head_n}}))
)py";

constexpr string_view kConvert = R"py(converted = 0
for (cell,) in ws.iter_rows(min_row=2, min_col={{price_i}}, max_col={{price_i}}):
    if isinstance(cell.value, str):
        cell.value = {{convert}}
        converted += 1
wb.save("{{out}}")
print("converted", converted, "cells")
)py";

constexpr string_view kToNumber = R"py(

def to_number(text):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text

)py";

constexpr string_view kAppendCsv = R"py(with open("{{csv}}", newline="") as f:
    records = list(csv.reader(f))[1:]
for record in records:
    ws.append({{record}})
wb.save("{{out}}")
print("appended", len(records), "rows; last row", ws.max_row)
)py";

constexpr string_view kDeleteTopDown = R"py(deleted = 0
for r in range(2, ws.max_row + 1):
    if ws.cell(row=r, column={{status_i}}).value == "{{drop}}":
        ws.delete_rows(r)
        deleted += 1
wb.save("{{out}}")
print("deleted", deleted, "rows;", ws.max_row - 1, "rows left")
)py";

constexpr string_view kDeleteBottomUp = R"py(doomed = [r for r in range(2, ws.max_row + 1) if ws.cell(row=r, column={{status_i}}).value == "{{drop}}"]
# Delete from the bottom up: each deletion only shifts the rows below it.
for r in sorted(doomed, reverse=True):
    ws.delete_rows(r)
wb.save("{{out}}")
print("deleted", len(doomed), "rows;", ws.max_row - 1, "rows left")
)py";

constexpr string_view kDeleteRebuild = R"py(kept = [row for row in ws.iter_rows(min_row=2, values_only=True) if {{keep_test}}]
removed = ws.max_row - 1 - len(kept)
ws.delete_rows(2, ws.max_row)
for row in kept:
    ws.append(row)
wb.save("{{out}}")
print("deleted", removed, "rows;", len(kept), "rows left")
)py";

constexpr string_view kFillFormulas = R"py(ws["{{total_L}}1"] = "{{total_col}}"
for r in range(2, ws.max_row + 1):
    ws[f"{{total_L}}{r}"] = f"={{qty_L}}{r}*{{price_L}}{r}"
wb.save("{{out}}")
print("wrote", ws.max_row - 1, "formulas")
)py";

constexpr string_view kFillReadback = R"py(check = load_workbook("{{out}}", data_only=True)["{{sheet}}"]
totals = [check[f"{{total_L}}{r}"].value for r in range(2, check.max_row + 1)]
print(totals[:5])
print("grand total:", {{sum}})
)py";

constexpr string_view kFillCompute = R"py(ws["{{total_L}}1"] = "{{total_col}}"
grand = 0
for r in range(2, ws.max_row + 1):
    value = round({{value}}, 2)
    ws.cell(row=r, column={{total_i}}).value = value
    grand += value
wb.save("{{out}}")
print("grand total:", round(grand, 2))
)py";

constexpr string_view kCategoryFormulas = R"py(last = ws.max_row
names = sorted({ws.cell(row=r, column={{cat_i}}).value for r in range(2, last + 1)})
summary = wb.create_sheet("{{cat_sheet}}")
summary.append(["{{cat_col}}", "Total {{qty_col}}"])
for i, name in enumerate(names, start=2):
    summary.cell(row=i, column=1, value=name)
    summary.cell(row=i, column=2, value=f"=SUMIF({{sheet_ref}}!${{cat_L}}$2:${{cat_L}}${last},A{i},{{sheet_ref}}!${{qty_L}}$2:${{qty_L}}${last})")
wb.save("{{out}}")
print(len(names), "{{cat_col}} rows written")
)py";

constexpr string_view kCategoryReadback = R"py(check = load_workbook("{{out}}", data_only=True)["{{cat_sheet}}"]
totals = {check.cell(row=r, column=1).value: check.cell(row=r, column=2).value for r in range(2, check.max_row + 1)}
print(totals)
print("largest:", max(totals, key={{key}}))
)py";

constexpr string_view kCategoryCompute = R"py(totals = {}
for r in range(2, ws.max_row + 1):
    name = ws.cell(row=r, column={{cat_i}}).value
    totals[name] = totals.get(name, 0) + {{amount}}
summary = wb.create_sheet("{{cat_sheet}}")
summary.append(["{{cat_col}}", "Total {{qty_col}}"])
for name in sorted(totals):
    summary.append([name, totals[name]])
wb.save("{{out}}")
print(totals)
print("largest:", max(totals, key=totals.get))
)py";

constexpr string_view kRecalcCommand =
    "cd outputs && soffice --headless --calc --convert-to xlsx --outdir recalc {{out_name}} && mv recalc/{{out_name}} "
    "{{out_name}}";

constexpr string_view kReformat = R"py(for cell in ws[1]:
    cell.font = Font(bold=True)
for (cell,) in ws.iter_rows(min_row=2, min_col={{price_i}}, max_col={{price_i}}):
    cell.number_format = "{{new_fmt}}"
ws.freeze_panes = "A2"
wb.save("{{out}}")
print("formatted", ws.max_row - 1, "rows")
)py";

constexpr string_view kVerifyFormats = R"py(from openpyxl import load_workbook

wb = load_workbook("{{out}}")
print(wb.sheetnames)
print(wb["{{sheet}}"]["{{price_L}}2"].number_format)
)py";

constexpr string_view kVerifyRows = R"py(from openpyxl import load_workbook

ws = load_workbook("{{out}}")["{{sheet}}"]
print(ws.max_row - 1, "data rows")
for row in ws.iter_rows(min_row=2, max_row=3, values_only=True):
    print(row)
)py";

constexpr string_view kPandasHead = R"py(import pandas as pd

df = pd.read_excel("{{in}}", sheet_name="{{sheet}}")
)py";

constexpr string_view kListPrices = R"py(with open("{{feed}}") as f:
    prices = {item["id"]: item["{{price_key}}"] for item in json.load(f)}
ws.cell(row=1, column={{list_i}}).value = "List Price"
for r in range(2, ws.max_row + 1):
    ws.cell(row=r, column={{list_i}}).value = prices.get(ws.cell(row=r, column={{id_i}}).value)
wb.save("{{out}}")
print("filled", ws.max_row - 1, "list prices")
)py";

constexpr string_view kRefCodes = R"py(ws.cell(row=1, column={{ref_i}}).value = "Ref"
for r in range(2, ws.max_row + 1):
    digits = re.search(r"\d+$", str(ws.cell(row=r, column={{id_i}}).value)).group()
    ws.cell(row=r, column={{ref_i}}).value = {{ref_value}}
wb.save("{{out}}")
print("wrote", ws.max_row - 1, "Ref codes, e.g.", ws.cell(row=2, column={{ref_i}}).value)
)py";

constexpr string_view kQuantityTotal = R"py(from openpyxl import load_workbook

wb = load_workbook("{{out}}")
ws = {{ws}}
print(sum(int(ws.cell(row=r, column={{qty_i}}).value) for r in range(2, ws.max_row + 1)))
)py";

// The regular expression the checker holds Ref codes to (a literal an analyst's lesson must keep).
constexpr string_view kRefPattern = "^X-[0-9]{6}$";

constexpr string_view kSite = "/usr/local/lib/python3.11/site-packages/";

// --------------------------------------------------------------------------------- conversation

constexpr std::array<string_view, 3> kSystemPrompts = {
    "You are a careful spreadsheet assistant working in a Linux sandbox. Tools: `python` runs Python 3.11 code "
    "(openpyxl and pandas are installed) and `bash` runs shell commands; LibreOffice is available as `soffice`. Input "
    "files are in inputs/; save results under outputs/ with the same file name. When you are done, reply with a short "
    "summary of what you changed.",
    "You are an autonomous agent that edits Excel workbooks. Each `python` call starts a fresh interpreter; `bash` "
    "gives you a shell. Never modify files in inputs/. Write the edited workbook to outputs/ and finish with a final "
    "message describing the result and any numbers the user asked for.",
    "You solve spreadsheet tasks with code. Available tools: python (code), bash (command). Work step by step, check "
    "your results, and end with a concise answer."};

// Appended to the system prompt when the corpus has the spreadsheet tools.
constexpr string_view kSheetTools =
    " Spreadsheet tools: `describe_sheet` (workbook, sheet) returns a sheet's dimensions and header row; "
    "`update_cells` (workbook, sheet, range, values) writes a 2-D list of values into a range.";

// One tool call and what came back.
struct Call {
  string tool;  // "python", "bash", "describe_sheet" or "update_cells"
  string body;  // code, command, or (spreadsheet tools) the JSON arguments
  string output;
  string thought;  // assistant text alongside the call; may be empty
  bool noise = false;  // an inserted, failing call: later noise leaves it alone
};

enum class Other { none, wrong_column, overdelete, wrong_path };
enum class Delete { rebuild, topdown, bottomup, overdelete };
enum class Formula { compute, stale, recalc, formulas_only, wrong_column };
enum class Total { none, formula, value, wrong };
enum class Noise { missing_module, wrong_path, syntax, name_error, sheet_name };

// How this trajectory does each step; planted patterns pick the method of one step.
struct Methods {
  bool pandas = false;         // the whole edit goes through a DataFrame and to_excel
  bool active_sheet = false;   // edits go through wb.active
  bool text_as_str = false;    // numbers written as text
  bool in_place_checks = false;
  bool heredoc = false;        // python sent through bash
  bool wrong_key = false;      // reads the price list's "unit_price" as "price"
  bool unpadded = false;       // Ref codes without zero-padding
  Delete del = Delete::rebuild;
  Formula formula = Formula::compute;
  Other other = Other::none;
};

class Builder {
 public:
  Builder(const Task& task, const Plan& plan, const Options& options, std::uint64_t index)
      : t_(task), plan_(plan), options_(options), index_(index), rng_(stream(options.seed, Stream::content, index)),
        slots_(&task.slots) {}

  trace::Trajectory build();

 private:
  const Row& row(int i) const { return t_.rows[static_cast<std::size_t>(i)]; }
  // Rows under the header of the data sheet: the records, and a totals row written below them.
  int sheet_rows() const {
    const int records = static_cast<int>(rows_.size());
    return records + (totals_row_ > records + 1 ? 1 : 0);
  }
  const Domain& d() const { return *t_.d; }
  string slot(string_view key) const { return string(slots_.get(key)); }
  void python(string code, string output, string thought = {}) {
    calls_.push_back({"python", std::move(code), std::move(output), std::move(thought)});
  }
  void bash(string command, string output, string thought = {}) {
    calls_.push_back({"bash", std::move(command), std::move(output), std::move(thought)});
  }
  void tool(string name, const json& arguments, string output, string thought = {}) {
    calls_.push_back({std::move(name), arguments.dump(), std::move(output), std::move(thought)});
  }
  string maybe(double p, string_view text) { return rng_.chance(p) ? fill(text, slots_) : string(); }
  // The code of one openpyxl step: imports, load (the input for the first step, then the output), body.
  string step(string_view body, string_view imports = {}) {
    slots_.set("src", slot(saved_ ? "out" : "in"));
    saved_ = true;
    return string(imports) + fill(kLoad, slots_) + fill(body, slots_);
  }

  void choose_methods();
  void inspect();
  void text_step();
  void delete_step();
  void formula_step();
  void fill_formula_step();
  void category_step();
  void pandas_step();
  void feed_step();
  void ref_step();
  void update_step();
  void describe_sheet(const string& workbook, bool after_update, string thought = {});
  void reformat_step();
  void verify();
  bool add_noise(Noise kind);
  json verdict();
  json planted_verdict();
  json other_verdict();
  json update_verdict();
  std::vector<std::size_t> sample_rows(std::size_t count);
  string answer() const;
  void emit_messages(trace::Trajectory& out);

  string cell(const Row& r, Role role) const;
  std::array<string_view, kRoleCount> column_names() const;
  std::vector<int> categories_sorted() const;
  std::vector<int> categories_by_appearance() const;
  string row_tuple(int index, int sheet_row) const;
  string header_tuple() const;
  std::vector<string> header() const;
  string ref_code(const Row& r) const;
  string frame_head(int n) const;
  string file_listing() const;

  const Task& t_;
  const Plan& plan_;
  const Options& options_;
  std::uint64_t index_;
  Rng rng_;
  Slots slots_;
  Methods m_;
  std::vector<Call> calls_;
  bool saved_ = false;  // the output file exists

  // What the workbook's data sheet looks like now.
  std::vector<int> rows_;
  bool price_text_ = false;      // prices are text with separators (before conversion)
  bool price_stripped_ = false;  // prices are text without separators (text-number mistake)
  bool csv_text_ = false;        // appended CSV rows hold text
  Total total_ = Total::none;
  std::vector<int> missed_;  // sheet rows still matching after a top-down delete
  int deleted_ = 0;
  bool stale_reported_zero_ = false;
  bool loss_sheet_first_ = false;  // which formatting-loss symptom the checker names first
  int active_rows_ = 0;            // data rows of the sheet that wb.active opens
  bool listed_ = false;            // the data sheet has its List Price column
  bool refs_ = false;              // ... and its Ref column
  long long totals_ = 0;           // the totals row's value (update tasks)
  int totals_row_ = 0;             // ... and the row it was written to
  std::vector<string> summary_;  // what the final answer reports, step by step
};

// ---------------------------------------------------------------------------- rendering values

string Builder::cell(const Row& r, Role role) const {
  switch (role) {
    case kId: return py_str(string(d().id_prefix) + std::to_string(r.id));
    case kCat: return py_str(d().categories[static_cast<std::size_t>(r.cat)]);
    case kItem: return py_str(d().items[static_cast<std::size_t>(r.item)]);
    case kStatus: return py_str(d().statuses[static_cast<std::size_t>(r.status)]);
    case kQty: return r.from_csv && csv_text_ ? py_str(std::to_string(r.qty)) : std::to_string(r.qty);
    case kPrice:
      if (r.from_csv && csv_text_) return py_str(py_money(r.price));
      if (price_text_ && !r.from_csv) return py_str(grouped2(r.price));
      if (price_stripped_ && !r.from_csv) return py_str(fixed2(r.price));
      return py_money(r.price);
    case kRoleCount: break;
  }
  return {};
}

string Builder::row_tuple(int index, int sheet_row) const {
  const Row& r = row(index);
  string out = "(";
  for (std::size_t c = 0; c < t_.layout.size(); ++c) {
    if (c > 0) out += ", ";
    out += cell(r, t_.layout[c]);
  }
  const string n = std::to_string(sheet_row);
  if (total_ == Total::formula) out += ", '=" + slot("qty_L") + n + "*" + slot("price_L") + n + "'";
  if (total_ == Total::value) out += ", " + py_money(r.amount());
  if (total_ == Total::wrong) out += ", " + std::to_string(r.qty) + ".0";
  if (listed_) out += ", " + py_money(list_price(r.price));
  if (refs_) out += ", " + py_str(ref_code(r));
  return out + ")";
}

string Builder::ref_code(const Row& r) const {
  string digits = std::to_string(r.id);
  if (!m_.unpadded && digits.size() < 6) digits.insert(0, 6 - digits.size(), '0');
  return "X-" + digits;
}

// The data sheet's header row as it is now.
std::vector<string> Builder::header() const {
  const auto names = column_names();
  std::vector<string> out;
  for (Role role : t_.layout) out.emplace_back(names[role]);
  if (total_ != Total::none) out.emplace_back(d().total_col);
  if (listed_) out.emplace_back("List Price");
  if (refs_) out.emplace_back("Ref");
  return out;
}

std::array<string_view, kRoleCount> Builder::column_names() const {
  return {d().id_col, d().cat_col, d().item_col, d().qty_col, d().price_col, d().status_col};
}

// Categories present in the current rows: sorted by name (Python's sorted()) or by first appearance
// (insertion order of a dict filled row by row).
std::vector<int> Builder::categories_by_appearance() const {
  std::vector<int> seen;
  for (int i : rows_)
    if (std::find(seen.begin(), seen.end(), row(i).cat) == seen.end()) seen.push_back(row(i).cat);
  return seen;
}

std::vector<int> Builder::categories_sorted() const {
  std::vector<int> names = categories_by_appearance();
  std::sort(names.begin(), names.end(), [&](int a, int b) {
    return d().categories[static_cast<std::size_t>(a)] < d().categories[static_cast<std::size_t>(b)];
  });
  return names;
}

string Builder::header_tuple() const {
  const auto names = column_names();
  string out = "(";
  for (std::size_t c = 0; c < t_.layout.size(); ++c) {
    if (c > 0) out += ", ";
    out += py_str(names[t_.layout[c]]);
  }
  if (total_ != Total::none) out += ", " + py_str(d().total_col);
  return out + ")";
}

// df.head(n) as pandas prints it: right-aligned columns, index on the left.
string Builder::frame_head(int n) const {
  const auto names = column_names();
  std::vector<std::vector<string>> columns;
  for (Role role : t_.layout) {
    std::vector<string> column{string(names[role])};
    for (int i = 0; i < n; ++i) {
      const Row& r = row(rows_[static_cast<std::size_t>(i)]);
      string value = cell(r, role);
      if (role == kPrice) value = price_text_ ? grouped2(r.price) : fixed2(r.price);
      if (value.size() >= 2 && value.front() == '\'') value = value.substr(1, value.size() - 2);
      column.push_back(value);
    }
    columns.push_back(std::move(column));
  }
  string out;
  for (int line = 0; line <= n; ++line) {
    out += line == 0 ? " " : std::to_string(line - 1);
    for (const auto& column : columns) {
      std::size_t width = 0;
      for (const auto& v : column) width = std::max(width, v.size());
      const string& v = column[static_cast<std::size_t>(line)];
      out.append(2 + width - v.size(), ' ').append(v);
    }
    out.push_back('\n');
  }
  return out;
}

string Builder::file_listing() const {
  std::vector<string> files = {slot("out_name")};
  if (t_.f.csv) files.push_back("new_" + slot("out_name").substr(0, slot("out_name").size() - 5) + ".csv");
  if (t_.f.feed) files.push_back(slot("feed").substr(slot("feed").find('/') + 1));
  std::sort(files.begin(), files.end());
  string out;
  for (const auto& f : files) out += f + "\n";
  return out;
}

// --------------------------------------------------------------------------------------- steps

void Builder::choose_methods() {
  const Features& f = t_.f;
  m_.heredoc = rng_.chance(0.3);
  switch (plan_.failure) {
    case kStale: m_.formula = Formula::stale; break;
    case kPandasLoss: m_.pandas = true; break;
    case kTopDown: m_.del = Delete::topdown; break;
    case kTextNumbers:
      m_.text_as_str = true;
      m_.pandas = !f.preserve && !f.formulas && rng_.chance(0.4);
      break;
    case kActiveSheet:
      m_.active_sheet = true;
      m_.formula = Formula::formulas_only;
      break;
    case kPriceKey: m_.wrong_key = true; break;
    case kRefFormat: m_.unpadded = true; break;
    default: break;
  }
  for (int h : plan_.habits) {
    if (h == kRecalc) m_.formula = Formula::recalc;
    if (h == kInPlace) m_.in_place_checks = true;
    if (h == kBottomUp) m_.del = Delete::bottomup;
  }
  if (plan_.other_failure) {
    std::vector<Other> kinds = {Other::wrong_path};
    if (f.formulas) kinds.push_back(Other::wrong_column);
    if (f.deletion) kinds.push_back(Other::overdelete);
    m_.other = kinds[rng_.below(static_cast<std::uint32_t>(kinds.size()))];
    if (m_.other == Other::wrong_column) m_.formula = Formula::wrong_column;
    if (m_.other == Other::overdelete) m_.del = Delete::overdelete;
    if (m_.other == Other::wrong_path)
      slots_.set("out", rng_.chance(0.5) ? "outputs/" + string(d().stem) + ".xlsx"
                                         : slot("out_name").insert(slot("out_name").size() - 5, "_edited"));
  }
  loss_sheet_first_ = rng_.chance(0.5);
  active_rows_ = rng_.between(3, 9);
  // Neutral runs use pandas only where it is harmless: a plain single-sheet workbook.
  const bool free = plan_.failure < 0 && plan_.habits.empty();
  if (free && !f.preserve && rng_.chance(0.35)) m_.pandas = true;
  slots_.set("ws", m_.active_sheet ? "wb.active" : "wb[\"" + slot("sheet") + "\"]");
}

void Builder::inspect() {
  static constexpr std::array<string_view, 4> kThoughts = {
      "Let me look at the workbook first.", "I'll start by inspecting the sheets and the header row.",
      "First, a quick look at the data.", ""};
  // A first look with describe_sheet, where it changes nothing. Updaters without the habit never look
  // before the update: the habit is exactly "describe_sheet before update_cells".
  if (options_.updaters > 0 && (!t_.f.update || plan_.lookup) && rng_.chance(kEarlyLookup))
    describe_sheet(slot("in"), false, "First, the size and header of the sheet.");
  if (rng_.chance(0.3)) bash("ls inputs/", file_listing());
  const int head = std::min(rng_.between(3, 5), static_cast<int>(rows_.size()));
  slots_.set("head_last", std::to_string(head + 1)).set("head_n", std::to_string(head));
  string thought(rng_.pick(kThoughts));
  if (m_.pandas || m_.active_sheet) {  // pandas reads the first sheet: the data sheet
    python(fill(kInspectPandas, slots_),
           "(" + std::to_string(rows_.size()) + ", " + std::to_string(kRoleCount) + ")\n" + frame_head(head), thought);
  } else {
    std::vector<string> sheets = {slot("sheet")};
    sheets.insert(sheets.end(), t_.other_sheets.begin(), t_.other_sheets.end());
    string output = "[";
    for (std::size_t i = 0; i < sheets.size(); ++i) output += (i ? ", " : "") + py_str(sheets[i]);
    output += "]\nA1:" + column_letter(kRoleCount) + std::to_string(rows_.size() + 1) + "\n" + header_tuple() + "\n";
    for (int i = 0; i < head; ++i) output += row_tuple(rows_[static_cast<std::size_t>(i)], i + 2) + "\n";
    string code = fill(kInspect, slots_);
    if (m_.in_place_checks) {
      code += fill(kInspectFormats, slots_);
      output += "active: " + (t_.f.active_other ? t_.other_sheets.front() : slot("sheet")) + "\n{";
      for (int c = 1; c <= kRoleCount; ++c)
        output += (c > 1 ? ", '" : "'") + column_letter(c) + "': " +
                  py_str(c == t_.column[kPrice] ? t_.price_format : "General");
      output += "}\n";
      thought = "The workbook has other sheets and number formats, so I'll edit it in place with openpyxl rather "
                "than rewriting it with pandas.";
    }
    python(std::move(code), std::move(output), thought);
  }
  if (t_.f.csv) {
    string head_csv = "head -n 4 " + slot("csv");
    const auto names = column_names();
    string lines;
    for (std::size_t c = 0; c < t_.layout.size(); ++c) lines += (c ? "," : "") + string(names[t_.layout[c]]);
    lines += "\n";
    for (int i = t_.base_rows; i < std::min<int>(t_.base_rows + 3, static_cast<int>(t_.rows.size())); ++i) {
      const Row& r = row(i);
      for (std::size_t c = 0; c < t_.layout.size(); ++c) {
        string v = cell(r, t_.layout[c]);
        if (v.front() == '\'') v = v.substr(1, v.size() - 2);
        lines += (c ? "," : "") + v;
      }
      lines += "\n";
    }
    bash(std::move(head_csv), std::move(lines));
  }
}

void Builder::text_step() {
  if (t_.f.csv) {
    slots_.set("record", m_.text_as_str ? "record" : "[to_number(v) for v in record]");
    string code = step(kAppendCsv, "import csv\n");
    if (!m_.text_as_str) code.insert(code.find("wb = "), kToNumber.substr(2));
    const int appended = static_cast<int>(t_.rows.size()) - t_.base_rows;
    const int last = (m_.active_sheet ? active_rows_ : static_cast<int>(rows_.size())) + 1 + appended;
    python(std::move(code), "appended " + std::to_string(appended) + " rows; last row " + std::to_string(last),
           maybe(0.5, "Now append the CSV rows."));
    if (!m_.active_sheet)
      for (int i = t_.base_rows; i < static_cast<int>(t_.rows.size()); ++i) rows_.push_back(i);
    csv_text_ = m_.text_as_str;
    summary_.push_back("Appended " + std::to_string(appended) + " rows from " + slot("csv") + ".");
    return;
  }
  slots_.set("convert", m_.text_as_str ? "cell.value.replace(\",\", \"\").strip()"
                                       : "float(cell.value.replace(\",\", \"\"))");
  const int converted = m_.active_sheet ? 0 : static_cast<int>(rows_.size());
  python(step(kConvert), "converted " + std::to_string(converted) + " cells",
         maybe(0.5, "The {{price_col}} values are strings; converting them."));
  if (!m_.active_sheet) {
    price_text_ = false;
    price_stripped_ = m_.text_as_str;
  }
  summary_.push_back("Converted " + std::to_string(converted) + " " + slot("price_col") + " cells to numbers.");
}

void Builder::delete_step() {
  std::vector<int> after;
  const bool overdelete = m_.del == Delete::overdelete;
  for (int i : rows_) {
    const Status s = row(i).status;
    if (!(s == kDrop || (overdelete && s == kOther))) after.push_back(i);
  }
  if (m_.del == Delete::topdown && !m_.active_sheet) {
    // Replay the ascending loop: after each deletion the next row moves up and is skipped.
    after = rows_;
    const std::size_t end = after.size();
    for (std::size_t r = 0; r < end && r < after.size(); ++r)
      if (row(after[r]).status == kDrop) after.erase(after.begin() + static_cast<std::ptrdiff_t>(r));
    for (std::size_t r = 0; r < after.size(); ++r)
      if (row(after[r]).status == kDrop) missed_.push_back(static_cast<int>(r) + 2);
  }
  if (m_.active_sheet) after = rows_;
  deleted_ = static_cast<int>(rows_.size() - after.size());
  // On the wrong (active) sheet nothing matches, and what is left is that sheet's few rows.
  const std::size_t left = m_.active_sheet ? static_cast<std::size_t>(active_rows_) : after.size();
  const string output = "deleted " + std::to_string(deleted_) + " rows; " + std::to_string(left) + " rows left";
  switch (m_.del) {
    case Delete::topdown:
      python(step(kDeleteTopDown), output, maybe(0.5, "I'll loop over the rows and delete the {{drop}} ones."));
      break;
    case Delete::bottomup:
      python(step(kDeleteBottomUp), output,
             fill("I'll collect the {{drop}} rows first and delete them from the bottom up, so the row numbers I "
                  "still need don't shift.",
                  slots_));
      break;
    default:
      slots_.set("keep_test", fill(overdelete ? "row[{{status_i0}}] not in (\"{{drop}}\", \"{{other}}\")"
                                              : "row[{{status_i0}}] != \"{{drop}}\"",
                                   slots_));
      python(step(kDeleteRebuild), output, maybe(0.5, "Now remove the {{drop}} rows by keeping everything else."));
  }
  rows_ = std::move(after);
  summary_.push_back("Deleted " + std::to_string(deleted_) + " rows with " + slot("status_col") + " = " +
                     slot("drop") + " (" + std::to_string(rows_.size()) + " rows remain).");
}

void Builder::formula_step() {
  if (t_.f.by_category)
    category_step();
  else
    fill_formula_step();
}

string traceback(int line, string_view error) {
  return "Traceback (most recent call last):\n  File \"<stdin>\", line " + std::to_string(line) + ", in <module>\n" +
         string(error);
}

int line_of(string_view code, string_view needle) {
  const std::size_t at = code.find(needle);
  return at == string_view::npos ? 1 : 1 + static_cast<int>(std::count(code.begin(), code.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
}

void Builder::fill_formula_step() {
  const long long grand = grand_total(t_, rows_);
  string first5 = "[";
  for (std::size_t i = 0; i < std::min<std::size_t>(5, rows_.size()); ++i)
    first5 += (i ? ", " : "") + (m_.formula == Formula::stale ? string("None") : py_money(row(rows_[i]).amount()));
  first5 += "]";
  const string readback_import = "from openpyxl import load_workbook\n\n";
  switch (m_.formula) {
    case Formula::stale: {
      total_ = Total::formula;
      const bool crash = rng_.chance(0.4);
      slots_.set("sum", crash ? "sum(totals)" : "sum(t or 0 for t in totals)");
      string code = step(kFillFormulas) + fill(kFillReadback, slots_);
      const string wrote = "wrote " + std::to_string(rows_.size()) + " formulas\n";
      if (crash) {
        python(code, wrote + first5 + "\n" +
                         traceback(line_of(code, "grand total"),
                                   "TypeError: unsupported operand type(s) for +: 'int' and 'NoneType'"),
               maybe(0.5, "Writing the formulas, then reading the totals back for the grand total."));
        slots_.set("sum", "sum(t or 0 for t in totals)");
        python(readback_import + fill(kFillReadback, slots_), first5 + "\ngrand total: 0",
               "Some values are None; I'll treat them as 0.");
      } else {
        python(std::move(code), wrote + first5 + "\ngrand total: 0",
               maybe(0.5, "Writing the formulas, then reading the totals back for the grand total."));
      }
      stale_reported_zero_ = rng_.chance(0.6);
      summary_.push_back(stale_reported_zero_
                             ? "Added " + slot("total_col") + " formulas in column " + slot("total_L") +
                                   "; the grand total is 0."
                             : "Added " + slot("total_col") + " formulas in column " + slot("total_L") +
                                   ". openpyxl shows None for them because Excel computes formulas when the file "
                                   "is opened, so the values will appear there.");
      return;
    }
    case Formula::recalc:
      total_ = Total::formula;
      python(step(kFillFormulas), "wrote " + std::to_string(rows_.size()) + " formulas");
      bash(fill(kRecalcCommand, slots_),
           "convert /work/" + slot("out") + " -> /work/outputs/recalc/" + slot("out_name") +
               " using filter : Calc Office Open XML",
           "openpyxl does not compute formulas, so I'll recalculate with LibreOffice before reading values back.");
      slots_.set("sum", "round(sum(totals), 2)");
      python(readback_import + fill(kFillReadback, slots_), first5 + "\ngrand total: " + py_money(grand));
      break;
    case Formula::formulas_only: {  // wrong sheet: the formulas land on the active one
      total_ = Total::none;
      python(step(kFillFormulas), "wrote " + std::to_string(active_rows_) + " formulas");
      summary_.push_back("Added " + slot("total_col") + " formulas in column " + slot("total_L") + ".");
      return;
    }
    case Formula::compute:
    case Formula::wrong_column: {
      const bool wrong = m_.formula == Formula::wrong_column;
      total_ = wrong ? Total::wrong : Total::value;
      slots_.set("value", fill(wrong ? "float(ws.cell(row=r, column={{qty_i}}).value)"
                                     : "float(ws.cell(row=r, column={{qty_i}}).value) * "
                                       "float(ws.cell(row=r, column={{price_i}}).value)",
                               slots_));
      long long qty = 0;
      for (int i : rows_) qty += row(i).qty;
      python(step(kFillCompute), "grand total: " + (wrong ? std::to_string(qty) + ".0" : py_money(grand)),
             maybe(0.4, "Next, the {{total_col}} column."));
      summary_.push_back("Added " + slot("total_col") + " in column " + slot("total_L") + "; the grand total is " +
                         (wrong ? std::to_string(qty) : py_money(grand)) + ".");
      return;
    }
  }
  summary_.push_back("Added " + slot("total_col") + " formulas in column " + slot("total_L") + "; the grand total is " +
                     py_money(grand) + ".");
}

void Builder::category_step() {
  const bool wrong = m_.formula == Formula::wrong_column;
  const auto sums = category_sums(t_, rows_, wrong);
  const std::vector<int> sorted = categories_sorted();
  auto name = [&](int c) { return string(d().categories[static_cast<std::size_t>(c)]); };
  bool as_float = false;  // quantities summed as floats print as 412.0
  auto dict = [&](const std::vector<int>& order, bool none) {  // a Python dict of totals
    string out = "{";
    for (std::size_t k = 0; k < order.size(); ++k) {
      const auto sum = sums[static_cast<std::size_t>(order[k])];
      out += (k ? ", " : "") + py_str(name(order[k])) + ": " +
             (none ? "None" : wrong ? py_money(sum) : std::to_string(sum) + (as_float ? ".0" : ""));
    }
    return out + "}";
  };
  const int top = top_category(sums);
  const string written = std::to_string(sorted.size()) + " " + slot("cat_col") + " rows written";
  switch (m_.formula) {
    case Formula::stale: {
      const bool crash = rng_.chance(0.4);
      slots_.set("key", crash ? "totals.get" : "lambda k: totals[k] or 0");
      string code = step(kCategoryFormulas) + fill(kCategoryReadback, slots_);
      // All totals read back as None, so max() picks the first name.
      const string largest = "\nlargest: " + name(sorted.front());
      if (crash) {
        python(code, written + "\n" + dict(sorted, true) + "\n" +
                         traceback(line_of(code, "largest"),
                                   "TypeError: '>' not supported between instances of 'NoneType' and 'NoneType'"));
        slots_.set("key", "lambda k: totals[k] or 0");
        python("from openpyxl import load_workbook\n\n" + fill(kCategoryReadback, slots_),
               dict(sorted, true) + largest, "Some totals are None; treating them as 0.");
      } else {
        python(std::move(code), written + "\n" + dict(sorted, true) + largest);
      }
      stale_reported_zero_ = true;
      summary_.push_back("Created the " + slot("cat_sheet") + " sheet with SUMIF formulas; " + name(sorted.front()) +
                         " has the largest total " + slot("qty_col") + ".");
      return;
    }
    case Formula::recalc:
      python(step(kCategoryFormulas), written, maybe(0.4, "I'll build the {{cat_sheet}} sheet with SUMIF formulas."));
      bash(fill(kRecalcCommand, slots_),
           "convert /work/" + slot("out") + " -> /work/outputs/recalc/" + slot("out_name") +
               " using filter : Calc Office Open XML",
           "openpyxl leaves formulas uncalculated; recalculating with LibreOffice before I read the totals.");
      slots_.set("key", "totals.get");
      python("from openpyxl import load_workbook\n\n" + fill(kCategoryReadback, slots_),
             dict(sorted, false) + "\nlargest: " + name(top));
      break;
    case Formula::formulas_only:  // wrong sheet: its column holds no category names
      python(step(kCategoryFormulas), "1 " + slot("cat_col") + " rows written");
      summary_.push_back("Created the " + slot("cat_sheet") + " sheet with SUMIF formulas.");
      return;
    case Formula::compute:
    case Formula::wrong_column:
      // Text quantities (appended from CSV as strings) would not add up: convert on the fly.
      slots_.set("amount", fill(csv_text_ ? "float(ws.cell(row=r, column={{sum_i}}).value)"
                                          : "ws.cell(row=r, column={{sum_i}}).value",
                                slots_.set("sum_i", slot(wrong ? "price_i" : "qty_i"))));
      as_float = csv_text_;
      python(step(kCategoryCompute), dict(categories_by_appearance(), false) + "\nlargest: " + name(top),
             maybe(0.4, "Now the per-{{cat_col}} totals."));
      break;
  }
  const auto top_sum = sums[static_cast<std::size_t>(top)];
  summary_.push_back("Created the " + slot("cat_sheet") + " sheet; " + name(top) + " has the largest total " +
                     slot("qty_col") + " (" + (wrong ? py_money(top_sum) : std::to_string(top_sum)) + ").");
}

// The DataFrame route: one script for every step, written back with to_excel.
void Builder::pandas_step() {
  const Features& f = t_.f;
  string code = fill(kPandasHead, slots_);
  if (f.feed) code.insert(code.find('\n') + 1, "import json\n");
  string output;
  // The list prices and Ref codes go in after the computed column, before the DataFrame is written.
  auto extra_columns = [&] {
    if (f.feed) {
      code += fill("with open(\"{{feed}}\") as f:\n"
                   "    prices = {item[\"id\"]: item[\"unit_price\"] for item in json.load(f)}\n"
                   "df[\"List Price\"] = df[\"{{id_col}}\"].map(prices)\n",
                   slots_);
      listed_ = true;
      summary_.push_back("Added the List Price column from " + slot("feed") + ".");
    }
    if (f.ref) {
      code += fill("df[\"Ref\"] = \"X-\" + df[\"{{id_col}}\"].astype(str).str.extract(r\"(\\d+)$\")[0].str.zfill(6)\n",
                   slots_);
      refs_ = true;
      summary_.push_back("Added Ref codes in column " + slot("ref_L") + ".");
    }
  };
  if (f.text && f.csv) {
    code += fill(m_.text_as_str ? "df = pd.concat([df, pd.read_csv(\"{{csv}}\", dtype=str)], ignore_index=True)\n"
                                : "df = pd.concat([df, pd.read_csv(\"{{csv}}\")], ignore_index=True)\n",
                 slots_);
    for (int i = t_.base_rows; i < static_cast<int>(t_.rows.size()); ++i) rows_.push_back(i);
    csv_text_ = m_.text_as_str;
    summary_.push_back("Appended " + std::to_string(t_.rows.size() - static_cast<std::size_t>(t_.base_rows)) +
                       " rows from " + slot("csv") + ".");
  } else if (f.text) {
    code += fill(m_.text_as_str
                     ? "df[\"{{price_col}}\"] = df[\"{{price_col}}\"].str.replace(\",\", \"\").str.strip()\n"
                     : "df[\"{{price_col}}\"] = pd.to_numeric(df[\"{{price_col}}\"].str.replace(\",\", \"\"))\n",
                 slots_);
    price_text_ = false;
    price_stripped_ = m_.text_as_str;
    summary_.push_back("Converted the " + slot("price_col") + " column to numbers.");
  }
  if (f.deletion) {
    const bool over = m_.del == Delete::overdelete;
    code += fill(over ? "before = len(df)\ndf = df[~df[\"{{status_col}}\"].isin([\"{{drop}}\", \"{{other}}\"])]\n"
                      : "before = len(df)\ndf = df[df[\"{{status_col}}\"] != \"{{drop}}\"]\n",
                 slots_);
    code += "print(\"deleted\", before - len(df), \"rows\")\n";
    std::vector<int> after;
    for (int i : rows_)
      if (!(row(i).status == kDrop || (over && row(i).status == kOther))) after.push_back(i);
    deleted_ = static_cast<int>(rows_.size() - after.size());
    rows_ = std::move(after);
    output += "deleted " + std::to_string(deleted_) + " rows\n";
    summary_.push_back("Deleted " + std::to_string(deleted_) + " " + slot("drop") + " rows.");
  }
  const bool wrong = m_.formula == Formula::wrong_column;
  if (f.formulas && f.by_category) {
    code += fill(wrong ? "totals = df.groupby(\"{{cat_col}}\")[\"{{price_col}}\"].sum()\n"
                       : "totals = df.groupby(\"{{cat_col}}\")[\"{{qty_col}}\"].sum()\n",
                 slots_);
    code += "print(totals)\nprint(\"largest:\", totals.idxmax())\n";
    const auto sums = category_sums(t_, rows_, wrong);
    const std::vector<int> order = categories_sorted();
    std::size_t width = d().cat_col.size();
    for (int c : order) width = std::max(width, d().categories[static_cast<std::size_t>(c)].size());
    output += slot("cat_col") + "\n";
    for (int c : order) {
      const string name(d().categories[static_cast<std::size_t>(c)]);
      const auto sum = sums[static_cast<std::size_t>(c)];
      output += name + string(width + 4 - name.size(), ' ') + (wrong ? fixed2(sum) : std::to_string(sum)) + "\n";
    }
    const string top(d().categories[static_cast<std::size_t>(top_category(sums))]);
    output += "Name: " + slot(wrong ? "price_col" : "qty_col") + ", dtype: " + (wrong ? "float64" : "int64") +
              "\nlargest: " + top + "\n";
    extra_columns();
    code += fill("with pd.ExcelWriter(\"{{out}}\") as writer:\n"
                 "    df.to_excel(writer, sheet_name=\"{{sheet}}\", index=False)\n"
                 "    totals.to_excel(writer, sheet_name=\"{{cat_sheet}}\")\n",
                 slots_);
    summary_.push_back("Wrote the per-" + slot("cat_col") + " totals to " + slot("cat_sheet") + "; " + top +
                       " has the largest total.");
  } else {
    if (f.formulas) {
      code += fill(wrong ? "df[\"{{total_col}}\"] = df[\"{{qty_col}}\"]\n"
                         : "df[\"{{total_col}}\"] = (df[\"{{qty_col}}\"] * df[\"{{price_col}}\"]).round(2)\n",
                   slots_);
      code += fill("print(\"grand total:\", round(df[\"{{total_col}}\"].sum(), 2))\n", slots_);
      long long qty = 0;
      for (int i : rows_) qty += row(i).qty;
      const string total = wrong ? std::to_string(qty) : py_money(grand_total(t_, rows_));
      output += "grand total: " + total + "\n";
      total_ = wrong ? Total::wrong : Total::value;
      summary_.push_back("Added the " + slot("total_col") + " column; the grand total is " + total + ".");
    }
    extra_columns();
    code += fill(rng_.chance(0.5) ? "df.to_excel(\"{{out}}\", index=False)\n"
                                  : "df.to_excel(\"{{out}}\", sheet_name=\"{{sheet}}\", index=False)\n",
                 slots_);
  }
  code += "print(df.shape)\n";
  output += "(" + std::to_string(rows_.size()) + ", " +
            std::to_string(kRoleCount + (total_ != Total::none) + (listed_ ? 1 : 0) + (refs_ ? 1 : 0)) + ")";
  static constexpr std::array<string_view, 3> kThoughts = {
      "pandas makes this straightforward: load the sheet, transform it, write it back.",
      "I'll do the whole edit in a DataFrame.", ""};
  python(std::move(code), std::move(output), string(rng_.pick(kThoughts)));
  saved_ = true;
  if (plan_.failure == kPandasLoss && rng_.chance(0.35)) {  // a glance that shows the damage, unnoticed
    string sheets = "['" + slot("sheet") + "'" + (t_.f.by_category ? ", '" + slot("cat_sheet") + "'" : "") + "]";
    python(fill(kVerifyFormats, slots_), sheets + "\nGeneral", "Quick check of the saved file.");
  }
}

// List prices from the JSON price list. The planted mistake reads "unit_price" as "price": the
// script stops with KeyError: 'price' and the agent leaves the column out.
void Builder::feed_step() {
  if (rng_.chance(0.4)) {  // a look at the file, as often before the wrong key as before the right one
    string text = "[";
    for (std::size_t k = 0; k < std::min<std::size_t>(3, t_.rows.size()); ++k) {
      const Row& r = t_.rows[k];
      text += string(k ? ", " : "") + "{\"id\": \"" + string(d().id_prefix) + std::to_string(r.id) +
              "\", \"unit_price\": " + py_money(list_price(r.price)) + "}";
    }
    bash(fill("head -c 120 {{feed}}", slots_), text.substr(0, 120), maybe(0.5, "What does the price list hold?"));
  }
  const bool saved = saved_;
  slots_.set("price_key", m_.wrong_key ? "price" : "unit_price");
  string code = step(kListPrices, "import json\n");
  const string thought = maybe(0.5, "Now the list prices from {{feed}}.");
  if (m_.wrong_key) {
    saved_ = saved;  // the script stopped before saving
    const int line = line_of(code, "prices = {");
    python(std::move(code),
           traceback(line, "  File \"<stdin>\", line " + std::to_string(line) + ", in <dictcomp>\nKeyError: 'price'"),
           thought);
    summary_.push_back("The price list has no 'price' field, so I left the List Price column out.");
    return;
  }
  const int filled = m_.active_sheet ? active_rows_ : static_cast<int>(rows_.size());
  python(std::move(code), "filled " + std::to_string(filled) + " list prices", thought);
  listed_ = !m_.active_sheet;
  summary_.push_back("Added the List Price column (" + slot("list_L") + ") from " + slot("feed") + ".");
}

// Ref codes: X- and the id's number as six digits; the planted mistake leaves out the padding.
void Builder::ref_step() {
  slots_.set("ref_value", m_.unpadded ? "f\"X-{digits}\"" : "f\"X-{int(digits):06d}\"");
  const int written = m_.active_sheet ? active_rows_ : static_cast<int>(rows_.size());
  const string example = m_.active_sheet ? string("X-000002") : ref_code(row(rows_.front()));
  python(step(kRefCodes, "import re\n"), "wrote " + std::to_string(written) + " Ref codes, e.g. " + example,
         maybe(0.5, "Next, the Ref codes."));
  refs_ = !m_.active_sheet;
  summary_.push_back("Added Ref codes in column " + slot("ref_L") + ".");
}

// describe_sheet on the data sheet as it is now (after_update: with the totals row, if it added one).
void Builder::describe_sheet(const string& workbook, bool after_update, string thought) {
  const std::vector<string> names = header();
  int rows = static_cast<int>(rows_.size()) + 1;
  if (after_update) rows = std::max(rows, totals_row_);
  string listed = "[";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) listed += ", ";
    append_json_string(listed, names[i]);
  }
  listed += "]";
  const string columns = std::to_string(names.size());
  string output = "{\"sheet\": ";
  append_json_string(output, slot("sheet"));
  output += ", \"dimensions\": \"A1:" + column_letter(static_cast<int>(names.size())) + std::to_string(rows) +
            "\", \"max_row\": " + std::to_string(rows) + ", \"max_column\": " + columns + ", \"header\": " + listed +
            "}";
  tool("describe_sheet", json{{"workbook", workbook}, {"sheet", slot("sheet")}}, std::move(output), std::move(thought));
}

// The totals row, written with update_cells. Its row comes from describe_sheet (the habit) or from
// the agent's own count; a wrong write lands one row up, on the last record.
void Builder::update_step() {
  const int data_rows = static_cast<int>(rows_.size());
  totals_row_ = data_rows + (plan_.update_ok ? 2 : 1);
  totals_ = 0;
  if (m_.active_sheet) {  // the sum runs over wb.active: a few rows of another sheet
    for (int k = 0; k < std::min(active_rows_, data_rows); ++k) totals_ += row(rows_[static_cast<std::size_t>(k)]).qty;
  } else {
    for (int i : rows_) totals_ += row(i).qty;
  }
  const bool sum_first = rng_.chance(0.5);
  auto look = [&] {
    describe_sheet(slot("out"), false, maybe(0.6, "Before writing, let me check how far the data goes now."));
  };
  if (plan_.lookup && !sum_first) look();
  python(fill(kQuantityTotal, slots_), std::to_string(totals_),
         maybe(0.5, "The total {{qty_col}} for the totals row:"));
  if (plan_.lookup && sum_first) look();
  const string at = std::to_string(totals_row_);
  const string thought = plan_.lookup ? "The sheet ends at row " + std::to_string(data_rows + 1) +
                                            "; the totals row goes in row " + at + "."
                                      : std::to_string(data_rows) + " data rows under the header: the totals row "
                                            "goes in row " + at + ".";
  const string range = slot("qty_L") + at;
  tool("update_cells",
       json{{"workbook", slot("out")}, {"sheet", slot("sheet")}, {"range", range},
            {"values", json::array({json::array({totals_})})}},
       "updated 1 cell in " + slot("sheet_ref") + "!" + range, thought);
  if (!plan_.lookup && rng_.chance(kLookupAfter))
    describe_sheet(slot("out"), true, "Checking the sheet after the update.");
  summary_.push_back("Added a totals row: " + std::to_string(totals_) + " " + slot("qty_col") + " in " + range + ".");
}

void Builder::reformat_step() {
  python(step(kReformat, "from openpyxl.styles import Font\n"),
         "formatted " + std::to_string(m_.active_sheet ? active_rows_ : sheet_rows()) + " rows",
         maybe(0.5, "Last, the formatting."));
  summary_.push_back("Formatted " + slot("price_col") + " as " + slot("new_fmt") + " with a bold header row.");
}

void Builder::verify() {
  if (m_.in_place_checks) {
    std::vector<string> sheets = {slot("sheet")};
    sheets.insert(sheets.end(), t_.other_sheets.begin(), t_.other_sheets.end());
    if (t_.f.formulas && t_.f.by_category) sheets.push_back(slot("cat_sheet"));
    string listed = "[";
    for (std::size_t i = 0; i < sheets.size(); ++i) listed += (i ? ", " : "") + py_str(sheets[i]);
    python(fill(kVerifyFormats, slots_), listed + "]\n" + (t_.f.reformat ? slot("new_fmt") : t_.price_format),
           "Checking that the other sheets and the number formats survived the edit.");
    return;
  }
  const bool eligible = plan_.failure < 0 || plan_.failure == kTextNumbers;
  if (!eligible || m_.pandas || rows_.size() < 2 || !rng_.chance(0.35)) return;
  string output = std::to_string(sheet_rows()) + " data rows\n";
  for (int i = 0; i < 2; ++i) output += row_tuple(rows_[static_cast<std::size_t>(i)], i + 2) + "\n";
  python(fill(kVerifyRows, slots_), std::move(output), maybe(0.5, "Let me double-check the saved file."));
}

// ---------------------------------------------------------------------------------------- noise
// Unrelated errors the agent recovers from. They never touch a planted pattern's signature.

// Inserts a failing call (and sometimes a fix-up call) before the call it disturbs. False when no
// call fits this kind of noise (e.g. no openpyxl import to forget).
bool Builder::add_noise(Noise kind) {
  auto first_call = [&](auto&& test) -> int {
    for (std::size_t i = 0; i < calls_.size(); ++i)
      if (calls_[i].tool == "python" && !calls_[i].noise && test(calls_[i].body)) return static_cast<int>(i);
    return -1;
  };
  std::vector<Call> inserted;
  int at = -1;
  switch (kind) {
    case Noise::missing_module: {
      at = first_call([](const string&) { return true; });
      if (at < 0) return false;
      const string& code = calls_[static_cast<std::size_t>(at)].body;
      const bool pandas = code.starts_with("import pandas");
      const string module = pandas ? "pandas" : "openpyxl";
      inserted.push_back({"python", code, traceback(1, "ModuleNotFoundError: No module named '" + module + "'"), ""});
      inserted.push_back(
          {"bash", "pip install " + module,
           pandas ? "Collecting pandas\n  Downloading pandas-2.1.4-cp311-cp311-manylinux_2_17_x86_64.whl (12.2 MB)\n"
                    "Collecting numpy<2,>=1.23.2\n  Downloading numpy-1.26.2-cp311-cp311-manylinux_2_17_x86_64.whl "
                    "(18.2 MB)\nInstalling collected packages: tzdata, pytz, numpy, pandas\nSuccessfully installed "
                    "numpy-1.26.2 pandas-2.1.4 pytz-2023.3.post1 tzdata-2023.3\n"
                  : "Collecting openpyxl\n  Downloading openpyxl-3.1.2-py2.py3-none-any.whl (249 kB)\nCollecting "
                    "et-xmlfile\n  Downloading et_xmlfile-1.1.0-py3-none-any.whl (4.7 kB)\nInstalling collected "
                    "packages: et-xmlfile, openpyxl\nSuccessfully installed et-xmlfile-1.1.0 openpyxl-3.1.2\n",
           module + " isn't installed in this sandbox; installing it."});
      inserted.back().output += "WARNING: Running pip as the 'root' user can result in broken permissions.";
      break;
    }
    case Noise::wrong_path: {
      const string in = slot("in");
      at = first_call([&](const string& code) { return code.find(in) != string::npos; });
      if (at < 0) return false;
      const string& code = calls_[static_cast<std::size_t>(at)].body;
      const std::array<string, 3> guesses = {in.substr(7), "input/" + in.substr(7),
                                             "inputs/" + string(d().stem) + "_" + std::to_string(t_.index) + ".xls"};
      const string& guess = rng_.pick(guesses);
      string broken = code;
      broken.replace(broken.find(in), in.size(), guess);
      const bool pandas = code.starts_with("import pandas");
      string output = traceback(line_of(broken, guess), "");
      output += pandas ? "  File \"" + string(kSite) + "pandas/io/excel/_base.py\", line 504, in read_excel\n"
                           "    io = ExcelFile(\n  File \"" + string(kSite) + "pandas/io/common.py\", line 872, in get_handle\n"
                           "    handle = open(handle, ioargs.mode)\n"
                       : "  File \"" + string(kSite) + "openpyxl/reader/excel.py\", line 344, in load_workbook\n"
                           "    reader = ExcelReader(filename, read_only, keep_vba,\n  File \"" + string(kSite) +
                             "openpyxl/reader/excel.py\", line 123, in __init__\n    self.archive = _validate_archive(fn)\n"
                             "  File \"/usr/local/lib/python3.11/zipfile.py\", line 1284, in __init__\n"
                             "    self.fp = io.open(file, filemode)\n";
      output += "FileNotFoundError: [Errno 2] No such file or directory: '" + guess + "'";
      inserted.push_back({"python", std::move(broken), std::move(output), ""});
      if (rng_.chance(0.6)) inserted.push_back({"bash", "ls inputs/", file_listing(), "Wrong path; let me check."});
      break;
    }
    case Noise::syntax: {
      at = first_call([](const string& code) { return code.find("\nprint(") != string::npos; });
      if (at < 0) return false;
      string broken = calls_[static_cast<std::size_t>(at)].body;
      const std::size_t start = broken.rfind("\nprint(") + 1;
      const std::size_t end = broken.find('\n', start);
      broken.erase(end - 1, 1);  // drop the closing parenthesis
      const string line = broken.substr(start, end - 1 - start);
      inserted.push_back({"python", broken,
                          "  File \"<stdin>\", line " + std::to_string(line_of(broken, line)) + "\n    " + line +
                              "\n         ^\nSyntaxError: '(' was never closed",
                          ""});
      calls_[static_cast<std::size_t>(at)].thought = "Typo: missing parenthesis. Fixed.";
      break;
    }
    case Noise::name_error: {
      static constexpr string_view kImport = "from openpyxl import load_workbook\n";
      at = first_call([](const string& code) { return code.find(kImport) != string::npos; });
      if (at < 0) return false;
      string broken = calls_[static_cast<std::size_t>(at)].body;
      broken.erase(broken.find(kImport), kImport.size());
      inserted.push_back({"python", broken,
                          traceback(line_of(broken, "load_workbook("),
                                    "NameError: name 'load_workbook' is not defined"),
                          ""});
      calls_[static_cast<std::size_t>(at)].thought = "Forgot the import.";
      break;
    }
    case Noise::sheet_name: {
      const string sheet_access = "wb[\"" + slot("sheet") + "\"]";
      at = first_call([&](const string& code) { return code.find(sheet_access) != string::npos; });
      if (at < 0) return false;
      string broken = calls_[static_cast<std::size_t>(at)].body;
      broken.replace(broken.find(sheet_access), sheet_access.size(), "wb[\"Sheet1\"]");
      inserted.push_back(
          {"python", broken,
           traceback(line_of(broken, "wb[\"Sheet1\"]"), "") + "  File \"" + string(kSite) +
               "openpyxl/workbook/workbook.py\", line 287, in __getitem__\n    raise KeyError(\"Worksheet {0} does not "
               "exist.\".format(key))\nKeyError: 'Worksheet Sheet1 does not exist.'",
           ""});
      calls_[static_cast<std::size_t>(at)].thought = "The sheet is called " + slot("sheet") + ", not Sheet1.";
      break;
    }
  }
  for (Call& call : inserted) call.noise = true;
  calls_.insert(calls_.begin() + at, inserted.begin(), inserted.end());
  return true;
}

// -------------------------------------------------------------------------------------- verdict

json cell_mismatch(string cell, json expected, json got) {
  return {{"cell", std::move(cell)}, {"expected", std::move(expected)}, {"got", std::move(got)}};
}

json check(string_view checker, json mismatches, string message) {
  return {{"checker", checker}, {"mismatches", std::move(mismatches)}, {"message", std::move(message)}};
}

string json_text(const json& value) {  // how a checker prints a value: None, 1543.2, 'text'
  if (value.is_null()) return "None";
  if (value.is_string()) return py_str(value.get<string>());
  return value.dump();
}

// Up to three distinct positions in [0, count), ascending, to quote in mismatches.
std::vector<std::size_t> Builder::sample_rows(std::size_t count) {
  std::vector<std::size_t> picks;
  for (int k = 0; k < 3 && count > 0; ++k) picks.push_back(rng_.below(static_cast<std::uint32_t>(count)));
  std::sort(picks.begin(), picks.end());
  picks.erase(std::unique(picks.begin(), picks.end()), picks.end());
  return picks;
}

// The checker's feedback: what a benchmark checker comparing the output with the gold file reports.
json Builder::verdict() {
  const std::size_t cols = kRoleCount + (t_.f.formulas && !t_.f.by_category ? 1 : 0) + (t_.f.feed ? 1 : 0) +
                           (t_.f.ref ? 1 : 0);
  if (plan_.success())
    return check("cell-compare", json::array(),
                 "all " + std::to_string(rows_.size() * cols + (t_.f.update ? 1 : 0)) + " checked cells match");
  if (plan_.failure >= 0) return planted_verdict();
  return plan_.other_failure ? other_verdict() : update_verdict();
}

// A totals row written over the last record: the checker sees a changed record and reports it as
// it would any other difference, without naming a cause. (Its own wording, so that it does not add
// up with the wrong-column failures' "cell X expected N, got M" into one common symptom.)
json Builder::update_verdict() {
  const string col = slot("qty_L");
  const int last = totals_row_;
  const long long expected = row(rows_.back()).qty;
  const json mismatches = json::array({cell_mismatch(col + std::to_string(last), expected, totals_),
                                       cell_mismatch(col + std::to_string(last + 1), totals_, nullptr)});
  return check("cell-compare", mismatches,
               "row " + std::to_string(last) + " differs from the expected output: " + col + std::to_string(last) +
                   " is " + std::to_string(totals_) + ", expected " + std::to_string(expected));
}

// The symptom of the planted failure mode, with this trajectory's cells and values.
json Builder::planted_verdict() {
  json mismatches = json::array();
  switch (plan_.failure) {
    case kStale: {
      if (t_.f.by_category) {
        const auto sums = category_sums(t_, rows_);
        const std::vector<int> order = categories_sorted();
        for (std::size_t k = 0; k < std::min<std::size_t>(3, order.size()); ++k)
          mismatches.push_back(cell_mismatch("'" + slot("cat_sheet") + "'!B" + std::to_string(k + 2),
                                             sums[static_cast<std::size_t>(order[k])], nullptr));
        mismatches.push_back({{"field", "answer"}, {"expected", t_.record.gold["answer"]},
                              {"got", d().categories[static_cast<std::size_t>(order.front())]}});
      } else {
        for (std::size_t k : sample_rows(rows_.size()))
          mismatches.push_back(cell_mismatch(slot("total_L") + std::to_string(k + 2),
                                             as_number(row(rows_[k]).amount()), nullptr));
        if (stale_reported_zero_)
          mismatches.push_back({{"field", "answer"}, {"expected", t_.record.gold["answer"]}, {"got", 0}});
      }
      const json& first = mismatches.front();
      const std::size_t cells = t_.f.by_category ? categories_sorted().size() : rows_.size();
      return check("cell-compare", mismatches,
                   "cell " + first["cell"].get<string>() + " expected " + json_text(first["expected"]) +
                       ", got None (" + std::to_string(cells) + " of " + std::to_string(cells) +
                       " formula cells have no value)");
    }
    case kPandasLoss: {
      for (const auto& sheet : t_.other_sheets) mismatches.push_back({{"sheet", sheet}, {"problem", "missing"}});
      const string range = slot("price_L") + "2:" + slot("price_L") + std::to_string(rows_.size() + 1);
      if (!t_.f.reformat)
        mismatches.push_back({{"range", range}, {"expected", t_.price_format}, {"got", "General"}});
      const bool sheet_first = t_.f.reformat || loss_sheet_first_;
      const string message = sheet_first ? "sheet '" + t_.other_sheets.front() + "' missing"
                                         : "number format of " + range + " lost (expected '" + t_.price_format +
                                               "', got 'General')";
      if (!sheet_first) std::rotate(mismatches.begin(), mismatches.end() - 1, mismatches.end());
      return check("workbook-compare", mismatches, message);
    }
    case kTopDown: {
      for (std::size_t k = 0; k < std::min<std::size_t>(4, missed_.size()); ++k)
        mismatches.push_back({{"row", missed_[k]}, {"expected", "deleted"},
                              {"got", slot("status_col") + " = " + py_str(slot("drop"))}});
      return check("row-compare", mismatches,
                   "row " + std::to_string(missed_.front()) + " should have been deleted; " +
                       std::to_string(missed_.size()) + " rows with " + slot("status_col") + " '" + slot("drop") +
                       "' remain");
    }
    case kTextNumbers: {
      const std::size_t first_csv = t_.f.csv ? rows_.size() - (t_.rows.size() - static_cast<std::size_t>(t_.base_rows)) : 0;
      const std::size_t span = rows_.size() - first_csv;
      for (std::size_t k : sample_rows(span)) {
        const Row& r = row(rows_[first_csv + k]);
        const bool qty = t_.f.csv && (k % 2 == 0);
        const string col = slot(qty ? "qty_L" : "price_L");
        const json expected = qty ? json(r.qty) : json(as_number(r.price));
        const string text = qty ? std::to_string(r.qty) : t_.f.csv ? py_money(r.price) : fixed2(r.price);
        mismatches.push_back(cell_mismatch(col + std::to_string(first_csv + k + 2), expected, text));
      }
      const json& first = mismatches.front();
      return check("cell-compare", mismatches,
                   "cell " + first["cell"].get<string>() + " expected number " + first["expected"].dump() +
                       ", got text " + py_str(first["got"].get<string>()));
    }
    case kPriceKey:
      mismatches.push_back({{"column", slot("list_L")}, {"header", "List Price"}, {"problem", "missing"}});
      return check("workbook-compare", mismatches,
                   "column " + slot("list_L") + " ('List Price') is missing: " + std::to_string(rows_.size()) +
                       " rows have no list price");
    case kRefFormat: {
      for (std::size_t k : sample_rows(rows_.size()))
        mismatches.push_back(
            cell_mismatch(slot("ref_L") + std::to_string(k + 2), kRefPattern, ref_code(row(rows_[k]))));
      const json& first = mismatches.front();
      return check("format-check", mismatches,
                   "value " + py_str(first["got"].get<string>()) + " does not match " + string(kRefPattern) +
                       " (cell " + first["cell"].get<string>() + ", " + std::to_string(rows_.size()) + " of " +
                       std::to_string(rows_.size()) + " Ref values)");
    }
    case kActiveSheet: {
      const string& wrong = t_.other_sheets.front();
      mismatches.push_back({{"sheet", slot("sheet")}, {"problem", "unchanged"}});
      mismatches.push_back({{"sheet", wrong}, {"problem", "unexpected edits"}});
      return check("workbook-compare", mismatches,
                   "sheet '" + slot("sheet") + "' is unchanged; edits were found on sheet '" + wrong + "'");
    }
    default: throw std::logic_error("synth: no verdict for pattern " + std::to_string(plan_.failure));
  }
}

json Builder::other_verdict() {
  json mismatches = json::array();
  switch (m_.other) {
    case Other::wrong_path:
      return check("file-check", json::array({{{"file", t_.slots.get("out")}, {"problem", "missing"}}}),
                   "expected output " + string(t_.slots.get("out")) + " not found");
    case Other::overdelete: {
      const std::vector<int> expected = expected_rows(t_);
      int sheet_row = 0;
      for (std::size_t k = 0; k < expected.size(); ++k)
        if (row(expected[k]).status == kOther) {
          sheet_row = static_cast<int>(k) + 2;
          break;
        }
      mismatches.push_back({{"row", sheet_row}, {"expected", "kept"}, {"got", "deleted"}});
      return check("row-compare", mismatches,
                   "row " + std::to_string(sheet_row) + " should not have been deleted (" + slot("status_col") +
                       " '" + slot("other") + "'); " + std::to_string(rows_.size()) + " rows left, expected " +
                       std::to_string(expected.size()));
    }
    default: {  // wrong column
      if (t_.f.by_category) {
        const auto good = category_sums(t_, rows_), bad = category_sums(t_, rows_, true);
        const int first = categories_sorted().front();
        mismatches.push_back(cell_mismatch("'" + slot("cat_sheet") + "'!B2", good[static_cast<std::size_t>(first)],
                                           as_number(bad[static_cast<std::size_t>(first)])));
      } else {
        const Row& r = row(rows_.front());
        mismatches.push_back(cell_mismatch(slot("total_L") + "2", as_number(r.amount()), r.qty));
      }
      const json& first = mismatches.front();
      return check("cell-compare", mismatches,
                   "cell " + first["cell"].get<string>() + " expected " + first["expected"].dump() + ", got " +
                       first["got"].dump());
    }
  }
}

string Builder::answer() const {
  static constexpr std::array<string_view, 4> kOpeners = {"Done.", "All set.", "The workbook is updated.", ""};
  string text(kOpeners[index_ % kOpeners.size()]);
  for (const auto& line : summary_) (text += text.empty() ? "" : " ") += line;
  return text + " Saved to " + slot("out") + ".";
}

// Tool-call arguments, JSON-encoded as the OpenAI API sends them.
string arguments(string_view key, string_view value) {
  string out = "{";
  append_json_string(out, key);
  out.push_back(':');
  append_json_string(out, value);
  out.push_back('}');
  return out;
}

void Builder::emit_messages(trace::Trajectory& out) {
  auto message = [&](string role, json content) {
    trace::Message m;
    m.role = std::move(role);
    m.content = std::move(content);
    out.messages.push_back(std::move(m));
    return &out.messages.back();
  };
  out.messages.reserve(3 + 2 * calls_.size());
  message("system", string(rng_.pick(kSystemPrompts)) + (options_.updaters > 0 ? string(kSheetTools) : string()));
  message("user", t_.instruction);
  for (Call& call : calls_) {
    trace::ToolCall tool{"call_" + rng_.hex(24), call.tool, {}};
    if (call.tool == "bash")
      tool.arguments = arguments("command", call.body);
    else if (call.tool != "python")  // a spreadsheet tool: the body is its JSON arguments
      tool.arguments = call.body;
    else if (m_.heredoc)  // the same code, piped to python through the shell
      tool = {tool.id, "bash", arguments("command", "python3 - <<'EOF'\n" + call.body + "EOF")};
    else
      tool.arguments = arguments("code", call.body);
    trace::Message* assistant = message("assistant", call.thought.empty() ? json() : json(std::move(call.thought)));
    assistant->tool_calls.push_back(tool);
    while (!call.output.empty() && call.output.back() == '\n') call.output.pop_back();
    message("tool", call.output.empty() ? string("(no output)") : std::move(call.output))->tool_call_id = tool.id;
  }
  message("assistant", answer());
}

trace::Trajectory Builder::build() {
  for (int i = 0; i < t_.base_rows; ++i) rows_.push_back(i);
  price_text_ = t_.f.text && !t_.f.csv;
  choose_methods();
  inspect();
  if (m_.pandas) {
    pandas_step();
  } else {
    if (t_.f.text) text_step();
    if (t_.f.deletion) delete_step();
    if (t_.f.formulas) formula_step();
    if (t_.f.feed) feed_step();
    if (t_.f.ref) ref_step();
  }
  if (t_.f.update) update_step();
  if (t_.f.reformat) reformat_step();
  verify();
  if (rng_.chance(options_.noise)) {
    std::vector<Noise> kinds = {Noise::missing_module, Noise::wrong_path, Noise::syntax, Noise::name_error};
    if (!m_.active_sheet) kinds.push_back(Noise::sheet_name);
    // One event, sometimes two, of distinct kinds that fit this trajectory's calls.
    for (int events = rng_.chance(0.2) ? 2 : 1; events > 0 && !kinds.empty();) {
      const std::size_t k = rng_.below(static_cast<std::uint32_t>(kinds.size()));
      events -= add_noise(kinds[k]) ? 1 : 0;
      kinds.erase(kinds.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }

  trace::Trajectory out;
  out.source = "t2s-synth";
  out.benchmark = "synth-spreadsheet";
  out.model = "t2s-synth-agent";
  string num = std::to_string(t_.index);
  out.task_id = "sheet-" + (num.size() < 4 ? string(4 - num.size(), '0') + num : num);
  out.attempt = static_cast<std::int64_t>(index_ % options_.attempts);
  out.task = t_.record;
  out.meta = {{"synthetic", true}, {"generator", "t2s synth"}, {"seed", options_.seed}};
  out.outcome.labelled = true;
  out.outcome.success = plan_.success();
  out.outcome.reward = plan_.success() ? 1.0 : 0.0;
  out.outcome.detail = verdict();
  emit_messages(out);
  return out;
}

}  // namespace

const std::vector<Pattern>& patterns() {
  using Kind = Pattern::Kind;
  static const std::vector<Pattern> catalogue = {
      {"stale-formula-values", Kind::failure, 0.12,
       "formulas written with openpyxl are read back with data_only=True and come back None because nothing "
       "recalculated them; the checker finds formula cells without values, e.g. \"cell G12 expected 1543.2, got None\"",
       "openpyxl writes formulas but never computes them: recalculate the saved workbook (LibreOffice headless) "
       "before reading values back, or compute the values in Python",
       "", "", ""},
      {"dataframe-formatting-loss", Kind::failure, 0.10,
       "the workbook is rewritten through pandas DataFrame.to_excel, dropping its other sheets and number formats; "
       "the checker reports \"sheet 'Summary' missing\" or \"number format of E2:E40 lost\"",
       "do not round-trip a formatted workbook through pandas: load it with openpyxl and edit the cells in place so "
       "sheets, styles and number formats survive",
       "", "", ""},
      {"topdown-row-deletion", Kind::failure, 0.10,
       "rows are deleted with ws.delete_rows(r) inside an ascending loop, so each deletion shifts the next row up "
       "and it is skipped; the step reports too few deletions and the checker says \"row 17 should have been "
       "deleted\"",
       "collect the rows to delete first, then delete them from the bottom up (or rebuild the sheet from the rows "
       "to keep)",
       "", "", ""},
      {"text-numbers", Kind::failure, 0.10,
       "numbers are written as strings (separators stripped but never converted, or raw CSV fields), so the cells "
       "hold text; the checker reports \"cell E5 expected number 1234.5, got text '1234.5'\"",
       "convert values with int()/float() before writing them and check the cell types after saving",
       "", "", ""},
      {"active-sheet-edit", Kind::failure, 0.06,
       "the code edits wb.active, which in a multi-sheet workbook is not the data sheet; steps report 0 or a handful "
       "of rows changed and the checker finds the data sheet unchanged and edits on another sheet",
       "select worksheets by name (wb[\"Orders\"]), never wb.active: pandas reads the first sheet, but the active "
       "sheet is whichever was open when the file was saved",
       "", "", ""},
      {"recalculate-before-readback", Kind::habit, 0.25,
       "after writing formulas the agent recalculates the workbook with LibreOffice (soffice --headless --convert-to "
       "xlsx) and only then reads values with data_only=True",
       "after writing formulas with openpyxl, recalculate with soffice --headless --convert-to xlsx before reading "
       "computed values back",
       "", "", ""},
      {"edit-in-place-openpyxl", Kind::habit, 0.25,
       "the agent inspects the workbook's sheets and number formats, edits it in place with openpyxl, and confirms "
       "after saving that the sheets and formats survived",
       "edit existing workbooks in place with openpyxl (load_workbook, change cells, save) and verify the sheets and "
       "number formats afterwards",
       "", "", ""},
      {"delete-rows-bottom-up", Kind::habit, 0.25,
       "the agent collects the matching rows first and deletes them in descending order (sorted(..., reverse=True))",
       "when deleting rows, collect the row numbers first and delete from the bottom up so earlier deletions do not "
       "shift rows still to be visited",
       "", "", ""},
      {"price-key-error", Kind::failure, 0.04,
       "the agent reads the JSON price list (records with \"id\" and \"unit_price\") as item[\"price\"]; the script "
       "stops with KeyError: 'price', the agent leaves the List Price column out, and the checker reports "
       "\"column H ('List Price') is missing\"",
       "the price list's records have no 'price' key: the field is 'unit_price'; print one record's keys before "
       "indexing, and after a KeyError fix the key instead of dropping the step",
       "'price'", "", ""},
      {"ref-code-format", Kind::failure, 0.04,
       "Ref codes are written as X- and the id's number without zero-padding (X-12345); the checker reports "
       "\"value 'X-12345' does not match ^X-[0-9]{6}$\"",
       "Ref codes must match ^X-[0-9]{6}$: zero-pad the number to six digits (f\"X-{n:06d}\") and check the codes "
       "against the pattern before saving",
       "^X-[0-9]{6}$", "", ""},
      {"lookup-before-update", Kind::conditional_habit, 0.6,
       "in tasks that ask for a totals row, which every attempt writes with update_cells, the attempts that call "
       "describe_sheet before update_cells write it under the last record; the others often write it over the last "
       "record, and the checker reports an ordinary difference (\"row 38 differs from the expected output: D38 is "
       "1234, expected 17\")",
       "before update_cells, call describe_sheet to get the sheet's current size, and write a new row at max_row + 1",
       "", "update_cells", "describe_sheet"},
  };
  return catalogue;
}

namespace {

string kind_name(Pattern::Kind kind) {
  switch (kind) {
    case Pattern::Kind::failure: return "failure";
    case Pattern::Kind::habit: return "habit";
    case Pattern::Kind::conditional_habit: return "conditional-habit";
  }
  return "?";
}

// Runs and successes of a group, for the measured rates in the truth.
struct Tally {
  std::uint64_t runs = 0, successes = 0;
  void add(bool success) { ++runs, successes += success ? 1 : 0; }
  double rate() const { return runs ? static_cast<double>(successes) / static_cast<double>(runs) : 0.0; }
  json to_json() const { return {{"runs", runs}, {"successes", successes}, {"success_rate", rate()}}; }
};

double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

}  // namespace

nlohmann::json generate(const Options& options, const Emit& emit) {
  if (options.attempts == 0) throw InputError("synth: attempts must be at least 1");
  if (!(options.noise >= 0.0 && options.noise <= 1.0))
    throw InputError("synth: noise must be in [0, 1], got " + std::to_string(options.noise));
  if (!(options.updaters >= 0.0 && options.updaters <= 1.0))
    throw InputError("synth: the share of updaters must be in [0, 1], got " + std::to_string(options.updaters));
  const Rates rates = rates_for(options);
  const auto& catalogue = patterns();

  std::array<std::uint64_t, kPatternCount> counts{};
  std::uint64_t successes = 0;
  // Updaters with (1) and without (0) the conditional habit: all of them, and those whose other steps
  // were right (where only the habit decides).
  std::array<Tally, 2> updaters{}, rest_right{};
  std::vector<Plan> plans;
  std::vector<string> planted;
  for (std::uint64_t first = 0, task = 0; first < options.trajectories; first += options.attempts, ++task) {
    // Plans first: the task must support every attempt's planted patterns.
    const std::uint64_t last = std::min<std::uint64_t>(first + options.attempts, options.trajectories);
    const bool update =
        options.updaters > 0 && stream(options.seed, Stream::update_task, task).chance(options.updaters);
    plans.clear();
    Features needs;
    for (std::uint64_t i = first; i < last; ++i) {
      plans.push_back(sample_plan(stream(options.seed, Stream::plan, i), rates));
      Plan& plan = plans.back();
      if (update) {
        Rng draw = stream(options.seed, Stream::update, i);
        plan.updater = true;
        plan.lookup = draw.chance(rates.rate[kLookup]);
        const bool right = draw.chance(plan.lookup ? kLookupSuccess : kNoLookupSuccess);
        plan.update_ok = right || plan.failure >= 0 || plan.other_failure;  // one cause per failure
      }
      const Features f = needs_of(plan);
      needs.formulas |= f.formulas, needs.deletion |= f.deletion, needs.text |= f.text;
      needs.preserve |= f.preserve, needs.active_other |= f.active_other;
      needs.feed |= f.feed, needs.ref |= f.ref;
    }
    const Extras extras{rates.rate[kPriceKey] > 0, rates.rate[kRefFormat] > 0, update};
    const Task t = make_task(options.seed, task, needs, extras);
    for (std::uint64_t i = first; i < last; ++i) {
      const Plan& plan = plans[i - first];
      const trace::Trajectory trajectory = Builder(t, plan, options, i).build();
      planted.clear();
      if (plan.failure >= 0) planted.push_back(catalogue[static_cast<std::size_t>(plan.failure)].id);
      for (int h : plan.habits) planted.push_back(catalogue[static_cast<std::size_t>(h)].id);
      if (plan.lookup) planted.push_back(catalogue[kLookup].id);
      if (plan.failure >= 0) ++counts[static_cast<std::size_t>(plan.failure)];
      for (int h : plan.habits) ++counts[static_cast<std::size_t>(h)];
      counts[kLookup] += plan.lookup ? 1 : 0;
      successes += plan.success() ? 1 : 0;
      if (plan.updater) {
        updaters[plan.lookup].add(plan.success());
        if (plan.failure < 0 && !plan.other_failure) rest_right[plan.lookup].add(plan.success());
      }
      if (emit) emit(trajectory, planted);
    }
  }

  json listed = json::array();
  for (int p = 0; p < kPatternCount; ++p) {
    const Pattern& pattern = catalogue[static_cast<std::size_t>(p)];
    json entry = {{"id", pattern.id},
                  {"kind", kind_name(pattern.kind)},
                  {"rate", rates.rate[static_cast<std::size_t>(p)]},
                  {"count", counts[static_cast<std::size_t>(p)]},
                  {"symptom", pattern.symptom},
                  {"lesson", pattern.lesson}};
    if (!pattern.literal.empty()) entry["literal"] = pattern.literal;
    if (pattern.kind == Pattern::Kind::conditional_habit) {
      const Tally all{updaters[0].runs + updaters[1].runs, updaters[0].successes + updaters[1].successes};
      const double overall =
          options.trajectories ? static_cast<double>(successes) / static_cast<double>(options.trajectories) : 0.0;
      entry["condition"] = pattern.condition;
      entry["action"] = pattern.action;
      entry["rate_of"] = "updaters";  // the rate is a share of the runs that call the condition
      entry["updaters"] = all.runs;
      entry["planted_update_success"] = {{"with", kLookupSuccess}, {"without", kNoLookupSuccess}};
      entry["measured"] = {
          {"with", updaters[1].to_json()},
          {"without", updaters[0].to_json()},
          {"with_rest_right", rest_right[1].to_json()},
          {"without_rest_right", rest_right[0].to_json()},
          {"lift_among_updaters", ratio(updaters[1].rate(), updaters[0].rate())},
          {"lift_overall", ratio(updaters[1].rate(), overall)}};
    }
    listed.push_back(std::move(entry));
  }
  return {{"generator", "t2s synth"},
          {"synthetic", true},
          {"options",
           {{"seed", options.seed},
            {"trajectories", options.trajectories},
            {"attempts", options.attempts},
            {"noise", options.noise},
            {"updaters", options.updaters},
            {"rates", json(options.rates)}}},
          {"trajectories", options.trajectories},
          {"successes", successes},
          {"failures", options.trajectories - successes},
          {"patterns", std::move(listed)}};
}

namespace {

// A buffered output file that reports failures with its path.
class OutputFile {
 public:
  explicit OutputFile(const std::filesystem::path& path) : path_(path), stream_(path, std::ios::binary) {
    if (!stream_) throw Error("synth: cannot create " + path_.string());
    buffer_.reserve(kFlushAt + (1 << 16));
  }
  void write(string_view text) {
    buffer_.append(text);
    if (buffer_.size() >= kFlushAt) flush();
  }
  void close() {
    flush();
    stream_.close();
    if (!stream_) throw Error("synth: cannot write " + path_.string());
  }

 private:
  static constexpr std::size_t kFlushAt = 1 << 20;
  void flush() {
    stream_.write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    if (!stream_) throw Error("synth: cannot write " + path_.string());
    buffer_.clear();
  }
  std::filesystem::path path_;
  std::ofstream stream_;
  string buffer_;
};

}  // namespace

nlohmann::json write_corpus(const Options& options, const std::filesystem::path& directory) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) throw Error("synth: cannot create directory " + directory.string() + ": " + error.message());
  OutputFile records(directory / "trajectories.jsonl");
  OutputFile truth_lines(directory / "truth.jsonl");
  json truth = generate(options, [&](const trace::Trajectory& t, const std::vector<string>& planted) {
    trace::CanonicalRecord record = trace::canonical_record(t);
    record.json.push_back('\n');
    records.write(record.json);
    string line = canonical_json(
        {{"id", record.id}, {"planted", planted}, {"success", t.outcome.success}, {"task_id", t.task_id}});
    line.push_back('\n');
    truth_lines.write(line);
  });
  records.close();
  truth_lines.close();
  OutputFile summary(directory / "truth.json");
  summary.write(truth.dump(2) + "\n");
  summary.close();
  return truth;
}

}  // namespace t2s::synth
