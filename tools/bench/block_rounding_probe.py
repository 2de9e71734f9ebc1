#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Block-reconstruction probe (an experiment, not a ptq feature): would learning the 4-bit weight roundings
of a whole MobileNetV2 inverted residual block together (BRECQ, Li et al. 2021) beat ptq's layer-wise
AdaRound? Takes a W4A8 model written by ptq (its grids: scales, zero points, activation Q/DQ) and the FP32
model, and per block, in graph order:

  - the FP32 block output on the FP32 block input is the target; the block input is the quantized
    model's (the blocks above with their learned roundings, every activation Q/DQ applied);
  - every 4-bit weight of the block gets AdaRound's rectified sigmoid h(V) (zeta 1.1, gamma -0.1), all
    learned together by Adam on the block output's squared error (summed over channels, averaged over
    positions and images, as BRECQ's code does) through the block's 8-bit activation quantizers
    (straight-through), plus lambda * sum(1 - |2h - 1|^beta), beta 20 -> 2 after a 20 % warm-up;
  - it prints the block output's relative error (sum of squares of the error over that of the target)
    on all calibration images, and writes the model with the learned codes.

`--init model --iters 0` prints the same per-block errors for the model's own rounding (ptq's layer-wise
AdaRound), `--iters 0` alone those of nearest rounding on the model's grid.

    /usr/bin/python3 tools/bench/corpus_sets.py        # once; then a W4A8 model from ptq, e.g.
    build/tools/quantize mobilenet_v2_1.0_224_fp32.onnx --calib ~/.cache/ptq-bench/adaround224_calib256 \\
        --weight-type int4 --adaround -o ada.onnx
    /usr/bin/python3 tools/bench/block_rounding_probe.py ada.onnx mobilenet_v2_1.0_224_fp32.onnx \\
        ~/.cache/ptq-bench/adaround224_calib256 out.onnx [--iters 3000] [--lam 1] [--blocks 2]

Blocks are found by MobileNetV2's TensorFlow names (MobilenetV2/expanded_conv_N/...). Needs Debian's
python3-torch, python3-onnx and python3-numpy. The README's AdaRound results say what it measured."""
import argparse
import os
import re
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

ZETA, GAMMA = 1.1, -0.1
INT4 = 22  # TensorProto.INT4 (ONNX 1.16; Debian's python3-onnx 1.12 only carries the bytes)
QRANGE = {2: (0, 255), 3: (-128, 127), 4: (0, 65535), 5: (-32768, 32767)}  # by zero point data type


def unpack_int4(t):
    raw = np.frombuffer(t.raw_data, np.uint8)
    v = np.empty(raw.size * 2, np.int8)
    v[0::2], v[1::2] = raw & 0xF, raw >> 4
    v = np.where(v >= 8, v - 16, v).astype(np.int8)
    return v[:int(np.prod(t.dims))].reshape(t.dims)


def pack_int4(a):
    a = a.astype(np.int16).ravel()
    a = np.where(a < 0, a + 16, a).astype(np.uint8)
    if a.size % 2:
        a = np.append(a, np.uint8(0))
    return (a[0::2] | (a[1::2] << 4)).astype(np.uint8).tobytes()


def attrs(n):
    return {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}


def round_ste(x):
    return x + (torch.round(x) - x).detach()


def conv(x, w, b, a):
    p = a.get('pads', [0, 0, 0, 0])
    if any(p):
        x = F.pad(x, (p[1], p[3], p[0], p[2]))
    return F.conv2d(x, w, b, stride=a.get('strides', 1), dilation=a.get('dilations', 1), groups=a.get('group', 1))


