#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Calibration time of `quantize --method kl` against PyTorch's own PTQ (torch.ao FX), side by side in one run.

  /usr/bin/python3 tools/bench/calib_vs_torch.py [--samples 1000] [--threads 1,2] [--repeat 3] [--batch 32]

The model: a Fashion-MNIST ResNet (stem 3x3 conv, three stages of two basic blocks, 20/40/80 channels,
about 36 M MACs = 72 MFLOP per sample), trained for one short epoch on Debian's dataset-fashion-mnist (so
that its activations look like a trained network's), BatchNorm folded, exported to ONNX (opset 13). Cached
under ~/.cache/ptq-bench/fmnist_resnet/ (delete it to re-train).

Measured for each thread count, each --repeat times, interleaved, best (min) wall time kept:
  ptq:   `quantize MODEL --calib samples.npy --batch-axis 0 --method kl -o OUT --threads T` (the whole CLI:
         load, calibration, bias/weight tables, Q/DQ rewrite, write), as a subprocess;
  torch: torch.ao.quantization.quantize_fx prepare_fx + calibration (the same samples, DataLoader-style
         batches of --batch) + convert_fx, with the fbgemm default qconfig (HistogramObserver activations,
         per-channel weights), torch.set_num_threads(T), in this process (import time excluded).
Prints both times, their ratio (target: ptq <= 1.0x torch, goal 0.5x) and each model's top-1 accuracy on
the 10k test split (ptq's through `quantize eval`, torch's in torch) as a sanity check.

