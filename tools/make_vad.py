#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Build a small voice-activity detector with Silero VAD's structure and export it to ONNX.

The model (models/vad_if_lstm.onnx, opset 13):
    inputs  "input" float32 [batch, samples] (one chunk: 512 samples at 16 kHz, 256 at 8 kHz, in [-1, 1]),
            "state" float32 [2, batch, 32] (LSTM h and c carried from the previous chunk, zeros at start),
            "sr" int64 [] (16000 or 8000; a 1-element array works too, as in ONNX Runtime)
    outputs "output" float32 [batch, 1] speech probability, "stateN" float32 [2, batch, 32]
    graph   Equal(sr, 16000) -> If: each branch (one per sample rate, weights inside the branch) is
            Pad -> STFT as Conv1d (fixed Hann-windowed cos/sin basis; 16 kHz: n_fft 128, hop 64; 8 kHz:
            n_fft 64, hop 32) -> magnitude (Mul, Add, Sqrt) -> Conv1d 3x3 + Relu -> Conv1d 3x3 stride 2
            + Relu -> LSTM (hidden 32, initial state from "state") -> Relu -> Linear -> Sigmoid, last frame.
Every Conv and the LSTM live inside the If branches, as in Silero VAD: a quantizer that ignores
subgraphs finds nothing to quantize.

Training (--train, default) on real speech from Debian's pocketsphinx-testdata (LibriVox "Sense and
Sensibility" sentences and the "cards" recordings, 16 kHz; LibriVox 0920/0930 held out for evaluation)
and espeak-ng sentences (resampled with sox), mixed with seeded synthetic noise (white, pink, brown,
mains hum, tones) at random SNRs, plus noise-only sequences. A chunk is labelled speech when the clean
speech's RMS in it is within 30 dB of the utterance's loud chunks. Sequences of 16 chunks are trained
with the state carried, so the model is meant to be run chunk after chunk, as Silero VAD is.
--untrained writes the same graph with seeded random weights (tests need no training).

Writes (relative to --out-dir, default: the repository root):
    models/vad_if_lstm.onnx
    calibration/vad/NNN/{input,state,sr}.npy    48 chunks of the training recordings (LibriVox, cards), 32 at
                                                16 kHz and 16 at 8 kHz, evenly spaced plus the loudest quarter,
                                                with the states the FP32 model reaches there; sr as a 1-element
                                                array
(tools/bench/vad_bench.py evaluates on the held-out LibriVox clips, read from the Debian package.)

Requires /usr/bin/python3 with python3-torch 1.13, python3-onnx, numpy; apt packages pocketsphinx-testdata,
espeak-ng and sox for --train. Deterministic for a seed on the same torch build (2 threads).
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import wave

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper

HIDDEN = 32
BRANCHES = {16000: dict(chunk=512, n_fft=128), 8000: dict(chunk=256, n_fft=64)}
SPEECH_DIR = "/usr/share/pocketsphinx/test/data"
HELD_OUT = ("0920", "0930")
SENTENCES = ["turn on the kitchen lights", "what is the weather like tomorrow", "set a timer for ten minutes",
             "the quick brown fox jumps over the lazy dog", "please call my sister after dinner",
             "how far is it to the nearest station", "remind me to buy milk and bread", "play some quiet music",
             "seven eight nine ten", "she sells sea shells by the sea shore"]


