#include "json_input.hpp"

#include <cerrno>
#include <cstring>

#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"

namespace t2s::trace::detail {

namespace fs = std::filesystem;
using simdjson::dom::element;
using simdjson::dom::element_type;

namespace {
// Large enough that reads are few; larger only costs page faults on first touch.
constexpr std::size_t kReadBlock = std::size_t{1} << 20;
}

// ---------------------------------------------------------------------------------------- InputFile

InputFile::InputFile(const fs::path& path) : name_(path.string()) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw InputError(name_ + ": is a directory, expected a file");
  file_ = std::fopen(name_.c_str(), "rb");
  if (file_ == nullptr) throw InputError(name_ + ": cannot open: " + std::strerror(errno));
  size_ = fs::file_size(path, ec);
  buffer_.resize(kReadBlock, 0);
}

InputFile::~InputFile() {
  if (file_ != nullptr) std::fclose(file_);
}

bool InputFile::refill() {
  if (eof_) return false;
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    consumed_ += begin_;
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() - end_ < kReadBlock / 2) buffer_.resize(end_ + kReadBlock, end_);
  const std::size_t room = buffer_.size() - end_;
  const std::size_t got = std::fread(buffer_.data() + end_, 1, room, file_);
  if (got < room) {
    if (std::ferror(file_)) throw Error(name_ + ": read error: " + std::strerror(errno));
    eof_ = true;
  }
  end_ += got;
  // A UTF-8 byte order mark is not part of the first record.
  if (consumed_ == 0 && begin_ == 0 && end_ >= 3 && std::memcmp(buffer_.data(), "\xEF\xBB\xBF", 3) == 0)
    begin_ = 3;
  return got > 0;
}

bool InputFile::next_line(Line& line, std::size_t max_bytes) {
  std::size_t scanned = 0;  // bytes of the current line already searched for '\n'
  for (;;) {
    const char* start = buffer_.data() + begin_;
    const std::size_t available = end_ - begin_;
    const void* newline = std::memchr(start + scanned, '\n', available - scanned);
    if (newline != nullptr || (eof_ && available > 0)) {
      const std::size_t length =
          newline != nullptr ? static_cast<const char*>(newline) - start : available;
      if (length > max_bytes) break;
      line.number = ++line_number_;
      line.offset = position();
      line.length = length;
      line.oversized = false;
      std::size_t text_length = length;
      if (text_length > 0 && start[text_length - 1] == '\r') --text_length;
      line.text = std::string_view(start, text_length);
      begin_ += newline != nullptr ? length + 1 : length;
      return true;
    }
    if (available > max_bytes) break;
    if (eof_) return false;
    scanned = available;
    refill();
  }
  // The line is longer than max_bytes: keep its first bytes for the report and skip the rest.
  line.number = ++line_number_;
  line.offset = position();
  line.oversized = true;
  constexpr std::size_t kHeadBytes = 4096;
  oversized_head_.clear();
  std::uint64_t length = 0;
  for (;;) {
    const char* start = buffer_.data() + begin_;
    const void* newline = std::memchr(start, '\n', end_ - begin_);
    const std::size_t part = newline != nullptr ? static_cast<const char*>(newline) - start : end_ - begin_;
    if (oversized_head_.size() < kHeadBytes)
      oversized_head_.append(start, std::min(part, kHeadBytes - oversized_head_.size()));
    length += part;
    if (newline != nullptr) {
      begin_ += part + 1;
      break;
    }
    begin_ = end_;
    if (!refill()) break;
  }
  line.length = length;
  line.text = oversized_head_;
  return true;
}

int InputFile::get() {
  if (begin_ == end_ && !refill()) return EOF;
  return static_cast<unsigned char>(buffer_[begin_++]);
}

int InputFile::peek() {
  if (begin_ == end_ && !refill()) return EOF;
  return static_cast<unsigned char>(buffer_[begin_]);
}

// ------------------------------------------------------------------------------------ ArrayStreamer

ArrayStreamer::ArrayStreamer(InputFile& input) : input_(input) {}

void ArrayStreamer::skip_whitespace() {
  for (int c = input_.peek(); c == ' ' || c == '\n' || c == '\r' || c == '\t'; c = input_.peek())
    input_.get();
}

