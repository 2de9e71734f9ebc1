// SPDX-License-Identifier: Apache-2.0
// Pooling, 1-D to 3-D, one task per (image, channel) plane:
//   MaxPool (opsets 1, 8, 10, 11, 12): max over the window taps inside the input (pads never win);
//     float32, int8, uint8; optional Indices output (int64, flat index into X; storage_order 1 makes
//     the spatial part column-major: h + w * H). Without Indices, 1-D/2-D windows run separably.
//   AveragePool (opsets 1, 7, 10, 11, 19): sum / count, count = taps inside the input, or with
//     count_include_pad = 1 the taps inside the input plus its explicit pads (the ceil_mode overhang
//     past pad_end is never counted), as ONNX Runtime does.
//   GlobalAveragePool, GlobalMaxPool: mean / max over all spatial positions (rank >= 3).
// Window geometry (kernel_shape, strides, dilations, pads, auto_pad, ceil_mode) as in window.h.
#include <algorithm>
#include <limits>

#include "kernels.h"
#include "parallel.h"
#include "window.h"

namespace ptq::exec {
namespace {

// Taps t in [lo, hi) of a window starting at `start` whose positions start + t * d lie in [0, limit).
void tap_range(int64_t start, int64_t d, int64_t k, int64_t limit, int64_t& lo, int64_t& hi) {
  lo = start >= 0 ? 0 : ceil_div(-start, d);
  hi = limit - start <= 0 ? 0 : std::min(k, ceil_div(limit - start, d));
  hi = std::max(hi, lo);
}

struct PoolSpec {
  WindowAttrs win;
  bool count_include_pad = false;
  bool column_major = false;  // MaxPool storage_order
};

WindowGeometry pool_geometry(const WindowAttrs& win, const Tensor& x) {
  if (win.kernel_shape.empty()) PTQ_FAIL(ModelError, "kernel_shape is required");
  return resolve_window(win, x.shape(), win.kernel_shape);
}

Shape pooled_shape(const Tensor& x, const WindowGeometry& g) {
  Shape s{x.dim(0), x.dim(1)};
  for (int64_t d : g.out_shape()) s.push_back(d);
  return s;
}

// Calls f(o_index, window taps per dim [lo, hi) and starts) for every output position of a plane.
template <class F>
void for_each_window(const WindowGeometry& g, F f) {
  int64_t o = 0;
  for (int64_t od = 0; od < g.out[0]; ++od)
    for (int64_t oh = 0; oh < g.out[1]; ++oh)
      for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) {
        int64_t start[3] = {od * g.s[0] - g.pb[0], oh * g.s[1] - g.pb[1], ow * g.s[2] - g.pb[2]};
        int64_t lo[3], hi[3];
        for (int i = 0; i < 3; ++i) tap_range(start[i], g.d[i], g.k[i], g.in[i], lo[i], hi[i]);
        f(o, start, lo, hi);
      }
}

template <class T>
void max_plane(const T* x, T* y, int64_t* idx, int64_t plane, const WindowGeometry& g, bool column_major) {
  for_each_window(g, [&](int64_t o, const int64_t* start, const int64_t* lo, const int64_t* hi) {
    T best = std::numeric_limits<T>::lowest();
    int64_t at = -1;
    for (int64_t i = lo[0]; i < hi[0]; ++i)
      for (int64_t j = lo[1]; j < hi[1]; ++j) {
        const int64_t pd = start[0] + i * g.d[0], ph = start[1] + j * g.d[1];
        const T* row = x + (pd * g.in[1] + ph) * g.in[2];
        for (int64_t l = lo[2]; l < hi[2]; ++l) {
          const int64_t pw = start[2] + l * g.d[2];
          if (at < 0 || row[pw] > best) {
            best = row[pw];
            at = column_major ? (pw * g.in[1] + ph) * g.in[0] + pd : (pd * g.in[1] + ph) * g.in[2] + pw;
          }
        }
      }
    y[o] = best;
    if (idx) idx[o] = plane * g.in_size() + std::max<int64_t>(at, 0);
  });
}

void avg_plane(const float* x, float* y, const WindowGeometry& g, bool include_pad) {
  for_each_window(g, [&](int64_t o, const int64_t* start, const int64_t* lo, const int64_t* hi) {
    float sum = 0.0f;
    for (int64_t i = lo[0]; i < hi[0]; ++i)
      for (int64_t j = lo[1]; j < hi[1]; ++j) {
        const float* row = x + ((start[0] + i * g.d[0]) * g.in[1] + start[1] + j * g.d[1]) * g.in[2];
        for (int64_t l = lo[2]; l < hi[2]; ++l) sum += row[start[2] + l * g.d[2]];
      }
    int64_t count = 1;
    for (int i = 0; i < 3; ++i) {
      int64_t taps = hi[i] - lo[i];
      if (include_pad) {
        int64_t plo, phi;
        tap_range(start[i], g.d[i], g.k[i], g.in[i] + g.pe[i], plo, phi);
        taps = phi;  // every tap from the window start (inside the leading pad) up to pad_end
      }
      count *= taps;
    }
    y[o] = count > 0 ? sum / static_cast<float>(count) : 0.0f;
  });
}

// Max over a 1-D/2-D window as two 1-D passes (max is exact, so the values equal the direct form's;
// only the choice among NaNs may differ): each input row is copied into a row padded with lowest(),
// reduced along W into hmax (taps outer, columns inner: contiguous, vectorizable for stride 1), then
// output rows take the max of their window's hmax rows.
template <class T>
void max_plane_separable(const T* x, T* y, const WindowGeometry& g) {
  const T low = std::numeric_limits<T>::lowest();
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2];
  const int64_t sw = g.s[2], dw = g.d[2], KW = g.k[2];
  const int64_t width = std::max(W + g.pb[2], (OW - 1) * sw + (KW - 1) * dw + 1);
  T* prow = thread_scratch<T, 5>(static_cast<size_t>(width));
  T* hmax = thread_scratch<T, 6>(static_cast<size_t>(H * OW));
  for (int64_t h = 0; h < H; ++h) {
    std::fill(prow, prow + width, low);
    std::copy(x + h * W, x + (h + 1) * W, prow + g.pb[2]);
    T* hm = hmax + h * OW;
    std::fill(hm, hm + OW, low);
    for (int64_t j = 0; j < KW; ++j) {
      const T* src = prow + j * dw;
      if (sw == 1) {
        for (int64_t o = 0; o < OW; ++o) hm[o] = std::max(hm[o], src[o]);
      } else {
        for (int64_t o = 0; o < OW; ++o) hm[o] = std::max(hm[o], src[o * sw]);
      }
    }
  }
  for (int64_t oh = 0; oh < OH; ++oh) {
    T* out = y + oh * OW;
    std::fill(out, out + OW, low);
    for (int64_t i = 0; i < g.k[1]; ++i) {
      const int64_t ih = oh * g.s[1] - g.pb[1] + i * g.d[1];
      if (ih < 0 || ih >= H) continue;
      const T* hm = hmax + ih * OW;
      for (int64_t o = 0; o < OW; ++o) out[o] = std::max(out[o], hm[o]);
    }
  }
}

