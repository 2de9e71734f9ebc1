#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Accuracy benchmark: quantizes corpus models with every calibration method x {uint8 asymmetric,
int8 symmetric} activations and measures the result in ONNX Runtime (the independent oracle):
top-1 on labelled held-out sets for classifiers, output cosine vs FP32 otherwise; plus ONNX Runtime
latency INT8 vs FP32, size ratio and how many Conv/Gemm/MatMul ONNX Runtime turned into integer kernels.

    /usr/bin/python3 tools/bench/corpus_sets.py          # once: builds ~/.cache/ptq-bench
    /usr/bin/python3 tools/bench/accuracy.py [--models a,b] [--methods kl,mse] [--out results.json]
    /usr/bin/python3 tools/bench/accuracy.py --models yolox_nano --acts u8 --extra '--float-first 3' --tag +ff3

Needs build/tools/quantize, node + onnxruntime-node (~/ortnode or $ORT_NODE_DIR) and ../shared/corpus."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.environ.get('PTQ_CORPUS', os.path.join(os.path.dirname(ROOT), 'shared', 'corpus'))
SETS = os.path.expanduser(os.environ.get('PTQ_BENCH_SETS', '~/.cache/ptq-bench'))
QUANTIZE = os.environ.get('PTQ_QUANTIZE', os.path.join(ROOT, 'build', 'tools', 'quantize'))
ORT_RUN = os.path.join(CORPUS, 'tools', 'ort_run.js')
ENV = dict(os.environ, ORT_NODE_DIR=os.environ.get('ORT_NODE_DIR', os.path.expanduser('~/ortnode')))
# ONNX Runtime with session.x64quantprecision on x86 CPUs without VNNI (tools/ort/x64_precision): exact
# u8 x s8 kernels there; a default session on VNNI CPUs (exact already, and the option would slow them
# down). PTQ_ORT_DEFAULT_OPTIONS=1 measures ONNX Runtime's defaults everywhere.
if os.environ.get('PTQ_ORT_DEFAULT_OPTIONS', '0') in ('', '0'):
    ENV['ORT_NODE_PATH'] = os.path.join(ROOT, 'tools', 'ort', 'x64_precision')

M = lambda p: os.path.join(CORPUS, 'models', p)  # noqa: E731
S = lambda p: os.path.join(SETS, p)  # noqa: E731
MODELS = {
    'mobilenet_v2': dict(model=M('imagenet/mobilenet_v2_1.0_224_fp32.onnx'), calib=S('imagenet224_calib'), eval=S('imagenet224_eval'), labels=True),
    'mobilenet_v1_025': dict(model=M('imagenet/mobilenet_v1_0.25_128_fp32.onnx'), calib=S('imagenet128_calib'), eval=S('imagenet128_eval'), labels=True),
    'mnist8': dict(model=M('mnist/mnist-8.onnx'), calib=os.path.join(CORPUS, 'data/calib/mnist8_raw255'), eval=S('mnist_eval'), labels=True),
    'fmnist': dict(model=os.path.join(ROOT, 'models/fmnist_cnn.onnx'), calib=os.path.join(ROOT, 'calibration/fmnist'), eval=S('fmnist_eval'), labels=True),
    'ultraface_320': dict(model=M('detection/ultraface_version-RFB-320.onnx'), calib=S('ultraface320_calib'), eval=S('ultraface320_eval')),
    'yolox_nano': dict(model=M('detection/yolox_nano.onnx'), calib=S('yolox_calib'), eval=S('yolox_eval')),
    'ppocr_det': dict(model=M('ocr/ch_PP-OCRv4_det_infer.onnx'), calib=S('ppocr_det_calib'), eval=S('ppocr_det_eval')),
    'ppocr_cls': dict(model=M('ocr/ch_ppocr_mobile_v2.0_cls_infer.onnx'), calib=os.path.join(CORPUS, 'data/calib/ppocr_cls'), eval=None),
    # The rest of the corpus (eval None: the calibration samples themselves, a smoke test).
    'mobilenet_v1_075': dict(model=M('imagenet/mobilenet_v1_0.75_192_fp32.onnx'), calib=S('imagenet192_calib'), eval=S('imagenet192_eval'), labels=True),
    'ultraface_slim_320': dict(model=M('detection/ultraface_version-slim-320.onnx'), calib=S('ultraface320_calib'), eval=S('ultraface320_eval')),
    'ultraface_640': dict(model=M('detection/ultraface_version-RFB-640.onnx'), calib=S('ultraface640_calib'), eval=S('ultraface640_eval')),
    'ppocr_det_init': dict(model=M('ocr/ch_PP-OCRv4_det_infer_init.onnx'), calib=S('ppocr_det_calib'), eval=S('ppocr_det_eval')),
    'ppocr_cls_init': dict(model=M('ocr/ch_ppocr_mobile_v2.0_cls_infer_init.onnx'), calib=os.path.join(CORPUS, 'data/calib/ppocr_cls'), eval=None),
    'superres': dict(model=M('superres/superres_espcn_core_op18.onnx'), calib=os.path.join(CORPUS, 'data/calib/superres_224'), eval=None),
    'oww_melspec': dict(model=M('audio/openwakeword_melspectrogram.onnx'), calib=os.path.join(CORPUS, 'data/calib/oww_melspec'), eval=None),
    'oww_embedding': dict(model=M('audio/openwakeword_embedding.onnx'), calib=os.path.join(CORPUS, 'data/calib/oww_embedding'), eval=None),
}
METHODS = ['minmax', 'kl', 'percentile', 'mse', 'admm', 'eq']
ACTS = {'u8': [], 's8': ['--activation-type', 'int8', '--symmetric-activations']}


