// SPDX-License-Identifier: Apache-2.0
// Data readers: a calibration or evaluation set as a stream of samples (one tensor per model input),
// read from disk on demand so memory does not grow with the number of samples.
//
// Formats (one reader per file in src/calib/, chosen by open_data from what the path holds):
//  - sample folders of .npy: a folder is one sample (files "<input name>.npy") or a folder of sample
//    folders (000/, 001/, … each with "<input name>.npy"), taken in name order. In file names, every
//    character of the input name outside [A-Za-z0-9._-] becomes '_' (sanitize_file_name);
//  - stacked .npy (DataOptions::batch_axis >= 0): "<input name>.npy" files (or one .npy file for a
//    one-input model) holding N samples stacked along batch_axis;
//  - .npz: a folder of .npz files (or one .npz file), each one sample with arrays keyed by input name;
//  - ONNX test data: test_data_set_N/input_K.pb (TensorProto), matched by the tensor's name, else by K;
//  - images (.jpg .jpeg .png .bmp) for a model with one image input, with ImageOptions preprocessing.
// Every tensor is checked against the model input (dtype, rank, static dims) and for NaN/Inf, with
// errors naming the file.
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
  bool skipped = false;     // bad (NaN/Inf) and skipped under DataOptions::skip_bad_samples: no tensors
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

// Image preprocessing: x = (pixel · scale − mean[c]) / std[c], pixels 0..255 in `color` order.
struct ImageOptions {
  std::string preset;              // a file in calibration/presets (by name) or a path; explicit fields override it
  std::vector<int64_t> size;       // output [H, W] (or one value for both); empty: the model input's static dims
  int64_t resize = 0;              // resize the shorter side to this, then centre-crop `size`; 0: resize to `size`
  std::vector<float> mean;         // one value or one per channel; empty: preset's, else 0
  std::vector<float> std;          // one value or one per channel; empty: preset's, else 1
  float scale = 0.0f;              // 0: preset's, else 1
  std::string layout;              // "nchw" | "nhwc"; empty: preset's, else from the model input
  std::string color;               // "rgb" | "bgr" | "gray"; empty: preset's, else rgb (gray for 1 channel)
};

struct DataOptions {
  size_t max_samples = 0;          // 0: all; otherwise the first N in name order
  int batch_axis = -1;             // >= 0: .npy files hold many samples stacked along this axis
  bool skip_bad_samples = false;   // a sample with NaN/Inf: skipped with a warning instead of DataError
  ImageOptions image;
};

// Opens a data folder (or file) for a model with the given inputs. Throws DataError when it is
// missing, empty, or holds no file for some input.
std::unique_ptr<DataReader> open_data(const std::filesystem::path& dir, const std::vector<ValueInfo>& inputs,
                                      const DataOptions& options = {});

// The built-in image presets, "name: description; ...", for --help.
std::string image_preset_help();

}  // namespace ptq::calib
