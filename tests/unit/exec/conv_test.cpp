// SPDX-License-Identifier: Apache-2.0
// Conv, ConvTranspose and ConvInteger against naive loops written here, on odd shapes (13, 7x5
// kernels, groups, strides, dilations, asymmetric pads), every kernel path (depthwise direct, 1x1
// direct GEMM, im2col in one or several column tiles), and bit-identical results for 1, 2 and 3 threads.
#include "op_runner.h"

using namespace ptq;
using test::OpCase;

namespace {

constexpr float kTol = 1e-4f;  // relative (or absolute below 1) error of float sums of <= ~1500 products

struct Geo {
  std::vector<int64_t> in, k, out, s, d, pb, pe;
};

// Output geometry from explicit pads (floor mode): out = (in + pb + pe - d * (k - 1) - 1) / s + 1.
Geo geometry(const Shape& x, const Shape& w, std::vector<int64_t> s, std::vector<int64_t> d, std::vector<int64_t> pads) {
  Geo g;
  size_t nd = x.size() - 2;
  for (size_t i = 0; i < nd; ++i) {
    g.in.push_back(x[2 + i]);
    g.k.push_back(w[2 + i]);
    g.s.push_back(s.empty() ? 1 : s[i]);
    g.d.push_back(d.empty() ? 1 : d[i]);
    g.pb.push_back(pads.empty() ? 0 : pads[i]);
    g.pe.push_back(pads.empty() ? 0 : pads[i + nd]);
    g.out.push_back((g.in[i] + g.pb[i] + g.pe[i] - g.d[i] * (g.k[i] - 1) - 1) / g.s[i] + 1);
  }
  while (g.in.size() < 3) {  // left-pad to 3 spatial dims
    for (auto* v : {&g.in, &g.k, &g.out, &g.s, &g.d}) v->insert(v->begin(), 1);
    for (auto* v : {&g.pb, &g.pe}) v->insert(v->begin(), 0);
  }
  return g;
}

template <class T, class TW = T>
std::vector<double> ref_conv(const Tensor& x, const Tensor& w, const Tensor* b, const Geo& g, int64_t group, double x_zp = 0,
                             double w_zp = 0) {
  const int64_t N = x.dim(0), C = x.dim(1), M = w.dim(0), Cg = C / group, Mg = M / group;
  const T* xp = x.data<T>();
  const TW* wp = w.data<TW>();
  std::vector<double> y;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t od = 0; od < g.out[0]; ++od)
        for (int64_t oh = 0; oh < g.out[1]; ++oh)
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            double acc = b ? b->data<float>()[m] : 0.0;
            for (int64_t c = 0; c < Cg; ++c)
              for (int64_t i = 0; i < g.k[0]; ++i)
                for (int64_t j = 0; j < g.k[1]; ++j)
                  for (int64_t l = 0; l < g.k[2]; ++l) {
                    int64_t pd = od * g.s[0] - g.pb[0] + i * g.d[0], ph = oh * g.s[1] - g.pb[1] + j * g.d[1];
                    int64_t pw = ow * g.s[2] - g.pb[2] + l * g.d[2];
                    if (pd < 0 || pd >= g.in[0] || ph < 0 || ph >= g.in[1] || pw < 0 || pw >= g.in[2]) continue;
                    int64_t ci = (m / Mg) * Cg + c;
                    double xv = xp[(((n * C + ci) * g.in[0] + pd) * g.in[1] + ph) * g.in[2] + pw] - x_zp;
                    double wv = wp[(((m * Cg + c) * g.k[0] + i) * g.k[1] + j) * g.k[2] + l] - w_zp;
                    acc += xv * wv;
                  }
            y.push_back(acc);
          }
  return y;
}

std::vector<float> to_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

struct ConvCase {
  Shape x, w;
  int64_t group = 1;
  std::vector<int64_t> s, d, pads;
  bool bias = true;
};

