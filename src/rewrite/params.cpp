// SPDX-License-Identifier: Apache-2.0
// Quantization parameters written to the model.
//   activations, weights: from the calibration table, checked against the plan (type, axis, channels,
//     finite positive scales, zero points inside the type's range);
//   shared (data movement): the root tensor's parameters;
//   bias b of a node with input x and weight w, per output channel c (weight channel c' = c mod C_w,
//     C_w = number of weight scales — equal to c except for grouped ConvTranspose):
//       scale_c = float(s_x · s_w[c']),  zero point 0,  q_c = clip_int32(round_half_even(b_c / scale_c)).
//     When |b_c| / (s_x · s_w[c']) would exceed 2^31 − 1, the weight scale s_w[c'] is enlarged to
//     1.0001 · |b_c| / ((2^31 − 1) · s_x) (as ONNX Runtime's quantizer does) and a warning names the node:
//     the weight loses a little precision on that channel instead of the bias being clipped. With 16-bit
//     weights (int16 layers: s_x · s_w is ~2^-16 of the 8-bit one, and YOLOX's or PP-OCR's biases then
//     needed weight scales 8x to 10^4x coarser) the bias takes the scale 1.0001 · |b_c| / (2^31 − 1)
//     instead and the weight keeps its own: no runtime has a 16x16-bit integer convolution that would
//     need s_x · s_w (ONNX Runtime computes such a layer in float from the DequantizeLinear outputs).
//   with QuantOptions::unsigned_shared_int8: int8 activations read by several nodes become uint8, zero
//     point + 128 (shared_int8.cpp);
//   tensors of If/Loop/Scan bodies: the same, keyed by their scoped table keys; a value a body reads
//     from an enclosing graph that the enclosing graph quantizes too takes that graph's parameters.
//     4-bit weights change nothing here: their scales are ~18x the int8 ones (absmax/7 vs absmax/127),
//     which moves b_c / (s_x · s_w) further from the int32 bound, and the bias grid s_x · s_w stays far
//     finer than the weight error it sits next to (one bias step = one input step times one weight step).
#include <algorithm>
#include <cmath>
#include <limits>

#include "rewrite_internal.h"
#include "ptq/util/error.h"
#include "ptq/util/log.h"

