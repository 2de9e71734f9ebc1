// SPDX-License-Identifier: Apache-2.0
// The executor's steady state allocates nothing of its own (executor.h, "Memory"): after a first run of
// a shape, a run takes every tensor buffer from the executor's pool and its working lists from a kept
// frame. Counted here with a replaced global operator new (this binary only) and the pool's counters;
// outputs a caller still holds are never handed to the next run.
#include <atomic>
#include <cstdlib>
#include <new>

#include "dnnl_conv.h"
#include "op_runner.h"

namespace {
std::atomic<int64_t> g_news{0};
}  // namespace

void* operator new(std::size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace ptq;
using test::OpCase;

namespace {

// Allocations oneDNN 2.x makes inside one convolution's execute (its argument map and execution
// context); measured 5-7 on Debian's libdnnl 2.6, bounded loosely.
constexpr int64_t kOneDnnExecuteAllocations = 12;

// No convolution: every kernel is ptq's own (MatMul, broadcast Add, Relu, Transpose, Reshape, Concat,
// Softmax, Slice, ReduceMean, Unsqueeze).
OpCase dense_case() {
  OpCase c;
  c.node =
      "h = MatMul (x, w)\n"
      "  a = Add (h, b)\n"
      "  r = Relu (a)\n"
      "  t = Transpose <perm = [1, 0]> (r)\n"
      "  s = Reshape (t, shape)\n"
      "  k = Concat <axis = 0> (s, s)\n"
      "  y = Softmax <axis = -1> (k)\n"
      "  l = Slice (y, starts, ends, axes)\n"
      "  m = ReduceMean <axes = [2]> (l)\n"
      "  z = Unsqueeze (m, axes)";
  c.inputs = {{"x", test::random_tensor({4, 8}, 1, -2.0f, 2.0f)}};
  c.initializers = {{"w", test::random_tensor({8, 16}, 2)},
                    {"b", test::random_tensor({16}, 3)},
                    {"shape", Tensor::from_vector<int64_t>({2, 8, 4}, {3})},
                    {"starts", Tensor::from_vector<int64_t>({1}, {1})},
                    {"ends", Tensor::from_vector<int64_t>({7}, {1})},
                    {"axes", Tensor::from_vector<int64_t>({1}, {1})}};
  c.outputs = {{"y", DType::Float32}, {"z", DType::Float32}};
  return c;
}

// Convolutions (oneDNN's when built in), a residual Add, a blocked Concat, a linear and a nearest
// Resize, and a pooling.
OpCase conv_case() {
  OpCase c;
  c.node =
      "a = Conv <pads = [1, 1, 1, 1]> (x, w1, b1)\n"
      "  r = Relu (a)\n"
      "  d = Conv <group = 16, pads = [1, 1, 1, 1]> (r, w2, b2)\n"
      "  e = Add (d, r)\n"
      "  k = Concat <axis = 1> (e, r)\n"
      "  u = Resize <mode = \"linear\"> (k, roi, scales)\n"
      "  v = Resize <mode = \"nearest\"> (u, roi, scales)\n"
      "  y = GlobalAveragePool (v)";
  c.inputs = {{"x", test::random_tensor({1, 3, 20, 20}, 4, -2.0f, 2.0f)}};
  c.initializers = {{"w1", test::random_tensor({16, 3, 3, 3}, 5)}, {"b1", test::random_tensor({16}, 6)},
                    {"w2", test::random_tensor({16, 1, 3, 3}, 7)}, {"b2", test::random_tensor({16}, 8)},
                    {"roi", Tensor::from_vector<float>({}, {0})},
                    {"scales", Tensor::from_vector<float>({1.0f, 1.0f, 2.0f, 1.5f}, {4})}};
  c.outputs = {{"y", DType::Float32}};
  return c;
}

exec::TensorMap inputs_of(const OpCase& c) {
  exec::TensorMap in;
  for (const auto& kv : c.inputs) in[kv.first] = kv.second;
  return in;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.nbytes() == b.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// Runs `c` three times; returns the operator-new calls of the third run and checks that the second
// and third took no buffer from the heap and that the outputs held from the first run kept their bits.
int64_t steady_state_allocations(const OpCase& c, int threads) {
  Graph g = test::op_graph(c);
  exec::Executor ex(g, exec::ExecOptions{threads, false});
  const exec::TensorMap in = inputs_of(c);
  const exec::TensorMap first = ex.run(in);
  exec::TensorMap kept;
  for (const auto& kv : first) kept[kv.first] = kv.second.clone();
  ex.run(in);  // its outputs are let go at once, as in a loop that keeps the latest result only
  const BufferPool::Stats warm = ex.buffer_stats();
  EXPECT_GT(warm.reused, 0);
  const int64_t before = g_news.load();
  const exec::TensorMap third = ex.run(in);
  const int64_t news = g_news.load() - before;
  EXPECT_EQ(ex.buffer_stats().fresh, warm.fresh) << "a steady-state run took buffers from the heap";
  for (const auto& kv : kept) {
    EXPECT_TRUE(same_bits(first.at(kv.first), kv.second)) << kv.first << ": a held output was overwritten";
    EXPECT_TRUE(same_bits(third.at(kv.first), kv.second)) << kv.first << ": runs differ";
  }
  return news;
}

}  // namespace

TEST(MemoryPlan, SteadyStateRunOfPtqKernelsAllocatesOnlyTheResultMap) {
  const OpCase c = dense_case();
  // What remains: the returned std::map's nodes, one per output (names fit std::string's inline buffer).
  EXPECT_LE(steady_state_allocations(c, 1), static_cast<int64_t>(c.outputs.size()));
}

TEST(MemoryPlan, SteadyStateRunWithConvolutionsAllocatesOnlyInsideOneDnn) {
  const OpCase c = conv_case();
  const int64_t convolutions = exec::have_dnnl() ? 2 : 0;
  EXPECT_LE(steady_state_allocations(c, 1), static_cast<int64_t>(c.outputs.size()) + convolutions * kOneDnnExecuteAllocations);
}

TEST(MemoryPlan, PoolStaysWarmWithTwoThreadsAndTrimsShapesThatStopOccurring) {
  const OpCase c = conv_case();
  std::string text = test::model_text(c);  // the input's height and width symbolic
  const std::string fixed = "float[1,3,20,20] x";
  ASSERT_NE(text.find(fixed), std::string::npos);
  text.replace(text.find(fixed), fixed.size(), "float[1,3,H,W] x");
  onnx::ModelProto model = test::parse_text_model(text);
  for (const auto& kv : c.initializers) test::add_initializer(model, kv.first, kv.second);
  Graph g = build_graph(model, GraphOptions{false, {}});
  exec::Executor ex(g, exec::ExecOptions{2, false});
  ex.run(inputs_of(c));
  ex.run(inputs_of(c));
  const BufferPool::Stats warm = ex.buffer_stats();
  ex.run(inputs_of(c));
  EXPECT_EQ(ex.buffer_stats().fresh, warm.fresh);
  // Another input size: its buffers are new; two runs later the first size's are gone from the pool.
  exec::TensorMap other{{"x", test::random_tensor({1, 3, 33, 17}, 9)}};
  ex.run(other);
  ex.run(other);
  const size_t held = ex.buffer_stats().held_bytes;
  ex.run(other);
  EXPECT_EQ(ex.buffer_stats().held_bytes, held);
  EXPECT_LE(held, warm.held_bytes * 3);  // about one run's worth of the larger shape, not both shapes
}
