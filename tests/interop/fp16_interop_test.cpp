// SPDX-License-Identifier: Apache-2.0
// An fp16 model (models/fmnist_cnn_fp16.onnx: the bundled CNN converted by tools/to_fp16.py) through
// the `quantize` CLI with float16 calibration data, checked in ONNX Runtime: the written model keeps
// the float16 input and output, its weights are int8, and its logits stay close to the fp16 model's.
#include <gtest/gtest.h>

#include <algorithm>

#include "ort_util.h"
#include "ptq/ir/npy.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::test;

namespace {

// Logits of the int8 model vs the fp16 model in ONNX Runtime, 200 test images: the int8 model's
// cosine with FP32 is 0.9997 (README: Results); fp16 rounding adds little (measured 0.99962, 200/200).
constexpr double kFp16Cosine = 0.999;
constexpr double kFp16Agreement = 0.98;

const std::filesystem::path kRoot = PTQ_SOURCE_DIR;

int elem_type(const google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>& list) {
  return list.empty() ? -1 : list.Get(0).type().tensor_type().elem_type();
}

}  // namespace

TEST(OrtFp16, Fp16ModelQuantizesWithItsFloat16InputAndOutputAndRunsInOnnxRuntime) {
  const auto dir = fresh_dir();
  for (int i = 0; i < 40; ++i) {  // float16 calibration samples
    char name[64];
    std::snprintf(name, sizeof name, "%03d", i);
    std::filesystem::create_directories(dir / "calib" / name);
    write_npy(dir / "calib" / name / "input.npy",
              cast_tensor(read_npy(kRoot / "calibration/fmnist" / name / "input.npy"), DType::Float16));
  }
  const auto fp16_path = kRoot / "models/fmnist_cnn_fp16.onnx";
  RunResult run = run_quantize(fp16_path.string() + " --calib " + (dir / "calib").string() + " -o " + (dir / "q.onnx").string());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  onnx::ModelProto fp16, q;
  ASSERT_TRUE(fp16.ParseFromString(read_bytes(fp16_path)));
  ASSERT_TRUE(q.ParseFromString(read_bytes(dir / "q.onnx")));
  EXPECT_EQ(elem_type(q.graph().input()), onnx::TensorProto::FLOAT16);
  EXPECT_EQ(elem_type(q.graph().output()), onnx::TensorProto::FLOAT16);
  int int8_weights = 0;
  for (const auto& t : q.graph().initializer()) int8_weights += t.data_type() == onnx::TensorProto::INT8 && t.dims_size() == 4;
  EXPECT_EQ(int8_weights, 5);  // the five Conv weights

  Tensor all = read_npy(kRoot / "models/fmnist_test/input.npy");
  Tensor x(DType::Float32, {200, 1, 28, 28});
  std::copy_n(all.data<float>(), x.numel(), x.data<float>());
  const exec::TensorMap in{{"input", cast_tensor(x, DType::Float16)}};
  const OrtRun want = ort_run(fp16, in, dir / "fp16");
  const OrtRun got = ort_run(q, in, dir / "q");
  ASSERT_TRUE(want.ok) << want.error;
  ASSERT_TRUE(got.ok) << "ONNX Runtime rejected the quantized fp16 model: " << got.error;
  ASSERT_EQ(got.outputs.at("logits").dtype(), DType::Float16);
  const Tensor ref = cast_tensor(want.outputs.at("logits"), DType::Float32), out = cast_tensor(got.outputs.at("logits"), DType::Float32);
  int agree = 0;
  for (int64_t r = 0; r < 200; ++r) {
    const float *a = ref.data<float>() + r * 10, *b = out.data<float>() + r * 10;
    agree += std::max_element(a, a + 10) - a == std::max_element(b, b + 10) - b;
  }
  const double cos = cosine(ref, out);
  std::printf("[interop] fp16 model quantized: cosine %.6f with the fp16 model, top-1 agreement %d/200\n", cos, agree);
  EXPECT_GE(cos, kFp16Cosine);
  EXPECT_GE(agree / 200.0, kFp16Agreement);
}
