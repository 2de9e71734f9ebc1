// SPDX-License-Identifier: Apache-2.0
// Memory-mapped data files (onnx_loader.cpp): the views load_model and DataFileWriter hand out, which
// release_pages may drop from memory.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>

namespace ptq::onnx_io {

// The first `size` bytes of `file` mapped private (writes stay in this process) and readable, registered
// for release_pages until the last reference goes; nullptr when size is 0. Throws IoError.
std::shared_ptr<void> map_file(const std::filesystem::path& file, size_t size);

}  // namespace ptq::onnx_io
