// SPDX-License-Identifier: Apache-2.0
// The bundled transformers in ONNX Runtime: `quantize` (the CLI, with the bundled calibration sets)
// writes static int8 models of the ViT-style encoder (models/vit_tiny.onnx) and the causal LM
// (models/lm_tiny.onnx, with and without --smooth-quant, and dynamic int8); ONNX Runtime loads and runs
// each on held-out inputs. Checked against ONNX Runtime's own FP32 run: the encoder's logits cosine, the
// LM's perplexity ratio on held-out text (computed here from the logits and targets.npy); and in ONNX
// Runtime's optimized graph every MatMul of the static models, the attention ones (two activation
// inputs) included, is an integer kernel.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>

#include "interop_models.h"
#include "ort_util.h"
#include "ptq/ir/npy.h"
#include "ptq/exec/executor.h"
#include "ptq/ir/onnx_io.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::test;

namespace {

// The issue's targets (README, Transformer results, has the measured values: ViT cosine 0.99xx; LM
// perplexity ratios dynamic 1.0016, static 1.0077, with SmoothQuant 1.0102).
constexpr double kVitCosine = 0.99;       // static int8 logits vs FP32
constexpr double kLmDynamicRatio = 1.01;  // perplexity quantized / FP32
constexpr double kLmStaticRatio = 1.03;
constexpr double kLmSmoothRatio = 1.03;
constexpr double kGeluCosine = 0.999;      // a 2-layer MLP with an opset-20 Gelu, static int8
// Weight-only int4, blocks of 32 (README, Transformer results; measured: RTN 1.087, GPTQ 1.037, AWQ 1.062).
constexpr double kLmInt4RtnRatio = 1.15;
constexpr double kLmInt4GptqRatio = 1.05;
constexpr double kLmInt4AwqRatio = 1.10;
// --asymmetric-weights, RTN blocks of 32 (README, Transformer results; measured 1.008, symmetric 1.026).
constexpr double kLmInt4RtnAsymRatio = 1.02;
constexpr double kSameLogitsTol = 1e-4;    // max |Δ logit| / max |logit|: same weights, other kernels
// ONNX Runtime's DQ → MatMul fusion makes MatMulNBits with accuracy_level 4 (session option
// session.qdq_matmulnbits_accuracy_level): A is quantized to int8 inside the kernel (measured 0.024).
constexpr double kOrtAccuracyLevel4Tol = 0.1;

std::filesystem::path source(const std::string& rel) { return std::filesystem::path(PTQ_SOURCE_DIR) / rel; }

// First n rows of a stacked .npy along axis 0.
Tensor rows(const Tensor& t, int64_t n) {
  Shape s = t.shape();
  const int64_t per = t.numel() / s[0];
  s[0] = std::min(n, s[0]);
  Tensor out(t.dtype(), s);
  std::memcpy(out.raw(), t.raw(), static_cast<size_t>(per * s[0]) * dtype_size(t.dtype()));
  return out;
}

onnx::ModelProto quantized(const std::string& model, const std::string& args, const std::filesystem::path& dir) {
  const std::filesystem::path out = dir / "q.onnx";
  RunResult r = run_quantize(source(model).string() + " -q --eval-samples 0 -o " + out.string() + " " + args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return onnx_io::load_model(out.string()).proto;
}

double perplexity(const Tensor& logits, const Tensor& targets) {
  const int64_t v = logits.dim(logits.rank() - 1), n = targets.numel();
  double nll = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits.data<float>() + i * v;
    double top = z[0], sum = 0.0;
    for (int64_t k = 1; k < v; ++k) top = std::max(top, static_cast<double>(z[k]));
    for (int64_t k = 0; k < v; ++k) sum += std::exp(z[k] - top);
    nll += std::log(sum) + top - z[targets.data<int64_t>()[i]];
  }
  return std::exp(nll / static_cast<double>(n));
}

// The bundled LM's held-out inputs and next characters, its FP32 model and ONNX Runtime's FP32 perplexity.
struct LmReference {
  exec::TensorMap inputs;
  Tensor targets;
  onnx::ModelProto fp32;
  double perplexity = 0.0;
};

LmReference lm_reference(const std::filesystem::path& dir) {
  LmReference r{{{"ids", read_npy(source("models/lm_tiny_test/ids.npy"))}},
                read_npy(source("models/lm_tiny_test/targets.npy")),
                onnx_io::load_model(source("models/lm_tiny.onnx").string()).proto};
  OrtRun base = ort_run(r.fp32, r.inputs, dir / "fp32");
  EXPECT_TRUE(base.ok) << base.error;
  if (base.ok) r.perplexity = perplexity(base.outputs.at("logits"), r.targets);
  return r;
}

int count_ops(const onnx::ModelProto& m, const std::string& op) {
  int n = 0;
  for (const auto& node : m.graph().node()) n += node.op_type() == op;
  return n;
}

// MatMuls ONNX Runtime still runs in float in its optimized graph ("extended": the QDQ fusions).
int float_matmuls(const onnx::ModelProto& model, const exec::TensorMap& inputs, const std::filesystem::path& dir) {
  OrtOptions o;
  o.level = "extended";
  o.optimized = dir / "optimized.onnx";
  EXPECT_TRUE(ort_run(model, inputs, dir / "fused", o).ok);
  const onnx::ModelProto optimized = onnx_io::load_model(o.optimized.string()).proto;
  int n = 0;
  for (const auto& node : optimized.graph().node()) n += node.op_type() == "MatMul";
  return n;
}

}  // namespace

