// SPDX-License-Identifier: Apache-2.0
// Shape (inline small vector) against std::vector<int64_t> as the reference: the same random sequence
// of operations on both, across the inline/heap boundary.
#include "ptq/ir/shape.h"

#include <random>
#include <vector>

#include "testutil.h"

using namespace ptq;

namespace {

void expect_same(const Shape& s, const std::vector<int64_t>& v, int step) {
  ASSERT_EQ(s.size(), v.size()) << "step " << step;
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(s[i], v[i]) << "step " << step << " index " << i;
  ASSERT_EQ(s.empty(), v.empty());
  if (!v.empty()) {
    ASSERT_EQ(s.front(), v.front());
    ASSERT_EQ(s.back(), v.back());
  }
  ASSERT_EQ(std::vector<int64_t>(s), v);
}

}  // namespace

TEST(Shape, RandomOperationsMatchStdVector) {
  std::mt19937 rng(7);
  Shape s;
  std::vector<int64_t> v;
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % (n + 1)); };
  for (int step = 0; step < 20000; ++step) {
    const int64_t value = static_cast<int64_t>(rng() % 1000) - 500;
    switch (rng() % 12) {
      case 0: case 1: s.push_back(value); v.push_back(value); break;
      case 2: if (!v.empty()) { s.pop_back(); v.pop_back(); } break;
      case 3: { const size_t at = pick(v.size()); s.insert(s.begin() + at, value); v.insert(v.begin() + at, value); break; }
      case 4: { const size_t at = pick(v.size()); s.insert(s.begin() + at, {value, value + 1}); v.insert(v.begin() + at, {value, value + 1}); break; }
      case 5: {  // a range of itself (the self-aliasing case)
        const size_t at = pick(v.size()), a = pick(v.size()), b = a + pick(v.size() - a);
        const std::vector<int64_t> part(v.begin() + a, v.begin() + b);
        s.insert(s.begin() + at, s.begin() + a, s.begin() + b);
        v.insert(v.begin() + at, part.begin(), part.end());
        break;
      }
      case 6: if (!v.empty()) { const size_t at = pick(v.size() - 1); s.erase(s.begin() + at); v.erase(v.begin() + at); } break;
      case 7: { const size_t a = pick(v.size()), b = a + pick(v.size() - a); s.erase(s.begin() + a, s.begin() + b); v.erase(v.begin() + a, v.begin() + b); break; }
      case 8: { const size_t n = pick(14); s.resize(n, value); v.resize(n, value); break; }
      case 9: { Shape copy = s; s = std::move(copy); break; }  // copy, then move back
      case 10: { Shape moved(std::move(s)); s = moved; break; }
      case 11: if (v.size() > 20) { s.clear(); v.clear(); } break;
    }
    expect_same(s, v, step);
    if (HasFatalFailure()) return;
  }
}

TEST(Shape, ConstructsComparesAndConvertsLikeAVector) {
  const Shape a{1, 3, 224, 224};
  const std::vector<int64_t> v{1, 3, 224, 224};
  EXPECT_EQ(a, Shape(v));
  EXPECT_EQ(std::vector<int64_t>(a), v);
  EXPECT_EQ(Shape(v.begin(), v.end()), a);
  EXPECT_EQ(Shape(3, 7), (Shape{7, 7, 7}));
  EXPECT_EQ(Shape(3).size(), 3u);
  EXPECT_NE(a, (Shape{1, 3, 224}));
  EXPECT_LT((Shape{1, 2}), (Shape{1, 3}));
  EXPECT_LT((Shape{1, 2}), (Shape{1, 2, 0}));
  Shape big{1, 2, 3, 4, 5, 6, 7, 8, 9};  // beyond the inline capacity
  EXPECT_GT(big.capacity(), size_t{Shape::kInline});
  Shape copy = big;
  EXPECT_EQ(copy, big);
  EXPECT_NE(copy.data(), big.data());
  const int64_t* heap = big.data();
  Shape moved = std::move(big);
  EXPECT_EQ(moved.data(), heap);  // the heap block moved, not copied
  EXPECT_TRUE(big.empty());       // NOLINT: moved-from is empty
  EXPECT_THROW(moved.at(9), std::out_of_range);
}
