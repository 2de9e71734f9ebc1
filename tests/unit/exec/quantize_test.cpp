// SPDX-License-Identifier: Apache-2.0
// QuantizeLinear / DequantizeLinear (ai.onnx and com.microsoft), DynamicQuantizeLinear: bit-exact
// against ONNX Runtime outputs (kOrtTable, printed by tools/ort_tables/qdq_table.py), the ONNX
// documentation example, and the spec formulas per axis / per block.
#include <cmath>
#include <limits>

#include "op_runner.h"

using namespace ptq;
using test::OpCase;

namespace {

// ONNX Runtime 1.30 QuantizeLinear of kX with scale 0.1 and the zero points below. The inputs include
// ties (x / s = k + 0.5 -> even), values where x / s and x * (1 / s) round apart (11.15, -14.349999,
// 1.71935: ORT divides), saturation and NaN (-> the type's minimum, like MLAS).
const std::vector<float> kX = {0.05f, 0.15f, 0.25f, -0.05f, -0.15f, -0.25f, 11.15f, -14.349999f,
                               1.71935f, 0.0f, 1e6f, -1e6f, std::numeric_limits<float>::quiet_NaN(), 12.7f, -12.8f, 25.45f};
struct OrtRow {
  const char* type;
  std::vector<int64_t> y;
};
const std::vector<OrtRow> kOrtTable = {
    {"u8", {128, 130, 130, 128, 126, 126, 239, 0, 145, 128, 255, 0, 0, 255, 0, 255}},
    {"i8", {-3, -1, -1, -3, -5, -5, 108, -128, 14, -3, 127, -128, -128, 124, -128, 127}},
    {"u16", {32768, 32770, 32770, 32768, 32766, 32766, 32879, 32625, 32785, 32768, 65535, 0, 0, 32895, 32640, 33022}},
    {"i16", {-7, -5, -5, -7, -9, -9, 104, -150, 10, -7, 32767, -32768, -32768, 120, -135, 247}},
};

template <class Q>
std::vector<int64_t> widened(const Tensor& t) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < t.numel(); ++i) out.push_back(t.data<Q>()[i]);
  return out;
}

OpCase qdq_case(const std::string& op, const std::string& domain, Tensor x, Tensor scale, Tensor zp, DType out) {
  OpCase c;
  c.node = "y = " + (domain.empty() ? "" : domain + ".") + op + " (x, s, z)";
  c.opsets = domain.empty() ? "\"\" : 13" : "\"\" : 13, \"" + domain + "\" : 1";
  c.inputs = {{"x", std::move(x)}, {"s", std::move(scale)}, {"z", std::move(zp)}};
  c.outputs = {{"y", out}};
  return c;
}

}  // namespace

TEST(QuantizeLinear, MatchesOnnxRuntimeBitForBit) {
  Tensor x = test::tensor_of(kX, {static_cast<int64_t>(kX.size())});
  Tensor s = Tensor::scalar<float>(0.1f);
  auto run = [&](const std::string& domain, Tensor zp, DType out) { return test::run_op(qdq_case("QuantizeLinear", domain, x, s, std::move(zp), out))[0]; };
  EXPECT_EQ(widened<uint8_t>(run("", Tensor::scalar<uint8_t>(128), DType::UInt8)), kOrtTable[0].y);
  EXPECT_EQ(widened<int8_t>(run("", Tensor::scalar<int8_t>(-3), DType::Int8)), kOrtTable[1].y);
  EXPECT_EQ(widened<uint16_t>(run("com.microsoft", Tensor::scalar<uint16_t>(32768), DType::UInt16)), kOrtTable[2].y);
  EXPECT_EQ(widened<int16_t>(run("com.microsoft", Tensor::scalar<int16_t>(-7), DType::Int16)), kOrtTable[3].y);
  EXPECT_EQ(widened<uint8_t>(run("com.microsoft", Tensor::scalar<uint8_t>(128), DType::UInt8)), kOrtTable[0].y);
}

TEST(QuantizeLinear, DefaultZeroPointIsUint8Zero) {
  OpCase c;
  c.node = "y = QuantizeLinear (x, s)";
  c.inputs = {{"x", test::tensor_of<float>({-1.0f, 0.25f, 0.75f, 300.0f}, {4})}, {"s", Tensor::scalar<float>(0.5f)}};
  c.outputs = {{"y", DType::UInt8}};
  EXPECT_EQ(widened<uint8_t>(test::run_op(c)[0]), (std::vector<int64_t>{0, 0, 2, 255}));  // 0.5 -> 0, 1.5 -> 2
}