template <class T>
void run_max_pool(const PoolSpec& spec, KernelIO& io) {
  const Tensor& x = io.in(0);
  const WindowGeometry g = pool_geometry(spec.win, x);
  io.outputs[0] = Tensor(x.dtype(), pooled_shape(x, g));
  int64_t* idx = nullptr;
  if (io.outputs.size() > 1) {
    io.outputs[1] = Tensor(DType::Int64, io.outputs[0].shape());
    idx = io.outputs[1].data<int64_t>();
  }
  const T* xp = x.data<T>();
  T* yp = io.outputs[0].data<T>();
  const int64_t in_size = g.in_size(), out_size = g.out_size();
  const bool separable = !idx && g.in[0] == 1 && g.k[0] == 1;
  parallel_for(io.threads, x.dim(0) * x.dim(1), [&](int64_t p) {
    if (separable) max_plane_separable(xp + p * in_size, yp + p * out_size, g);
    else max_plane(xp + p * in_size, yp + p * out_size, idx ? idx + p * out_size : nullptr, p, g, spec.column_major);
  }, io.outputs[0].numel() * g.k_size());
}

}  // namespace

Kernel make_max_pool(const Node& node) {
  expect_inputs(node, 1, 1);
  PoolSpec spec;
  spec.win = WindowAttrs::read(node);
  spec.column_major = node.attr_int("storage_order", 0) != 0;
  return [spec](KernelIO& io) {
    switch (io.in(0).dtype()) {
      case DType::Float32: run_max_pool<float>(spec, io); break;
      case DType::UInt8: run_max_pool<uint8_t>(spec, io); break;
      case DType::Int8: run_max_pool<int8_t>(spec, io); break;
      default: PTQ_FAIL(UnsupportedError, "dtype ", dtype_name(io.in(0).dtype()), " is not supported");
    }
  };
}

