// SPDX-License-Identifier: Apache-2.0
// MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool against naive loops written here, with
// ceil_mode, dilations, asymmetric pads, count_include_pad, Indices/storage_order, 1-D and 3-D windows.
#include <limits>

#include "op_runner.h"

using namespace ptq;
using test::OpCase;

namespace {

constexpr float kTol = 1e-5f;  // window sums of <= 49 values in [-1, 1]

struct PoolCase {
  Shape x;
  std::vector<int64_t> k, s, d, pads;
  bool ceil = false;
};

struct PoolRef {
  std::vector<float> max, avg, avg_pad;
  std::vector<int64_t> argmax, argmax_cm;
  Shape out;
};

// Naive pooling over right-aligned (D, H, W) windows; output size with floor or ceil (and the
// "last window starts inside" correction for ceil).
PoolRef ref_pool(const Tensor& x, const PoolCase& c) {
  const size_t nd = c.k.size();
  int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0}, out[3] = {1, 1, 1};
  PoolRef r;
  r.out = {x.dim(0), x.dim(1)};
  for (size_t i = 0; i < nd; ++i) {
    size_t j = 3 - nd + i;
    in[j] = x.dim(static_cast<int>(2 + i));
    k[j] = c.k[i];
    s[j] = c.s.empty() ? 1 : c.s[i];
    d[j] = c.d.empty() ? 1 : c.d[i];
    pb[j] = c.pads.empty() ? 0 : c.pads[i];
    pe[j] = c.pads.empty() ? 0 : c.pads[i + nd];
    double span = static_cast<double>(in[j] + pb[j] + pe[j] - d[j] * (k[j] - 1) - 1) / static_cast<double>(s[j]);
    out[j] = static_cast<int64_t>(c.ceil ? std::ceil(span) : std::floor(span)) + 1;
    if (c.ceil && (out[j] - 1) * s[j] >= in[j] + pb[j]) --out[j];
    r.out.push_back(out[j]);
  }
  const int64_t planes = x.dim(0) * x.dim(1), in_size = in[0] * in[1] * in[2];
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t od = 0; od < out[0]; ++od)
      for (int64_t oh = 0; oh < out[1]; ++oh)
        for (int64_t ow = 0; ow < out[2]; ++ow) {
          float best = -std::numeric_limits<float>::infinity();
          int64_t arg = 0, arg_cm = 0, count = 0, count_pad = 0;
          double sum = 0.0;
          for (int64_t i = 0; i < k[0]; ++i)
            for (int64_t j = 0; j < k[1]; ++j)
              for (int64_t l = 0; l < k[2]; ++l) {
                int64_t q[3] = {od * s[0] - pb[0] + i * d[0], oh * s[1] - pb[1] + j * d[1], ow * s[2] - pb[2] + l * d[2]};
                bool inside = true, inside_pad = true;
                for (int a = 0; a < 3; ++a) {
                  inside = inside && q[a] >= 0 && q[a] < in[a];
                  inside_pad = inside_pad && q[a] < in[a] + pe[a];
                }
                count_pad += inside_pad ? 1 : 0;
                if (!inside) continue;
                float v = x.data<float>()[p * in_size + (q[0] * in[1] + q[1]) * in[2] + q[2]];
                ++count;
                sum += v;
                if (v > best) {
                  best = v;
                  arg = p * in_size + (q[0] * in[1] + q[1]) * in[2] + q[2];
                  arg_cm = p * in_size + (q[2] * in[1] + q[1]) * in[0] + q[0];
                }
              }
          r.max.push_back(best);
          r.argmax.push_back(arg);
          r.argmax_cm.push_back(arg_cm);
          r.avg.push_back(static_cast<float>(sum / static_cast<double>(count)));
          r.avg_pad.push_back(static_cast<float>(sum / static_cast<double>(count_pad)));
        }
  return r;
}

std::string pool_attrs(const PoolCase& c) {
  std::string a = "kernel_shape = " + test::ints_attr(c.k) + ", ceil_mode = " + std::to_string(c.ceil);
  if (!c.s.empty()) a += ", strides = " + test::ints_attr(c.s);
  if (!c.d.empty()) a += ", dilations = " + test::ints_attr(c.d);
  if (!c.pads.empty()) a += ", pads = " + test::ints_attr(c.pads);
  return a;
}

