// SPDX-License-Identifier: Apache-2.0
// Resize (opset 10, 11, 13, 18, 19) and Upsample (opset 7 scales attribute, 9 scales input).
//
// Output size per axis: sizes[i], or floor(in · scale) (· (roi_end - roi_start) for
// tf_crop_and_resize); with sizes the scale is out / in. Opset 18: `axes` restricts scales/sizes to
// some axes; keep_aspect_ratio_policy not_larger/not_smaller uses one scale s = min/max(sizes/in)
// and out = round(s · in). antialias = 1 is rejected.
//
// Output coordinate x -> input coordinate x' (L = in · scale, the unrounded output length):
//   half_pixel           (x + 0.5) / scale - 0.5
//   half_pixel_symmetric half_pixel + in/2 · (1 - out/L)
//   pytorch_half_pixel   out > 1 ? (x + 0.5) / scale - 0.5 : 0
//   asymmetric           x / scale
//   align_corners        L == 1 ? 0 : x · (in - 1) / (L - 1)
//   tf_half_pixel_for_nn (x + 0.5) / scale
//   tf_crop_and_resize   roi_start·(in-1) + x · (roi_end - roi_start)·(in-1)/(L-1); outside
//                        [0, in-1] the output is extrapolation_value
// Taps, with x0 = floor(x'), r = x' - x0, indices clamped to [0, in-1] (edge padding):
//   nearest  one tap: x' if integral, else x0 or x0+1 by nearest_mode (round_prefer_floor: r <= 0.5
//            -> x0; round_prefer_ceil: r < 0.5 -> x0; floor; ceil)
//   linear   x0 (1 - r), x0+1 (r)
//   cubic    x0-1 .. x0+2 with Keys' coefficients for A = cubic_coeff_a (default -0.75);
//            exclude_outside zeroes taps outside [0, in) and renormalizes
// Before opset 11 (Upsample, Resize-10) the transform is asymmetric and nearest rounds like ONNX
// Runtime: truncation when upsampling an axis, ceil when downsampling it.
//
// The computation is separable (as ONNX's reference implementation): nearest gathers through one
// index table per axis in a single pass (any dtype); linear and cubic apply one weighted pass per
// resized axis (float/double), innermost axis first.
#include <cmath>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "common.h"
#include "dnnl_conv.h"
#include "kernels.h"
#include "../layout.h"

