// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the ONNX loader and graph builder on a model read from memory: parse + validation
// (parse_model), Graph construction with ONNX shape inference (build_graph) and the summary `quantize
// inspect` prints (describe_model). Seeds: corpus/model (tiny models from tools/fuzz_seeds.py).
#include "fuzz_util.h"
#include "ptq/ir/graph.h"
#include "ptq/ir/model_info.h"
#include "ptq/ir/onnx_io.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ptq::fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ptq::fuzz::expect_clean([&] {
    ptq::onnx_io::LoadedModel loaded;
    loaded.proto = ptq::onnx_io::parse_model(std::string(reinterpret_cast<const char*>(data), size), "fuzz.onnx");
    ptq::Graph graph = ptq::build_graph(loaded.proto);
    ptq::format_model_info(ptq::describe_model(loaded, graph));
  });
}
