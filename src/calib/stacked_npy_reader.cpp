// SPDX-License-Identifier: Apache-2.0
// Stacked .npy (DataOptions::batch_axis = a >= 0): "<input name>.npy" files in a folder, or one .npy
// file for a one-input model, each holding N samples stacked along axis a. Sample i is the slice
// i along a, read from disk on demand (only its bytes: `outer` runs of `inner` bytes), with axis a
// kept as size 1 when the model input has the file's rank, dropped when it has one dimension less.
#include <fstream>

#include "ptq/ir/npy.h"
#include "reader_util.h"

namespace ptq::calib {
namespace {

struct StackedFile {
  ValueInfo input;
  fs::path file;
  NpyHeader header;
};

class StackedNpyReader : public DataReader {
 public:
  StackedNpyReader(fs::path root, std::vector<StackedFile> files, size_t axis, size_t count)
      : root_(std::move(root)), files_(std::move(files)), axis_(axis), count_(count) {}

  size_t size() const override { return count_; }
  std::string describe() const override { return root_.string(); }

  Sample read(size_t index) const override {
    Sample s;
    s.id = std::to_string(index);
    for (const StackedFile& f : files_) {
      Tensor t = read_slice(f, index);
      check_sample_tensor(f.input, t, f.file.string() + " [sample " + s.id + "]");
      s.tensors[f.input.name] = std::move(t);
    }
    return s;
  }

 private:
  Tensor read_slice(const StackedFile& f, size_t index) const {
    Shape shape = f.header.shape;
    const int64_t stacked = shape[axis_];
    const bool keep_axis = f.input.has_shape && f.input.dims.size() == shape.size();
    shape[axis_] = 1;
    Tensor t(f.header.dtype, shape);
    int64_t outer = 1;
    for (size_t d = 0; d < axis_; ++d) outer *= shape[d];
    const size_t inner = static_cast<size_t>(outer == 0 ? 0 : t.numel() / outer) * dtype_size(f.header.dtype);
    std::ifstream in(f.file, std::ios::binary);
    if (!in) PTQ_FAIL(IoError, f.file.string(), ": cannot open");
    char* out = static_cast<char*>(t.raw());
    for (int64_t o = 0; o < outer; ++o) {
      const size_t at = f.header.data_offset + (static_cast<size_t>(o * stacked) + index) * inner;
      in.seekg(static_cast<std::streamoff>(at));
      in.read(out + static_cast<size_t>(o) * inner, static_cast<std::streamsize>(inner));
      if (static_cast<size_t>(in.gcount()) != inner) PTQ_FAIL(DataError, f.file.string(), ": truncated .npy data");
    }
    if (keep_axis) return t;
    shape.erase(shape.begin() + static_cast<std::ptrdiff_t>(axis_));
    return t.reshaped(shape);
  }

  fs::path root_;
  std::vector<StackedFile> files_;
  size_t axis_;
  size_t count_;
};

fs::path stacked_file(const fs::path& path, const ValueInfo& input) {
  std::error_code ec;
  return fs::is_directory(path, ec) ? path / (sanitize_file_name(input.name) + ".npy") : path;
}

}  // namespace

bool probe_stacked_npy(const fs::path& path, const std::vector<ValueInfo>& inputs, const DataOptions& options) {
  return options.batch_axis >= 0 && !inputs.empty() &&
         (fs::is_directory(path) || (has_extension(path, {".npy"}) && inputs.size() == 1));
}

std::unique_ptr<DataReader> open_stacked_npy(const fs::path& path, const std::vector<ValueInfo>& inputs,
                                             const DataOptions& options) {
  const size_t axis = static_cast<size_t>(options.batch_axis);
  std::vector<StackedFile> files;
  size_t count = 0;
  for (const auto& in : inputs) {
    fs::path file = stacked_file(path, in);
    std::error_code ec;
    if (!fs::is_regular_file(file, ec))
      PTQ_FAIL(DataError, file.string(), ": missing (--batch-axis expects one stacked .npy per input)");
    NpyHeader h = read_npy_header(file);
    if (axis >= h.shape.size())
      PTQ_FAIL(DataError, file.string(), ": batch axis ", axis, " but the array has shape ", shape_str(h.shape));
    size_t n = static_cast<size_t>(h.shape[axis]);
    if (!files.empty() && n != count)
      PTQ_FAIL(DataError, file.string(), ": ", n, " samples along axis ", axis, ", but ", files[0].file.string(), " has ", count);
    count = n;
    files.push_back({in, file, h});
  }
  std::vector<size_t> indices(count);
  take_first(indices, options, path, "at least one sample along --batch-axis");
  return std::make_unique<StackedNpyReader>(path, std::move(files), axis, indices.size());
}

}  // namespace ptq::calib
