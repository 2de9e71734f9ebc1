#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Train a small causal GPT-style character LM on Debian's fortunes and export it to ONNX opset 17.

Writes, relative to --out-dir (default: the repository root):

  models/<name>.onnx             FP32 model: input "ids" int64 [N,S] (S <= context), output "logits"
                                 float32 [N,S,96]; pre-LayerNorm blocks, GELU MLP, additive causal mask
  models/<name>_test/ids.npy     held-out sequences, int64 [K, context] (one data-folder sample, batch K)
  calibration/<name>/NNN/ids.npy calibration sequences from the training text, int64 [1, context]

Text: every fortune of Debian's `fortunes` package (/usr/share/games/fortunes, installed with apt-get
when missing), in file-name order; fortune i goes to the held-out set when i % 10 == 9, else to
training. Characters: byte 10 ('\n') -> id 0, printable ASCII 32..126 -> ids 1..95; tabs become
spaces, other bytes are dropped. Calibration windows come from the training text, test windows are
consecutive non-overlapping windows of the held-out text.

Architecture (tools/tiny_transformer.py): token embedding + learned positions, `--layers` pre-LN
blocks (LayerNorm, attention with `--heads` heads and a -1e4 causal mask, LayerNorm, MLP 4x with
GELU), final LayerNorm, linear head (no bias).

Presets: `--preset tiny` (default; the model the tests use, models/lm_tiny.onnx, ~0.5 MB),
`--preset bench` (the model tools/bench/lm_bench.py measures, written under ~/.cache/ptq/lm),
`--preset large` (dim 512, 6 blocks, briefly trained: the int4 latency rows, under ~/.cache/ptq/lm_large).
Deterministic: fixed seeds, deterministic algorithms, 2 threads; same torch build -> same bytes.

    /usr/bin/python3 tools/train_lm.py                       # tiny, into the repository
    /usr/bin/python3 tools/train_lm.py --preset bench        # bigger, into ~/.cache/ptq/lm
