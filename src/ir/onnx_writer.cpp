// SPDX-License-Identifier: Apache-2.0
// Saving models. The file is written to a temp file in the destination folder and renamed, so a reader
// never sees half a model. Models whose serialized size would exceed protobuf's 2 GB limit (or on
// request) keep their large tensors in "<model file name>.data" (DataFileWriter: offsets aligned to
// 4096 bytes, external_data = {location, offset, length}, as ONNX's Python helpers and ONNX Runtime expect).
#include <functional>
#include <memory>

#include "output_files.h"
#include "ptq/ir/data_file_writer.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/util/log.h"

namespace fs = std::filesystem;

namespace ptq::onnx_io {
namespace {

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
// straight from their mapping). Tensors already in external data and not mapped (those the data file
// holds already, written while the model was made) stay as they are.
void externalize(onnx::ModelProto& model, const SaveOptions& options, DataFileWriter& file) {
  const size_t threshold = file.threshold();
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
    if (mapped) {
      file.append(static_cast<const char*>(mapped->raw()), mapped->nbytes(), t);
      release_pages(*mapped);
    } else {
      std::string bytes = std::move(*t.mutable_raw_data());
      file.append(bytes.data(), bytes.size(), t);
    }
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
  refuse_protected(path, options.protected_paths);
  bool external = options.data_file != nullptr || options.external_data == ExternalData::Always ||
                  (options.external_data == ExternalData::Auto &&
                   model.ByteSizeLong() + mapped_bytes(model, options) > kProtobufLimit);
  std::unique_ptr<DataFileWriter> own_data;
  DataFileWriter* data = options.data_file;
  if (data) PTQ_CHECK(data->location() == path.filename().string() + ".data");  // opened for this path
  if (external) {
    if (!data) data = (own_data = std::make_unique<DataFileWriter>(path, options.external_threshold_bytes, options.protected_paths)).get();
    externalize(model, options, *data);
    log::debug("saving ", data->size(), " bytes of tensor data to ", data->path().string());
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
  if (data) data->commit();
  commit_temp(model_file.path(), path);
}

}  // namespace ptq::onnx_io