TEST(QuantizeLinear, PerAxisMatchesFormula) {
  Tensor x = test::random_tensor({2, 3, 5}, 1, -20.0f, 20.0f);
  const std::vector<float> scales = {0.1f, 0.2f, 0.05f};
  const std::vector<int8_t> zps = {0, 100, -120};
  OpCase c = qdq_case("QuantizeLinear", "", x, test::tensor_of(scales, {3}), test::tensor_of(zps, {3}), DType::Int8);
  c.node = "y = QuantizeLinear <axis = -2> (x, s, z)";
  Tensor y = test::run_op(c, 2)[0];
  for (int64_t i = 0; i < x.numel(); ++i) {
    const size_t a = static_cast<size_t>((i / 5) % 3);
    double q = std::nearbyint(x.data<float>()[i] / scales[a]) + zps[a];
    ASSERT_EQ(y.data<int8_t>()[i], static_cast<int8_t>(std::min(127.0, std::max(-128.0, q)))) << i;
  }
}

// Per channel on the last axis (MatMul weights [K, N]: every element of a row has its own scale, the
// kernels' per-element path): ONNX Runtime's table down each column when every column has its
// parameters, and each column as the per-tensor op gives it when they differ; DequantizeLinear back.
TEST(QuantizeLinear, LastAxisPerChannelMatchesOnnxRuntimeAndPerTensor) {
  const int64_t n = static_cast<int64_t>(kX.size());  // kX down each of 9 columns: x [16, 9]
  std::vector<float> xs;
  for (int64_t k = 0; k < n; ++k)
    for (int64_t c = 0; c < 9; ++c) xs.push_back(kX[static_cast<size_t>(k)] * (c == 0 ? 1.0f : 1.0f + 0.37f * static_cast<float>(c)));
  const Tensor x = test::tensor_of(xs, {n, 9});
  std::vector<float> same(9, 0.1f), scales;
  std::vector<int8_t> zps;
  for (int c = 0; c < 9; ++c) scales.push_back(0.05f * static_cast<float>(1 + c % 4)), zps.push_back(static_cast<int8_t>(c * 29 - 120));
  OpCase c = qdq_case("QuantizeLinear", "", x, test::tensor_of(same, {9}), test::tensor_of(std::vector<int8_t>(9, -3), {9}), DType::Int8);
  c.node = "y = QuantizeLinear <axis = -1> (x, s, z)";
  const Tensor y0 = test::run_op(c, 2)[0];
  for (int64_t k = 0; k < n; ++k) ASSERT_EQ(y0.data<int8_t>()[k * 9], kOrtTable[1].y[static_cast<size_t>(k)]) << k;
  c.inputs = {{"x", x}, {"s", test::tensor_of(scales, {9})}, {"z", test::tensor_of(zps, {9})}};
  const Tensor y = test::run_op(c, 2)[0];
  OpCase d = qdq_case("DequantizeLinear", "", y, test::tensor_of(scales, {9}), test::tensor_of(zps, {9}), DType::Float32);
  d.node = "y = DequantizeLinear <axis = 1> (x, s, z)";
  const Tensor back = test::run_op(d, 2)[0];
  for (int64_t col = 0; col < 9; ++col) {
    std::vector<float> column;
    for (int64_t k = 0; k < n; ++k) column.push_back(xs[static_cast<size_t>(k * 9 + col)]);
    OpCase one = qdq_case("QuantizeLinear", "", test::tensor_of(column, {n}), Tensor::scalar<float>(scales[static_cast<size_t>(col)]),
                          Tensor::scalar<int8_t>(zps[static_cast<size_t>(col)]), DType::Int8);
    const Tensor want = test::run_op(one)[0];
    OpCase one_back = qdq_case("DequantizeLinear", "", want, Tensor::scalar<float>(scales[static_cast<size_t>(col)]),
                               Tensor::scalar<int8_t>(zps[static_cast<size_t>(col)]), DType::Float32);
    const Tensor want_back = test::run_op(one_back)[0];
    for (int64_t k = 0; k < n; ++k) {
      ASSERT_EQ(y.data<int8_t>()[k * 9 + col], want.data<int8_t>()[k]) << k << "," << col;
      ASSERT_EQ(back.data<float>()[k * 9 + col], want_back.data<float>()[k]) << k << "," << col;
    }
  }
}