std::string conv_attrs(const ConvCase& c) {
  std::string a = "group = " + std::to_string(c.group);
  if (!c.s.empty()) a += ", strides = " + test::ints_attr(c.s);
  if (!c.d.empty()) a += ", dilations = " + test::ints_attr(c.d);
  if (!c.pads.empty()) a += ", pads = " + test::ints_attr(c.pads);
  return a;
}

// Runs the case with 1, 2 and 3 threads, checks the reference and that all runs agree bitwise.
void check_conv(const ConvCase& c, uint32_t seed) {
  Tensor x = test::random_tensor(c.x, seed), w = test::random_tensor(c.w, seed + 1);
  Tensor b = test::random_tensor({c.w[0]}, seed + 2);
  OpCase op;
  op.node = std::string("y = Conv <") + conv_attrs(c) + "> (x, w" + (c.bias ? ", b)" : ")");
  op.inputs = {{"x", x}, {"w", w}};
  if (c.bias) op.inputs.push_back({"b", b});
  op.outputs = {{"y", DType::Float32}};
  Geo g = geometry(c.x, c.w, c.s, c.d, c.pads);
  std::vector<float> want = to_float(ref_conv<float>(x, w, c.bias ? &b : nullptr, g, c.group));
  Tensor y1 = test::run_op(op, 1)[0];
  test::expect_near_all(y1, want, kTol, op.node);
  for (int threads : {2, 3}) test::expect_same_bits(y1, test::run_op(op, threads)[0], op.node + " threads " + std::to_string(threads));
}

}  // namespace

TEST(Conv, GroupedStridedDilatedAsymmetricPads7x5) {
  check_conv({{2, 6, 13, 11}, {4, 3, 7, 5}, 2, {2, 3}, {2, 1}, {1, 2, 3, 0}}, 1);
}

TEST(Conv, DepthwiseDirectPath) {
  check_conv({{2, 8, 13, 17}, {8, 1, 3, 3}, 8, {2, 2}, {}, {1, 1, 1, 1}}, 2);
  check_conv({{1, 8, 13, 17}, {8, 1, 3, 3}, 8, {1, 1}, {}, {1, 1, 1, 1}}, 3);
  check_conv({{1, 5, 13, 9}, {10, 1, 5, 3}, 5, {1, 2}, {2, 1}, {0, 2, 3, 1}, false}, 4);  // channel multiplier 2
  check_conv({{1, 1, 28, 28}, {6, 1, 5, 5}, 1, {}, {}, {}}, 5);                             // one input channel
  check_conv({{1, 3, 29, 31}, {3, 1, 3, 3}, 3, {3, 3}, {}, {0, 2, 1, 0}}, 14);               // stride 3: scalar path
}

TEST(Conv, PointwiseDirectGemmPath) {
  check_conv({{2, 24, 57, 41}, {40, 24, 1, 1}, 1, {}, {}, {}}, 6);   // P = 2337 columns: 3 tiles of 1024
  check_conv({{1, 130, 7, 7}, {260, 130, 1, 1}, 1, {}, {}, {}}, 7);  // small P: row tiles
  check_conv({{1, 16, 13, 13}, {32, 8, 1, 1}, 2, {2, 2}, {}, {}}, 8);  // strided 1x1 goes through im2col
}

TEST(Conv, OneInputChannelLongWindowGoesThroughGemm) {
  // An STFT as a Conv: 1 input channel, a 200-tap window, stride 40 (above the direct kernel's 7x7 limit).
  check_conv({{2, 1, 1237}, {33, 1, 200}, 1, {40}, {}, {}}, 15);
  check_conv({{1, 1, 40, 40}, {4, 1, 8, 8}, 1, {2, 2}, {}, {1, 1, 1, 1}}, 16);  // 8x8 = 64 > 49, 2-D
}

TEST(Conv, Im2colSeveralColumnTiles) {
  check_conv({{1, 160, 29, 29}, {24, 160, 3, 3}, 1, {}, {}, {1, 1, 1, 1}}, 9);  // K = 1440: 841 columns in tiles of 256
}

