// store/ingest: external trajectory files → a trajectory store, with every record accounted for.
//
// read = accepted + duplicates + quarantined, per input and in total. Bad records are reported
// (file, line or index, reason) and written to a quarantine JSONL file; in strict mode the first bad
// record fails the whole ingest and no store is written.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "t2s/store/trajectory_store.hpp"
#include "t2s/trace/readers.hpp"

namespace t2s::store {

struct IngestOptions {
  std::optional<trace::Format> format;  // nullopt: detect per file
  trace::ReaderOptions reader;
  StoreWriteOptions store;
  std::filesystem::path output;
  std::filesystem::path quarantine;     // empty: "<output>.quarantine.jsonl"
  bool strict = false;
  // Called with one line per problem (bad record, empty input), as it happens.
  std::function<void(const std::string&)> warn;
};

struct IngestCounts {
  std::uint64_t read = 0, accepted = 0, duplicates = 0, quarantined = 0;
  IngestCounts& operator+=(const IngestCounts& other);
};

struct InputSummary {
  std::filesystem::path file;
  trace::Format format;
  std::uint64_t bytes = 0;
  IngestCounts counts;
};

struct IngestSummary {
  std::vector<InputSummary> inputs;
  IngestCounts total;
  std::uint64_t successes = 0, failures = 0, unlabelled = 0;
  std::uint64_t input_bytes = 0, text_bytes = 0, output_bytes = 0;
  std::filesystem::path output, quarantine;  // quarantine is empty when nothing was quarantined
};

IngestSummary ingest(const std::vector<std::filesystem::path>& inputs, const IngestOptions& options);

// What the labels of a store's trajectories lack for `evolve`'s analysts, one warning per line,
// naming `store`: no label at all, some trajectories unlabelled, or only one outcome (all succeeded
// or all failed). Empty when both outcomes are present and every trajectory is labelled, or when
// there are no trajectories. `t2s ingest` prints these for the store it wrote, `t2s inspect` for
// the store it reads.
std::vector<std::string> label_warnings(const std::string& store, std::uint64_t successes, std::uint64_t failures,
                                        std::uint64_t unlabelled);

}  // namespace t2s::store
