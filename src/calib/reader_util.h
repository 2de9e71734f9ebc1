// SPDX-License-Identifier: Apache-2.0
// Shared by the data readers (one per format, src/calib/*_reader.cpp and sample_folder.cpp): the
// format table open_data() probes in order, and the checks every reader applies to what it read.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ptq/calib/data_reader.h"

namespace ptq::calib {

namespace fs = std::filesystem;

// NaN/Inf in a sample; DataOptions::skip_bad_samples turns it into a skipped sample.
class NonFiniteSample : public DataError {
 public:
  using DataError::DataError;
};

// Checks a tensor read from `origin` against the model input (dtype, rank, static dims; DataError) and
// for NaN/Inf (NonFiniteSample), naming `origin`. Shapes are taken as ONNX Runtime takes them: it feeds
// an input declared as a scalar whatever it is given (onnxruntime-node 1.30: [1] and [1,1] run for a []
// input) and refuses every other rank mismatch ([1,N] for [N], [N] for [1,N], [] for [1]); so a
// one-element array for a scalar input becomes that scalar (`value` is reshaped, with a debug note),
// and the rest must match.
void check_sample_tensor(const ValueInfo& input, Tensor& value, const std::string& origin);

// Entries of `dir` (files or folders, per `folders`) whose lower-case extension is in `extensions`
// (empty: any), sorted by name.
std::vector<fs::path> sorted_entries(const fs::path& dir, bool folders, const std::vector<std::string>& extensions = {});
bool has_extension(const fs::path& path, const std::vector<std::string>& extensions);
// Keeps the first options.max_samples; DataError naming `where` when nothing is left.
template <class T>
void take_first(std::vector<T>& items, const DataOptions& options, const fs::path& where, const std::string& expected) {
  if (items.empty()) PTQ_FAIL(DataError, where.string(), ": no samples (expected ", expected, ")");
  if (options.max_samples > 0 && items.size() > options.max_samples) items.resize(options.max_samples);
}

// A reader whose samples are a list of paths (sample folders or files), in order.
class PathListReader : public DataReader {
 public:
  PathListReader(fs::path root, std::vector<fs::path> samples, std::vector<ValueInfo> inputs)
      : root_(std::move(root)), samples_(std::move(samples)), inputs_(std::move(inputs)) {}
  size_t size() const override { return samples_.size(); }
  std::string describe() const override { return root_.string(); }

 protected:
  fs::path root_;
  std::vector<fs::path> samples_;
  std::vector<ValueInfo> inputs_;
};

struct DataFormat {
  const char* name;
  // True when `path` looks like this format.
  bool (*probe)(const fs::path& path, const std::vector<ValueInfo>& inputs, const DataOptions& options);
  std::unique_ptr<DataReader> (*open)(const fs::path& path, const std::vector<ValueInfo>& inputs,
                                      const DataOptions& options);
};

#define PTQ_DATA_FORMAT(name)                                                                                   \
  bool probe_##name(const fs::path& path, const std::vector<ValueInfo>& inputs, const DataOptions& options);  \
  std::unique_ptr<DataReader> open_##name(const fs::path& path, const std::vector<ValueInfo>& inputs, \
                                          const DataOptions& options)
PTQ_DATA_FORMAT(stacked_npy);
PTQ_DATA_FORMAT(onnx_pb);
PTQ_DATA_FORMAT(npz);
PTQ_DATA_FORMAT(images);
PTQ_DATA_FORMAT(sample_folders);
#undef PTQ_DATA_FORMAT

}  // namespace ptq::calib
