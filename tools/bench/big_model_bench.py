#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Big-model memory benchmark: peak RSS and wall time of `quantize` on an FP32 model whose weights
live in external data, next to the time it takes to read the weights once.

The model (generated once into --dir, /tmp by default, never into the repository): input X [1, 4096],
then N MatMuls whose weights alternate 4096x16384 and 16384x4096 (N = 10: 2.5 GiB of float32), all in
"big.onnx.data" at 4096-byte aligned offsets. The static run calibrates on 4 random samples.

    /usr/bin/python3 tools/bench/big_model_bench.py                 # 10 MatMuls, 2.5 GiB
    /usr/bin/python3 tools/bench/big_model_bench.py --matmuls 4     # 1 GiB, quick iterations
    /usr/bin/python3 tools/bench/big_model_bench.py --modes dynamic --extra '--threads 2'

Prints, per mode: peak RSS of the quantize process (getrusage of the child), RSS / FP32 size, wall
time, wall time / read time, where read time is the longer of `cat big.onnx.data > /dev/null` and
reading the file into a buffer, after a warm-up (page cache), and wall / max(read, 2 s)."""
import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUANTIZE = os.environ.get('PTQ_QUANTIZE', os.path.join(ROOT, 'build', 'tools', 'quantize'))
K, N = 4096, 16384
ALIGN = 4096


def generate(folder, matmuls):
    import onnx
    from onnx import TensorProto, helper
    os.makedirs(folder, exist_ok=True)
    model_path = os.path.join(folder, 'big.onnx')
    data_name = 'big.onnx.data'
    tag = os.path.join(folder, f'.generated_{matmuls}')
    if os.path.exists(tag) and os.path.exists(model_path):
        return model_path
    rng = np.random.default_rng(7)
    inits, nodes, offset = [], [], 0
    prev = 'X'
    with open(os.path.join(folder, data_name), 'wb') as f:
        for i in range(matmuls):
            shape = (K, N) if i % 2 == 0 else (N, K)
            w = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)
            offset = (offset + ALIGN - 1) // ALIGN * ALIGN
            f.seek(offset)
            f.write(w.tobytes())
            t = TensorProto(name=f'W{i}', data_type=TensorProto.FLOAT, dims=list(shape))
            t.data_location = TensorProto.EXTERNAL
            for k, v in (('location', data_name), ('offset', str(offset)), ('length', str(w.nbytes))):
                e = t.external_data.add()
                e.key, e.value = k, v
            offset += w.nbytes
            inits.append(t)
            out = 'Y' if i == matmuls - 1 else f'h{i}'
            nodes.append(helper.make_node('MatMul', [prev, f'W{i}'], [out], name=f'matmul{i}'))
            prev = out
            del w
    last = K if matmuls % 2 == 0 else N
    graph = helper.make_graph(nodes, 'big', [helper.make_tensor_value_info('X', TensorProto.FLOAT, [1, K])],
                              [helper.make_tensor_value_info('Y', TensorProto.FLOAT, [1, last])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)], ir_version=8)
    with open(model_path, 'wb') as f:
        f.write(model.SerializeToString())
    calib = os.path.join(folder, 'calib')
    for s in range(4):
        os.makedirs(os.path.join(calib, f'{s:03d}'), exist_ok=True)
        np.save(os.path.join(calib, f'{s:03d}', 'X.npy'), rng.standard_normal((1, K), dtype=np.float32))
    open(tag, 'w').close()
    return model_path


def read_time(path):
    """Least of 3 times of `cat path > /dev/null` and of reading the file into a 16 MiB buffer (what
    a program that looks at the bytes pays: /dev/null may take cat's data without copying it)."""
    subprocess.run(['cat', path], stdout=subprocess.DEVNULL, check=True)  # warm-up: into the page cache
    cat = into = float('inf')
    buf = bytearray(16 << 20)
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run(['cat', path], stdout=subprocess.DEVNULL, check=True)
        cat = min(cat, time.perf_counter() - t)
        t = time.perf_counter()
        with open(path, 'rb', buffering=0) as f:
            while f.readinto(buf):
                pass
        into = min(into, time.perf_counter() - t)
    return cat, into


def run(cmd):
    """Wall time and peak RSS (bytes) of one child process."""
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        with open(os.devnull, 'w') as null:
            os.dup2(null.fileno(), 1)
        os.execv(cmd[0], cmd)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f'failed ({os.waitstatus_to_exitcode(status)}): {" ".join(cmd)}')
    return wall, usage.ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--matmuls', type=int, default=10)
    ap.add_argument('--dir', default=None, help='where the model goes (default /tmp/ptq_big_<matmuls>)')
    ap.add_argument('--modes', default='dynamic,static')
    ap.add_argument('--extra', default='', help='more quantize options')
    args = ap.parse_args()
    folder = args.dir or f'/tmp/ptq_big_{args.matmuls}'
    model = generate(folder, args.matmuls)
    data = model + '.data'
    fp32 = os.path.getsize(data)
    cat, into = read_time(data)
    read = max(cat, into)
    print(f'model {model}: {args.matmuls} MatMuls, {fp32 / 2**30:.2f} GiB of FP32 weights; reading them once: '
          f'cat > /dev/null {cat:.2f} s, into a buffer {into:.2f} s (read = {read:.2f} s)')
    print(f'{"mode":<9} {"peak RSS":>10} {"RSS/FP32":>9} {"wall s":>8} {"wall/read":>10} {"wall/max(read,2s)":>18}')
    for mode in args.modes.split(','):
        out = os.path.join(folder, f'q_{mode}.onnx')
        cmd = [QUANTIZE, model, '--mode', mode, '-o', out, '-q'] + args.extra.split()
        if mode == 'static':
            cmd += ['--calib', os.path.join(folder, 'calib')]
        wall, rss = run(cmd)
        print(f'{mode:<9} {rss / 2**30:>8.2f} G {rss / fp32:>9.2f} {wall:>8.2f} {wall / read:>10.2f} {wall / max(read, 2.0):>18.2f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
