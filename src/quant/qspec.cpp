// SPDX-License-Identifier: Apache-2.0
// Integer ranges (as ONNX Runtime's quant_utils, except symmetric unsigned types, see below), one row
// of kTypes each:
//   type    full              symmetric            reduce_range
//   int4    [-8, 7]           [-7, 7]              (no effect)
//   uint4   [0, 15]           [1, 15], zp 8        (no effect)
//   int8    [-128, 127]       [-127, 127]          [-64, 64]
//   uint8   [0, 255]          [1, 255], zp 128     [0, 127]
//   int16   [-32768, 32767]   [-32767, 32767]      [-16384, 16384]
//   uint16  [0, 65535]        [1, 65535], zp 32768 [0, 32767]
//   int32   full              [-2^31+1, 2^31-1]    full
// Symmetric drops the type's lowest code, so the grid is exactly ±7 (±127, ±32767) steps around the
// zero point 0 for signed types and 8 (128, 32768) for unsigned ones: the same grid, shifted. The
// reduced signed ranges are symmetric already. reduce_range exists for 8-bit weights times uint8
// activations, whose pairwise products overflow int16 in x86's VPMADDUBSW (255·127·2 > 32767);
// 4-bit weights cannot overflow it (255·8·2 = 4080) and halving their 16 levels would ruin them, so
// their rows keep the full range (the CLI rejects --reduce-range with 4-bit weights instead).
// 4-bit types are held unpacked in memory, one int8_t/uint8_t per element (DType::Int4/UInt4).
#include "ptq/quant/qspec.h"

#include "ptq/util/error.h"

namespace ptq {
namespace {

struct QTypeRow {
  QType type;
  const char* name;
  DType dtype;
  int64_t min, max;                  // full range
  int64_t reduced_min, reduced_max;  // with reduce_range
};

// clang-format off
constexpr QTypeRow kTypes[] = {
    // type          name      dtype           min             max            reduced min      reduced max
    {QType::Int4,   "int4",   DType::Int4,    -8,             7,             -8,              7},
    {QType::UInt4,  "uint4",  DType::UInt4,   0,              15,            0,               15},
    {QType::Int8,   "int8",   DType::Int8,    -128,           127,           -64,             64},
    {QType::UInt8,  "uint8",  DType::UInt8,   0,              255,           0,               127},
    {QType::Int16,  "int16",  DType::Int16,   -32768,         32767,         -16384,          16384},
    {QType::UInt16, "uint16", DType::UInt16,  0,              65535,         0,               32767},
    {QType::Int32,  "int32",  DType::Int32,   -2147483648LL,  2147483647LL,  -2147483648LL,   2147483647LL},
};
// clang-format on

const QTypeRow& row_of(QType type) {
  for (const auto& r : kTypes)
    if (r.type == type) return r;
  PTQ_FAIL(Error, "internal error: quantization type ", static_cast<int>(type), " has no row");
}

}  // namespace

std::string qtype_name(QType type) { return row_of(type).name; }

std::string qtype_names() {
  std::string names;
  for (const auto& r : kTypes) names += (names.empty() ? "" : ", ") + std::string(r.name);
  return names;
}

QType qtype_from_name(const std::string& name) {
  for (const auto& r : kTypes)
    if (name == r.name) return r.type;
  PTQ_FAIL(UsageError, "unknown quantization type '", name, "'; expected one of: ", qtype_names());
}

DType qtype_dtype(QType type) { return row_of(type).dtype; }
int qtype_bits(QType type) { return dtype_bits(row_of(type).dtype); }
int64_t qtype_min(QType type) { return row_of(type).min; }
int64_t qtype_max(QType type) { return row_of(type).max; }

int64_t QuantSpec::qmin() const {
  const QTypeRow& r = row_of(type);
  const int64_t lo = reduce_range ? r.reduced_min : r.min;
  return symmetric && lo == r.min ? lo + 1 : lo;
}

int64_t QuantSpec::qmax() const {
  const QTypeRow& r = row_of(type);
  return reduce_range ? r.reduced_max : r.max;
}

Shape blocked_scale_shape(const Shape& shape, int axis, int64_t block) {
  Shape s = shape;
  if (block > 0 && axis >= 0 && axis < static_cast<int>(s.size())) s[static_cast<size_t>(axis)] = (s[static_cast<size_t>(axis)] + block - 1) / block;
  return s;
}

}  // namespace ptq
