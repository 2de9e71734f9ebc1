// SPDX-License-Identifier: Apache-2.0
// Shared by the fuzz targets: a scratch folder per process for the readers that take paths, and the
// rule every target applies: a ptq::Error (a clear message naming the file) is the expected outcome of
// a bad input; any other exception escapes to libFuzzer, which reports it as a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "ptq/util/error.h"
#include "ptq/util/log.h"

namespace ptq::fuzz {

namespace fs = std::filesystem;

inline const fs::path& scratch_dir() {
  static const fs::path dir = [] {
    std::string tmpl = (fs::temp_directory_path() / "ptq_fuzz_XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    std::atexit([] { std::error_code ec; fs::remove_all(scratch_dir(), ec); });
    return fs::path(tmpl);
  }();
  return dir;
}

// Writes the input to `relative` under the scratch folder (parents created) and returns its path.
inline fs::path write_scratch(const fs::path& relative, const uint8_t* data, size_t size) {
  fs::path path = scratch_dir() / relative;
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

inline void quiet_logs() { log::set_level(log::Level::Off); }

// Runs fn; a ptq::Error is the expected answer to a bad input.
template <class Fn>
int expect_clean(Fn&& fn) {
  try {
    fn();
  } catch (const ptq::Error&) {
  }
  return 0;
}

}  // namespace ptq::fuzz