namespace ptq::exec {
namespace {

enum class Interp { Nearest, Linear, Cubic };
enum class Coord { HalfPixel, HalfPixelSymmetric, PytorchHalfPixel, Asymmetric, AlignCorners, TfHalfPixelForNn, TfCropAndResize };
enum class Rounding { RoundPreferFloor, RoundPreferCeil, Floor, Ceil, Simple };
enum class AspectPolicy { Stretch, NotLarger, NotSmaller };

struct ResizeAttrs {
  Interp interp = Interp::Nearest;
  Coord coord = Coord::Asymmetric;
  Rounding rounding = Rounding::Simple;
  float cubic_a = -0.75f;
  bool exclude_outside = false;
  float extrapolation = 0.0f;
  std::vector<int64_t> axes;           // opset 18
  AspectPolicy policy = AspectPolicy::Stretch;
  std::vector<float> attr_scales;      // Upsample-7
  int roi_input = -1, scales_input = -1, sizes_input = -1;
};

template <class E>
E pick(const Node& node, const char* attr, const std::string& fallback, const std::vector<std::pair<const char*, E>>& table) {
  const std::string v = node.attr_string(attr, fallback);
  std::string allowed;
  for (const auto& [name, value] : table) {
    if (v == name) return value;
    allowed += (allowed.empty() ? "" : ", ") + std::string(name);
  }
  PTQ_FAIL(UnsupportedError, attr, " '", v, "' (expected one of: ", allowed, ")");
}

ResizeAttrs read_attrs(const Node& node) {
  ResizeAttrs a;
  const bool modern = node.op_type == "Resize" && node.opset >= 11;
  a.interp = pick<Interp>(node, "mode", "nearest",
                          {{"nearest", Interp::Nearest}, {"linear", Interp::Linear}, {"bilinear", Interp::Linear},
                           {"cubic", Interp::Cubic}});
  if (node.op_type == "Upsample") {
    if (node.opset < 9) a.attr_scales = node.attr_floats("scales");
    else a.scales_input = 1;
  } else if (!modern) {
    a.scales_input = 1;
  } else {
    a.roi_input = 1;
    a.scales_input = 2;
    a.sizes_input = 3;
  }
  if (!modern) {
    if (a.interp == Interp::Cubic) PTQ_FAIL(UnsupportedError, "mode 'cubic' needs Resize-11+");
    return a;
  }
  a.coord = pick<Coord>(node, "coordinate_transformation_mode", "half_pixel",
                        {{"half_pixel", Coord::HalfPixel}, {"half_pixel_symmetric", Coord::HalfPixelSymmetric},
                         {"pytorch_half_pixel", Coord::PytorchHalfPixel}, {"asymmetric", Coord::Asymmetric},
                         {"align_corners", Coord::AlignCorners}, {"tf_half_pixel_for_nn", Coord::TfHalfPixelForNn},
                         {"tf_crop_and_resize", Coord::TfCropAndResize}});
  a.rounding = pick<Rounding>(node, "nearest_mode", "round_prefer_floor",
                              {{"round_prefer_floor", Rounding::RoundPreferFloor},
                               {"round_prefer_ceil", Rounding::RoundPreferCeil},
                               {"floor", Rounding::Floor}, {"ceil", Rounding::Ceil}});
  a.policy = pick<AspectPolicy>(node, "keep_aspect_ratio_policy", "stretch",
                                {{"stretch", AspectPolicy::Stretch}, {"not_larger", AspectPolicy::NotLarger},
                                 {"not_smaller", AspectPolicy::NotSmaller}});
  a.cubic_a = node.attr_float("cubic_coeff_a", -0.75f);
  a.exclude_outside = node.attr_int("exclude_outside", 0) != 0;
  a.extrapolation = node.attr_float("extrapolation_value", 0.0f);
  a.axes = node.attr_ints("axes");
  if (node.attr_int("antialias", 0) != 0) PTQ_FAIL(UnsupportedError, "antialias = 1 is not supported");
  return a;
}

// Per axis: output size, scale and roi.
struct AxisPlan {
  int64_t in = 1, out = 1;
  float scale = 1.0f, roi_start = 0.0f, roi_end = 1.0f;
  bool operator==(const AxisPlan& o) const {
    return in == o.in && out == o.out && scale == o.scale && roi_start == o.roi_start && roi_end == o.roi_end;
  }
};

// `t` as floats, into `out` (a caller's buffer kept between calls).
const std::vector<float>& read_floats(const Tensor& t, std::vector<float>& out) {
  Tensor f = cast_tensor(t, DType::Float32);
  out.assign(f.data<float>(), f.data<float>() + f.numel());
  return out;
}

// The plan of every axis of an input of shape `in_shape`, into `plan` (a caller's buffer kept between
// calls, so that a steady-state run allocates nothing here).
void plan_axes(const ResizeAttrs& a, const KernelIO& io, const Shape& in_shape, std::vector<AxisPlan>& plan) {
  const int64_t rank = static_cast<int64_t>(in_shape.size());
  Shape axes;
  for (int64_t ax : a.axes) axes.push_back(normalize_axis(ax, rank, "axes value"));
  if (axes.empty())
    for (int i = 0; i < rank; ++i) axes.push_back(i);
  plan.assign(static_cast<size_t>(rank), AxisPlan{});
  for (size_t i = 0; i < plan.size(); ++i) plan[i].in = plan[i].out = in_shape[i];
  auto input = [&](int k) -> const Tensor* { return k >= 0 && io.has(static_cast<size_t>(k)) && io.in(static_cast<size_t>(k)).numel() > 0 ? &io.in(static_cast<size_t>(k)) : nullptr; };
  if (const Tensor* roi = input(a.roi_input); roi && a.coord == Coord::TfCropAndResize) {
    std::vector<float> r;
    read_floats(*roi, r);
    if (r.size() != 2 * axes.size()) PTQ_FAIL(ModelError, "roi has ", r.size(), " values for ", axes.size(), " axes");
    for (size_t k = 0; k < axes.size(); ++k) {
      plan[static_cast<size_t>(axes[k])].roi_start = r[k];
      plan[static_cast<size_t>(axes[k])].roi_end = r[k + axes.size()];
    }
  }
  const Tensor* sizes = input(a.sizes_input);
  const Tensor* scales_t = input(a.scales_input);
  if (sizes && scales_t) PTQ_FAIL(ModelError, "only one of scales and sizes may be given");
  if (sizes) {
    const Shape s = read_ints(*sizes, "sizes");
    if (s.size() != axes.size()) PTQ_FAIL(ModelError, "sizes has ", s.size(), " values for ", axes.size(), " axes");
    float common = a.policy == AspectPolicy::NotLarger ? INFINITY : 0.0f;
    for (size_t k = 0; k < axes.size(); ++k) {
      const float r = static_cast<float>(s[k]) / static_cast<float>(in_shape[static_cast<size_t>(axes[k])]);
      common = a.policy == AspectPolicy::NotLarger ? std::min(common, r) : std::max(common, r);
    }
    for (size_t k = 0; k < axes.size(); ++k) {
      AxisPlan& p = plan[static_cast<size_t>(axes[k])];
      p.out = a.policy == AspectPolicy::Stretch ? s[k] : static_cast<int64_t>(std::round(common * static_cast<float>(p.in)));
      p.scale = a.policy == AspectPolicy::Stretch ? static_cast<float>(p.out) / static_cast<float>(p.in) : common;
    }
    return;
  }
  thread_local std::vector<float> read;
  const std::vector<float>& scales = scales_t ? read_floats(*scales_t, read) : a.attr_scales;
  if (scales.size() != axes.size()) PTQ_FAIL(ModelError, "scales has ", scales.size(), " values for ", axes.size(), " axes (give scales or sizes)");
  for (size_t k = 0; k < axes.size(); ++k) {
    AxisPlan& p = plan[static_cast<size_t>(axes[k])];
    if (!(scales[k] > 0.0f)) PTQ_FAIL(ModelError, "scale ", scales[k], " must be positive");
    p.scale = scales[k];
    const double roi = a.coord == Coord::TfCropAndResize ? static_cast<double>(p.roi_end) - p.roi_start : 1.0;
    p.out = static_cast<int64_t>(std::floor(static_cast<double>(p.in) * roi * static_cast<double>(scales[k])));
  }
}

// Input coordinate of output index x; `outside` is set for tf_crop_and_resize outside the input.
float original_coord(const ResizeAttrs& a, const AxisPlan& p, int64_t xi, bool& outside) {
  const float x = static_cast<float>(xi), in = static_cast<float>(p.in), length = p.scale * in;
  outside = false;
  switch (a.coord) {
    case Coord::HalfPixel: return (x + 0.5f) / p.scale - 0.5f;
    case Coord::HalfPixelSymmetric:
      return in / 2 * (1 - static_cast<float>(p.out) / length) + (x + 0.5f) / p.scale - 0.5f;
    case Coord::PytorchHalfPixel: return p.out > 1 ? (x + 0.5f) / p.scale - 0.5f : 0.0f;
    case Coord::Asymmetric: return x / p.scale;
    case Coord::AlignCorners: return length == 1.0f ? 0.0f : x * (in - 1) / (length - 1);
    case Coord::TfHalfPixelForNn: return (x + 0.5f) / p.scale;
    case Coord::TfCropAndResize: {
      const float span = (p.roi_end - p.roi_start) * (in - 1);
      const float v = (length == 1.0f ? span / 2 : x * span / (length - 1)) + p.roi_start * (in - 1);
      outside = v < 0 || v > in - 1;
      return v;
    }
  }
  return x;
}

int64_t nearest_index(const ResizeAttrs& a, const AxisPlan& p, float v) {
  const float f = std::floor(v), r = v - f;
  int64_t i = static_cast<int64_t>(f);
  if (r != 0.0f) {
    switch (a.rounding) {
      case Rounding::RoundPreferFloor: i += r <= 0.5f ? 0 : 1; break;
      case Rounding::RoundPreferCeil: i += r < 0.5f ? 0 : 1; break;
      case Rounding::Floor: break;
      case Rounding::Ceil: i += 1; break;
      case Rounding::Simple: i = p.out < p.in ? static_cast<int64_t>(std::ceil(v)) : static_cast<int64_t>(v); break;
    }
  }
  return std::clamp<int64_t>(i, 0, p.in - 1);
}

// Taps of one axis: out x reads index[x·k + t] with weight[x·k + t], t < k.
struct AxisTaps {
  int k = 1;
  std::vector<int64_t> index;
  std::vector<float> weight;
  std::vector<uint8_t> outside;
};

void cubic_coeffs(float r, float A, float c[4]) {
  const float s = r + 1, t = 1 - r, u = 2 - r;
  c[0] = ((A * s - 5 * A) * s + 8 * A) * s - 4 * A;
  c[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
  c[2] = ((A + 2) * t - (A + 3)) * t * t + 1;
  c[3] = ((A * u - 5 * A) * u + 8 * A) * u - 4 * A;
}

AxisTaps axis_taps(const ResizeAttrs& a, const AxisPlan& p) {
  AxisTaps t;
  t.k = a.interp == Interp::Nearest ? 1 : (a.interp == Interp::Linear ? 2 : 4);
  t.index.reserve(static_cast<size_t>(p.out * t.k));
  t.weight.reserve(static_cast<size_t>(p.out * t.k));
  t.outside.reserve(static_cast<size_t>(p.out));
  for (int64_t x = 0; x < p.out; ++x) {
    bool outside = false;
    const float v = original_coord(a, p, x, outside);
    t.outside.push_back(outside);
    if (a.interp == Interp::Nearest) {
      t.index.push_back(nearest_index(a, p, v));
      t.weight.push_back(1.0f);
      continue;
    }
    const float f = std::floor(v), r = v - f;
    const int64_t x0 = static_cast<int64_t>(f);
    float c[4] = {1 - r, r, 0, 0};
    int64_t first = x0;
    if (a.interp == Interp::Cubic) {
      cubic_coeffs(r, a.cubic_a, c);
      first = x0 - 1;
    }
    float sum = 0;
    for (int j = 0; j < t.k; ++j) {
      const int64_t idx = first + j;
      if (a.exclude_outside && (idx < 0 || idx >= p.in)) c[j] = 0;
      sum += c[j];
    }
    for (int j = 0; j < t.k; ++j) {
      t.index.push_back(std::clamp<int64_t>(first + j, 0, p.in - 1));
      t.weight.push_back(a.exclude_outside && sum != 0 ? c[j] / sum : c[j]);
    }
  }
  return t;
}

// The taps of each axis plan a Resize node has met, made once: a steady-state run builds no tables.
// Shared by the copies of the node's kernel (plain and blocked) and their threads.
class TapMemo {
 public:
  std::shared_ptr<const AxisTaps> get(const ResizeAttrs& a, const AxisPlan& p) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& e : entries_)
      if (e.first == p) return e.second;
    if (entries_.size() >= kMaxEntries) entries_.clear();  // many input sizes: start over
    entries_.emplace_back(p, std::make_shared<const AxisTaps>(axis_taps(a, p)));
    return entries_.back().second;
  }

