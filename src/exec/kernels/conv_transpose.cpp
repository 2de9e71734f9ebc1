// SPDX-License-Identifier: Apache-2.0
// ConvTranspose (opsets 1, 11), float32, 1-D to 3-D, group, strides, dilations, pads, output_padding,
// output_shape, auto_pad, optional bias and fused post-ops:
//   Y[n, m, o] = B[m] + sum over (c, t, i) with o = i * s - pad_begin + t * d of X[n, c, i] * W[c, m, t]
// Output size per dim: s * (in - 1) + output_padding + d * (k - 1) + 1 - pad_begin - pad_end. With
// output_shape (or SAME_* auto_pad, where output = in * s) the pads follow from it as the ONNX spec
// says: total = s * (in - 1) + output_padding + d * (k - 1) + 1 - output; SAME_UPPER puts total / 2
// at the beginning, otherwise the larger half goes to the beginning.
// Computed per (image, group) and chunk of input rows (at most kColFloats values of Col): Col = W_g^T *
// X_g[chunk] (a GEMM in column tiles), then col2im adds each column into the output planes (parallel over
// output channels; the order of additions per output is fixed by the chunking and the loops, which
// depend on the shape only, not on the threads).
#include <algorithm>

#include "kernels.h"
#include "parallel.h"
#include "post_ops.h"
#include "sgemm.h"
#include "window.h"