TEST(TransformerInterop, VitStaticInt8KeepsItsLogitsAndRunsIntegerMatMuls) {
  const auto dir = fresh_dir();
  const exec::TensorMap inputs{{"input", rows(read_npy(source("models/fmnist_test/input.npy")), 64)}};
  const onnx::ModelProto fp32 = onnx_io::load_model(source("models/vit_tiny.onnx").string()).proto;
  const onnx::ModelProto q = quantized("models/vit_tiny.onnx", "--calib " + source("calibration/fmnist").string() + " --calib-samples 64", dir);
  OrtRun want = ort_run(fp32, inputs, dir / "fp32"), got = ort_run(q, inputs, dir / "q");
  ASSERT_TRUE(want.ok && got.ok) << want.error << got.error;
  EXPECT_GE(cosine(want.outputs.at("logits"), got.outputs.at("logits")), kVitCosine);
  EXPECT_EQ(float_matmuls(q, inputs, dir), 0);
}

TEST(TransformerInterop, LmPerplexityInt8DynamicStaticAndSmoothQuant) {
  const auto dir = fresh_dir();
  const LmReference lm = lm_reference(dir);
  ASSERT_GT(lm.perplexity, 0.0);
  const exec::TensorMap& inputs = lm.inputs;
  const Tensor& targets = lm.targets;
  const double ppl = lm.perplexity;
  const std::string calib = "--calib " + source("calibration/lm_tiny").string();
  struct Variant {
    const char* name;
    std::string args;
    double max_ratio;
    bool integer_matmuls;
  };
  for (const Variant& v : {Variant{"dynamic", "--mode dynamic", kLmDynamicRatio, false}, Variant{"static", calib, kLmStaticRatio, true},
                           Variant{"smooth", calib + " --smooth-quant", kLmSmoothRatio, true}}) {
    const auto sub = dir / v.name;
    std::filesystem::create_directories(sub);
    const onnx::ModelProto q = quantized("models/lm_tiny.onnx", v.args, sub);
    OrtRun got = ort_run(q, inputs, sub / "q");
    ASSERT_TRUE(got.ok) << v.name << ": " << got.error;
    EXPECT_LE(perplexity(got.outputs.at("logits"), targets) / ppl, v.max_ratio) << v.name;
    if (v.integer_matmuls) {
      EXPECT_EQ(float_matmuls(q, inputs, sub), 0) << v.name;
    }
  }
}

