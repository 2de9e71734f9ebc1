// SPDX-License-Identifier: Apache-2.0
// Old opsets and odd graphs through the `quantize` CLI (models: odd_models.h):
//   - value_info missing (an IR-3 model, its output without a shape) or contradicting the real shapes
//     (wrong element type, dims, rank) is repaired from shape inference; what inference cannot tell (an
//     opset newer than ONNX 1.12's) from a run on the first sample;
//   - a model whose input dims are all symbolic gives the same numbers as the same model with static
//     dims (weights, scales, evaluation, tables, sensitivity, precision search, AdaRound, bias correction);
//   - opsets 7–9 are raised to 11 (BatchNormalization spatial, Upsample → Resize, Dropout ratio), opset
//     6 and a read Dropout-9 mask are refused with one line naming the file (and node);
//   - training mode: a random Dropout is refused naming the node, BatchNormalization kept with a warning.
#include <nlohmann/json.hpp>

#include <algorithm>

#include "odd_models.h"
#include "ptq/ir/npy.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::test;
namespace fs = std::filesystem;

namespace {

// Output cosine vs FP32 of these models at 8 bits (measured ≥ 0.99996), with a 10x margin on 1 − cosine.
constexpr double kMinCosine = 0.9995;

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

onnx::ModelProto load(const fs::path& path) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(read_bytes(path))) << path;
  return m;
}

const onnx::ValueInfoProto* find_entry(const onnx::ModelProto& m, const std::string& name) {
  for (const auto* list : {&m.graph().value_info(), &m.graph().output()})
    for (const auto& v : *list)
      if (v.name() == name) return &v;
  return nullptr;
}

// "float32 [N,5]"-like text of an entry: elem type number, dims as values, names or '?'.
std::string entry_str(const onnx::ModelProto& m, const std::string& name) {
  const onnx::ValueInfoProto* v = find_entry(m, name);
  if (!v) return "(none)";
  const auto& t = v->type().tensor_type();
  std::string s = std::to_string(t.elem_type());
  if (!t.has_shape()) return s + " (no shape)";
  s += " [";
  for (int i = 0; i < t.shape().dim_size(); ++i) {
    const auto& d = t.shape().dim(i);
    s += (i ? "," : "") + (d.has_dim_value() ? std::to_string(d.dim_value()) : d.dim_param().empty() ? "?" : d.dim_param());
  }
  return s + "]";
}

std::map<std::string, std::string> initializers(const onnx::ModelProto& m) {
  std::map<std::string, std::string> out;
  for (const auto& t : m.graph().initializer()) out[t.name()] = t.SerializeAsString();
  return out;
}

std::vector<std::string> op_types(const onnx::ModelProto& m) {
  std::vector<std::string> out;
  for (const auto& n : m.graph().node()) out.push_back(n.op_type());
  return out;
}

size_t lines(const std::string& s, const std::string& prefix) {
  size_t n = 0;
  for (size_t at = s.find(prefix); at != std::string::npos; at = s.find(prefix, at + 1)) n += at == 0 || s[at - 1] == '\n';
  return n;
}

// One model in static and in symbolic form, with the same samples.
struct Pair {
  fs::path dir, fixed, symbolic, calib;
};

Pair write_pair(const onnx::ModelProto& fixed, const onnx::ModelProto& symbolic, const Shape& sample, int samples = 6) {
  Pair p;
  p.dir = fresh_dir();
  p.fixed = p.dir / "fixed.onnx";
  p.symbolic = p.dir / "symbolic.onnx";
  p.calib = p.dir / "calib";
  write_model(fixed, p.fixed);
  write_model(symbolic, p.symbolic);
  write_samples(p.calib, "x", sample, samples, 300);
  return p;
}

Pair cnn_pair() { return write_pair(small_cnn("2,3,10,12", "2,5"), small_cnn("N,C,H,W", "N,K"), {2, 3, 10, 12}); }

