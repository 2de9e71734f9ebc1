// SPDX-License-Identifier: Apache-2.0
// Data readers: every format read back against the tensors written here, validation errors naming
// the file, NaN/Inf handling, max_samples, and image preprocessing against values computed by hand.
#include "ptq/calib/data_reader.h"

#include <onnx/onnx_pb.h>
#include <stb_image_write.h>
#include <zip.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "ptq/ir/npy.h"
#include "ptq/ir/onnx_io.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::calib;
namespace fs = std::filesystem;

namespace {

ValueInfo input(const std::string& name, DType dtype, std::vector<int64_t> dims) {
  ValueInfo v;
  v.name = name;
  v.dtype = dtype;
  v.has_shape = true;
  for (int64_t d : dims) v.dims.push_back(Dim{d, d < 0 ? "N" : ""});
  return v;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void expect_same(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.dtype(), b.dtype());
  ASSERT_EQ(a.shape(), b.shape());
  EXPECT_EQ(0, std::memcmp(a.raw(), b.raw(), a.nbytes()));
}

// Writes an .npz with libzip: entries name -> tensor, deflated when `compress`.
void write_npz(const fs::path& path, const std::map<std::string, Tensor>& arrays, bool compress) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr);
  std::vector<std::string> keep;
  keep.reserve(arrays.size());
  for (const auto& kv : arrays) {
    keep.push_back(npy_bytes(kv.second));
    zip_source_t* src = zip_source_buffer(z, keep.back().data(), keep.back().size(), 0);
    zip_int64_t idx = zip_file_add(z, (kv.first + ".npy").c_str(), src, ZIP_FL_OVERWRITE);
    ASSERT_GE(idx, 0);
    zip_set_file_compression(z, static_cast<zip_uint64_t>(idx), compress ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  ASSERT_EQ(zip_close(z), 0);
}

const ValueInfo kX = input("x", DType::Float32, {-1, 3});
const ValueInfo kY = input("y:0", DType::Float32, {2});

}  // namespace

TEST(SampleFolders, ReadsInNameOrderWithMaxSamples) {
  auto dir = test::fresh_dir();
  for (int i : {2, 0, 1}) {
    fs::create_directories(dir / ("00" + std::to_string(i)));
    write_npy(dir / ("00" + std::to_string(i)) / "x.npy", test::random_tensor({1, 3}, static_cast<uint32_t>(i)));
    write_npy(dir / ("00" + std::to_string(i)) / "y_0.npy", test::random_tensor({2}, 50u + static_cast<uint32_t>(i)));
  }
  DataOptions o;
  o.max_samples = 2;
  auto r = open_data(dir, {kX, kY}, o);
  ASSERT_EQ(r->size(), 2u);
  Sample s = r->read(1);
  EXPECT_EQ(s.id, "001");
  expect_same(s.tensors.at("x"), test::random_tensor({1, 3}, 1));
  expect_same(s.tensors.at("y:0"), test::random_tensor({2}, 51));
}

TEST(SampleFolders, ErrorsNameTheFile) {
  auto dir = test::fresh_dir();
  EXPECT_NE(error_of([&] { open_data(dir, {kX}); }).find("no samples found"), std::string::npos);
  EXPECT_NE(error_of([&] { open_data(dir / "nope", {kX}); }).find("no such file or folder"), std::string::npos);
  write_npy(dir / "x.npy", test::random_tensor({1, 4}, 1));
  std::string msg = error_of([&] { open_data(dir, {kX})->read(0); });
  EXPECT_NE(msg.find((dir / "x.npy").string() + ": input 'x': expected shape [N,3], got [1,4]"), std::string::npos) << msg;
  write_npy(dir / "x.npy", Tensor::from_vector<int64_t>({1, 2, 3}, {1, 3}));
  msg = error_of([&] { open_data(dir, {kX})->read(0); });
  EXPECT_NE(msg.find("expected dtype float32, got int64"), std::string::npos) << msg;
}