 private:
  static constexpr size_t kMaxEntries = 32;
  std::mutex mutex_;
  std::vector<std::pair<AxisPlan, std::shared_ptr<const AxisTaps>>> entries_;
};

// One weighted pass along an axis viewed as [outer, in, inner] -> [outer, out, inner].
template <class T>
void weighted_pass(const T* src, T* dst, int64_t outer, int64_t in, int64_t out, int64_t inner, const AxisTaps& t, T extrapolation) {
  for (int64_t o = 0; o < outer; ++o) {
    const T* s = src + o * in * inner;
    for (int64_t x = 0; x < out; ++x, dst += inner) {
      if (t.outside[static_cast<size_t>(x)]) {
        for (int64_t i = 0; i < inner; ++i) dst[i] = extrapolation;
        continue;
      }
      const int64_t* idx = &t.index[static_cast<size_t>(x * t.k)];
      const float* w = &t.weight[static_cast<size_t>(x * t.k)];
      for (int64_t i = 0; i < inner; ++i) dst[i] = T(0);
      for (int j = 0; j < t.k; ++j) {
        const T wj = static_cast<T>(w[j]);
        const T* row = s + idx[j] * inner;
        for (int64_t i = 0; i < inner; ++i) dst[i] += wj * row[i];
      }
    }
  }
}

Tensor resize_weighted(const ResizeAttrs& a, const Tensor& x, const std::vector<AxisPlan>& plan, const Shape& active, TapMemo& memo) {
  Tensor cur = x;
  for (size_t ax = plan.size(); ax-- > 0;) {
    if (!active[ax]) continue;
    const std::shared_ptr<const AxisTaps> shared = memo.get(a, plan[ax]);
    const AxisTaps& taps = *shared;
    Shape shape = cur.shape();
    shape[ax] = plan[ax].out;
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < shape.size(); ++i) (i < ax ? outer : inner) *= i == ax ? 1 : shape[i];
    Tensor next(cur.dtype(), shape);
    dispatch(cur.dtype(), FloatTypes{}, [&](auto tag) {
      using T = decltype(tag);
      weighted_pass<T>(cur.data<T>(), next.data<T>(), outer, plan[ax].in, plan[ax].out, inner, taps, static_cast<T>(a.extrapolation));
    });
    cur = next;
  }
  return cur;
}