bool ArrayStreamer::next(Element& element, std::size_t max_bytes) {
  if (done_) return false;
  if (!started_) {
    skip_whitespace();
    if (input_.get() != '[')
      throw RecordError("expected a JSON array ('[') at the start of the file");
    started_ = true;
    skip_whitespace();
    if (input_.peek() == ']') {
      input_.get();
      done_ = true;
      return false;
    }
  } else {
    skip_whitespace();
    const int c = input_.get();
    if (c == ']') {
      done_ = true;
      return false;
    }
    if (c == EOF) {
      done_ = ended_without_close_ = true;
      throw RecordError("file ends before the closing ']' of the array (truncated file?)");
    }
    if (c != ',')
      throw RecordError("expected ',' or ']' after element " + std::to_string(index_ - 1) +
                        " at byte " + std::to_string(input_.position() - 1));
    skip_whitespace();
    if (input_.peek() == ']') {  // a trailing comma: not valid JSON, but no record is lost
      input_.get();
      done_ = true;
      return false;
    }
  }

  element.index = index_++;
  element.offset = input_.position();
  element.oversized = false;
  element.truncated = false;
  element.text.clear();
  // Scan one value, tracking nesting and strings; bytes are kept up to max_bytes.
  int depth = 0;
  bool in_string = false, escaped = false;
  std::uint64_t length = 0;
  for (;;) {
    const int c = input_.peek();
    if (c == EOF) {
      element.truncated = depth > 0 || in_string;
      done_ = true;
      break;
    }
    if (!in_string && depth == 0 && length > 0 &&
        (c == ',' || c == ']' || c == ' ' || c == '\n' || c == '\r' || c == '\t'))
      break;
    input_.get();
    ++length;
    if (length <= max_bytes) {
      element.text.push_back(static_cast<char>(c));
    } else if (!element.oversized) {
      element.oversized = true;
      element.text.resize(std::min<std::size_t>(element.text.size(), 4096));
    }
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      // A closer with nothing open is a one-byte bad element; the array goes on after it.
      if (depth == 0 || --depth == 0) break;
    }
  }
  element.length = length;
  return true;
}

// ---------------------------------------------------------------------------------- typed access

std::string_view type_name(element_type type) {
  switch (type) {
    case element_type::ARRAY: return "array";
    case element_type::OBJECT: return "object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: return "number";
    case element_type::STRING: return "string";
    case element_type::BOOL: return "boolean";
    case element_type::NULL_VALUE: return "null";
  }
  return "value";
}

nlohmann::json to_json(element e) {
  switch (e.type()) {
    case element_type::OBJECT: {
      nlohmann::json object = nlohmann::json::object();
      const simdjson::dom::object members = e.get_object().value_unsafe();
      for (auto [key, value] : members) object[std::string(key)] = to_json(value);
      return object;
    }
    case element_type::ARRAY: {
      nlohmann::json array = nlohmann::json::array();
      const simdjson::dom::array elements = e.get_array().value_unsafe();
      for (auto value : elements) array.push_back(to_json(value));
      return array;
    }
    case element_type::INT64: return e.get_int64().value_unsafe();
    case element_type::UINT64: return e.get_uint64().value_unsafe();
    case element_type::DOUBLE: return e.get_double().value_unsafe();
    case element_type::STRING: return std::string(e.get_string().value_unsafe());
    case element_type::BOOL: return e.get_bool().value_unsafe();
    case element_type::NULL_VALUE: return nullptr;
  }
  return nullptr;
}

std::string describe_parse_error(simdjson::error_code code, std::string_view raw) {
  if (code == simdjson::UTF8_ERROR) {
    const std::size_t at = find_invalid_utf8(raw);
    return "invalid UTF-8" +
           (at == std::string_view::npos ? std::string() : " at byte " + std::to_string(at) + " of the record");
  }
  if (code == simdjson::EMPTY) return "empty record";
  switch (code) {
    case simdjson::TAPE_ERROR:
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
      return std::string("malformed JSON (") + simdjson::error_message(code) +
             "; unbalanced brackets or a truncated record?)";
    default:
      return std::string("malformed JSON (") + simdjson::error_message(code) + ")";
  }
}

