// SPDX-License-Identifier: Apache-2.0
// compute_qparams against hand-computed tables.
#include "ptq/quant/scale.h"

#include <cmath>

#include "testutil.h"

using namespace ptq;

namespace {
constexpr float kScaleTol = 1e-7f;  // relative; scales are exact ratios computed in double

struct Case {
  const char* what;
  QType type;
  bool symmetric;
  bool reduce_range;
  float lo, hi;
  float scale;
  int32_t zero_point;
};

// scale = (hi' - lo') / (qmax - qmin) with [lo', hi'] widened to include 0 (and made ±absmax when
// symmetric); zero point = round(qmin - lo'/scale).
const Case kCases[] = {
    {"uint8 asym", QType::UInt8, false, false, -1.0f, 3.0f, 4.0f / 255, 64},  // 0 - (-1)/(4/255) = 63.75 -> 64
    {"uint8 asym all positive", QType::UInt8, false, false, 2.0f, 6.0f, 6.0f / 255, 0},
    {"uint8 asym all negative", QType::UInt8, false, false, -5.1f, -1.0f, 5.1f / 255, 255},
    {"int8 asym", QType::Int8, false, false, -1.0f, 3.0f, 4.0f / 255, -64},  // -128 + 63.75 = -64.25 -> -64
    {"int8 sym", QType::Int8, true, false, -1.0f, 3.0f, 6.0f / 254, 0},
    {"uint8 sym", QType::UInt8, true, false, -2.0f, 1.0f, 4.0f / 254, 128},
    {"int16 sym", QType::Int16, true, false, -0.5f, 0.25f, 1.0f / 65534, 0},
    {"uint16 asym", QType::UInt16, false, false, -1.0f, 1.0f, 2.0f / 65535, 32768},  // 32767.5 -> 32768 (even)
    {"uint16 sym", QType::UInt16, true, false, -1.0f, 1.0f, 2.0f / 65534, 32768},
    {"int8 sym reduce", QType::Int8, true, true, -1.0f, 1.0f, 2.0f / 128, 0},
    {"uint8 asym reduce", QType::UInt8, false, true, 0.0f, 1.27f, 1.27f / 127, 0},
    {"all zero uint8", QType::UInt8, false, false, 0.0f, 0.0f, 1.0f, 0},
    {"all zero uint8 sym", QType::UInt8, true, false, 0.0f, 0.0f, 1.0f, 128},
    {"all zero int8", QType::Int8, false, false, 0.0f, 0.0f, 1.0f, 0},
    {"constant 5 uint8", QType::UInt8, false, false, 5.0f, 5.0f, 5.0f / 255, 0},
    {"denormal width", QType::Int8, true, false, 0.0f, 1e-42f, 1.0f, 0},
    {"int4 sym", QType::Int4, true, false, -1.0f, 3.5f, 7.0f / 14, 0},
    {"uint4 sym", QType::UInt4, true, false, -2.0f, 1.0f, 4.0f / 14, 8},
    {"int4 asym", QType::Int4, false, false, -1.0f, 2.0f, 3.0f / 15, -3},  // -8 + 5 = -3
    {"uint4 asym", QType::UInt4, false, false, -1.0f, 2.0f, 3.0f / 15, 5},
    {"uint4 asym all negative", QType::UInt4, false, false, -3.0f, -1.0f, 3.0f / 15, 15},
    {"int4 sym reduce (no effect)", QType::Int4, true, true, -1.0f, 1.0f, 2.0f / 14, 0},
    {"all zero uint4 sym", QType::UInt4, true, false, 0.0f, 0.0f, 1.0f, 8},
};

// The integer range of every type of qspec.cpp's table: full, symmetric, reduce_range (asymmetric
// and symmetric).
struct RangeRow {
  QType type;
  int64_t full_lo, full_hi, sym_lo, sym_hi, rr_lo, rr_hi, rr_sym_lo, rr_sym_hi;
};
const RangeRow kRanges[] = {
    {QType::Int4, -8, 7, -7, 7, -8, 7, -7, 7},
    {QType::UInt4, 0, 15, 1, 15, 0, 15, 1, 15},
    {QType::Int8, -128, 127, -127, 127, -64, 64, -64, 64},
    {QType::UInt8, 0, 255, 1, 255, 0, 127, 1, 127},
    {QType::Int16, -32768, 32767, -32767, 32767, -16384, 16384, -16384, 16384},
    {QType::UInt16, 0, 65535, 1, 65535, 0, 32767, 1, 32767},
    {QType::Int32, -2147483648LL, 2147483647LL, -2147483647LL, 2147483647LL, -2147483648LL, 2147483647LL, -2147483647LL,
     2147483647LL},
};
}  // namespace

TEST(Scale, HandComputedTable) {
  for (const Case& c : kCases) {
    QuantSpec spec{c.type, c.symmetric, c.reduce_range};
    QParams p = compute_qparams(Range{c.lo, c.hi}, spec);
    ASSERT_EQ(p.scale.size(), 1u);
    EXPECT_NEAR(p.scale[0], c.scale, kScaleTol * c.scale) << c.what;
    EXPECT_EQ(p.zero_point[0], c.zero_point) << c.what;
    EXPECT_FALSE(p.per_channel());
  }
}

