// SPDX-License-Identifier: Apache-2.0
#include "ptq/ir/model_info.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

namespace ptq {
namespace {

void count_nodes(const onnx::GraphProto& g, ModelInfo& info) {
  for (const auto& n : g.node()) {
    ++info.node_count;
    std::string key = n.domain().empty() || n.domain() == "ai.onnx" ? n.op_type() : n.domain() + "." + n.op_type();
    ++info.op_counts[key];
    for (const auto& a : n.attribute()) {
      if (a.has_g()) {
        ++info.subgraphs;
        count_nodes(a.g(), info);
      }
      for (const auto& sg : a.graphs()) {
        ++info.subgraphs;
        count_nodes(sg, info);
      }
    }
  }
}

void add(ParamStats& s, const Tensor& t) {
  s.tensors += 1;
  s.params += t.numel();
  s.bytes += static_cast<int64_t>(dtype_stored_bytes(t.dtype(), t.numel()));  // as stored: 4-bit types packed
}

void count_weights(const Graph& g, ModelInfo& info) {
  for (const auto& kv : g.weights) {
    const Tensor& t = kv.second.value;
    add(info.by_dtype[dtype_name(t.dtype())], t);
    add(info.by_source[weight_source_name(kv.second.source)], t);
    add(info.total, t);
  }
  for (const auto& n : g.nodes)
    for (const auto& kv : n.attrs) {
      if (kv.second.g) count_weights(*kv.second.g, info);
      for (const auto& sg : kv.second.graphs) count_weights(*sg, info);
    }
}

nlohmann::json value_infos_json(const std::vector<ValueInfo>& vis) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& vi : vis) {
    nlohmann::json shape = nlohmann::json::array();
    for (const auto& d : vi.dims) {
      if (d.known()) shape.push_back(d.value);
      else if (!d.param.empty()) shape.push_back(d.param);
      else shape.push_back(nullptr);
    }
    arr.push_back({{"name", vi.name}, {"dtype", dtype_name(vi.dtype)}, {"shape", vi.has_shape ? shape : nullptr}});
  }
  return arr;
}

nlohmann::json stats_json(const ParamStats& s) {
  return {{"tensors", s.tensors}, {"params", s.params}, {"bytes", s.bytes}};
}

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > (v < 0 ? 1 : 0); i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

}  // namespace

namespace {

// v with a decimal prefix: "1.23 G<unit>", "4.56 M<unit>", "7.8 k<unit>" (kilo: `kilo`), "12 <unit>".
std::string with_prefix(int64_t v, const char* unit, const char* kilo) {
  char buf[64];
  if (v >= 1000 * 1000 * 1000) std::snprintf(buf, sizeof buf, "%.2f G%s", v / 1e9, unit);
  else if (v >= 1000 * 1000) std::snprintf(buf, sizeof buf, "%.2f M%s", v / 1e6, unit);
  else if (v >= 1000) std::snprintf(buf, sizeof buf, "%.1f %s%s", v / 1e3, kilo, unit);
  else std::snprintf(buf, sizeof buf, "%lld%s%s", static_cast<long long>(v), *unit ? " " : "", unit);
  return buf;
}

}  // namespace

std::string format_bytes(int64_t bytes) { return with_prefix(bytes, "B", "K"); }
std::string format_count(int64_t count) { return with_prefix(count, "", "k"); }

ModelInfo describe_model(const onnx_io::LoadedModel& model, const Graph& graph) {
  ModelInfo info;
  info.path = model.path.string();
  std::error_code ec;
  auto size = std::filesystem::file_size(model.path, ec);
  info.file_bytes = ec ? 0 : static_cast<int64_t>(size);
  for (const auto& f : model.external_files) {
    auto s = std::filesystem::file_size(f, ec);
    if (!ec) info.file_bytes += static_cast<int64_t>(s);
  }
  info.ir_version = model.proto.ir_version();
  info.producer = model.proto.producer_name();
  if (!model.proto.producer_version().empty()) info.producer += " " + model.proto.producer_version();
  for (const auto& op : model.proto.opset_import())
    info.opsets[op.domain().empty() ? "ai.onnx" : op.domain()] = op.version();
  info.inputs = graph.inputs;
  info.outputs = graph.outputs;
  count_nodes(model.proto.graph(), info);
  count_weights(graph, info);
  return info;
}

std::string format_model_info(const ModelInfo& info) {
  std::ostringstream os;
  os << "model:      " << info.path << " (" << format_bytes(info.file_bytes) << ")\n";
  os << "IR version: " << info.ir_version << "\n";
  if (!info.producer.empty()) os << "producer:   " << info.producer << "\n";
  os << "opsets:    ";
  for (const auto& kv : info.opsets) os << " " << kv.first << " " << kv.second;
  os << "\n\ninputs:\n";
  for (const auto& vi : info.inputs) os << "  " << vi.name << "  " << dtype_name(vi.dtype) << " " << vi.shape_str() << "\n";
  os << "outputs:\n";
  for (const auto& vi : info.outputs) os << "  " << vi.name << "  " << dtype_name(vi.dtype) << " " << vi.shape_str() << "\n";
  os << "\nnodes: " << info.node_count;
  if (info.subgraphs) os << " (including " << info.subgraphs << " subgraphs)";
  os << "\n";
  std::vector<std::pair<std::string, int64_t>> ops(info.op_counts.begin(), info.op_counts.end());
  std::stable_sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& kv : ops) {
    char line[128];
    std::snprintf(line, sizeof line, "  %-28s %6lld\n", kv.first.c_str(), static_cast<long long>(kv.second));
    os << line;
  }
  os << "\nparameters: " << with_commas(info.total.params) << " in " << info.total.tensors << " tensors, "
     << format_bytes(info.total.bytes) << "\n";
  auto table = [&](const char* title, const std::map<std::string, ParamStats>& m) {
    os << title << "\n";
    for (const auto& kv : m) {
      char line[160];
      std::snprintf(line, sizeof line, "  %-12s %6lld tensors %14s params %12s\n", kv.first.c_str(),
                    static_cast<long long>(kv.second.tensors), with_commas(kv.second.params).c_str(),
                    format_bytes(kv.second.bytes).c_str());
      os << line;
    }
  };
  table("by dtype:", info.by_dtype);
  table("stored in:", info.by_source);
  return os.str();
}

nlohmann::json model_info_json(const ModelInfo& info) {
  nlohmann::json j;
  j["path"] = info.path;
  j["file_bytes"] = info.file_bytes;
  j["ir_version"] = info.ir_version;
  j["producer"] = info.producer;
  j["opsets"] = info.opsets;
  j["inputs"] = value_infos_json(info.inputs);
  j["outputs"] = value_infos_json(info.outputs);
  j["node_count"] = info.node_count;
  j["subgraphs"] = info.subgraphs;
  j["op_counts"] = info.op_counts;
  j["parameters"] = stats_json(info.total);
  nlohmann::json by_dtype = nlohmann::json::object(), by_source = nlohmann::json::object();
  for (const auto& kv : info.by_dtype) by_dtype[kv.first] = stats_json(kv.second);
  for (const auto& kv : info.by_source) by_source[kv.first] = stats_json(kv.second);
  j["parameters_by_dtype"] = by_dtype;
  j["weights_stored_in"] = by_source;
  return j;
}

}  // namespace ptq