TEST(DequantizeLinear, PerTensorPerAxisAndInt32) {
  OpCase c = qdq_case("DequantizeLinear", "", test::tensor_of<uint8_t>({0, 3, 128, 255}, {4}), Tensor::scalar<float>(0.5f), Tensor::scalar<uint8_t>(128),
                      DType::Float32);
  EXPECT_EQ(test::run_op(c)[0].to_vector<float>(), (std::vector<float>{-64.0f, -62.5f, 0.0f, 63.5f}));

  c = qdq_case("DequantizeLinear", "", test::tensor_of<int8_t>({-128, 1, 127, 5, -5, 0}, {2, 3}), test::tensor_of<float>({2.0f, 0.25f, 1.0f}, {3}),
               test::tensor_of<int8_t>({0, 1, -1}, {3}), DType::Float32);
  EXPECT_EQ(test::run_op(c)[0].to_vector<float>(), (std::vector<float>{-256.0f, 0.0f, 128.0f, 10.0f, -1.5f, 1.0f}));

  c.node = "y = DequantizeLinear (x, s)";
  c.inputs = {{"x", test::tensor_of<int32_t>({-1000000, 7, 2147483647}, {3})}, {"s", Tensor::scalar<float>(0.001f)}};
  std::vector<float> want = {static_cast<float>(-1000000) * 0.001f, static_cast<float>(7) * 0.001f, static_cast<float>(2147483647) * 0.001f};
  EXPECT_EQ(test::run_op(c)[0].to_vector<float>(), want);

  c = qdq_case("DequantizeLinear", "com.microsoft", test::tensor_of<int16_t>({-32768, 0, 32767}, {3}), Tensor::scalar<float>(0.5f),
               Tensor::scalar<int16_t>(-2), DType::Float32);
  EXPECT_EQ(test::run_op(c)[0].to_vector<float>(), (std::vector<float>{-16383.0f, 1.0f, 16384.5f}));
}

TEST(DequantizeLinear, BlockedScalesOpset21) {
  // x [2, 5] with block_size 2 on axis 1: scale [2, 3], columns {0,1} {2,3} {4} share a scale.
  OpCase c;
  c.opsets = "\"\" : 21";
  c.node = "y = DequantizeLinear <axis = 1, block_size = 2> (x, s, z)";
  c.inputs = {{"x", test::tensor_of<uint8_t>({10, 11, 12, 13, 14, 20, 21, 22, 23, 24}, {2, 5})},
              {"s", test::tensor_of<float>({1, 2, 4, 0.5f, 0.25f, 8}, {2, 3})},
              {"z", test::tensor_of<uint8_t>({10, 12, 14, 20, 22, 24}, {2, 3})}};
  c.outputs = {{"y", DType::Float32}};
  EXPECT_EQ(test::run_op(c)[0].to_vector<float>(), (std::vector<float>{0, 1, 0, 2, 0, 0, 0.5f, 0, 0.25f, 0}));
}

TEST(DynamicQuantizeLinear, OnnxExampleAndAllZeros) {
  // The ONNX operator documentation example: range [-3, 2] -> scale 5 / 255, zero point 153.
  OpCase c;
  c.node = "y, s, z = DynamicQuantizeLinear (x)";
  c.inputs = {{"x", test::tensor_of<float>({0, 2, -3, -2.5f, 1.34f, 0.5f}, {6})}};
  c.outputs = {{"y", DType::UInt8}, {"s", DType::Float32}, {"z", DType::UInt8}};
  auto out = test::run_op(c);
  EXPECT_EQ(widened<uint8_t>(out[0]), (std::vector<int64_t>{153, 255, 0, 26, 221, 179}));
  EXPECT_EQ(out[1].data<float>()[0], 5.0f / 255.0f);
  EXPECT_EQ(out[2].data<uint8_t>()[0], 153);
  c.inputs = {{"x", Tensor::zeros(DType::Float32, {6})}};
  out = test::run_op(c);
  EXPECT_EQ(out[1].data<float>()[0], 1.0f);  // ONNX Runtime: scale 1 for a degenerate range
  EXPECT_EQ(out[2].data<uint8_t>()[0], 0);
}

