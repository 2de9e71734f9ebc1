// SPDX-License-Identifier: Apache-2.0
// Per-layer sensitivity (as AIMET's QuantAnalyzer per-layer analysis): for every layer, the error of
// the graph outputs against FP32 when
//   only   that layer's quantizers are on (every other tensor float): what the layer costs by itself;
//   except that layer's quantizers are off (every other layer quantized): what leaving it float buys.
// One calibration (the simulator's parameters), a handful of samples. Per sample: one float run and one
// fully quantized run, each kept (QuantSim traces); each layer then re-runs only the nodes below its
// quantizers from those traces. Layers are spread over the threads; each layer's figures are
// accumulated in sample order by one task, so the thread count does not change them.
// With group_zero_mac (the precision search's ranking; "only" figures alone), layers without MACs
// (element-wise and data-movement nodes: most layers of a MobileNetV3- or YOLO-style network) are not
// re-run one by one: each is attached to the compute node its first input comes from (through other
// nodes without MACs), and the layers attached to one node are re-run together (all their quantizers
// on). A block's error is shared among its layers in proportion to the rounding noise their
// quantizers make on their own (QuantSim::group_noise, relative to the signal: sum of each quantizer's
// noise/signal), the noise adding up as the ranking assumes: a layer gets the block's error scaled by
// its share (its cosine as if its error pointed the block's way). Layers with MACs, and a block of one
// layer, are measured exactly. PP-OCRv4 det: 292 layers in 112 runs per sample (ranking 18.8 s -> 3.7 s); YOLOX-nano: 359 in 227.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ptq/calib/data_reader.h"
#include "ptq/report/evaluator.h"
#include "ptq/search/layers.h"
#include "ptq/search/quant_sim.h"

namespace ptq::search {

struct SensitivityOptions {
  size_t samples = 8;    // the first N samples of the data
  bool except = true;    // also measure "every layer but this one" (doubles the work)
  int threads = 0;
  bool progress = true;
  bool group_zero_mac = false;  // layers without MACs measured in blocks (see above; needs except = false)
};

struct LayerSensitivity {
  std::vector<report::ErrorStats> only, except;  // per graph output (except: empty when not measured)
  // Over the outputs: the worst cosine and SNR (dB).
  double only_cosine() const;
  double only_snr_db() const;
  double except_cosine() const;
  double except_snr_db() const;
};

struct SensitivityResult {
  std::vector<std::string> outputs;                 // graph output names
  std::vector<report::ErrorStats> quantized;        // every layer quantized, per output
  std::vector<LayerSensitivity> layers;             // one per layer, in layer order
  std::map<int, int64_t> macs;                      // per compute node (graph.nodes index)
  size_t samples = 0;
  double seconds = 0.0;
  // Layer indices, most sensitive first (lowest "only" SNR; ties by layer order).
  std::vector<size_t> ranking() const;
};

SensitivityResult analyze_sensitivity(const Graph& graph, const QuantSim& sim, std::vector<Layer>& layers,
                                      const calib::DataReader& data, const SensitivityOptions& options);

// Worst cosine / SNR (dB) over per-output figures (1 / +inf for none).
double worst_cosine(const std::vector<report::ErrorStats>& outputs);
double worst_snr_db(const std::vector<report::ErrorStats>& outputs);

}  // namespace ptq::search
