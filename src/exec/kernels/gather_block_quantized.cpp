// SPDX-License-Identifier: Apache-2.0
// com.microsoft GatherBlockQuantized (ONNX Runtime contrib op) in the form --int4-format matmulnbits
// writes (rewrite/matmulnbits_format.cpp): data uint8 [V, D·bits/8] with bits 4 (two codes a byte, the low
// nibble first) or 8, gather_axis 0, quantize_axis 1, scales [V, ceil(D / block_size)], optional zero
// points uint8 [V, ceil(k_blocks·bits/8)] packed alike (default 2^(bits−1)). Output indices.shape ++ [D],
// row r's element c = (u − z) · scale of its block. Other layouts (int4/uint4 data, other axes) are refused.
#include "common.h"
#include "kernels.h"

namespace ptq::exec {

Kernel make_gather_block_quantized(const Node& node) {
  expect_inputs(node, 3, 4);
  const int64_t bits = node.attr_int("bits", 4), block = node.attr_int("block_size", 128);
  if (bits != 4 && bits != 8) PTQ_FAIL(UnsupportedError, node.describe(), ": bits ", bits, " is not supported (4 and 8 are)");
  if (node.attr_int("gather_axis", 0) != 0 || node.attr_int("quantize_axis", 1) != 1)
    PTQ_FAIL(UnsupportedError, node.describe(), ": only gather_axis 0 and quantize_axis 1 are supported");
  if (block < 16 || (block & (block - 1)) != 0) PTQ_FAIL(ModelError, node.describe(), ": block_size must be a power of 2, at least 16");
  return [bits, block](KernelIO& io) {
    const Tensor& data = io.in(0);
    const Tensor& scales = io.in(2);
    const Tensor* zp = io.has(3) ? io.inputs[3] : nullptr;
    if (data.dtype() != DType::UInt8 || data.rank() != 2) PTQ_FAIL(UnsupportedError, "data must be uint8 [V, D·bits/8]");
    const int64_t rows = data.dim(0), cols = data.dim(1) * 8 / bits, blocks = (cols + block - 1) / block;
    const int64_t zp_bytes = (blocks * bits + 7) / 8;
    if (scales.dtype() != DType::Float32 || scales.shape() != Shape{rows, blocks})
      PTQ_FAIL(ModelError, "scales must be float [", rows, ", ", blocks, "], got ", shape_str(scales.shape()));
    if (zp && (zp->dtype() != DType::UInt8 || zp->shape() != Shape{rows, zp_bytes}))
      PTQ_FAIL(ModelError, "zero points must be uint8 [", rows, ", ", zp_bytes, "]");
    const std::vector<int64_t> idx = read_indices(io.in(1), rows, 0);
    Shape out = io.in(1).shape();
    out.push_back(cols);
    io.outputs[0] = Tensor(DType::Float32, out);
    float* y = io.outputs[0].data<float>();
    for (size_t i = 0; i < idx.size(); ++i) {
      const int64_t r = idx[i];
      const uint8_t* row = data.data<uint8_t>() + r * data.dim(1);
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t b = c / block;
        const int z = zp ? packed_field(zp->data<uint8_t>() + r * zp_bytes, b, bits) : 1 << (bits - 1);
        y[static_cast<int64_t>(i) * cols + c] = static_cast<float>(packed_field(row, c, bits) - z) * scales.data<float>()[r * blocks + b];
      }
    }
  };
}

}  // namespace ptq::exec
