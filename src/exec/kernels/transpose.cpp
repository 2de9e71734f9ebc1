// SPDX-License-Identifier: Apache-2.0
// Permutations of a tensor's axes: Transpose (perm, default reversed), and the two block
// rearrangements defined as reshape + transpose + reshape:
//   DepthToSpace DCR: [N, b, b, C/b², H, W] perm (0,3,4,1,5,2) -> [N, C/b², H·b, W·b]
//   DepthToSpace CRD: [N, C/b², b, b, H, W] perm (0,1,4,2,5,3) -> [N, C/b², H·b, W·b]
//   SpaceToDepth:     [N, C, H/b, b, W/b, b] perm (0,3,5,1,2,4) -> [N, C·b², H/b, W/b]
// permute() drops size-1 dims and merges dims that stay adjacent, then copies whole rows when the
// innermost dim is unchanged; when it changes (a [C, HW] -> [HW, C] head transpose, attention's
// [B, H, S, D] -> [B, S, H, D] is a row copy) it copies in square tiles over the output's last dim and
// the dim the input walks contiguously, so that reads and writes both use whole cache lines instead of
// one element of a line (and page) per read.
#include "common.h"
#include "kernels.h"

namespace ptq::exec {

namespace {

constexpr int64_t kTile = 16;

// out (dense, shape dims) = in at offsets sum(idx[j] * stride[j]); the output's last dim has stride
// s != 1 in the input, dim `a` < last has the smallest input stride. Tiles of kTile x kTile over
// (a, last); the other dims by an odometer.
template <typename U>
void tiled_copy(const U* in, U* out, const Shape& dims, const Shape& stride, size_t a) {
  const size_t r = dims.size(), last = r - 1;
  Shape out_stride(r, 1);
  for (size_t j = last; j-- > 0;) out_stride[j] = out_stride[j + 1] * dims[j + 1];
  const int64_t na = dims[a], nb = dims[last], sa = stride[a], sb = stride[last], oa = out_stride[a];
  std::vector<size_t> outer;
  int64_t count = 1;
  for (size_t j = 0; j < last; ++j)
    if (j != a) {
      outer.push_back(j);
      count *= dims[j];
    }
  Shape idx(outer.size(), 0);
  int64_t in_base = 0, out_base = 0;
  for (int64_t k = 0; k < count; ++k) {
    for (int64_t i0 = 0; i0 < na; i0 += kTile) {
      const int64_t i1 = std::min(na, i0 + kTile);
      for (int64_t j0 = 0; j0 < nb; j0 += kTile) {
        const int64_t j1 = std::min(nb, j0 + kTile);
        for (int64_t i = i0; i < i1; ++i) {
          const U* src = in + in_base + i * sa;
          U* dst = out + out_base + i * oa;
          for (int64_t j = j0; j < j1; ++j) dst[j] = src[j * sb];
        }
      }
    }
    for (size_t q = outer.size(); q-- > 0;) {  // odometer over the other dims
      const size_t j = outer[q];
      in_base += stride[j];
      out_base += out_stride[j];
      if (++idx[q] < dims[j]) break;
      in_base -= stride[j] * dims[j];
      out_base -= out_stride[j] * dims[j];
      idx[q] = 0;
    }
  }
}

}  // namespace

Tensor permute(const Tensor& x, const std::vector<int>& perm) {
  const size_t rank = perm.size();
  if (rank != static_cast<size_t>(x.rank())) PTQ_FAIL(ModelError, "perm has ", rank, " entries for rank ", x.rank());
  Shape seen(rank, 0);
  for (int p : perm) {
    if (p < 0 || static_cast<size_t>(p) >= rank || seen[static_cast<size_t>(p)])
      PTQ_FAIL(ModelError, "perm is not a permutation of 0..", rank - 1);
    seen[static_cast<size_t>(p)] = 1;
  }
  Shape out_shape(rank);
  for (size_t j = 0; j < rank; ++j) out_shape[j] = x.shape()[static_cast<size_t>(perm[j])];
  Tensor out(x.dtype(), out_shape);
  if (x.numel() == 0) return out;
  const Shape in_stride = strides_of(x.shape());
  Shape dims;
  Shape src;
  int prev = -2;
  for (size_t j = 0; j < rank; ++j) {
    const int p = perm[j];
    const int64_t d = x.shape()[static_cast<size_t>(p)];
    if (d == 1) continue;
    if (p == prev + 1 && !dims.empty()) {  // adjacent in the input too: merge
      dims.back() *= d;
      src.back() = in_stride[static_cast<size_t>(p)];
    } else {
      dims.push_back(d);
      src.push_back(in_stride[static_cast<size_t>(p)]);
    }
    prev = p;
  }
  if (dims.empty()) {
    dims.push_back(1);
    src.push_back(1);
  }
  // The dim the input walks most densely among the output's outer dims: tiles pay off when it is
  // denser than the output's last dim and both are long enough to fill a tile's rows.
  const size_t last = dims.size() - 1;
  size_t a = last;
  for (size_t j = 0; j < last; ++j)
    if (src[j] < src[last] && (a == last || src[j] < src[a])) a = j;
  const bool tiled = a != last && dims[a] >= kTile / 2 && dims[last] >= kTile / 2;
  dispatch_bytes(x.dtype(), [&](auto tag) {
    using U = decltype(tag);
    if (tiled) tiled_copy<U>(raw_as<U>(x), raw_as<U>(out), dims, src, a);
    else strided_copy<U>(raw_as<U>(x), 0, raw_as<U>(out), dims, src);
  });
  return out;
}

Kernel make_transpose(const Node& node) {
  expect_inputs(node, 1, 1);
  const std::vector<int64_t> attr_perm = node.attr_ints("perm");
  return [attr_perm](KernelIO& io) {
    const Tensor& x = io.in(0);
    thread_local std::vector<int> perm;  // keeps its capacity between calls
    perm.resize(static_cast<size_t>(x.rank()));
    if (attr_perm.empty()) {
      for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int>(perm.size() - 1 - i);
    } else {
      if (attr_perm.size() != perm.size()) PTQ_FAIL(ModelError, "perm has ", attr_perm.size(), " entries for rank ", x.rank());
      for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int>(attr_perm[i]);
    }
    io.outputs[0] = permute(x, perm);
  };
}

namespace {

struct Nchw {
  int64_t n, c, h, w;
};

Nchw nchw_of(const Tensor& x, int64_t block, bool need_channel_multiple) {
  if (x.rank() != 4) PTQ_FAIL(ModelError, "expected a 4-D input, got shape ", shape_str(x.shape()));
  Nchw d{x.dim(0), x.dim(1), x.dim(2), x.dim(3)};
  if (need_channel_multiple && d.c % (block * block) != 0)
    PTQ_FAIL(ModelError, "channels ", d.c, " are not a multiple of blocksize² = ", block * block);
  if (!need_channel_multiple && (d.h % block != 0 || d.w % block != 0))
    PTQ_FAIL(ModelError, "spatial dims of ", shape_str(x.shape()), " are not multiples of blocksize ", block);
  return d;
}

int64_t blocksize_of(const Node& node) {
  const int64_t b = node.attr_int("blocksize", 0);
  if (b <= 0) PTQ_FAIL(ModelError, node.describe(), ": blocksize must be positive, got ", b);
  return b;
}

}  // namespace

Kernel make_depth_to_space(const Node& node) {
  expect_inputs(node, 1, 1);
  const int64_t b = blocksize_of(node);
  const std::string mode = node.attr_string("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") PTQ_FAIL(UnsupportedError, "mode '", mode, "' (expected DCR or CRD)");
  const bool dcr = mode == "DCR";
  return [b, dcr](KernelIO& io) {
    const Tensor& x = io.in(0);
    const Nchw d = nchw_of(x, b, true);
    const int64_t c = d.c / (b * b);
    Tensor t = dcr ? permute(x.reshaped({d.n, b, b, c, d.h, d.w}), {0, 3, 4, 1, 5, 2})
                   : permute(x.reshaped({d.n, c, b, b, d.h, d.w}), {0, 1, 4, 2, 5, 3});
    io.outputs[0] = t.reshaped({d.n, c, d.h * b, d.w * b});
  };
}

Kernel make_space_to_depth(const Node& node) {
  expect_inputs(node, 1, 1);
  const int64_t b = blocksize_of(node);
  return [b](KernelIO& io) {
    const Tensor& x = io.in(0);
    const Nchw d = nchw_of(x, b, false);
    Tensor t = permute(x.reshaped({d.n, d.c, d.h / b, b, d.w / b, b}), {0, 3, 5, 1, 2, 4});
    io.outputs[0] = t.reshaped({d.n, d.c * b * b, d.h / b, d.w / b});
  };
}

}  // namespace ptq::exec
