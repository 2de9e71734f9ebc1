// SPDX-License-Identifier: Apache-2.0
// Integer ranges (as ONNX Runtime's quant_utils, except symmetric uint8/uint16, see below):
//   type    full              symmetric            reduce_range
//   int8    [-128, 127]       [-127, 127]          [-64, 64]
//   uint8   [0, 255]          [1, 255], zp 128     [0, 127]
//   int16   [-32768, 32767]   [-32767, 32767]      [-16384, 16384]
//   uint16  [0, 65535]        [1, 65535], zp 32768 [0, 32767]
//   int32   full              [-2^31+1, 2^31-1]    full
// Symmetric unsigned ranges drop the lowest code so the grid is exactly ±127 (±32767) steps around
// the zero point 128 (32768): the same grid as symmetric int8 (int16), shifted.
#include "ptq/quant/qspec.h"

#include "ptq/util/error.h"

namespace ptq {

std::string qtype_name(QType type) {
  switch (type) {
    case QType::Int8: return "int8";
    case QType::UInt8: return "uint8";
    case QType::Int16: return "int16";
    case QType::UInt16: return "uint16";
    case QType::Int32: return "int32";
  }
  return "?";
}

QType qtype_from_name(const std::string& name) {
  for (QType t : {QType::Int8, QType::UInt8, QType::Int16, QType::UInt16, QType::Int32})
    if (qtype_name(t) == name) return t;
  PTQ_FAIL(UsageError, "unknown quantization type '", name, "'; expected one of: int8, uint8, int16, uint16, int32");
}

DType qtype_dtype(QType type) {
  switch (type) {
    case QType::Int8: return DType::Int8;
    case QType::UInt8: return DType::UInt8;
    case QType::Int16: return DType::Int16;
    case QType::UInt16: return DType::UInt16;
    case QType::Int32: return DType::Int32;
  }
  return DType::Undefined;
}

int64_t qtype_min(QType type) {
  switch (type) {
    case QType::Int8: return -128;
    case QType::UInt8: return 0;
    case QType::Int16: return -32768;
    case QType::UInt16: return 0;
    case QType::Int32: return -2147483648LL;
  }
  return 0;
}

int64_t qtype_max(QType type) {
  switch (type) {
    case QType::Int8: return 127;
    case QType::UInt8: return 255;
    case QType::Int16: return 32767;
    case QType::UInt16: return 65535;
    case QType::Int32: return 2147483647LL;
  }
  return 0;
}

int64_t QuantSpec::qmin() const {
  if (reduce_range) {
    switch (type) {
      case QType::Int8: return -64;
      case QType::Int16: return -16384;
      default: break;
    }
  }
  if (symmetric) return type == QType::UInt8 || type == QType::UInt16 ? 1 : qtype_min(type) + 1;
  return qtype_min(type);
}

int64_t QuantSpec::qmax() const {
  if (reduce_range) {
    switch (type) {
      case QType::Int8: return 64;
      case QType::UInt8: return 127;
      case QType::Int16: return 16384;
      case QType::UInt16: return 32767;
      case QType::Int32: break;
    }
  }
  return qtype_max(type);
}

}  // namespace ptq
