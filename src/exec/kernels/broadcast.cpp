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

BroadcastPlan plan_broadcast(std::initializer_list<const Shape*> shapes) {
  BroadcastPlan plan;
  const size_t n_ops = shapes.size();
  if (n_ops > kMaxOperands) PTQ_FAIL(Error, "broadcast of ", n_ops, " operands (at most ", kMaxOperands, ")");
  Shape out;
  for (const Shape* s : shapes) out = broadcast_shapes(out, *s);
  plan.out_shape = out;
  const size_t rank = out.size();
  // Per operand, per output dim: stride in elements (0 where broadcast).
  Shape strides[kMaxOperands];
  size_t k = 0;
  for (const Shape* shape : shapes) {
    const Shape& s = *shape;
    strides[k].assign(rank, 0);
    int64_t stride = 1;
    for (size_t i = rank; i-- > 0;) {
      size_t j = i + s.size();
      if (j < rank) break;  // leading dims absent from this operand
      int64_t d = s[j - rank];
      strides[k][i] = d == 1 ? 0 : stride;
      stride *= d;
    }
    ++k;
  }
  // Merge dims from the innermost outwards while each operand is either contiguous or broadcast in
  // both of the merged dims. mdims/mst are innermost-first.
  Shape mdims;
  Shape mst[kMaxOperands];
  for (size_t i = rank; i-- > 0;) {
    if (out[i] == 1) continue;
    if (!mdims.empty()) {
      bool ok = true;
      for (size_t o = 0; o < n_ops && ok; ++o) {
        int64_t inner_stride = mst[o].back();
        int64_t inner_dim = mdims.back();
        bool both_zero = strides[o][i] == 0 && inner_stride == 0;
        bool contiguous = inner_stride != 0 && strides[o][i] == inner_stride * inner_dim;
        ok = both_zero || contiguous;
      }
      if (ok) {
        mdims.back() *= out[i];
        continue;
      }
    }
    mdims.push_back(out[i]);
    for (size_t o = 0; o < n_ops; ++o) mst[o].push_back(strides[o][i]);
  }
  const int64_t total = shape_numel(out);
  if (mdims.empty()) {  // every dim is 1 (or rank 0)
    plan.inner = total == 0 ? 0 : 1;
    plan.rows = plan.inner;
    return plan;
  }
  plan.inner = mdims[0];
  plan.rows = plan.inner == 0 ? 0 : total / plan.inner;
  plan.outer.assign(mdims.begin() + 1, mdims.end());
  for (size_t o = 0; o < n_ops; ++o) {
    plan.inner_stride[o] = mst[o][0] == 0 ? 0 : 1;
    plan.outer_stride[o].assign(mst[o].begin() + 1, mst[o].end());
  }
  return plan;
}

void expect_same_dtype(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    PTQ_FAIL(ModelError, "input dtypes differ: ", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
}

}  // namespace ptq::exec
