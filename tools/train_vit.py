#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Train a small ViT-style encoder on Fashion-MNIST and export it to ONNX opset 17.

Writes models/vit_tiny.onnx under --out-dir (default: the repository root): input "input" float32
[N,1,28,28], preprocessed exactly like the bundled CNN's (x/255, then (x - 0.2860)/0.3530; see
models/README.md), so models/fmnist_test/ and calibration/fmnist/ serve both models; output "logits"
float32 [N,10].

Architecture (tools/tiny_transformer.py): patch embedding Conv 7x7 stride 7 (16 patches of 7x7),
flattened and transposed to tokens, a learned class token and positions, `--layers` pre-LayerNorm
blocks (LayerNorm, 4-head attention without mask, LayerNorm, GELU MLP 4x), final LayerNorm, linear
head on the class token. Exported with a dynamic batch, so the graph keeps the shape arithmetic
(Shape, Gather, Unsqueeze, Concat) that real ViT exports carry.

Data: Debian's dataset-fashion-mnist (installed with apt-get when missing), read as in
tools/train_fmnist.py. Deterministic: fixed seeds, deterministic algorithms, 2 threads.

    /usr/bin/python3 tools/train_vit.py          # defaults: --epochs 1 --seed 0
"""

import argparse
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_transformer as tt  # noqa: E402
import train_fmnist as fm  # noqa: E402

OPSET = 17


class TinyViT(nn.Module):
    def __init__(self, dim=64, layers=3, heads=4, patch=7):
        super().__init__()
        self.patch = nn.Conv2d(1, dim, patch, stride=patch)
        tokens = (28 // patch) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, tokens + 1, dim))
        nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList([tt.Block(dim, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)              # [N, 16, dim]
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x)[:, 0])


def train(model, x_train, y_train, epochs, seed, batch=128, lr=2e-3):
    gen = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    steps = (x_train.shape[0] + batch - 1) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs, steps_per_epoch=steps, pct_start=0.2)
    for ep in range(epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(x_train.shape[0], generator=gen)
        total = 0.0
        for i in range(0, x_train.shape[0], batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(fm.augment(x_train[idx], gen)), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * idx.numel()
        print(f"epoch {ep + 1}/{epochs}: loss {total / x_train.shape[0]:.4f} ({time.time() - t0:.0f} s)", flush=True)


def main():
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", default=repo_root)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    tt.seed_everything(args.seed)
    tt.ensure_debian_package("dataset-fashion-mnist", os.path.join(fm.DEFAULT_DATA_DIR, "t10k-labels-idx1-ubyte.gz"))

    tr_img, tr_lab = fm.load_split(fm.DEFAULT_DATA_DIR, "train")
    te_img, te_lab = fm.load_split(fm.DEFAULT_DATA_DIR, "t10k")
    x_train, y_train = torch.from_numpy(fm.preprocess(tr_img)), torch.from_numpy(tr_lab)
    x_test, y_test = torch.from_numpy(fm.preprocess(te_img)), torch.from_numpy(te_lab)
    model = TinyViT()
    print(f"parameters: {sum(p.numel() for p in model.parameters())}", flush=True)
    train(model, x_train, y_train, args.epochs, args.seed)
    model.eval()
    pred = fm.predict(model, x_test)
    acc = (pred == y_test).double().mean().item()
    acc_sub = (pred[:fm.N_TEST_SUBSET] == y_test[:fm.N_TEST_SUBSET]).double().mean().item()

    path = os.path.join(args.out_dir, "models", "vit_tiny.onnx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(model, x_test[:1], path, opset_version=OPSET, do_constant_folding=True,
                      training=torch.onnx.TrainingMode.EVAL, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    ops = tt.check_onnx(path)
    print(f"ONNX ops: {sorted(set(ops))} ({len(ops)} nodes)")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    print(f"FP32 test accuracy: full 10k {acc:.4f}  first {fm.N_TEST_SUBSET} (models/fmnist_test) {acc_sub:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
