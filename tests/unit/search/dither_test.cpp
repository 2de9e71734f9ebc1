// SPDX-License-Identifier: Apache-2.0
// search::dithered: the named float inputs moved by at most √3·kDitherRelative relative (unit variance
// of the factor's deviation, measured), integer and unnamed inputs untouched, the same bits for the same
// seed.
#include "ptq/search/dither.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "testutil.h"

using namespace ptq;
using namespace ptq::search;

namespace {

TEST(Dither, SmallUnitVarianceRelativeChangeOfTheNamedFloatInputsOnly) {
  constexpr int64_t kN = 100000;
  const Tensor x = test::random_tensor({kN}, 7, 0.5f, 2.0f);
  const Tensor ids = Tensor::from_vector<int64_t>({3, 1, 4, 1, 5}, {5});
  const Tensor mask = test::random_tensor({64}, 8, 0.0f, 1.0f);
  const exec::TensorMap in{{"x", x}, {"ids", ids}, {"mask", mask}};
  const std::set<std::string> names{"x", "ids"};  // not "mask": a float input the plan does not quantize
  const exec::TensorMap a = dithered(in, 11, names), b = dithered(in, 11, names), c = dithered(in, 12, names);
  EXPECT_EQ(std::memcmp(a.at("ids").raw(), ids.raw(), ids.nbytes()), 0);
  EXPECT_EQ(std::memcmp(a.at("mask").raw(), mask.raw(), mask.nbytes()), 0);
  EXPECT_EQ(std::memcmp(a.at("x").raw(), b.at("x").raw(), x.nbytes()), 0);  // same seed, same bits
  EXPECT_NE(std::memcmp(a.at("x").raw(), c.at("x").raw(), x.nbytes()), 0);
  EXPECT_NE(std::memcmp(a.at("x").raw(), x.raw(), x.nbytes()), 0);           // the input is not changed in place
  double sum = 0.0, sq = 0.0, worst = 0.0;
  for (int64_t i = 0; i < kN; ++i) {
    const double r = (static_cast<double>(a.at("x").data<float>()[i]) / x.data<float>()[i] - 1.0) / kDitherRelative;
    sum += r;
    sq += r * r;
    worst = std::max(worst, std::fabs(r));
  }
  // float rounding of x·(1 + 1e-5·u) moves r by up to 2^-24 / 1e-5 ≈ 0.006
  EXPECT_LE(worst, std::sqrt(3.0) + 0.01);
  EXPECT_NEAR(sum / kN, 0.0, 0.02);
  EXPECT_NEAR(sq / kN, 1.0, 0.02);
}

}  // namespace