// Nearest: out[i0..ik] = in[sum_j index_j[i_j] · stride_j], rows through the innermost table.
Tensor resize_nearest(const ResizeAttrs& a, const Tensor& x, const std::vector<AxisPlan>& plan, TapMemo& memo) {
  const size_t r = plan.size();
  Shape out_shape;
  for (const auto& p : plan) out_shape.push_back(p.out);
  Tensor out(x.dtype(), out_shape);
  if (out.numel() == 0) return out;
  const Shape xs = strides_of(x.shape());
  thread_local std::vector<std::vector<int64_t>> offset;  // per axis; kept between calls
  if (offset.size() < r) offset.resize(r);
  for (size_t d = 0; d < r; ++d) {
    offset[d].clear();
    for (int64_t i : memo.get(a, plan[d])->index) offset[d].push_back(i * xs[d]);
  }
  dispatch_bytes(x.dtype(), [&](auto tag) {
    using U = decltype(tag);
    const U* in = raw_as<U>(x);
    U* dst = raw_as<U>(out);
    const int64_t n = out_shape[r - 1];
    const int64_t* last = offset[r - 1].data();
    Shape idx(r, 0);
    for (int64_t row = 0; row < out.numel() / n; ++row, dst += n) {
      int64_t base = 0;
      for (size_t j = 0; j + 1 < r; ++j) base += offset[j][static_cast<size_t>(idx[j])];
      for (int64_t i = 0; i < n; ++i) dst[i] = in[base + last[i]];
      for (size_t j = r - 1; j-- > 0;) {
        if (++idx[j] < out_shape[j]) break;
        idx[j] = 0;
      }
    }
  });
  return out;
}

