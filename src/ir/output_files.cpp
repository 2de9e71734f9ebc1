// SPDX-License-Identifier: Apache-2.0
// TempFile, refuse_protected and commit_temp (see output_files.h).
#include "output_files.h"

#include <unistd.h>

#include <string>

#include "ptq/util/error.h"

namespace fs = std::filesystem;

namespace ptq::onnx_io {
namespace {

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

fs::path temp_path_for(const fs::path& path) {
  return path.parent_path() / ("." + path.filename().string() + ".tmp" + std::to_string(::getpid()));
}

}  // namespace

void refuse_protected(const fs::path& path, const std::vector<fs::path>& protected_paths) {
  for (const auto& p : protected_paths)
    if (same_file(path, p))
      PTQ_FAIL(IoError, "refusing to write ", path.string(), ": it is the input model or one of its data files");
}

void commit_temp(const fs::path& tmp, const fs::path& path) {
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    PTQ_FAIL(IoError, "cannot write ", path.string(), ": rename failed: ", ec.message());
  }
}

TempFile::TempFile(const fs::path& target)
    : target_(target), tmp_(temp_path_for(target)), out_(tmp_, std::ios::binary | std::ios::trunc) {
  if (!out_) PTQ_FAIL(IoError, "cannot write ", target.string(), ": cannot create a file in ", tmp_.parent_path().string());
}

TempFile::~TempFile() {
  out_.close();
  std::error_code ec;
  fs::remove(tmp_, ec);
}

void TempFile::flush() {
  out_.flush();
  if (!out_) PTQ_FAIL(IoError, "cannot write ", target_.string(), ": write failed (disk full?)");
}

void TempFile::finish() {
  flush();
  out_.close();
}

}  // namespace ptq::onnx_io