// Runs `args` (with {model} and {out} replaced) on both models of the pair; both must exit 0. Returns the
// stdout of each.
std::pair<std::string, std::string> run_both(const Pair& p, const std::string& args) {
  std::pair<std::string, std::string> out;
  for (const auto* model : {&p.fixed, &p.symbolic}) {
    std::string a = args;
    const std::string stem = model->stem().string();
    for (size_t at; (at = a.find("{model}")) != std::string::npos;) a.replace(at, 7, q(*model));
    for (size_t at; (at = a.find("{out}")) != std::string::npos;) a.replace(at, 5, q(p.dir / stem));
    RunResult r = run_quantize(a);
    EXPECT_EQ(r.exit_code, 0) << a << "\n" << r.err;
    (model == &p.fixed ? out.first : out.second) = r.out;
  }
  return out;
}

// The evaluation of a main-command --json report without its timings and sources.
nlohmann::json numbers(const std::string& out) {
  nlohmann::json j = nlohmann::json::parse(out);
  auto part = [&](const char* key) { return j.contains(key) && j[key].is_object() ? j[key] : nlohmann::json::object(); };
  nlohmann::json e = part("evaluation"), p = part("precision");
  e.erase("seconds");
  e.erase("source");
  p.erase("seconds");
  return {{"evaluation", e}, {"nodes", j["nodes"]}, {"precision", p}};
}

}  // namespace

// ---- value_info ----------------------------------------------------------------------------------------

