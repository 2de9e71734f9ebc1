#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes models/qat_cnn.onnx: a PyTorch quantization-aware-training export, the form QAT models reach
ptq in. A small CNN (Conv-Relu, Conv-Relu, MaxPool, Flatten, Linear, Linear head) is prepared with
torch.ao.quantization.prepare_qat (fbgemm's scheme: per-channel symmetric int8 weights, uint8
activations), its observers see the first 64 calibration/fmnist samples, fake quantization is frozen,
and torch.onnx.export writes every FakeQuantize as QuantizeLinear -> DequantizeLinear (opset 13):
around float weights (the initializers stay float) and around activations. The head Linear is left
without fake quantization (qconfig None), a float node `--calib` can quantize.
Run with Debian's python3 (torch 1.13): /usr/bin/python3 tools/make_qat.py [OUT]."""
import os
import sys

import numpy as np
import torch
import torch.ao.quantization as tq

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = tq.QuantStub()
        self.conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.relu1 = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.relu2 = torch.nn.ReLU()
        self.pool = torch.nn.MaxPool2d(2)
        self.fc1 = torch.nn.Linear(8 * 7 * 7, 32)
        self.dequant = tq.DeQuantStub()
        self.head = torch.nn.Linear(32, 10)

    def forward(self, x):
        x = self.quant(x)
        x = self.relu1(self.conv1(x))
        x = self.relu2(self.conv2(x))
        x = self.pool(x).flatten(1)
        x = self.dequant(self.fc1(x))
        return self.head(x)


# fbgemm's QAT qconfig without the fused observer+fake-quant op, which torch.onnx cannot export.
QCONFIG = tq.QConfig(
    activation=tq.FakeQuantize.with_args(observer=tq.MovingAverageMinMaxObserver, quant_min=0, quant_max=255,
                                         dtype=torch.quint8),
    weight=tq.FakeQuantize.with_args(observer=tq.MovingAveragePerChannelMinMaxObserver, quant_min=-128,
                                     quant_max=127, dtype=torch.qint8, qscheme=torch.per_channel_symmetric, ch_axis=0))


def samples(n):
    d = os.path.join(ROOT, "calibration", "fmnist")
    xs = [np.load(os.path.join(d, s, "input.npy")) for s in sorted(os.listdir(d))[:n]]
    return torch.from_numpy(np.concatenate(xs))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "qat_cnn.onnx")
    torch.manual_seed(0)
    net = Net().train()
    net.qconfig = QCONFIG
    net.head.qconfig = None
    tq.prepare_qat(net, inplace=True)
    with torch.no_grad():
        net(samples(64))  # observers see real inputs: activation and weight ranges
    net.apply(tq.disable_observer)
    net.eval()
    torch.onnx.export(net, samples(1), out, opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    print("wrote", out)


if __name__ == "__main__":
    main()
