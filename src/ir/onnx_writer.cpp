// SPDX-License-Identifier: Apache-2.0
// Saving models. The file is written to a temp file in the destination folder and renamed, so a reader
// never sees half a model. Models whose serialized size would exceed protobuf's 2 GB limit (or on
// request) keep their large tensors in "<model file name>.data": offsets aligned to 4096 bytes,
// external_data = {location, offset, length}, as ONNX's Python helpers and ONNX Runtime expect.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>

#include "ptq/ir/onnx_io.h"
#include "ptq/util/log.h"

namespace fs = std::filesystem;

namespace ptq::onnx_io {
namespace {

constexpr size_t kExternalAlignment = 4096;

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

void refuse_protected(const fs::path& path, const SaveOptions& options) {
  for (const auto& p : options.protected_paths)
    if (same_file(path, p))
      PTQ_FAIL(IoError, "refusing to write ", path.string(), ": it is the input model or one of its data files");
}

fs::path temp_path_for(const fs::path& path) {
  return path.parent_path() / ("." + path.filename().string() + ".tmp" + std::to_string(::getpid()));
}

// A temp file next to `target`, written through stream(); finish() checks that every write
// succeeded. Whatever has not been renamed over the target by the end is removed.
class TempFile {
 public:
  explicit TempFile(const fs::path& target)
      : target_(target), tmp_(temp_path_for(target)), out_(tmp_, std::ios::binary | std::ios::trunc) {
    if (!out_) PTQ_FAIL(IoError, "cannot write ", target.string(), ": cannot create a file in ", tmp_.parent_path().string());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    out_.close();
    std::error_code ec;
    fs::remove(tmp_, ec);
  }
  std::ofstream& stream() { return out_; }
  const fs::path& path() const { return tmp_; }
  void finish() {
    out_.flush();
    if (!out_) PTQ_FAIL(IoError, "cannot write ", target_.string(), ": write failed (disk full?)");
    out_.close();
  }

 private:
  fs::path target_, tmp_;
  std::ofstream out_;
};

// The data file being written: tensors appended at 4096-byte aligned offsets.
class DataFile {
 public:
  explicit DataFile(TempFile& file) : file_(file) {}
  // Appends n bytes; returns their offset.
  size_t append(const char* data, size_t n) {
    size_t offset = (size_ + kExternalAlignment - 1) / kExternalAlignment * kExternalAlignment;
    static const char zeros[kExternalAlignment] = {};
    file_.stream().write(zeros, static_cast<std::streamsize>(offset - size_));
    file_.stream().write(data, static_cast<std::streamsize>(n));
    size_ = offset + n;
    return offset;
  }
  size_t size() const { return size_; }

