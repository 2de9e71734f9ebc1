// SPDX-License-Identifier: Apache-2.0
// Gemm and MatMul, float32, through the tiled Eigen GEMM (sgemm.h).
//   Gemm (opsets 1-13): Y = alpha * op(A) * op(B) + beta * C, op = transpose when transA/transB; C is
//   optional from opset 11 and broadcasts to [M, N] (a row vector [N]/[1, N] or a column [M, 1] goes
//   into the GEMM epilogue, any other shape is written into Y first and accumulated on).
//   Gemm before opset 7 (broadcast attribute) is accepted with the same semantics.
//   MatMul (opsets 1, 9, 13): numpy matmul: 1-D operands get a unit dim (removed again from the
//   result), leading dims broadcast. When B is 2-D and A is contiguous, A's leading dims fold into M
//   (one GEMM); otherwise one GEMM per broadcast batch entry.
// Both take optional fused post-ops without per-channel constants (executor fusion).
#include "eltwise.h"
#include "kernels.h"
#include "parallel.h"
#include "post_ops.h"
#include "sgemm.h"

namespace ptq::exec {
namespace {

void check_float(const Tensor* t) {
  if (t && t->dtype() != DType::Float32) PTQ_FAIL(UnsupportedError, "dtype ", dtype_name(t->dtype()), " is not supported (float32 is)");
}

// Fills Y with beta * C broadcast to [M, N]; returns false when C fits the epilogue instead.
bool bias_epilogue(const Tensor& c, float beta, int64_t M, int64_t N, Epilogue& epi) {
  if (beta != 1.0f) return false;
  const Shape& s = c.shape();
  const bool row = (s.size() == 1 && s[0] == N) || (s.size() == 2 && s[0] == 1 && s[1] == N);
  const bool col = s.size() == 2 && s[0] == M && s[1] == 1;
  if (row && !(col && N == 1)) epi.col_bias = c.data<float>();
  else if (col) epi.row_bias = c.data<float>();
  else return false;
  return true;
}

void fill_broadcast(const Tensor& c, float beta, int64_t M, int64_t N, float* y) {
  Shape target{M, N};
  if (broadcast_shapes(c.shape(), target) != target)
    PTQ_FAIL(ModelError, "C of shape ", shape_str(c.shape()), " does not broadcast to ", shape_str(target));
  Shape cs = c.shape();
  while (cs.size() < 2) cs.insert(cs.begin(), 1);
  const float* p = c.data<float>();
  const int64_t rs = cs[0] == 1 ? 0 : cs[1], cstep = cs[1] == 1 ? 0 : 1;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) y[m * N + n] = beta * p[m * rs + n * cstep];
}

}  // namespace

Kernel make_gemm_fused(const Node& node, const PostOps& post) {
  expect_inputs(node, node.opset < 11 ? 3 : 2, 3);
  const bool ta = node.attr_int("transA", 0) != 0, tb = node.attr_int("transB", 0) != 0;
  const float alpha = node.attr_float("alpha", 1.0f), beta = node.attr_float("beta", 1.0f);
  return [ta, tb, alpha, beta, post](KernelIO& io) {
    const Tensor& a = io.in(0);
    const Tensor& b = io.in(1);
    const Tensor* c = io.has(2) ? io.inputs[2] : nullptr;
    for (const Tensor* t : {&a, &b, c}) check_float(t);
    if (a.rank() != 2 || b.rank() != 2) PTQ_FAIL(ModelError, "A ", shape_str(a.shape()), " and B ", shape_str(b.shape()), " must be 2-D");
    const int64_t M = ta ? a.dim(1) : a.dim(0), K = ta ? a.dim(0) : a.dim(1);
    const int64_t N = tb ? b.dim(0) : b.dim(1), Kb = tb ? b.dim(1) : b.dim(0);
    if (K != Kb) PTQ_FAIL(ModelError, "inner dims differ: A ", shape_str(a.shape()), ", B ", shape_str(b.shape()));
    io.outputs[0] = Tensor(DType::Float32, {M, N});
    float* y = io.outputs[0].data<float>();
    Epilogue epi;
    epi.post = &post;
    bool accumulate = false;
    if (c && beta != 0.0f && !bias_epilogue(*c, beta, M, N, epi)) {
      fill_broadcast(*c, beta, M, N, y);
      accumulate = true;
    }
    sgemm(M, N, K, alpha, MatView{a.data<float>(), a.dim(1), ta}, MatView{b.data<float>(), b.dim(1), tb}, y, N,
          accumulate, epi, io.threads);
  };
}

Kernel make_gemm(const Node& node) { return make_gemm_fused(node, PostOps{}); }

Kernel make_matmul_fused(const Node& node, const PostOps& post) {
  expect_inputs(node, 2, 2);
  return [post](KernelIO& io) {
    const Tensor& a = io.in(0);
    const Tensor& b = io.in(1);
    check_float(&a);
    check_float(&b);
    MatMulShape s = matmul_shape(a.shape(), b.shape());
    io.outputs[0] = Tensor(DType::Float32, s.out);
    float* y = io.outputs[0].data<float>();
    Epilogue epi;
    epi.post = &post;
    const int64_t batches = shape_numel(s.batch);
    if (shape_numel(s.b_batch) == 1 && shape_numel(s.a_batch) == batches) {  // A's batch folds into M
      sgemm(batches * s.M, s.N, s.K, 1.0f, MatView{a.data<float>(), s.K, false}, MatView{b.data<float>(), s.N, false},
            y, s.N, false, epi, io.threads);
      return;
    }
    const TilePlan tp = plan_tiles(s.M, s.N, s.K, batches);
    const int64_t per = tp.count();
    parallel_for(io.threads, batches * per, [&](int64_t t) {
      const int64_t bi = t / per, mt = (t % per) / tp.n_tiles, nt = t % tp.n_tiles;
      const float* ap = a.data<float>() + batch_offset(bi, s.batch, s.a_batch) * s.M * s.K;
      const float* bp = b.data<float>() + batch_offset(bi, s.batch, s.b_batch) * s.K * s.N;
      const int64_t m0 = mt * tp.m_tile, n0 = nt * tp.n_tile;
      sgemm_tile(m0, std::min(tp.m_tile, s.M - m0), n0, std::min(tp.n_tile, s.N - n0), s.K, 1.0f, MatView{ap, s.K, false},
                 MatView{bp, s.N, false}, y + bi * s.M * s.N, s.N, false, epi);
    }, batches * s.M * s.N * s.K);
  };
}

Kernel make_matmul(const Node& node) { return make_matmul_fused(node, PostOps{}); }

}  // namespace ptq::exec