Needs libopenblas0-pthread (otherwise torch runs on the reference BLAS, ~25x slower, and the ratio means
nothing): the script refuses to run without it."""
import argparse, gzip, os, subprocess, sys, tempfile, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUANTIZE = os.environ.get('QUANTIZE', os.path.join(ROOT, 'build', 'tools', 'quantize'))
CACHE = os.path.expanduser('~/.cache/ptq-bench/fmnist_resnet')
DATA = '/usr/share/datasets/fashion-mnist'
MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


def load(split):
    x = read_idx(f'{DATA}/{split}-images-idx3-ubyte.gz').astype(np.float32) / 255.0
    y = read_idx(f'{DATA}/{split}-labels-idx1-ubyte.gz').astype(np.int64)
    return np.ascontiguousarray(((x - MEAN) / STD)[:, None].astype(np.float32)), y


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    def __init__(self, w=(20, 40, 80)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, w[0], 3, 1, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU())
        layers, cin = [], w[0]
        for i, c in enumerate(w):
            layers += [Block(cin, c, 1 if i == 0 else 2), Block(c, c, 1)]
            cin = c
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(w[-1], 10)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def fold_bn(model):
    """BatchNorm folded into the preceding conv (what an exported inference model holds)."""
    import torch.ao.quantization as q
    model.eval()
    pairs = [['stem.0', 'stem.1']]
    for i, _ in enumerate(model.layers):
        pairs += [[f'layers.{i}.c1', f'layers.{i}.b1'], [f'layers.{i}.c2', f'layers.{i}.b2']]
        if model.layers[i].down is not None:
            pairs.append([f'layers.{i}.down.0', f'layers.{i}.down.1'])
    return q.fuse_modules(model, pairs)


def build_model(xtr, ytr):
    """Train one short epoch (seeded), fold BN, export; cached."""
    os.makedirs(CACHE, exist_ok=True)
    pt, onnx_path = f'{CACHE}/model.pt', f'{CACHE}/model.onnx'
    torch.manual_seed(0)
    model = ResNet()
    if os.path.exists(pt) and os.path.exists(onnx_path):
        model.load_state_dict(torch.load(pt))
        return fold_bn(model), onnx_path
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    model.train()
    perm = np.random.default_rng(0).permutation(len(xtr))[:20000]
    t0 = time.time()
    for i in range(0, len(perm), 64):
        idx = perm[i:i + 64]
        loss = F.cross_entropy(model(torch.from_numpy(xtr[idx])), torch.from_numpy(ytr[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f'trained one epoch on 20000 images in {time.time() - t0:.0f} s', file=sys.stderr)
    torch.save(model.state_dict(), pt)
    folded = fold_bn(model)
    torch.onnx.export(folded, torch.zeros(1, 1, 28, 28), onnx_path, opset_version=13, input_names=['input'],
                      output_names=['logits'], dynamic_axes={'input': {0: 'N'}, 'logits': {0: 'N'}})
    return folded, onnx_path


def torch_ptq(model, calib, batch, threads):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    import copy
    torch.set_num_threads(threads)
    m = copy.deepcopy(model).eval()
    t0 = time.perf_counter()
    prepared = prepare_fx(m, get_default_qconfig_mapping('fbgemm'), (torch.zeros(1, 1, 28, 28),))
    with torch.no_grad():
        for i in range(0, len(calib), batch):
            prepared(torch.from_numpy(calib[i:i + batch]))
    converted = convert_fx(prepared)
    return time.perf_counter() - t0, converted


def ptq_run(onnx_path, calib_npy, out, threads):
    t0 = time.perf_counter()
    subprocess.run([QUANTIZE, '-q', onnx_path, '--calib', calib_npy, '--batch-axis', '0', '--method', 'kl', '-o', out,
                    '--threads', str(threads)], check=True)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--samples', type=int, default=1000)
    ap.add_argument('--threads', default='1,2', help='comma-separated thread counts')
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--batch', type=int, default=32)
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(',')]
    if not any('openblas' in l for l in open('/proc/self/maps')):
        torch.zeros(8, 8) @ torch.zeros(8, 8)  # loads the BLAS
        if not any('openblas' in l for l in open('/proc/self/maps')):
            sys.exit('torch is not on OpenBLAS: apt-get install libopenblas0-pthread (the reference BLAS is ~25x slower)')
    xtr, ytr = load('train')
    xte, yte = load('t10k')
    model, onnx_path = build_model(xtr, ytr)
    calib = np.ascontiguousarray(xtr[np.random.default_rng(1).permutation(len(xtr))[:a.samples]])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        calib_npy, out = f'{tmp}/input.npy', f'{tmp}/q.onnx'
        np.save(calib_npy, calib)
        for th in threads:
            ours, theirs, tq = [], [], None
            for _ in range(a.repeat):
                ours.append(ptq_run(onnx_path, calib_npy, out, th))
                t, tq = torch_ptq(model, calib, a.batch, th)
                theirs.append(t)
            rows.append((th, min(ours), min(theirs)))
        with torch.no_grad():
            fp = (model(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean() * 100
            tacc = (tq(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean() * 100
        np.save(f'{tmp}/eval.npy', xte)
        np.save(f'{tmp}/labels.npy', yte)
        ev = subprocess.run([QUANTIZE, '-q', 'eval', onnx_path, out, '--data', f'{tmp}/eval.npy', '--batch-axis', '0', '--labels',
                             f'{tmp}/labels.npy', '--json'], check=True, capture_output=True, text=True)
        import json
        acc = 100 * json.loads(ev.stdout).get('accuracy', {}).get('quantized', float('nan'))
    print(f'model: Fashion-MNIST ResNet (onnx {os.path.getsize(onnx_path) / 1e6:.2f} MB), {a.samples} calibration samples, '
          f'best of {a.repeat}; load {open("/proc/loadavg").read().split()[0]} on {os.cpu_count()} cores')
    print(f'{"threads":>7s} {"ptq kl s":>9s} {"torch.ao s":>10s} {"ratio":>6s}   (target <= 1.0x, goal 0.5x)')
    for th, o, t in rows:
        print(f'{th:7d} {o:9.2f} {t:10.2f} {o / t:5.2f}x')
    print(f'top-1 on the 10k test split: FP32 {fp:.2f}  ptq kl {acc:.2f}  torch.ao {tacc:.2f}')


if __name__ == '__main__':
    main()