TEST(ShapesCli, Ir3ModelWithoutValueInfoAndShapelessOutputIsWrittenWithInferredShapes) {
  const onnx::ModelProto m = ir3_cnn();
  ASSERT_EQ(m.graph().value_info_size(), 0);
  const fs::path dir = fresh_dir();
  write_model(m, dir / "ir3.onnx");
  write_samples(dir / "calib", "x", {2, 3, 10, 12}, 6, 300);
  RunResult r = run_quantize(q(dir / "ir3.onnx") + " --calib " + q(dir / "calib") + " --json -o " + q(dir / "q.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;  // nothing contradicted, only missing
  const onnx::ModelProto out = load(dir / "q.onnx");
  EXPECT_EQ(entry_str(out, "y"), "1 [N,5]");
  EXPECT_EQ(out.opset_import(0).version(), 11);
  EXPECT_GE(nlohmann::json::parse(r.out)["evaluation"]["outputs"][0]["cosine"].get<double>(), kMinCosine);
  RunResult run = run_quantize("run " + q(dir / "q.onnx") + " --inputs " + q(dir / "calib/000") + " -o " + q(dir / "run"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(read_npy(dir / "run/y.npy").shape(), (Shape{2, 5}));
}

TEST(ShapesCli, ContradictingValueInfoIsReplacedWithOneWarningEach) {
  onnx::ModelProto clean = small_cnn("2,3,10,12", "2,5"), wrong = clean;
  set_value_info(wrong, "c1", onnx::TensorProto::INT64, {"2", "4", "10", "12"});  // wrong type
  set_value_info(wrong, "p", onnx::TensorProto::FLOAT, {"2", "7", "1", "1"});     // wrong dim
  set_value_info(wrong, "f", onnx::TensorProto::FLOAT, {"2", "4", "1"});          // wrong rank
  set_value_info(wrong, "y", onnx::TensorProto::FLOAT, {"2", "7"});               // wrong output dim
  const Pair p = write_pair(clean, wrong, {2, 3, 10, 12});
  const auto [clean_out, wrong_out] = run_both(p, "{model} --calib " + q(p.calib) + " --json -o {out}.q.onnx");
  EXPECT_EQ(numbers(clean_out), numbers(wrong_out));
  const onnx::ModelProto a = load(p.dir / "fixed.q.onnx"), b = load(p.dir / "symbolic.q.onnx");
  EXPECT_EQ(initializers(a), initializers(b));
  EXPECT_EQ(op_types(a), op_types(b));
  EXPECT_EQ(entry_str(b, "p"), "1 [2,4,1,1]");
  EXPECT_EQ(entry_str(b, "f"), "1 [2,4]");
  EXPECT_EQ(entry_str(b, "y"), "1 [2,5]");
  EXPECT_NE(entry_str(b, "c1"), "7 [2,4,10,12]");  // replaced, or gone with the folded Relu

  RunResult r = run_quantize(q(p.symbolic) + " --calib " + q(p.calib) + " -o " + q(p.dir / "again.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines(r.err, "warning: "), 4u) << r.err;
  EXPECT_NE(r.err.find("warning: " + p.symbolic.string() + ": value_info of 'c1' says int64 [2,4,10,12], shape inference gives "
                       "float32 [2,4,10,12]: written as the latter\n"),
            std::string::npos)
      << r.err;
  for (const char* name : {"'p' says float32 [2,7,1,1]", "'f' says float32 [2,4,1]", "'y' says float32 [2,7]"})
    EXPECT_NE(r.err.find(name), std::string::npos) << name << "\n" << r.err;
  // run and eval read the repaired model too.
  RunResult run = run_quantize("run " + q(p.symbolic) + " --inputs " + q(p.calib / "000") + " -o " + q(p.dir / "run"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(read_npy(p.dir / "run/y.npy").shape(), (Shape{2, 5}));
}

// Opset 18 is newer than ONNX 1.12's shape inference, which reads ReduceMean-18 (axes input) as
// ReduceMean-13 and would reduce every axis ([1,1,1]): a run of the first sample tells.
onnx::ModelProto opset18_model() {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 18]>
g (float[2,6,8] x) => (float y) {
  m = MatMul(x, w)
  y = ReduceMean <keepdims = 1> (m, axes)
}
)");
  m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  add_initializer(m, "w", random_tensor({8, 4}, 31));
  add_initializer(m, "axes", Tensor::from_vector<int64_t>({-1}, {1}));
  set_value_info(m, "m", onnx::TensorProto::FLOAT, {"2", "6", "5"});
  return m;
}

TEST(ShapesCli, WhatInferenceCannotTellIsTakenFromARun) {
  const fs::path dir = fresh_dir();
  write_model(opset18_model(), dir / "new.onnx");
  write_samples(dir / "calib", "x", {2, 6, 8}, 3, 300);
  RunResult r = run_quantize(q(dir / "new.onnx") + " --calib " + q(dir / "calib") + " -o " + q(dir / "q.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines(r.err, "warning: "), 1u) << r.err;
  EXPECT_NE(r.err.find("value_info of 'm' says float32 [2,6,5], a run of the model gives float32 [2,6,4]: written as the latter"),
            std::string::npos)
      << r.err;
  const onnx::ModelProto out = load(dir / "q.onnx");
  EXPECT_EQ(entry_str(out, "m"), "1 [2,6,4]");
  EXPECT_EQ(entry_str(out, "y"), "1 [2,6,1]");
}

TEST(ShapesCli, RepairedModelsAreTheSameBytesWhateverTheThreads) {
  const fs::path dir = fresh_dir();
  write_model(opset18_model(), dir / "new.onnx");
  write_samples(dir / "calib", "x", {2, 6, 8}, 4, 300);
  write_model(small_cnn("N,C,H,W", ""), dir / "cnn.onnx");
  write_samples(dir / "calib_cnn", "x", {2, 3, 10, 12}, 4, 300);
  for (const auto& [model, calib] : {std::pair{"new", "calib"}, std::pair{"cnn", "calib_cnn"}}) {
    std::string bytes;
    for (const char* threads : {"1", "2", "3"}) {
      const fs::path out = dir / (std::string(model) + threads + ".onnx");
      RunResult r = run_quantize(q(dir / (std::string(model) + ".onnx")) + " --calib " + q(dir / calib) + " -q --threads " + threads +
                                 " -o " + q(out));
      ASSERT_EQ(r.exit_code, 0) << model << " " << threads << ": " << r.err;
      if (bytes.empty()) bytes = read_bytes(out);
      else EXPECT_EQ(read_bytes(out), bytes) << model << " --threads " << threads;
    }
  }
}

// ---- symbolic dims -------------------------------------------------------------------------------------

TEST(ShapesCli, SymbolicCnnQuantizesToTheStaticModelsNumbers) {
  const Pair p = cnn_pair();
  for (const std::string options : {"", " --adaround 200 --bias-correction", " --target-cosine 0.999999"}) {
    const auto [a, b] = run_both(p, "{model} --calib " + q(p.calib) + options + " --json -o {out}.q.onnx");
    EXPECT_EQ(numbers(a), numbers(b)) << options;
    EXPECT_GE(numbers(b)["evaluation"]["outputs"][0]["cosine"].get<double>(), kMinCosine) << options;
    const onnx::ModelProto fixed = load(p.dir / "fixed.q.onnx"), symbolic = load(p.dir / "symbolic.q.onnx");
    EXPECT_EQ(initializers(fixed), initializers(symbolic)) << options;
    EXPECT_EQ(op_types(fixed), op_types(symbolic)) << options;
    EXPECT_EQ(entry_str(symbolic, "y"), "1 [N,5]") << options;  // K declared, 5 inferred
  }
}

TEST(ShapesCli, SymbolicCnnCalibrateRunEvalAndSensitivityMatchTheStaticModel) {
  const Pair p = cnn_pair();
  run_both(p, "calibrate {model} --calib " + q(p.calib) + " --table {out}.json");
  EXPECT_EQ(nlohmann::json::parse(read_bytes(p.dir / "fixed.json"))["tensors"],
            nlohmann::json::parse(read_bytes(p.dir / "symbolic.json"))["tensors"]);
  run_both(p, "run {model} --inputs " + q(p.calib) + " -o {out}.run");
  for (const char* s : {"000", "005"})
    EXPECT_EQ(read_bytes(p.dir / "fixed.run" / s / "y.npy"), read_bytes(p.dir / "symbolic.run" / s / "y.npy")) << s;
  run_both(p, "{model} --calib " + q(p.calib) + " -q -o {out}.q.onnx");
  const auto [eval_a, eval_b] = run_both(p, "eval {model} {out}.q.onnx --data " + q(p.calib) + " --json");
  nlohmann::json ea = nlohmann::json::parse(eval_a), eb = nlohmann::json::parse(eval_b);
  for (auto* e : {&ea, &eb}) e->erase("seconds"), e->erase("source");
  EXPECT_EQ(ea, eb);
  const auto [sens_a, sens_b] = run_both(p, "sensitivity {model} --calib " + q(p.calib) + " --json");
  nlohmann::json sa = nlohmann::json::parse(sens_a), sb = nlohmann::json::parse(sens_b);
  ASSERT_TRUE(sa.contains("layers")) << sens_a;
  EXPECT_EQ(sa["layers"], sb["layers"]);
}

TEST(ShapesCli, SymbolicMlpQuantizesToTheStaticModelsNumbers) {
  const Pair p = write_pair(small_mlp("2,5,6", "2,5,4"), small_mlp("B,T,D", "B,T,K"), {2, 5, 6});
  for (const std::string options : {"", " --mode dynamic", " --mode dynamic --weight-method gptq", " --smooth-quant"}) {
    const auto [a, b] = run_both(p, "{model} --calib " + q(p.calib) + options + " --json -o {out}.q.onnx");
    EXPECT_EQ(numbers(a), numbers(b)) << options;
    EXPECT_EQ(initializers(load(p.dir / "fixed.q.onnx")), initializers(load(p.dir / "symbolic.q.onnx"))) << options;
  }
}

// ---- opsets --------------------------------------------------------------------------------------------

TEST(ShapesCli, Opsets7To9AreRaisedTo11) {
  for (int64_t opset : {7, 8, 9}) {
    const fs::path dir = fresh_dir();
    write_model(old_opset_cnn(opset), dir / "old.onnx");
    write_samples(dir / "calib", "x", {1, 3, 8, 8}, 6, 300);
    RunResult r = run_quantize(q(dir / "old.onnx") + " --calib " + q(dir / "calib") + " --json -o " + q(dir / "q.onnx"));
    ASSERT_EQ(r.exit_code, 0) << opset << ": " << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_GE(j["evaluation"]["outputs"][0]["cosine"].get<double>(), kMinCosine) << opset;
    EXPECT_EQ(j["nodes"]["quantized"], 4) << opset;  // Conv (+Relu), GlobalAveragePool, Flatten, Gemm: IR 3 typed too
    const onnx::ModelProto out = load(dir / "q.onnx");
    EXPECT_EQ(out.opset_import(0).version(), 11) << opset;
    const std::vector<std::string> ops = op_types(out);
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "Upsample"), 0) << opset;
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "Resize"), 1) << opset;
    for (const auto& n : out.graph().node()) {
      if (n.op_type() == "BatchNormalization") {
        for (const auto& a : n.attribute()) EXPECT_NE(a.name(), "spatial") << opset;
      }
      if (n.op_type() == "Resize") {
        EXPECT_EQ(n.input_size(), 3) << opset;  // X, roi, scales
      }
    }
  }
}

TEST(ShapesCli, Opset6AndAReadDropoutMaskAreRefusedBeforeAnyWork) {
  const fs::path dir = fresh_dir();
  write_model(small_cnn("1,3,8,8", "1,5", 3, 6), dir / "six.onnx");
  write_samples(dir / "calib", "x", {1, 3, 8, 8}, 2, 300);
  RunResult r = run_quantize(q(dir / "six.onnx") + " --calib " + q(dir / "calib") + " -o " + q(dir / "q.onnx"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "error: " + (dir / "six.onnx").string() +
                       ": cannot raise the opset from 6 to 11: models below opset 7 are not supported; convert the model first "
                       "(onnx.version_converter)\n");
  EXPECT_FALSE(fs::exists(dir / "q.onnx"));

  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 4, opset_import: ["" : 9]>
g (float[1,4] x) => (float[1,3] y) {
  h = MatMul(x, w)
  d, mask = Dropout <ratio = 0.1> (h)
  y = Mul(d, mask)
}
)");
  m.mutable_graph()->mutable_node(1)->set_name("drop");
  add_initializer(m, "w", random_tensor({4, 3}, 41));
  write_model(m, dir / "mask.onnx");
  write_samples(dir / "calib4", "x", {1, 4}, 2, 300);
  r = run_quantize(q(dir / "mask.onnx") + " --calib " + q(dir / "calib4") + " -o " + q(dir / "q.onnx"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(lines(r.err, "error: "), 1u) << r.err;
  EXPECT_NE(r.err.find("error: " + (dir / "mask.onnx").string() + ": cannot raise the opset from 9 to 11: node 'drop' (Dropout): "
                       "the mask output became bool in opset 10"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("calibrat"), std::string::npos) << r.err;  // refused before calibrating
}

// ---- training mode -------------------------------------------------------------------------------------

TEST(ShapesCli, RandomDropoutIsRefusedNamingTheNodeAndRatioZeroIsTheIdentity) {
  const std::string text = R"(
<ir_version: 7, opset_import: ["" : 13]>
g (float[N,4] x) => (float[N,3] y, bool[N,3] mask) {
  h = MatMul(x, w)
  d, mask = Dropout (h, ratio, training)
  y = Relu(d)
}
)";
  const fs::path dir = fresh_dir();
  write_samples(dir / "calib", "x", {2, 4}, 3, 300);
  for (float ratio : {0.3f, 0.0f}) {
    onnx::ModelProto m = parse_text_model(text);
    m.mutable_graph()->mutable_node(1)->set_name("drop");
    add_initializer(m, "w", random_tensor({4, 3}, 41));
    add_initializer(m, "ratio", Tensor::scalar<float>(ratio));
    add_initializer(m, "training", cast_tensor(Tensor::from_vector<uint8_t>({1}, {}), DType::Bool));
    write_model(m, dir / "drop.onnx");
    for (const std::string mode : {"", " --mode dynamic"}) {
      RunResult r = run_quantize(q(dir / "drop.onnx") + " --calib " + q(dir / "calib") + mode + " -q -o " + q(dir / "q.onnx"));
      if (ratio == 0.0f) {
        EXPECT_EQ(r.exit_code, 0) << mode << r.err;
        continue;
      }
      EXPECT_EQ(r.exit_code, 1) << mode;
      EXPECT_EQ(r.err, "error: " + (dir / "drop.onnx").string() +
                           ": node 'drop' (Dropout): training_mode is true, so it drops random elements (ratio 0.300); ptq "
                           "quantizes inference models: export the model in eval mode or set training_mode to false\n")
          << mode;
    }
  }
  RunResult run = run_quantize("run " + q(dir / "q.onnx") + " --inputs " + q(dir / "calib/000") + " -o " + q(dir / "run"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const Tensor mask = read_npy(dir / "run/mask.npy");
  ASSERT_EQ(mask.shape(), (Shape{2, 3}));
  for (int64_t i = 0; i < mask.numel(); ++i) EXPECT_EQ(mask.data<uint8_t>()[i], 1) << i;
}

TEST(ShapesCli, TrainingBatchNormIsKeptWithAWarningNamingTheNode) {
  const fs::path dir = fresh_dir();
  write_model(training_bn_cnn(), dir / "bn.onnx");
  write_samples(dir / "calib", "x", {2, 3, 8, 8}, 6, 300);
  RunResult r = run_quantize(q(dir / "bn.onnx") + " --calib " + q(dir / "calib") + " --json -o " + q(dir / "q.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: " + (dir / "bn.onnx").string() + ": node 'bn1' (BatchNormalization): training_mode = 1: each batch "
                       "is normalized with its own mean and variance"),
            std::string::npos)
      << r.err;
  const nlohmann::json report = nlohmann::json::parse(r.out);  // kept alive: the loop iterates into it
  for (const auto& o : report.at("evaluation").at("outputs")) EXPECT_GE(o.at("cosine").get<double>(), kMinCosine) << o.at("name");
  const onnx::ModelProto out = load(dir / "q.onnx");
  int kept = 0;
  for (const auto& n : out.graph().node()) kept += n.op_type() == "BatchNormalization" && n.output_size() == 3;
  EXPECT_EQ(kept, 1);
}

// ONNX 1.12 has no schemas for the com.microsoft domain: the DequantizeLinear's output, the Add after it and
// the graph output are typed by a run (and the Add is quantized); without samples (dynamic mode), the
// output's missing shape is one line naming it.
TEST(ShapesCli, OutputsOfCustomDomainOpsAreTypedByARunOrNamedWithoutSamples) {
  const onnx::ModelProto m = custom_domain_mlp();
  const fs::path dir = fresh_dir();
  write_model(m, dir / "ms.onnx");
  write_samples(dir / "calib", "x", {2, 4}, 3, 300);
  RunResult r = run_quantize(q(dir / "ms.onnx") + " --calib " + q(dir / "calib") + " --json -o " + q(dir / "q.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["nodes"]["quantized"], 2);  // MatMul and Add
  const onnx::ModelProto out = load(dir / "q.onnx");
  EXPECT_EQ(entry_str(out, "y"), "1 [2,3]");
  EXPECT_EQ(entry_str(out, "s"), "1 [3]");

  r = run_quantize(q(dir / "ms.onnx") + " --mode dynamic -o " + q(dir / "d.onnx"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "error: " + (dir / "ms.onnx").string() +
                       ": graph output 'y' has no type or shape and shape inference cannot give one; give samples (--calib DIR) "
                       "so that ptq observes it\n");
  EXPECT_FALSE(fs::exists(dir / "d.onnx"));
  r = run_quantize(q(dir / "ms.onnx") + " --mode dynamic --calib " + q(dir / "calib") + " -q -o " + q(dir / "d.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(entry_str(load(dir / "d.onnx"), "y"), "1 [2,3]");
}
