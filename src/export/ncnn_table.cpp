// SPDX-License-Identifier: Apache-2.0
// ncnn int8 scale table (`--export-table ncnn:FILE`), what ncnn2table writes and ncnn2int8 reads:
//   <layer>_param_0 s_1 s_2 ... s_M     weights, one scale per output channel: 127 / absmax_c
//   <layer> s                           the layer's input blob: 127 / amax
// first every weight line, then every input line, for each quantized Conv (ncnn Convolution /
// ConvolutionDepthWise) and Gemm (InnerProduct) of the model graph with a quantized input, named as
// onnx2ncnn names the layers (the ONNX node name, else its first output). ncnn's scale multiplies
// (q = round(x · s)), the reciprocal of ONNX's. absmax_c comes from the weight's calibrated range of
// channel c (per-tensor weights: the one range for every channel); a grouped Conv (1 < group < M,
// ConvolutionDepthWise in ncnn) gets one scale per group, over the group's channels. amax = max(|lo|,
// |hi|) of the input's calibrated range. A zero absmax gives scale 1, as ncnn2table does.
#include <algorithm>
#include <cstdio>

#include "export_layers.h"

namespace ptq::table_export {
namespace {

float ncnn_scale(float absmax) { return absmax > 0.0f ? 127.0f / absmax : 1.0f; }

std::string scale_text(float s) {
  char text[32];
  std::snprintf(text, sizeof text, " %.9g", static_cast<double>(s));
  return text;
}

// Per output channel, or per group for a grouped (not depthwise) Conv.
std::vector<float> channel_absmax(const ExportLayer& l) {
  std::vector<float> m = weight_absmax(l);
  if (l.groups <= 1 || l.groups == static_cast<int64_t>(m.size()) || m.size() % static_cast<size_t>(l.groups) != 0) return m;
  const size_t per = m.size() / static_cast<size_t>(l.groups);
  std::vector<float> g(static_cast<size_t>(l.groups), 0.0f);
  for (size_t c = 0; c < m.size(); ++c) g[c / per] = std::max(g[c / per], m[c]);
  return g;
}

}  // namespace

ExportedTable write_ncnn_table(const ExportInput& input) {
  ExportedTable out;
  std::string weights, blobs;
  for (const ExportLayer& l : quantized_layers(input)) {
    if (!l.input || l.input->range.empty()) {
      out.skipped.push_back(l.name + ": its input " + l.input_name + " is not quantized");
      continue;
    }
    weights += l.name + "_param_0";
    for (float a : channel_absmax(l)) weights += scale_text(ncnn_scale(a));
    weights += "\n";
    blobs += l.name + scale_text(ncnn_scale(range_absmax(l.input->range[0]))) + "\n";
    ++out.entries;
  }
  out.text = weights + blobs;
  return out;
}

}  // namespace ptq::table_export
