// SPDX-License-Identifier: Apache-2.0
// What the model writers share (onnx_writer.cpp, data_file_writer.cpp): temp files beside their target,
// renamed over it when complete, and the refusal to write over the input model or its data.
#pragma once

#include <filesystem>
#include <fstream>
#include <vector>

namespace ptq::onnx_io {

// IoError "refusing to write PATH: it is the input model or one of its data files" when `path` is one of
// `protected_paths` (compared as files: links and relative spellings included).
void refuse_protected(const std::filesystem::path& path, const std::vector<std::filesystem::path>& protected_paths);

// Renames `tmp` over `path` (removing `tmp` when that fails). Throws IoError.
void commit_temp(const std::filesystem::path& tmp, const std::filesystem::path& path);

// A temp file next to `target`, written through stream(); finish() checks that every write
// succeeded. Whatever has not been renamed over the target by the end is removed.
class TempFile {
 public:
  explicit TempFile(const std::filesystem::path& target);
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile();
  std::ofstream& stream() { return out_; }
  const std::filesystem::path& path() const { return tmp_; }
  // Flushes, checks every write and closes. Throws IoError naming the target.
  void finish();
  // Flushes and checks the writes so far, leaving the file open. Throws IoError naming the target.
  void flush();

 private:
  std::filesystem::path target_, tmp_;
  std::ofstream out_;
};

}  // namespace ptq::onnx_io