TEST(TransformerInterop, Opset20GeluModelRunsQuantizedInOnnxRuntime) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 9, opset_import: ["" : 20]>
mlp (float[N,6,16] x) => (float[N,6,8] y) {
  h = MatMul (x, W1)
  g = Gelu (h)
  y = MatMul (g, W2)
}
)");
  add_initializer(m, "W1", random_tensor({16, 32}, 1, -0.25f, 0.25f));
  add_initializer(m, "W2", random_tensor({32, 8}, 2, -0.18f, 0.18f));
  const auto dir = fresh_dir();
  const Graph g = build_graph(m);
  const rewrite::QuantPlan plan = rewrite::plan_quantization(g, {});
  ASSERT_TRUE(plan.tensors.count("g") && plan.tensors.count("h"));
  const exec::TensorMap calib = make_inputs(m, 32, 7), held_out = make_inputs(m, 16, 8);
  const onnx::ModelProto q = rewrite::rewrite_model(m, g, plan, minmax_table(g, plan, ort_activations(m, g, calib, dir / "act")));
  OrtRun want = ort_run(m, held_out, dir / "fp32"), got = ort_run(q, held_out, dir / "q");
  ASSERT_TRUE(want.ok && got.ok) << want.error << got.error;
  EXPECT_GE(cosine(want.outputs.at("y"), got.outputs.at("y")), kGeluCosine);
}

// Weight-only int4 (blocks of 32) of the LM: RTN, GPTQ and AWQ models run in ONNX Runtime, their held-out
// perplexity against FP32's (GPTQ better than RTN); ONNX Runtime (without its fusions) and ptq's
// executor compute the same logits on the GPTQ model; ONNX Runtime fuses its DequantizeLinear → MatMul
// pairs into MatMulNBits (the output head's 8-bit blocks too, bits 8; run with session.x64quantprecision,
// which needs their zero points written); the --int4-format matmulnbits model (8 MatMulNBits of 4 bits,
// the head's of 8) loads and gives the logits of the DequantizeLinear one.
TEST(TransformerInterop, LmInt4WeightOnlyRtnGptqAwqAndMatMulNBits) {
  const auto dir = fresh_dir();
  const LmReference lm = lm_reference(dir);
  ASSERT_GT(lm.perplexity, 0.0);
  const exec::TensorMap& inputs = lm.inputs;
  const Tensor& targets = lm.targets;
  const double ppl = lm.perplexity;
  const std::string int4 = "--mode dynamic --weight-type int4 --block-size 32 --calib " + source("calibration/lm_tiny").string();
  std::map<std::string, double> ratio;
  std::map<std::string, onnx::ModelProto> models;
  std::map<std::string, Tensor> logits;
  for (const char* method : {"rtn", "gptq", "awq"}) {
    const auto sub = dir / method;
    std::filesystem::create_directories(sub);
    models[method] = quantized("models/lm_tiny.onnx", int4 + " --weight-method " + method, sub);
    OrtRun got = ort_run(models[method], inputs, sub / "q");
    ASSERT_TRUE(got.ok) << method << ": " << got.error;
    logits[method] = got.outputs.at("logits");
    ratio[method] = perplexity(logits[method], targets) / ppl;
  }
  EXPECT_LE(ratio["rtn"], kLmInt4RtnRatio);
  EXPECT_LE(ratio["gptq"], kLmInt4GptqRatio);
  EXPECT_LE(ratio["awq"], kLmInt4AwqRatio);
  EXPECT_LT(ratio["gptq"], ratio["rtn"]);  // (AWQ against RTN: within the noise on this model, README)
  OrtOptions basic;
  basic.level = "basic";
  OrtRun unfused = ort_run(models["gptq"], inputs, dir / "basic", basic);
  ASSERT_TRUE(unfused.ok) << unfused.error;
  const Tensor want = exec::Executor(build_graph(models["gptq"])).run(inputs).at("logits");
  EXPECT_LE(max_relative_diff(unfused.outputs.at("logits"), want), kSameLogitsTol);
  EXPECT_LE(max_relative_diff(logits["gptq"], want), kOrtAccuracyLevel4Tol);
  OrtOptions o;
  o.optimized = dir / "optimized.onnx";
  ASSERT_TRUE(ort_run(models["gptq"], inputs, dir / "fused", o).ok);
  EXPECT_EQ(count_ops(onnx_io::load_model(o.optimized.string()).proto, "MatMulNBits"), 9) << "ONNX Runtime fuses DQ -> MatMul";
  const auto nb_dir = dir / "nbits";
  std::filesystem::create_directories(nb_dir);
  const onnx::ModelProto nb = quantized("models/lm_tiny.onnx", int4 + " --weight-method gptq --int4-format matmulnbits", nb_dir);
  EXPECT_EQ(count_ops(nb, "MatMulNBits"), 9);
  int eight = 0;
  for (const auto& n : nb.graph().node())
    for (const auto& a : n.attribute()) eight += n.op_type() == "MatMulNBits" && a.name() == "bits" && a.i() == 8;
  EXPECT_EQ(eight, 1) << "the output head";
  OrtRun got = ort_run(nb, inputs, nb_dir / "q");
  ASSERT_TRUE(got.ok) << got.error;
  EXPECT_LE(max_relative_diff(got.outputs.at("logits"), want), kSameLogitsTol);  // the same model, another form
  EXPECT_LE(max_relative_diff(exec::Executor(build_graph(nb)).run(inputs).at("logits"), got.outputs.at("logits")), kSameLogitsTol);
}

