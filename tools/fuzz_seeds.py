#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/), small valid inputs the
fuzzers mutate. Run with Debian's python3 (onnx, numpy, PIL): /usr/bin/python3 tools/fuzz_seeds.py.
Regression inputs found by fuzzing live next to them as crash-<hash> / regress-* files and are kept."""
import io
import json
import os
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def model_bytes(nodes, inputs, outputs, inits=(), opset=13, value_info=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits), value_info=list(value_info))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="fuzz_seeds")
    m.ir_version = 7
    return m.SerializeToString()


def vi(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def models():
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((2, 1, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(2, np.float32), "b")
    write("model", "conv_relu.onnx", model_bytes(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["y"], name="relu")],
        [vi("x", ["N", 1, 4, 4])], [vi("y", ["N", 2, 4, 4])], [w, b]))
    k = helper.make_tensor("k", TensorProto.FLOAT, [3, 2], rng.standard_normal(6).astype(np.float32).tolist())
    write("model", "constant_matmul.onnx", model_bytes(
        [helper.make_node("Constant", [], ["k"], value=k),
         helper.make_node("MatMul", ["x", "k"], ["m"]),
         helper.make_node("Add", ["m", "bias"], ["y"])],
        [vi("x", [1, 3])], [vi("y", [1, 2])],
        [numpy_helper.from_array(np.ones(2, np.float32), "bias")], opset=17, value_info=[vi("m", [1, 2])]))
    then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [], [vi("t", [2])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [vi("e", [2])])
    write("model", "if.onnx", model_bytes(
        [helper.make_node("If", ["cond"], ["y"], name="branch", then_branch=then_g, else_branch=else_g)],
        [vi("x", [2]), vi("cond", [], TensorProto.BOOL)], [vi("y", [2])]))
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["v_in", "x"], ["v_out"])],
        "body", [vi("i", [], TensorProto.INT64), vi("cond_in", [], TensorProto.BOOL), vi("v_in", [2])],
        [vi("cond_out", [], TensorProto.BOOL), vi("v_out", [2])])
    write("model", "loop.onnx", model_bytes(
        [helper.make_node("Loop", ["n", "", "v0"], ["y"], name="loop", body=body)],
        [vi("x", [2]), vi("n", [], TensorProto.INT64), vi("v0", [2])], [vi("y", [2])]))
    gw = numpy_helper.from_array(np.int8([[1, -2, 3], [4, 5, -6]]), "gw_q")
    write("model", "qdq_gemm.onnx", model_bytes(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
         helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
         helper.make_node("DequantizeLinear", ["gw_q", "ws"], ["gw"]),
         helper.make_node("Gemm", ["xd", "gw"], ["y"], transB=1),
         helper.make_node("Reshape", ["y", "shape"], ["r"])],
        [vi("x", ["batch", 3])], [vi("r", [-1])],
        [gw, numpy_helper.from_array(np.float32(0.1), "s"), numpy_helper.from_array(np.uint8(128), "z"),
         numpy_helper.from_array(np.float32(0.05), "ws"), numpy_helper.from_array(np.int64([-1]), "shape")]))


def npy(a):
    f = io.BytesIO()
    np.save(f, a)
    return f.getvalue()


def tensors():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    write("tensor", "npy_f32", b"\0" + npy(x))
    write("tensor", "npy_f16", b"\0" + npy(x.astype(np.float16)))
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", npy(x))
    write("tensor", "npz_deflated", b"\1" + f.getvalue())
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
        z.writestr("x.npy", npy(x[:1]))
    write("tensor", "npz_stored", b"\1" + f.getvalue())
    write("tensor", "pb_raw", b"\2" + numpy_helper.from_array(x, "x").SerializeToString())
    t = helper.make_tensor("x", TensorProto.FLOAT, [1, 3], [1.0, 2.0, 3.0])  # float_data, not raw_data
    write("tensor", "pb_float_data", b"\2" + t.SerializeToString())


def images():
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    gray = Image.fromarray(rng.integers(0, 256, (9, 11), dtype=np.uint8))
    for mode, img, fmt, name in [(0, rgb, "PNG", "rgb.png"), (1, rgb, "JPEG", "rgb.jpg"), (2, rgb, "BMP", "rgb.bmp"),
                                 (4 | 16, rgb, "PNG", "rgb_resize_nhwc.png"), (8, gray, "PNG", "gray.png"),
                                 (8 | 1 | 32, gray, "JPEG", "gray_uint8.jpg"), (3 | 4, rgb.convert("P"), "PNG", "palette.png")]:
        f = io.BytesIO()
        img.save(f, fmt)
        write("image", name, bytes([mode]) + f.getvalue())


def tables():
    entry = {"method": "minmax", "dtype": "uint8", "axis": -1, "min": [-1.0], "max": [2.5],
             "range": [[-1.0, 2.5]], "scale": [0.013725490868091583], "zero_point": [73]}
    wentry = {"method": "minmax", "dtype": "int8", "axis": 0, "min": [-0.5, -0.25], "max": [0.5, 0.75],
              "range": [[-0.5, 0.5], [-0.75, 0.75]], "scale": [0.003937007859349251, 0.005905511789023876],
              "zero_point": [0, 0]}
    bentry = dict(wentry, block=16, scale_shape=[2, 1], dtype="int4")
    doc = {"format": "ptq-calibration-table", "version": 1, "model": "m.onnx", "method": "minmax", "samples": 3,
           "tensors": {"x": entry, "w": wentry, "wb": bentry}}
    write("calib_table", "table.json", json.dumps(doc, indent=1).encode())
    write("calib_table", "empty_tensors.json", json.dumps(dict(doc, tensors={})).encode())


if __name__ == "__main__":
    models()
    tensors()
    images()
    tables()
