// core/files: writing a small file so that readers see the old one or the whole new one, never a
// part (a temporary file beside it, renamed over it).
#pragma once

#include <filesystem>
#include <string_view>

namespace t2s {

// Error naming the file when it cannot be written.
void write_file_whole(const std::filesystem::path& path, std::string_view bytes);

}  // namespace t2s