// im2col's shifted-copy path (unit strides, as many output as input columns): dilated taps, pads
// that differ per side (rows and columns of padding at either edge, output height != input height),
// and column tiles that start inside an output row.
TEST(Conv, Im2colShiftedCopyPath) {
  check_conv({{1, 3, 9, 11}, {4, 3, 3, 3}, 1, {}, {2, 2}, {3, 4, 1, 0}}, 21);  // width 11 + 4 + 0 - 5 + 1 = 11
  check_conv({{2, 4, 6, 7}, {4, 2, 3, 5}, 2, {}, {}, {0, 0, 2, 4}}, 22);        // taps only right of the row
  check_conv({{1, 160, 23, 37}, {16, 160, 3, 3}, 1, {}, {}, {1, 1, 1, 1}}, 23);  // K = 1440: 851 columns in tiles
}

// The direct path (unit strides, maps wide for their channel counts): column blocks of 24, 16, 8 and a
// masked remainder, a partial block of output channels, groups, a 5x3 window with pads that differ per
// side, two images.
TEST(Conv, DirectPathBlocksGroupsAndPads) {
  check_conv({{2, 6, 9, 45}, {10, 6, 3, 3}, 1, {}, {}, {1, 1, 1, 1}}, 31);  // 45 = 24 + 16 + 5 columns, 10 = 4 + 4 + 2 channels
  check_conv({{1, 8, 7, 40}, {6, 4, 5, 3}, 2, {}, {}, {2, 0, 2, 2}}, 32);   // out 7 x 40
  check_conv({{1, 4, 5, 33}, {3, 4, 2, 2}, 1, {}, {}, {0, 0, 0, 0}}, 33);   // 2x2 valid: out 4 x 32
}

TEST(Conv, AutoPadSameAndValid) {
  // in 13, kernel 4, stride 2: out 7, total pad 6 * 2 + 4 - 13 = 3 -> SAME_UPPER [1, 2], SAME_LOWER [2, 1].
  Tensor x = test::random_tensor({1, 3, 13, 13}, 10), w = test::random_tensor({5, 3, 4, 4}, 11);
  struct Mode { const char* name; std::vector<int64_t> pads; };
  for (const Mode& m : {Mode{"SAME_UPPER", {1, 1, 2, 2}}, Mode{"SAME_LOWER", {2, 2, 1, 1}}, Mode{"VALID", {0, 0, 0, 0}}}) {
    OpCase op;
    op.node = std::string("y = Conv <auto_pad = \"") + m.name + "\", strides = [2, 2]> (x, w)";
    op.inputs = {{"x", x}, {"w", w}};
    op.outputs = {{"y", DType::Float32}};
    Geo g = geometry(x.shape(), w.shape(), {2, 2}, {}, m.pads);
    test::expect_near_all(test::run_op(op)[0], to_float(ref_conv<float>(x, w, nullptr, g, 1)), kTol, m.name);
  }
}

TEST(Conv, OneAndThreeDimensional) {
  check_conv({{2, 4, 29}, {6, 2, 5}, 2, {3}, {2}, {4, 1}}, 12);
  // 1-D with more channels than oneDNN reads as NCL (an LSTM front end's Conv1d): run blocked as 2-D.
  check_conv({{2, 20, 37}, {24, 20, 5}, 1, {2}, {1}, {2, 1}}, 14);
  check_conv({{1, 24, 40}, {24, 1, 3}, 24, {1}, {2}, {2, 2}}, 15);
  check_conv({{1, 3, 7, 9, 8}, {4, 3, 3, 2, 3}, 1, {2, 1, 2}, {1, 2, 1}, {1, 0, 1, 0, 1, 2}}, 13);
}

TEST(Conv, RejectsMismatchedGroup) {
  OpCase op;
  op.node = "y = Conv <group = 2> (x, w)";
  op.inputs = {{"x", test::random_tensor({1, 3, 5, 5}, 1)}, {"w", test::random_tensor({4, 3, 3, 3}, 2)}};
  op.outputs = {{"y", DType::Float32}};
  try {
    test::run_op(op);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("do not match group 2"), std::string::npos) << e.what();
  }
}