def ort_run(model, inputs, out, extra=()):
    """Runs ONNX Runtime; returns {output name: array}."""
    subprocess.run(['node', ORT_RUN, model, inputs, out] + list(extra), check=True, capture_output=True, env=ENV)
    meta = json.load(open(os.path.join(out, 'outputs.json')))
    return {k: np.load(os.path.join(out, v['file'])) for k, v in meta.items()}


def ort_eval(model, spec, tmp, tag):
    """Outputs on the evaluation samples (a stacked set runs --per-sample; a folder of samples is
    concatenated in name order)."""
    src = spec['eval']
    if src is None:  # small sets: the calibration samples themselves
        src = spec['calib']
    out = os.path.join(tmp, tag)
    if os.path.exists(os.path.join(src, 'labels.npy')):  # one stacked sample: run row by row
        return ort_run(model, src, out, ['--per-sample'])
    subprocess.run(['node', ORT_RUN, model, src, out], check=True, capture_output=True, env=ENV)
    res = {}
    for d in sorted(d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d))):
        meta = json.load(open(os.path.join(out, d, 'outputs.json')))
        for k, v in meta.items():
            res.setdefault(k, []).append(np.load(os.path.join(out, d, v['file'])).ravel())
    return {k: np.concatenate(v) for k, v in res.items()}


def metrics(fp32, q, spec):
    keys = sorted(fp32)
    a = np.concatenate([fp32[k].ravel() for k in keys]).astype(np.float64)
    b = np.concatenate([q[k].ravel() for k in keys]).astype(np.float64)
    r = dict(cosine=float(a @ b / np.sqrt((a @ a) * (b @ b))))
    if spec.get('labels'):
        labels = np.load(os.path.join(spec['eval'], 'labels.npy'))
        k = keys[0]
        pa = fp32[k].reshape(len(labels), -1).argmax(1)
        pb = q[k].reshape(len(labels), -1).argmax(1)
        r.update(top1_fp32=float((pa == labels).mean()), top1=float((pb == labels).mean()), agree=float((pa == pb).mean()))
        r.update(paired_change(pa == labels, pb == labels))
    return r


