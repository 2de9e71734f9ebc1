#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Throughput of ptq's executor vs ONNX Runtime, measured in the same run (benchmark, not a test).

  /usr/bin/python3 tools/bench/speed.py models [--repeat 30] [--rounds 3] [--threads 1,2] [--only yolox,mobilenetv2]
      whole models of the corpus (MobileNetV2-224, UltraFace-320 RFB, YOLOX-nano, PP-OCRv4 det 640x640)
  /usr/bin/python3 tools/bench/speed.py layers MODEL [--shape NAME=d0,d1,..] [--ops Conv,MaxPool] [--repeat 50]
      every node of the chosen op types cut out as its own model (weights included), timed in both
  /usr/bin/python3 tools/bench/speed.py determinism [--threads 1,2,3]
      the corpus models' outputs with each thread count (fused and unfused) must be bit-identical

ptq runs through build/tools/bench/ptq_bench (PTQ_BENCH overrides), ONNX Runtime through the corpus'
tools/ort_run.js (ORT_RUN overrides; ORT_NODE_DIR as for ort_run.js; the module through
tools/ort/x64_precision unless PTQ_ORT_DEFAULT_OPTIONS=1, see README: Deployment targets), both on the same random inputs
(uniform [-1, 1), seed 0). Prints a table of mean ms per run and the ratio ptq throughput / ORT throughput
(= ORT ms / ptq ms; 1.0 means as fast as ONNX Runtime)."""
import argparse, json, os, subprocess, sys, tempfile
import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.environ.get('PTQ_CORPUS', os.path.join(os.path.dirname(ROOT), 'shared', 'corpus'))
if not os.path.isdir(CORPUS):
    CORPUS = '/work/shared/corpus'
PTQ_BENCH = os.environ.get('PTQ_BENCH', os.path.join(ROOT, 'build', 'tools', 'bench', 'ptq_bench'))
ORT_RUN = os.environ.get('ORT_RUN', os.path.join(CORPUS, 'tools', 'ort_run.js'))
os.environ.setdefault('ORT_NODE_DIR', os.path.join(ROOT, 'tools', 'ort'))
# ONNX Runtime with session.x64quantprecision (tools/ort/x64_precision, as tools/bench/accuracy.py): the
# Q/DQ row then times its exact kernels on x86 CPUs without VNNI (not set on VNNI CPUs; no effect on
# float models).
if os.environ.get('PTQ_ORT_DEFAULT_OPTIONS', '0') in ('', '0'):
    os.environ.setdefault('ORT_NODE_PATH', os.path.join(ROOT, 'tools', 'ort', 'x64_precision'))
MODELS = [  # (label, path under corpus/models, input shape override)
    ('MobileNetV2-224', 'imagenet/mobilenet_v2_1.0_224_fp32.onnx', None),
    ('UltraFace-320', 'detection/ultraface_version-RFB-320.onnx', None),
    ('YOLOX-nano', 'detection/yolox_nano.onnx', None),
    ('PP-OCRv4-det-640', 'ocr/ch_PP-OCRv4_det_infer.onnx', [1, 3, 640, 640]),
    ('UltraFace-slim-320', 'detection/ultraface_version-slim-320.onnx', None),
    ('MobileNetV1-0.25-128', 'imagenet/mobilenet_v1_0.25_128_fp32.onnx', None),
    ('MobileNetV1-0.75-192', 'imagenet/mobilenet_v1_0.75_192_fp32.onnx', None),
    ('PP-OCR-cls', 'ocr/ch_ppocr_mobile_v2.0_cls_infer.onnx', [1, 3, 48, 192]),
    ('ESPCN-superres', 'superres/superres_espcn_core_op18.onnx', None),
    ('oWW-melspectrogram', 'audio/openwakeword_melspectrogram.onnx', [1, 17280]),  # 1.08 s of 16 kHz audio
    ('oWW-embedding', 'audio/openwakeword_embedding.onnx', None),
    ('MNIST-8', 'mnist/mnist-8.onnx', None),
    # A Q/DQ model: ONNX Runtime runs it with integer kernels, ptq as float with fused fake-quantization.
    ('MobileNetV2-QDQ', 'imagenet/mobilenet_v2_1.0_224_tflite_qdq.onnx', None),
]
COMPUTE_OPS = 'Conv,ConvTranspose,Gemm,MatMul,MaxPool,AveragePool,GlobalAveragePool,BatchNormalization'


def sanitize(name):
    return ''.join(c if c.isalnum() or c in '._-' else '_' for c in name)


def input_shapes(model, override):
    shapes = {}
    init = {i.name for i in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in init:
            continue
        dims = [d.dim_value if d.dim_value > 0 else 1 for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = override or dims
    return shapes


def write_inputs(folder, shapes, seed=0):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name, shape in shapes.items():
        np.save(os.path.join(folder, sanitize(name) + '.npy'), rng.uniform(-1, 1, shape).astype(np.float32))


def time_ptq(model_path, inputs, threads, repeat, profile=False):
    cmd = [PTQ_BENCH, model_path, '--inputs', inputs, '--threads', str(threads), '--repeat', str(repeat)]
    if profile:
        cmd.append('--profile')
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def time_ort(model_path, inputs, threads, repeat, tmp):
    out_dir = os.path.join(tmp, 'ort_out')
    res = subprocess.run(['node', ORT_RUN, model_path, inputs, out_dir, '--threads', str(threads), '--repeat', str(repeat)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f'ort_run.js failed on {model_path}: {res.stderr.strip()[-400:]}')
    return json.loads(res.stdout.strip().splitlines()[-1])


def selected(args):
    """MODELS whose label contains one of --only's comma-separated substrings (all without it)."""
    only = [o.lower() for o in (args.only or '').split(',') if o]
    return [m for m in MODELS if not only or any(o in m[0].lower() for o in only)]


