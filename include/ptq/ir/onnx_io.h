// SPDX-License-Identifier: Apache-2.0
// Reading and writing ONNX models: validation of what was read, external data (which libonnx's C++
// API does not handle), atomic saving.
#pragma once

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ptq/ir/tensor.h"

namespace ptq::onnx_io {

class DataFileWriter;

// Highest IR version this build knows how to read (ONNX 1.18 writes IR 11).
constexpr int64_t kMaxIrVersion = 11;

struct LoadedModel {
  onnx::ModelProto proto;
  std::filesystem::path path;
  // External data files the model referred to (already read into the tensors).
  std::vector<std::filesystem::path> external_files;
  // Names of tensors whose data came from external files.
  std::vector<std::string> external_tensors;
  // With LoadOptions::map_external: the graph's initializers left in external data (their protos
  // keep data_location EXTERNAL), as read-only views of the memory-mapped files (copy-on-write).
  std::map<std::string, Tensor> mapped;
};

struct LoadOptions {
  // Map the external data of the graph's (not the bodies') float/integer initializers instead of
  // reading it into raw_data: the weights then take no memory of their own (see LoadedModel::mapped).
  bool map_external = false;
};

// Reads and validates a model: missing file, not a protobuf, truncated, no graph / empty graph,
// unknown IR version, no default-domain opset, duplicate tensor names. External data is read into
// the tensors (raw_data) so the rest of ptq never sees it, unless options.map_external maps it.
// Throws IoError/ModelError naming the file.
LoadedModel load_model(const std::filesystem::path& path, const LoadOptions& options = {});

// Reads the mapped tensors into raw_data (what load_model does without map_external) and empties
// loaded.mapped: for the passes that edit initializers in the proto.
void inline_mapped(LoadedModel& loaded, onnx::ModelProto& model);

// Tells the kernel the pages of a mapped tensor may be dropped (they are read back from the file if
// touched again); does nothing for a tensor that is not a view of a mapping.
void release_pages(const Tensor& tensor);

// Parses a model from memory (no external data allowed); `origin` names it in errors.
onnx::ModelProto parse_model(const std::string& bytes, const std::string& origin);

// Checks a parsed model (IR version, graph, opsets, unique names); throws ModelError.
void validate_model(const onnx::ModelProto& model);

enum class ExternalData { Auto, Always, Never };

struct SaveOptions {
  // Auto: external data only when the serialized model would exceed protobuf's 2 GB limit.
  ExternalData external_data = ExternalData::Auto;
  // Tensors at least this large go to the external file when external data is used.
  size_t external_threshold_bytes = 1024;
  // Paths that must not be written (the input model and its external data files).
  std::vector<std::filesystem::path> protected_paths;
  // Data of the initializers still in external data (LoadedModel::mapped): written from these views
  // (to the output's data file, or inline when the output has none).
  const std::map<std::string, Tensor>* mapped = nullptr;
  // The output's data file, opened before the model was made (DataFileWriter: the tensors already in
  // it stay there; the other large ones are appended): external data whatever external_data says.
  DataFileWriter* data_file = nullptr;
};

// Serialized-size limit of protobuf (2 GiB - 1).
constexpr size_t kProtobufLimit = 2147483647u;

// Writes the model atomically (temp file + rename). With external data, the tensors go to
// "<file name>.data" next to the model (written atomically as well). Never writes over a protected
// path. Throws IoError.
void save_model(onnx::ModelProto model, const std::filesystem::path& path, const SaveOptions& options = {});

// TensorProto <-> Tensor. The proto must not refer to external data (load_model resolves it).
Tensor tensor_from_proto(const onnx::TensorProto& proto);
onnx::TensorProto tensor_to_proto(const Tensor& tensor, const std::string& name);

// Calls fn on every TensorProto of the graph: initializers, sparse initializers, tensor attributes
// (Constant nodes) and subgraphs, recursively.
void for_each_tensor(onnx::GraphProto& graph, const std::function<void(onnx::TensorProto&)>& fn);

// Default-domain ("" or "ai.onnx") opset version; 0 when absent.
int64_t default_opset(const onnx::ModelProto& model);

// IoError "cannot write PATH: folder DIR does not exist" (or "...: it is a folder"): what
// write_file_atomic and save_model check first; callers check outputs with it before long work.
void check_destination(const std::filesystem::path& path);

// Writes bytes to `path` atomically: a temp file in the same folder, then rename. Throws IoError.
void write_file_atomic(const std::filesystem::path& path, const std::string& bytes);

}  // namespace ptq::onnx_io