namespace {

// Scatter form: each input element adds x * w into the output window it maps to.
std::vector<float> ref_conv_transpose(const Tensor& x, const Tensor& w, const Tensor* b, const Geo& in_geo, const std::vector<int64_t>& out,
                                      int64_t group) {
  const int64_t N = x.dim(0), C = x.dim(1), Cg = C / group, Mg = w.dim(1), M = Mg * group;
  const Geo& g = in_geo;  // g.in = X's spatial dims, g.k/s/d/pb as attributes
  std::vector<double> y(static_cast<size_t>(N * M * out[0] * out[1] * out[2]), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t p = 0; p < out[0] * out[1] * out[2]; ++p) y[static_cast<size_t>((n * M + m) * out[0] * out[1] * out[2] + p)] = b ? b->data<float>()[m] : 0.0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t id = 0; id < g.in[0]; ++id)
        for (int64_t ih = 0; ih < g.in[1]; ++ih)
          for (int64_t iw = 0; iw < g.in[2]; ++iw) {
            const double xv = x.data<float>()[(((n * C + c) * g.in[0] + id) * g.in[1] + ih) * g.in[2] + iw];
            for (int64_t ml = 0; ml < Mg; ++ml)
              for (int64_t i = 0; i < g.k[0]; ++i)
                for (int64_t j = 0; j < g.k[1]; ++j)
                  for (int64_t l = 0; l < g.k[2]; ++l) {
                    int64_t od = id * g.s[0] - g.pb[0] + i * g.d[0], oh = ih * g.s[1] - g.pb[1] + j * g.d[1];
                    int64_t ow = iw * g.s[2] - g.pb[2] + l * g.d[2];
                    if (od < 0 || od >= out[0] || oh < 0 || oh >= out[1] || ow < 0 || ow >= out[2]) continue;
                    int64_t m = (c / Cg) * Mg + ml;
                    double wv = w.data<float>()[(((c * Mg + ml) * g.k[0] + i) * g.k[1] + j) * g.k[2] + l];
                    y[static_cast<size_t>((((n * M + m) * out[0] + od) * out[1] + oh) * out[2] + ow)] += xv * wv;
                  }
          }
  return to_float(y);
}

// Runs `attrs` on x/w/b with 1 and 2 threads: the reference (explicit pads `pads`) and bitwise agreement.
void check_conv_transpose(const std::string& attrs, const Shape& xs, const Shape& ws, int64_t group, const std::vector<int64_t>& s,
                          const std::vector<int64_t>& d, const std::vector<int64_t>& pads, const Shape& out, uint32_t seed) {
  Tensor x = test::random_tensor(xs, seed), w = test::random_tensor(ws, seed + 1), b = test::random_tensor({ws[1] * group}, seed + 2);
  OpCase op;
  op.node = "y = ConvTranspose <" + attrs + "> (x, w, b)";
  op.inputs = {{"x", x}, {"w", w}, {"b", b}};
  op.outputs = {{"y", DType::Float32}};
  Tensor y = test::run_op(op)[0];
  EXPECT_EQ(y.shape(), out) << op.node;
  std::vector<int64_t> spatial(out.begin() + 2, out.end());
  while (spatial.size() < 3) spatial.insert(spatial.begin(), 1);
  test::expect_near_all(y, ref_conv_transpose(x, w, &b, geometry(xs, ws, s, d, pads), spatial, group), kTol, op.node);
  test::expect_same_bits(y, test::run_op(op, 2)[0], op.node + " threads 2");
}

}  // namespace

TEST(ConvTranspose, GroupedStridedDilatedPadsOutputPadding) {
  // X [2, 4, 5, 7], W [4, 3, 3, 4] (Cout 6 with group 2), strides [2, 3], dilations [2, 1],
  // pads [1, 0, 2, 1], output_padding [1, 2]:
  // out = s * (in - 1) + output_padding + d * (k - 1) + 1 - pb - pe = [8 + 1 + 5 - 3, 18 + 2 + 4 - 1] = [11, 23].
  check_conv_transpose("group = 2, strides = [2, 3], dilations = [2, 1], pads = [1, 0, 2, 1], output_padding = [1, 2]", {2, 4, 5, 7},
                       {4, 3, 3, 4}, 2, {2, 3}, {2, 1}, {1, 0, 2, 1}, {2, 6, 11, 23}, 20);
}

