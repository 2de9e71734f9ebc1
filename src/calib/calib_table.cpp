// SPDX-License-Identifier: Apache-2.0
// The calibration table as JSON (save_table / load_table):
//   {"format": "ptq-calibration-table", "version": 1, "model": "...", "method": "kl", "samples": 100,
//    "tensors": {"<name>": {"method": "kl", "dtype": "uint8", "axis": -1,
//                           "min": [..], "max": [..], "range": [[lo, hi], ..],
//                           "scale": [..], "zero_point": [..]}, ...}}
// One entry per channel in min/max/range/scale/zero_point (one for per-tensor). Floats are written
// as the shortest decimal that reads back to the same double, and each float converts to double
// exactly, so a round trip is bit-exact. Written atomically. load_table errors name the file and
// the field ("calib.json: tensors.conv1.scale[2]: expected a number").
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ptq/calib/calibrator.h"
#include "ptq/ir/onnx_io.h"

namespace ptq::calib {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "ptq-calibration-table";
constexpr int kVersion = 1;

json floats_json(const std::vector<float>& v) {
  json a = json::array();
  for (float x : v) a.push_back(static_cast<double>(x));
  return a;
}

json tensor_json(const TensorCalib& t) {
  json ranges = json::array();
  for (const Range& r : t.range) ranges.push_back({static_cast<double>(r.lo), static_cast<double>(r.hi)});
  json j{{"method", t.method},        {"dtype", qtype_name(t.qparams.type)}, {"axis", t.qparams.axis},
         {"min", floats_json(t.min)}, {"max", floats_json(t.max)},          {"range", ranges},
         {"scale", floats_json(t.qparams.scale)}, {"zero_point", t.qparams.zero_point}};
  if (t.qparams.blocked()) j["block"] = t.qparams.block, j["scale_shape"] = t.qparams.scale_shape;
  return j;
}

// Reads fields of a JSON document, failing with "file: path: what".
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    PTQ_FAIL(DataError, file_, ": ", path, ": ", what);
  }
  const json& field(const json& obj, const std::string& key, const std::string& path) const {
    if (!obj.is_object()) fail(path, "expected an object");
    auto it = obj.find(key);
    if (it == obj.end()) fail(path + "." + key, "missing");
    return *it;
  }
  std::string string(const json& v, const std::string& path) const {
    if (!v.is_string()) fail(path, "expected a string");
    return v.get<std::string>();
  }
  double number(const json& v, const std::string& path) const {
    if (!v.is_number()) fail(path, "expected a number");
    return v.get<double>();
  }
  int64_t integer(const json& v, const std::string& path) const {
    if (!v.is_number_integer()) fail(path, "expected an integer");
    return v.get<int64_t>();
  }
  std::vector<float> floats(const json& v, const std::string& path) const {
    if (!v.is_array()) fail(path, "expected an array of numbers");
    std::vector<float> out;
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string at = path + "[" + std::to_string(i) + "]";
      const double x = number(v[i], at);
      if (std::isfinite(x) && std::fabs(x) > std::numeric_limits<float>::max()) fail(at, "beyond the float32 range");
      out.push_back(static_cast<float>(x));
    }
    return out;
  }

 private:
  std::string file_;
};

