#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Compares ptq's executor (`quantize run`) with ONNX Runtime on the real models of the corpus.

For every corpus model with a sample set (data/calib/<set>, or the image sets that the corpus'
tools/make_image_sets.py builds into ~/.cache/ptq-corpus-sets, built here when missing), the first
--samples samples are run by `quantize run` and by the corpus' tools/ort_run.js (onnxruntime-node,
CPU), and every output is compared element by element:
  max abs = max |ptq - ort|
  max rel = max |ptq - ort| / |ort| over the elements with |ort| > ATOL
  flagged when some element has |ptq - ort| > ATOL + RTOL * |ort|   (RTOL 1e-3, ATOL 1e-4)
A model ptq cannot run (e.g. an op without a kernel yet) is reported with ptq's error and the
script goes on. Mean milliseconds per sample of both runtimes are printed for information.

usage: /usr/bin/python3 tools/bench/compare_ort.py [--corpus DIR] [--quantize BIN] [--samples K]
           [--threads N] [--models SUBSTR,...] [--work DIR] [--json FILE]
The corpus defaults to ../shared/corpus relative to the repository root, then /work/shared/corpus.
ONNX Runtime comes from ORT_NODE_DIR (default ~/ortnode), see the corpus MANIFEST.md.
Exit status: 0 when every compared output is within tolerance, 1 otherwise (failures included).
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np

RTOL = 1e-3
ATOL = 1e-4
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE_SETS = os.path.expanduser('~/.cache/ptq-corpus-sets')

# (model path under models/, sample set) as in the corpus' tools/check_all.sh
MODELS = [
    ('imagenet/mobilenet_v2_1.0_224_fp32.onnx', 'mobilenet_v2_224'),
    ('imagenet/mobilenet_v2_1.0_224_tflite_qdq.onnx', 'mobilenet_v2_224'),
    ('imagenet/mobilenet_v1_0.75_192_fp32.onnx', 'mobilenet_v1_192'),
    ('imagenet/mobilenet_v1_0.25_128_fp32.onnx', 'mobilenet_v1_128'),
    ('detection/yolox_nano.onnx', 'yolox_nano_416'),
    ('detection/ultraface_version-RFB-320.onnx', 'ultraface_320'),
    ('detection/ultraface_version-slim-320.onnx', 'ultraface_320'),
    ('detection/ultraface_version-RFB-640.onnx', 'ultraface_640'),
    ('ocr/ch_PP-OCRv4_det_infer.onnx', 'ppocr_det'),
    ('ocr/ch_PP-OCRv4_det_infer_init.onnx', 'ppocr_det'),
    ('ocr/ch_ppocr_mobile_v2.0_cls_infer.onnx', 'ppocr_cls'),
    ('ocr/ch_ppocr_mobile_v2.0_cls_infer_init.onnx', 'ppocr_cls'),
    ('superres/superres_espcn_core_op18.onnx', 'superres_224'),
    ('mnist/mnist-8.onnx', 'mnist8_raw255'),
    ('audio/openwakeword_melspectrogram.onnx', 'oww_melspec'),
    ('audio/openwakeword_embedding.onnx', 'oww_embedding'),
]


def find_corpus(arg):
    for c in [arg, os.path.join(os.path.dirname(REPO), 'shared', 'corpus'), '/work/shared/corpus']:
        if c and os.path.isfile(os.path.join(c, 'MANIFEST.md')):
            return c
    sys.exit('compare_ort: corpus not found (give --corpus)')


def sample_set(corpus, name, built):
    for d in [os.path.join(corpus, 'data', 'calib', name), os.path.join(IMAGE_SETS, name)]:
        if os.path.isdir(d):
            return d
    if not built[0]:  # image sets: build them once
        built[0] = True
        print(f'building image sample sets into {IMAGE_SETS} ...', file=sys.stderr)
        subprocess.run(['/usr/bin/python3', os.path.join(corpus, 'tools', 'make_image_sets.py'), IMAGE_SETS],
                       check=False, stdout=subprocess.DEVNULL)
        d = os.path.join(IMAGE_SETS, name)
        if os.path.isdir(d):
            return d
    return None


def subset(src, dst, k):
    """A folder holding links to the first k sample folders of src."""
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    for s in sorted(e for e in os.listdir(src) if os.path.isdir(os.path.join(src, e)))[:k]:
        os.symlink(os.path.join(src, s), os.path.join(dst, s))
    return dst


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return p.returncode, p.stderr.strip()


def mean_ms(path, key='mean_ms'):
    try:
        with open(path) as f:
            t = json.load(f)
        if 'per_sample' in t:  # quantize run
            return t[key]
        return None
    except (OSError, ValueError):
        return None


def ort_mean_ms(out):
    # ort_run.js with sample folders reports first_run_ms / mean_ms over samples in timing.json
    try:
        with open(os.path.join(out, 'timing.json')) as f:
            return json.load(f).get('mean_ms')
    except (OSError, ValueError):
        return None