def cmd_models(args):
    threads = [int(t) for t in args.threads.split(',')]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, rel, override in selected(args):
            path = os.path.join(CORPUS, 'models', rel)
            model = onnx.load(path, load_external_data=False)
            inputs = os.path.join(tmp, sanitize(label))
            write_inputs(inputs, input_shapes(model, override))
            for t in threads:
                # --rounds alternating runs of each: the means of the round with the lower mean, the least
                # minimum of all (a VM's other tenants slow single rounds of either side).
                ps, os_ = [], []
                try:
                    for _ in range(args.rounds):
                        ps.append(time_ptq(path, inputs, t, args.repeat, profile=args.profile))
                        os_.append(time_ort(path, inputs, t, args.repeat, tmp))
                except subprocess.CalledProcessError as e:
                    print(f'{label}: ptq failed: {e.stderr.strip()[:300]}', file=sys.stderr)
                    continue
                p = dict(min(ps, key=lambda r: r['mean_ms']), min_ms=min(r['min_ms'] for r in ps))
                o = dict(min(os_, key=lambda r: r['mean_ms']), min_ms=min(r['min_ms'] for r in os_))
                rows.append((label, t, p['mean_ms'], o['mean_ms'], p['min_ms'], o['min_ms']))
                print(f'{label:18s} threads {t}: ptq {p["mean_ms"]:8.2f} ms (min {p["min_ms"]:.2f})  '
                      f'ORT {o["mean_ms"]:8.2f} ms (min {o["min_ms"]:.2f})  ratio {o["mean_ms"] / p["mean_ms"]:.2f}', flush=True)
                if args.profile:
                    prof = sorted(p.get('profile_ms', {}).items(), key=lambda kv: -kv[1])
                    print('    profile (ms/run): ' + ', '.join(f'{k} {v:.2f}' for k, v in prof))
    print('\n| model | threads | ptq ms | ORT ms | ptq/ORT throughput (mean) | (min) |\n|---|---|---|---|---|---|')
    for label, t, pm, om, pmin, omin in rows:
        print(f'| {label} | {t} | {pm:.2f} | {om:.2f} | {om / pm:.2f} | {omin / pmin:.2f} |')
    # The float models (the Q/DQ one runs integer kernels in ORT): median and lowest ratio per thread count.
    for t in threads:
        r = sorted((omin / pmin, label) for label, tt, _, _, pmin, omin in rows if tt == t and 'QDQ' not in label)
        if r:
            print(f'threads {t}: median ptq/ORT (min times) {float(np.median([x for x, _ in r])):.2f}, lowest {r[0][0]:.2f} '
                  f'({r[0][1]}) over {len(r)} float models  (target: median >= 1.0, none below 0.8)')


def cmd_determinism(args):
    threads = [int(t) for t in args.threads.split(',')]
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for label, rel, override in selected(args):
            path = os.path.join(CORPUS, 'models', rel)
            inputs = os.path.join(tmp, sanitize(label))
            write_inputs(inputs, input_shapes(onnx.load(path, load_external_data=False), override))
            for extra in ([], ['--no-fuse', '--no-fold']):
                outs = []
                for t in threads:
                    out = os.path.join(tmp, f'{sanitize(label)}_{t}_{len(extra)}')
                    subprocess.run([PTQ_BENCH, path, '--inputs', inputs, '--threads', str(t), '--repeat', '0', '--output', out] + extra,
                                   check=True, capture_output=True)
                    outs.append({f: open(os.path.join(out, f), 'rb').read() for f in sorted(os.listdir(out))})
                same = all(o == outs[0] for o in outs[1:])
                bad += 0 if same else 1
                mode = 'unfused' if extra else 'fused'
                print(f'{label:18s} {mode:8s} threads {args.threads}: {"bit-identical" if same else "DIFFERENT"}', flush=True)
    sys.exit(1 if bad else 0)


