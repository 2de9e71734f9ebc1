// SPDX-License-Identifier: Apache-2.0
// Pad: pads = [b_0 .. b_{r-1}, e_0 .. e_{r-1}] (negative values crop).
// Before opset 11: attributes pads ('paddings' in opset 1), mode, value (float).
// Opset 11+: inputs pads (int64), constant_value (optional scalar, default 0), axes (opset 18+,
// pads then cover only those axes).
// Modes, for a source index i outside [0, n):
//   constant  the constant value
//   edge      clamp(i, 0, n-1)
//   reflect   mirror without repeating the border (numpy 'reflect'), repeated while outside
//   wrap      i mod n (opset 19)
// Each axis gets a table out index -> source index (-1 = constant); rows are then copied through
// the innermost axis' table.
#include "common.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

enum class PadMode { Constant, Edge, Reflect, Wrap };

PadMode pad_mode(const std::string& mode) {
  if (mode == "constant") return PadMode::Constant;
  if (mode == "edge") return PadMode::Edge;
  if (mode == "reflect") return PadMode::Reflect;
  if (mode == "wrap") return PadMode::Wrap;
  PTQ_FAIL(UnsupportedError, "mode '", mode, "' (expected constant, edge, reflect or wrap)");
}

int64_t source_index(int64_t i, int64_t n, PadMode mode) {
  if (i >= 0 && i < n) return i;
  if (mode == PadMode::Constant || n == 0) return -1;
  if (mode == PadMode::Edge) return i < 0 ? 0 : n - 1;
  if (mode == PadMode::Wrap) return ((i % n) + n) % n;
  if (n == 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

template <class U>
void pad_copy(const U* in, U* out, const Shape& in_shape, const Shape& out_shape,
              const std::vector<std::vector<int64_t>>& table, U value) {
  const size_t r = out_shape.size();
  const Shape xs = strides_of(in_shape);
  const int64_t n = out_shape[r - 1];
  const std::vector<int64_t>& last = table[r - 1];
  int64_t rows = 1;
  for (size_t j = 0; j + 1 < r; ++j) rows *= out_shape[j];
  std::vector<int64_t> idx(r, 0);
  for (int64_t row = 0; row < rows; ++row, out += n) {
    int64_t base = 0;
    bool constant = false;
    for (size_t j = 0; j + 1 < r; ++j) {
      const int64_t s = table[j][static_cast<size_t>(idx[j])];
      constant = constant || s < 0;
      base += s * xs[j];
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t s = last[static_cast<size_t>(i)];
      out[i] = constant || s < 0 ? value : in[base + s];
    }
    for (size_t j = r - 1; j-- > 0;) {
      if (++idx[j] < out_shape[j]) break;
      idx[j] = 0;
    }
  }
}

Tensor pad_tensor(const Tensor& x, const std::vector<int64_t>& pads, const Tensor& value, PadMode mode) {
  const size_t r = static_cast<size_t>(x.rank());
  if (pads.size() != 2 * r) PTQ_FAIL(ModelError, "pads has ", pads.size(), " values for rank ", r, " (expected ", 2 * r, ")");
  if (r == 0) return x;
  Shape out_shape(r);
  std::vector<std::vector<int64_t>> table(r);
  for (size_t d = 0; d < r; ++d) {
    const int64_t n = x.shape()[d];
    out_shape[d] = n + pads[d] + pads[d + r];
    if (out_shape[d] < 0) PTQ_FAIL(ModelError, "pads ", shape_str(pads), " crop more than the dims of ", shape_str(x.shape()));
    if (n == 0 && out_shape[d] > 0 && mode != PadMode::Constant)
      PTQ_FAIL(ModelError, "cannot pad an empty axis in mode edge/reflect/wrap");
    for (int64_t o = 0; o < out_shape[d]; ++o) table[d].push_back(source_index(o - pads[d], n, mode));
  }
  Tensor out(x.dtype(), out_shape);
  if (out.numel() == 0) return out;
  dispatch_bytes(x.dtype(), [&](auto tag) {
    using U = decltype(tag);
    pad_copy<U>(raw_as<U>(x), raw_as<U>(out), x.shape(), out_shape, table, raw_as<U>(value)[0]);
  });
  return out;
}

// Pads from the inputs of opset 11+ (with opset 18's axes).
std::vector<int64_t> pads_from_inputs(const KernelIO& io, int64_t rank) {
  std::vector<int64_t> pads = read_ints(io.in(1), "pads");
  if (!io.has(3)) return pads;
  const Shape axes = read_ints(io.in(3), "axes");
  if (pads.size() != 2 * axes.size()) PTQ_FAIL(ModelError, "pads has ", pads.size(), " values for ", axes.size(), " axes");
  std::vector<int64_t> full(static_cast<size_t>(2 * rank), 0);
  for (size_t k = 0; k < axes.size(); ++k) {
    const size_t a = static_cast<size_t>(normalize_axis(axes[k], rank, "axes value"));
    full[a] = pads[k];
    full[a + static_cast<size_t>(rank)] = pads[k + axes.size()];
  }
  return full;
}

}  // namespace

Kernel make_pad(const Node& node) {
  const PadMode mode = pad_mode(node.attr_string("mode", "constant"));
  if (node.opset < 11) {
    expect_inputs(node, 1, 1);
    const std::vector<int64_t> pads = node.attr_ints(node.opset == 1 ? "paddings" : "pads");
    const double value = node.attr_float("value", 0.0f);
    return [pads, value, mode](KernelIO& io) {
      const Tensor& x = io.in(0);
      io.outputs[0] = pad_tensor(x, pads, cast_tensor(Tensor::scalar<double>(value), x.dtype()), mode);
    };
  }
  expect_inputs(node, 2, node.opset >= 18 ? 4 : 3);
  return [mode](KernelIO& io) {
    const Tensor& x = io.in(0);
    Tensor value = Tensor::zeros(x.dtype(), {});
    if (io.has(2)) {
      const Tensor& v = io.in(2);
      if (v.dtype() != x.dtype()) PTQ_FAIL(ModelError, "constant_value dtype ", dtype_name(v.dtype()), " differs from the input's ", dtype_name(x.dtype()));
      if (v.numel() != 1) PTQ_FAIL(ModelError, "constant_value must be a scalar, got shape ", shape_str(v.shape()));
      value = v;
    }
    io.outputs[0] = pad_tensor(x, pads_from_inputs(io, x.rank()), value, mode);
  };
}

}  // namespace ptq::exec