Kernel make_resize_like(const Node& node, size_t max_inputs) {
  expect_inputs(node, node.op_type == "Upsample" && node.opset < 9 ? 1 : 2, max_inputs);
  const ResizeAttrs attrs = read_attrs(node);
  auto memo = std::make_shared<TapMemo>();
  return [attrs, memo](KernelIO& io) {
    const Tensor& x = io.in(0);
    if (x.rank() == 0) PTQ_FAIL(ModelError, "cannot resize a scalar");
    thread_local std::vector<AxisPlan> plan;
    plan_axes(attrs, io, x.shape(), plan);
    Shape active(plan.size(), 0);
    bool any = false;
    for (size_t i = 0; i < plan.size(); ++i) {
      const AxisPlan& p = plan[i];
      if (p.out < 0 || (p.out > 0 && p.in == 0)) PTQ_FAIL(ModelError, "cannot resize axis ", i, " from ", p.in, " to ", p.out);
      active[i] = p.out != p.in || p.scale != 1.0f || attrs.coord == Coord::TfCropAndResize;
      any = any || active[i];
    }
    if (!any) {
      io.outputs[0] = x;
      return;
    }
    const bool extrapolates = attrs.coord == Coord::TfCropAndResize;
    io.outputs[0] = attrs.interp == Interp::Nearest && !extrapolates ? resize_nearest(attrs, x, plan, *memo)
                                                                     : resize_weighted(attrs, x, plan, active, *memo);
  };
}