std::optional<element> field(simdjson::dom::object object, std::string_view key) {
  element value;
  if (object.at_key(key).get(value) != simdjson::SUCCESS) return std::nullopt;
  return value;
}

namespace {
[[noreturn]] void wrong_type(std::string_view path, std::string_view expected, element e) {
  throw RecordError("field \"" + std::string(path) + "\": expected " + std::string(expected) +
                    ", got " + std::string(type_name(e.type())));
}
std::string join(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : std::string(path) + "." + std::string(key);
}
}  // namespace

std::string expect_string(element e, std::string_view path) {
  std::string_view value;
  if (e.get_string().get(value) != simdjson::SUCCESS) wrong_type(path, "a string", e);
  return std::string(value);
}

std::optional<std::string> optional_string(simdjson::dom::object object, std::string_view key,
                                           std::string_view path) {
  auto value = field(object, key);
  if (!value || value->is_null()) return std::nullopt;
  return expect_string(*value, join(path, key));
}

simdjson::dom::object expect_object(element e, std::string_view path) {
  simdjson::dom::object object;
  if (e.get_object().get(object) != simdjson::SUCCESS) wrong_type(path, "an object", e);
  return object;
}

simdjson::dom::array expect_array(element e, std::string_view path) {
  simdjson::dom::array array;
  if (e.get_array().get(array) != simdjson::SUCCESS) wrong_type(path, "an array", e);
  return array;
}

double expect_number(element e, std::string_view path) {
  double value = 0;
  if (!e.is_number() || e.get_double().get(value) != simdjson::SUCCESS) wrong_type(path, "a number", e);
  return value;
}

std::int64_t expect_integer(element e, std::string_view path) {
  std::int64_t value = 0;
  if (e.get_int64().get(value) != simdjson::SUCCESS) wrong_type(path, "an integer", e);
  return value;
}

bool assign_id_text(element e, std::string& out) {
  switch (e.type()) {
    case element_type::STRING: out.assign(e.get_string().value_unsafe()); return true;
    case element_type::INT64: out = std::to_string(e.get_int64().value_unsafe()); return true;
    case element_type::UINT64: out = std::to_string(e.get_uint64().value_unsafe()); return true;
    default: return false;
  }
}

std::optional<std::string> id_text(element e) {
  std::string text;
  if (!assign_id_text(e, text)) return std::nullopt;
  return text;
}

std::string expect_id(element e, std::string_view path) {
  auto text = id_text(e);
  if (!text) wrong_type(path, "a string or an integer", e);
  return std::move(*text);
}

namespace {

// One OpenAI tool call: {"id", "type": "function", "function": {"name", "arguments"}}, parsed into
// `out` (every field is set, so its string storage can be reused).
template <typename Path>
void parse_tool_call(simdjson::dom::object call, const Path& call_path, ToolCall& out) {
  out.id.clear();
  if (auto id = field(call, "id"); id && !assign_id_text(*id, out.id))
    wrong_type(call_path() + ".id", "a string or an integer", *id);
  if (auto type = field(call, "type"); type && !type->is_null()) {
    if (!type->is_string()) wrong_type(call_path() + ".type", "a string", *type);
    if (type->get_string().value_unsafe() != "function")
      throw RecordError("field \"" + call_path() + ".type\": unsupported tool call type \"" +
                        abbreviate(type->get_string().value_unsafe(), 40) + "\" (only \"function\")");
  }
  auto function = field(call, "function");
  if (!function) throw RecordError("field \"" + call_path() + ".function\" is missing");
  simdjson::dom::object function_object;
  if (function->get_object().get(function_object) != simdjson::SUCCESS)
    wrong_type(call_path() + ".function", "an object", *function);
  auto name = field(function_object, "name");
  if (!name) throw RecordError("field \"" + call_path() + ".function.name\" is missing");
  if (!name->is_string()) wrong_type(call_path() + ".function.name", "a string", *name);
  out.name.assign(name->get_string().value_unsafe());
  out.arguments.clear();
  if (auto arguments = field(function_object, "arguments")) {
    // OpenAI sends a JSON-encoded string; some logs keep the object itself.
    if (arguments->is_string())
      out.arguments.assign(arguments->get_string().value_unsafe());
    else if (arguments->is_object())
      out.arguments = to_json(*arguments).dump();
    else
      wrong_type(call_path() + ".function.arguments", "a string or an object", *arguments);
  }
}

// Sets `target` to a string value, reusing the string it may already hold.
void assign_string(nlohmann::json& target, std::string_view value) {
  if (!target.is_string()) target = std::string();
  target.get_ref<std::string&>().assign(value);
}

}  // namespace

