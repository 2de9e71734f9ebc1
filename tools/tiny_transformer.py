# SPDX-License-Identifier: Apache-2.0
"""Transformer pieces shared by tools/train_lm.py and tools/train_vit.py (PyTorch 1.13).

Pre-LayerNorm blocks written out by hand (no nn.MultiheadAttention, whose ONNX export is a maze of
shape arithmetic), so the exported graphs hold what every encoder/decoder export holds:
LayerNormalization (opset 17), MatMul + Add (nn.Linear on 3-D input), Reshape/Transpose of the heads,
the two activation MatMuls Q·Kᵀ and P·V, Div by √(head size), an optional additive causal mask
(-1e4 above the diagonal, sliced to the sequence length), Softmax, and GELU as PyTorch exports it
(x · 0.5 · (1 + Erf(x / √2))).
"""

import math
import os
import random
import subprocess
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MASK_VALUE = -1e4  # additive causal mask, as GPT-2 and BERT exports use


class Attention(nn.Module):
    def __init__(self, dim, heads, causal_len=0):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        if causal_len:
            mask = torch.triu(torch.full((causal_len, causal_len), MASK_VALUE), diagonal=1)
            self.register_buffer("mask", mask, persistent=True)
        else:
            self.mask = None

    def forward(self, x):
        n, t, c = x.shape
        hd = c // self.heads
        q, k, v = self.qkv(x).split(c, dim=2)
        q = q.reshape(n, t, self.heads, hd).transpose(1, 2)   # [n, h, t, hd]
        k = k.reshape(n, t, self.heads, hd).transpose(1, 2)
        v = v.reshape(n, t, self.heads, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)       # [n, h, t, t]
        if self.mask is not None:
            att = att + self.mask[:t, :t]
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(n, t, c)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=4, causal_len=0):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, causal_len)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp_ratio * dim)
        self.fc2 = nn.Linear(mlp_ratio * dim, dim)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)


def ensure_debian_package(package, path):
    """Installs the Debian package that provides `path` when it is missing (apt-get, as root)."""
    if os.path.exists(path):
        return
    print(f"{path} is missing: installing Debian package {package}", file=sys.stderr)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", package], check=True, env=env)
    if not os.path.exists(path):
        raise SystemExit(f"{package} installed but {path} is still missing")


def check_onnx(path):
    """ONNX checker (full) and strict shape inference on the exported file; returns op types."""
    import onnx
    from onnx import shape_inference

    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    return [n.op_type for n in m.graph.node]


def write_samples(folder, name, arrays):
    """Writes a folder of sample folders 000/, 001/, ... each holding <name>.npy (one array each)."""
    import shutil

    if os.path.isdir(folder):
        for d in os.listdir(folder):
            if d.isdigit() and os.path.isdir(os.path.join(folder, d)):
                shutil.rmtree(os.path.join(folder, d))
    for i, a in enumerate(arrays):
        sd = os.path.join(folder, f"{i:03d}")
        os.makedirs(sd, exist_ok=True)
        np.save(os.path.join(sd, name + ".npy"), a)