def constant_values(model):
    values = {i.name: i for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == 'Constant':
            for a in n.attribute:
                if a.name == 'value':
                    t = onnx.TensorProto()
                    t.CopyFrom(a.t)
                    t.name = n.output[0]
                    values[n.output[0]] = t
    return values


def fixed_shape_model(model, override):
    if override:
        for vi in model.graph.input:
            if vi.name not in {i.name for i in model.graph.initializer}:
                for d, v in zip(vi.type.tensor_type.shape.dim, override):
                    d.Clear()
                    d.dim_value = v
    return shape_inference.infer_shapes(model)


def cmd_layers(args):
    model = onnx.load(args.model)
    override = None
    if args.shape:
        override = [int(v) for v in args.shape.split('=')[1].split(',')]
    inferred = fixed_shape_model(model, override)
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims):
            shapes[vi.name] = dims
    consts = constant_values(model)
    ops = set(args.ops.split(','))
    opsets = list(model.opset_import)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for idx, node in enumerate(model.graph.node):
            if node.op_type not in ops:
                continue
            act = [i for i in node.input if i and i not in consts]
            if len(act) != 1 or act[0] not in shapes or node.output[0] not in shapes:
                continue
            inits = [consts[i] for i in node.input if i in consts]
            layer = onnx.NodeProto()
            layer.CopyFrom(node)
            for k, name in enumerate(layer.input):  # short names: tensor names can exceed file name limits
                if name == act[0]:
                    layer.input[k] = 'x'
            layer.output[0] = 'y'
            g = helper.make_graph([layer], 'layer', [helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT, shapes[act[0]])],
                                  [helper.make_tensor_value_info('y', onnx.TensorProto.FLOAT, None)], inits)
            m = helper.make_model(g, opset_imports=opsets)
            m.ir_version = model.ir_version
            path = os.path.join(tmp, f'layer{idx}.onnx')
            onnx.save(m, path)
            inputs = os.path.join(tmp, f'in{idx}')
            write_inputs(inputs, {'x': shapes[act[0]]})
            p = time_ptq(path, inputs, args.threads, args.repeat)
            o = time_ort(path, inputs, args.threads, args.repeat, tmp)
            w = [shapes.get(i) or list(consts[i].dims) for i in node.input[1:2] if i]
            rows.append((node.name or node.output[0], node.op_type, shapes[act[0]], w, p['min_ms'], o['min_ms']))
            print(f'{rows[-1][0][:40]:40s} {node.op_type:18s} {str(shapes[act[0]]):20s} {str(w):22s} '
                  f'ptq {p["min_ms"]:7.3f}  ORT {o["min_ms"]:7.3f}  ratio {o["min_ms"] / p["min_ms"]:.2f}', flush=True)
    by_op = {}
    for r in rows:
        s = by_op.setdefault(r[1], [0, 0.0, 0.0])
        s[0] += 1
        s[1] += r[4]
        s[2] += r[5]
    print('\n| op | layers | ptq ms | ORT ms | ptq/ORT throughput |\n|---|---|---|---|---|')
    for op, (n, p, o) in sorted(by_op.items(), key=lambda kv: -kv[1][1]):
        print(f'| {op} | {n} | {p:.2f} | {o:.2f} | {o / p:.2f} |')
    tp, to = sum(r[4] for r in rows), sum(r[5] for r in rows)
    if rows:
        print(f'| all | {len(rows)} | {tp:.2f} | {to:.2f} | {to / tp:.2f} |')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    m = sub.add_parser('models')
    m.add_argument('--repeat', type=int, default=30)
    m.add_argument('--rounds', type=int, default=3, help='alternating ptq/ORT rounds per model and thread count')
    m.add_argument('--threads', default='1,2')
    m.add_argument('--profile', action='store_true')
    m.add_argument('--only', help='comma-separated substrings of model labels (default: all)')
    lay = sub.add_parser('layers')
    lay.add_argument('model')
    lay.add_argument('--shape')
    lay.add_argument('--ops', default=COMPUTE_OPS)
    lay.add_argument('--repeat', type=int, default=50)
    lay.add_argument('--threads', type=int, default=1)
    det = sub.add_parser('determinism')
    det.add_argument('--threads', default='1,2,3')
    det.add_argument('--only', help='comma-separated substrings of model labels (default: all)')
    args = ap.parse_args()
    {'models': cmd_models, 'layers': cmd_layers, 'determinism': cmd_determinism}[args.cmd](args)


if __name__ == '__main__':
    main()