Kernel make_average_pool(const Node& node) {
  expect_inputs(node, 1, 1);
  PoolSpec spec;
  spec.win = WindowAttrs::read(node);
  spec.count_include_pad = node.attr_int("count_include_pad", 0) != 0;
  return [spec](KernelIO& io) {
    const Tensor& x = io.in(0);
    if (x.dtype() != DType::Float32) PTQ_FAIL(UnsupportedError, "dtype ", dtype_name(x.dtype()), " is not supported (float32 is)");
    const WindowGeometry g = pool_geometry(spec.win, x);
    io.outputs[0] = Tensor(DType::Float32, pooled_shape(x, g));
    const float* xp = x.data<float>();
    float* yp = io.outputs[0].data<float>();
    const int64_t in_size = g.in_size(), out_size = g.out_size();
    parallel_for(io.threads, x.dim(0) * x.dim(1), [&](int64_t p) {
      avg_plane(xp + p * in_size, yp + p * out_size, g, spec.count_include_pad);
    }, io.outputs[0].numel() * g.k_size());
  };
}

namespace {

// Sum with 16 independent partial sums (vectorizable, fixed order).
float sum_lanes(const float* p, int64_t n) {
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += p[i + l];
  float tail = 0.0f;
  for (; i < n; ++i) tail += p[i];
  float s = 0.0f;
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s + tail;
}

template <bool Max>
Kernel global_pool(const Node& node) {
  expect_inputs(node, 1, 1);
  return [](KernelIO& io) {
    const Tensor& x = io.in(0);
    if (x.dtype() != DType::Float32) PTQ_FAIL(UnsupportedError, "dtype ", dtype_name(x.dtype()), " is not supported (float32 is)");
    if (x.rank() < 3) PTQ_FAIL(ModelError, "input must have rank >= 3, got ", shape_str(x.shape()));
    Shape out{x.dim(0), x.dim(1)};
    out.resize(x.shape().size(), 1);
    io.outputs[0] = Tensor(DType::Float32, out);
    const int64_t planes = x.dim(0) * x.dim(1), size = planes == 0 ? 0 : x.numel() / planes;
    const float* xp = x.data<float>();
    float* yp = io.outputs[0].data<float>();
    parallel_for(io.threads, planes, [&](int64_t p) {
      const float* s = xp + p * size;
      if (Max) yp[p] = size == 0 ? 0.0f : *std::max_element(s, s + size);
      else yp[p] = size == 0 ? 0.0f : sum_lanes(s, size) / static_cast<float>(size);
    }, x.numel());
  };
}

}  // namespace

Kernel make_global_average_pool(const Node& node) { return global_pool<false>(node); }
Kernel make_global_max_pool(const Node& node) { return global_pool<true>(node); }

}  // namespace ptq::exec