TEST(QuantizeLinear, RejectsMismatchedPerAxisScale) {
  OpCase c = qdq_case("QuantizeLinear", "", test::random_tensor({2, 3}, 2), test::tensor_of<float>({1, 2}, {2}), test::tensor_of<uint8_t>({0, 0}, {2}), DType::UInt8);
  try {
    test::run_op(c);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("per-axis scale of shape [2] does not match input [2,3] on axis 1"), std::string::npos) << e.what();
  }
}

// 4-bit Q/DQ (opset 21). ONNX 1.12's text syntax has no int4 type, so 4-bit tensors enter as
// initializers (packed by onnx_io) and 4-bit results are fetched from inside a Q → DQ chain.
namespace {

// A 4-bit tensor (unpacked) of `shape` with seeded values over the whole type range.
Tensor random_4bit(DType type, Shape shape, uint32_t seed) {
  Tensor r = test::random_tensor(shape, seed, 0.0f, 16.0f);
  Tensor t(type, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int v = std::min(15, static_cast<int>(r.data<float>()[i]));
    static_cast<uint8_t*>(t.raw())[i] = static_cast<uint8_t>(type == DType::Int4 ? v - 8 : v);
  }
  return t;
}

int32_t int_at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::Int4 ? t.data<int8_t>()[i] : t.data<uint8_t>()[i];
}

// Index of the scale/zero-point entry of element i of x (shape `x`), naive: the multi-index of i with
// the axis coordinate divided by the block size (blocked), or the axis coordinate alone (per axis).
int64_t param_index(const Shape& x, int64_t i, int axis, int64_t block) {
  std::vector<int64_t> idx(x.size());
  for (size_t d = x.size(); d-- > 0;) idx[d] = i % x[d], i /= x[d];
  if (block == 0) return idx[static_cast<size_t>(axis)];
  int64_t p = 0;
  for (size_t d = 0; d < x.size(); ++d) {
    const int64_t n = static_cast<int>(d) == axis ? (x[d] + block - 1) / block : x[d];
    p = p * n + (static_cast<int>(d) == axis ? idx[d] / block : idx[d]);
  }
  return p;
}

struct Layout4 {
  const char* what;
  Shape x;
  int axis;
  int64_t block;  // 0: per axis
};
const Layout4 kLayouts4[] = {
    {"per axis 0", {5, 3, 3}, 0, 0},
    {"per axis 1", {4, 7}, 1, 0},
    {"blocked axis 1, 7 = 3 + 3 + 1", {3, 7, 2}, 1, 3},
    {"blocked axis 0", {9, 5}, 0, 4},
};

Shape param_shape(const Layout4& l) {
  if (l.block == 0) return {l.x[static_cast<size_t>(l.axis)]};
  Shape s = l.x;
  s[static_cast<size_t>(l.axis)] = (s[static_cast<size_t>(l.axis)] + l.block - 1) / l.block;
  return s;
}

std::string qdq_attrs(const Layout4& l) {
  return "<axis = " + std::to_string(l.axis) + (l.block ? ", block_size = " + std::to_string(l.block) : "") + ">";
}

}  // namespace