class Graph:
    """A node list run by torch on `env` (tensor -> value) and constants `const`; activation
    QuantizeLinear -> DequantizeLinear pairs become fake quantization with a straight-through rounding."""

    def __init__(self, model):
        self.nodes = list(model.graph.node)
        self.init = {t.name: t for t in model.graph.initializer}
        self.producer = {o: i for i, n in enumerate(self.nodes) for o in n.output}
        self.consumers = {}
        for n in self.nodes:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)

    def segment(self, after, through):
        """The nodes after the producer of `after` (from the start when None) through that of `through`."""
        return self.nodes[(self.producer[after] + 1 if after else 0):self.producer[through] + 1]

    def read_as(self, tensor):
        """The name the next block reads `tensor` under: its Q/DQ pair's DequantizeLinear output, if any."""
        for q in self.consumers.get(tensor, []):
            if q.op_type == 'QuantizeLinear':
                for d in self.consumers.get(q.output[0], []):
                    if d.op_type == 'DequantizeLinear':
                        return d.output[0]
        return tensor

    def run(self, nodes, env, const):
        for n in nodes:
            op, a = n.op_type, attrs(n)
            if op == 'Constant' or (op == 'DequantizeLinear' and n.input[0] in self.init):
                continue  # constants: already in `const`

            def get(i):
                return env[n.input[i]] if n.input[i] in env else const[n.input[i]]

            def has(i):
                return len(n.input) > i and n.input[i]

            out = n.output[0]
            if op == 'QuantizeLinear':
                z = n.input[2]
                env[out] = (get(0), const[n.input[1]], const[z], *QRANGE[self.init[z].data_type if z in self.init else 2])
            elif op == 'DequantizeLinear':
                x, s, z, lo, hi = env[n.input[0]]
                env[out] = (torch.clamp(round_ste(x / s) + z, lo, hi) - z) * s
            elif op == 'Conv':
                env[out] = conv(get(0), get(1), get(2) if has(2) else None, a)
            elif op == 'Clip':
                env[out] = torch.clamp(get(0), float(get(1) if has(1) else a.get('min', -1e30)),
                                       float(get(2) if has(2) else a.get('max', 1e30)))
            elif op == 'Add':
                env[out] = get(0) + get(1)
            elif op == 'AveragePool':
                env[out] = F.avg_pool2d(get(0), a['kernel_shape'], a.get('strides', a['kernel_shape']))
            elif op == 'Transpose':
                env[out] = get(0).permute(*a['perm'])
            elif op == 'Reshape':
                env[out] = get(0).reshape([int(v) for v in get(1).tolist()])
            elif op == 'Softmax':
                env[out] = torch.softmax(get(0), a.get('axis', -1))
            elif op == 'Identity':
                env[out] = get(0)
            else:
                raise RuntimeError('op %s is not supported by the probe' % op)
        return env


def quant_constants(qm, fp_weights):
    """Constants of the quantized graph (weights and biases dequantized) and, per 4-bit weight's
    DequantizeLinear output, its codes, grid and FP32 values."""
    init = {t.name: t for t in qm.graph.initializer}
    const = {k: torch.from_numpy((unpack_int4(t) if t.data_type == INT4 else numpy_helper.to_array(t)).astype(np.float32))
             for k, t in init.items()}
    for n in qm.graph.node:
        if n.op_type == 'Constant':
            const[n.output[0]] = torch.from_numpy(numpy_helper.to_array(n.attribute[0].t).astype(np.float32))
    learn = {}
    for n in qm.graph.node:
        if n.op_type != 'DequantizeLinear' or n.input[0] not in init:
            continue
        q, s = const[n.input[0]], const[n.input[1]]
        z = const[n.input[2]] if len(n.input) > 2 else torch.zeros_like(s)
        shape = [1] * q.dim()
        if s.numel() > 1:
            shape[attrs(n).get('axis', 1)] = -1
        s, z = s.reshape(shape), z.reshape(shape)
        const[n.output[0]] = (q - z) * s
        if init[n.input[0]].data_type == INT4:
            w = fp_weights[n.input[0][:-len('_quantized')]]
            learn[n.output[0]] = dict(qname=n.input[0], scale=s, zp=z, q=q, w=torch.from_numpy(w.astype(np.float32)))
    return const, learn


def blocks_of(fp_nodes):
    """(block name, its last tensor) in order: consecutive Conv/Clip/Add nodes of one MobileNetV2 block."""
    out = []
    for n in fp_nodes:
        if n.op_type not in ('Conv', 'Add', 'Clip'):
            continue
        m = re.search(r'MobilenetV2/(expanded_conv(?:_\d+)?|Conv_1|Conv|Logits)/', n.output[0])
        b = m.group(1) if m else n.output[0]
        if out and out[-1][0] == b:
            out[-1] = (b, n.output[0])
        else:
            out.append((b, n.output[0]))
    return out


def rel_error(a, b):
    return ((a - b).pow(2).sum() / b.pow(2).sum()).item()


