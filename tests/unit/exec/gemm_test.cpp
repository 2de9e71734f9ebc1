// SPDX-License-Identifier: Apache-2.0
// Gemm, MatMul and MatMulInteger against naive loops written here: every transpose combination,
// alpha/beta, each C shape that broadcasts, batched broadcasting and 1-D operands, shapes large enough
// to be split into tiles, and bit-identical results for 1, 2 and 3 threads.
#include "op_runner.h"

using namespace ptq;
using test::OpCase;

namespace {

constexpr float kTol = 1e-4f;  // relative (or absolute below 1) error of float dot products

// op(A)[m, k] with A stored row-major as [M, K], or [K, M] when transposed.
float at(const Tensor& t, bool trans, int64_t r, int64_t c) {
  const int64_t cols = t.dim(1);
  return trans ? t.data<float>()[c * cols + r] : t.data<float>()[r * cols + c];
}

void check_gemm(int64_t M, int64_t N, int64_t K, bool ta, bool tb, float alpha, float beta, const Shape& c_shape, uint32_t seed) {
  Tensor a = test::random_tensor(ta ? Shape{K, M} : Shape{M, K}, seed);
  Tensor b = test::random_tensor(tb ? Shape{N, K} : Shape{K, N}, seed + 1);
  const bool has_c = !(c_shape.size() == 1 && c_shape[0] == 0);
  Tensor c = test::random_tensor(has_c ? c_shape : Shape{1}, seed + 2);
  OpCase op;
  op.node = "y = Gemm <transA = " + std::to_string(ta) + ", transB = " + std::to_string(tb) + ", alpha = " + std::to_string(alpha) +
            ", beta = " + std::to_string(beta) + "> (a, b" + (has_c ? ", c)" : ")");
  op.inputs = {{"a", a}, {"b", b}};
  if (has_c) op.inputs.push_back({"c", c});
  op.outputs = {{"y", DType::Float32}};
  Shape cs = c.shape();
  while (cs.size() < 2) cs.insert(cs.begin(), 1);
  std::vector<float> want;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k) acc += static_cast<double>(at(a, ta, m, k)) * at(b, tb, k, n);
      double cv = has_c ? c.data<float>()[(cs[0] == 1 ? 0 : m) * cs[1] + (cs[1] == 1 ? 0 : n)] : 0.0;
      want.push_back(static_cast<float>(alpha * acc + beta * cv));
    }
  Tensor y = test::run_op(op, 1)[0];
  EXPECT_EQ(y.shape(), (Shape{M, N}));
  test::expect_near_all(y, want, kTol, op.node + " C " + shape_str(c_shape));
  for (int threads : {2, 3}) test::expect_same_bits(y, test::run_op(op, threads)[0], op.node + " threads");
}

}  // namespace

TEST(Gemm, TransposesAlphaBeta) {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) check_gemm(13, 7, 11, ta, tb, 0.75f, 1.5f, {7}, static_cast<uint32_t>(10 + 2 * ta + tb));
}

TEST(Gemm, EveryBroadcastingC) {
  for (const Shape& c : {Shape{7}, Shape{1, 7}, Shape{13, 1}, Shape{13, 7}, Shape{1}, Shape{}, Shape{0}})
    check_gemm(13, 7, 5, false, true, 1.0f, 1.0f, c, 20);
  check_gemm(13, 7, 5, false, false, 1.0f, 0.5f, {7}, 21);  // beta != 1 with a row bias
}

TEST(Gemm, LargeEnoughForTiles) {
  check_gemm(300, 1517, 129, false, true, 1.0f, 1.0f, {1517}, 30);  // column tiles of 1008
  check_gemm(1000, 10, 300, true, false, 1.0f, 1.0f, {10}, 31);    // row tiles
}

