// SPDX-License-Identifier: Apache-2.0
// The sample-folder reader (.npy files named after the model's inputs).
#include <algorithm>

#include "ptq/calib/data_reader.h"
#include "ptq/ir/npy.h"

namespace fs = std::filesystem;

namespace ptq::calib {
namespace {

bool holds_sample(const fs::path& dir, const std::vector<ValueInfo>& inputs) {
  for (const auto& in : inputs) {
    std::error_code ec;
    if (fs::is_regular_file(dir / (sanitize_file_name(in.name) + ".npy"), ec)) return true;
  }
  return false;
}

class SampleFolderReader : public DataReader {
 public:
  SampleFolderReader(fs::path root, std::vector<fs::path> samples, std::vector<ValueInfo> inputs)
      : root_(std::move(root)), samples_(std::move(samples)), inputs_(std::move(inputs)) {}

  size_t size() const override { return samples_.size(); }

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
      exec::check_input(in, t, file.string() + ": ");
      s.tensors[in.name] = std::move(t);
    }
    return s;
  }

  std::string describe() const override { return root_.string(); }

 private:
  fs::path root_;
  std::vector<fs::path> samples_;
  std::vector<ValueInfo> inputs_;
};

}  // namespace

std::unique_ptr<DataReader> open_data(const fs::path& dir, const std::vector<ValueInfo>& inputs,
                                      const DataOptions& options) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) PTQ_FAIL(DataError, dir.string(), ": no such folder");
  if (!fs::is_directory(dir, ec)) PTQ_FAIL(DataError, dir.string(), ": not a folder");
  std::vector<fs::path> samples;
  if (holds_sample(dir, inputs)) {
    samples.push_back(dir);
  } else {
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.is_directory() && holds_sample(entry.path(), inputs)) samples.push_back(entry.path());
    std::sort(samples.begin(), samples.end());
  }
  if (samples.empty()) {
    std::string expected;
    for (const auto& in : inputs) expected += (expected.empty() ? "" : ", ") + sanitize_file_name(in.name) + ".npy";
    PTQ_FAIL(DataError, dir.string(), ": no samples (expected ", expected, " in the folder or in its sample sub-folders)");
  }
  if (options.max_samples > 0 && samples.size() > options.max_samples) samples.resize(options.max_samples);
  return std::make_unique<SampleFolderReader>(dir, std::move(samples), inputs);
}

}  // namespace ptq::calib