TEST(ConvTranspose, OutputShapeAndSameUpper) {
  // in 5, stride 2, kernel 3: output_shape [10] gives total pad 2 * 4 + 3 - 10 = 1, split as ONNX says
  // (NOTSET: the larger half first -> [1, 0]); SAME_UPPER with output in * s = 10 -> [0, 1].
  Tensor x = test::random_tensor({1, 2, 5}, 23), w = test::random_tensor({2, 3, 3}, 24);
  struct Mode { const char* attrs; std::vector<int64_t> pads; };
  for (const Mode& m : {Mode{"output_shape = [10]", {1, 0}}, Mode{"auto_pad = \"SAME_UPPER\"", {0, 1}}}) {
    OpCase op;
    op.node = std::string("y = ConvTranspose <strides = [2], ") + m.attrs + "> (x, w)";
    op.inputs = {{"x", x}, {"w", w}};
    op.outputs = {{"y", DType::Float32}};
    Geo g = geometry({1, 2, 5}, {2, 3, 3}, {2}, {}, m.pads);
    Tensor y = test::run_op(op)[0];
    EXPECT_EQ(y.shape(), (Shape{1, 3, 10})) << m.attrs;
    test::expect_near_all(y, ref_conv_transpose(x, w, nullptr, g, {1, 1, 10}, 1), kTol, m.attrs);
  }
}

TEST(ConvInteger, ZeroPointsGroupsPads) {
  std::vector<uint8_t> xv;
  std::vector<int8_t> wv;
  for (int i = 0; i < 1 * 4 * 9 * 11; ++i) xv.push_back(static_cast<uint8_t>((i * 37 + 11) % 256));
  for (int i = 0; i < 6 * 2 * 3 * 5; ++i) wv.push_back(static_cast<int8_t>((i * 53) % 256 - 128));
  Tensor x = test::tensor_of(xv, {1, 4, 9, 11}), w = test::tensor_of(wv, {6, 2, 3, 5});
  OpCase op;
  op.node = "y = ConvInteger <group = 2, strides = [2, 1], pads = [1, 2, 0, 1]> (x, w, xz, wz)";
  op.inputs = {{"x", x}, {"w", w}, {"xz", Tensor::scalar<uint8_t>(131)}, {"wz", Tensor::scalar<int8_t>(-3)}};
  op.outputs = {{"y", DType::Int32}};
  Tensor y = test::run_op(op)[0];
  Geo g = geometry(x.shape(), w.shape(), {2, 1}, {}, {1, 2, 0, 1});
  // Padding taps read the zero point (x - x_zp = 0 there), as in the reference that skips them.
  std::vector<double> ref = ref_conv<uint8_t, int8_t>(x, w, nullptr, g, 2, 131.0, -3.0);
  ASSERT_EQ(y.numel(), static_cast<int64_t>(ref.size()));
  for (size_t i = 0; i < ref.size(); ++i) ASSERT_EQ(y.data<int32_t>()[i], static_cast<int32_t>(ref[i])) << i;
}

TEST(ConvTranspose, SeveralRowChunksWithOverlappingWindows) {
  // Kc = 16 * 4 * 4 = 256 values per input position, 64 per row: 2^18 / (256 * 64) = 16 input rows per
  // chunk, so 40 rows take 3 chunks; kernel 4 with stride 2 makes neighbouring chunks add into the same
  // output rows.
  check_conv_transpose("strides = [2, 2], pads = [1, 1, 1, 1]", {1, 3, 40, 64}, {3, 16, 4, 4}, 1, {2, 2}, {}, {1, 1, 1, 1},
                       {1, 16, 80, 128}, 25);
}
