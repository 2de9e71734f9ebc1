// SPDX-License-Identifier: Apache-2.0
// The copies split into parallel_for tasks (common.h): strided_copy (Slice, Expand/Tile) with negative,
// zero and stepped strides over many row tasks, and Concat (CopyPieces) cutting large rows into pieces,
// against naive index arithmetic with 1, 2 and 3 threads.
#include <numeric>

#include "common.h"
#include "op_runner.h"

using namespace ptq;

namespace {

TEST(Copy, StridedCopyOverManyTasksMatchesNaiveIndexing) {
  // A view of a [3, 100, 2100] buffer: dims [3, 50, 700] at base (0, 99, 1), strides (+plane, -2 rows,
  // +3): 105 000 elements, rows of 700 (23 rows a task: tasks start inside the middle dimension).
  const Shape in_shape{3, 100, 2100};
  std::vector<int32_t> in(static_cast<size_t>(shape_numel(in_shape)));
  std::iota(in.begin(), in.end(), 0);
  const Shape dims{3, 50, 700};
  const std::vector<int64_t> stride{100 * 2100, -2 * 2100, 3};
  const int64_t base = 99 * 2100 + 1;
  std::vector<int32_t> want;
  for (int64_t a = 0; a < dims[0]; ++a)
    for (int64_t b = 0; b < dims[1]; ++b)
      for (int64_t c = 0; c < dims[2]; ++c) want.push_back(in[static_cast<size_t>(base + a * stride[0] + b * stride[1] + c * stride[2])]);
  for (int threads : {1, 2, 3}) {
    std::vector<int32_t> out(want.size(), -1);
    exec::strided_copy<int32_t>(in.data(), base, out.data(), dims, stride, threads);
    EXPECT_EQ(out, want) << threads << " threads";
  }
  // A zero stride (a broadcast dimension) and single-element rows.
  const Shape bdims{40000, 1};
  std::vector<int32_t> out(40000, -1), broadcast(40000, in[5]);
  exec::strided_copy<int32_t>(in.data(), 5, out.data(), bdims, {0, 1}, 2);
  EXPECT_EQ(out, broadcast);
}

TEST(Copy, ConcatAndSliceOfLargeTensorsMatchNaiveIndexing) {
  const Tensor a = test::random_tensor({2, 40, 30, 30}, 1), b = test::random_tensor({2, 24, 30, 30}, 2);
  test::OpCase concat;
  concat.node = "y = Concat <axis = 1> (a, b)";
  concat.inputs = {{"a", a}, {"b", b}};
  concat.outputs = {{"y", DType::Float32}};
  std::vector<float> want;
  for (int64_t n = 0; n < 2; ++n)
    for (const Tensor* t : {&a, &b}) {
      const int64_t block = t->numel() / 2;
      want.insert(want.end(), t->data<float>() + n * block, t->data<float>() + (n + 1) * block);
    }
  for (int threads : {1, 2, 3}) {
    const Tensor y = test::run_op(concat, threads)[0];
    ASSERT_EQ(y.shape(), (Shape{2, 64, 30, 30}));
    EXPECT_TRUE(std::equal(want.begin(), want.end(), y.data<float>())) << threads << " threads";
  }
  // YOLOX's Focus: every other row and column of a 416x416 image.
  const Tensor x = test::random_tensor({1, 3, 416, 416}, 3);
  test::OpCase slice;
  slice.node = "y = Slice (x, starts, ends, axes, steps)";
  slice.inputs = {{"x", x}};
  slice.initializers = {{"starts", Tensor::from_vector<int64_t>({1, 0}, {2})},
                        {"ends", Tensor::from_vector<int64_t>({416, 416}, {2})},
                        {"axes", Tensor::from_vector<int64_t>({2, 3}, {2})},
                        {"steps", Tensor::from_vector<int64_t>({2, 2}, {2})}};
  slice.outputs = {{"y", DType::Float32}};
  std::vector<float> focus;
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t h = 1; h < 416; h += 2)
      for (int64_t w = 0; w < 416; w += 2) focus.push_back(x.data<float>()[(c * 416 + h) * 416 + w]);
  for (int threads : {1, 2, 3}) {
    const Tensor y = test::run_op(slice, threads)[0];
    ASSERT_EQ(y.shape(), (Shape{1, 3, 208, 208}));
    EXPECT_TRUE(std::equal(focus.begin(), focus.end(), y.data<float>())) << threads << " threads";
  }
}

}  // namespace
