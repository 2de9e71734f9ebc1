// SPDX-License-Identifier: Apache-2.0
#include "ptq/ir/tensor.h"

#include <cmath>

#include "ptq/ir/npy.h"
#include "ptq/ir/onnx_io.h"
#include "testutil.h"

using namespace ptq;

TEST(Tensor, ShapeAndAccess) {
  Tensor t = Tensor::zeros(DType::Float32, {2, 3});
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.nbytes(), 24u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u);
  EXPECT_THROW(t.data<int32_t>(), Error);
  Tensor r = t.reshaped({3, 2});
  EXPECT_TRUE(r.shares_buffer(t));
  EXPECT_THROW(t.reshaped({4, 2}), Error);
}

TEST(Tensor, HalfConversionMatchesKnownBitPatterns) {
  // (float, IEEE half bits) from the IEEE 754 binary16 tables.
  const std::pair<float, uint16_t> cases[] = {
      {0.0f, 0x0000}, {1.0f, 0x3c00}, {-2.0f, 0xc000}, {65504.0f, 0x7bff}, {0.333251953125f, 0x3555},
      {5.9604645e-8f, 0x0001}, {6.1035156e-5f, 0x0400}, {INFINITY, 0x7c00}};
  for (auto [f, h] : cases) {
    EXPECT_EQ(float_to_half(f), h) << f;
    EXPECT_FLOAT_EQ(half_to_float(h), f) << h;
  }
  EXPECT_TRUE(std::isnan(half_to_float(0x7e00)));
}

TEST(Tensor, CastTruncatesTowardZero) {
  Tensor f = Tensor::from_vector<float>({-1.7f, -0.5f, 0.5f, 2.9f}, {4});
  EXPECT_EQ(cast_tensor(f, DType::Int32).to_vector<int32_t>(), (std::vector<int32_t>{-1, 0, 0, 2}));
  Tensor big = Tensor::from_vector<int64_t>({(int64_t{1} << 53) + 1}, {1});
  EXPECT_EQ(cast_tensor(cast_tensor(big, DType::Int32), DType::Int64).numel(), 1);
}

TEST(Tensor, ProtoRoundTripTypedFields) {
  onnx::TensorProto p;
  p.set_name("t");
  p.set_data_type(onnx::TensorProto::INT8);
  p.add_dims(3);
  for (int v : {-128, 0, 127}) p.add_int32_data(v);
  Tensor t = onnx_io::tensor_from_proto(p);
  EXPECT_EQ(t.to_vector<int8_t>(), (std::vector<int8_t>{-128, 0, 127}));
  Tensor back = onnx_io::tensor_from_proto(onnx_io::tensor_to_proto(t, "t"));
  EXPECT_EQ(back.to_vector<int8_t>(), t.to_vector<int8_t>());
  p.add_int32_data(1);
  EXPECT_THROW(onnx_io::tensor_from_proto(p), ModelError);
}

TEST(Npy, RoundTripAndNumpyHeader) {
  auto dir = test::fresh_dir();
  Tensor t = Tensor::from_vector<float>({1.5f, -2.0f, 3.25f, 0.0f, 5.0f, 6.0f}, {2, 3});
  write_npy(dir / "a.npy", t);
  std::string bytes = test::read_bytes(dir / "a.npy");
  EXPECT_EQ(bytes.size() % 64, 24u % 64);  // header padded to 64, then 24 data bytes
  EXPECT_NE(bytes.find("{'descr': '<f4', 'fortran_order': False, 'shape': (2,3), }"), std::string::npos);
  Tensor back = read_npy(dir / "a.npy");
  EXPECT_EQ(back.shape(), (Shape{2, 3}));
  EXPECT_EQ(back.to_vector<float>(), t.to_vector<float>());
  write_npy(dir / "v.npy", Tensor::from_vector<int64_t>({7}, {1}));
  EXPECT_NE(test::read_bytes(dir / "v.npy").find("'shape': (1,)"), std::string::npos);
  EXPECT_EQ(read_npy(dir / "v.npy").to_vector<int64_t>(), std::vector<int64_t>{7});
}

TEST(Npy, BadFilesAreNamed) {
  auto dir = test::fresh_dir();
  test::write_bytes(dir / "bad.npy", "not numpy");
  try {
    read_npy(dir / "bad.npy");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.npy: not a .npy file"), std::string::npos);
  }
  std::string good = npy_bytes(Tensor::zeros(DType::Float32, {4, 4}));
  test::write_bytes(dir / "cut.npy", good.substr(0, good.size() - 8));
  EXPECT_THROW(read_npy(dir / "cut.npy"), DataError);
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  test::write_bytes(dir / "f.npy", fortran);
  EXPECT_THROW(read_npy(dir / "f.npy"), DataError);
  EXPECT_EQ(sanitize_file_name("input:0/x y"), "input_0_x_y");
}

