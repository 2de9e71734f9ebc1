// SPDX-License-Identifier: Apache-2.0
// com.microsoft MatMulNBits (ONNX Runtime contrib op), 4 or 8 bits: Y = A · B, B [K, N] stored as uint8
// [N, k_blocks, block·bits/8] (element k of block b of column n at bits k·bits of the block's bytes: 4
// bits at byte k/2, the low nibble first), scales [N · k_blocks] (or [N, k_blocks]), optional zero points
// uint8 [N · ceil(k_blocks·bits/8)] packed the same way (default 2^(bits−1)): B[k, n] = (u − z) · scale.
// Optional bias (input 5) of N values. B is unpacked to float, then one GEMM; g_idx (input 4) and float
// zero points are not supported.
#include "common.h"
#include "kernels.h"
#include "sgemm.h"

namespace ptq::exec {

Kernel make_matmul_nbits(const Node& node) {
  expect_inputs(node, 3, 6);
  const int64_t K = node.attr_int("K", 0), N = node.attr_int("N", 0), bits = node.attr_int("bits", 4),
                block = node.attr_int("block_size", 0);
  if (bits != 4 && bits != 8) PTQ_FAIL(UnsupportedError, node.describe(), ": bits ", bits, " is not supported (4 and 8 are)");
  if (K <= 0 || N <= 0 || block < 16) PTQ_FAIL(ModelError, node.describe(), ": K, N must be positive and block_size >= 16");
  return [K, N, block, bits](KernelIO& io) {
    const Tensor& a = io.in(0);
    const Tensor& b = io.in(1);
    const Tensor& scales = io.in(2);
    const Tensor* zp = io.has(3) ? io.inputs[3] : nullptr;
    if (io.has(4)) PTQ_FAIL(UnsupportedError, "g_idx is not supported");
    const int64_t blocks = (K + block - 1) / block, zp_bytes = (blocks * bits + 7) / 8, blob = block * bits / 8;
    if (a.dtype() != DType::Float32 || a.rank() < 1 || a.shape().back() != K)
      PTQ_FAIL(ModelError, "A of shape ", shape_str(a.shape()), " does not have K = ", K, " float columns");
    if (b.dtype() != DType::UInt8 || b.numel() != N * blocks * blob) PTQ_FAIL(ModelError, "B is not uint8 [N, k_blocks, block·bits/8]");
    if (scales.dtype() != DType::Float32 || scales.numel() != N * blocks) PTQ_FAIL(ModelError, "scales must be float [N * k_blocks]");
    if (zp && (zp->dtype() != DType::UInt8 || zp->numel() != N * zp_bytes)) PTQ_FAIL(UnsupportedError, "zero points must be packed uint8");
    std::vector<float> w(static_cast<size_t>(K * N));
    const uint8_t* pb = b.data<uint8_t>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) {
        const int64_t blk = k / block, j = k % block;
        const int u = packed_field(pb + (n * blocks + blk) * blob, j, bits);
        const int z = zp ? packed_field(zp->data<uint8_t>() + n * zp_bytes, blk, bits) : 1 << (bits - 1);
        w[static_cast<size_t>(k * N + n)] = static_cast<float>(u - z) * scales.data<float>()[n * blocks + blk];
      }
    Shape out = a.shape();
    out.back() = N;
    io.outputs[0] = Tensor(DType::Float32, out);
    const int64_t M = a.numel() / K;
    Epilogue epi;
    if (io.has(5)) epi.col_bias = io.in(5).data<float>();
    sgemm(M, N, K, 1.0f, MatView{a.data<float>(), K, false}, MatView{w.data(), N, false}, io.outputs[0].data<float>(), N, false, epi,
          io.threads);
  };
}

}  // namespace ptq::exec
