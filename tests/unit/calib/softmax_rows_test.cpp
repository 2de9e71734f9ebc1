// SPDX-License-Identifier: Apache-2.0
// A Softmax input is calibrated on the top kSoftmaxWindow of each row: the minmax range of a masked
// score tensor equals the naive [min over rows of max(row min, row max - 20), max] computed here, whatever
// the mask value (-1e4, -inf), and a fully masked row is left out.
#include <cmath>
#include <limits>

#include "ptq/calib/calibrator.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::calib;
using test::MemoryReader;

namespace {

constexpr float kRangeTol = 1e-6f;  // the same float arithmetic

// scores [2,3,5] (rows along the last axis) with a causal-like mask on some entries.
Tensor masked_scores(float mask, uint32_t seed) {
  Tensor t = test::random_tensor({2, 3, 5}, seed, -6.0f, 9.0f);
  float* p = t.data<float>();
  for (int r = 0; r < 6; ++r)
    for (int c = r % 5 + 1; c < 5; ++c) p[r * 5 + c] = mask;
  return t;
}

Range naive_rows_range(const std::vector<Tensor>& samples) {
  Range r{std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
  for (const Tensor& t : samples)
    for (int row = 0; row < t.numel() / 5; ++row) {
      const float* p = t.data<float>() + row * 5;
      float top = -std::numeric_limits<float>::infinity(), low = std::numeric_limits<float>::infinity();
      for (int c = 0; c < 5; ++c) top = std::max(top, p[c]), low = std::min(low, p[c]);
      if (std::isinf(top)) continue;
      r.lo = std::min(r.lo, std::max(low, top - kSoftmaxWindow));
      r.hi = std::max(r.hi, top);
    }
  return r;
}

TensorCalib calibrate_scores(const std::vector<Tensor>& samples) {
  Graph g = build_graph(test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2,3,5] x) => (float[2,3,5] y) {
  y = Softmax <axis = -1> (x)
}
)"));
  std::vector<exec::TensorMap> maps;
  for (const Tensor& t : samples) maps.push_back({{"x", t}});
  MemoryReader data(maps);
  CalibTarget target{"x", QuantSpec{QType::UInt8, false, false}, -1, false};
  target.softmax.on = true;
  CalibOptions o;
  o.method = "minmax";
  o.progress = false;
  return calibrate(g, {target}, data, o).tensors.at("x");
}

}  // namespace

TEST(SoftmaxRows, MaskedScoresGetTheRangeOfTheirRowTops) {
  for (float mask : {-1e4f, -std::numeric_limits<float>::infinity()}) {
    std::vector<Tensor> samples = {masked_scores(mask, 1), masked_scores(mask, 2)};
    const Range want = naive_rows_range(samples);
    const TensorCalib got = calibrate_scores(samples);
    EXPECT_NEAR(got.range[0].lo, want.lo, kRangeTol) << mask;
    EXPECT_NEAR(got.range[0].hi, want.hi, kRangeTol) << mask;
    EXPECT_GT(got.range[0].lo, -9.0f - kSoftmaxWindow) << "the mask stretched the range";
  }
}

TEST(SoftmaxRows, FullyMaskedRowIsLeftOut) {
  Tensor t = masked_scores(-1e4f, 3);
  for (int c = 0; c < 5; ++c) t.data<float>()[c] = -std::numeric_limits<float>::infinity();
  const Range want = naive_rows_range({t});
  const TensorCalib got = calibrate_scores({t});
  EXPECT_NEAR(got.range[0].lo, want.lo, kRangeTol);
  EXPECT_NEAR(got.range[0].hi, want.hi, kRangeTol);
}
