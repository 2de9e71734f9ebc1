// SPDX-License-Identifier: Apache-2.0
// .npz samples (numpy.savez / savez_compressed): a folder of .npz files in name order, or one .npz
// file; each is one sample holding "<input name>.npy" entries (the input name as given to savez, or
// its sanitized form). Decompression by libzip; each file is opened when its sample is read.
#include <zip.h>

#include <algorithm>

#include "ptq/ir/npy.h"
#include "reader_util.h"

namespace ptq::calib {
namespace {

class ZipArchive {
 public:
  explicit ZipArchive(const fs::path& path) : path_(path) {
    int err = 0;
    zip_ = zip_open(path.c_str(), ZIP_RDONLY, &err);
    if (!zip_) {
      zip_error_t error;
      zip_error_init_with_code(&error, err);
      std::string what = zip_error_strerror(&error);
      zip_error_fini(&error);
      PTQ_FAIL(DataError, path.string(), ": not a readable .npz (zip) file: ", what);
    }
  }
  ~ZipArchive() { zip_discard(zip_); }
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  bool has(const std::string& entry) const { return zip_name_locate(zip_, entry.c_str(), 0) >= 0; }

  // Reads in chunks, so a header that declares a huge size costs only what the entry really holds.
  std::string read(const std::string& entry) const {
    zip_stat_t st;
    if (zip_stat(zip_, entry.c_str(), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
      PTQ_FAIL(DataError, path_.string(), ": cannot stat entry '", entry, "'");
    zip_file_t* f = zip_fopen(zip_, entry.c_str(), 0);
    if (!f) PTQ_FAIL(DataError, path_.string(), ": cannot open entry '", entry, "': ", zip_strerror(zip_));
    constexpr zip_uint64_t kChunk = zip_uint64_t{16} << 20;
    std::string bytes;
    zip_int64_t got = 0;
    while (bytes.size() < st.size) {
      const size_t at = bytes.size();
      bytes.resize(at + static_cast<size_t>(std::min(kChunk, st.size - at)));
      got = zip_fread(f, bytes.data() + at, bytes.size() - at);
      if (got <= 0) break;
      bytes.resize(at + static_cast<size_t>(got));
    }
    zip_fclose(f);
    if (got < 0 || bytes.size() != st.size)
      PTQ_FAIL(DataError, path_.string(), ": entry '", entry, "' is truncated or corrupt");
    return bytes;
  }

  std::string entries() const {
    std::string names;
    zip_int64_t n = zip_get_num_entries(zip_, 0);
    for (zip_int64_t i = 0; i < n; ++i) names += (i ? ", " : "") + std::string(zip_get_name(zip_, static_cast<zip_uint64_t>(i), 0));
    return names;
  }

 private:
  fs::path path_;
  zip_t* zip_ = nullptr;
};

class NpzReader : public PathListReader {
 public:
  using PathListReader::PathListReader;

  Sample read(size_t index) const override {
    const fs::path& file = samples_.at(index);
    ZipArchive zip(file);
    Sample s;
    s.id = file.stem().string();
    for (const auto& in : inputs_) {
      std::string entry = in.name + ".npy";
      if (!zip.has(entry)) entry = sanitize_file_name(in.name) + ".npy";
      if (!zip.has(entry))
        PTQ_FAIL(DataError, file.string(), ": no array for input '", in.name, "' (entries: ", zip.entries(), ")");
      const std::string origin = file.string() + ":" + entry;
      Tensor t = parse_npy(zip.read(entry), origin);
      check_sample_tensor(in, t, origin);
      s.tensors[in.name] = std::move(t);
    }
    return s;
  }
};

}  // namespace

bool probe_npz(const fs::path& path, const std::vector<ValueInfo>&, const DataOptions&) {
  if (fs::is_regular_file(path)) return has_extension(path, {".npz"});
  return fs::is_directory(path) && !sorted_entries(path, false, {".npz"}).empty();
}

std::unique_ptr<DataReader> open_npz(const fs::path& path, const std::vector<ValueInfo>& inputs, const DataOptions& options) {
  std::vector<fs::path> files = fs::is_regular_file(path) ? std::vector<fs::path>{path} : sorted_entries(path, false, {".npz"});
  take_first(files, options, path, ".npz files");
  return std::make_unique<NpzReader>(path, std::move(files), inputs);
}

}  // namespace ptq::calib