TEST(Tensor, FourBitTypesAreUnpackedBytes) {
  Tensor t = Tensor::zeros(DType::Int4, {3});
  EXPECT_EQ(t.nbytes(), 3u);  // one byte per element in memory
  t.data<int8_t>()[0] = -8;    // 4-bit types are accessed through their 8-bit storage type
  EXPECT_THROW(t.data<uint8_t>(), Error);
  EXPECT_NO_THROW(Tensor::zeros(DType::UInt4, {1}).data<uint8_t>());
  EXPECT_EQ(dtype_name(DType::Int4), "int4");
  EXPECT_EQ(dtype_from_onnx(21), DType::UInt4);
  EXPECT_EQ(dtype_from_onnx(22), DType::Int4);
  EXPECT_EQ(dtype_bits(DType::Int4), 4);
  EXPECT_EQ(dtype_bits(DType::Int16), 16);
  EXPECT_EQ(dtype_stored_bytes(DType::UInt4, 5), 3u);  // packed, odd count rounded up
  EXPECT_EQ(dtype_stored_bytes(DType::Int8, 5), 5u);
  int64_t lo = 0, hi = 0;
  ASSERT_TRUE(dtype_int_range(DType::Int4, lo, hi));
  EXPECT_EQ(lo, -8);
  EXPECT_EQ(hi, 7);
  ASSERT_TRUE(dtype_int_range(DType::UInt4, lo, hi));
  EXPECT_EQ(hi, 15);
  EXPECT_FALSE(dtype_int_range(DType::Float32, lo, hi));
  EXPECT_EQ(cast_tensor(t, DType::Float32).to_vector<float>(), (std::vector<float>{-8.0f, 0.0f, 0.0f}));
}

namespace {
Tensor four_bit(DType type, const std::vector<int>& values) {
  Tensor t(type, {static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i) static_cast<uint8_t*>(t.raw())[i] = static_cast<uint8_t>(values[i]);
  return t;
}
std::vector<int> values_of(const Tensor& t) {
  std::vector<int> v;
  for (int64_t i = 0; i < t.numel(); ++i)
    v.push_back(t.dtype() == DType::Int4 ? t.data<int8_t>()[i] : t.data<uint8_t>()[i]);
  return v;
}
}  // namespace

// ONNX packs 4-bit tensors two elements a byte, element 2k in the low nibble, an odd count padded.
TEST(Tensor, FourBitProtoPacksLowNibbleFirst) {
  struct Case {
    DType type;
    std::vector<int> values;
    std::string packed;
  };
  const Case cases[] = {
      {DType::Int4, {-8, -1, 0, 7, 3}, std::string("\xf8\x70\x03", 3)},   // -8 = 0x8, -1 = 0xf
      {DType::UInt4, {15, 0, 1, 2, 9, 6}, std::string("\x0f\x21\x69", 3)},
      {DType::Int4, {-3}, std::string("\x0d", 1)},
  };
  for (const Case& c : cases) {
    onnx::TensorProto p = onnx_io::tensor_to_proto(four_bit(c.type, c.values), "w");
    EXPECT_EQ(p.data_type(), static_cast<int>(c.type));
    EXPECT_EQ(p.raw_data(), c.packed) << dtype_name(c.type);
    Tensor back = onnx_io::tensor_from_proto(p);
    EXPECT_EQ(back.dtype(), c.type);
    EXPECT_EQ(back.shape(), (Shape{static_cast<int64_t>(c.values.size())}));
    EXPECT_EQ(values_of(back), c.values) << dtype_name(c.type);
    // The int32_data form (onnx.proto): one packed byte per value.
    onnx::TensorProto typed = p;
    typed.clear_raw_data();
    for (char b : c.packed) typed.add_int32_data(static_cast<uint8_t>(b));
    EXPECT_EQ(values_of(onnx_io::tensor_from_proto(typed)), c.values) << dtype_name(c.type);
  }
}

TEST(Tensor, FourBitProtoSizeAndRangeErrors) {
  onnx::TensorProto p = onnx_io::tensor_to_proto(four_bit(DType::UInt4, {1, 2, 3}), "w");
  p.set_raw_data(std::string(3, '\0'));  // 3 elements need 2 bytes
  try {
    onnx_io::tensor_from_proto(p);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'w': raw_data holds 3 bytes, shape [3] of uint4 needs 2"), std::string::npos) << e.what();
  }
  p.clear_raw_data();
  for (int v : {1, 2, 3}) p.add_int32_data(v);  // one element per value: not the packed form
  EXPECT_THROW(onnx_io::tensor_from_proto(p), ModelError);
  EXPECT_THROW(onnx_io::tensor_to_proto(four_bit(DType::Int4, {8}), "w"), Error);   // outside [-8, 7]
  EXPECT_THROW(onnx_io::tensor_to_proto(four_bit(DType::UInt4, {16}), "w"), Error);  // outside [0, 15]
}

TEST(Npy, FourBitTensorsAreWrittenAsBytes) {
  auto dir = test::fresh_dir();
  write_npy(dir / "q.npy", four_bit(DType::Int4, {-8, 7}));
  EXPECT_NE(test::read_bytes(dir / "q.npy").find("'descr': '|i1'"), std::string::npos);
  EXPECT_EQ(read_npy(dir / "q.npy").to_vector<int8_t>(), (std::vector<int8_t>{-8, 7}));
}

// Found by fuzzing (tests/fuzz/corpus/model/regress-huge-dims.onnx): dims claiming billions of elements
// over a few bytes allocated the whole tensor (8 GB) before the size check; now the proto's data is
// checked against its dims first, and a shape beyond int64 is refused too.
TEST(Tensor, ProtoDimsBeyondItsDataAreRefusedBeforeAllocating) {
  onnx::TensorProto p = onnx_io::tensor_to_proto(Tensor::from_vector<float>({1, 2}, {2}), "w");
  p.set_dims(0, int64_t{1} << 31);
  try {
    onnx_io::tensor_from_proto(p);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'w': raw_data holds 8 bytes, shape [2147483648] of float32 needs 8589934592"),
              std::string::npos) << e.what();
  }
  p.clear_raw_data();
  p.add_float_data(1.0f);
  EXPECT_THROW(onnx_io::tensor_from_proto(p), ModelError);  // 1 float_data value for 2^31 elements
  for (int i = 0; i < 3; ++i) p.add_dims(int64_t{1} << 40);
  EXPECT_THROW(onnx_io::tensor_from_proto(p), ModelError);  // 2^151 elements
}
