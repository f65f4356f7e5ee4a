#include "t2s/core/files.hpp"

#include <fstream>

#include "t2s/core/error.hpp"

namespace t2s {

void write_file_whole(const std::filesystem::path& path, std::string_view bytes) {
  std::filesystem::path partial = path;
  partial += ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) throw Error(path.string() + ": cannot be written");
  }
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) throw Error(path.string() + ": cannot be written (" + ec.message() + ")");
}

}  // namespace t2s