TEST(QSpec, RangesOfEveryType) {
  for (const RangeRow& r : kRanges) {
    const std::string name = qtype_name(r.type);
    EXPECT_EQ(qtype_from_name(name), r.type);
    EXPECT_EQ(qtype_min(r.type), r.full_lo) << name;
    EXPECT_EQ(qtype_max(r.type), r.full_hi) << name;
    const std::pair<QuantSpec, std::pair<int64_t, int64_t>> specs[] = {
        {{r.type, false, false}, {r.full_lo, r.full_hi}},
        {{r.type, true, false}, {r.sym_lo, r.sym_hi}},
        {{r.type, false, true}, {r.rr_lo, r.rr_hi}},
        {{r.type, true, true}, {r.rr_sym_lo, r.rr_sym_hi}}};
    for (const auto& [spec, range] : specs) {
      EXPECT_EQ(spec.qmin(), range.first) << name << " symmetric " << spec.symmetric << " reduce " << spec.reduce_range;
      EXPECT_EQ(spec.qmax(), range.second) << name << " symmetric " << spec.symmetric << " reduce " << spec.reduce_range;
    }
  }
  EXPECT_EQ(qtype_bits(QType::Int4), 4);
  EXPECT_EQ(qtype_dtype(QType::UInt4), DType::UInt4);
  try {
    qtype_from_name("int3");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("expected one of: int4, uint4, int8, uint8, int16, uint16, int32"), std::string::npos) << e.what();
  }
}

TEST(Scale, ZeroIsExactlyRepresentable) {
  for (QType t : {QType::UInt8, QType::Int8, QType::UInt16, QType::Int16, QType::Int4, QType::UInt4})
    for (bool sym : {false, true})
      for (float lo : {-3.7f, -0.01f, 0.0f, 0.4f})
        for (float hi : {0.0f, 0.02f, 5.5f}) {
          if (lo > hi) continue;
          QParams p = compute_qparams(Range{lo, hi}, QuantSpec{t, sym, false});
          Tensor z = Tensor::from_vector<float>({0.0f}, {1});
          EXPECT_EQ(fake_quantize(z, p).to_vector<float>()[0], 0.0f) << qtype_name(t) << sym << lo << hi;
        }
}

TEST(Scale, BadRangesThrow) {
  EXPECT_THROW(compute_qparams(Range{NAN, 1.0f}, QuantSpec{}), Error);
  EXPECT_THROW(compute_qparams(Range{0.0f, INFINITY}, QuantSpec{}), Error);
  EXPECT_THROW(compute_qparams(Range{2.0f, 1.0f}, QuantSpec{}), Error);
}

TEST(Scale, PerChannel) {
  QParams p = compute_qparams({Range{-1.0f, 1.0f}, Range{-0.5f, 0.25f}, Range{0.0f, 0.0f}},
                              QuantSpec{QType::Int8, true, false}, 0);
  EXPECT_EQ(p.axis, 0);
  EXPECT_NEAR(p.scale[0], 2.0f / 254, 1e-9);
  EXPECT_NEAR(p.scale[1], 1.0f / 254, 1e-9);
  EXPECT_EQ(p.scale[2], 1.0f);
  EXPECT_EQ(p.zero_point, (std::vector<int32_t>{0, 0, 0}));
}

TEST(Scale, QuantizeRoundsHalfToEvenAndSaturates) {
  QParams p;
  p.type = QType::Int8;
  p.scale = {0.5f};
  p.zero_point = {0};
  // x/scale = 0.5, 1.5, 2.5, -0.5, -1.5, 300, -300
  Tensor x = Tensor::from_vector<float>({0.25f, 0.75f, 1.25f, -0.25f, -0.75f, 150.0f, -150.0f}, {7});
  EXPECT_EQ(quantize_tensor(x, p).to_vector<int8_t>(), (std::vector<int8_t>{0, 2, 2, 0, -2, 127, -128}));
  p.type = QType::UInt8;
  p.zero_point = {10};
  EXPECT_EQ(quantize_tensor(x, p).to_vector<uint8_t>(), (std::vector<uint8_t>{10, 12, 12, 10, 8, 255, 0}));
}

