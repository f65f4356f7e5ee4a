// store/chunk_stream (internal): streams bytes into a chunked, deflated HDF5 dataset, compressing
// whole chunks with libdeflate (on a thread pool when given) and writing them with H5Dwrite_chunk.
// Used by the trajectory store (text blob, id column) and the LLM recordings.
#pragma once

#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <string_view>
#include <vector>

#include "t2s/core/thread_pool.hpp"
#include "t2s/store/hdf5.hpp"

namespace t2s::store {

// zlib-format deflate of one chunk (what HDF5's standard deflate filter, and h5py, read back).
std::vector<std::uint8_t> deflate_chunk(const std::vector<std::uint8_t>& data, int level);

// A column of fixed-size elements written as a byte stream (the text blob; the id column): whole
// chunks are deflated on the pool and written in order with H5Dwrite_chunk, so compression runs in
// parallel and off the thread that feeds the writer. The dataset must have deflate as its only filter.
class ChunkStreamWriter {
 public:
  // Two chunks in flight per thread keep every thread busy; more only added page faults.
  // Without a pool, chunks are deflated on the calling thread.
  ChunkStreamWriter(h5::AppendableDataset& dataset, std::size_t element_size, std::size_t chunk_elements,
                    int level, ThreadPool* pool)
      : dataset_(dataset), element_size_(element_size), chunk_bytes_(element_size * chunk_elements),
        level_(level), pool_(pool), max_in_flight_(pool != nullptr ? 2 * pool->size() : 1) {
    current_.reserve(chunk_bytes_);
  }

  void append(std::string_view bytes) {
    while (!bytes.empty()) {
      const std::size_t take = std::min(chunk_bytes_ - current_.size(), bytes.size());
      current_.insert(current_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
      bytes.remove_prefix(take);
      total_ += take;
      if (current_.size() == chunk_bytes_) submit();
    }
  }

  // Flushes the last, partial chunk (zero-padded: HDF5 chunks are whole) and waits for all writes.
  void finish() {
    if (!current_.empty()) submit();
    while (!pending_.empty()) write_oldest();
  }

  std::uint64_t total() const { return total_; }  // bytes appended

 private:
  void submit() {
    current_.resize(chunk_bytes_, 0);
    auto chunk = std::make_shared<std::vector<std::uint8_t>>(std::move(current_));
    auto compress = [chunk, level = level_] { return level > 0 ? deflate_chunk(*chunk, level) : *chunk; };
    std::future<std::vector<std::uint8_t>> compressed;
    if (pool_ != nullptr) {
      compressed = pool_->submit(compress);
    } else {
      std::promise<std::vector<std::uint8_t>> done;
      done.set_value(compress());
      compressed = done.get_future();
    }
    pending_.push_back({next_index_++, std::move(chunk), std::move(compressed)});
    current_ = take_spare();
    while (pending_.size() >= max_in_flight_) write_oldest();  // bounds memory
  }

  void write_oldest() {
    Pending& oldest = pending_.front();
    const std::vector<std::uint8_t> compressed = oldest.compressed.get();  // rethrows a worker's failure
    const std::uint64_t end_bytes = std::min<std::uint64_t>((oldest.index + 1) * chunk_bytes_, total_);
    dataset_.write_compressed_chunk(oldest.index, compressed, end_bytes / element_size_);
    // Chunk buffers are recycled: a fresh 1 MiB allocation per chunk costs page faults.
    oldest.chunk->clear();
    spares_.push_back(std::move(*oldest.chunk));
    pending_.pop_front();
  }

  std::vector<std::uint8_t> take_spare() {
    std::vector<std::uint8_t> buffer;
    if (!spares_.empty()) {
      buffer = std::move(spares_.back());
      spares_.pop_back();
    }
    buffer.reserve(chunk_bytes_);
    return buffer;
  }

  struct Pending {
    std::uint64_t index;
    std::shared_ptr<std::vector<std::uint8_t>> chunk;
    std::future<std::vector<std::uint8_t>> compressed;
  };

  h5::AppendableDataset& dataset_;
  std::size_t element_size_, chunk_bytes_;
  int level_;
  ThreadPool* pool_;
  std::size_t max_in_flight_;
  std::vector<std::uint8_t> current_;
  std::uint64_t next_index_ = 0, total_ = 0;
  std::deque<Pending> pending_;
  std::vector<std::vector<std::uint8_t>> spares_;
};

}  // namespace t2s::store
