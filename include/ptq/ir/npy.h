// SPDX-License-Identifier: Apache-2.0
// NumPy .npy files (format versions 1.0, 2.0, 3.0; C order; little-endian or byte-order-free dtypes).
#pragma once

#include <filesystem>
#include <string>

#include "ptq/ir/tensor.h"

namespace ptq {

// Reads a .npy file; throws DataError naming the file for a bad header, Fortran order, big-endian or
// unsupported dtype, or truncated data.
Tensor read_npy(const std::filesystem::path& path);
// Parses .npy bytes; `origin` names the source in errors.
Tensor parse_npy(const std::string& bytes, const std::string& origin);
// The header of a .npy file: dtype, shape and where the data starts (for reading slices of big files).
struct NpyHeader {
  DType dtype = DType::Undefined;
  Shape shape;
  size_t data_offset = 0;
};
NpyHeader parse_npy_header(const std::string& bytes, const std::string& origin);
// Reads only the header of a .npy file.
NpyHeader read_npy_header(const std::filesystem::path& path);
// Serializes a tensor as .npy (version 1.0) bytes.
std::string npy_bytes(const Tensor& tensor);
// Writes a .npy file atomically.
void write_npy(const std::filesystem::path& path, const Tensor& tensor);

// "input:0" -> "input_0": every character outside [A-Za-z0-9._-] becomes '_'.
std::string sanitize_file_name(const std::string& tensor_name);

}  // namespace ptq
