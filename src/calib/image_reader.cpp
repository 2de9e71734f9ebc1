// SPDX-License-Identifier: Apache-2.0
// Images (.jpg .jpeg .png .bmp, decoded by stb_image from Debian's libstb-dev) for a model with one
// image input of rank 4 ([N,C,H,W] / [N,H,W,C], one image per sample, N = 1) or 3 (no batch dim).
// Each file in name order (or the one file given) is one sample:
//   1. decode to 8-bit RGB (gray: 1 channel);
//   2. resize (stb_image_resize, Mitchell/cubic filters): with `resize` > 0 the shorter side becomes
//      `resize` (the other rounded to keep the aspect) and the centre [H, W] is cropped (offsets
//      floored); otherwise the image is resized straight to [H, W]. An image already of the target
//      size is not filtered;
//   3. bgr swaps the channel order;
//   4. value = (pixel · scale − mean[c]) / std[c], written in the model's layout; a uint8 input gets
//      the value rounded and saturated.
// Size and layout come from the options (preset or explicit) or else the model input's static dims.
#include <stb_image.h>
#include <stb_image_resize.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "image_preset.h"
#include "reader_util.h"

namespace ptq::calib {
namespace {

const std::vector<std::string> kImageExtensions = {".jpg", ".jpeg", ".png", ".bmp"};
constexpr int64_t kMaxImagePixels = int64_t{1} << 25;  // 33.5 MP: 100 MB decoded as RGB

struct ImagePlan {
  ValueInfo input;
  bool nchw = true;
  bool batch = true;  // rank 4
  int channels = 3;
  int height = 0, width = 0;
  ImageOptions options;
};

int64_t static_dim(const ValueInfo& in, size_t i) { return in.has_shape && i < in.dims.size() ? in.dims[i].value : -1; }

ImagePlan plan_images(const std::vector<ValueInfo>& inputs, const ImageOptions& given) {
  if (inputs.size() != 1) PTQ_FAIL(DataError, "image data needs a model with one input; this one has ", inputs.size());
  ImagePlan p;
  p.input = inputs[0];
  p.options = resolve_image_options(given);
  const ImageOptions& o = p.options;
  if (p.input.dtype != DType::Float32 && p.input.dtype != DType::UInt8)
    PTQ_FAIL(DataError, "input '", p.input.name, "' is ", dtype_name(p.input.dtype), "; image data needs float32 or uint8");
  const size_t rank = p.input.has_shape ? p.input.dims.size() : 4;
  if (rank != 3 && rank != 4) PTQ_FAIL(DataError, "input '", p.input.name, "' has shape ", p.input.shape_str(), "; images need rank 3 or 4");
  p.batch = rank == 4;
  const size_t first = p.batch ? 1 : 0;
  if (o.layout.empty()) {
    int64_t c_first = static_dim(p.input, first), c_last = static_dim(p.input, first + 2);
    p.nchw = c_first == 1 || c_first == 3 || !(c_last == 1 || c_last == 3);
  } else if (o.layout == "nchw" || o.layout == "nhwc") {
    p.nchw = o.layout == "nchw";
  } else {
    PTQ_FAIL(UsageError, "unknown layout '", o.layout, "'; expected nchw or nhwc");
  }
  const size_t c_dim = p.nchw ? first : first + 2, h_dim = p.nchw ? first + 1 : first, w_dim = h_dim + 1;
  if (!o.color.empty() && o.color != "rgb" && o.color != "bgr" && o.color != "gray")
    PTQ_FAIL(UsageError, "unknown color order '", o.color, "'; expected rgb, bgr or gray");
  int64_t c = static_dim(p.input, c_dim);
  p.channels = c > 0 ? static_cast<int>(c) : (o.color == "gray" ? 1 : 3);
  if (p.channels != 1 && p.channels != 3) PTQ_FAIL(DataError, "input '", p.input.name, "' has ", p.channels, " channels; images give 1 or 3");
  if ((o.color == "gray") != (p.channels == 1))
    PTQ_FAIL(UsageError, "color '", o.color, "' does not fit the ", p.channels, "-channel input '", p.input.name, "'");
  std::vector<int64_t> size = o.size;
  if (size.size() == 1) size.push_back(size[0]);
  if (size.empty()) size = {static_dim(p.input, h_dim), static_dim(p.input, w_dim)};
  if (size.size() != 2 || size[0] <= 0 || size[1] <= 0)
    PTQ_FAIL(UsageError, "input '", p.input.name, "' has shape ", p.input.shape_str(), ": give the image size (--size H,W)");
  p.height = static_cast<int>(size[0]);
  p.width = static_cast<int>(size[1]);
  for (const auto* v : {&o.mean, &o.std})
    if (v->size() != 1 && static_cast<int>(v->size()) != p.channels)
      PTQ_FAIL(UsageError, "mean/std need 1 or ", p.channels, " values, got ", v->size());
  return p;
}

// Decoded, resized and cropped pixels, HWC, 8-bit.
std::vector<unsigned char> load_pixels(const fs::path& file, const ImagePlan& p) {
  int w = 0, h = 0, n = 0;
  // The header's size is checked before decoding: a few hundred bytes of BMP header claiming 33290 x
  // 16652 pixels made stb_image allocate 1.7 GB, and one claiming 10 x 8388620 took minutes to resize
  // (found by tests/fuzz/fuzz_image).
  // A top-down BMP stores a negative height (one claiming 10 x -16777204 took 27 s to decode and
  // resize): the size is taken as magnitudes, and a header stb_image cannot read is refused here.
  if (!stbi_info(file.c_str(), &w, &h, &n))
    PTQ_FAIL(DataError, file.string(), ": cannot decode image (", stbi_failure_reason(), ")");
  if (std::abs(static_cast<int64_t>(w)) * std::abs(static_cast<int64_t>(h)) > kMaxImagePixels)
    PTQ_FAIL(DataError, file.string(), ": image of ", std::abs(static_cast<int64_t>(w)), "x", std::abs(static_cast<int64_t>(h)),
             " pixels; ptq reads images of at most ", kMaxImagePixels, " pixels (resize it first)");
  unsigned char* data = stbi_load(file.c_str(), &w, &h, &n, p.channels);
  if (!data) PTQ_FAIL(DataError, file.string(), ": cannot decode image (", stbi_failure_reason(), ")");
  if (w <= 0 || h <= 0) {  // a BMP header of 0 x 0 decodes; Debian's stb_image_resize then asserts (fuzz_image)
    stbi_image_free(data);
    PTQ_FAIL(DataError, file.string(), ": empty image (", w, "x", h, " pixels)");
  }
  std::vector<unsigned char> src(data, data + static_cast<size_t>(w) * static_cast<size_t>(h) * static_cast<size_t>(p.channels));
  stbi_image_free(data);
  int rw = p.width, rh = p.height;
  if (p.options.resize > 0) {
    const double f = static_cast<double>(p.options.resize) / std::min(w, h);
    rw = std::max(1, static_cast<int>(std::lround(w * f)));
    rh = std::max(1, static_cast<int>(std::lround(h * f)));
    if (static_cast<int64_t>(rw) * rh > kMaxImagePixels)  // a 1 x 30000 image resized to a shorter side of 40 (fuzz_image)
      PTQ_FAIL(DataError, file.string(), ": resize ", p.options.resize, " turns the ", w, "x", h, " image into ", rw, "x", rh,
               " pixels, more than ", kMaxImagePixels);
    if (rw < p.width || rh < p.height)
      PTQ_FAIL(UsageError, "resize ", p.options.resize, " gives ", rw, "x", rh, ", smaller than the crop ", p.width, "x", p.height);
  }
  std::vector<unsigned char> resized = src;  // already the right size: no filtering at all
  if (rw != w || rh != h) {
    resized.resize(static_cast<size_t>(rw) * static_cast<size_t>(rh) * static_cast<size_t>(p.channels));
    if (!stbir_resize_uint8(src.data(), w, h, 0, resized.data(), rw, rh, 0, p.channels))
      PTQ_FAIL(DataError, file.string(), ": cannot resize the image");
  }
  const int x0 = (rw - p.width) / 2, y0 = (rh - p.height) / 2;
  std::vector<unsigned char> out(static_cast<size_t>(p.width) * static_cast<size_t>(p.height) * static_cast<size_t>(p.channels));
  for (int y = 0; y < p.height; ++y)
    std::copy_n(resized.begin() + ((static_cast<ptrdiff_t>(y0 + y) * rw + x0) * p.channels), p.width * p.channels,
                out.begin() + static_cast<ptrdiff_t>(y) * p.width * p.channels);
  return out;
}

Tensor to_tensor(const std::vector<unsigned char>& hwc, const ImagePlan& p) {
  const int64_t c = p.channels, h = p.height, w = p.width;
  Shape shape = p.nchw ? Shape{c, h, w} : Shape{h, w, c};
  if (p.batch) shape.insert(shape.begin(), 1);
  Tensor f(DType::Float32, shape);
  float* out = f.data<float>();
  const ImageOptions& o = p.options;
  for (int64_t ch = 0; ch < c; ++ch) {
    const int64_t src_ch = o.color == "bgr" ? c - 1 - ch : ch;
    const float mean = o.mean[o.mean.size() == 1 ? 0 : static_cast<size_t>(ch)];
    const float sd = o.std[o.std.size() == 1 ? 0 : static_cast<size_t>(ch)];
    for (int64_t i = 0; i < h * w; ++i) {
      float v = (static_cast<float>(hwc[static_cast<size_t>(i * c + src_ch)]) * o.scale - mean) / sd;
      out[p.nchw ? ch * h * w + i : i * c + ch] = v;
    }
  }
  if (p.input.dtype == DType::Float32) return f;
  Tensor u(DType::UInt8, shape);
  for (int64_t i = 0; i < f.numel(); ++i) u.data<uint8_t>()[i] = static_cast<uint8_t>(std::clamp(std::nearbyint(out[i]), 0.0f, 255.0f));
  return u;
}

class ImageReader : public DataReader {
 public:
  ImageReader(fs::path root, std::vector<fs::path> files, ImagePlan plan)
      : root_(std::move(root)), files_(std::move(files)), plan_(std::move(plan)) {}

