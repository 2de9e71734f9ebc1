// SPDX-License-Identifier: Apache-2.0
// Integer products with int32 results (exact; any summation order gives the same bits):
//   MatMulInteger (opset 10): Y = (A - a_zp) * (B - b_zp), numpy matmul broadcasting; A, B int8/uint8.
//     a_zp: one value, or one per row of A (M values, or A's shape with K = 1); b_zp: one value, or one
//     per column of B (N values, or B's shape with K = 1).
//   ConvInteger (opset 10): Conv of (x - x_zp) with (w - w_zp) without bias; x_zp one value, w_zp one
//     value or one per output channel. Taps in the padding read x_zp (they contribute 0).
// Operands are widened to int32 with the zero points subtracted, then multiplied by Eigen's int32 GEMM.
#include <Eigen/Core>

#include "kernels.h"
#include "parallel.h"
#include "sgemm.h"
#include "window.h"

namespace ptq::exec {
namespace {

using IntMat = Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using IntMap = Eigen::Map<const IntMat, Eigen::Unaligned, Eigen::OuterStride<>>;
using IntMutMap = Eigen::Map<IntMat, Eigen::Unaligned, Eigen::OuterStride<>>;

// C[M x N] (ldc) = A[M x K] (lda) * B[K x N] (ldb), all row-major int32.
void igemm(int64_t M, int64_t N, int64_t K, const int32_t* a, int64_t lda, const int32_t* b, int64_t ldb, int32_t* c, int64_t ldc) {
  IntMutMap cm(c, M, N, Eigen::OuterStride<>(ldc));
  if (K == 0) {
    cm.setZero();
    return;
  }
  cm.noalias() = IntMap(a, M, K, Eigen::OuterStride<>(lda)) * IntMap(b, K, N, Eigen::OuterStride<>(ldb));
}

void check_int8(const Tensor& t, const char* name) {
  if (t.dtype() != DType::Int8 && t.dtype() != DType::UInt8)
    PTQ_FAIL(UnsupportedError, name, " dtype ", dtype_name(t.dtype()), " is not supported (int8, uint8 are)");
}

int32_t int_at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::Int8 ? static_cast<int32_t>(t.data<int8_t>()[i]) : static_cast<int32_t>(t.data<uint8_t>()[i]);
}

// Widened copy of t with zero points subtracted: element i uses zp entry zp_index(i).
template <class F>
std::vector<int32_t> widen(const Tensor& t, const Tensor* zp, F zp_index) {
  std::vector<int32_t> out(static_cast<size_t>(t.numel()));
  if (zp && zp->dtype() != t.dtype()) PTQ_FAIL(ModelError, "zero point dtype ", dtype_name(zp->dtype()), " differs from ", dtype_name(t.dtype()));
  for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = int_at(t, i) - (zp ? int_at(*zp, zp_index(i)) : 0);
  return out;
}

}  // namespace

Kernel make_matmul_integer(const Node& node) {
  expect_inputs(node, 2, 4);
  return [](KernelIO& io) {
    const Tensor& a = io.in(0);
    const Tensor& b = io.in(1);
    check_int8(a, "A");
    check_int8(b, "B");
    const MatMulShape s = matmul_shape(a.shape(), b.shape());
    const Tensor* azp = io.has(2) ? io.inputs[2] : nullptr;
    const Tensor* bzp = io.has(3) ? io.inputs[3] : nullptr;
    // Per-row a_zp (M values, repeating over batches) and per-column b_zp (N values) or one value.
    const int64_t an = azp ? azp->numel() : 1, bn = bzp ? bzp->numel() : 1;
    if (an != 1 && an != s.M && an != a.numel() / s.K) PTQ_FAIL(ModelError, "a_zero_point of shape ", shape_str(azp->shape()), " does not match A ", shape_str(a.shape()));
    if (bn != 1 && bn != s.N && bn != b.numel() / s.K) PTQ_FAIL(ModelError, "b_zero_point of shape ", shape_str(bzp->shape()), " does not match B ", shape_str(b.shape()));
    std::vector<int32_t> aw = widen(a, azp, [&](int64_t i) { return an == 1 ? 0 : (i / s.K) % an; });
    std::vector<int32_t> bw = widen(b, bzp, [&](int64_t i) { return bn == 1 ? 0 : (bn == s.N ? i % s.N : (i / (s.K * s.N)) * s.N + i % s.N); });
    io.outputs[0] = Tensor(DType::Int32, s.out);
    int32_t* y = io.outputs[0].data<int32_t>();
    const int64_t batches = shape_numel(s.batch);
    parallel_for(io.threads, batches, [&](int64_t bi) {
      igemm(s.M, s.N, s.K, aw.data() + batch_offset(bi, s.batch, s.a_batch) * s.M * s.K, s.K,
            bw.data() + batch_offset(bi, s.batch, s.b_batch) * s.K * s.N, s.N, y + bi * s.M * s.N, s.N);
    });
  };
}