def learn_block(name, layers, learn, const, qg, qseg, key, read, xq, target, args, rng):
    """Learns the block's roundings; returns their hard codes (the constants updated)."""
    base, V = {}, {}
    for l in layers:
        L = learn[l]
        r = L['w'] / L['scale'] + L['zp']
        base[l] = torch.floor(r)
        rest = r - base[l] if args.init == 'fp' else (L['q'] - base[l]).clamp(0, 1) * 0.9 + 0.05
        V[l] = torch.log((rest - GAMMA) / (ZETA - rest)).clone().requires_grad_(True)  # h^-1(rest)
    opt = torch.optim.Adam(list(V.values()), lr=args.lr or 1e-3 * 10000 / max(1, args.iters))
    warm = int(0.2 * args.iters)
    t0 = time.time()
    for it in range(args.iters):
        idx = torch.from_numpy(rng.integers(0, len(xq), args.batch))
        c = dict(const)
        reg = torch.zeros(())
        beta = 20 + (2 - 20) * max(0, it - warm) / max(1, args.iters - warm)
        for l in layers:
            L = learn[l]
            h = torch.clamp(torch.sigmoid(V[l]) * (ZETA - GAMMA) + GAMMA, 0, 1)
            c[l] = (torch.clamp(base[l] + h, -8, 7) - L['zp']) * L['scale']
            if it >= warm:
                reg = reg + (1 - (2 * h - 1).abs().pow(beta)).sum()
        out = qg.run(qseg, {key: xq[idx]}, c)[read]
        rec = (out - target[idx]).pow(2).sum(1).mean()  # per position, summed over channels
        opt.zero_grad()
        (rec + args.lam * reg).backward()
        opt.step()
        if it % 500 == 0 or it == args.iters - 1:
            print('  %s iteration %d: reconstruction %.4f, regulariser %.1f' % (name, it, rec.item(), reg.item()), flush=True)
    codes = {}
    for l in layers:
        L = learn[l]
        hard = torch.clamp(base[l] + (V[l] >= 0).float(), -8, 7).detach()
        const[l] = (hard - L['zp']) * L['scale']
        codes[L['qname']] = hard.numpy().astype(np.int8)
    print('  %s: %d layers learned in %.1f s' % (name, len(layers), time.time() - t0), flush=True)
    return codes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('qmodel', help='W4A8 model written by ptq')
    ap.add_argument('fmodel', help='the FP32 model it was quantized from')
    ap.add_argument('calib', help='calibration sample folders (input.npy each)')
    ap.add_argument('out', help='the model with the learned codes')
    ap.add_argument('--iters', type=int, default=2000)
    ap.add_argument('--batch', type=int, default=8, help='images per iteration')
    ap.add_argument('--lam', type=float, default=0.01, help='regulariser weight (BRECQ: 0.01)')
    ap.add_argument('--lr', type=float, default=0.0, help='Adam step (0: 1e-3 * 10000 / iters)')
    ap.add_argument('--init', choices=('fp', 'model'), default='fp', help='V from the FP32 weights or from the model codes')
    ap.add_argument('--samples', type=int, default=256)
    ap.add_argument('--blocks', type=int, default=99, help='stop after this many blocks')
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    qm, fm = onnx.load(args.qmodel), onnx.load(args.fmodel)
    fp_weights = {t.name: numpy_helper.to_array(t) for t in fm.graph.initializer}
    fconst = {k: torch.from_numpy(v.astype(np.float32)) for k, v in fp_weights.items()}
    for n in fm.graph.node:
        if n.op_type == 'Constant':
            fconst[n.output[0]] = torch.from_numpy(numpy_helper.to_array(n.attribute[0].t).astype(np.float32))
    qconst, learn = quant_constants(qm, fp_weights)
    qg, fg = Graph(qm), Graph(fm)
    dirs = sorted(os.listdir(args.calib))[:args.samples]
    x = torch.from_numpy(np.concatenate([np.load(os.path.join(args.calib, d, 'input.npy')) for d in dirs]).astype(np.float32))
    inp = qm.graph.input[0].name
    xq, xf, prev, qprev = x, x, None, None
    codes = {}
    start = time.time()
    for k, (name, tensor) in enumerate(blocks_of(fg.nodes)):
        if k > args.blocks:
            break
        read = qg.read_as(tensor)
        qseg, fseg = qg.segment(qprev, read), fg.segment(prev, tensor)
        qkey, fkey = (qprev, prev) if prev else (inp, inp)
        with torch.no_grad():
            target = torch.cat([fg.run(fseg, {fkey: xf[i:i + 32]}, fconst)[tensor] for i in range(0, len(xf), 32)])
        layers = [n.input[1] for n in qseg if n.op_type == 'Conv' and n.input[1] in learn]
        if layers and args.iters > 0:
            codes.update(learn_block(name, layers, learn, qconst, qg, qseg, qkey, read, xq, target, args, rng))
        elif layers and args.init == 'fp':  # nearest on the model's grid
            for l in layers:
                L = learn[l]
                hard = torch.clamp(torch.floor(L['w'] / L['scale'] + L['zp'] + 0.5), -8, 7)  # ties up, as V >= 0
                qconst[l] = (hard - L['zp']) * L['scale']
                codes[L['qname']] = hard.numpy().astype(np.int8)
        with torch.no_grad():
            xq = torch.cat([qg.run(qseg, {qkey: xq[i:i + 32]}, qconst)[read] for i in range(0, len(xq), 32)])
        print('%s: block output relative error %.4f' % (name, rel_error(xq, target)), flush=True)
        xf, prev, qprev = target, tensor, read
    print('total %.1f s' % (time.time() - start))
    for t in qm.graph.initializer:
        if t.name in codes:
            t.raw_data = pack_int4(codes[t.name])
    onnx.save(qm, args.out)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
