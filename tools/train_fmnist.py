#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Train the small bundled Fashion-MNIST CNN and write ptq's default model and data.

This script produces, relative to --out-dir (default: the repository root):

  models/fmnist_cnn.onnx          FP32 model, ONNX opset 13, BatchNorm folded into the Convs,
                                  input "input" float32 [N,1,28,28] -> output "logits" float32 [N,10]
  models/fmnist_test/input.npy    first 1000 TEST images, preprocessed, float32 [1000,1,28,28]
  models/fmnist_test/labels.npy   their labels, int64 [1000]
  calibration/fmnist/NNN/input.npy  300 calibration samples (000 ... 299) from the TRAIN split,
                                  30 per class, seeded random choice, each float32 [1,1,28,28]

Preprocessing (the model expects it; the .npy files above are already preprocessed):
    x = uint8 grayscale image [28,28] -> float32
    x = x / 255
    x = (x - 0.2860) / 0.3530          # Fashion-MNIST train-split mean / std
    layout NCHW [1,1,28,28] (one channel)

Data: Debian's dataset-fashion-mnist package (MIT licence, Fashion-MNIST by Zalando Research),
read from /usr/share/datasets/fashion-mnist/*.gz (idx format); nothing is downloaded.

Requirements: Debian 12 python3-torch (1.13), python3-onnx (1.12), python3-numpy. Run with the
system interpreter, e.g.

    /usr/bin/python3 tools/train_fmnist.py                 # defaults: --epochs 6 --seed 0
    /usr/bin/python3 tools/train_fmnist.py --out-dir /tmp/fm --epochs 1

The run is deterministic for a given --seed/--epochs on the same torch build (fixed seeds,
deterministic algorithms, 2 threads). It prints the FP32 test accuracy (full 10k test split and
the bundled 1000-image subset) at the end.
"""

import argparse
import gzip
import os
import random
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = 0.2860
STD = 0.3530
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
N_CALIB_PER_CLASS = 30   # 10 classes x 30 = 300 calibration samples
N_TEST_SUBSET = 1000
OPSET = 13


# ---------------------------------------------------------------------------- data
def read_idx(path):
    """Read a gzip'ed idx file (ubyte images idx3 or labels idx1) into a uint8 numpy array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte
        raise ValueError(f"{path}: unsupported idx magic {magic:#x}")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims).copy()


def load_split(data_dir, split):
    images = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz"))
    assert images.shape[1:] == (28, 28) and images.shape[0] == labels.shape[0]
    return images, labels.astype(np.int64)


def preprocess(images_u8):
    """uint8 [N,28,28] -> float32 [N,1,28,28]: x/255, then (x - 0.2860) / 0.3530 (float32 math)."""
    x = images_u8.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return np.ascontiguousarray(x[:, None, :, :], dtype="<f4")


# ---------------------------------------------------------------------------- model
class ResidualBlock(nn.Module):
    """Basic block: Conv3x3+BN+ReLU, Conv3x3+BN, Add(identity), ReLU."""

    def __init__(self, ch):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(x + y)


class FmnistCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.res = ResidualBlock(32)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 3 * 3, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))       # [N,16,28,28]
        x = F.max_pool2d(x, 2)                    # [N,16,14,14]
        x = F.relu(self.bn2(self.conv2(x)))       # [N,32,14,14]
        x = self.res(x)                           # [N,32,14,14]
        x = F.max_pool2d(x, 2)                    # [N,32,7,7]
        x = F.relu(self.conv3(x))                 # [N,64,7,7]
        x = F.max_pool2d(x, 2)                    # [N,64,3,3]
        x = torch.flatten(x, 1)                   # [N,576]   (Flatten)
        x = F.relu(self.fc1(x))                   # [N,64]
        return self.fc2(x)                        # [N,10] logits


# ---------------------------------------------------------------------------- training
def augment(x, gen, pad=1):
    """Random horizontal flip and random translation by up to `pad` pixels (background fill)."""
    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    bg = (0.0 - MEAN) / STD
    xp = F.pad(x, (pad, pad, pad, pad), value=bg)
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    ar = torch.arange(28)
    rows = (oy[:, None] + ar)[:, :, None]        # [n,28,1]
    cols = (ox[:, None] + ar)[:, None, :]        # [n,1,28]
    return xp[torch.arange(n)[:, None, None], 0, rows, cols].unsqueeze(1)


@torch.no_grad()
def predict(model, x, batch=1000):
    model.eval()
    out = [model(x[i:i + batch]).argmax(1) for i in range(0, x.shape[0], batch)]
    return torch.cat(out)


def train(model, x_train, y_train, epochs, seed, batch=128, lr=2e-3):
    gen = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = (x_train.shape[0] + batch - 1) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs,
                                                steps_per_epoch=steps_per_epoch, pct_start=0.2)
    for ep in range(epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(x_train.shape[0], generator=gen)
        tot_loss, correct = 0.0, 0
        for i in range(0, x_train.shape[0], batch):
            idx = perm[i:i + batch]
            xb = augment(x_train[idx], gen)
            yb = y_train[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot_loss += loss.item() * idx.numel()
            correct += (logits.argmax(1) == yb).sum().item()
        n = x_train.shape[0]
        print(f"epoch {ep + 1}/{epochs}: loss {tot_loss / n:.4f}  train acc {correct / n:.4f}  "
              f"({time.time() - t0:.1f}s)", flush=True)


# ---------------------------------------------------------------------------- export
def rename_folded_initializers(m):
    """Give the Conv+BN-folded initializers (exported as "onnx::Conv_NN") readable names derived from
    the consuming node, e.g. node "/res/conv1/Conv" -> "res.conv1.weight" / "res.conv1.bias"."""
    inits = {i.name: i for i in m.graph.initializer}
    users = {}
    for n in m.graph.node:
        for name in n.input:
            users[name] = users.get(name, 0) + 1
    taken = set(inits) | {v.name for v in m.graph.input} | {o for n in m.graph.node for o in n.output}
    for n in m.graph.node:
        for slot, suffix in ((1, "weight"), (2, "bias")):
            if slot >= len(n.input):
                continue
            old = n.input[slot]
            if not old.startswith("onnx::") or old not in inits or users[old] != 1:
                continue
            new = n.name.strip("/").rsplit("/", 1)[0].replace("/", ".") + "." + suffix
            if new in taken:
                continue
            inits[old].name = new
            n.input[slot] = new
            taken.add(new)


def export_onnx(model, path):
    import onnx
    from onnx import shape_inference

    model.eval()
    dummy = torch.zeros(1, 1, 28, 28, dtype=torch.float32)
    torch.onnx.export(
        model, dummy, path,
        export_params=True,
        opset_version=OPSET,
        do_constant_folding=True,
        training=torch.onnx.TrainingMode.EVAL,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        keep_initializers_as_inputs=False,
    )
    m = onnx.load(path)
    ops = [n.op_type for n in m.graph.node]
    if "BatchNormalization" in ops:
        raise RuntimeError("BatchNormalization was not folded into the Convs")
    rename_folded_initializers(m)
    m.doc_string = ("Small Fashion-MNIST CNN (ptq default model), trained by tools/train_fmnist.py. "
                    "Input: x/255, (x-0.2860)/0.3530, NCHW [N,1,28,28] float32. "
                    "Output: logits [N,10], classes " + ", ".join(CLASSES) + ".")
    onnx.checker.check_model(m, full_check=True)
    inferred = shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    onnx.checker.check_model(inferred)
    onnx.save(m, path)
    return ops, inferred


def describe_io(inferred):
    def fmt(vi):
        dims = [d.dim_param if d.HasField("dim_param") else d.dim_value
                for d in vi.type.tensor_type.shape.dim]
        return f"{vi.name} {dims}"
    return ([fmt(v) for v in inferred.graph.input], [fmt(v) for v in inferred.graph.output])


# ---------------------------------------------------------------------------- main
def main():
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=repo_root,
                    help="root under which models/ and calibration/ are written (default: repo root)")
    ap.add_argument("--epochs", type=int, default=6, help="training epochs (default: 6)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    ap.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                    help=f"directory with the Fashion-MNIST idx .gz files (default: {DEFAULT_DATA_DIR})")
    args = ap.parse_args()

    # determinism
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)

    t_start = time.time()
    tr_img, tr_lab = load_split(args.data_dir, "train")
    te_img, te_lab = load_split(args.data_dir, "t10k")
    x_train = torch.from_numpy(preprocess(tr_img))
    y_train = torch.from_numpy(tr_lab)
    x_test_np = preprocess(te_img)
    x_test = torch.from_numpy(x_test_np)
    y_test = torch.from_numpy(te_lab)
    print(f"train {tuple(x_train.shape)}  test {tuple(x_test.shape)}  "
          f"train mean/std after preprocessing {x_train.mean():.4f}/{x_train.std():.4f}")

    model = FmnistCNN()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model parameters: {n_params}")
    t_train = time.time()
    train(model, x_train, y_train, args.epochs, args.seed)
    train_secs = time.time() - t_train
    model.eval()

    pred = predict(model, x_test)
    acc_full = (pred == y_test).double().mean().item()
    acc_sub = (pred[:N_TEST_SUBSET] == y_test[:N_TEST_SUBSET]).double().mean().item()

    # --- outputs
    models_dir = os.path.join(args.out_dir, "models")
    os.makedirs(models_dir, exist_ok=True)
    onnx_path = os.path.join(models_dir, "fmnist_cnn.onnx")
    ops, inferred = export_onnx(model, onnx_path)
    ins, outs = describe_io(inferred)

    test_dir = os.path.join(models_dir, "fmnist_test")
    os.makedirs(test_dir, exist_ok=True)
    np.save(os.path.join(test_dir, "input.npy"), x_test_np[:N_TEST_SUBSET])
    np.save(os.path.join(test_dir, "labels.npy"), te_lab[:N_TEST_SUBSET].astype("<i8"))

    # calibration: 30 per class from TRAIN, seeded, class-balanced; order shuffled (seeded)
    rng = np.random.default_rng(args.seed)
    chosen = np.concatenate([rng.choice(np.flatnonzero(tr_lab == c), N_CALIB_PER_CLASS, replace=False)
                             for c in range(len(CLASSES))])
    chosen = chosen[rng.permutation(chosen.size)]
    calib_dir = os.path.join(args.out_dir, "calibration", "fmnist")
    if os.path.isdir(calib_dir):  # re-runnable: drop our old sample folders only
        for d in os.listdir(calib_dir):
            if d.isdigit() and os.path.isdir(os.path.join(calib_dir, d)):
                shutil.rmtree(os.path.join(calib_dir, d))
    x_calib = preprocess(tr_img[chosen])
    for i in range(chosen.size):
        sd = os.path.join(calib_dir, f"{i:03d}")
        os.makedirs(sd, exist_ok=True)
        np.save(os.path.join(sd, "input.npy"), x_calib[i:i + 1])

    print(f"ONNX ops: {sorted(set(ops))} ({len(ops)} nodes)")
    print(f"ONNX io:  inputs {ins}  outputs {outs}")
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes)")
    print(f"wrote {test_dir}/input.npy, labels.npy ({N_TEST_SUBSET} test images)")
    print(f"wrote {calib_dir}/000..{chosen.size - 1:03d}/input.npy "
          f"(train indices, per class {np.bincount(tr_lab[chosen], minlength=10).tolist()})")
    print(f"training time: {train_secs:.1f}s  total: {time.time() - t_start:.1f}s  "
          f"(epochs {args.epochs}, seed {args.seed}, torch {torch.__version__})")
    print(f"FP32 test accuracy: full 10k {acc_full:.4f}  first {N_TEST_SUBSET} (models/fmnist_test) {acc_sub:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
