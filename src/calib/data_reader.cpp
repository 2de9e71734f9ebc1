// SPDX-License-Identifier: Apache-2.0
// open_data(): probes the formats in table order and opens the first that matches; wraps the reader
// so that samples with NaN/Inf are skipped with a warning under DataOptions::skip_bad_samples.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "ptq/ir/npy.h"
#include "ptq/util/log.h"
#include "reader_util.h"

namespace ptq::calib {
namespace {

// Probed in this order: explicit options first, then file types, then the plain .npy folders.
const DataFormat kFormats[] = {
    {"stacked .npy", &probe_stacked_npy, &open_stacked_npy},
    {"ONNX test data (.pb)", &probe_onnx_pb, &open_onnx_pb},
    {".npz", &probe_npz, &open_npz},
    {"images", &probe_images, &open_images},
    {"sample folders (.npy)", &probe_sample_folders, &open_sample_folders},
};

class SkipBadSamples : public DataReader {
 public:
  explicit SkipBadSamples(std::unique_ptr<DataReader> inner) : inner_(std::move(inner)) {}
  size_t size() const override { return inner_->size(); }
  std::string describe() const override { return inner_->describe(); }
  Sample read(size_t index) const override {
    try {
      return inner_->read(index);
    } catch (const NonFiniteSample& e) {
      log::warn("skipping sample ", index, ": ", e.what());
      Sample s;
      s.id = std::to_string(index);
      s.skipped = true;
      return s;
    }
  }

 private:
  std::unique_ptr<DataReader> inner_;
};

}  // namespace

void check_sample_tensor(const ValueInfo& input, Tensor& value, const std::string& origin) {
  if (input.has_shape && input.dims.empty() && value.rank() > 0 && value.numel() == 1) {
    log::debug(origin, ": input '", input.name, "': the ", shape_str(value.shape()),
               " array is read as the scalar the model declares (as ONNX Runtime accepts it)");
    value = value.reshaped({});
  }
  // float16 data for a float32 input (an fp16 model, which ptq runs in float32: README, fp16 models) is
  // widened, exactly.
  if (input.dtype == DType::Float32 && value.dtype() == DType::Float16) value = cast_tensor(value, DType::Float32);
  exec::check_input(input, value, origin + ": ");
  if (!dtype_is_float(value.dtype())) return;
  Tensor f = value.dtype() == DType::Float32 ? value : cast_tensor(value, DType::Float32);
  const float* x = f.data<float>();
  for (int64_t i = 0; i < f.numel(); ++i)
    if (!std::isfinite(x[i]))
      throw NonFiniteSample(str_cat(origin, ": input '", input.name, "' has a non-finite value (", x[i], ") at flat index ", i));
}

bool has_extension(const fs::path& path, const std::vector<std::string>& extensions) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::find(extensions.begin(), extensions.end(), ext) != extensions.end();
}

std::vector<fs::path> sorted_entries(const fs::path& dir, bool folders, const std::vector<std::string>& extensions) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (folders ? !entry.is_directory() : !entry.is_regular_file()) continue;
    if (!extensions.empty() && !has_extension(entry.path(), extensions)) continue;
    out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::unique_ptr<DataReader> open_data(const fs::path& path, const std::vector<ValueInfo>& inputs,
                                      const DataOptions& options) {
  std::error_code ec;
  if (!fs::exists(path, ec)) PTQ_FAIL(DataError, path.string(), ": no such file or folder");
  for (const DataFormat& f : kFormats) {
    if (!f.probe(path, inputs, options)) continue;
    log::debug("data ", path.string(), ": ", f.name);
    std::unique_ptr<DataReader> reader = f.open(path, inputs, options);
    if (options.skip_bad_samples) reader = std::make_unique<SkipBadSamples>(std::move(reader));
    return reader;
  }
  std::string expected, names;
  for (const auto& in : inputs) expected += (expected.empty() ? "" : ", ") + sanitize_file_name(in.name) + ".npy";
  for (const DataFormat& f : kFormats) names += (names.empty() ? "" : ", ") + std::string(f.name);
  PTQ_FAIL(DataError, path.string(), ": no samples found (expected ", expected,
           " in the folder or in its sample sub-folders; other formats: ", names, ")");
}

}  // namespace ptq::calib