namespace {

// numpy matmul reference: leading dims broadcast.
std::vector<float> ref_matmul(const Tensor& a, const Tensor& b, Shape& out) {
  Shape as = a.shape(), bs = b.shape();
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  const size_t rank = std::max(as.size(), bs.size());
  while (as.size() < rank) as.insert(as.begin(), 1);
  while (bs.size() < rank) bs.insert(bs.begin(), 1);
  Shape batch;
  for (size_t i = 0; i + 2 < rank; ++i) batch.push_back(std::max(as[i], bs[i]));
  out = batch;
  if (a.rank() > 1) out.push_back(M);
  if (b.rank() > 1) out.push_back(N);
  std::vector<float> y;
  for (int64_t bi = 0; bi < shape_numel(batch); ++bi) {
    int64_t ao = 0, bo = 0, rest = bi;
    std::vector<int64_t> idx(batch.size());
    for (size_t k = batch.size(); k-- > 0;) {
      idx[k] = rest % batch[k];
      rest /= batch[k];
    }
    for (size_t k = 0; k < batch.size(); ++k) {
      ao = ao * as[k] + (as[k] == 1 ? 0 : idx[k]);
      bo = bo * bs[k] + (bs[k] == 1 ? 0 : idx[k]);
    }
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double acc = 0.0;
        for (int64_t k = 0; k < K; ++k)
          acc += static_cast<double>(a.data<float>()[(ao * M + m) * K + k]) * b.data<float>()[(bo * K + k) * N + n];
        y.push_back(static_cast<float>(acc));
      }
  }
  return y;
}

void check_matmul(const Shape& as, const Shape& bs, uint32_t seed) {
  Tensor a = test::random_tensor(as, seed), b = test::random_tensor(bs, seed + 1);
  OpCase op;
  op.node = "y = MatMul (a, b)";
  op.inputs = {{"a", a}, {"b", b}};
  op.outputs = {{"y", DType::Float32}};
  Shape out;
  std::vector<float> want = ref_matmul(a, b, out);
  Tensor y = test::run_op(op, 1)[0];
  const std::string what = "MatMul " + shape_str(as) + " x " + shape_str(bs);
  EXPECT_EQ(y.shape(), out) << what;
  test::expect_near_all(y, want, kTol, what);
  test::expect_same_bits(y, test::run_op(op, 2)[0], what + " threads 2");
}

}  // namespace

TEST(MatMul, BatchBroadcastingAndVectors) {
  check_matmul({2, 1, 5, 7}, {3, 7, 4}, 40);
  check_matmul({3, 5, 7}, {7, 4}, 41);       // A's batch folds into M
  check_matmul({5, 7}, {2, 3, 7, 4}, 42);    // B batched, A broadcast
  check_matmul({7}, {2, 7, 4}, 43);          // 1-D A
  check_matmul({2, 5, 7}, {7}, 44);          // 1-D B
  check_matmul({7}, {7}, 45);                // dot product: scalar
  check_matmul({2, 3, 130, 300}, {2, 3, 300, 517}, 46);  // large: tiles per batch
}

TEST(MatMulInteger, PerRowAndPerColumnZeroPoints) {
  const int64_t M = 5, K = 9, N = 6;
  std::vector<uint8_t> av;
  std::vector<int8_t> bv;
  for (int i = 0; i < 2 * M * K; ++i) av.push_back(static_cast<uint8_t>((i * 89 + 7) % 256));
  for (int i = 0; i < K * N; ++i) bv.push_back(static_cast<int8_t>((i * 61) % 256 - 128));
  std::vector<uint8_t> azp = {3, 250, 128, 0, 77};
  std::vector<int8_t> bzp = {-128, 127, 0, -5, 9, 1};
  OpCase op;
  op.node = "y = MatMulInteger (a, b, az, bz)";
  op.inputs = {{"a", test::tensor_of(av, {2, M, K})}, {"b", test::tensor_of(bv, {K, N})}, {"az", test::tensor_of(azp, {M})}, {"bz", test::tensor_of(bzp, {N})}};
  op.outputs = {{"y", DType::Int32}};
  Tensor y = test::run_op(op)[0];
  ASSERT_EQ(y.shape(), (Shape{2, M, N}));
  for (int64_t bi = 0; bi < 2; ++bi)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        int32_t acc = 0;
        for (int64_t k = 0; k < K; ++k)
          acc += (av[static_cast<size_t>((bi * M + m) * K + k)] - azp[static_cast<size_t>(m)]) * (bv[static_cast<size_t>(k * N + n)] - bzp[static_cast<size_t>(n)]);
        ASSERT_EQ(y.data<int32_t>()[(bi * M + m) * N + n], acc) << bi << "," << m << "," << n;
      }
}
