// store/llm_recording: recorded model exchanges in HDF5, for exact replay.
//
// Each rank writes its own file (ranks never share an HDF5 file); a reader merges the index of every
// recording file in a directory, so a replay finds an exchange whatever rank recorded it, and the
// recordings of one run can be shared with another. A file holds, per exchange, the request key, the
// stage, and the request and response text in one deflated blob:
//   /llm/key S64, /llm/stage vlen UTF-8, /llm/offset u64, /llm/request_length u64,
//   /llm/response_length u64, /llm/text u8 (request bytes, then response bytes, at offset)
//   root attributes: format = "trace2skill/llm-recordings", format_version = 1, created_by
// A file is written under "<name>.partial" and renamed when closed: a crash leaves no half file
// (readers ignore .partial files). So that a crash or a Slurm time limit loses little, a writer
// closes its file every 512 exchanges or 2 minutes and goes on in the next one: "X.llm.h5",
// "X.1.llm.h5", "X.2.llm.h5", ... Recordings are never overwritten.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "t2s/llm/recorder.hpp"

namespace t2s::store {

class RecordingStore : public llm::Recorder {
 public:
  // Reads the index of every "*.llm.h5" file directly in each directory of `read_paths` (missing
  // directories are skipped) and of every run archive (run.h5: the recordings of its run, under
  // /llm/<file name>) named there; new exchanges go to `write_file` when given (named "X.llm.h5";
  // InputError when it exists already, or has another suffix).
  RecordingStore(const std::vector<std::filesystem::path>& read_paths, std::optional<std::filesystem::path> write_file);
  ~RecordingStore() override;  // closes (commits) the written file; errors are reported by close()

  std::optional<std::string> find(const std::string& key) override;
  void store(const std::string& key, const std::string& stage, const std::string& request,
             const std::string& response) override;

  // Finishes the file being written and renames it into place. Idempotent.
  void close();

  std::size_t recorded() const { return recorded_; }  // exchanges written by this store
  std::vector<std::filesystem::path> written_files() const { return written_files_; }
  std::size_t indexed() const { return index_.size() + written_.size(); }  // exchanges findable

 private:
  struct Location {
    std::size_t file;  // index into files_
    std::uint64_t offset, request_length, response_length;
  };
  struct ReadFile;
  struct Writer;
  std::vector<std::unique_ptr<ReadFile>> files_;
  std::unique_ptr<Writer> writer_;
  std::filesystem::path write_base_;  // "dir/X" of "dir/X.llm.h5"; empty: read only
  std::vector<std::filesystem::path> written_files_;
  std::size_t recorded_ = 0;
  std::map<std::string, Location> index_;
  // Responses written here, kept so that a request repeated within the run gets the recorded
  // answer, exactly as a replay of the run will.
  std::map<std::string, std::string> written_;
};

}  // namespace t2s::store
