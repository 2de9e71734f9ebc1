// SPDX-License-Identifier: Apache-2.0
// precision_hint (see quantize.h): where the error starts, and what to keep float or which method to try.
#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "ptq/pipeline/quantize.h"

namespace ptq::pipeline {

std::string precision_hint(const Graph& graph, const rewrite::QuantOptions& quant, const std::string& method,
                           const report::EvalResult& eval) {
  const double worst = eval.worst_output_cosine();
  if (eval.outputs.empty() || !(worst < kHintCosine)) return "";
  std::map<std::string, double> cosine, own_snr;
  for (const auto& t : eval.tensors) {
    cosine[t.tensor] = t.error.cosine();
    if (t.has_local) own_snr[t.tensor] = t.local.snr_db();
  }
  // The worst cosine among the nearest compared tensors upstream of node i (1 when there are none).
  auto upstream = [&](size_t i) {
    double c = 1.0;
    std::vector<std::string> todo(graph.nodes[i].inputs.begin(), graph.nodes[i].inputs.end());
    std::set<std::string> seen;
    while (!todo.empty()) {
      std::string t = todo.back();
      todo.pop_back();
      if (t.empty() || !seen.insert(t).second) continue;
      if (auto it = cosine.find(t); it != cosine.end()) {
        c = std::min(c, it->second);
      } else if (int p = graph.producer(t); p >= 0) {
        todo.insert(todo.end(), graph.nodes[static_cast<size_t>(p)].inputs.begin(), graph.nodes[static_cast<size_t>(p)].inputs.end());
      }
    }
    return c;
  };
  const rewrite::LayerDepths depth = rewrite::layer_depths(graph);
  const int layers = depth.from_inputs.empty() ? 0 : *std::max_element(depth.from_inputs.begin(), depth.from_inputs.end());
  const int edge = std::max(1, layers / 4);
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    for (const auto& out : graph.nodes[i].outputs) {
      auto it = cosine.find(out);
      if (it == cosine.end() || !(it->second < kHintCosine)) continue;
      const int first = depth.from_inputs[i], last = depth.to_outputs[i] + 1;
      char text[512];
      if (auto own = own_snr.find(out); own != own_snr.end() && own->second < kHintOwnSnrDb) {
        // Its own rounding and clipping already lose most: the calibrated range, not the layer, is the problem.
        const std::string other = method == "percentile" ? "mse" : "percentile";
        const std::string advice_text = method.empty() ? "its range fits it badly: calibrate again with another --method"
                                                       : "the " + method + " range fits it badly): try --method " + other;
        std::snprintf(text, sizeof text, "output cosine %.4f; the error starts at tensor '%s' (cosine %.4f), whose own quantization loses most (own SNR %.1f dB%s%s",
                      worst, out.c_str(), it->second, own->second, method.empty() ? "): " : ": ", advice_text.c_str());
      } else if (quant.float_first <= 0 && first >= 1 && first <= edge) {
        std::snprintf(text, sizeof text, "output cosine %.4f; the error starts at tensor '%s' (cosine %.4f, compute layer %d of %d from the input): try --float-first %d, or --target-cosine %.2f to let ptq choose the layers",
                      worst, out.c_str(), it->second, first, layers, first, kHintCosine);
      }
      // Near the output, error accumulated layer after layer crosses the threshold too: there, only a
      // jump counts (this tensor's 1 - cosine at least kHintJump times its inputs').
      else if (quant.float_last <= 0 && last <= edge && 1.0 - it->second >= kHintJump * (1.0 - upstream(i))) {
        std::snprintf(text, sizeof text, "output cosine %.4f; the error starts at tensor '%s' (cosine %.4f, %d compute layers before the output): try --float-last %d, or --target-cosine %.2f to let ptq choose the layers",
                      worst, out.c_str(), it->second, last - 1, last, kHintCosine);
      } else {
        return "";
      }
      return text;
    }
  return "";
}

std::string rounding_hint(const rewrite::QuantOptions& quant, bool rounded, bool corrected, const std::string& weight_method,
                          const report::EvalResult& eval) {
  if (qtype_bits(quant.weight_type) != 4) return "";
  // What the run did not use: per channel, of AdaRound, bias correction and asymmetric grids (all three:
  // W4A8 MobileNetV2 86.2 %, FP32 89.7); in weight-only blocks, of GPTQ and asymmetric grids (both: the
  // tiny LM at blocks of 128, every block 4-bit, output cosine 0.9897 -> 0.9971).
  const bool blocks = quant.block_size > 0;
  std::string options;
  for (const auto& [unused, flag] : {std::pair{!blocks && !rounded, "--adaround"}, std::pair{!blocks && !corrected, "--bias-correction"},
                                     std::pair{blocks && weight_method != "gptq", "--weight-method gptq"},
                                     std::pair{!quant.asymmetric_weights && quant.per_channel, "--asymmetric-weights"}})
    if (unused) options += (options.empty() ? "" : " ") + std::string(flag);
  const double worst = eval.worst_output_cosine();
  if (options.empty() || eval.outputs.empty() || !(worst < kHintCosine)) return "";
  char text[256];
  std::snprintf(text, sizeof text, "output cosine %.4f with 4-bit weights, which lose most to rounding: try %s", worst, options.c_str());
  return text;
}

}  // namespace ptq::pipeline
