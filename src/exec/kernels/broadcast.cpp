// SPDX-License-Identifier: Apache-2.0
// Numpy broadcasting: output shape and the row/offset iteration plan used by the elementwise templates.
#include "eltwise.h"

namespace ptq::exec {

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      PTQ_FAIL(Error, "shapes ", shape_str(a), " and ", shape_str(b), " cannot be broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

BroadcastPlan plan_broadcast(const std::vector<const Shape*>& shapes) {
  BroadcastPlan plan;
  Shape out;
  for (const Shape* s : shapes) out = broadcast_shapes(out, *s);
  plan.out_shape = out;
  const size_t rank = out.size(), n_ops = shapes.size();
  // Per operand, per output dim: stride in elements (0 where broadcast).
  std::vector<std::vector<int64_t>> strides(n_ops, std::vector<int64_t>(rank, 0));
  for (size_t k = 0; k < n_ops; ++k) {
    const Shape& s = *shapes[k];
    int64_t stride = 1;
    for (size_t i = rank; i-- > 0;) {
      size_t j = i + s.size();
      if (j < rank) break;  // leading dims absent from this operand
      int64_t d = s[j - rank];
      strides[k][i] = d == 1 ? 0 : stride;
      stride *= d;
    }
  }
  // Merge dims from the innermost outwards while each operand is either contiguous or broadcast in
  // both of the merged dims.
  std::vector<int64_t> dims(out.begin(), out.end());
  std::vector<std::vector<int64_t>> st = strides;
  std::vector<int64_t> mdims;
  std::vector<std::vector<int64_t>> mst(n_ops);
  for (size_t i = rank; i-- > 0;) {
    if (dims[i] == 1) continue;
    if (!mdims.empty()) {
      bool ok = true;
      for (size_t k = 0; k < n_ops && ok; ++k) {
        int64_t inner_stride = mst[k].back();
        int64_t inner_dim = mdims.back();
        bool both_zero = st[k][i] == 0 && inner_stride == 0;
        bool contiguous = inner_stride != 0 && st[k][i] == inner_stride * inner_dim;
        ok = both_zero || contiguous;
      }
      if (ok) {
        mdims.back() *= dims[i];
        continue;
      }
    }
    mdims.push_back(dims[i]);
    for (size_t k = 0; k < n_ops; ++k) mst[k].push_back(st[k][i]);
  }
  // mdims is innermost-first now.
  plan.inner_stride.assign(n_ops, 0);
  plan.row_offset.assign(n_ops, {});
  if (mdims.empty()) {  // every dim is 1 (or rank 0)
    plan.inner = shape_numel(out) == 0 ? 0 : 1;
    plan.rows = plan.inner;
    for (size_t k = 0; k < n_ops; ++k) plan.row_offset[k].assign(static_cast<size_t>(plan.rows), 0);
    if (shape_numel(out) == 0) plan.rows = 0;
    return plan;
  }
  plan.inner = mdims[0];
  int64_t total = shape_numel(out);
  plan.rows = plan.inner == 0 ? 0 : total / plan.inner;
  for (size_t k = 0; k < n_ops; ++k) {
    plan.inner_stride[k] = mst[k][0] == 0 ? 0 : 1;
    auto& offs = plan.row_offset[k];
    offs.resize(static_cast<size_t>(plan.rows));
    std::vector<int64_t> idx(mdims.size(), 0);
    int64_t off = 0;
    for (int64_t r = 0; r < plan.rows; ++r) {
      offs[static_cast<size_t>(r)] = off;
      for (size_t d = 1; d < mdims.size(); ++d) {  // odometer over outer dims
        ++idx[d];
        off += mst[k][d];
        if (idx[d] < mdims[d]) break;
        off -= mst[k][d] * mdims[d];
        idx[d] = 0;
      }
    }
  }
  return plan;
}

void expect_same_dtype(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    PTQ_FAIL(ModelError, "input dtypes differ: ", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
}

}  // namespace ptq::exec