// --asymmetric-weights with 4-bit blocks (the default grid of ONNX Runtime's MatMul4BitsQuantizer and of
// AWQ): each block's 16 levels span [min(w, 0), max(w, 0)] with its own zero point, checked on the stored
// codes of every 4-bit block; ONNX Runtime runs the DequantizeLinear model at a lower perplexity than the
// symmetric blocks give, computes ptq's executor's logits unfused, and fuses the pairs into MatMulNBits
// that carry the zero points; the --int4-format matmulnbits model with the token table in 4-bit blocks
// too (GatherBlockQuantized with zero points) gives the executor's logits in ONNX Runtime.
TEST(TransformerInterop, LmInt4AsymmetricBlocksCarryZeroPointsIntoMatMulNBits) {
  const auto dir = fresh_dir();
  const LmReference lm = lm_reference(dir);
  ASSERT_GT(lm.perplexity, 0.0);
  const exec::TensorMap& inputs = lm.inputs;
  const onnx::ModelProto& fp = lm.fp32;
  const std::string int4 = "--mode dynamic --weight-type int4 --block-size 32 --asymmetric-weights";
  const onnx::ModelProto q = quantized("models/lm_tiny.onnx", int4, dir);
  std::map<std::string, const onnx::TensorProto*> init, fp_init;
  for (const auto& t : q.graph().initializer()) init[t.name()] = &t;
  for (const auto& t : fp.graph().initializer()) fp_init[t.name()] = &t;
  const auto code = [](const onnx::TensorProto& t, int64_t i) {  // int4 element i, low nibble first
    const int v = (static_cast<uint8_t>(t.raw_data()[static_cast<size_t>(i / 2)]) >> (4 * (i % 2))) & 0xf;
    return v >= 8 ? v - 16 : v;
  };
  int blocked = 0, nonzero = 0;
  for (const auto& n : q.graph().node()) {
    if (n.op_type() != "DequantizeLinear" || !init.count(n.input(0)) || init.at(n.input(0))->data_type() != static_cast<int>(DType::Int4))
      continue;
    ASSERT_EQ(n.input_size(), 3) << n.name() << ": a zero point per block";
    const std::string name = n.input(0).substr(0, n.input(0).size() - std::string("_quantized").size());
    ASSERT_TRUE(fp_init.count(name)) << name;
    const Tensor w = onnx_io::tensor_from_proto(*fp_init.at(name));
    const Tensor scale = onnx_io::tensor_from_proto(*init.at(n.input(1)));
    int64_t axis = 0, block = 0;
    for (const auto& a : n.attribute()) (a.name() == "axis" ? axis : a.name() == "block_size" ? block : block) = a.i();
    ASSERT_EQ(block, 32) << name;
    // element (o, a, j): o over the dimensions before the axis, a along it, j after; its block's entry
    const int64_t dim = w.dim(static_cast<int>(axis)), blocks = (dim + block - 1) / block;
    int64_t inner = 1;
    for (int64_t d = axis + 1; d < w.rank(); ++d) inner *= w.dim(static_cast<int>(d));
    const int64_t outer = w.numel() / (dim * inner);
    ASSERT_EQ(scale.numel(), outer * blocks * inner) << name;
    const auto entry = [&](int64_t i) { return (i / (dim * inner) * blocks + i / inner % dim / block) * inner + i % inner; };
    std::vector<float> lo(static_cast<size_t>(scale.numel()), 0.0f), hi(lo);
    for (int64_t i = 0; i < w.numel(); ++i) {
      const size_t e = static_cast<size_t>(entry(i));
      lo[e] = std::min(lo[e], w.data<float>()[i]), hi[e] = std::max(hi[e], w.data<float>()[i]);
    }
    for (int64_t i = 0; i < w.numel(); ++i) {
      const int64_t e = entry(i);
      const float s = scale.data<float>()[e], v = w.data<float>()[i], range = hi[static_cast<size_t>(e)] - lo[static_cast<size_t>(e)];
      if (range > 0.0f) {  // (an all-zero block: any scale)
        ASSERT_NEAR(s, range / 15.0f, 1e-6f * s) << name << " block " << e;
      }
      const int z = code(*init.at(n.input(2)), e);
      nonzero += z != 0;
      // rounded to nearest, nothing clipped: within half a step of its level
      ASSERT_LE(std::fabs(static_cast<float>(code(*init.at(n.input(0)), i) - z) * s - v), 0.5f * s * (1 + 1e-5f)) << name << " element " << i;
    }
    ++blocked;
  }
  EXPECT_EQ(blocked, 10) << "8 MatMul weights, the position and mask tables (the head and token table: 8-bit, symmetric)";
  EXPECT_GT(nonzero, 0);
  OrtRun got = ort_run(q, inputs, dir / "q");
  ASSERT_TRUE(got.ok) << got.error;
  const double ratio = perplexity(got.outputs.at("logits"), lm.targets) / lm.perplexity;
  EXPECT_LE(ratio, kLmInt4RtnAsymRatio);
  const Tensor want = exec::Executor(build_graph(q)).run(inputs).at("logits");
  OrtOptions basic;
  basic.level = "basic";
  OrtRun unfused = ort_run(q, inputs, dir / "basic", basic);
  ASSERT_TRUE(unfused.ok) << unfused.error;
  EXPECT_LE(max_relative_diff(unfused.outputs.at("logits"), want), kSameLogitsTol);
  EXPECT_LE(max_relative_diff(got.outputs.at("logits"), want), kOrtAccuracyLevel4Tol);
  OrtOptions o;
  o.optimized = dir / "optimized.onnx";
  ASSERT_TRUE(ort_run(q, inputs, dir / "fused", o).ok);
  EXPECT_EQ(count_ops(onnx_io::load_model(o.optimized.string()).proto, "MatMulNBits"), 9) << "ONNX Runtime fuses DQ -> MatMul";
  const auto with_zero_points = [](const onnx::ModelProto& m, const std::string& op) {
    int n = 0;
    for (const auto& node : m.graph().node()) n += node.op_type() == op && node.input_size() > 3 && !node.input(3).empty();
    return n;
  };
  const auto nb_dir = dir / "nbits";
  std::filesystem::create_directories(nb_dir);
  const onnx::ModelProto nb = quantized("models/lm_tiny.onnx", int4 + " --int4-format matmulnbits --int8-embeddings off", nb_dir);
  EXPECT_EQ(with_zero_points(nb, "MatMulNBits"), 8);  // (the 8-bit head's default ones are omitted)
  EXPECT_EQ(count_ops(nb, "GatherBlockQuantized"), 1);
  EXPECT_EQ(with_zero_points(nb, "GatherBlockQuantized"), 1);
  OrtRun nb_run = ort_run(nb, inputs, nb_dir / "q");
  ASSERT_TRUE(nb_run.ok) << nb_run.error;
  EXPECT_LE(max_relative_diff(exec::Executor(build_graph(nb)).run(inputs).at("logits"), nb_run.outputs.at("logits")), kSameLogitsTol);
}