// What ONNX Runtime accepts (onnxruntime-node 1.30): any shape for an input declared as a scalar, no
// other rank mismatch. A one-element array for a scalar is read as the scalar.
TEST(SampleFolders, ScalarInputsTakeOneElementArraysAsOnnxRuntimeDoes) {
  const ValueInfo sr = input("sr", DType::Int64, {});
  auto dir = test::fresh_dir();
  for (const Shape& shape : {Shape{1}, Shape{1, 1}, Shape{}}) {
    write_npy(dir / "sr.npy", Tensor::from_vector<int64_t>({16000}, shape));
    Tensor got = open_data(dir, {sr})->read(0).tensors.at("sr");
    EXPECT_EQ(got.shape(), Shape{}) << shape_str(shape);
    EXPECT_EQ(got.to_vector<int64_t>(), std::vector<int64_t>{16000});
  }
  write_npy(dir / "sr.npy", Tensor::from_vector<int64_t>({8000, 16000}, {2}));
  std::string msg = error_of([&] { open_data(dir, {sr})->read(0); });
  EXPECT_NE(msg.find("input 'sr': expected shape [], got [2]"), std::string::npos) << msg;
  // [1,3] for a [3] input: ONNX Runtime refuses the rank mismatch, and so does ptq.
  const ValueInfo v = input("v", DType::Float32, {3});
  write_npy(dir / "v.npy", test::random_tensor({1, 3}, 2));
  msg = error_of([&] { open_data(dir, {v})->read(0); });
  EXPECT_NE(msg.find("input 'v': expected shape [3], got [1,3]"), std::string::npos) << msg;
}

TEST(SampleFolders, NonFiniteIsAnErrorOrSkipped) {
  auto dir = test::fresh_dir();
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  write_npy(dir / "a" / "x.npy", Tensor::from_vector<float>({1, NAN, 3}, {1, 3}));
  write_npy(dir / "b" / "x.npy", Tensor::from_vector<float>({1, 2, 3}, {1, 3}));
  std::string msg = error_of([&] { open_data(dir, {kX})->read(0); });
  EXPECT_NE(msg.find((dir / "a" / "x.npy").string() + ": input 'x' has a non-finite value"), std::string::npos) << msg;
  DataOptions o;
  o.skip_bad_samples = true;
  auto r = open_data(dir, {kX}, o);
  EXPECT_TRUE(r->read(0).skipped);
  EXPECT_TRUE(r->read(0).tensors.empty());
  EXPECT_FALSE(r->read(1).skipped);
}

TEST(StackedNpy, SlicesAlongTheBatchAxis) {
  auto dir = test::fresh_dir();
  Tensor all = test::random_tensor({5, 3}, 9);
  write_npy(dir / "x.npy", all);
  DataOptions o;
  o.batch_axis = 0;
  auto r = open_data(dir, {kX}, o);
  ASSERT_EQ(r->size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    Tensor t = r->read(i).tensors.at("x");
    ASSERT_EQ(t.shape(), (Shape{1, 3}));  // the model input has the file's rank: the axis is kept
    for (int k = 0; k < 3; ++k) EXPECT_EQ(t.data<float>()[k], all.data<float>()[i * 3 + static_cast<size_t>(k)]);
  }
  // Axis 1 of a [2, 4] file for a [2] input: sample i is column i, the axis dropped.
  Tensor cols = test::random_tensor({2, 4}, 10);
  write_npy(dir / "one.npy", cols);
  o.batch_axis = 1;
  o.max_samples = 3;
  r = open_data(dir / "one.npy", {kY}, o);
  ASSERT_EQ(r->size(), 3u);
  Tensor c2 = r->read(2).tensors.at("y:0");
  ASSERT_EQ(c2.shape(), (Shape{2}));
  EXPECT_EQ(c2.data<float>()[0], cols.data<float>()[2]);
  EXPECT_EQ(c2.data<float>()[1], cols.data<float>()[6]);
  // Inputs must hold the same number of samples.
  write_npy(dir / "y_0.npy", test::random_tensor({3, 2}, 11));
  o.batch_axis = 0;
  o.max_samples = 0;
  EXPECT_NE(error_of([&] { open_data(dir, {kX, kY}, o); }).find("3 samples along axis 0"), std::string::npos);
}

