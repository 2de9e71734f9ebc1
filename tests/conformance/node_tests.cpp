// SPDX-License-Identifier: Apache-2.0
// ONNX backend node tests (Debian libonnx-testdata, /usr/share/libonnx-testdata/data/node/test_*):
// every test whose ops all have a row in the kernel table is "claimed" and must pass, unless it is
// listed with a reason in tests/conformance/skips.txt. Outputs are compared as ONNX's own runner does:
// |got - expected| <= kAtol + kRtol * |expected|; integers and booleans exactly; NaN matches NaN.
#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "ptq/exec/executor.h"
#include "ptq/ir/onnx_io.h"
#include "testutil.h"

namespace fs = std::filesystem;
using namespace ptq;

namespace {

constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-5;
const fs::path kNodeTests = "/usr/share/libonnx-testdata/data/node";

std::map<std::string, std::string> read_skips() {
  std::map<std::string, std::string> skips;
  std::ifstream in(fs::path(PTQ_SOURCE_DIR) / "tests/conformance/skips.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t hash = line.find('#');
    std::string name = line.substr(0, line.find_first_of(" \t#"));
    skips[name] = hash == std::string::npos ? "" : line.substr(hash + 1);
  }
  return skips;
}

Tensor read_tensor_pb(const fs::path& path) {
  onnx::TensorProto proto;
  std::ifstream in(path, std::ios::binary);
  if (!proto.ParseFromIstream(&in)) PTQ_FAIL(DataError, path.string(), ": not a TensorProto");
  return onnx_io::tensor_from_proto(proto);
}

// Returns "" when equal, else the first difference.
std::string compare(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype()) return "dtype " + dtype_name(got.dtype()) + " != " + dtype_name(want.dtype());
  if (got.shape() != want.shape()) return "shape " + shape_str(got.shape()) + " != " + shape_str(want.shape());
  Tensor g = cast_tensor(got, DType::Float64), w = cast_tensor(want, DType::Float64);
  bool exact = !dtype_is_float(want.dtype());
  for (int64_t i = 0; i < want.numel(); ++i) {
    double a = g.data<double>()[i], b = w.data<double>()[i];
    if (std::isnan(a) && std::isnan(b)) continue;
    bool ok = exact ? a == b : (a == b || std::fabs(a - b) <= kAtol + kRtol * std::fabs(b));
    if (!ok) return "element " + std::to_string(i) + ": got " + std::to_string(a) + ", expected " + std::to_string(b);
  }
  return "";
}

bool all_ops_claimed(const onnx::GraphProto& g) {
  // The executor runs tensors only: sequence/optional/map values are not claimed.
  for (const auto* list : {&g.input(), &g.output()})
    for (const auto& vi : *list)
      if (!vi.type().has_tensor_type()) return false;
  for (const auto& n : g.node()) {
    if (n.op_type() != "Constant" && !exec::find_kernel(n.domain(), n.op_type())) return false;
    for (const auto& a : n.attribute()) {
      if (a.has_g() && !all_ops_claimed(a.g())) return false;
      for (const auto& sg : a.graphs())
        if (!all_ops_claimed(sg)) return false;
    }
  }
  return true;
}

// Runs one test folder; returns "" on success.
std::string run_case(const fs::path& dir, const Graph& graph) {
  exec::Executor ex(graph, exec::ExecOptions{1, false});
  std::set<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.insert(e.path());
  for (const auto& set : sets) {
    exec::TensorMap inputs;
    for (size_t k = 0; k < graph.inputs.size(); ++k) {
      fs::path f = set / ("input_" + std::to_string(k) + ".pb");
      if (fs::exists(f)) inputs[graph.inputs[k].name] = read_tensor_pb(f);
    }
    exec::TensorMap out = ex.run(inputs);
    for (size_t k = 0; k < graph.outputs.size(); ++k) {
      fs::path f = set / ("output_" + std::to_string(k) + ".pb");
      if (!fs::exists(f)) continue;
      std::string diff = compare(out.at(graph.outputs[k].name), read_tensor_pb(f));
      if (!diff.empty()) return set.filename().string() + " output '" + graph.outputs[k].name + "': " + diff;
    }
  }
  return "";
}

}  // namespace

TEST(Conformance, OnnxNodeTests) {
  ASSERT_TRUE(fs::is_directory(kNodeTests)) << kNodeTests << " missing: apt-get install libonnx-testdata";
  auto skips = read_skips();
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(kNodeTests))
    if (e.is_directory()) cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());
  int passed = 0, skipped = 0, unclaimed = 0;
  std::vector<std::string> failures;
  for (const auto& dir : cases) {
    std::string name = dir.filename().string();
    onnx_io::LoadedModel model;
    try {
      model = onnx_io::load_model(dir / "model.onnx");
    } catch (const Error&) {
      ++unclaimed;  // a model ONNX 1.12's protobuf cannot read is not a claim
      continue;
    }
    if (!all_ops_claimed(model.proto.graph())) {
      ++unclaimed;
      continue;
    }
    if (skips.count(name)) {
      ++skipped;
      continue;
    }
    try {
      std::string diff = run_case(dir, build_graph(model.proto, GraphOptions{false, {}}));
      if (diff.empty()) ++passed;
      else failures.push_back(name + ": " + diff);
    } catch (const std::exception& e) {
      failures.push_back(name + ": " + e.what());
    }
  }
  std::printf("ONNX node tests: %d passed, %d skipped (tests/conformance/skips.txt), %zu failed, %d not claimed\n",
              passed, skipped, failures.size(), unclaimed);
  for (const auto& f : failures) ADD_FAILURE() << f;
  for (const auto& kv : skips)
    if (!fs::exists(kNodeTests / kv.first)) ADD_FAILURE() << "skips.txt names a test that does not exist: " << kv.first;
}
