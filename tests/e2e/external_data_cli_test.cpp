// SPDX-License-Identifier: Apache-2.0
// Models with external data end to end: the quantized weights go to "<output>.data" as they are made
// (DataFileWriter), a float layer left in external data passes the rewrite's validation from any
// folder, the evaluated model is the written one, and nothing but the model and its data file is left
// in the output folder.
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "ptq/ir/onnx_io.h"
#include "testutil.h"

namespace fs = std::filesystem;
using namespace ptq;

namespace {

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

const onnx::TensorProto& initializer(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer())
    if (t.name() == name) return t;
  ADD_FAILURE() << "no initializer " << name;
  return m.graph().initializer(0);
}

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

// Dynamic, the first layer left float: every weight of the output in its data file, the quantized ones
// the codes of their per-channel scales (checked against round-half-even in double), the float one
// as it was; the rewrite validated with the weights in a file of another folder than the current one.
TEST(ExternalDataCli, QuantizedWeightsGoToTheDataFile) {
  const fs::path dir = test::fresh_dir();
  const fs::path model = test::write_mlp(dir, "mlp.onnx", true);
  fs::create_directories(dir / "out");
  auto r = test::run_quantize(q(model) + " --mode dynamic --float-first 1 -q -o " + q(dir / "out/q.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(files_in(dir / "out"), (std::vector<std::string>{"q.onnx", "q.onnx.data"}));  // no temp file left

  onnx::ModelProto raw;  // the model file as written: which tensors refer to the data file
  ASSERT_TRUE(raw.ParseFromString(test::read_bytes(dir / "out/q.onnx")));
  for (const char* name : {"w0", "w1_quantized", "w2_quantized"}) {
    const onnx::TensorProto& t = initializer(raw, name);
    EXPECT_EQ(t.data_location(), onnx::TensorProto::EXTERNAL) << name;
    EXPECT_FALSE(t.has_raw_data()) << name;
    for (const auto& e : t.external_data()) {
      if (e.key() == "location") {
        EXPECT_EQ(e.value(), "q.onnx.data") << name;
      }
    }
  }

  const onnx::ModelProto in = onnx_io::load_model(model).proto;
  const onnx::ModelProto out = onnx_io::load_model(dir / "out/q.onnx").proto;
  EXPECT_EQ(onnx_io::tensor_from_proto(initializer(out, "w0")).to_vector<float>(),
            onnx_io::tensor_from_proto(initializer(in, "w0")).to_vector<float>());
  for (const std::string w : {"w1", "w2"}) {
    const Tensor fp = onnx_io::tensor_from_proto(initializer(in, w));
    const Tensor codes = onnx_io::tensor_from_proto(initializer(out, w + "_quantized"));
    const Tensor scale = onnx_io::tensor_from_proto(initializer(out, w + "_scale"));
    ASSERT_EQ(codes.dtype(), DType::Int8);
    ASSERT_EQ(codes.shape(), fp.shape());
    const int64_t rows = fp.shape()[0], cols = fp.shape()[1];
    ASSERT_EQ(scale.numel(), cols);  // per output channel
    for (int64_t n = 0; n < cols; ++n) {
      float absmax = 0.0f;
      for (int64_t k = 0; k < rows; ++k) absmax = std::max(absmax, std::fabs(fp.data<float>()[k * cols + n]));
      EXPECT_NEAR(scale.data<float>()[n], absmax / 127.0f, 1e-6f * absmax) << w << " channel " << n;
      for (int64_t k = 0; k < rows; ++k) {
        const double v = std::nearbyint(static_cast<double>(fp.data<float>()[k * cols + n] / scale.data<float>()[n]));
        ASSERT_EQ(codes.data<int8_t>()[k * cols + n], static_cast<int8_t>(std::clamp(v, -127.0, 127.0))) << w << " " << k << "," << n;
      }
    }
  }
}

// Static with evaluation, 8-bit and 4-bit weights: the model written from external data (its weights
// evaluated from the data file before the save) has the weights and the report of the same model
// quantized in memory.
TEST(ExternalDataCli, TheEvaluatedModelIsTheWrittenOne) {
  const fs::path dir = test::fresh_dir();
  const fs::path ext = test::write_mlp(dir, "ext.onnx", true);
  const fs::path mem = test::write_mlp(dir, "mem.onnx", false);
  for (const std::string weights : {"", " --weight-type int4 --int8-first 0 --int8-last 0"}) {
    SCOPED_TRACE(weights);
    const std::string args = weights + " --calib " + q(dir / "calib") + " --eval-data " + q(dir / "calib") + " -q --json -o ";
    auto a = test::run_quantize(q(ext) + args + q(dir / "a.onnx"));
    ASSERT_EQ(a.exit_code, 0) << a.err;
    auto b = test::run_quantize(q(mem) + args + q(dir / "b.onnx"));
    ASSERT_EQ(b.exit_code, 0) << b.err;
    EXPECT_TRUE(fs::exists(dir / "a.onnx.data"));
    EXPECT_FALSE(fs::exists(dir / "b.onnx.data"));
    const auto ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out);
    ASSERT_TRUE(ja.contains("evaluation")) << a.out;
    for (const char* part : {"outputs", "tensors"}) EXPECT_EQ(ja["evaluation"][part], jb["evaluation"][part]) << part;
    EXPECT_LT(ja["evaluation"]["outputs"][0]["cosine"].get<double>(), 1.0);  // quantized: not the FP32 model itself
    const onnx::ModelProto ma = onnx_io::load_model(dir / "a.onnx").proto, mb = onnx_io::load_model(dir / "b.onnx").proto;
    ASSERT_EQ(ma.graph().initializer_size(), mb.graph().initializer_size());
    int four_bit = 0;
    for (const auto& t : mb.graph().initializer()) {
      const Tensor va = onnx_io::tensor_from_proto(initializer(ma, t.name())), vb = onnx_io::tensor_from_proto(t);
      EXPECT_EQ(va.dtype(), vb.dtype()) << t.name();
      four_bit += va.dtype() == DType::Int4 && t.name().size() > 10 && t.name().substr(t.name().size() - 10) == "_quantized";
      EXPECT_EQ(std::string(static_cast<const char*>(va.raw()), va.nbytes()), std::string(static_cast<const char*>(vb.raw()), vb.nbytes()))
          << t.name();
    }
    EXPECT_EQ(four_bit, weights.empty() ? 0 : 3);
    fs::remove(dir / "a.onnx.data");
  }
}