Kernel make_conv_integer(const Node& node) {
  expect_inputs(node, 2, 4);
  const WindowAttrs attrs = WindowAttrs::read(node);
  const int64_t group = node.attr_int("group", 1);
  return [attrs, group](KernelIO& io) {
    const Tensor& x = io.in(0);
    const Tensor& w = io.in(1);
    check_int8(x, "x");
    check_int8(w, "w");
    if (x.rank() < 3 || w.rank() != x.rank()) PTQ_FAIL(ModelError, "input x ", shape_str(x.shape()), " and weight w ", shape_str(w.shape()), " do not match");
    const int64_t N = x.dim(0), C = x.dim(1), M = w.dim(0);
    if (group <= 0 || C % group != 0 || M % group != 0 || w.dim(1) * group != C)
      PTQ_FAIL(ModelError, "weight w ", shape_str(w.shape()), " and input x ", shape_str(x.shape()), " do not match group ", group);
    std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
    if (!attrs.kernel_shape.empty() && attrs.kernel_shape != kernel) PTQ_FAIL(ModelError, "kernel_shape differs from the weight's ", shape_str(kernel));
    const WindowGeometry g = resolve_window(attrs, x.shape(), kernel);
    const Tensor* xzp = io.has(2) ? io.inputs[2] : nullptr;
    const Tensor* wzp = io.has(3) ? io.inputs[3] : nullptr;
    if (xzp && xzp->numel() != 1) PTQ_FAIL(UnsupportedError, "x_zero_point must hold one value, got ", shape_str(xzp->shape()));
    if (wzp && wzp->numel() != 1 && wzp->numel() != M) PTQ_FAIL(ModelError, "w_zero_point of shape ", shape_str(wzp->shape()), " does not have 1 or ", M, " values");
    const int64_t Cg = C / group, Mg = M / group, K = Cg * g.k_size(), P = g.out_size(), in_size = g.in_size();
    std::vector<int32_t> xw = widen(x, xzp, [](int64_t) { return 0; });
    std::vector<int32_t> ww = widen(w, wzp, [&](int64_t i) { return wzp && wzp->numel() == M ? i / K : 0; });
    Shape out{N, M};
    for (int64_t d : g.out_shape()) out.push_back(d);
    io.outputs[0] = Tensor(DType::Int32, out);
    int32_t* y = io.outputs[0].data<int32_t>();
    parallel_for(io.threads, N * group, [&](int64_t t) {
      const int64_t n = t / group, grp = t % group;
      int32_t* col = thread_scratch<int32_t>(static_cast<size_t>(K * P));
      im2col(xw.data() + (n * C + grp * Cg) * in_size, Cg, g, 0, P, int32_t{0}, col);
      igemm(Mg, P, K, ww.data() + grp * Mg * K, K, col, P, y + (n * M + grp * Mg) * P, P);
    });
  };
}

}  // namespace ptq::exec