def paired_change(fp32_right, q_right, draws=10000, seed=0):
    """The quantized model's top-1 change against FP32 on the same images: images it lost and gained,
    and the 95 % interval of the change in points by a paired bootstrap over the images (seeded). On 900
    images that interval is about ±1 point wide: a target finer than that cannot be told from the data."""
    d = q_right.astype(np.int8) - fp32_right.astype(np.int8)
    rng = np.random.default_rng(seed)
    chunk = max(1, 4000000 // len(d))  # draws at a time: 10 000 test images take 400 at once, not 10 000
    boot = np.concatenate([100.0 * d[rng.integers(0, len(d), (min(chunk, draws - i), len(d)))].mean(1)
                           for i in range(0, draws, chunk)])
    return dict(lost=int((d < 0).sum()), gained=int((d > 0).sum()),
                change_ci95=[round(float(np.percentile(boot, 2.5)), 2), round(float(np.percentile(boot, 97.5)), 2)])


def latency(model, calib, tmp, tag, stat='mean_ms'):
    """ONNX Runtime latency, 1 thread, 30 timed runs: their mean (or stat='min_ms')."""
    sample = os.path.join(calib, sorted(os.listdir(calib))[0])
    t = subprocess.run(['node', ORT_RUN, model, sample, os.path.join(tmp, tag + '_lat'), '--repeat', '30', '--threads', '1'],
                       check=True, capture_output=True, env=ENV, text=True)
    return json.loads(t.stdout.strip().splitlines()[-1])[stat]


def fused(model, calib, tmp, tag):
    """Counts float vs integer compute ops in the graph ONNX Runtime really runs."""
    import onnx
    sample = os.path.join(calib, sorted(os.listdir(calib))[0])
    opt = os.path.join(tmp, tag + '_opt.onnx')
    subprocess.run(['node', ORT_RUN, model, sample, os.path.join(tmp, tag + '_o'), '--save-optimized', opt], check=True,
                   capture_output=True, env=ENV)
    ops = [n.op_type for n in onnx.load(opt).graph.node]
    float_ops = sum(ops.count(o) for o in ('Conv', 'Gemm', 'MatMul', 'FusedConv', 'FusedGemm', 'FusedMatMul'))
    int_ops = sum(ops.count(o) for o in ('QLinearConv', 'QGemm', 'QLinearMatMul', 'MatMulIntegerToFloat', 'ConvInteger', 'MatMulInteger'))
    return dict(integer=int_ops, float=float_ops)


def print_tables(results):
    """Markdown: per model one row per activation mode, one column per method."""
    for name, base in results.items():
        fp32 = base.get('fp32', {})
        classifier = 'top1_fp32' in fp32
        what = 'top-1 %% (FP32 %.2f)' % (100 * fp32['top1_fp32']) if classifier else 'output cosine vs FP32'
        print('\n**%s** — %s; ORT 1 thread FP32 %.2f ms, size %d B' % (name, what, fp32.get('ort_ms', 0), fp32.get('bytes', 0)))
        methods = [m for m in METHODS if any(k.endswith('_' + m) for k in base)]
        print('| acts | ' + ' | '.join(methods) + ' | ORT ms (int8/fp32) | size ratio | integer kernels |')
        print('|---|' + '---|' * (len(methods) + 3))
        rows = sorted({k.rsplit('_', 1)[0] for k in base if k != 'fp32'}, key=lambda r: (r[:2] != 'u8', r))
        for act in rows:
            cells, extra = [], None
            for m in methods:
                r = base.get(act + '_' + m, {})
                if 'error' in r or not r:
                    cells.append('error' if r else '-')
                    continue
                cells.append('%.2f' % (100 * r['top1']) if classifier else '%.4f' % r['cosine'])
                extra = extra or r
            if extra:
                ratio = '%.2f / %.2f = %.2fx' % (extra['ort_ms'], fp32['ort_ms'], extra['ort_ms'] / fp32['ort_ms'])
                size = '%.3f' % (extra['bytes'] / fp32['bytes'])
                fused = '%d of %d' % (extra['fused']['integer'], extra['fused']['integer'] + extra['fused']['float'])
                print('| %s | %s | %s | %s | %s |' % (act, ' | '.join(cells), ratio, size, fused))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--print', dest='print_only', action='store_true', help='print the tables of --out and exit')
    ap.add_argument('--models', default=','.join(MODELS))
    ap.add_argument('--methods', default=','.join(METHODS))
    ap.add_argument('--acts', default='u8,s8')
    ap.add_argument('--extra', default='', help='more quantize options, e.g. "--float-first 3" (rows keyed act+TAG)')
    ap.add_argument('--tag', default='', help='suffix of the row name for --extra, e.g. "+ff3"')
    ap.add_argument('--out', default=os.path.join(ROOT, 'build', 'bench_accuracy.json'))
    args = ap.parse_args()
    results = json.load(open(args.out)) if os.path.exists(args.out) else {}
    if args.print_only:
        print_tables(results)
        return 0
    tmp = tempfile.mkdtemp(prefix='ptq_acc_')
    for name in args.models.split(','):
        spec = MODELS[name]
        base = results.setdefault(name, {})
        fp32 = ort_eval(spec['model'], spec, tmp, name + '_fp32')
        base['fp32'] = dict(metrics(fp32, fp32, spec), bytes=os.path.getsize(spec['model']),
                            ort_ms=latency(spec['model'], spec['calib'], tmp, name + '_fp32'))
        print(name, 'fp32', base['fp32'], flush=True)
        for act in args.acts.split(','):
            for method in args.methods.split(','):
                out = os.path.join(tmp, '%s_%s_%s.onnx' % (name, act, method))
                t0 = time.time()
                p = subprocess.run([QUANTIZE, spec['model'], '--calib', spec['calib'], '--method', method, '-o', out,
                                    '--eval-samples', '0', '-q'] + ACTS[act] + args.extra.split(), capture_output=True, text=True)
                secs = time.time() - t0
                key = act + args.tag + '_' + method
                if p.returncode != 0:
                    base[key] = dict(error=p.stderr.strip())
                    print(name, key, 'ERROR', p.stderr.strip(), flush=True)
                    continue
                q = ort_eval(out, spec, tmp, name + '_' + key)
                base[key] = dict(metrics(fp32, q, spec), seconds=round(secs, 1), bytes=os.path.getsize(out),
                                 ort_ms=latency(out, spec['calib'], tmp, name + key), fused=fused(out, spec['calib'], tmp, name + key))
                print(name, key, base[key], flush=True)
                json.dump(results, open(args.out, 'w'), indent=1)
    json.dump(results, open(args.out, 'w'), indent=1)


if __name__ == '__main__':
    sys.exit(main())
