// SPDX-License-Identifier: Apache-2.0
// DataFileWriter (see data_file_writer.h). Layout as ONNX's Python helpers and ONNX Runtime expect:
// tensors at 4096-byte aligned offsets, each referred to by external_data {location, offset, length}.
#include "ptq/ir/data_file_writer.h"

#include "file_mapping.h"
#include "output_files.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/util/error.h"

namespace fs = std::filesystem;

namespace ptq::onnx_io {
namespace {

constexpr size_t kAlignment = 4096;

bool is_4bit(DType d) { return d == DType::Int4 || d == DType::UInt4; }

void add_entry(onnx::TensorProto& t, const char* key, const std::string& value) {
  auto* kv = t.add_external_data();
  kv->set_key(key);
  kv->set_value(value);
}

}  // namespace

DataFileWriter::DataFileWriter(const fs::path& model_path, size_t threshold_bytes, const std::vector<fs::path>& protected_paths)
    : threshold_(threshold_bytes) {
  check_destination(model_path);
  location_ = model_path.filename().string() + ".data";
  path_ = model_path.parent_path() / location_;
  refuse_protected(path_, protected_paths);
  file_ = std::make_unique<TempFile>(path_);
}

DataFileWriter::~DataFileWriter() = default;

size_t DataFileWriter::append_bytes(const char* data, size_t n) {
  static const char zeros[kAlignment] = {};
  const size_t offset = (size_ + kAlignment - 1) / kAlignment * kAlignment;
  file_->stream().write(zeros, static_cast<std::streamsize>(offset - size_));
  file_->stream().write(data, static_cast<std::streamsize>(n));
  size_ = offset + n;
  return offset;
}

size_t DataFileWriter::append(const char* data, size_t n, onnx::TensorProto& proto) {
  const size_t offset = append_bytes(data, n);
  proto.clear_raw_data();
  proto.clear_float_data(); proto.clear_int32_data(); proto.clear_int64_data();
  proto.clear_double_data(); proto.clear_uint64_data();
  proto.clear_external_data();
  proto.set_data_location(onnx::TensorProto::EXTERNAL);
  add_entry(proto, "location", location_);
  add_entry(proto, "offset", std::to_string(offset));
  add_entry(proto, "length", std::to_string(n));
  return offset;
}

bool DataFileWriter::write(const Tensor& value, const std::string& name, onnx::TensorProto& proto) {
  if (value.dtype() == DType::Undefined || value.dtype() == DType::String) return false;
  if (is_4bit(value.dtype())) {  // stored packed, two a byte: what tensor_to_proto makes
    if (static_cast<size_t>((value.numel() + 1) / 2) < threshold_) return false;  // not packed for nothing
    proto = tensor_to_proto(value, name);
    std::string packed = std::move(*proto.mutable_raw_data());
    const size_t offset = append(packed.data(), packed.size(), proto);
    written_.push_back({name, value.dtype(), value.shape(), offset, packed.size()});
    return true;
  }
  if (value.nbytes() < threshold_) return false;
  proto.Clear();
  proto.set_name(name);
  proto.set_data_type(static_cast<int>(value.dtype()));
  for (int64_t d : value.shape()) proto.add_dims(d);
  const size_t offset = append(static_cast<const char*>(value.raw()), value.nbytes(), proto);
  written_.push_back({name, value.dtype(), value.shape(), offset, value.nbytes()});
  return true;
}

const std::map<std::string, Tensor>& DataFileWriter::tensors() {
  if (mapped_count_ == written_.size()) return views_;
  file_->flush();
  std::shared_ptr<void> map = map_file(file_->path(), size_);
  for (; mapped_count_ < written_.size(); ++mapped_count_) {
    const Written& w = written_[mapped_count_];
    const char* bytes = static_cast<const char*>(map.get()) + w.offset;
    if (is_4bit(w.dtype)) {  // unpacked into memory (one element a byte, as ptq holds 4-bit tensors)
      onnx::TensorProto t;
      t.set_data_type(static_cast<int>(w.dtype));
      for (int64_t d : w.shape) t.add_dims(d);
      t.set_raw_data(bytes, w.length);
      views_[w.name] = tensor_from_proto(t);
      continue;
    }
    std::shared_ptr<void> at(map, const_cast<char*>(bytes));
    views_[w.name] = Tensor::wrap(w.dtype, w.shape, std::move(at));
  }
  return views_;
}

void DataFileWriter::commit() {
  file_->finish();
  commit_temp(file_->path(), path_);
}

}  // namespace ptq::onnx_io