void parse_message(element e, std::string_view array_path, std::size_t index, Message& message) {
  // Field paths ("messages[3].role") are only built for error messages: building one per field of
  // every message was a measurable share of ingest time.
  auto path = [&] { return std::string(array_path) + "[" + std::to_string(index) + "]"; };
  simdjson::dom::object object;
  if (e.get_object().get(object) != simdjson::SUCCESS) wrong_type(path(), "an object", e);
  // Every field is reset here, as the message may hold the previous record's values.
  message.name.clear();
  message.tool_call_id.clear();
  message.extra = nullptr;
  bool has_role = false, has_content = false;
  std::size_t n_calls = 0;
  for (auto [key, value] : object) {
    auto where = [&, key = key] { return path() + "." + std::string(key); };
    if (key == "role") {
      if (!value.is_string()) wrong_type(where(), "a string", value);
      message.role.assign(value.get_string().value_unsafe());
      has_role = true;
    } else if (key == "content") {
      if (value.is_string()) assign_string(message.content, value.get_string().value_unsafe());
      else if (value.is_null() || value.is_array()) message.content = to_json(value);
      else wrong_type(where(), "a string, null or an array of content parts", value);
      has_content = true;
    } else if (key == "name") {
      if (value.is_null()) continue;
      if (!value.is_string()) wrong_type(where(), "a string", value);
      message.name.assign(value.get_string().value_unsafe());
    } else if (key == "tool_call_id") {
      if (value.is_null()) continue;
      if (!assign_id_text(value, message.tool_call_id)) wrong_type(where(), "a string or an integer", value);
    } else if (key == "tool_calls") {
      if (value.is_null()) continue;
      simdjson::dom::array calls;
      if (value.get_array().get(calls) != simdjson::SUCCESS) wrong_type(where(), "an array", value);
      for (auto call_element : calls) {
        auto call_path = [&, i = n_calls] { return where() + "[" + std::to_string(i) + "]"; };
        simdjson::dom::object call;
        if (call_element.get_object().get(call) != simdjson::SUCCESS) wrong_type(call_path(), "an object", call_element);
        if (message.tool_calls.size() <= n_calls) message.tool_calls.emplace_back();
        parse_tool_call(call, call_path, message.tool_calls[n_calls++]);
      }
    } else {
      message.extra[std::string(key)] = to_json(value);
    }
  }
  message.tool_calls.resize(n_calls);
  if (!has_content) message.content = nullptr;
  if (!has_role) throw RecordError("field \"" + path() + ".role\" is missing");
  if (!is_known_role(message.role))
    throw RecordError("field \"" + path() + ".role\": unknown role \"" + abbreviate(message.role, 40) +
                      "\" (expected system, developer, user, assistant, tool or function)");
}

Message parse_message(element e, std::string_view array_path, std::size_t index) {
  Message message;
  parse_message(e, array_path, index, message);
  return message;
}

void parse_messages(element e, std::string_view path, std::vector<Message>& messages) {
  const auto array = expect_array(e, path);
  if (array.size() == 0) throw RecordError("field \"" + std::string(path) + "\" is empty: a trajectory needs messages");
  messages.resize(array.size());
  std::size_t i = 0;
  for (auto value : array) {
    parse_message(value, path, i, messages[i]);
    ++i;
  }
}

std::vector<Message> parse_messages(element e, std::string_view path) {
  std::vector<Message> messages;
  parse_messages(e, path, messages);
  return messages;
}

}  // namespace t2s::trace::detail