TensorCalib read_tensor(const Reader& rd, const std::string& name, const json& j, const std::string& path) {
  TensorCalib t;
  t.tensor = name;
  t.method = rd.string(rd.field(j, "method", path), path + ".method");
  try {
    t.qparams.type = qtype_from_name(rd.string(rd.field(j, "dtype", path), path + ".dtype"));
  } catch (const UsageError& e) {
    rd.fail(path + ".dtype", e.what());
  }
  t.qparams.axis = static_cast<int>(rd.integer(rd.field(j, "axis", path), path + ".axis"));
  if (t.qparams.axis < -1) rd.fail(path + ".axis", "expected -1 (per tensor) or a channel axis >= 0");
  t.min = rd.floats(rd.field(j, "min", path), path + ".min");
  t.max = rd.floats(rd.field(j, "max", path), path + ".max");
  t.qparams.scale = rd.floats(rd.field(j, "scale", path), path + ".scale");
  const json& zp = rd.field(j, "zero_point", path);
  if (!zp.is_array()) rd.fail(path + ".zero_point", "expected an array of integers");
  for (size_t i = 0; i < zp.size(); ++i) {
    const std::string at = path + ".zero_point[" + std::to_string(i) + "]";
    const int64_t z = rd.integer(zp[i], at);
    if (z < std::numeric_limits<int32_t>::min() || z > std::numeric_limits<int32_t>::max()) rd.fail(at, "beyond the int32 range");
    t.qparams.zero_point.push_back(static_cast<int32_t>(z));
  }
  const json& ranges = rd.field(j, "range", path);
  if (!ranges.is_array()) rd.fail(path + ".range", "expected an array of [lo, hi] pairs");
  for (size_t i = 0; i < ranges.size(); ++i) {
    std::vector<float> pair = rd.floats(ranges[i], path + ".range[" + std::to_string(i) + "]");
    if (pair.size() != 2) rd.fail(path + ".range[" + std::to_string(i) + "]", "expected [lo, hi]");
    t.range.push_back(Range{pair[0], pair[1]});
  }
  if (j.contains("block")) {
    t.qparams.block = rd.integer(j["block"], path + ".block");
    const json& shape = rd.field(j, "scale_shape", path);
    if (!shape.is_array()) rd.fail(path + ".scale_shape", "expected an array of integers");
    for (size_t i = 0; i < shape.size(); ++i) t.qparams.scale_shape.push_back(rd.integer(shape[i], path + ".scale_shape"));
    if (t.qparams.block <= 0 || t.qparams.axis < 0 || shape_numel(t.qparams.scale_shape) != static_cast<int64_t>(t.qparams.scale.size()))
      rd.fail(path + ".block", "a blocked entry needs block > 0, an axis and scale_shape holding every scale");
  }
  const size_t n = t.qparams.scale.size();
  if (n == 0) rd.fail(path + ".scale", "empty");
  if (t.qparams.axis < 0 && n != 1) rd.fail(path + ".scale", "a per-tensor entry (axis -1) needs exactly one scale");
  for (const char* key : {"zero_point", "min", "max", "range"}) {
    size_t m = std::string(key) == "zero_point" ? t.qparams.zero_point.size()
               : std::string(key) == "min"      ? t.min.size()
               : std::string(key) == "max"      ? t.max.size()
                                                : t.range.size();
    if (m != n) rd.fail(path + "." + key, std::to_string(m) + " entries for " + std::to_string(n) + " scales");
  }
  for (size_t i = 0; i < n; ++i)
    if (!(t.qparams.scale[i] > 0.0f)) rd.fail(path + ".scale[" + std::to_string(i) + "]", "scales must be positive");
  return t;
}

}  // namespace

void save_table(const CalibTable& table, const std::filesystem::path& path) {
  json tensors = json::object();
  for (const auto& kv : table.tensors) tensors[kv.first] = tensor_json(kv.second);
  json doc{{"format", kFormat}, {"version", kVersion},  {"model", table.model},
           {"method", table.method}, {"samples", table.samples}, {"tensors", tensors}};
  onnx_io::write_file_atomic(path, doc.dump(2) + "\n");
}

CalibTable load_table(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) PTQ_FAIL(IoError, path.string(), ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  json doc;
  try {
    doc = json::parse(ss.str());
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number beyond double
    PTQ_FAIL(DataError, path.string(), ": not valid JSON (", e.what(), ")");
  }
  Reader rd(path.string());
  if (rd.string(rd.field(doc, "format", "(top)"), "format") != kFormat)
    rd.fail("format", std::string("expected \"") + kFormat + "\"");
  if (rd.integer(rd.field(doc, "version", "(top)"), "version") != kVersion)
    rd.fail("version", "unsupported version (this ptq reads version " + std::to_string(kVersion) + ")");
  CalibTable table;
  table.model = rd.string(rd.field(doc, "model", "(top)"), "model");
  table.method = rd.string(rd.field(doc, "method", "(top)"), "method");
  int64_t samples = rd.integer(rd.field(doc, "samples", "(top)"), "samples");
  if (samples < 0) rd.fail("samples", "negative");
  table.samples = static_cast<size_t>(samples);
  const json& tensors = rd.field(doc, "tensors", "(top)");
  if (!tensors.is_object()) rd.fail("tensors", "expected an object keyed by tensor name");
  for (auto it = tensors.begin(); it != tensors.end(); ++it)
    table.tensors[it.key()] = read_tensor(rd, it.key(), it.value(), "tensors." + it.key());
  return table;
}

}  // namespace ptq::calib
