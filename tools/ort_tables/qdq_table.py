#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Prints ONNX Runtime's QuantizeLinear outputs for the hand-picked inputs of
tests/unit/exec/quantize_test.cpp (kOrtTable there), so the table can be regenerated:
  ORT_NODE_DIR=~/ortnode /usr/bin/python3 tools/ort_tables/qdq_table.py [path/to/ort_run.js]
Inputs: ties (x / scale exactly k + 0.5), values where x / scale and x * (1 / scale) round differently
(ORT divides), saturation, NaN. Types: uint8/int8 (ai.onnx opset 13), int16/uint16 (com.microsoft)."""
import json, os, subprocess, sys, tempfile
import numpy as np
import onnx
from onnx import helper, TensorProto

ORT_RUN = sys.argv[1] if len(sys.argv) > 1 else '/work/shared/corpus/tools/ort_run.js'
X = np.array([0.05, 0.15, 0.25, -0.05, -0.15, -0.25, 11.15, -14.349999, 1.71935, 0.0, 1e6, -1e6, np.nan, 12.7, -12.8, 25.45],
             dtype=np.float32)
SCALE = np.float32(0.1)
CASES = [  # (name, domain, opset, zero point dtype, zero point)
    ('u8', '', 13, TensorProto.UINT8, 128), ('i8', '', 13, TensorProto.INT8, -3),
    ('u16', 'com.microsoft', 1, TensorProto.UINT16, 32768), ('i16', 'com.microsoft', 1, TensorProto.INT16, -7)]

def run_case(tmp, name, domain, opset, zp_type, zp):
    out_type = zp_type
    node = helper.make_node('QuantizeLinear', ['x', 's', 'z'], ['y'], domain=domain)
    graph = helper.make_graph([node], 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [len(X)])],
                              [helper.make_tensor_value_info('y', out_type, [len(X)])],
                              [helper.make_tensor('s', TensorProto.FLOAT, [], [float(SCALE)]), helper.make_tensor('z', zp_type, [], [zp])])
    imports = [helper.make_opsetid('', 13)] + ([helper.make_opsetid(domain, opset)] if domain else [])
    model = helper.make_model(graph, opset_imports=imports)
    model.ir_version = 8
    path = os.path.join(tmp, name + '.onnx')
    onnx.save(model, path)
    inp = os.path.join(tmp, 'in_' + name)
    os.makedirs(inp, exist_ok=True)
    np.save(os.path.join(inp, 'x.npy'), X)
    out = os.path.join(tmp, 'out_' + name)
    subprocess.run(['node', ORT_RUN, path, inp, out], check=True, stdout=subprocess.DEVNULL)
    return np.load(os.path.join(out, 'y.npy'))

with tempfile.TemporaryDirectory() as tmp:
    print('// x:', ', '.join(repr(float(v)) for v in X))
    for case in CASES:
        y = run_case(tmp, *case)
        print('{"%s", {%s}},' % (case[0], ', '.join(str(int(v)) for v in y)))
