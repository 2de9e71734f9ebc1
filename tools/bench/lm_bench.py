#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Language-model benchmark: quantizes the causal character LM of tools/train_lm.py in each variant of
VARIANTS and measures, in ONNX Runtime (the independent oracle), the perplexity and bits per character
on held-out text, the ratio to FP32, the file size and the latency (1 thread, one sequence): FP32, int8
dynamic and static (± SmoothQuant), weight-only int4 blocks (RTN, GPTQ, AWQ; blocks of 32 and 128; symmetric
and, `_asym`, with --asymmetric-weights).

    /usr/bin/python3 tools/train_lm.py --preset bench       # once (else the bundled models/lm_tiny.onnx)
    /usr/bin/python3 tools/bench/lm_bench.py [--model M.onnx --calib DIR --test DIR] [--variants a,b] [--json F]

Token ids come through the usual data readers: the calibration folder holds NNN/ids.npy (int64
[1, context]); the test folder holds ids.npy (int64 [K, context], the model's inputs) and targets.npy
(the next characters). Needs build/tools/quantize and tools/ort (tools/ort/install.sh).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUANTIZE = os.environ.get('PTQ_QUANTIZE', os.path.join(ROOT, 'build', 'tools', 'quantize'))
ORT_RUN = os.path.join(ROOT, 'tools', 'ort', 'run_model.js')
BENCH = os.path.expanduser('~/.cache/ptq/lm')

# name -> quantize options (None: the FP32 model itself).
INT4 = ['--mode', 'dynamic', '--weight-type', 'int4']
VARIANTS = {
    'fp32': None,
    'int8_dynamic': ['--mode', 'dynamic'],
    'int8_static': ['--calib', '{calib}'],
    'int8_static_sq': ['--calib', '{calib}', '--smooth-quant'],
}
for _block in ('32', '128'):
    VARIANTS['int4_rtn_b' + _block] = INT4 + ['--block-size', _block]
    VARIANTS['int4_gptq_b' + _block] = INT4 + ['--block-size', _block, '--weight-method', 'gptq', '--calib', '{calib}']
    VARIANTS['int4_awq_b' + _block] = INT4 + ['--block-size', _block, '--weight-method', 'awq', '--calib', '{calib}']
for _v in ('int4_rtn_b32', 'int4_gptq_b32', 'int4_awq_b32', 'int4_rtn_b128', 'int4_gptq_b128', 'int4_awq_b128'):
    VARIANTS[_v + '_asym'] = VARIANTS[_v] + ['--asymmetric-weights']
VARIANTS['int4_gptq_b32_act'] = VARIANTS['int4_gptq_b32'] + ['--act-order']
VARIANTS['int4_gptq_b32_nbits'] = VARIANTS['int4_gptq_b32'] + ['--int4-format', 'matmulnbits']


def default_paths():
    """The bench model when tools/train_lm.py --preset bench made it, else the bundled tiny one."""
    if os.path.exists(os.path.join(BENCH, 'models', 'lm_bench.onnx')):
        return (os.path.join(BENCH, 'models', 'lm_bench.onnx'), os.path.join(BENCH, 'calibration', 'lm_bench'),
                os.path.join(BENCH, 'models', 'lm_bench_test'))
    return (os.path.join(ROOT, 'models', 'lm_tiny.onnx'), os.path.join(ROOT, 'calibration', 'lm_tiny'),
            os.path.join(ROOT, 'models', 'lm_tiny_test'))


def ort_run(model, inputs, out, repeat=0):
    """ONNX Runtime (1 thread, all optimizations): the outputs as arrays, and the mean ms of `repeat` runs."""
    cmd = ['node', ORT_RUN, model, '--inputs', inputs, '--outputs', out, '--threads', '1']
    if repeat:
        cmd += ['--repeat', str(repeat)]
    line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    meta = json.loads(line)
    return np.load(os.path.join(out, 'logits.npy')), meta.get('ms')


def perplexity(logits, targets):
    """exp(mean cross entropy) of the targets under the logits [K, S, V]."""
    z = logits.astype(np.float64)
    z -= z.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(logp, targets[..., None], axis=-1).mean()
    return math.exp(nll)


def main():
    model, calib, test = default_paths()
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--model', default=model)
    ap.add_argument('--calib', default=calib)
    ap.add_argument('--test', default=test)
    ap.add_argument('--variants', default=','.join(VARIANTS))
    ap.add_argument('--extra', default='', help='options added to every quantize run')
    ap.add_argument('--repeat', type=int, default=50, help='latency runs (one sequence, 1 thread)')
    ap.add_argument('--latency-input', help='a data folder for the latency runs (default: the first calibration sequence)')
    ap.add_argument('--json', help='write the results here')
    args = ap.parse_args()
    targets = np.load(os.path.join(args.test, 'targets.npy'))
    first = args.latency_input or os.path.join(args.calib, sorted(os.listdir(args.calib))[0])  # one sequence, for the latency
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.variants.split(','):
            opts = VARIANTS[name]
            path = args.model
            if opts is not None:
                path = os.path.join(tmp, name + '.onnx')
                cmd = [QUANTIZE, args.model, '-o', path, '-q'] + [o.format(calib=args.calib) for o in opts] + args.extra.split()
                subprocess.run(cmd, check=True)
            logits, _ = ort_run(path, args.test, os.path.join(tmp, name + '_out'))
            _, ms = ort_run(path, first, os.path.join(tmp, name + '_lat'), args.repeat)
            rows.append(dict(variant=name, ppl=perplexity(logits, targets), bytes=os.path.getsize(path), ms=ms))
            print(f'{name}: perplexity {rows[-1]["ppl"]:.4f}', file=sys.stderr, flush=True)
    base = rows[0] if rows[0]['variant'] == 'fp32' else None
    print(f'model {args.model}; {targets.size} held-out characters ({targets.shape[0]} sequences of {targets.shape[1]})')
    print('| variant | perplexity | ratio to FP32 | bits/char | size KB | size ratio | ORT ms (1 thread) |')
    print('|---|---|---|---|---|---|---|')
    for r in rows:
        ratio = r['ppl'] / base['ppl'] if base else float('nan')
        size = r['bytes'] / base['bytes'] if base else float('nan')
        print(f"| {r['variant']} | {r['ppl']:.4f} | {ratio:.4f}x | {math.log2(r['ppl']):.4f} | {r['bytes'] / 1024:.1f} | "
              f"{size:.3f}x | {r['ms']:.3f} |")
    if args.json:
        json.dump(rows, open(args.json, 'w'), indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