TEST(Npz, ReadsStoredAndDeflatedEntries) {
  auto dir = test::fresh_dir();
  Tensor x0 = test::random_tensor({1, 3}, 1), y0 = test::random_tensor({2}, 2);
  Tensor x1 = test::random_tensor({4, 3}, 3), y1 = test::random_tensor({2}, 4);
  write_npz(dir / "a.npz", {{"x", x0}, {"y:0", y0}}, false);
  write_npz(dir / "b.npz", {{"x", x1}, {"y_0", y1}}, true);  // sanitized key also accepted
  auto r = open_data(dir, {kX, kY});
  ASSERT_EQ(r->size(), 2u);
  Sample s = r->read(1);
  EXPECT_EQ(s.id, "b");
  expect_same(s.tensors.at("x"), x1);
  expect_same(s.tensors.at("y:0"), y1);
  expect_same(open_data(dir / "a.npz", {kX, kY})->read(0).tensors.at("y:0"), y0);
  write_npz(dir / "c.npz", {{"z", x0}}, true);
  std::string msg = error_of([&] { r = open_data(dir, {kX, kY}); r->read(2); });
  EXPECT_NE(msg.find("c.npz: no array for input 'x' (entries: z.npy)"), std::string::npos) << msg;
  test::write_bytes(dir / "d.npz", "not a zip");
  msg = error_of([&] { open_data(dir, {kX, kY})->read(3); });
  EXPECT_NE(msg.find("d.npz: not a readable .npz"), std::string::npos) << msg;
}

TEST(OnnxPb, MatchesByNameThenPosition) {
  auto dir = test::fresh_dir();
  Tensor x = test::random_tensor({2, 3}, 5), y = test::random_tensor({2}, 6);
  auto write_pb = [](const fs::path& p, const Tensor& t, const std::string& name) {
    fs::create_directories(p.parent_path());
    test::write_bytes(p, onnx_io::tensor_to_proto(t, name).SerializeAsString());
  };
  write_pb(dir / "test_data_set_0" / "input_0.pb", y, "y:0");  // named: goes to y despite position 0
  write_pb(dir / "test_data_set_0" / "input_1.pb", x, "x");
  write_pb(dir / "test_data_set_1" / "input_0.pb", x, "");     // unnamed: by position
  write_pb(dir / "test_data_set_1" / "input_1.pb", y, "");
  auto r = open_data(dir, {kX, kY});
  ASSERT_EQ(r->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    Sample s = r->read(i);
    expect_same(s.tensors.at("x"), x);
    expect_same(s.tensors.at("y:0"), y);
  }
  write_pb(dir / "test_data_set_2" / "input_0.pb", x, "");
  std::string msg = error_of([&] { open_data(dir, {kX, kY})->read(2); });
  EXPECT_NE(msg.find("test_data_set_2: no input_K.pb for input 'y:0'"), std::string::npos) << msg;
}

// ---- Images ------------------------------------------------------------------------------------------

namespace {

// A w x h RGB image with pixel (x, y) = (10x + y, 100 + x, 200 - y).
std::vector<unsigned char> pattern(int w, int h) {
  std::vector<unsigned char> p;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      p.push_back(static_cast<unsigned char>(10 * x + y));
      p.push_back(static_cast<unsigned char>(100 + x));
      p.push_back(static_cast<unsigned char>(200 - y));
    }
  return p;
}

unsigned char pixel(int x, int y, int c) { return c == 0 ? static_cast<unsigned char>(10 * x + y) : c == 1 ? static_cast<unsigned char>(100 + x) : static_cast<unsigned char>(200 - y); }

}  // namespace

