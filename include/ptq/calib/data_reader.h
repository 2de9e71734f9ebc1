// SPDX-License-Identifier: Apache-2.0
// Data readers: a calibration or evaluation set as a stream of samples (one tensor per model input),
// read from disk on demand so memory does not grow with the number of samples.
//
// Sample-folder layout: a data folder is either one sample (files "<input name>.npy") or a folder of
// sample folders (000/, 001/, … each with "<input name>.npy"), taken in name order. In file names,
// every character of the input name outside [A-Za-z0-9._-] becomes '_' (sanitize_file_name).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ptq/exec/executor.h"

namespace ptq::calib {

struct Sample {
  std::string id;           // sample folder name (or file name) for messages and output folders
  exec::TensorMap tensors;  // input name -> tensor
};

class DataReader {
 public:
  virtual ~DataReader() = default;
  virtual size_t size() const = 0;
  // Reads sample `index` (0 <= index < size()), validated against the model's inputs; throws
  // DataError naming the file.
  virtual Sample read(size_t index) const = 0;
  // Where the data comes from, for messages.
  virtual std::string describe() const = 0;
};

struct DataOptions {
  size_t max_samples = 0;  // 0: all; otherwise the first N in name order
};

// Opens a data folder for a model with the given inputs. Throws DataError when the folder is missing,
// empty, or holds no file for some input.
std::unique_ptr<DataReader> open_data(const std::filesystem::path& dir, const std::vector<ValueInfo>& inputs,
                                      const DataOptions& options = {});

}  // namespace ptq::calib
