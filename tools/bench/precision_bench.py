#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Tolerance-driven precision benchmark: for each model, a plain `quantize` and `quantize --target-cosine C`
side by side, both judged by ONNX Runtime (the independent oracle) on held-out samples:
  - the worst output cosine against ONNX Runtime's FP32 outputs (plain and searched);
  - the share of Conv/Gemm/MatMul MACs left in 8 bits (ptq's report) and the layers promoted;
  - ONNX Runtime latency (1 thread, the least of 3 x 30 runs taken in turn) of the searched model against
    FP32 and the plain model, and the integer kernels it runs;
  - the wall time of the search run against the plain run.

    /usr/bin/python3 tools/bench/corpus_sets.py          # once: builds ~/.cache/ptq-bench
    /usr/bin/python3 tools/bench/precision_bench.py [--models yolox_nano,ppocr_det,oww_melspec] [--target 0.99]

Needs build/tools/quantize, node + onnxruntime-node (tools/ort or $ORT_NODE_DIR) and ../shared/corpus."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import accuracy as acc  # noqa: E402  (the corpus table, ONNX Runtime helpers)

DEFAULT_MODELS = 'yolox_nano,ppocr_det,oww_melspec'
# Models whose corpus set has no separate evaluation folder hold out this many calibration samples.
HOLDOUT = 3


def worst_cosine(a, b):
    w = 1.0
    for k in a:
        x, y = a[k].ravel().astype(np.float64), b[k].ravel().astype(np.float64)
        w = min(w, float(x @ y / np.sqrt((x @ x) * (y @ y))))
    return w


def eval_set(spec, tmp, name):
    """The held-out samples as a folder of sample folders: the corpus eval set, or the last HOLDOUT
    calibration samples (linked) when the set has none."""
    if spec.get('eval'):
        return spec['eval'], []
    calib = spec['calib']
    samples = sorted(d for d in os.listdir(calib) if os.path.isdir(os.path.join(calib, d)))
    held = os.path.join(tmp, name + '_heldout')
    os.makedirs(held, exist_ok=True)
    for d in samples[-HOLDOUT:]:
        os.symlink(os.path.join(calib, d), os.path.join(held, d))
    return held, ['--eval-samples', str(HOLDOUT)]


def latencies(models, calib, tmp, rounds=3):
    """ONNX Runtime latency of each model (1 thread): the least of `rounds` x 30 runs, the models taken
    in turn each round, so that load from other processes on a shared machine hits them alike."""
    best = [float('inf')] * len(models)
    for r in range(rounds):
        for i, m in enumerate(models):
            best[i] = min(best[i], acc.latency(m, calib, tmp, 'lat%d_%d' % (r, i), stat='min_ms'))
    return best


def quantize(model, calib, out, extra):
    t0 = time.time()
    p = subprocess.run([acc.QUANTIZE, model, '--calib', calib, '-o', out, '--json', '-q'] + extra, capture_output=True, text=True)
    secs = time.time() - t0
    if p.returncode not in (0, 3):
        raise RuntimeError(p.stderr.strip())
    return json.loads(p.stdout), secs, p.returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--models', default=DEFAULT_MODELS)
    ap.add_argument('--target', type=float, default=0.99)
    ap.add_argument('--extra', default='', help='more quantize options for both runs, e.g. "--method kl"')
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix='ptq_prec_')
    rows = []
    for name in args.models.split(','):
        spec = acc.MODELS[name]
        ev, holdout = eval_set(spec, tmp, name)
        espec = dict(spec, eval=ev)
        fp32 = acc.ort_eval(spec['model'], espec, tmp, name + '_fp32')
        eval_opts = holdout if holdout else ['--eval-data', ev]
        common = eval_opts + args.extra.split()
        plain_out, search_out = os.path.join(tmp, name + '_plain.onnx'), os.path.join(tmp, name + '_search.onnx')
        plain, plain_s, _ = quantize(spec['model'], spec['calib'], plain_out, common)
        found, search_s, code = quantize(spec['model'], spec['calib'], search_out, common + ['--target-cosine', str(args.target)])
        plain_cos = worst_cosine(fp32, acc.ort_eval(plain_out, espec, tmp, name + '_plain'))
        search_cos = worst_cosine(fp32, acc.ort_eval(search_out, espec, tmp, name + '_search'))
        p = found['precision']
        fp32_ms, plain_ms, search_ms = latencies([spec['model'], plain_out, search_out], spec['calib'], tmp)
        row = dict(model=name, plain_cosine=plain_cos, search_cosine=search_cos, met=p['met'], exit=code,
                   int8_mac_share=p['int8_mac_share'], promoted=len(p['layers']),
                   fallback=p['layers'][0]['precision'] if p['layers'] else '-', attempts=len(p['attempts']),
                   ort_ms=search_ms, fp32_ms=fp32_ms, plain_ms=plain_ms,
                   kernels=acc.fused(search_out, spec['calib'], tmp, name + '_search'), plain_s=plain_s, search_s=search_s)
        print(json.dumps(row), flush=True)
        rows.append(row)
    print('\n| model | cosine plain → searched (ORT) | met | promoted | int8 MACs | ORT ms searched / FP32 (plain) | integer kernels | search time / plain |')
    print('|---|---|---|---|---|---|---|---|')
    for r in rows:
        print('| %s | %.4f → %.4f | %s | %d %s | %.1f %% | %.2f / %.2f = %.2fx (%.2fx) | %d of %d | %.1f s / %.1f s = %.1fx |' % (
            r['model'], r['plain_cosine'], r['search_cosine'], 'yes' if r['met'] else 'no (exit %d)' % r['exit'], r['promoted'],
            r['fallback'], 100 * r['int8_mac_share'], r['ort_ms'], r['fp32_ms'], r['ort_ms'] / r['fp32_ms'],
            r['plain_ms'] / r['fp32_ms'], r['kernels']['integer'], r['kernels']['integer'] + r['kernels']['float'],
            r['search_s'], r['plain_s'], r['search_s'] / r['plain_s']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
