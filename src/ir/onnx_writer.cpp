// SPDX-License-Identifier: Apache-2.0
// Saving models. The file is written to a temp file in the destination folder and renamed, so a reader
// never sees half a model. Models whose serialized size would exceed protobuf's 2 GB limit (or on
// request) keep their large tensors in "<model file name>.data": offsets aligned to 4096 bytes,
// external_data = {location, offset, length}, as ONNX's Python helpers and ONNX Runtime expect.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>

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

// Moves large tensors' bytes out of the model into one blob; returns the blob.
std::string externalize(onnx::ModelProto& model, const std::string& location, size_t threshold) {
  std::string blob;
  for_each_tensor(*model.mutable_graph(), [&](onnx::TensorProto& t) {
    if (t.data_location() == onnx::TensorProto::EXTERNAL) return;
    if (!t.has_raw_data()) {
      DType dtype = dtype_from_onnx(t.data_type());
      if (dtype == DType::Undefined || dtype == DType::String) return;
      Tensor value = tensor_from_proto(t);
      if (value.nbytes() < threshold) return;
      onnx::TensorProto raw = tensor_to_proto(value, t.name());
      t.clear_float_data(); t.clear_int32_data(); t.clear_int64_data();
      t.clear_double_data(); t.clear_uint64_data();
      t.set_raw_data(raw.raw_data());
    }
    if (t.raw_data().size() < threshold) return;
    size_t offset = (blob.size() + kExternalAlignment - 1) / kExternalAlignment * kExternalAlignment;
    blob.resize(offset, '\0');
    blob.append(t.raw_data());
    t.clear_raw_data();
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    t.clear_external_data();
    auto add = [&](const char* key, const std::string& value) {
      auto* kv = t.add_external_data();
      kv->set_key(key);
      kv->set_value(value);
    };
    add("location", location);
    add("offset", std::to_string(offset));
    add("length", std::to_string(blob.size() - offset));
  });
  return blob;
}

fs::path temp_path_for(const fs::path& path) {
  return path.parent_path() / ("." + path.filename().string() + ".tmp" + std::to_string(::getpid()));
}

void write_temp(const fs::path& tmp, const std::string& bytes, const fs::path& target) {
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) PTQ_FAIL(IoError, "cannot write ", target.string(), ": cannot create a file in ", tmp.parent_path().string());
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.flush();
  if (!out) {
    out.close();
    std::error_code ec;
    fs::remove(tmp, ec);
    PTQ_FAIL(IoError, "cannot write ", target.string(), ": write failed (disk full?)");
  }
}

void commit_temp(const fs::path& tmp, const fs::path& path) {
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    PTQ_FAIL(IoError, "cannot write ", path.string(), ": rename failed: ", ec.message());
  }
}

void check_destination(const fs::path& path) {
  std::error_code ec;
  fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) PTQ_FAIL(IoError, "cannot write ", path.string(), ": folder ", dir.string(), " does not exist");
  if (fs::is_directory(path, ec)) PTQ_FAIL(IoError, "cannot write ", path.string(), ": it is a folder");
}

}  // namespace

void write_file_atomic(const fs::path& path, const std::string& bytes) {
  check_destination(path);
  fs::path tmp = temp_path_for(path);
  write_temp(tmp, bytes, path);
  commit_temp(tmp, path);
}

void save_model(onnx::ModelProto model, const fs::path& path, const SaveOptions& options) {
  check_destination(path);
  refuse_protected(path, options);
  bool external = options.external_data == ExternalData::Always ||
                  (options.external_data == ExternalData::Auto && model.ByteSizeLong() > kProtobufLimit);
  std::string blob;
  fs::path data_path;
  if (external) {
    std::string location = path.filename().string() + ".data";
    data_path = path.parent_path() / location;
    refuse_protected(data_path, options);
    blob = externalize(model, location, options.external_threshold_bytes);
    log::debug("saving ", blob.size(), " bytes of tensor data to ", data_path.string());
  }
  if (model.ByteSizeLong() > kProtobufLimit)
    PTQ_FAIL(IoError, "cannot write ", path.string(), ": the model exceeds 2 GB even with external data");
  std::string bytes;
  if (!model.SerializeToString(&bytes)) PTQ_FAIL(IoError, "cannot write ", path.string(), ": serialization failed");
  fs::path tmp_model = temp_path_for(path);
  write_temp(tmp_model, bytes, path);
  if (external) {
    fs::path tmp_data = temp_path_for(data_path);
    try {
      write_temp(tmp_data, blob, data_path);
      commit_temp(tmp_data, data_path);
    } catch (...) {
      std::error_code ec;
      fs::remove(tmp_model, ec);
      throw;
    }
  }
  commit_temp(tmp_model, path);
}

}  // namespace ptq::onnx_io
