#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Converts an FP32 ONNX model to FP16, as onnxconverter-common's float16 converter does with
keep_io_types=False (ONNX 1.12 in Debian has no such helper): float32 initializers and Constant node
values become float16, graph inputs, outputs and value_info of float32 become float16, and Cast nodes to
float32 cast to float16. Subgraphs (If/Loop bodies) are converted the same way.
  /usr/bin/python3 tools/to_fp16.py IN.onnx OUT.onnx
Data for the FP16 model: .npy files of float16 (ptq also reads them as they are)."""
import sys

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

F32, F16 = TensorProto.FLOAT, TensorProto.FLOAT16


def convert_tensor(t):
    if t.data_type == F32:
        t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))


def convert_value_info(vi):
    if vi.type.tensor_type.elem_type == F32:
        vi.type.tensor_type.elem_type = F16


def convert_graph(g):
    for t in g.initializer:
        convert_tensor(t)
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        convert_value_info(vi)
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                convert_tensor(a.t)
            if a.type == onnx.AttributeProto.GRAPH:
                convert_graph(a.g)
            for sg in a.graphs:
                convert_graph(sg)
            if n.op_type == "Cast" and a.name == "to" and a.i == F32:
                a.i = F16


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: to_fp16.py IN.onnx OUT.onnx")
    m = onnx.load(sys.argv[1])
    convert_graph(m.graph)
    onnx.checker.check_model(m)
    onnx.save(m, sys.argv[2])
    print("wrote", sys.argv[2])


if __name__ == "__main__":
    main()
