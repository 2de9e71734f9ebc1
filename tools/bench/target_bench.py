#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Deployment-target benchmark on the corpus: for each model, quantizes with int8 activations (ort-cpu)
and counts the Conv/Gemm/MatMul ONNX Runtime turns into integer kernels (accuracy.fused: the graph it
really runs); with --targets, quantizes with every --target and runs `quantize check` on the output;
with --trt MODEL, also the TensorRT dialect's Q/DQ facts and ONNX Runtime cosine vs FP32.

    /usr/bin/python3 tools/bench/target_bench.py [--models a,b] [--extra '--symmetric-activations'] [--targets]

Needs what accuracy.py needs (build/tools/quantize, ~/.cache/ptq-bench, onnxruntime-node)."""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import accuracy  # noqa: E402
from accuracy import MODELS, QUANTIZE  # noqa: E402

TARGETS = ['ort-cpu', 'tensorrt', 'qnn', 'xnnpack', 'nnapi', 'openvino']
CALIB_SAMPLES = '32'


def quantize(spec, out, flags):
    r = subprocess.run([QUANTIZE, spec['model'], '--calib', spec['calib'], '--calib-samples', CALIB_SAMPLES, '--eval-samples', '0',
                        '-q', '-o', out] + flags, capture_output=True, text=True)
    return r.returncode, r.stderr.strip()


def trt_facts(model):
    """(Q/DQ nodes, all int8 with zero point 0, int32 DequantizeLinear count)."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(model)
    inits = {i.name: i for i in m.graph.initializer}
    nodes = [n for n in m.graph.node if n.op_type in ('QuantizeLinear', 'DequantizeLinear')]
    ok, int32 = True, 0
    for n in nodes:
        x = inits.get(n.input[0])
        if x is not None and x.data_type == onnx.TensorProto.INT32:
            int32 += 1
        zp = inits.get(n.input[2]) if len(n.input) > 2 else None
        ok &= zp is not None and zp.data_type == onnx.TensorProto.INT8 and not numpy_helper.to_array(zp).any()
    return len(nodes), ok, int32


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--models', default='mobilenet_v2,yolox_nano')
    ap.add_argument('--extra', default='', help='flags added to the int8 run (e.g. --symmetric-activations)')
    ap.add_argument('--targets', action='store_true', help='also every --target + quantize check')
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix='ptq_target_')
    for name in a.models.split(','):
        spec = MODELS[name]
        out = os.path.join(tmp, name + '_s8.onnx')
        code, err = quantize(spec, out, ['--activation-type', 'int8'] + a.extra.split())
        if code:
            print('| %s | s8 | error %d: %s |' % (name, code, err))
            continue
        k = accuracy.fused(out, spec['calib'], tmp, name + '_s8')
        print('| %s | int8 %s | %d of %d integer |' % (name, a.extra or '(asymmetric)', k['integer'], k['integer'] + k['float']))
        if not a.targets:
            continue
        for t in TARGETS:
            out = os.path.join(tmp, '%s_%s.onnx' % (name, t))
            code, err = quantize(spec, out, ['--target', t])
            if code:
                print('| %s | --target %s | quantize exit %d: %s |' % (name, t, code, err))
                continue
            c = subprocess.run([QUANTIZE, 'check', out, '--target', t], capture_output=True, text=True)
            extra = ''
            if t == 'tensorrt':
                fp32 = accuracy.ort_eval(spec['model'], spec, tmp, name + '_fp32')
                q = accuracy.ort_eval(out, spec, tmp, name + '_trt')
                n, zp0, int32 = trt_facts(out)
                extra = '; %d Q/DQ, all int8 zp 0: %s, int32 DQ: %d, ORT cosine %.4f' % (n, zp0, int32, accuracy.metrics(fp32, q, {})['cosine'])
            print('| %s | --target %s | check exit %d (%s)%s |' % (name, t, c.returncode, c.stderr.strip().split(': ')[-1], extra))


if __name__ == '__main__':
    main()
