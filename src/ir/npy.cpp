// SPDX-License-Identifier: Apache-2.0
// .npy layout: "\x93NUMPY", major, minor, header length (uint16 for 1.x, uint32 for 2.x/3.x), a Python
// dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), } padded to 64 bytes, data.
#include "ptq/ir/npy.h"

#include <fstream>
#include <regex>
#include <sstream>

#include "ptq/ir/onnx_io.h"

namespace ptq {
namespace {

struct DescrEntry {
  const char* code;  // without byte-order character
  DType dtype;
};
const DescrEntry kDescrs[] = {
    {"f4", DType::Float32}, {"f8", DType::Float64}, {"f2", DType::Float16}, {"i1", DType::Int8},
    {"u1", DType::UInt8},   {"i2", DType::Int16},   {"u2", DType::UInt16},  {"i4", DType::Int32},
    {"u4", DType::UInt32},  {"i8", DType::Int64},   {"u8", DType::UInt64},  {"b1", DType::Bool},
};

DType dtype_from_descr(const std::string& descr, const std::string& origin) {
  if (descr.size() < 2) PTQ_FAIL(DataError, origin, ": bad .npy dtype '", descr, "'");
  char order = descr[0];
  std::string code = descr.substr(1);
  if (order == '>' && code != "i1" && code != "u1" && code != "b1")
    PTQ_FAIL(DataError, origin, ": big-endian .npy data ('", descr, "') is not supported; save it little-endian");
  if (order != '<' && order != '|' && order != '=' && order != '>')
    PTQ_FAIL(DataError, origin, ": bad .npy dtype '", descr, "'");
  for (const auto& d : kDescrs)
    if (code == d.code) return d.dtype;
  PTQ_FAIL(DataError, origin, ": unsupported .npy dtype '", descr, "'");
}

// 4-bit tensors (unpacked in memory, numpy has no such type) are written as int8 / uint8.
std::string descr_of(DType dtype) {
  if (dtype == DType::Int4) dtype = DType::Int8;
  if (dtype == DType::UInt4) dtype = DType::UInt8;
  for (const auto& d : kDescrs)
    if (d.dtype == dtype) return std::string(dtype_size(dtype) == 1 ? "|" : "<") + d.code;
  PTQ_FAIL(UnsupportedError, "cannot write dtype ", dtype_name(dtype), " as .npy");
}

}  // namespace

NpyHeader parse_npy_header(const std::string& bytes, const std::string& origin) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    PTQ_FAIL(DataError, origin, ": not a .npy file (bad magic)");
  int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, header_start;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8;
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) PTQ_FAIL(DataError, origin, ": truncated .npy header");
    header_len = 0;
    for (int i = 3; i >= 0; --i) header_len = header_len << 8 | static_cast<unsigned char>(bytes[8 + static_cast<size_t>(i)]);
    header_start = 12;
  } else {
    PTQ_FAIL(DataError, origin, ": unsupported .npy format version ", major);
  }
  if (header_start + header_len > bytes.size()) PTQ_FAIL(DataError, origin, ": truncated .npy header");
  std::string header = bytes.substr(header_start, header_len);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']+)')")))
    PTQ_FAIL(DataError, origin, ": .npy header has no 'descr'");
  DType dtype = dtype_from_descr(m[1], origin);
  if (std::regex_search(header, m, std::regex(R"('fortran_order'\s*:\s*(True|False))")) && m[1] == "True")
    PTQ_FAIL(DataError, origin, ": Fortran-order .npy arrays are not supported (save with np.ascontiguousarray)");
  if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")))
    PTQ_FAIL(DataError, origin, ": .npy header has no 'shape'");
  Shape shape;
  std::stringstream dims(m[1].str());
  std::string item;
  while (std::getline(dims, item, ',')) {
    size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \tL");
    if (b == std::string::npos) continue;
    try {
      shape.push_back(std::stoll(item.substr(b, e - b + 1)));
    } catch (const std::exception&) {
      PTQ_FAIL(DataError, origin, ": bad .npy shape '(", m[1].str(), ")'");
    }
  }
  return NpyHeader{dtype, shape, header_start + header_len};
}

Tensor parse_npy(const std::string& bytes, const std::string& origin) {
  NpyHeader h = parse_npy_header(bytes, origin);
  const Shape& shape = h.shape;
  const DType dtype = h.dtype;
  Tensor t(dtype, shape);
  size_t data_start = h.data_offset;
  if (bytes.size() - data_start < t.nbytes())
    PTQ_FAIL(DataError, origin, ": truncated .npy data (", bytes.size() - data_start, " bytes, shape ",
             shape_str(shape), " of ", dtype_name(dtype), " needs ", t.nbytes(), ")");
  std::copy(bytes.data() + data_start, bytes.data() + data_start + t.nbytes(), static_cast<char*>(t.raw()));
  return t;
}

Tensor read_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) PTQ_FAIL(IoError, path.string(), ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_npy(ss.str(), path.string());
}

NpyHeader read_npy_header(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) PTQ_FAIL(IoError, path.string(), ": cannot open");
  std::string bytes(12, '\0');
  in.read(bytes.data(), 12);
  bytes.resize(static_cast<size_t>(in.gcount()));
  if (bytes.size() == 12 && bytes.compare(0, 6, "\x93NUMPY") == 0) {
    const bool v1 = bytes[6] == 1;
    size_t len = 0;
    for (size_t i = v1 ? 2 : 4; i-- > 0;) len = len << 8 | static_cast<unsigned char>(bytes[8 + i]);
    std::string rest((v1 ? 10 : 12) + len - 12, '\0');  // v1 already read 2 header bytes
    in.read(rest.data(), static_cast<std::streamsize>(rest.size()));
    bytes += rest.substr(0, static_cast<size_t>(in.gcount()));
  }
  return parse_npy_header(bytes, path.string());
}

std::string npy_bytes(const Tensor& t) {
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i) shape += std::to_string(t.shape()[i]) + (t.shape().size() == 1 || i + 1 < t.shape().size() ? "," : "");
  shape += ")";
  std::string header = "{'descr': '" + descr_of(t.dtype()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(static_cast<const char*>(t.raw()), t.nbytes());
  return out;
}

void write_npy(const std::filesystem::path& path, const Tensor& tensor) {
  onnx_io::write_file_atomic(path, npy_bytes(tensor));
}

std::string sanitize_file_name(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return out;
}

}  // namespace ptq