TEST(DequantizeLinear, FourBitPerTensorPerAxisAndBlockedMatchNaive) {
  for (DType type : {DType::Int4, DType::UInt4})
    for (const Layout4& l : kLayouts4) {
      const std::string what = std::string(dtype_name(type)) + " " + l.what;
      Tensor x = random_4bit(type, l.x, 5);
      Tensor s = test::random_tensor(param_shape(l), 6, 0.01f, 2.0f);
      Tensor z = random_4bit(type, param_shape(l), 7);
      OpCase c;
      c.opsets = "\"\" : 21";
      c.node = "y = DequantizeLinear " + qdq_attrs(l) + " (x, s, z)";
      c.initializers = {{"x", x}, {"s", s}, {"z", z}};
      c.outputs = {{"y", DType::Float32}};
      Tensor y = test::run_op(c)[0];
      std::vector<float> want;
      for (int64_t i = 0; i < x.numel(); ++i) {
        const int64_t p = param_index(l.x, i, l.axis, l.block);
        want.push_back(static_cast<float>(int_at(x, i) - int_at(z, p)) * s.data<float>()[p]);
      }
      EXPECT_EQ(y.to_vector<float>(), want) << what;
    }
  // Per tensor, and without a zero point (0).
  OpCase c;
  c.opsets = "\"\" : 21";
  c.node = "y = DequantizeLinear (x, s, z)";
  c.initializers = {{"x", random_4bit(DType::Int4, {3}, 8)}, {"s", Tensor::scalar<float>(0.5f)}, {"z", random_4bit(DType::Int4, {}, 9)}};
  c.outputs = {{"y", DType::Float32}};
  const Tensor& x = c.initializers[0].second;
  const int32_t zp = int_at(c.initializers[2].second, 0);
  std::vector<float> want;
  for (int64_t i = 0; i < 3; ++i) want.push_back(static_cast<float>(int_at(x, i) - zp) * 0.5f);
  EXPECT_EQ(test::run_op(c)[0].to_vector<float>(), want);
  c.node = "y = DequantizeLinear (x, s)";
  c.initializers.pop_back();
  want.clear();
  for (int64_t i = 0; i < 3; ++i) want.push_back(static_cast<float>(int_at(x, i)) * 0.5f);
  EXPECT_EQ(test::run_op(c)[0].to_vector<float>(), want);
}

TEST(QuantizeLinear, FourBitSaturatesPerAxisAndBlocked) {
  for (DType type : {DType::Int4, DType::UInt4})
    for (const Layout4& l : kLayouts4) {
      const std::string what = std::string(dtype_name(type)) + " " + l.what;
      Tensor x = test::random_tensor(l.x, 11, -3.0f, 3.0f);  // x / s reaches far outside the 4-bit range
      Tensor s = test::random_tensor(param_shape(l), 12, 0.1f, 0.5f);
      Tensor z = random_4bit(type, param_shape(l), 13);
      OpCase c;
      c.opsets = "\"\" : 21";
      c.node = "q = QuantizeLinear " + qdq_attrs(l) + " (x, s, z)\n  y = DequantizeLinear " + qdq_attrs(l) + " (q, s, z)";
      c.inputs = {{"x", x}};
      c.initializers = {{"s", s}, {"z", z}};
      c.outputs = {{"y", DType::Float32}};
      Graph g = test::op_graph(c);
      exec::RunOptions run;
      run.fetch = {"q"};
      exec::TensorMap out = exec::Executor(g, exec::ExecOptions{1, false}).run({{"x", x}}, run);
      const Tensor& q = out.at("q");
      ASSERT_EQ(q.dtype(), type) << what;
      const int32_t lo = type == DType::Int4 ? -8 : 0, hi = type == DType::Int4 ? 7 : 15;
      int saturated = 0;
      for (int64_t i = 0; i < x.numel(); ++i) {
        const int64_t p = param_index(l.x, i, l.axis, l.block);
        const double v = std::nearbyint(x.data<float>()[i] / s.data<float>()[p]) + int_at(z, p);
        saturated += v < lo || v > hi;
        ASSERT_EQ(int_at(q, i), static_cast<int32_t>(std::clamp<double>(v, lo, hi))) << what << " at " << i;
        ASSERT_EQ(out.at("y").data<float>()[i], static_cast<float>(int_at(q, i) - int_at(z, p)) * s.data<float>()[p]) << what;
      }
      EXPECT_GT(saturated, 0) << what << ": the case should exercise saturation";
    }
}

TEST(QuantizeLinear, OutputDtypeAttributeSelectsFourBit) {
  OpCase c;
  c.opsets = "\"\" : 21";
  c.node = "q = QuantizeLinear <output_dtype = 22> (x, s)\n  y = DequantizeLinear (q, s)";
  c.inputs = {{"x", test::tensor_of<float>({0.25f, -0.75f, 9.0f, -9.0f}, {4})}};
  c.initializers = {{"s", Tensor::scalar<float>(0.5f)}};
  c.outputs = {{"y", DType::Float32}};
  // x / s = 0.5 -> 0, -1.5 -> -2, 18 -> 7, -18 -> -8
  EXPECT_EQ(test::run_op(c)[0].to_vector<float>(), (std::vector<float>{0.0f, -1.0f, 3.5f, -4.0f}));
}