TEST(Images, PreprocessingMatchesHandComputedValues) {
  auto dir = test::fresh_dir();
  auto px = pattern(8, 4);
  ASSERT_TRUE(stbi_write_png((dir / "a.png").c_str(), 8, 4, 3, px.data(), 8 * 3));
  ASSERT_TRUE(stbi_write_bmp((dir / "b.bmp").c_str(), 8, 4, 3, px.data()));
  ValueInfo in = input("img", DType::Float32, {1, 3, 4, 4});
  DataOptions o;
  o.image.resize = 4;  // shorter side already 4: no filtering; centre crop 4x4 from x = 2
  o.image.scale = 0.5f;
  o.image.mean = {1.0f, 2.0f, 3.0f};
  o.image.std = {2.0f};
  auto r = open_data(dir, {in}, o);
  ASSERT_EQ(r->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {  // png and bmp are lossless
    Tensor t = r->read(i).tensors.at("img");
    ASSERT_EQ(t.shape(), (Shape{1, 3, 4, 4}));
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x)
          EXPECT_FLOAT_EQ(t.data<float>()[(c * 4 + y) * 4 + x], (pixel(x + 2, y, c) * 0.5f - (1.0f + c)) / 2.0f);
  }
  // NHWC, BGR, uint8 input, raw values.
  ValueInfo nhwc = input("img", DType::UInt8, {1, 4, 4, 3});
  DataOptions raw;
  raw.image.preset = "raw255";
  raw.image.resize = 4;
  raw.image.color = "bgr";
  Tensor t = open_data(dir / "a.png", {nhwc}, raw)->read(0).tensors.at("img");
  ASSERT_EQ(t.shape(), (Shape{1, 4, 4, 3}));
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x)
      for (int c = 0; c < 3; ++c) EXPECT_EQ(t.data<uint8_t>()[(y * 4 + x) * 3 + c], pixel(x + 2, y, 2 - c));
}

TEST(Images, PresetsAndResizing) {
  auto dir = test::fresh_dir();
  auto px = pattern(20, 10);
  ASSERT_TRUE(stbi_write_jpg((dir / "c.jpg").c_str(), 20, 10, 3, px.data(), 95));
  // The torchvision preset on a 3x224x224 input: resize 256 + crop 224, (x/255 - mean)/std.
  ValueInfo in = input("img", DType::Float32, {1, 3, 224, 224});
  DataOptions o;
  o.image.preset = "imagenet_torchvision";
  Tensor t = open_data(dir, {in}, o)->read(0).tensors.at("img");
  ASSERT_EQ(t.shape(), (Shape{1, 3, 224, 224}));
  for (int64_t i = 0; i < t.numel(); ++i) {
    int c = static_cast<int>(i / (224 * 224));
    const float mean[] = {0.485f, 0.456f, 0.406f}, sd[] = {0.229f, 0.224f, 0.225f};
    ASSERT_GE(t.data<float>()[i], (0.0f - mean[c]) / sd[c] - 1e-5f);
    ASSERT_LE(t.data<float>()[i], (1.0f - mean[c]) / sd[c] + 1e-5f);
  }
  // TF MobileNet on a gray-less 3-channel NHWC model: values in [-1, 1].
  ValueInfo tf = input("img", DType::Float32, {1, 6, 6, 3});
  o.image.preset = "mobilenet_tf";
  t = open_data(dir, {tf}, o)->read(0).tensors.at("img");
  ASSERT_EQ(t.shape(), (Shape{1, 6, 6, 3}));
  for (int64_t i = 0; i < t.numel(); ++i) ASSERT_TRUE(t.data<float>()[i] >= -1.0f && t.data<float>()[i] <= 1.0f);
  // Gray, rank 3 [1, H, W].
  ValueInfo gray = input("img", DType::Float32, {1, 5, 5});
  DataOptions g;
  g.image.color = "gray";
  EXPECT_EQ(open_data(dir, {gray}, g)->read(0).tensors.at("img").shape(), (Shape{1, 5, 5}));
  // Errors.
  o.image.preset = "imagenet";
  EXPECT_NE(error_of([&] { open_data(dir, {in}, o); }).find("built-in presets: fmnist, imagenet_torchvision, mobilenet_tf, raw255"), std::string::npos);
  ValueInfo dynamic = input("img", DType::Float32, {1, 3, -1, -1});
  EXPECT_NE(error_of([&] { open_data(dir, {dynamic}); }).find("give the image size (--size H,W)"), std::string::npos);
  EXPECT_NE(error_of([&] { open_data(dir, {in, in}); }).find("one input"), std::string::npos);
  test::write_bytes(dir / "d.png", "not a png");
  std::string msg = error_of([&] { DataOptions d; d.image.size = {4}; open_data(dir, {dynamic}, d)->read(1); });
  EXPECT_NE(msg.find("d.png: cannot decode image"), std::string::npos) << msg;
}

