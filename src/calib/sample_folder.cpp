// SPDX-License-Identifier: Apache-2.0
// Sample folders of .npy files named after the model's inputs: the folder itself is one sample, or
// each sub-folder (in name order) is one.
#include "ptq/ir/npy.h"
#include "reader_util.h"

namespace ptq::calib {
namespace {

bool holds_sample(const fs::path& dir, const std::vector<ValueInfo>& inputs) {
  for (const auto& in : inputs) {
    std::error_code ec;
    if (fs::is_regular_file(dir / (sanitize_file_name(in.name) + ".npy"), ec)) return true;
  }
  return false;
}

class SampleFolderReader : public PathListReader {
 public:
  using PathListReader::PathListReader;


  Sample read(size_t index) const override {
    const fs::path& dir = samples_.at(index);
    Sample s;
    s.id = dir == root_ ? std::string() : dir.filename().string();
    for (const auto& in : inputs_) {
      fs::path file = dir / (sanitize_file_name(in.name) + ".npy");
      std::error_code ec;
      if (!fs::is_regular_file(file, ec))
        PTQ_FAIL(DataError, file.string(), ": missing (sample '", s.id, "' has no file for input '", in.name, "')");
      Tensor t = read_npy(file);
      check_sample_tensor(in, t, file.string());
      s.tensors[in.name] = std::move(t);
    }
    return s;
  }
};

}  // namespace

bool probe_sample_folders(const fs::path& path, const std::vector<ValueInfo>& inputs, const DataOptions&) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return false;
  if (holds_sample(path, inputs)) return true;
  for (const auto& dir : sorted_entries(path, true))
    if (holds_sample(dir, inputs)) return true;
  return false;
}

std::unique_ptr<DataReader> open_sample_folders(const fs::path& path, const std::vector<ValueInfo>& inputs,
                                                const DataOptions& options) {
  std::vector<fs::path> samples;
  if (holds_sample(path, inputs)) {
    samples.push_back(path);
  } else {
    for (const auto& dir : sorted_entries(path, true))
      if (holds_sample(dir, inputs)) samples.push_back(dir);
  }
  take_first(samples, options, path, "sample folders of .npy files");
  return std::make_unique<SampleFolderReader>(path, std::move(samples), inputs);
}

}  // namespace ptq::calib
