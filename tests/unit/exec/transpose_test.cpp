// SPDX-License-Identifier: Apache-2.0
// permute() (Transpose, DepthToSpace, SpaceToDepth) against naive index arithmetic: every permutation
// of ranks 2-5 over shapes with size-1 dims, dims below and above the 16-element tile, and the shapes
// that take the tiled path (a detection head's [1, 85, 3549] -> [1, 3549, 85], [C, H, W] -> [H, W, C]),
// for 1-, 4- and 8-byte elements.
#include <algorithm>
#include <numeric>

#include "common.h"
#include "testutil.h"

using namespace ptq;

namespace {

// out[i] = x[sum_j idx_j * in_stride[perm[j]]] where idx is i's multi-index in the output shape.
template <typename T>
std::vector<T> naive_permute(const std::vector<T>& x, const Shape& shape, const std::vector<int>& perm) {
  const size_t r = shape.size();
  std::vector<int64_t> in_stride(r, 1);
  for (size_t j = r - 1; j-- > 0;) in_stride[j] = in_stride[j + 1] * shape[j + 1];
  Shape out_shape(r);
  for (size_t j = 0; j < r; ++j) out_shape[j] = shape[static_cast<size_t>(perm[j])];
  std::vector<T> out(x.size());
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t rest = static_cast<int64_t>(i), off = 0;
    for (size_t j = r; j-- > 0;) {
      const int64_t k = rest % out_shape[j];
      rest /= out_shape[j];
      off += k * in_stride[static_cast<size_t>(perm[j])];
    }
    out[i] = x[static_cast<size_t>(off)];
  }
  return out;
}

template <typename T>
void check(DType dtype, const Shape& shape, const std::vector<int>& perm) {
  Tensor x(dtype, shape);
  std::vector<T> values(static_cast<size_t>(x.numel()));
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<T>(i * 2654435761u + 7);
  std::copy(values.begin(), values.end(), x.data<T>());
  const Tensor y = exec::permute(x, perm);
  const std::vector<T> want = naive_permute(values, shape, perm);
  for (size_t j = 0; j < perm.size(); ++j) ASSERT_EQ(y.dim(static_cast<int>(j)), shape[static_cast<size_t>(perm[j])]);
  ASSERT_TRUE(std::equal(want.begin(), want.end(), y.data<T>())) << shape_str(shape);
}

void every_permutation(const Shape& shape) {
  std::vector<int> perm(shape.size());
  std::iota(perm.begin(), perm.end(), 0);
  do {
    check<float>(DType::Float32, shape, perm);
    check<uint8_t>(DType::UInt8, shape, perm);
    check<int64_t>(DType::Int64, shape, perm);
  } while (std::next_permutation(perm.begin(), perm.end()));
}

}  // namespace

TEST(Permute, EveryPermutationMatchesNaiveIndexing) {
  for (const Shape& s : {Shape{3, 5}, Shape{17, 40}, Shape{1, 85, 97}, Shape{2, 19, 33}, Shape{3, 1, 18, 20},
                         Shape{2, 16, 9, 31}, Shape{2, 3, 1, 4, 17}})
    every_permutation(s);
}

TEST(Permute, TiledShapesOfDetectionHeadsAndChannelsLast) {
  check<float>(DType::Float32, {1, 85, 3549}, {0, 2, 1});
  check<float>(DType::Float32, {24, 37, 41}, {1, 2, 0});
  check<float>(DType::Float32, {2, 37, 41, 24}, {0, 3, 1, 2});
  check<uint16_t>(DType::Float16, {64, 100}, {1, 0});
}
