// SPDX-License-Identifier: Apache-2.0
// Sliding-window attributes and output geometry (formulas in window.h).
#include "window.h"

namespace ptq::exec {

WindowAttrs WindowAttrs::read(const Node& node) {
  WindowAttrs a;
  a.kernel_shape = node.attr_ints("kernel_shape");
  a.strides = node.attr_ints("strides");
  a.dilations = node.attr_ints("dilations");
  a.pads = node.attr_ints("pads");
  a.ceil_mode = node.attr_int("ceil_mode", 0) != 0;
  std::string pad = node.attr_string("auto_pad", "NOTSET");
  if (pad == "NOTSET" || pad.empty()) a.auto_pad = AutoPad::NotSet;
  else if (pad == "VALID") a.auto_pad = AutoPad::Valid;
  else if (pad == "SAME_UPPER") a.auto_pad = AutoPad::SameUpper;
  else if (pad == "SAME_LOWER") a.auto_pad = AutoPad::SameLower;
  else PTQ_FAIL(UnsupportedError, node.describe(), ": auto_pad '", pad, "' is not supported");
  for (int64_t v : a.strides)
    if (v <= 0) PTQ_FAIL(ModelError, node.describe(), ": strides must be positive");
  for (int64_t v : a.dilations)
    if (v <= 0) PTQ_FAIL(ModelError, node.describe(), ": dilations must be positive");
  return a;
}

Shape WindowGeometry::out_shape() const {
  Shape s;
  for (int i = kMaxSpatial - nd; i < kMaxSpatial; ++i) s.push_back(out[i]);
  return s;
}

bool WindowGeometry::unit_window() const {
  for (int i = 0; i < kMaxSpatial; ++i)
    if (k[i] != 1 || s[i] != 1 || pb[i] != 0 || pe[i] != 0) return false;
  return true;
}

namespace {

int64_t attr_at(const std::vector<int64_t>& v, size_t i, int64_t fallback) { return v.empty() ? fallback : v[i]; }

// Output size of one dim with explicit pads (NOTSET / VALID).
int64_t explicit_out(int64_t in, int64_t k_eff, int64_t s, int64_t pb, int64_t pe, bool ceil_mode) {
  int64_t span = in + pb + pe - k_eff;
  if (span < 0) return 0;
  if (!ceil_mode) return span / s + 1;
  int64_t out = ceil_div(span, s) + 1;
  if ((out - 1) * s >= in + pb) --out;  // the last window must start inside the input or its leading pad
  return out;
}

}  // namespace

WindowGeometry resolve_window(const WindowAttrs& attrs, const Shape& x_shape, const Shape& kernel) {
  WindowGeometry g;
  const size_t nd = kernel.size();
  if (nd < 1 || nd > static_cast<size_t>(kMaxSpatial))
    PTQ_FAIL(UnsupportedError, nd, "-D windows are not supported (1-D to 3-D are)");
  if (x_shape.size() != nd + 2)
    PTQ_FAIL(ModelError, "input of shape ", shape_str(x_shape), " does not match a ", nd, "-D kernel");
  auto check_len = [&](const std::vector<int64_t>& v, size_t want, const char* name) {
    if (!v.empty() && v.size() != want)
      PTQ_FAIL(ModelError, name, " has ", v.size(), " values, expected ", want);
  };
  check_len(attrs.strides, nd, "strides");
  check_len(attrs.dilations, nd, "dilations");
  check_len(attrs.pads, 2 * nd, "pads");
  g.nd = static_cast<int>(nd);
  for (size_t i = 0; i < nd; ++i) {
    const size_t slot = static_cast<size_t>(kMaxSpatial) - nd + i;
    const int64_t in = x_shape[2 + i], k = kernel[i];
    const int64_t s = attr_at(attrs.strides, i, 1), d = attr_at(attrs.dilations, i, 1);
    if (k <= 0) PTQ_FAIL(ModelError, "kernel dims must be positive, got ", shape_str(kernel));
    const int64_t k_eff = d * (k - 1) + 1;
    int64_t pb = 0, pe = 0, out = 0;
    if (attrs.auto_pad == AutoPad::SameUpper || attrs.auto_pad == AutoPad::SameLower) {
      out = ceil_div(in, s);
      int64_t total = std::max<int64_t>(0, (out - 1) * s + k_eff - in);
      pb = attrs.auto_pad == AutoPad::SameUpper ? total / 2 : total - total / 2;
      pe = total - pb;
    } else {
      if (attrs.auto_pad == AutoPad::NotSet) {
        pb = attr_at(attrs.pads, i, 0);
        pe = attr_at(attrs.pads, i + nd, 0);
        if (pb < 0 || pe < 0) PTQ_FAIL(UnsupportedError, "negative pads are not supported");
      }
      out = explicit_out(in, k_eff, s, pb, pe, attrs.ceil_mode);
    }
    if (out <= 0)
      PTQ_FAIL(ModelError, "input of shape ", shape_str(x_shape), " is smaller than the window ", shape_str(kernel));
    g.set(slot, in, out, k, s, d, pb, pe);
  }
  return g;
}

}  // namespace ptq::exec
