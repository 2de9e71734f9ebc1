// SPDX-License-Identifier: Apache-2.0
// ONNX test data (the layout of ONNX's backend tests and the model zoo): a folder of sample folders
// test_data_set_0/, test_data_set_1/, … (name order), each with input_0.pb, input_1.pb, … holding
// one serialized TensorProto; or one such sample folder. A tensor goes to the model input of its
// TensorProto name when the name matches one, else to the input at its position K.
#include <onnx/onnx_pb.h>

#include <fstream>
#include <regex>

#include "ptq/ir/onnx_io.h"
#include "reader_util.h"

namespace ptq::calib {
namespace {

// input_K.pb files of a sample folder, ordered by K.
std::vector<std::pair<size_t, fs::path>> input_files(const fs::path& dir) {
  static const std::regex name(R"(input_(\d+)\.pb)");
  std::vector<std::pair<size_t, fs::path>> out;
  for (const auto& f : sorted_entries(dir, false, {".pb"})) {
    std::smatch m;
    std::string file = f.filename().string();
    if (std::regex_match(file, m, name)) out.emplace_back(std::stoul(m[1]), f);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Tensor read_tensor_proto(const fs::path& file, std::string& proto_name) {
  std::ifstream in(file, std::ios::binary);
  if (!in) PTQ_FAIL(IoError, file.string(), ": cannot open");
  onnx::TensorProto proto;
  if (!proto.ParseFromIstream(&in)) PTQ_FAIL(DataError, file.string(), ": not a serialized ONNX TensorProto");
  proto_name = proto.name();
  try {
    return onnx_io::tensor_from_proto(proto);
  } catch (Error& e) {
    e.append_context(file.string());
    throw;
  }
}

class OnnxPbReader : public PathListReader {
 public:
  using PathListReader::PathListReader;

  Sample read(size_t index) const override {
    const fs::path& dir = samples_.at(index);
    Sample s;
    s.id = dir.filename().string();
    for (const auto& [k, file] : input_files(dir)) {
      std::string name;
      Tensor t = read_tensor_proto(file, name);
      const ValueInfo* in = nullptr;
      for (const auto& i : inputs_)
        if (!name.empty() && i.name == name) in = &i;
      if (!in && k < inputs_.size()) in = &inputs_[k];
      if (!in)
        PTQ_FAIL(DataError, file.string(), ": tensor '", name, "' matches no model input by name, and the model has only ",
                 inputs_.size(), " inputs");
      if (s.tensors.count(in->name)) PTQ_FAIL(DataError, file.string(), ": a second tensor for input '", in->name, "'");
      check_sample_tensor(*in, t, file.string());
      s.tensors[in->name] = std::move(t);
    }
    for (const auto& in : inputs_)
      if (!s.tensors.count(in.name)) PTQ_FAIL(DataError, dir.string(), ": no input_K.pb for input '", in.name, "'");
    return s;
  }
};

}  // namespace

bool probe_onnx_pb(const fs::path& path, const std::vector<ValueInfo>&, const DataOptions&) {
  if (!fs::is_directory(path)) return false;
  if (!input_files(path).empty()) return true;
  for (const auto& dir : sorted_entries(path, true))
    if (!input_files(dir).empty()) return true;
  return false;
}

std::unique_ptr<DataReader> open_onnx_pb(const fs::path& path, const std::vector<ValueInfo>& inputs,
                                         const DataOptions& options) {
  std::vector<fs::path> samples;
  if (!input_files(path).empty()) {
    samples.push_back(path);
  } else {
    for (const auto& dir : sorted_entries(path, true))
      if (!input_files(dir).empty()) samples.push_back(dir);
  }
  take_first(samples, options, path, "test_data_set_N/input_K.pb");
  return std::make_unique<OnnxPbReader>(path, std::move(samples), inputs);
}

}  // namespace ptq::calib