void check_pool(const PoolCase& c, uint32_t seed) {
  Tensor x = test::random_tensor(c.x, seed);
  PoolRef ref = ref_pool(x, c);
  for (int order = 0; order < 2; ++order) {
    OpCase op;
    op.node = "y, i = MaxPool <" + pool_attrs(c) + ", storage_order = " + std::to_string(order) + "> (x)";
    op.inputs = {{"x", x}};
    op.outputs = {{"y", DType::Float32}, {"i", DType::Int64}};
    auto out = test::run_op(op);
    EXPECT_EQ(out[0].shape(), ref.out) << op.node;
    test::expect_near_all(out[0], ref.max, 0.0f, op.node);
    EXPECT_EQ(out[1].to_vector<int64_t>(), order ? ref.argmax_cm : ref.argmax) << op.node;
  }
  OpCase single;  // without Indices: the separable path (1-D/2-D)
  single.node = "y = MaxPool <" + pool_attrs(c) + "> (x)";
  single.inputs = {{"x", x}};
  single.outputs = {{"y", DType::Float32}};
  test::expect_near_all(test::run_op(single, 2)[0], ref.max, 0.0f, single.node);
  if (!c.d.empty()) return;  // AveragePool dilations need opset 19
  for (int include = 0; include < 2; ++include) {
    OpCase op;
    op.node = "y = AveragePool <" + pool_attrs(c) + ", count_include_pad = " + std::to_string(include) + "> (x)";
    op.inputs = {{"x", x}};
    op.outputs = {{"y", DType::Float32}};
    test::expect_near_all(test::run_op(op, 2)[0], include ? ref.avg_pad : ref.avg, kTol, op.node);
  }
}

}  // namespace

TEST(Pool, TwoDimensionalCeilPadsStrides) {
  check_pool({{2, 3, 13, 11}, {3, 4}, {2, 3}, {}, {1, 0, 2, 2}, true}, 1);
  check_pool({{1, 2, 13, 11}, {3, 4}, {2, 3}, {}, {1, 0, 2, 2}, false}, 2);
  check_pool({{1, 2, 12, 12}, {7, 5}, {1, 1}, {}, {3, 2, 3, 2}, false}, 3);  // YOLOX-like SPP window
}

TEST(Pool, MaxPoolDilations) { check_pool({{1, 2, 13, 13}, {3, 3}, {2, 1}, {2, 3}, {1, 1, 0, 2}, true}, 4); }

TEST(Pool, OneAndThreeDimensional) {
  check_pool({{2, 3, 29}, {5}, {3}, {}, {2, 1}, true}, 5);
  check_pool({{1, 2, 7, 9, 8}, {3, 2, 3}, {2, 2, 1}, {}, {1, 0, 1, 0, 1, 2}, false}, 6);
}

TEST(Pool, AutoPadSameUpper) {
  // in 13, kernel 4, stride 2: out 7, pads [1, 2] per dim (SAME_UPPER puts the odd one at the end).
  Tensor x = test::random_tensor({1, 2, 13, 13}, 7);
  OpCase op;
  op.node = "y = AveragePool <kernel_shape = [4, 4], strides = [2, 2], auto_pad = \"SAME_UPPER\"> (x)";
  op.inputs = {{"x", x}};
  op.outputs = {{"y", DType::Float32}};
  PoolRef ref = ref_pool(x, {{1, 2, 13, 13}, {4, 4}, {2, 2}, {}, {1, 1, 2, 2}, false});
  test::expect_near_all(test::run_op(op)[0], ref.avg, kTol, op.node);
}

TEST(Pool, GlobalPools) {
  Tensor x = test::random_tensor({2, 3, 13, 7}, 8);
  for (const char* type : {"GlobalAveragePool", "GlobalMaxPool"}) {
    OpCase op;
    op.node = std::string("y = ") + type + " (x)";
    op.inputs = {{"x", x}};
    op.outputs = {{"y", DType::Float32}};
    Tensor y = test::run_op(op)[0];
    EXPECT_EQ(y.shape(), (Shape{2, 3, 1, 1}));
    std::vector<float> want;
    for (int p = 0; p < 6; ++p) {
      double sum = 0.0;
      float best = -std::numeric_limits<float>::infinity();
      for (int i = 0; i < 91; ++i) {
        sum += x.data<float>()[p * 91 + i];
        best = std::max(best, x.data<float>()[p * 91 + i]);
      }
      want.push_back(type[6] == 'A' ? static_cast<float>(sum / 91.0) : best);
    }
    test::expect_near_all(y, want, kTol, type);
  }
}