def compare(ptq_dir, ort_dir):
    """Per output file name: max abs, max rel, flagged element count, element count."""
    stats = {}
    for f in sorted(glob.glob(os.path.join(ort_dir, '*', '*.npy'))):
        sample, name = f.split(os.sep)[-2:]
        want = np.load(f)
        got_path = os.path.join(ptq_dir, sample, name)
        s = stats.setdefault(name, {'max_abs': 0.0, 'max_rel': 0.0, 'flagged': 0, 'elements': 0, 'problem': None})
        if not os.path.exists(got_path):
            s['problem'] = f'{sample}/{name} missing in ptq output'
            continue
        got = np.load(got_path)
        if got.shape != want.shape or got.dtype != want.dtype:
            s['problem'] = f'{sample}/{name}: ptq {got.dtype}{list(got.shape)} vs ort {want.dtype}{list(want.shape)}'
            continue
        a, b = got.astype(np.float64), want.astype(np.float64)
        diff = np.abs(a - b)
        diff[np.isnan(a) & np.isnan(b)] = 0.0
        big = np.abs(b) > ATOL
        s['max_abs'] = max(s['max_abs'], float(diff.max(initial=0.0)))
        s['max_rel'] = max(s['max_rel'], float((diff[big] / np.abs(b[big])).max(initial=0.0)))
        s['flagged'] += int(np.count_nonzero(~(diff <= ATOL + RTOL * np.abs(b))))
        s['elements'] += int(b.size)
    return stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--corpus')
    ap.add_argument('--quantize', default=os.path.join(REPO, 'build', 'tools', 'quantize'))
    ap.add_argument('--samples', type=int, default=4)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--models', default='', help='only models whose path contains one of these (comma-separated)')
    ap.add_argument('--work', default=os.path.join(os.environ.get('TMPDIR', '/tmp'), 'ptq_compare_ort'))
    ap.add_argument('--json', help='also write the results as JSON')
    args = ap.parse_args()
    corpus = find_corpus(args.corpus)
    env = dict(os.environ, ORT_NODE_DIR=os.environ.get('ORT_NODE_DIR', os.path.expanduser('~/ortnode')))
    ort_run = os.path.join(corpus, 'tools', 'ort_run.js')
    wanted = [w for w in args.models.split(',') if w]
    built, results, ok = [False], [], True
    print(f'ptq vs ONNX Runtime, {args.samples} samples per model, {args.threads} thread(s); '
          f'flag: |ptq-ort| > {ATOL:g} + {RTOL:g}*|ort|')
    for model, set_name in MODELS:
        if wanted and not any(w in model for w in wanted):
            continue
        path = os.path.join(corpus, 'models', model)
        data = sample_set(corpus, set_name, built)
        row = {'model': model, 'set': set_name, 'outputs': {}}
        results.append(row)
        if data is None:
            row['status'] = 'no data'
            print(f'\n{model}: no sample set {set_name}')
            continue
        work = os.path.join(args.work, os.path.basename(model)[:-5])
        inputs = subset(data, os.path.join(work, 'inputs'), args.samples)
        for d in ('ptq', 'ort'):
            shutil.rmtree(os.path.join(work, d), ignore_errors=True)
        code, err = run([args.quantize, '-q', 'run', path, '--inputs', inputs, '-o', os.path.join(work, 'ptq'),
                         '--threads', str(args.threads)])
        if code != 0:
            row['status'] = 'ptq failed'
            row['error'] = err.splitlines()[-1] if err else f'exit {code}'
            ok = False
            print(f'\n{model} [{set_name}]: ptq FAILED: {row["error"][:400]}')
            continue
        code, err = run(['node', ort_run, path, inputs, os.path.join(work, 'ort'), '--threads', str(args.threads)], env)
        if code != 0:
            row['status'] = 'ort failed'
            row['error'] = err.splitlines()[-1] if err else f'exit {code}'
            print(f'\n{model} [{set_name}]: ONNX Runtime FAILED: {row["error"][:400]}')
            continue
        row['outputs'] = compare(os.path.join(work, 'ptq'), os.path.join(work, 'ort'))
        row['ptq_mean_ms'] = mean_ms(os.path.join(work, 'ptq', 'timing.json'))
        row['ort_mean_ms'] = ort_mean_ms(os.path.join(work, 'ort'))
        bad = [n for n, s in row['outputs'].items() if s['flagged'] or s['problem']]
        row['status'] = 'OUTSIDE' if bad else 'ok'
        ok = ok and not bad
        ms = (f"ptq {row['ptq_mean_ms']:.1f} ms, ort {row['ort_mean_ms']:.1f} ms per sample"
              if row['ptq_mean_ms'] is not None and row['ort_mean_ms'] is not None else '')
        print(f'\n{model} [{set_name}]: {row["status"]}  {ms}')
        for name, s in row['outputs'].items():
            if s['problem']:
                print(f'  {name:<48} PROBLEM {s["problem"]}')
            else:
                flag = f'  {s["flagged"]} of {s["elements"]} outside' if s['flagged'] else ''
                print(f'  {name:<48} max abs {s["max_abs"]:.3g}  max rel {s["max_rel"]:.3g}{flag}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    counts = {}
    for r in results:
        counts[r['status']] = counts.get(r['status'], 0) + 1
    print('\nsummary: ' + ', '.join(f'{v} {k}' for k, v in sorted(counts.items())))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