// Found by fuzzing (tests/fuzz/corpus/image/regress-huge-bmp): a BMP header claiming 33290 x 16652
// pixels over a few hundred bytes made stb_image allocate 1.7 GB; the header's size is checked first.
TEST(Images, HugeImageHeaderIsRefusedBeforeDecoding) {
  auto dir = test::fresh_dir();
  auto px = pattern(8, 4);
  ASSERT_TRUE(stbi_write_bmp((dir / "big.bmp").c_str(), 8, 4, 3, px.data()));
  std::string bytes = test::read_bytes(dir / "big.bmp");
  const int32_t w = 8000, h = 5000;  // 40 MP: over the 33.5 MP limit
  std::memcpy(&bytes[18], &w, 4);      // BITMAPINFOHEADER width, height
  std::memcpy(&bytes[22], &h, 4);
  test::write_bytes(dir / "big.bmp", bytes);
  std::string msg = error_of([&] { open_data(dir / "big.bmp", {input("img", DType::Float32, {1, 3, 4, 4})})->read(0); });
  EXPECT_NE(msg.find("big.bmp: image of 8000x5000 pixels; ptq reads images of at most 33554432 pixels"), std::string::npos) << msg;
  // A top-down BMP (negative height) claiming as much (tests/fuzz/corpus/image/regress-top-down-bmp).
  const int32_t top_down = -5000;
  std::memcpy(&bytes[22], &top_down, 4);
  test::write_bytes(dir / "big.bmp", bytes);
  msg = error_of([&] { open_data(dir / "big.bmp", {input("img", DType::Float32, {1, 3, 4, 4})})->read(0); });
  EXPECT_NE(msg.find("big.bmp: image of 8000x5000 pixels; ptq reads images of at most 33554432 pixels"), std::string::npos) << msg;
}

// Found by fuzzing (tests/fuzz/corpus/image/regress-empty-bmp): a 0 x 0 BMP decodes, and Debian's
// stb_image_resize then aborts on an assertion; it is a DataError naming the file.
TEST(Images, EmptyImageIsRefused) {
  auto dir = test::fresh_dir();
  auto px = pattern(8, 4);
  ASSERT_TRUE(stbi_write_bmp((dir / "empty.bmp").c_str(), 8, 4, 3, px.data()));
  std::string bytes = test::read_bytes(dir / "empty.bmp");
  const int32_t zero = 0;
  std::memcpy(&bytes[18], &zero, 4);
  std::memcpy(&bytes[22], &zero, 4);
  test::write_bytes(dir / "empty.bmp", bytes);
  std::string msg = error_of([&] { open_data(dir / "empty.bmp", {input("img", DType::Float32, {1, 3, 4, 4})})->read(0); });
  EXPECT_TRUE(msg.find("empty.bmp: empty image (0x0 pixels)") != std::string::npos ||
              msg.find("empty.bmp: cannot decode image") != std::string::npos) << msg;
}

// Found by fuzzing: a 1-pixel-wide image resized so that its shorter side becomes `resize` grew to
// billions of pixels (an 8 GB buffer); the resized size is held to the same limit.
TEST(Images, ResizeBeyondThePixelLimitIsRefused) {
  auto dir = test::fresh_dir();
  auto px = pattern(1, 30000);
  ASSERT_TRUE(stbi_write_png((dir / "tall.png").c_str(), 1, 30000, 3, px.data(), 3));
  DataOptions o;
  o.image.resize = 1200;  // 1200 x 36000000
  std::string msg = error_of([&] { open_data(dir / "tall.png", {input("img", DType::Float32, {1, 3, 4, 4})}, o)->read(0); });
  EXPECT_NE(msg.find("tall.png: resize 1200 turns the 1x30000 image into 1200x36000000 pixels"), std::string::npos) << msg;
}