TEST(Scale, FourBitQuantizeSaturatesToTheFourBitRange) {
  QParams p;
  p.type = QType::Int4;
  p.scale = {0.5f};
  p.zero_point = {0};
  // x/scale = 0.5, 1.5, 6.8, 7.6, -8.2, -20, -7.5
  Tensor x = Tensor::from_vector<float>({0.25f, 0.75f, 3.4f, 3.8f, -4.1f, -10.0f, -3.75f}, {7});
  Tensor q = quantize_tensor(x, p);
  EXPECT_EQ(q.dtype(), DType::Int4);
  EXPECT_EQ(q.to_vector<int8_t>(), (std::vector<int8_t>{0, 2, 7, 7, -8, -8, -8}));
  EXPECT_EQ(dequantize_tensor(q, p).to_vector<float>(), (std::vector<float>{0, 1, 3.5f, 3.5f, -4, -4, -4}));
  EXPECT_EQ(fake_quantize(x, p).to_vector<float>(), dequantize_tensor(q, p).to_vector<float>());
  p.type = QType::UInt4;
  p.zero_point = {8};
  q = quantize_tensor(x, p);
  EXPECT_EQ(q.dtype(), DType::UInt4);
  EXPECT_EQ(q.to_vector<uint8_t>(), (std::vector<uint8_t>{8, 10, 15, 15, 0, 0, 0}));
  EXPECT_EQ(fake_quantize(x, p).to_vector<float>(), dequantize_tensor(q, p).to_vector<float>());
}

TEST(Scale, PerAxisQuantizeDequantize) {
  // Shape [2,3]: axis 1 has 3 channels with scales 1, 2, 4.
  QParams p;
  p.type = QType::Int8;
  p.axis = 1;
  p.scale = {1.0f, 2.0f, 4.0f};
  p.zero_point = {0, 1, -1};
  Tensor x = Tensor::from_vector<float>({1, 2, 4, -3, -6, -12}, {2, 3});
  Tensor q = quantize_tensor(x, p);
  EXPECT_EQ(q.to_vector<int8_t>(), (std::vector<int8_t>{1, 2, 0, -3, -2, -4}));
  EXPECT_EQ(dequantize_tensor(q, p).to_vector<float>(), x.to_vector<float>());
}

TEST(Scale, RoundTripErrorIsBoundedByHalfAStep) {
  Tensor x = test::random_tensor({1000}, 3, -2.0f, 5.0f);
  for (QType t : {QType::UInt8, QType::Int8, QType::Int16, QType::Int4, QType::UInt4}) {
    QParams p = compute_qparams(Range{-2.0f, 5.0f}, QuantSpec{t, false, false});
    Tensor y = fake_quantize(x, p);
    for (int64_t i = 0; i < x.numel(); ++i)
      ASSERT_LE(std::fabs(y.data<float>()[i] - x.data<float>()[i]), 0.5f * p.scale[0] * 1.0001f) << qtype_name(t);
  }
}

// quantize_tensor's vectorized float paths (≤ 16 bits) against quantize_value (double) element by
// element: per tensor, per channel on the first and on the last axis (MatMul weights), blocked; values
// on exact halves of a step, far beyond the range, and random.
TEST(Scale, QuantizeTensorMatchesQuantizeValueInEveryLayout) {
  const Shape shape{6, 5, 7};
  Tensor x = test::random_tensor(shape, 11, -40.0f, 40.0f);
  float* px = x.data<float>();
  for (int64_t i = 0; i < x.numel(); i += 5) px[i] = (static_cast<float>(i % 9) - 4.0f) * 0.25f + 0.125f;  // halves of 0.25
  px[1] = 1e30f;
  px[2] = -1e30f;
  struct Layout {
    const char* what;
    int axis;
    int64_t block;
  };
  for (const Layout& lay : {Layout{"per tensor", -1, 0}, Layout{"axis 0", 0, 0}, Layout{"last axis", 2, 0},
                            Layout{"middle axis", 1, 0}, Layout{"blocked", 1, 2}}) {
    for (QType t : {QType::Int8, QType::UInt8, QType::Int16, QType::UInt16, QType::Int4, QType::UInt4}) {
      QParams p;
      p.type = t;
      int64_t channels = 1;
      if (lay.axis >= 0) {
        p.axis = lay.axis;
        channels = shape[static_cast<size_t>(lay.axis)];
      }
      if (lay.block > 0) {
        p.block = lay.block;
        p.scale_shape = Shape{6, 3, 7};  // 5 along the axis in blocks of 2
        channels = shape_numel(p.scale_shape);
      }
      for (int64_t c = 0; c < channels; ++c) {
        p.scale.push_back(0.25f * static_cast<float>(1 + c % 4));
        p.zero_point.push_back(qtype_min(t) < 0 ? static_cast<int32_t>(c % 3) - 1 : static_cast<int32_t>((qtype_max(t) / 2) + c % 3));
      }
      Tensor q = quantize_tensor(x, p);
      for (int64_t i = 0; i < x.numel(); ++i) {
        const size_t c = param_index(shape, p, i);
        const int64_t want = quantize_value(px[i], p.scale[c], p.zero_point[c], t);
        int64_t got = 0;
        switch (q.dtype()) {
          case DType::Int8: case DType::Int4: got = q.data<int8_t>()[i]; break;
          case DType::UInt8: case DType::UInt4: got = q.data<uint8_t>()[i]; break;
          case DType::Int16: got = q.data<int16_t>()[i]; break;
          case DType::UInt16: got = q.data<uint16_t>()[i]; break;
          default: FAIL() << "type";
        }
        ASSERT_EQ(got, want) << lay.what << " " << qtype_name(t) << " element " << i << " x=" << px[i];
      }
    }
  }
}
