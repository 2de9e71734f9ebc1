#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""AdaRound benchmark: ImageNet top-1 measured in ONNX Runtime of the FP32 model, of ptq's model with
nearest rounding and of ptq's model with --adaround, plus the wall time of the quantize runs and the
AdaRound time reported by ptq:

  W8A8 MobileNetV1-0.25 (int8 per-channel weights, uint8 activations)
  W4A8 MobileNetV2-1.0  (--weight-type int4, when this build has it; mnv2_w4_all: every layer 4-bit)
  W4A8 MobileNetV1-0.75-192 (mnv1_075_w4: a second 4-bit model)

    /usr/bin/python3 tools/bench/corpus_sets.py        # once: builds ~/.cache/ptq-bench
    /usr/bin/python3 tools/bench/adaround_bench.py [--models mnv1_025,mnv2_w4] [--samples 256] [--iterations N]
        [--bias-correction] [--threads 2] [--extra '...']

Calibration: the benchmark's 100 calibration images plus the first (samples - 100) held-out ones (a
set of `samples` distinct images); top-1 on the remaining held-out images (744 of 900 with 256). Needs
build/tools/quantize, node + onnxruntime-node (~/ortnode or $ORT_NODE_DIR) and ../shared/corpus."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from accuracy import M, QUANTIZE, SETS, metrics, ort_eval  # noqa: E402

MODELS = {
    'mnv1_025': dict(model=M('imagenet/mobilenet_v1_0.25_128_fp32.onnx'), size=128, what='W8A8 MobileNetV1-0.25', args=[]),
    'mnv2_w4': dict(model=M('imagenet/mobilenet_v2_1.0_224_fp32.onnx'), size=224, what='W4A8 MobileNetV2',
                    args=['--weight-type', 'int4']),  # the first and last layer int8 (quantize's default)
    'mnv2_w4_all': dict(model=M('imagenet/mobilenet_v2_1.0_224_fp32.onnx'), size=224, what='W4A8 MobileNetV2, every layer 4-bit',
                        args=['--weight-type', 'int4', '--int8-first', '0', '--int8-last', '0']),
    'mnv2': dict(model=M('imagenet/mobilenet_v2_1.0_224_fp32.onnx'), size=224, what='W8A8 MobileNetV2', args=[]),
    # a second 4-bit model (depthwise, no residuals): the first and last layer int8
    'mnv1_075_w4': dict(model=M('imagenet/mobilenet_v1_0.75_192_fp32.onnx'), size=192, what='W4A8 MobileNetV1-0.75',
                        args=['--weight-type', 'int4']),
}


def build_sets(size, samples):
    """Calibration folder of `samples` images and the stacked held-out rest (with labels)."""
    base_calib = os.path.join(SETS, 'imagenet%d_calib' % size)
    base_eval = os.path.join(SETS, 'imagenet%d_eval' % size)
    calib = os.path.join(SETS, 'adaround%d_calib%d' % (size, samples))
    held = os.path.join(SETS, 'adaround%d_eval%d' % (size, samples))
    if os.path.exists(os.path.join(held, 'labels.npy')):
        return calib, held
    folders = sorted(os.listdir(base_calib))
    x = np.load(os.path.join(base_eval, 'input.npy'))
    labels = np.load(os.path.join(base_eval, 'labels.npy'))
    extra = max(0, samples - len(folders))
    for i, f in enumerate(folders[:samples]):
        os.makedirs(os.path.join(calib, '%03d' % i), exist_ok=True)
        np.save(os.path.join(calib, '%03d' % i, 'input.npy'), np.load(os.path.join(base_calib, f, 'input.npy')))
    for k in range(extra):
        d = os.path.join(calib, '%03d' % (len(folders) + k))
        os.makedirs(d, exist_ok=True)
        np.save(os.path.join(d, 'input.npy'), x[k:k + 1])
    os.makedirs(held, exist_ok=True)
    np.save(os.path.join(held, 'input.npy'), x[extra:])
    np.save(os.path.join(held, 'labels.npy'), labels[extra:])
    return calib, held


def quantize(model, calib, out, args, threads):
    """Runs quantize; returns (wall seconds, JSON report)."""
    report = out + '.json'
    cmd = [QUANTIZE, model, '--calib', calib, '-o', out, '--eval-samples', '0', '-q', '--threads', str(threads),
           '--report', report] + args
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    secs = time.time() - t0
    if p.returncode != 0:
        raise RuntimeError(' '.join(cmd) + '\n' + p.stderr)
    return secs, json.load(open(report))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--models', default='mnv1_025,mnv2_w4')
    ap.add_argument('--samples', type=int, default=256, help='calibration images (100 + held-out ones)')
    ap.add_argument('--iterations', type=int, default=0, help='--adaround N (0: its default)')
    ap.add_argument('--bias-correction', action='store_true', help='also with --bias-correction (both orders of the README)')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--extra', default='', help='more quantize options for every run')
    args = ap.parse_args()
    has_int4 = 'int4' in subprocess.run([QUANTIZE, '--help'], capture_output=True, text=True).stdout
    tmp = tempfile.mkdtemp(prefix='ptq_adaround_')
    rows = []
    for name in args.models.split(','):
        spec = MODELS[name]
        if '--weight-type' in spec['args'] and not has_int4:
            print('%s: skipped (this build has no --weight-type int4)' % spec['what'], flush=True)
            continue
        calib, held = build_sets(spec['size'], args.samples)
        ev = dict(eval=held, calib=calib, labels=True)
        fp32 = ort_eval(spec['model'], ev, tmp, name + '_fp32')
        top1_fp32 = metrics(fp32, fp32, ev)['top1_fp32']
        runs = [('nearest', [])]
        ada = ['--adaround'] + ([str(args.iterations)] if args.iterations else [])
        runs.append(('AdaRound', ada))
        if args.bias_correction:
            runs += [('nearest + bias correction', ['--bias-correction']), ('AdaRound + bias correction', ada + ['--bias-correction'])]
        for label, extra in runs:
            out = os.path.join(tmp, '%s_%d.onnx' % (name, len(rows)))
            secs, rep = quantize(spec['model'], calib, out, spec['args'] + extra + args.extra.split(), args.threads)
            m = metrics(fp32, ort_eval(out, ev, tmp, '%s_out%d' % (name, len(rows))), ev)
            a = rep.get('adaround', {})
            row = dict(model=spec['what'], run=label, top1=100 * m['top1'], fp32=100 * top1_fp32, seconds=secs,
                       adaround_seconds=a.get('seconds'), error_nearest=a.get('error_nearest'), error=a.get('error'),
                       eval_images=int(len(np.load(os.path.join(held, 'labels.npy')))))
            rows.append(row)
            print(json.dumps(row), flush=True)
    print('\n| model | run | top-1 % | FP32 % | quantize wall s | AdaRound s | recon. error nearest -> AdaRound |')
    print('|---|---|---|---|---|---|---|')
    for r in rows:
        rec = '%.4g -> %.4g' % (r['error_nearest'], r['error']) if r['error'] is not None else ''
        ada = '%.1f' % r['adaround_seconds'] if r['adaround_seconds'] is not None else ''
        print('| %s | %s | %.2f | %.2f | %.1f | %s | %s |' % (r['model'], r['run'], r['top1'], r['fp32'], r['seconds'], ada, rec))
    print('\n(%d calibration images, top-1 on %d held-out ImageNet images, ONNX Runtime CPU, --threads %d)' %
          (args.samples, rows[0]['eval_images'] if rows else 0, args.threads))
    return 0


if __name__ == '__main__':
    sys.exit(main())