  size_t size() const override { return files_.size(); }
  std::string describe() const override { return root_.string(); }

  Sample read(size_t index) const override {
    const fs::path& file = files_.at(index);
    Tensor t = to_tensor(load_pixels(file, plan_), plan_);
    check_sample_tensor(plan_.input, t, file.string());
    Sample s;
    s.id = file.stem().string();
    s.tensors[plan_.input.name] = std::move(t);
    return s;
  }

 private:
  fs::path root_;
  std::vector<fs::path> files_;
  ImagePlan plan_;
};

}  // namespace

bool probe_images(const fs::path& path, const std::vector<ValueInfo>&, const DataOptions&) {
  if (fs::is_regular_file(path)) return has_extension(path, kImageExtensions);
  return fs::is_directory(path) && !sorted_entries(path, false, kImageExtensions).empty();
}

std::unique_ptr<DataReader> open_images(const fs::path& path, const std::vector<ValueInfo>& inputs, const DataOptions& options) {
  ImagePlan plan = plan_images(inputs, options.image);
  std::vector<fs::path> files = fs::is_regular_file(path) ? std::vector<fs::path>{path} : sorted_entries(path, false, kImageExtensions);
  take_first(files, options, path, "image files");
  return std::make_unique<ImageReader>(path, std::move(files), std::move(plan));
}

}  // namespace ptq::calib