namespace ptq::rewrite {
namespace {

using Kind = TensorPlan::Kind;
constexpr double kInt32Max = 2147483647.0;
constexpr double kBiasScaleMargin = 1.0001;  // ONNX Runtime's multiplicative epsilon

const char* kind_name(Kind k) {
  return k == Kind::Activation ? "activation" : k == Kind::Weight ? "weight" : "bias";
}

QParams checked_params(const ScopeChain& g, const TensorPlan& t, const calib::CalibTable& table) {
  auto it = table.tensors.find(t.table_key());
  if (it == table.tensors.end())
    PTQ_FAIL(DataError, "the calibration table has no entry for ", kind_name(t.kind), " '", t.table_key(),
             "'; was it made for this model with the same options?");
  const QParams& p = it->second.qparams;
  const std::string what = std::string(kind_name(t.kind)) + " '" + t.table_key() + "'";
  if (p.type != t.spec.type)
    PTQ_FAIL(DataError, what, ": the table holds ", qtype_name(p.type), " parameters, the options ask for ", qtype_name(t.spec.type));
  if (p.axis != t.axis)
    PTQ_FAIL(DataError, what, ": the table has axis ", p.axis, ", the plan needs ", t.axis, " (per-channel option changed?)");
  if (p.block != t.block)
    PTQ_FAIL(DataError, what, ": the table has block size ", p.block, ", the plan needs ", t.block, " (--block-size changed?)");
  size_t channels = 1;
  if (t.axis >= 0) channels = static_cast<size_t>(g.weight(t.tensor)->dim(t.axis));
  if (t.block > 0) {
    const Shape want = blocked_scale_shape(g.weight(t.tensor)->shape(), t.axis, t.block);
    if (p.scale_shape != want) PTQ_FAIL(DataError, what, ": the table's blocks ", shape_str(p.scale_shape), " do not fit, expected ", shape_str(want));
    channels = static_cast<size_t>(shape_numel(want));
  }
  if (p.scale.size() != channels || p.zero_point.size() != channels)
    PTQ_FAIL(DataError, what, ": the table has ", p.scale.size(), " scales and ", p.zero_point.size(),
             " zero points, expected ", channels);
  for (size_t c = 0; c < channels; ++c) {
    if (!(std::isfinite(p.scale[c]) && p.scale[c] > 0.0f))
      PTQ_FAIL(DataError, what, ": scale ", p.scale[c], " is not a positive finite number");
    if (p.zero_point[c] < qtype_min(p.type) || p.zero_point[c] > qtype_max(p.type))
      PTQ_FAIL(DataError, what, ": zero point ", p.zero_point[c], " is outside the ", qtype_name(p.type), " range");
  }
  return p;
}

const std::string& key_of(const QuantPlan& plan, const std::string& tensor) { return plan.tensors.at(tensor).table_key(); }

// Enlarges weight scales so that every bias value fits int32 (see the header comment).
void fit_bias_in_int32(const ScopeChain& g, const QuantPlan& plan, const TensorPlan& b, std::map<std::string, QParams>& params) {
  const double sx = params.at(key_of(plan, b.bias_input)).scale[0];
  QParams& w = params.at(key_of(plan, b.bias_weight));
  if (qtype_bits(w.type) == 16) return;  // bias_params widens the bias scale instead
  const Tensor& bias = *g.weight(b.tensor);
  const float* v = bias.data<float>();
  const size_t wc = w.scale.size();
  size_t enlarged = 0;
  double worst = 1.0;
  for (int64_t i = 0; i < bias.numel(); ++i) {
    size_t c = static_cast<size_t>(i) % wc;  // bias is 1-D or [1, N]: element i is channel i
    double needed = kBiasScaleMargin * std::fabs(static_cast<double>(v[i])) / (kInt32Max * sx);
    if (needed > static_cast<double>(w.scale[c])) {
      worst = std::max(worst, needed / static_cast<double>(w.scale[c]));
      w.scale[c] = static_cast<float>(needed);
      ++enlarged;
    }
  }
  if (enlarged)
    log::warn_once("bias '", b.tensor, "' would overflow int32 with scale s_x·s_w: enlarged the scale of weight '",
              b.bias_weight, "' on ", enlarged, " channel(s), by up to ", worst, "x");
}

QParams bias_params(const QuantPlan& plan, const TensorPlan& b, const std::map<std::string, QParams>& params, const Tensor& bias) {
  const double sx = params.at(key_of(plan, b.bias_input)).scale[0];
  const QParams& w = params.at(key_of(plan, b.bias_weight));
  QParams p;
  p.type = QType::Int32;
  p.axis = b.axis;
  size_t channels = b.axis >= 0 ? static_cast<size_t>(bias.dim(b.axis)) : 1;
  for (size_t c = 0; c < channels; ++c) {
    p.scale.push_back(static_cast<float>(sx * static_cast<double>(w.scale[c % w.scale.size()])));
    p.zero_point.push_back(0);
  }
  if (qtype_bits(w.type) == 16)  // a scale of its own where s_x·s_w would overflow (see the header comment)
    for (int64_t i = 0; i < bias.numel(); ++i) {
      float& s = p.scale[static_cast<size_t>(i) % channels];
      s = std::max(s, static_cast<float>(kBiasScaleMargin * std::fabs(static_cast<double>(bias.data<float>()[i])) / kInt32Max));
    }
  return p;
}

// The parameters of one plan's tensors (by table key), then of its bodies' plans.
void resolve_plan(const ScopeChain& g, const QuantPlan& plan, const calib::CalibTable& table, std::map<std::string, QParams>& params) {
  for (const auto& [name, t] : plan.tensors) {
    if (t.kind == Kind::Bias || !t.params_from.empty()) continue;
    if (g.parent && !g.defines(name) && params.count(t.table_key())) continue;  // the enclosing graph's
    params[t.table_key()] = checked_params(g, t, table);
  }
  for (const auto& [name, t] : plan.tensors) {
    if (t.params_from.empty()) continue;
    std::string root = t.params_from;
    while (!plan.tensors.at(root).params_from.empty()) root = plan.tensors.at(root).params_from;
    params[t.table_key()] = params.at(key_of(plan, root));
  }
  for (const auto& [name, t] : plan.tensors)
    if (t.kind == Kind::Bias) fit_bias_in_int32(g, plan, t, params);
  for (const auto& [name, t] : plan.tensors)
    if (t.kind == Kind::Bias) params[t.table_key()] = bias_params(plan, t, params, *g.weight(name));
  for (const auto& sp : plan.subgraphs) {
    const ScopeChain body{g.graph->nodes[static_cast<size_t>(sp.node)].attrs.at(sp.attr).g.get(), &g, sp.scope};
    resolve_plan(body, *sp.plan, table, params);
  }
}

}  // namespace

std::map<std::string, QParams> resolve_params(const Graph& g, const QuantPlan& plan, const calib::CalibTable& table) {
  std::map<std::string, QParams> params;
  resolve_plan(ScopeChain{&g, nullptr, ""}, plan, table, params);
  if (plan.options.unsigned_shared_int8) unsign_shared_int8(g, plan, params);
  return params;
}

Tensor quantize_bias(const Tensor& bias, const QParams& p, const std::string& name) {
  Tensor q(DType::Int32, bias.shape());
  const float* v = bias.data<float>();
  int32_t* out = q.data<int32_t>();
  const size_t channels = p.scale.size();
  size_t clipped = 0;
  for (int64_t i = 0; i < bias.numel(); ++i) {
    double r = std::nearbyint(static_cast<double>(v[i]) / static_cast<double>(p.scale[static_cast<size_t>(i) % channels]));
    if (r > kInt32Max || r < -kInt32Max - 1.0) ++clipped;
    out[i] = static_cast<int32_t>(std::clamp(r, -kInt32Max - 1.0, kInt32Max));
  }
  if (clipped) log::warn("bias '", name, "': ", clipped, " value(s) clipped to the int32 range");
  return q;
}

}  // namespace ptq::rewrite