// A Gather embedding table blocked along its rows' axis (and the MatMul after it along K): ONNX Runtime
// loads the opset-21 blocked DequantizeLinear → Gather and computes what ptq's executor computes, with
// the table in 4-bit blocks and in 8-bit ones (the default); with --int4-format matmulnbits the table is a
// GatherBlockQuantized, which ONNX Runtime runs to the same outputs.
TEST(TransformerInterop, BlockedGatherEmbeddingRunsInOnnxRuntime) {
  for (int eight : {0, 1}) {
    const auto dir = fresh_dir() / std::to_string(eight);
    const onnx::ModelProto m = embedding_net(13);
    rewrite::QuantOptions o;
    o.mode = rewrite::QuantMode::Dynamic;
    o.weight_type = QType::Int4;
    o.block_size = 16;
    o.int8_embeddings = eight;
    o.int8_last = 0;  // the table lies before the only (so the last) MatMul: it would count as the last layer
    const Graph g = build_graph(m);
    const rewrite::QuantPlan plan = rewrite::plan_quantization(g, o);
    ASSERT_EQ(plan.tensors.at("E").block, 16);
    ASSERT_EQ(plan.tensors.at("E").axis, 1);
    const onnx::ModelProto q = rewrite::rewrite_model(m, g, plan, rewrite::weight_table(g, plan));
    const exec::TensorMap in = make_inputs(m, 3, 5);
    OrtOptions basic;  // no DQ → MatMul fusion (its accuracy level 4 quantizes the MatMul's input)
    basic.level = "basic";
    OrtRun got = ort_run(q, in, dir / "q", basic), fp = ort_run(m, in, dir / "fp32"), all = ort_run(q, in, dir / "all");
    ASSERT_TRUE(got.ok && fp.ok && all.ok) << got.error << fp.error << all.error;
    EXPECT_LE(max_relative_diff(exec::Executor(build_graph(q)).run(in).at("y"), got.outputs.at("y")), kSameLogitsTol);
    EXPECT_GT(max_relative_diff(got.outputs.at("y"), fp.outputs.at("y")), 10 * kSameLogitsTol) << "the table was quantized";
    for (const auto& t : q.graph().initializer()) {
      if (t.name() == "E_quantized") {
        EXPECT_EQ(t.data_type(), eight ? onnx::TensorProto::INT8 : 22) << "int8 or int4";
      }
    }
    // --int4-format matmulnbits: the table as GatherBlockQuantized (bits 4 or 8), which ONNX Runtime runs
    // (gathering rows, where DQ → Gather dequantizes the whole table each run) to the same outputs
    o.int4_format = rewrite::Int4Format::MatMulNBits;
    const onnx::ModelProto nb = rewrite::rewrite_model(m, g, rewrite::plan_quantization(g, o), rewrite::weight_table(g, plan));
    EXPECT_EQ(count_ops(nb, "GatherBlockQuantized"), 1);
    OrtRun gbq = ort_run(nb, in, dir / "gbq");
    ASSERT_TRUE(gbq.ok) << gbq.error;
    EXPECT_LE(max_relative_diff(gbq.outputs.at("y"), got.outputs.at("y")), kSameLogitsTol);  // float A both
    EXPECT_LE(max_relative_diff(exec::Executor(build_graph(nb)).run(in).at("y"), gbq.outputs.at("y")), kSameLogitsTol);
  }
}