 private:
  TempFile& file_;
  size_t size_ = 0;
};

// The view of a tensor that save_model must write from a mapping, or nullptr.
const Tensor* mapped_value(const onnx::TensorProto& t, const SaveOptions& options) {
  if (!options.mapped || t.data_location() != onnx::TensorProto::EXTERNAL) return nullptr;
  auto it = options.mapped->find(t.name());
  return it == options.mapped->end() ? nullptr : &it->second;
}

void set_inline(onnx::TensorProto& t, const Tensor& value) {
  t.set_raw_data(value.raw(), value.nbytes());
  t.clear_external_data();
  t.set_data_location(onnx::TensorProto::DEFAULT);
}

// Moves large tensors' bytes out of the model into the data file, tensor by tensor (mapped ones
// straight from their mapping).
void externalize(onnx::ModelProto& model, const std::string& location, size_t threshold, const SaveOptions& options,
                 DataFile& file) {
  for_each_tensor(*model.mutable_graph(), [&](onnx::TensorProto& t) {
    const Tensor* mapped = mapped_value(t, options);
    if (mapped && mapped->nbytes() < threshold) {
      set_inline(t, *mapped);
      return;
    }
    if (t.data_location() == onnx::TensorProto::EXTERNAL && !mapped) return;
    if (!mapped && !t.has_raw_data()) {
      DType dtype = dtype_from_onnx(t.data_type());
      if (dtype == DType::Undefined || dtype == DType::String) return;
      Tensor value = tensor_from_proto(t);
      if (value.nbytes() < threshold) return;
      onnx::TensorProto raw = tensor_to_proto(value, t.name());
      t.clear_float_data(); t.clear_int32_data(); t.clear_int64_data();
      t.clear_double_data(); t.clear_uint64_data();
      t.set_raw_data(raw.raw_data());
    }
    if (!mapped && t.raw_data().size() < threshold) return;
    size_t offset = 0, length = 0;
    if (mapped) {
      length = mapped->nbytes();
      offset = file.append(static_cast<const char*>(mapped->raw()), length);
      release_pages(*mapped);
    } else {
      length = t.raw_data().size();
      offset = file.append(t.raw_data().data(), length);
      t.clear_raw_data();
    }
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    t.clear_external_data();
    auto add = [&](const char* key, const std::string& value) {
      auto* kv = t.add_external_data();
      kv->set_key(key);
      kv->set_value(value);
    };
    add("location", location);
    add("offset", std::to_string(offset));
    add("length", std::to_string(length));
  });
}

// Bytes the tensors left in mapped external data add to the model when written inline.
size_t mapped_bytes(onnx::ModelProto& model, const SaveOptions& options) {
  size_t n = 0;
  for_each_tensor(*model.mutable_graph(), [&](onnx::TensorProto& t) {
    if (const Tensor* v = mapped_value(t, options)) n += v->nbytes();
  });
  return n;
}

void commit_temp(const fs::path& tmp, const fs::path& path) {
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    PTQ_FAIL(IoError, "cannot write ", path.string(), ": rename failed: ", ec.message());
  }
}


}  // namespace

void check_destination(const fs::path& path) {
  std::error_code ec;
  fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) PTQ_FAIL(IoError, "cannot write ", path.string(), ": folder ", dir.string(), " does not exist");
  if (fs::is_directory(path, ec)) PTQ_FAIL(IoError, "cannot write ", path.string(), ": it is a folder");
}

void write_file_atomic(const fs::path& path, const std::string& bytes) {
  check_destination(path);
  TempFile tmp(path);
  tmp.stream().write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  tmp.finish();
  commit_temp(tmp.path(), path);
}

void save_model(onnx::ModelProto model, const fs::path& path, const SaveOptions& options) {
  check_destination(path);
  refuse_protected(path, options);
  bool external = options.external_data == ExternalData::Always ||
                  (options.external_data == ExternalData::Auto &&
                   model.ByteSizeLong() + mapped_bytes(model, options) > kProtobufLimit);
  fs::path data_path;
  std::unique_ptr<TempFile> data_file;
  if (external) {
    std::string location = path.filename().string() + ".data";
    data_path = path.parent_path() / location;
    refuse_protected(data_path, options);
    data_file = std::make_unique<TempFile>(data_path);
    DataFile data(*data_file);
    externalize(model, location, options.external_threshold_bytes, options, data);
    data_file->finish();
    log::debug("saving ", data.size(), " bytes of tensor data to ", data_path.string());
  } else {
    for_each_tensor(*model.mutable_graph(), [&](onnx::TensorProto& t) {
      if (const Tensor* v = mapped_value(t, options)) set_inline(t, *v);
    });
  }
  if (model.ByteSizeLong() > kProtobufLimit)
    PTQ_FAIL(IoError, "cannot write ", path.string(), ": the model exceeds 2 GB even with external data");
  TempFile model_file(path);
  if (!model.SerializeToOstream(&model_file.stream()))
    PTQ_FAIL(IoError, "cannot write ", path.string(), ": serialization failed");
  model_file.finish();
  if (data_file) commit_temp(data_file->path(), data_path);
  commit_temp(model_file.path(), path);
}

}  // namespace ptq::onnx_io
