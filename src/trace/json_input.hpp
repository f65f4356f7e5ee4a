// Private to the trace module: streaming access to JSON inputs and typed field access with
// error messages that name the field. Records are parsed with simdjson (fast, validates UTF-8).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include <nlohmann/json.hpp>

#include "t2s/trace/trajectory.hpp"

namespace t2s::trace::detail {

// A problem with one record; the reader turns it into a BadRecord and goes on.
class RecordError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A byte buffer that is not zero-filled when it grows: fread overwrites it anyway, and zero-filling
// megabytes per input file showed up in profiles.
class ByteBuffer {
 public:
  char* data() { return data_.get(); }
  const char* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  char operator[](std::size_t i) const { return data_[i]; }
  // Grows (or shrinks) to `size` bytes keeping the first `keep`.
  void resize(std::size_t size, std::size_t keep) {
    auto bigger = std::make_unique_for_overwrite<char[]>(size);
    if (keep > 0) std::memcpy(bigger.get(), data_.get(), std::min(keep, size));
    data_ = std::move(bigger);
    size_ = size;
  }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
};

// Buffered, streaming file input: lines (JSONL) or single bytes (the array streamer).
class InputFile {
 public:
  explicit InputFile(const std::filesystem::path& path);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& name() const { return name_; }
  std::uint64_t size() const { return size_; }

  // One line without its terminator ("\n" or "\r\n"). A line longer than max_bytes is skipped
  // without being buffered: `oversized` is set and `text` holds only its first bytes.
  struct Line {
    std::string_view text;
    std::uint64_t number = 0;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;  // full length, even when oversized
    bool oversized = false;
  };
  bool next_line(Line& line, std::size_t max_bytes);

  // Low-level byte access for the array streamer: the next byte, or EOF.
  int get();
  int peek();
  std::uint64_t position() const { return consumed_ + begin_; }

 private:
  bool refill();  // moves the unread tail to the front and reads more; false at end of file

  std::string name_;
  std::FILE* file_ = nullptr;
  std::uint64_t size_ = 0;
  ByteBuffer buffer_;
  std::size_t begin_ = 0, end_ = 0;  // unread bytes are buffer_[begin_, end_)
  std::uint64_t consumed_ = 0;       // file offset of buffer_[0]
  std::uint64_t line_number_ = 0;
  std::string oversized_head_;  // first bytes of the last oversized line
  bool eof_ = false;
};

// Streams the elements of a top-level JSON array (`[e0, e1, ...]`) one at a time.
class ArrayStreamer {
 public:
  explicit ArrayStreamer(InputFile& input);

  struct Element {
    std::string text;
    std::uint64_t index = 0;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    bool oversized = false;   // longer than max_bytes; text holds only its first bytes
    bool truncated = false;   // the file ended inside it
  };
  // False when the array is done. Throws RecordError for a malformed array structure.
  bool next(Element& element, std::size_t max_bytes);
  // True once the opening '[' was found: before that, the file is no array at all.
  bool started() const { return started_; }
  // True when the file ended where the closing ']' should have been: no element is missing.
  bool ended_without_close() const { return ended_without_close_; }

 private:
  void skip_whitespace();
  InputFile& input_;
  std::uint64_t index_ = 0;
  bool started_ = false, done_ = false, ended_without_close_ = false;
};

// ---- typed access to parsed records; every failure names the field path ----

std::string_view type_name(simdjson::dom::element_type type);
nlohmann::json to_json(simdjson::dom::element element);
std::string describe_parse_error(simdjson::error_code code, std::string_view raw);

std::optional<simdjson::dom::element> field(simdjson::dom::object object, std::string_view key);
std::string expect_string(simdjson::dom::element element, std::string_view path);
std::optional<std::string> optional_string(simdjson::dom::object object, std::string_view key,
                                           std::string_view path);
simdjson::dom::object expect_object(simdjson::dom::element element, std::string_view path);
simdjson::dom::array expect_array(simdjson::dom::element element, std::string_view path);
double expect_number(simdjson::dom::element element, std::string_view path);
std::int64_t expect_integer(simdjson::dom::element element, std::string_view path);
// Ids may be numbers or strings in the wild; both become strings (nullopt: neither).
std::optional<std::string> id_text(simdjson::dom::element element);
bool assign_id_text(simdjson::dom::element element, std::string& out);  // false: neither
std::string expect_id(simdjson::dom::element element, std::string_view path);

// An OpenAI chat message (element `index` of the array at `array_path`) / a message list. The paths
// appear in error messages. The overloads with an output parse into existing messages and reuse
// their strings' storage: ingest parses every record of a worker into one scratch trajectory,
// which saves most of its allocations.
Message parse_message(simdjson::dom::element element, std::string_view array_path, std::size_t index);
void parse_message(simdjson::dom::element element, std::string_view array_path, std::size_t index, Message& out);
std::vector<Message> parse_messages(simdjson::dom::element element, std::string_view path);
void parse_messages(simdjson::dom::element element, std::string_view path, std::vector<Message>& out);

}  // namespace t2s::trace::detail