// The blocked form (layout.h) of a Resize of H and W only: the 5-D [N, C/B, H, W, B] tensor resized
// along its axes 2 and 3 by the same taps, the others untouched, gives the plain kernel's values in
// every lane (nearest: the same index tables; linear/cubic: the same weighted passes, W then H), and
// zero padding lanes stay zero. Declined (the plain kernel runs on NCHW) for tf_crop_and_resize (its
// extrapolation value would fill the padding) and when N or C would be resized or remapped.
bool blocked_resize(const ResizeAttrs& attrs, TapMemo& memo, KernelIO& io, LayoutIO& layout) {
  const int64_t c = layout.in_channels[0];
  for (size_t k = 1; k < layout.in_channels.size(); ++k)
    if (layout.in_channels[k]) return false;
  const Tensor& x = io.in(0);
  if (c == 0 || x.rank() != 5 || x.dtype() != DType::Float32 || attrs.coord == Coord::TfCropAndResize) return false;
  thread_local std::vector<AxisPlan> plain;  // kept between calls
  plan_axes(attrs, io, Shape{x.dim(0), c, x.dim(2), x.dim(3)}, plain);
  for (size_t ax : {0, 1}) {  // N and C: skipped by the weighted passes, gathered 1:1 by nearest
    if (plain[ax].out != plain[ax].in || plain[ax].scale != 1.0f) return false;
    if (attrs.interp != Interp::Nearest) continue;
    const std::shared_ptr<const AxisTaps> t = memo.get(attrs, plain[ax]);
    for (int64_t i = 0; i < plain[ax].out; ++i)
      if (t->index[static_cast<size_t>(i)] != i) return false;
  }
  for (size_t ax : {2, 3})
    if (plain[ax].out <= 0) return false;
  thread_local std::vector<AxisPlan> plan;  // kept between calls
  plan.assign(5, AxisPlan{});
  for (size_t ax : {0, 1, 4}) plan[ax].in = plan[ax].out = x.dim(static_cast<int>(ax));
  plan[2] = plain[2];
  plan[3] = plain[3];
  const Shape active{0, 0, plan[2].out != plan[2].in || plan[2].scale != 1.0f, plan[3].out != plan[3].in || plan[3].scale != 1.0f, 0};
  Tensor y = !active[2] && !active[3] ? x
             : attrs.interp == Interp::Nearest ? resize_nearest(attrs, x, plan, memo) : resize_weighted(attrs, x, plan, active, memo);
  io.outputs[0] = layout.want_blocked ? std::move(y) : unblock(y, c, io.threads);
  layout.out_channels = layout.want_blocked ? c : 0;
  return true;
}

}  // namespace

LayoutKernels make_resize_layout(const Node& node, const PostOps&) {
  LayoutKernels k;  // plain empty: the node keeps the kernel table's
  const ResizeAttrs attrs = read_attrs(node);
  auto memo = std::make_shared<TapMemo>();
  k.blocked = [attrs, memo](KernelIO& io, LayoutIO& layout) { return blocked_resize(attrs, *memo, io, layout); };
  return k;
}

Kernel make_resize(const Node& node) { return make_resize_like(node, node.opset >= 11 ? 4 : 2); }
Kernel make_upsample(const Node& node) { return make_resize_like(node, node.opset >= 9 ? 2 : 1); }

}  // namespace ptq::exec
