// SPDX-License-Identifier: Apache-2.0
// DataFileWriter: the external data file of a model being written ("<model file name>.data"), filled
// while the model is made. rewrite_model appends each large quantized weight the moment it exists and
// lets it go, so a multi-GB model never holds all its quantized weights in memory; save_model appends
// the other large tensors and commits the file together with the model. Until then the bytes are in a
// temp file in the output's folder, removed if the writer goes without being committed (an error, a
// target check that fails): nothing half-written is left.
//
//   onnx_io::DataFileWriter data(out_path, 1024, {input_path, input_data});
//   onnx::ModelProto q = rewrite_model(model, graph, plan, table, &data);   // weights already in data
//   GraphOptions run{false, {}};  run.mapped = &data.tensors();
//   Graph g = build_graph(q, run);                                           // runs before it is saved
//   save.data_file = &data;  save_model(q, out_path, save);                 // appends the rest, commits
#pragma once

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ptq/ir/tensor.h"

namespace ptq::onnx_io {

class TempFile;

class DataFileWriter {
 public:
  // The data file of the model to be written to `model_path`. Tensors of at least `threshold_bytes` go
  // to it. Throws IoError when the folder does not exist or the data file would be one of
  // `protected_paths` (the input model and its data files).
  DataFileWriter(const std::filesystem::path& model_path, size_t threshold_bytes,
                 const std::vector<std::filesystem::path>& protected_paths);
  ~DataFileWriter();
  DataFileWriter(const DataFileWriter&) = delete;
  DataFileWriter& operator=(const DataFileWriter&) = delete;

  // Writes `value` as initializer `name` when it takes at least threshold bytes in the file (4-bit types
  // packed two a byte, as ONNX stores them): `proto` becomes its external reference (name, type, dims,
  // location, offset, length; no data). False otherwise (nothing written; `proto` undefined).
  bool write(const Tensor& value, const std::string& name, onnx::TensorProto& proto);
  // Appends n bytes at the next 4096-byte aligned offset and makes `proto` refer to them (its name, type
  // and dims as they are; any data in it cleared). Returns the offset.
  size_t append(const char* data, size_t n, onnx::TensorProto& proto);

  // The tensors write() stored, as read-only views of the file (4-bit ones unpacked into memory): the
  // model can run before it is saved.
  const std::map<std::string, Tensor>& tensors();

  const std::string& location() const { return location_; }  // the name the model refers to it by
  size_t threshold() const { return threshold_; }
  size_t size() const { return size_; }
  // The final path (the model's path + ".data").
  const std::filesystem::path& path() const { return path_; }
  // Flushes the file and renames it to path(). Throws IoError.
  void commit();

 private:
  struct Written {
    std::string name;
    DType dtype;
    Shape shape;
    size_t offset, length;
  };
  size_t append_bytes(const char* data, size_t n);

  std::filesystem::path path_;
  std::string location_;
  size_t threshold_;
  std::unique_ptr<TempFile> file_;
  size_t size_ = 0;
  std::vector<Written> written_;
  std::map<std::string, Tensor> views_;  // of written_, mapped when tensors() is called
  size_t mapped_count_ = 0;              // how many of written_ views_ covers
};

}  // namespace ptq::onnx_io