"""

import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_transformer as tt  # noqa: E402

FORTUNES = "/usr/share/games/fortunes"
VOCAB = 96
OPSET = 17
PRESETS = {
    "tiny":  dict(dim=64, layers=2, heads=4, context=64, steps=1000, batch=32, lr=3e-3, calib=64, test=32,
                  name="lm_tiny", out=None),
    "bench": dict(dim=96, layers=4, heads=4, context=64, steps=1500, batch=32, lr=2e-3, calib=128, test=512,
                  name="lm_bench", out=os.path.expanduser("~/.cache/ptq/lm")),
    # Where 4-bit weights pay in latency: 19M weights (76 MB FP32) no longer fit in cache. Briefly trained:
    # for latency and size, not for perplexity.
    "large": dict(dim=512, layers=6, heads=8, context=64, steps=100, batch=16, lr=1e-3, calib=32, test=64,
                  name="lm_large", out=os.path.expanduser("~/.cache/ptq/lm_large")),
}


def encode(text_bytes):
    """bytes -> int64 ids (see the module doc)."""
    b = np.frombuffer(text_bytes.replace(b"\t", b" "), dtype=np.uint8)
    keep = (b == 10) | ((b >= 32) & (b <= 126))
    b = b[keep].astype(np.int64)
    return np.where(b == 10, 0, b - 31)


def load_fortunes():
    tt.ensure_debian_package("fortunes", os.path.join(FORTUNES, "fortunes"))
    train, test = [], []
    index = 0
    for name in sorted(os.listdir(FORTUNES)):
        path = os.path.join(FORTUNES, name)
        if not os.path.isfile(path) or "." in name:   # skip .dat indexes and .u8 copies
            continue
        with open(path, "rb") as f:
            for fortune in f.read().split(b"\n%\n"):
                if fortune.strip():
                    (test if index % 10 == 9 else train).append(fortune.strip(b"\n") + b"\n%\n")
                    index += 1
    return encode(b"".join(train)), encode(b"".join(test))


class CharGPT(nn.Module):
    def __init__(self, dim, layers, heads, context):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dim)
        self.pos = nn.Parameter(torch.zeros(1, context, dim))
        nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList([tt.Block(dim, heads, causal_len=context) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, VOCAB, bias=False)

    def forward(self, ids):
        x = self.tok(ids) + self.pos[:, :ids.shape[1]]
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln_f(x))


def batches(stream, context, batch, gen):
    starts = torch.randint(0, len(stream) - context - 1, (batch,), generator=gen)
    x = torch.stack([torch.from_numpy(stream[s:s + context + 1]) for s in starts.tolist()])
    return x[:, :-1], x[:, 1:]


@torch.no_grad()
def perplexity(model, windows):
    model.eval()
    x = torch.from_numpy(windows)
    nll = F.cross_entropy(model(x[:, :-1]).reshape(-1, VOCAB), x[:, 1:].reshape(-1))
    return math.exp(nll.item())


def main():
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    ap.add_argument("--out-dir", help="root for models/ and calibration/ (default: repo root; bench: ~/.cache/ptq/lm)")
    ap.add_argument("--steps", type=int, help="training steps (default: the preset's)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    p = dict(PRESETS[args.preset])
    if args.steps:
        p["steps"] = args.steps
    out_dir = args.out_dir or p["out"] or repo_root
    tt.seed_everything(args.seed)

    t0 = time.time()
    train, test = load_fortunes()
    print(f"fortunes: {len(train)} training characters, {len(test)} held-out", flush=True)
    ctx = p["context"]
    model = CharGPT(p["dim"], p["layers"], p["heads"], ctx)
    print(f"parameters: {sum(q.numel() for q in model.parameters())}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=p["lr"], weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=p["lr"], total_steps=p["steps"], pct_start=0.1)
    gen = torch.Generator().manual_seed(args.seed + 1)
    model.train()
    for step in range(p["steps"]):
        x, y = batches(train, ctx, p["batch"], gen)
        loss = F.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if (step + 1) % 100 == 0:
            print(f"step {step + 1}/{p['steps']}: loss {loss.item():.4f} ({time.time() - t0:.0f} s)", flush=True)
    model.eval()

    # Held-out windows of context+1 characters: the model reads the first `ctx`, is scored on the next.
    n_test = min(p["test"], (len(test) - 1) // ctx)
    test_windows = np.stack([test[i * ctx:i * ctx + ctx + 1] for i in range(n_test)]).astype("<i8")
    rng = np.random.default_rng(args.seed)
    calib_starts = rng.choice(len(train) - ctx, p["calib"], replace=False)
    calib = [train[s:s + ctx][None, :].astype("<i8") for s in sorted(calib_starts)]

    models_dir = os.path.join(out_dir, "models")
    os.makedirs(models_dir, exist_ok=True)
    path = os.path.join(models_dir, p["name"] + ".onnx")
    torch.onnx.export(model, torch.from_numpy(calib[0]), path, opset_version=OPSET, do_constant_folding=True,
                      training=torch.onnx.TrainingMode.EVAL, input_names=["ids"], output_names=["logits"],
                      dynamic_axes={"ids": {0: "N", 1: "S"}, "logits": {0: "N", 1: "S"}})
    ops = tt.check_onnx(path)
    test_dir = os.path.join(models_dir, p["name"] + "_test")
    os.makedirs(test_dir, exist_ok=True)
    np.save(os.path.join(test_dir, "ids.npy"), np.ascontiguousarray(test_windows[:, :-1]))
    np.save(os.path.join(test_dir, "targets.npy"), np.ascontiguousarray(test_windows[:, 1:]))
    tt.write_samples(os.path.join(out_dir, "calibration", p["name"]), "ids", calib)

    print(f"ONNX ops: {sorted(set(ops))} ({len(ops)} nodes)")
    print(f"wrote {path} ({os.path.getsize(path)} bytes), {test_dir}/ids.npy {test_windows[:, :-1].shape}, "
          f"{len(calib)} calibration samples")
    print(f"FP32 held-out perplexity (per character): {perplexity(model, test_windows):.4f}  "
          f"({time.time() - t0:.0f} s, torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