namespace ptq::exec {
namespace {

struct TransposeAttrs {
  WindowAttrs win;
  std::vector<int64_t> output_padding, output_shape;
  int64_t group = 1;
};

// Geometry in the im2col sense with the roles swapped: `in` = the transposed conv's output (the
// plane col2im writes), `out` = its input positions.
WindowGeometry transpose_geometry(const TransposeAttrs& a, const Shape& x_shape, const std::vector<int64_t>& kernel) {
  const size_t nd = kernel.size();
  if (nd < 1 || nd > static_cast<size_t>(kMaxSpatial)) PTQ_FAIL(UnsupportedError, nd, "-D ConvTranspose is not supported");
  if (x_shape.size() != nd + 2) PTQ_FAIL(ModelError, "input of shape ", shape_str(x_shape), " does not match a ", nd, "-D kernel");
  std::vector<int64_t> out_req = a.output_shape;
  if (out_req.size() == nd + 2) out_req.erase(out_req.begin(), out_req.begin() + 2);
  if (!out_req.empty() && out_req.size() != nd) PTQ_FAIL(ModelError, "output_shape has ", out_req.size(), " values, expected ", nd);
  auto at = [](const std::vector<int64_t>& v, size_t i, int64_t fallback) { return v.empty() ? fallback : v.at(i); };
  WindowGeometry g;
  g.nd = static_cast<int>(nd);
  for (size_t i = 0; i < nd; ++i) {
    const size_t slot = static_cast<size_t>(kMaxSpatial) - nd + i;
    const int64_t in = x_shape[2 + i], k = kernel[i], s = at(a.win.strides, i, 1), d = at(a.win.dilations, i, 1);
    const int64_t adj = at(a.output_padding, i, 0), full = s * (in - 1) + adj + d * (k - 1) + 1;
    int64_t pb = 0, pe = 0, out = 0;
    const bool same = a.win.auto_pad == AutoPad::SameUpper || a.win.auto_pad == AutoPad::SameLower;
    if (!out_req.empty() || same) {
      out = out_req.empty() ? in * s : out_req[i];
      int64_t total = std::max<int64_t>(0, full - out);
      pb = a.win.auto_pad == AutoPad::SameUpper ? total / 2 : total - total / 2;
      pe = total - pb;
    } else {
      if (a.win.auto_pad == AutoPad::NotSet) {
        pb = at(a.win.pads, i, 0);
        pe = at(a.win.pads, i + nd, 0);
      }
      out = full - pb - pe;
    }
    if (out <= 0 || pb < 0 || pe < 0) PTQ_FAIL(ModelError, "ConvTranspose output dim ", i, " would be ", out);
    g.set(slot, out, in, k, s, d, pb, pe);  // col2im writes the transposed conv's output
  }
  return g;
}

constexpr int64_t kColFloats = int64_t{1} << 18;  // col buffer budget per (image, group) chunk

// Adds one output channel's rows of col (k_size rows of `rows` input rows of IW positions, input
// rows r0.. in (d, h) order) into the plane y.
void col2im_rows(const float* col, const WindowGeometry& g, int64_t r0, int64_t rows, float* y) {
  const int64_t IW = g.out[2], IH = g.out[1], cols = rows * IW;
  for (int64_t i = 0; i < g.k[0]; ++i)
    for (int64_t j = 0; j < g.k[1]; ++j)
      for (int64_t l = 0; l < g.k[2]; ++l) {
        const float* src = col + ((i * g.k[1] + j) * g.k[2] + l) * cols;
        const int64_t off_w = l * g.d[2] - g.pb[2];
        int64_t lo, hi;
        valid_range(off_w, g.s[2], g.in[2], IW, lo, hi);
        for (int64_t r = r0; r < r0 + rows; ++r) {
          const int64_t od = (r / IH) * g.s[0] - g.pb[0] + i * g.d[0];
          const int64_t oh = (r % IH) * g.s[1] - g.pb[1] + j * g.d[1];
          if (od < 0 || od >= g.in[0] || oh < 0 || oh >= g.in[1]) continue;
          const float* s = src + (r - r0) * IW;
          float* row = y + (od * g.in[1] + oh) * g.in[2];
          for (int64_t o = lo; o < hi; ++o) row[o * g.s[2] + off_w] += s[o];
        }
      }
}

}  // namespace

Kernel make_conv_transpose_fused(const Node& node, const PostOps& post) {
  expect_inputs(node, 2, 3);
  TransposeAttrs a;
  a.win = WindowAttrs::read(node);
  a.output_padding = node.attr_ints("output_padding");
  a.output_shape = node.attr_ints("output_shape");
  a.group = node.attr_int("group", 1);
  return [a, post](KernelIO& io) {
    const Tensor& x = io.in(0);
    const Tensor& w = io.in(1);
    const Tensor* b = io.has(2) ? io.inputs[2] : nullptr;
    for (const Tensor* t : {&x, &w, b})
      if (t && t->dtype() != DType::Float32) PTQ_FAIL(UnsupportedError, "dtype ", dtype_name(t->dtype()), " is not supported (float32 is)");
    if (x.rank() < 3 || w.rank() != x.rank()) PTQ_FAIL(ModelError, "input X ", shape_str(x.shape()), " and weight W ", shape_str(w.shape()), " do not match");
    const int64_t N = x.dim(0), C = x.dim(1), G = a.group;
    if (G <= 0 || C % G != 0 || w.dim(0) != C) PTQ_FAIL(ModelError, "weight W ", shape_str(w.shape()), " does not match input X ", shape_str(x.shape()), " with group ", G);
    const int64_t Cg = C / G, Mg = w.dim(1), M = Mg * G;
    std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
    if (!a.win.kernel_shape.empty() && a.win.kernel_shape != kernel) PTQ_FAIL(ModelError, "kernel_shape differs from the weight's ", shape_str(kernel));
    if (b && b->numel() != M) PTQ_FAIL(ModelError, "bias B ", shape_str(b->shape()), " does not have ", M, " values");
    const WindowGeometry g = transpose_geometry(a, x.shape(), kernel);
    Shape out_shape{N, M};
    for (int i = kMaxSpatial - g.nd; i < kMaxSpatial; ++i) out_shape.push_back(g.in[i]);
    io.outputs[0] = Tensor(DType::Float32, out_shape);
    float* y = io.outputs[0].data<float>();
    const int64_t P = g.out_size(), out_plane = g.in_size(), kk = g.k_size(), Kc = Mg * kk;
    const int64_t IW = g.out[2], in_rows = g.out[0] * g.out[1];
    const int64_t chunk = std::min(in_rows, std::max<int64_t>(1, kColFloats / (Kc * IW)));  // input rows per GEMM
    float* col = thread_scratch<float, 1>(static_cast<size_t>(Kc * chunk * IW));
    const float* xd = x.data<float>();
    const float* wd = w.data<float>();
    const float* bias = b ? b->data<float>() : nullptr;
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t grp = 0; grp < G; ++grp) {
        float* planes = y + (n * M + grp * Mg) * out_plane;
        for (int64_t m = 0; m < Mg; ++m) std::fill(planes + m * out_plane, planes + (m + 1) * out_plane, bias ? bias[grp * Mg + m] : 0.0f);
        const MatView wt{wd + grp * Cg * Kc, Kc, true};
        for (int64_t r0 = 0; r0 < in_rows; r0 += chunk) {
          const int64_t rows = std::min(chunk, in_rows - r0), cols = rows * IW;
          sgemm(Kc, cols, Cg, 1.0f, wt, MatView{xd + (n * C + grp * Cg) * P + r0 * IW, P, false}, col, cols, false, Epilogue{}, io.threads);
          parallel_for(io.threads, Mg, [&](int64_t m) { col2im_rows(col + m * kk * cols, g, r0, rows, planes + m * out_plane); },
                       Mg * cols * kk);
        }
        if (!post.empty())
          parallel_for(io.threads, Mg, [&](int64_t m) { post.apply(planes + m * out_plane, out_plane, grp * Mg + m); }, Mg * out_plane);
      }
    }
  };
}

Kernel make_conv_transpose(const Node& node) { return make_conv_transpose_fused(node, PostOps{}); }

}  // namespace ptq::exec
