// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the image path of --calib (stb_image decoding, resize, crop, normalisation) through
// open_data(). The first byte picks the file extension and the preprocessing; the rest is the file:
//   bits 0-1: .png .jpg .bmp .jpeg   bit 2: resize the shorter side to 40 then crop (else resize)
//   bit 3: gray input [1, 1, 24, 24] (else RGB [1, 3, 32, 32])   bit 4: NHWC layout   bit 5: uint8 input
// Seeds: corpus/image.
#include "fuzz_util.h"
#include "ptq/calib/data_reader.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ptq::fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* const kExtensions[] = {".png", ".jpg", ".bmp", ".jpeg"};
  const uint8_t mode = data[0];
  const bool gray = mode & 8, nhwc = mode & 16;
  const int64_t c = gray ? 1 : 3, hw = gray ? 24 : 32;
  ptq::ValueInfo x;
  x.name = "image";
  x.dtype = mode & 32 ? ptq::DType::UInt8 : ptq::DType::Float32;
  x.has_shape = true;
  x.dims = nhwc ? std::vector<ptq::Dim>{{1, ""}, {hw, ""}, {hw, ""}, {c, ""}} : std::vector<ptq::Dim>{{1, ""}, {c, ""}, {hw, ""}, {hw, ""}};
  ptq::calib::DataOptions options;
  if (mode & 4) options.image.resize = 40;
  options.image.mean = {0.5f};
  options.image.std = {0.25f};
  options.image.scale = 1.0f / 255.0f;
  const auto file = ptq::fuzz::write_scratch(std::string("image") + kExtensions[mode & 3], data + 1, size - 1);
  return ptq::fuzz::expect_clean([&] {
    auto reader = ptq::calib::open_data(file, {x}, options);
    reader->read(0);
  });
}