class Branch(nn.Module):
    def __init__(self, n_fft):
        super().__init__()
        bins = n_fft // 2
        n = np.arange(n_fft)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)
        k = np.arange(bins)[:, None]
        basis = np.concatenate([np.cos(2 * np.pi * k * n / n_fft), -np.sin(2 * np.pi * k * n / n_fft)]) * window
        self.n_fft, self.bins = n_fft, bins
        self.stft = nn.Conv1d(1, 2 * bins, n_fft, stride=n_fft // 2, bias=False)
        self.stft.weight.data = torch.tensor(basis[:, None, :], dtype=torch.float32)
        self.stft.weight.requires_grad_(False)
        self.enc1 = nn.Conv1d(bins, 32, 3, padding=1)
        self.enc2 = nn.Conv1d(32, 32, 3, stride=2, padding=1)
        self.lstm = nn.LSTM(32, HIDDEN)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x, state):
        s = self.stft(F.pad(x.unsqueeze(1), (self.n_fft // 2, self.n_fft // 2)))
        re, im = s[:, :self.bins], s[:, self.bins:]
        mag = torch.sqrt(re * re + im * im + 1e-8)
        h = F.relu(self.enc2(F.relu(self.enc1(mag))))
        y, (hn, cn) = self.lstm(h.permute(2, 0, 1), (state[0:1], state[1:2]))
        p = torch.sigmoid(self.head(F.relu(y[-1])))
        return p, torch.cat([hn, cn], 0)


# ---------------------------------------------------------------------------- audio
def read_wav(path):
    with wave.open(path) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
        rate = w.getframerate()
        a = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    if rate != 16000:
        raise SystemExit(f"{path}: {rate} Hz, expected 16000")
    return a


def espeak(text, voice, speed):
    with tempfile.TemporaryDirectory() as d:
        raw, out = os.path.join(d, "a.wav"), os.path.join(d, "b.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", raw, text], check=True)
        subprocess.run(["sox", raw, "-r", "16000", "-b", "16", out], check=True)
        return read_wav(out)


def to_8k(a):
    taps = np.sinc(np.arange(-31, 32) / 2) / 2 * np.hamming(63)
    return np.convolve(a, taps / taps.sum(), mode="same")[::2].astype(np.float32)


def noise(kind, n, rng, rate):
    t = np.arange(n) / rate
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":
        f = np.fft.rfftfreq(n)
        spec = (rng.standard_normal(f.size) + 1j * rng.standard_normal(f.size)) / np.sqrt(np.maximum(f, 1 / n))
        x = np.fft.irfft(spec, n)
    elif kind == "brown":
        x = np.cumsum(rng.standard_normal(n))
        x -= np.convolve(x, np.ones(401) / 401, mode="same")
    elif kind == "hum":
        base = rng.choice([50.0, 60.0])
        x = sum(np.sin(2 * np.pi * base * h * t + rng.uniform(0, 6)) / h for h in range(1, 8))
    else:  # tones
        x = sum(np.sin(2 * np.pi * rng.uniform(200, 3000) * t) for _ in range(3))
    x = x / (np.sqrt(np.mean(x * x)) + 1e-9)
    return x.astype(np.float32)


def chunk_labels(clean, chunk):
    n = len(clean) // chunk
    rms = np.sqrt(np.mean(clean[:n * chunk].reshape(n, chunk) ** 2, axis=1) + 1e-12)
    loud = np.percentile(rms, 90) if n else 1.0
    return (20 * np.log10(rms / loud) > -30).astype(np.float32)


def make_sequences(utterances, rate, rng, count, steps=16):
    chunk = BRANCHES[rate]["chunk"]
    xs, ys = [], []
    kinds = ["white", "pink", "brown", "hum", "tones"]
    for _ in range(count):
        n = steps * chunk
        if rng.uniform() < 0.25:  # noise (or silence) only
            x = noise(rng.choice(kinds), n, rng, rate) * 10 ** rng.uniform(-4, -1)
            y = np.zeros(steps, np.float32)
        else:
            u = utterances[rng.integers(len(utterances))]
            u = u if rate == 16000 else to_8k(u)
            pad = np.zeros(n, np.float32)
            u = np.concatenate([pad[:rng.integers(0, n // 2)], u, pad])
            start = rng.integers(0, max(1, len(u) - n))
            clean = u[start:start + n] * 10 ** rng.uniform(-1, 0.3)
            y = chunk_labels(np.concatenate([u[:start], clean]), chunk)[-steps:]
            snr = rng.uniform(0, 30)
            level = np.sqrt(np.mean(clean ** 2) + 1e-12)
            x = clean + noise(rng.choice(kinds), n, rng, rate) * level * 10 ** (-snr / 20)
        xs.append(np.clip(x, -1, 1).reshape(steps, chunk))
        ys.append(y)
    return torch.tensor(np.stack(xs)), torch.tensor(np.stack(ys))


def train_branch(branch, utterances, rate, rng, epochs):
    opt = torch.optim.Adam([p for p in branch.parameters() if p.requires_grad], lr=3e-3)
    for epoch in range(epochs):
        x, y = make_sequences(utterances, rate, rng, 256)
        total = 0.0
        for i in range(0, x.shape[0], 32):
            xb, yb = x[i:i + 32], y[i:i + 32]
            state = torch.zeros(2, xb.shape[0], HIDDEN)
            loss = 0.0
            for t in range(xb.shape[1]):
                p, state = branch(xb[:, t], state)
                loss = loss + F.binary_cross_entropy(p[:, 0], yb[:, t])
            opt.zero_grad()
            (loss / xb.shape[1]).backward()
            opt.step()
            total += loss.item() / xb.shape[1]
        print(f"{rate} Hz epoch {epoch + 1}/{epochs}: loss {total / (x.shape[0] / 32):.4f}", flush=True)


# ---------------------------------------------------------------------------- ONNX
def export_branch(branch, rate, prefix):
    """The branch as a GraphProto reading the outer 'input' and 'state', names prefixed."""
    branch.eval()
    chunk = BRANCHES[rate]["chunk"]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "b.onnx")
        torch.onnx.export(branch, (torch.zeros(1, chunk), torch.zeros(2, 1, HIDDEN)), path, opset_version=13,
                          input_names=["input", "state"], output_names=["output", "stateN"],
                          dynamic_axes={"input": {0: "batch", 1: "samples"}, "state": {1: "batch"}},
                          do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
        g = onnx.load(path).graph
    outer = {"input", "state"}
    ren = lambda n: n if (not n or n in outer) else prefix + n  # noqa: E731
    for node in g.node:
        node.name = prefix + (node.name or node.op_type)
        node.input[:] = [ren(n) for n in node.input]
        node.output[:] = [ren(n) for n in node.output]
    for t in g.initializer:
        t.name = ren(t.name)
    for v in list(g.value_info) + list(g.output):
        v.name = ren(v.name)
    body = helper.make_graph(list(g.node), prefix + "graph", [], list(g.output), list(g.initializer))
    body.value_info.extend(g.value_info)
    return body


def build_model(branches):
    then_g = export_branch(branches[16000], 16000, "b16k_")
    else_g = export_branch(branches[8000], 8000, "b8k_")
    nodes = [
        helper.make_node("Constant", [], ["sr16k"], value=helper.make_tensor("v", TensorProto.INT64, [], [16000])),
        helper.make_node("Equal", ["sr", "sr16k"], ["is16k"], name="is16k"),
        helper.make_node("If", ["is16k"], ["output", "stateN"], name="rate_switch", then_branch=then_g, else_branch=else_g),
    ]
    graph = helper.make_graph(
        nodes, "vad_if_lstm",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", "samples"]),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "batch", HIDDEN]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1]),
         helper.make_tensor_value_info("stateN", TensorProto.FLOAT, [2, "batch", HIDDEN])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="ptq tools/make_vad.py")
    model.ir_version = 7
    onnx.checker.check_model(model, full_check=True)
    return model


def stream(branch, audio, rate):
    """Speech probability and state before each chunk, running the chunks in order."""
    chunk = BRANCHES[rate]["chunk"]
    state = torch.zeros(2, 1, HIDDEN)
    probs, states, chunks = [], [], []
    with torch.no_grad():
        for i in range(len(audio) // chunk):
            x = torch.tensor(audio[i * chunk:(i + 1) * chunk])[None]
            states.append(state.numpy().copy())
            chunks.append(x.numpy().copy())
            p, state = branch(x, state)
            probs.append(float(p))
    return np.array(probs), states, chunks


def main():
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", default=repo_root)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--untrained", action="store_true", help="seeded random weights, no training, no data files")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    rng = np.random.default_rng(args.seed)
    branches = {rate: Branch(cfg["n_fft"]) for rate, cfg in BRANCHES.items()}
    name = "vad_if_lstm_untrained.onnx" if args.untrained else "vad_if_lstm.onnx"
    if not args.untrained:
        wavs = sorted(glob.glob(f"{SPEECH_DIR}/librivox/*.wav")) + sorted(glob.glob(f"{SPEECH_DIR}/cards/*.wav"))
        if not wavs:
            raise SystemExit(f"no speech under {SPEECH_DIR}: apt-get install pocketsphinx-testdata espeak-ng sox")
        held = [w for w in wavs if any(h in w for h in HELD_OUT)]
        train_speech = [read_wav(w) for w in wavs if w not in held]
        for i, s in enumerate(SENTENCES):
            train_speech.append(espeak(s, ["en", "en-us", "en+f3", "en+m3"][i % 4], 140 + 10 * (i % 5)))
        for rate, branch in branches.items():
            train_branch(branch, train_speech, rate, rng, args.epochs)
        held_audio = np.concatenate([read_wav(w) for w in held])
        calib_dir = os.path.join(args.out_dir, "calibration", "vad")
        train_audio = np.concatenate(train_speech[:8])  # LibriVox and cards: real recordings, up to full scale
        k = 0
        for rate, count in ((16000, 32), (8000, 16)):
            audio = train_audio if rate == 16000 else to_8k(train_audio)
            probs, states, chunks = stream(branches[rate], audio, rate)
            # evenly spaced chunks, and the loudest ones (so the ranges cover loud speech)
            loud = np.argsort([-np.abs(c).max() for c in chunks])[:count // 4]
            even = np.linspace(0, len(chunks) - 1, count - count // 4).astype(int)
            for i in sorted(set(even.tolist()) | set(loud.tolist()))[:count]:
                d = os.path.join(calib_dir, f"{k:03d}")
                os.makedirs(d, exist_ok=True)
                np.save(os.path.join(d, "input.npy"), chunks[i])
                np.save(os.path.join(d, "state.npy"), states[i])
                np.save(os.path.join(d, "sr.npy"), np.array([rate], np.int64))
                k += 1
            p_eval, _, _ = stream(branches[rate], held_audio if rate == 16000 else to_8k(held_audio), rate)
            print(f"{rate} Hz held-out chunks: {len(p_eval)}, speech (p > 0.5): {np.mean(p_eval > 0.5):.2f}")
    model = build_model(branches)
    path = os.path.join(args.out_dir, "models", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
