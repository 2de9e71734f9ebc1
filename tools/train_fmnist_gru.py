#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Train a GRU classifier on Fashion-MNIST (image rows as a 28-step sequence) and export it to ONNX.

Writes models/fmnist_gru.onnx (relative to --out-dir, default: the repository root):
    input "input" float32 [N,1,28,28] (the preprocessing of models/README.md, as fmnist_cnn.onnx, so
    models/fmnist_test/ and calibration/fmnist/ serve both) -> Reshape [N,28,28] -> GRU (batch first,
    28 steps of 28 pixels, hidden 64) -> last hidden state -> Gemm 64->10 -> "logits" [N,10].
ONNX opset 13, exported by torch.onnx as Transpose -> GRU (W [1,192,28], R [1,192,64]) -> Gemm.

Data: Debian's dataset-fashion-mnist (read by tools/train_fmnist.py's loaders); nothing is downloaded.
Deterministic for a given --seed/--epochs on the same torch build (2 threads). Prints the FP32 test
accuracy on the full 10k test split and on models/fmnist_test (the first 1000).

    /usr/bin/python3 tools/train_fmnist_gru.py             # defaults: --epochs 3 --seed 0
"""

import argparse
import os
import random
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_fmnist as base  # noqa: E402  (data loading and preprocessing of the CNN)

HIDDEN = 64


class FmnistGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(28, HIDDEN, batch_first=True)
        self.fc = nn.Linear(HIDDEN, 10)

    def forward(self, x):
        y, h = self.gru(x.reshape(x.shape[0], 28, 28))
        return self.fc(h[0])


def train(model, x, y, epochs, seed, batch=128, lr=3e-3):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((x.shape[0] + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(x.shape[0], generator=gen)
        t0, total = time.time(), 0.0
        for i in range(0, x.shape[0], batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total += loss.item() * idx.numel()
        print(f"epoch {epoch + 1}/{epochs}: loss {total / x.shape[0]:.4f} ({time.time() - t0:.1f}s)")


def main():
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", default=repo_root)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=base.DEFAULT_DATA_DIR)
    args = ap.parse_args()
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)

    tr_img, tr_lab = base.load_split(args.data_dir, "train")
    te_img, te_lab = base.load_split(args.data_dir, "t10k")
    x_train, y_train = torch.from_numpy(base.preprocess(tr_img)), torch.from_numpy(tr_lab)
    x_test, y_test = torch.from_numpy(base.preprocess(te_img)), torch.from_numpy(te_lab)
    model = FmnistGRU()
    train(model, x_train, y_train, args.epochs, args.seed)
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x_test[i:i + 1000]).argmax(1) for i in range(0, x_test.shape[0], 1000)])
    acc_full = (pred == y_test).double().mean().item()
    acc_sub = (pred[:base.N_TEST_SUBSET] == y_test[:base.N_TEST_SUBSET]).double().mean().item()

    path = os.path.join(args.out_dir, "models", "fmnist_gru.onnx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(model, x_test[:1], path, opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, do_constant_folding=True,
                      training=torch.onnx.TrainingMode.EVAL)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    print(f"ONNX ops: {[n.op_type for n in m.graph.node]}")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    print(f"FP32 test accuracy: full 10k {acc_full:.4f}  first {base.N_TEST_SUBSET} (models/fmnist_test) {acc_sub:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
