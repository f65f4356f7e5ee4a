// SpreadsheetBench tasks and checking (see the header for the rules). The comparison itself is a
// Python script (openpyxl reads the workbooks) that runs in a checker sandbox together with
// LibreOffice; this file reads the dataset, lays out that sandbox and turns its verdicts into scores.
#include "t2s/benchmarks/spreadsheetbench.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"

namespace t2s::benchmarks::spreadsheetbench {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::size_t kMaxCells = 1'000'000;                 // per answer position
constexpr std::size_t kMaxOutputBytes = std::size_t{64} << 20;  // per output workbook
constexpr std::size_t kTasksPerBatch = 25;                   // score_outputs: tasks per checker sandbox
constexpr const char* kPython = "/usr/bin/python3";          // Debian's, which has python3-openpyxl

// The checker, run as `/usr/bin/python3 -I check.py MODE ...` inside the checker sandbox.
constexpr const char* kCheckScript = R"PY(# trace2skill's SpreadsheetBench checker, run inside a checker sandbox (the workbooks were written
# by a model). Modes:
#   plan SPEC LIST            writes to LIST the outputs that need a formula recalculation
#   compare SPEC LIST OUT [KEY]  compares the cases of SPEC (or the one KEY), verdicts to OUT
#   rules PAIRS OUT           compares typed value pairs with the cell rule alone
import datetime
import json
import os
import sys
import zipfile
import xml.etree.ElementTree as ElementTree

try:
    import openpyxl
except ImportError:
    sys.stderr.write("python3-openpyxl is not installed for /usr/bin/python3\n")
    sys.exit(3)

EXCEL_EPOCH = datetime.datetime(1899, 12, 30)


# ---- the official cell rule ----------------------------------------------------------------------

def comparable(value):
    """A cell value in the form the official rule compares."""
    if isinstance(value, (int, float)):  # booleans too: Python counts them as ints
        return round(float(value), 2)
    if isinstance(value, datetime.datetime):  # tested before time: the types are unrelated
        delta = value - EXCEL_EPOCH
        return round(delta.days + delta.seconds / 86400.0, 0)  # Excel serial days
    if isinstance(value, datetime.time):
        return str(value)[:-3]  # "HH:MM:SS" -> "HH:MM"
    if isinstance(value, str):
        try:
            return round(float(value), 2)  # text that reads as a number is that number
        except ValueError:
            return value
    return value


def same_value(expected, got):
    a, b = comparable(expected), comparable(got)
    if (a is None or a == "") and (b is None or b == ""):
        return True  # an empty cell equals ''
    return type(a) is type(b) and a == b


# ---- cell ranges ---------------------------------------------------------------------------------

def split_cell(name):
    letters = name.rstrip("0123456789")
    return letters, int(name[len(letters):])


def column_number(letters):
    number = 0
    for c in letters:
        number = number * 26 + ord(c) - ord("A") + 1
    return number


def column_letters(number):
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def cells(first, last):
    """The cells of first:last column by column, the order the official checker walks them."""
    (c1, r1), (c2, r2) = split_cell(first), split_cell(last)
    for column in range(column_number(c1), column_number(c2) + 1):
        for row in range(r1, r2 + 1):
            yield column_letters(column) + str(row)


# ---- which outputs need a recalculation ----------------------------------------------------------

def local(tag):
    return tag.rsplit("}", 1)[-1]


def has_all_results(path):
    """True for an xlsx whose every formula carries a cached result and that does not ask for a
    full calculation on load (openpyxl and xlsxwriter files do)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
            for element in workbook.iter():
                if local(element.tag) == "calcPr" and element.get("fullCalcOnLoad") in ("1", "true"):
                    return False
            for name in names:
                if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                    continue
                with archive.open(name) as sheet:
                    for _, cell in ElementTree.iterparse(sheet):
                        if local(cell.tag) != "c":
                            continue
                        children = {local(child.tag): child for child in cell}
                        if "f" in children:
                            value = children.get("v")
                            # Excel writes an empty <v> only for an empty text result (t="str")
                            if value is None or (not value.text and cell.get("t") != "str"):
                                return False
                        cell.clear()
        return True
    except Exception:  # not a zip, bad XML, ...: LibreOffice may still read it
        return False


def plan(spec_path, list_path):
    spec = load_json(spec_path)
    with open(list_path, "w") as out:
        for case in spec["cases"]:
            if not has_all_results(case["output"]):
                out.write(case["output"] + "\n")


# ---- comparison ----------------------------------------------------------------------------------

def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def shown(value, limit=60):
    if value is None:
        return "empty"
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def sheet_ref(sheet, cell):
    return "'" + sheet.replace("'", "''") + "'!" + cell


def compare_case(case, recalculate):
    output = case["output"]
    if output in recalculate:
        output = case["recalculated"]
        if not os.path.isfile(output):
            return False, "LibreOffice could not open it to recalculate its formulas"
    try:
        answer = openpyxl.load_workbook(case["answer"], data_only=True)
    except Exception as e:
        return False, "the answer workbook cannot be read (" + type(e).__name__ + "): a dataset problem"
    try:
        got = openpyxl.load_workbook(output, data_only=True)
    except Exception as e:
        return False, "it cannot be read as a workbook (" + type(e).__name__ + ": " + str(e)[:200] + ")"
    checked, wrong, first = 0, 0, ""
    for part in case["ranges"]:
        sheet = part["sheet"] or answer.sheetnames[0]
        if sheet not in answer.sheetnames:
            return False, "the answer workbook has no sheet '" + sheet + "': a dataset problem"
        if sheet not in got.sheetnames:
            return False, "it has no sheet '" + sheet + "'"
        expected_sheet, got_sheet = answer[sheet], got[sheet]
        for cell in cells(part["first"], part["last"]):
            checked += 1
            value = got_sheet[cell].value
            if not same_value(expected_sheet[cell].value, value):
                wrong += 1
                if not first:
                    first = sheet_ref(sheet, cell) + " (yours: " + shown(value) + ")"
    if wrong:
        return False, "%d of %d checked cells differ from the expected values, the first at %s" % (wrong, checked, first)
    return True, "all %d checked cells match" % checked


def compare(spec_path, list_path, out_path, only=None):
    spec = load_json(spec_path)
    with open(list_path) as f:
        recalculate = set(line.strip() for line in f if line.strip())
    verdicts = []
    for case in spec["cases"]:
        if only is not None and case["key"] != only:
            continue
        try:
            passed, reason = compare_case(case, recalculate)
        except Exception as e:
            passed, reason = False, "it could not be checked (" + type(e).__name__ + ")"
        verdicts.append({"key": case["key"], "passed": passed, "reason": reason})
    with open(out_path, "w", encoding="utf-8") as out:
        json.dump(verdicts, out)


# ---- the rule alone ------------------------------------------------------------------------------

def typed(value):
    if isinstance(value, dict):
        if "datetime" in value:
            return datetime.datetime.fromisoformat(value["datetime"])
        if "time" in value:
            return datetime.time.fromisoformat(value["time"])
        raise ValueError("unknown typed value " + json.dumps(value))
    return value


def rules(pairs_path, out_path):
    with open(out_path, "w") as out:
        json.dump([same_value(typed(a), typed(b)) for a, b in load_json(pairs_path)], out)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "plan":
        plan(sys.argv[2], sys.argv[3])
    elif mode == "compare":
        compare(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] if len(sys.argv) > 5 else None)
    elif mode == "rules":
        rules(sys.argv[2], sys.argv[3])
    else:
        sys.exit("check.py: unknown mode " + mode)
)PY";

// ---- answer positions ----------------------------------------------------------------------------

std::string_view trim_chars(std::string_view text, std::string_view chars) {
  const auto first = text.find_first_not_of(chars);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(chars) - first + 1);
}

struct Cell {
  long column = 0, row = 0;
};

// "AB12" -> column 28, row 12; nullopt unless letters A-Z then digits, inside Excel's grid.
std::optional<Cell> parse_cell(std::string_view text) {
  Cell cell;
  std::size_t i = 0;
  for (; i < text.size() && text[i] >= 'A' && text[i] <= 'Z'; ++i) {
    if (i == 3) return std::nullopt;
    cell.column = cell.column * 26 + (text[i] - 'A' + 1);
  }
  if (i == 0 || i == text.size() || text.size() - i > 7) return std::nullopt;
  for (; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    cell.row = cell.row * 10 + (text[i] - '0');
  }
  if (cell.column > 16384 || cell.row < 1 || cell.row > 1048576) return std::nullopt;
  return cell;
}

std::string cell_name(const Cell& cell) {
  std::string letters;
  for (long n = cell.column; n > 0; n = (n - 1) / 26) letters.insert(letters.begin(), static_cast<char>('A' + (n - 1) % 26));
  return letters + std::to_string(cell.row);
}

// ---- dataset -------------------------------------------------------------------------------------

bool is_plain_name(const std::string& id) {
  if (id.empty() || id.size() > 100 || id.front() == '.' || id.front() == '-') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
}

std::string string_field(const json& entry, const char* key, const std::string& where) {
  const auto it = entry.find(key);
  if (it == entry.end()) throw InputError(where + ": no \"" + key + "\"");
  if (!it->is_string()) throw InputError(where + "." + key + ": not a string");
  return it->get<std::string>();
}

// "<digits>_<id>_<suffix>" -> the case number, or 0.
int case_number(const std::string& file, const std::string& id, const std::string& suffix) {
  const std::string tail = "_" + id + "_" + suffix;
  if (file.size() <= tail.size() || file.compare(file.size() - tail.size(), tail.size(), tail) != 0) return 0;
  const std::string digits = file.substr(0, file.size() - tail.size());
  if (digits.empty() || digits.size() > 6 || digits.find_first_not_of("0123456789") != std::string::npos) return 0;
  return std::stoi(digits);
}

std::vector<TestCase> find_cases(const fs::path& dir, const std::string& id, const std::string& where) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) throw InputError(where + ": " + dir.string() + " is not a directory");
  std::map<int, TestCase> cases;
  std::set<int> answers;
  for (const auto& file : fs::directory_iterator(dir)) {
    if (!file.is_regular_file(error)) continue;
    const std::string name = file.path().filename().string();
    if (const int n = case_number(name, id, "input.xlsx")) {
      TestCase& c = cases[n];
      c.number = n;
      c.input_name = name;
      c.output_name = std::to_string(n) + "_" + id + "_output.xlsx";
      c.input = file.path();
      c.answer = dir / (std::to_string(n) + "_" + id + "_answer.xlsx");
    } else if (const int m = case_number(name, id, "answer.xlsx")) {
      answers.insert(m);
    }
  }
  std::vector<TestCase> out;
  for (auto& [n, c] : cases) {
    if (!answers.count(n)) throw InputError(where + ": " + c.input.string() + " has no answer workbook (" + c.answer.filename().string() + ")");
    answers.erase(n);
    out.push_back(std::move(c));
  }
  if (!answers.empty())
    throw InputError(where + ": " + (dir / (std::to_string(*answers.begin()) + "_" + id + "_answer.xlsx")).string() + " has no input workbook");
  if (out.empty()) throw InputError(where + ": no test cases (<case>_" + id + "_input.xlsx) in " + dir.string());
  return out;
}

// ---- the checker sandbox -------------------------------------------------------------------------

// Python reads every workbook of a batch; openpyxl's memory grows with the sheets' size, and
// RLIMIT_AS counts address space, not resident memory, so it gets room (the machine has 24 GiB).
agent::CommandLimits python_limits(std::size_t cases) {
  agent::CommandLimits limits;
  limits.wall_s = 60.0 + 3.0 * static_cast<double>(cases);
  limits.cpu_s = limits.wall_s;
  limits.memory_bytes = std::uint64_t{4} << 30;
  limits.processes = 16;
  return limits;
}

// LibreOffice: one soffice.bin does every file of the call, so its CPU limit is the whole wall
// time; it starts in about 3-4 s, then takes a fraction of a second per sample workbook (5 s each
// leaves room for big ones). Measured on the sample: VmPeak about 0.75 GB (it converts under a
// 1 GiB RLIMIT_AS too), so 4 GiB leaves room for big workbooks; about 5 threads.
agent::CommandLimits soffice_limits(std::size_t files) {
  agent::CommandLimits limits;
  limits.wall_s = 60.0 + 5.0 * static_cast<double>(files);
  limits.cpu_s = limits.wall_s;
  limits.memory_bytes = std::uint64_t{4} << 30;
  limits.processes = 64;
  return limits;
}

std::string joined_output(const agent::CommandResult& r) {
  std::string text = r.stdout_text;
  if (!r.stderr_text.empty()) text += (text.empty() || text.back() == '\n' ? "" : "\n") + r.stderr_text;
  return abbreviate(repair_utf8(std::string(trim_chars(text, " \t\r\n"))), 2000);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  for (auto& line : split(text, '\n'))
    if (!line.empty()) lines.push_back(std::move(line));
  return lines;
}

agent::Sandbox make_checker_sandbox(const CheckerOptions& options, const agent::SandboxContents& contents,
                                    std::uint64_t data_bytes) {
  agent::SandboxOptions sandbox;
  sandbox.isolation = options.isolation;
  sandbox.prefix = "spreadsheetbench-checker";
  // the workbooks, LibreOffice's copies of them and its profile (under 1 MB)
  sandbox.disk_bytes = (std::uint64_t{512} << 20) + 3 * data_bytes;
  const fs::path root = options.sandbox_root.empty() ? fs::temp_directory_path() : options.sandbox_root;
  return agent::Sandbox(root, contents, sandbox);
}

bool has_file(const agent::Sandbox& sandbox, const std::string& name) {
  try {
    sandbox.read_file(name, 0);
    return true;
  } catch (const InputError&) {
    return false;
  }
}

// Recalculates `files` (names in the sandbox) into recalculated/ with as few soffice calls as
// possible. When a call is stopped (a limit, a crash) the first file it had not converted is taken
// as the cause (soffice converts in argument order): it is left out, with the reason, and the rest
// go again. Returns the reasons of the files left out.
std::map<std::string, std::string> recalculate(const agent::Sandbox& sandbox, std::vector<std::string> files) {
  std::map<std::string, std::string> stopped;
  while (!files.empty()) {
    std::string list;
    for (const auto& f : files) list += f + "\n";
    sandbox.write_file("recalc.now", list);
    // HOME: LibreOffice writes its user profile there; the sandbox's own files stay apart.
    const agent::CommandResult r = sandbox.run_bash(
        "export HOME=\"$PWD/.home\"; mapfile -t files < recalc.now; "
        "soffice --headless --norestore --nolockcheck --convert-to xlsx --outdir recalculated \"${files[@]}\"",
        soffice_limits(files.size()));
    std::vector<std::string> left;
    for (const auto& f : files)
      if (!has_file(sandbox, "recalculated/" + fs::path(f).filename().string())) left.push_back(f);
    if (r.ok() || left.empty()) break;  // what is left, LibreOffice could not read (compare says so)
    stopped[left.front()] = "LibreOffice was stopped while recalculating it (" + r.describe() + ")";
    left.erase(left.begin());
    files = std::move(left);
  }
  return stopped;
}

struct SpecCase {
  std::size_t task, index;  // into the work list and its entry's cases
  std::string output;       // name in the checker sandbox
};

}  // namespace

// ---- answer positions ----------------------------------------------------------------------------

std::string Range::text() const {  // quoted as Excel quotes sheet names
  std::string out;
  if (!sheet.empty()) {
    out = "'";
    for (const char c : sheet) out += c == '\'' ? std::string("''") : std::string(1, c);
    out += "'!";
  }
  return out + first + (last == first ? "" : ":" + last);
}

std::vector<Range> parse_answer_position(std::string_view text) {
  const std::string where = "answer position \"" + abbreviate(text, 200) + "\"";
  std::vector<Range> ranges;
  std::size_t total = 0;
  for (const std::string& part : split(text, ',')) {
    Range range;
    std::string cells = part;
    if (const auto bang = part.find('!'); bang != std::string::npos) {
      if (part.find('!', bang + 1) != std::string::npos) throw InputError(where + ": \"" + part + "\" has more than one '!'");
      range.sheet = std::string(trim_chars(std::string_view(part).substr(0, bang), "'"));
      for (auto at = range.sheet.find("''"); at != std::string::npos; at = range.sheet.find("''", at + 1))
        range.sheet.erase(at, 1);  // Excel doubles a quote inside a quoted sheet name
      if (range.sheet.empty()) throw InputError(where + ": \"" + part + "\" has an empty sheet name");
      cells = part.substr(bang + 1);
    }
    const auto corners = split(trim_chars(cells, "' "), ':');
    std::optional<Cell> a = corners.size() <= 2 ? parse_cell(corners.front()) : std::nullopt;
    std::optional<Cell> b = corners.size() == 2 ? parse_cell(corners.back()) : a;
    if (!a || !b) throw InputError(where + ": \"" + part + "\" is not a cell or a range of cells (A1, A1:C7)");
    const Cell first{std::min(a->column, b->column), std::min(a->row, b->row)};
    const Cell last{std::max(a->column, b->column), std::max(a->row, b->row)};
    total += static_cast<std::size_t>(last.column - first.column + 1) * static_cast<std::size_t>(last.row - first.row + 1);
    if (total > kMaxCells) throw InputError(where + ": more than " + std::to_string(kMaxCells) + " cells");
    range.first = cell_name(first);
    range.last = cell_name(last);
    ranges.push_back(std::move(range));
  }
  return ranges;
}

// ---- dataset -------------------------------------------------------------------------------------

std::vector<Entry> read_dataset(const fs::path& dataset_dir) {
  const fs::path file = dataset_dir / "dataset.json";
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(file.string() + ": cannot be read (not a SpreadsheetBench directory?)");
  json data;
  try {
    data = json::parse(in);
  } catch (const json::exception& e) {
    throw InputError(file.string() + ": not valid JSON (" + e.what() + ")");
  }
  if (!data.is_array()) throw InputError(file.string() + ": not a JSON array of tasks");
  std::vector<Entry> entries;
  std::set<std::string> ids;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const json& item = data[i];
    const std::string where = file.string() + ": [" + std::to_string(i) + "]";
    if (!item.is_object()) throw InputError(where + ": not an object");
    Entry entry;
    const auto id = item.find("id");
    if (id == item.end()) throw InputError(where + ": no \"id\"");
    if (id->is_string()) entry.id = id->get<std::string>();
    else if (id->is_number_integer()) entry.id = std::to_string(id->get<long long>());
    else throw InputError(where + ".id: not a string or an integer");
    if (!is_plain_name(entry.id))
      throw InputError(where + ".id: \"" + abbreviate(entry.id, 60) + "\" is not a plain name (letters, digits, '_', '.', '-')");
    if (!ids.insert(entry.id).second) throw InputError(where + ".id: \"" + entry.id + "\" appears twice");
    entry.instruction = string_field(item, "instruction", where);
    entry.instruction_type = item.contains("instruction_type") ? string_field(item, "instruction_type", where) : "";
    entry.answer_position = string_field(item, "answer_position", where);
    try {
      entry.ranges = parse_answer_position(entry.answer_position);
    } catch (const InputError& e) {
      throw InputError(where + " (task " + entry.id + "): " + e.what());
    }
    std::string folder = "spreadsheet/" + entry.id;
    if (item.contains("spreadsheet_path")) {
      folder = string_field(item, "spreadsheet_path", where);
      try {
        agent::Sandbox::check_name(folder);  // relative, no "..": it stays inside the dataset
      } catch (const InputError& e) {
        throw InputError(where + ".spreadsheet_path: " + e.what());
      }
    }
    entry.cases = find_cases(dataset_dir / folder, entry.id, where + " (task " + entry.id + ")");
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.id < b.id; });
  return entries;
}

// ---- verdicts ------------------------------------------------------------------------------------

std::size_t TaskVerdict::passed() const {
  return static_cast<std::size_t>(std::count_if(cases.begin(), cases.end(), [](const CaseVerdict& c) { return c.passed; }));
}

double TaskVerdict::soft() const { return cases.empty() ? 0.0 : static_cast<double>(passed()) / static_cast<double>(cases.size()); }

bool TaskVerdict::hard() const { return !cases.empty() && passed() == cases.size(); }

bool TaskVerdict::missing() const {
  return std::all_of(cases.begin(), cases.end(), [](const CaseVerdict& c) { return c.missing; });
}

std::string TaskVerdict::feedback() const {
  std::string out;
  for (const auto& c : cases)
    out += "test case " + std::to_string(c.number) + " (" + c.output_name + "): " + (c.passed ? "passed: " : "failed: ") + c.reason + "\n";
  return out + std::to_string(passed()) + " of " + std::to_string(cases.size()) + " test cases passed";
}

// ---- checking ------------------------------------------------------------------------------------

std::vector<TaskVerdict> check_outputs(const std::vector<std::pair<const Entry*, CaseOutputs>>& work, const CheckerOptions& options) {
  std::vector<TaskVerdict> verdicts;
  agent::SandboxContents contents;
  contents.files["check.py"] = kCheckScript;
  json spec = json::array();
  std::vector<SpecCase> spec_cases;
  std::uint64_t data_bytes = 0;
  for (std::size_t t = 0; t < work.size(); ++t) {
    const Entry& entry = *work[t].first;
    const CaseOutputs& outputs = work[t].second;
    if (outputs.size() != entry.cases.size())
      throw Error("spreadsheetbench: task " + entry.id + " has " + std::to_string(entry.cases.size()) + " test cases but " +
                  std::to_string(outputs.size()) + " outputs were given");
    TaskVerdict verdict{entry.id, {}};
    for (std::size_t i = 0; i < entry.cases.size(); ++i) {
      const TestCase& c = entry.cases[i];
      CaseVerdict& v = verdict.cases.emplace_back(CaseVerdict{c.number, c.output_name, false, !outputs[i], ""});
      if (v.missing) {
        v.reason = c.output_name + " was not written";
        continue;
      }
      const std::string output = "outputs/" + c.output_name;
      const std::string answer = "answers/" + c.answer.filename().string();
      contents.files[output] = *outputs[i];
      contents.copies.emplace_back(answer, c.answer);
      std::error_code error;
      const auto answer_bytes = fs::file_size(c.answer, error);
      data_bytes += outputs[i]->size() + (error ? 0 : answer_bytes);
      json ranges = json::array();
      for (const Range& r : entry.ranges) ranges.push_back({{"sheet", r.sheet}, {"first", r.first}, {"last", r.last}});
      spec.push_back({{"key", std::to_string(spec_cases.size())},
                      {"output", output},
                      {"recalculated", "recalculated/" + c.output_name},
                      {"answer", answer},
                      {"ranges", ranges}});
      spec_cases.push_back({t, i, output});
    }
    verdicts.push_back(std::move(verdict));
  }
  if (spec_cases.empty()) return verdicts;  // nothing written: no sandbox needed
  contents.files["spec.json"] = json{{"cases", spec}}.dump();
  const agent::Sandbox sandbox = make_checker_sandbox(options, contents, data_bytes);
  const std::string python = std::string(kPython) + " -I -B -W ignore check.py ";

  // Which outputs need a recalculation. Exit 3: the checker's own tools are missing.
  const agent::CommandResult planned = sandbox.run_bash(
      "command -v soffice >/dev/null || { echo 'LibreOffice (soffice) is not installed' >&2; exit 3; }; " + python +
          "plan spec.json recalc.list",
      python_limits(spec_cases.size()));
  if (planned.exit_code == 3 || planned.exit_code == 127)
    throw Error("spreadsheetbench checker cannot run: " + joined_output(planned) + " (run scripts/install-deps)");
  std::vector<std::string> to_recalculate;
  bool have_plan = planned.ok();
  if (have_plan) {
    try {
      to_recalculate = lines_of(sandbox.read_file("recalc.list", std::size_t{16} << 20).bytes);
    } catch (const InputError&) {
      have_plan = false;
    }
  }
  if (!have_plan) {  // a workbook the plan choked on: recalculate them all
    for (const auto& c : spec_cases) to_recalculate.push_back(c.output);
    std::string list;
    for (const auto& name : to_recalculate) list += name + "\n";
    sandbox.write_file("recalc.list", list);
  }
  const std::map<std::string, std::string> stopped = recalculate(sandbox, to_recalculate);

  // The comparison, all cases in one call; when that call fails (a workbook that exhausts a limit),
  // case by case so that only the culprit fails. Returns why a call failed ("" when it did not).
  std::map<std::string, std::pair<bool, std::string>> by_key;  // key -> passed, reason
  const auto run_compare = [&](const std::string& only, std::size_t cases) -> std::string {
    const agent::CommandResult r =
        sandbox.run_bash(python + "compare spec.json recalc.list verdicts.json " + only, python_limits(cases));
    if (!r.ok()) return "the checker was " + r.describe();
    json out;
    try {
      out = json::parse(sandbox.read_file("verdicts.json", std::size_t{64} << 20).bytes, nullptr, false);
    } catch (const InputError&) {
      return "the checker wrote no verdicts";
    }
    if (!out.is_array()) return "the checker's verdicts are unreadable";
    for (const json& v : out) {
      if (!v.is_object() || !v.contains("key") || !v["key"].is_string() || !v.contains("passed") || !v["passed"].is_boolean() ||
          !v.contains("reason") || !v["reason"].is_string())
        return "the checker's verdicts are unreadable";
      by_key[v["key"].get<std::string>()] = {v["passed"].get<bool>(), repair_utf8(v["reason"].get<std::string>())};
    }
    return "";
  };
  if (!run_compare("", spec_cases.size()).empty()) {
    for (std::size_t k = 0; k < spec_cases.size(); ++k) {
      const std::string key = std::to_string(k);
      if (const std::string why = run_compare(key, 1); !why.empty()) by_key[key] = {false, "it could not be checked: " + why};
    }
  }
  for (std::size_t k = 0; k < spec_cases.size(); ++k) {
    CaseVerdict& v = verdicts[spec_cases[k].task].cases[spec_cases[k].index];
    const auto found = by_key.find(std::to_string(k));
    if (found == by_key.end()) {
      v.reason = "it could not be checked: no verdict";
      continue;
    }
    std::tie(v.passed, v.reason) = found->second;
    if (const auto s = stopped.find(spec_cases[k].output); s != stopped.end() && !v.passed) v.reason = s->second;
  }
  return verdicts;
}

Score score_outputs(const std::vector<Entry>& entries, const fs::path& outputs_dir, const CheckerOptions& options) {
  std::error_code error;
  if (!fs::is_directory(outputs_dir, error)) throw InputError(outputs_dir.string() + ": not a directory");
  Score score;
  for (std::size_t start = 0; start < entries.size(); start += kTasksPerBatch) {
    std::vector<std::pair<const Entry*, CaseOutputs>> work;
    std::map<std::pair<std::size_t, std::size_t>, std::string> unusable;  // (task, case) -> why
    for (std::size_t t = start; t < std::min(entries.size(), start + kTasksPerBatch); ++t) {
      CaseOutputs outputs;
      for (const TestCase& c : entries[t].cases) {
        const fs::path file = outputs_dir / c.output_name;
        const auto status = fs::symlink_status(file, error);
        std::optional<std::string> bytes;
        if (fs::is_regular_file(status)) {
          if (fs::file_size(file, error) > kMaxOutputBytes) {
            unusable[{work.size(), outputs.size()}] = c.output_name + " is larger than " + format_bytes(kMaxOutputBytes);
          } else {
            std::ifstream in(file, std::ios::binary);
            std::ostringstream content;
            content << in.rdbuf();
            if (in) bytes = content.str();
          }
        } else if (fs::exists(status)) {
          unusable[{work.size(), outputs.size()}] = c.output_name + " is not a regular file";
        }
        outputs.push_back(std::move(bytes));
      }
      work.emplace_back(&entries[t], std::move(outputs));
    }
    auto verdicts = check_outputs(work, options);
    for (const auto& [at, why] : unusable) {
      verdicts[at.first].cases[at.second].missing = false;
      verdicts[at.first].cases[at.second].reason = why;
    }
    for (auto& v : verdicts) score.tasks.push_back(std::move(v));
  }
  for (const auto& v : score.tasks) {
    score.missing += v.missing();
    score.soft += v.soft();
    score.hard += v.hard() ? 1.0 : 0.0;
  }
  if (!score.tasks.empty()) {
    score.soft /= static_cast<double>(score.tasks.size());
    score.hard /= static_cast<double>(score.tasks.size());
  }
  return score;
}

std::vector<bool> compare_values(const std::vector<std::pair<json, json>>& pairs, const CheckerOptions& options) {
  json list = json::array();
  for (const auto& [a, b] : pairs) list.push_back(json::array({a, b}));  // not {a, b}: that is an object when a is a string
  agent::SandboxContents contents;
  contents.files["check.py"] = kCheckScript;
  contents.files["pairs.json"] = list.dump();
  const agent::Sandbox sandbox = make_checker_sandbox(options, contents, 0);
  const auto r = sandbox.run_bash(std::string(kPython) + " -I -B check.py rules pairs.json same.json", python_limits(1));
  if (!r.ok()) throw Error("spreadsheetbench checker (rules): " + r.describe() + ": " + joined_output(r));
  const json same = json::parse(sandbox.read_file("same.json", std::size_t{16} << 20).bytes);
  return same.get<std::vector<bool>>();
}

// ---- the benchmark -------------------------------------------------------------------------------

namespace {

std::string instruction_for(const Entry& entry) {
  std::string text = "A spreadsheet task with " + std::to_string(entry.cases.size()) +
                     " test cases: apply the same operation to every input workbook.\n\nThe user's request:\n" +
                     entry.instruction + "\n\n";
  if (!entry.instruction_type.empty()) text += "Instruction type: " + entry.instruction_type + "\n";
  std::string ranges;
  bool sheetless = false;
  for (const Range& r : entry.ranges) {
    ranges += (ranges.empty() ? "" : ", ") + r.text();
    sheetless = sheetless || r.sheet.empty();
  }
  text += "Answer position (the cells that are checked): " + ranges +
          (sheetless ? " (a range without a sheet is on the workbook's first sheet)" : "") +
          "\n\nFiles, in the current directory:\n";
  for (const TestCase& c : entry.cases) text += "  " + c.input_name + " -> write the result to " + c.output_name + "\n";
  text +=
      "\nSave each result as an .xlsx workbook under exactly that name, in the same directory, for every test "
      "case. The checker recalculates formulas, then compares every cell of the answer position with the expected "
      "workbook: numbers to 2 decimals, dates by day, times by HH:MM, text exactly.";
  return text;
}

class SpreadsheetBench final : public Benchmark {
 public:
  SpreadsheetBench(std::vector<Entry> entries, CheckerOptions options) : entries_(std::move(entries)), options_(std::move(options)) {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const Entry& e = entries_[i];
      Task task;
      task.id = e.id;
      task.instruction = instruction_for(e);
      for (const TestCase& c : e.cases) {
        task.files.copies.emplace_back(c.input_name, c.input);
        task.files_listed.push_back(c.input_name);
      }
      task.gold = e.answer_position;
      tasks_.push_back(std::move(task));
      index_[e.id] = i;
    }
  }

  std::string name() const override { return "spreadsheetbench"; }
  const std::vector<Task>& tasks() const override { return tasks_; }

  agent::Verdict check(const Task& task, const std::string& /*answer*/, const agent::Sandbox& sandbox) const override {
    const auto found = index_.find(task.id);
    if (found == index_.end()) throw InputError("spreadsheetbench: no task \"" + task.id + "\"");
    const Entry& entry = entries_[found->second];
    CaseOutputs outputs;
    std::map<std::size_t, std::string> unusable;  // case index -> why its file cannot be used
    for (const TestCase& c : entry.cases) {
      std::optional<std::string> bytes;
      try {
        agent::FileContent file = sandbox.read_file(c.output_name, kMaxOutputBytes);
        if (file.truncated) unusable[outputs.size()] = c.output_name + " is larger than " + format_bytes(kMaxOutputBytes);
        else bytes = std::move(file.bytes);
      } catch (const InputError& e) {  // absent, or a link leading out, a directory, ...: lstat tells which
        std::error_code error;
        if (fs::exists(fs::symlink_status(sandbox.path() / c.output_name, error))) unusable[outputs.size()] = e.what();
      }
      outputs.push_back(std::move(bytes));
    }
    TaskVerdict verdict = check_outputs({{&entry, std::move(outputs)}}, options_).front();
    for (const auto& [i, why] : unusable) {
      verdict.cases[i].missing = false;
      verdict.cases[i].reason = why;
    }
    return agent::Verdict{verdict.hard(), verdict.soft(), verdict.feedback()};
  }

 private:
  std::vector<Entry> entries_;
  std::vector<Task> tasks_;
  std::map<std::string, std::size_t> index_;
  CheckerOptions options_;
};

}  // namespace

std::unique_ptr<Benchmark> open(const fs::path& dataset_dir, const json& options, const std::string& where) {
  CheckerOptions checker;
  if (!options.is_null() && !options.is_object()) throw InputError(where + ": not a table of options");
  if (options.is_object()) {
    for (const auto& [key, value] : options.items()) {
      const std::string at = where + "." + key;
      if (key == "kind" || key == "data" || key == "limit") continue;  // the caller's
      if (key == "sandbox_root") {
        if (!value.is_string()) throw InputError(at + ": not a string");
        checker.sandbox_root = value.get<std::string>();
      } else if (key == "isolation") {
        const std::string mode = value.is_string() ? value.get<std::string>() : "";
        if (mode == "required") checker.isolation = agent::Isolation::required;
        else if (mode == "preferred") checker.isolation = agent::Isolation::preferred;
        else throw InputError(at + ": must be \"required\" or \"preferred\"");
      } else {
        throw InputError(at + ": unknown key (allowed: sandbox_root, isolation; kind, data, limit)");
      }
    }
  }
  return std::make_unique<SpreadsheetBench>(read_dataset(dataset_dir), std::move(checker));
}

}  // namespace t2s::benchmarks::spreadsheetbench
