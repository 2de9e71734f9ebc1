#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Quantize the bundled recurrent models with ptq and measure them in ONNX Runtime.

  /usr/bin/python3 tools/bench/recurrent_bench.py [--quantize build/tools/quantize/quantize]

- models/vad_if_lstm.onnx (Silero-VAD-like: Conv and LSTM layers inside If branches, tools/make_vad.py):
  quantized (static with calibration/vad; dynamic Q/DQ; dynamic integer), then both models stream the
  held-out LibriVox sentences of Debian's pocketsphinx-testdata (0920, 0930) chunk by chunk in ONNX
  Runtime, each carrying its own state (tools/bench/vad_stream.js), at 16 and 8 kHz. Reports the size
  ratio, max and mean |p_quantized - p_fp32| over the chunks, and how many speech decisions (p > 0.5)
  differ.
- models/fmnist_gru.onnx (tools/train_fmnist_gru.py): quantized (static with calibration/fmnist,
  dynamic), evaluated in ONNX Runtime on the full Fashion-MNIST test split (Debian
  dataset-fashion-mnist): top-1 of both, size ratio.
"""

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import wave

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(ROOT, "tools", "ort", "run_model.js")
STREAM = os.path.join(ROOT, "tools", "bench", "vad_stream.js")
WAVS = ["/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0920.wav",
        "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0930.wav"]
CONFIGS = {"static": [], "dynamic": ["--mode", "dynamic"], "dynamic-integer": ["--mode", "dynamic", "--dynamic-format", "integer"]}


def quantize(exe, model, out, extra):
    subprocess.run([exe, model, "-o", out, "-q"] + extra, check=True)
    return os.path.getsize(out) / os.path.getsize(model)


def read_wav(path):
    with wave.open(path) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768


def to_8k(a):
    taps = np.sinc(np.arange(-31, 32) / 2) / 2 * np.hamming(63)
    return np.convolve(a, taps / taps.sum(), mode="same")[::2].astype(np.float32)


def vad(exe, tmp):
    model = os.path.join(ROOT, "models", "vad_if_lstm.onnx")
    audio = np.concatenate([read_wav(w) for w in WAVS])
    streams = {16000: (audio, 512), 8000: (to_8k(audio), 256)}
    probs = {}
    for rate, (a, chunk) in streams.items():
        np.save(os.path.join(tmp, f"a{rate}.npy"), a)
    def stream(m, rate):
        out = os.path.join(tmp, "p.npy")
        subprocess.run(["node", STREAM, m, os.path.join(tmp, f"a{rate}.npy"), str(rate), str(streams[rate][1]), out], check=True)
        return np.load(out)
    for rate in streams:
        probs[("fp32", rate)] = stream(model, rate)
    print(f"vad_if_lstm: held-out LibriVox, {len(probs[('fp32', 16000)])} chunks at 16 kHz, "
          f"speech (p > 0.5) in {np.mean(probs[('fp32', 16000)] > 0.5):.0%}")
    print(f"  {'mode':<16} {'size':>7} {'rate':>6} {'max|dp|':>9} {'mean|dp|':>9} {'decisions changed':>18}")
    for name, extra in CONFIGS.items():
        q = os.path.join(tmp, f"vad_{name}.onnx")
        calib = ["--calib", os.path.join(ROOT, "calibration", "vad")] if name == "static" else []
        ratio = quantize(exe, model, q, calib + extra)
        for rate in streams:
            p, f = stream(q, rate), probs[("fp32", rate)]
            d = np.abs(p - f)
            print(f"  {name:<16} {ratio:>6.3f}x {rate:>6} {d.max():>9.4f} {d.mean():>9.4f} "
                  f"{int(np.sum((p > 0.5) != (f > 0.5))):>10} of {len(f)}")


def gru(exe, tmp):
    model = os.path.join(ROOT, "models", "fmnist_gru.onnx")
    d = "/usr/share/datasets/fashion-mnist"
    with gzip.open(f"{d}/t10k-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{d}/t10k-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    os.makedirs(os.path.join(tmp, "fm"), exist_ok=True)
    np.save(os.path.join(tmp, "fm", "input.npy"), ((x / 255.0 - 0.2860) / 0.3530).astype(np.float32))
    def top1(m):
        subprocess.run(["node", RUN, m, "--inputs", os.path.join(tmp, "fm"), "--outputs", os.path.join(tmp, "fo")],
                       check=True, stdout=subprocess.DEVNULL)
        return 100 * np.mean(np.load(os.path.join(tmp, "fo", "logits.npy")).argmax(1) == y)
    base = top1(model)
    print(f"fmnist_gru: Fashion-MNIST test (10 000), FP32 top-1 {base:.2f} %")
    for name, extra in CONFIGS.items():
        q = os.path.join(tmp, f"gru_{name}.onnx")
        calib = ["--calib", os.path.join(ROOT, "calibration", "fmnist")] if name == "static" else []
        ratio = quantize(exe, model, q, calib + extra)
        acc = top1(q)
        print(f"  {name:<16} size {ratio:.3f}x  top-1 {acc:.2f} % ({acc - base:+.2f} points)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quantize", default=os.path.join(ROOT, "build", "tools", "quantize", "quantize"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        vad(args.quantize, tmp)
        gru(args.quantize, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
