#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// Runs an ONNX model in ONNX Runtime (npm onnxruntime-node, CPU) on .npy inputs and writes its outputs
// as .npy: ptq's independent oracle in the interop tests.
//
//   node tools/ort/run_model.js MODEL --inputs DIR --outputs DIR
//        [--level disabled|basic|extended|all] [--optimized FILE] [--threads N] [--repeat N] [--x64-precision]
//
// Inputs: DIR/<name>.npy for every model input; outputs: DIR/<name>.npy for every model output, where
// <name> is the tensor name with every character outside [A-Za-z0-9._-] replaced by '_' (as ptq's
// sanitize_file_name). --optimized FILE saves the graph ONNX Runtime runs after its optimizations
// (session option optimizedModelFilePath), e.g. to check which Q/DQ groups became integer kernels.
// --repeat N runs the model N more times after the first run and reports their mean wall time in ms
// ("ms" in the JSON line; benchmarks). --x64-precision: session.x64quantprecision (see main()). Prints one JSON line describing the outputs on stdout; errors go to stderr with exit code 1.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

// numpy descr (without byte order) <-> ONNX Runtime tensor type and typed array.
const DTYPES = [
  { descr: 'f4', type: 'float32', array: Float32Array },
  { descr: 'f8', type: 'float64', array: Float64Array },
  { descr: 'f2', type: 'float16', array: Uint16Array },
  { descr: 'i1', type: 'int8', array: Int8Array },
  { descr: 'u1', type: 'uint8', array: Uint8Array },
  { descr: 'i2', type: 'int16', array: Int16Array },
  { descr: 'u2', type: 'uint16', array: Uint16Array },
  { descr: 'i4', type: 'int32', array: Int32Array },
  { descr: 'u4', type: 'uint32', array: Uint32Array },
  { descr: 'i8', type: 'int64', array: BigInt64Array },
  { descr: 'u8', type: 'uint64', array: BigUint64Array },
  { descr: 'b1', type: 'bool', array: Uint8Array },
];

function fail(message) {
  process.stderr.write(`run_model.js: ${message}\n`);
  process.exit(1);
}

function sanitize(name) {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') fail(`${file}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([<>|=])(\w+)'/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !shape) fail(`${file}: bad .npy header`);
  if (/'fortran_order':\s*True/.test(header)) fail(`${file}: Fortran-order .npy is not supported`);
  if (descr[1] === '>' && !['i1', 'u1', 'b1'].includes(descr[2])) fail(`${file}: big-endian .npy`);
  const entry = DTYPES.find((d) => d.descr === descr[2]);
  if (!entry) fail(`${file}: unsupported dtype ${descr[1]}${descr[2]}`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const dataStart = start + headerLen;
  const bytes = buf.subarray(dataStart, dataStart + count * entry.array.BYTES_PER_ELEMENT);
  const data = new entry.array(count);
  new Uint8Array(data.buffer).set(bytes);
  return new ort.Tensor(entry.type, data, dims);
}

function writeNpy(file, tensor) {
  const entry = DTYPES.find((d) => d.type === tensor.type);
  if (!entry) fail(`cannot write output of type ${tensor.type} as .npy`);
  const order = entry.array.BYTES_PER_ELEMENT === 1 ? '|' : '<';
  const dims = tensor.dims.map(String);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${order}${entry.descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  const data = tensor.type === 'bool' ? Uint8Array.from(tensor.data, (v) => (v ? 1 : 0)) : tensor.data;
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(file, Buffer.concat([prefix, Buffer.from(header, 'latin1'), body]));
}

function parseArgs(argv) {
  const args = { level: 'all', threads: 1, repeat: 0 };
  const rest = argv.slice(2);
  for (let i = 0; i < rest.length; ++i) {
    const a = rest[i];
    const value = () => {
      if (i + 1 >= rest.length) fail(`${a} needs a value`);
      return rest[++i];
    };
    if (a === '--inputs') args.inputs = value();
    else if (a === '--outputs') args.outputs = value();
    else if (a === '--level') args.level = value();
    else if (a === '--optimized') args.optimized = value();
    else if (a === '--threads') args.threads = Number(value());
    else if (a === '--repeat') args.repeat = Number(value());
    else if (a === '--x64-precision') args.x64Precision = true;
    else if (a.startsWith('--')) fail(`unknown option ${a}`);
    else if (args.model === undefined) args.model = a;
    else fail(`unexpected argument ${a}`);
  }
  if (!args.model) fail('usage: run_model.js MODEL --inputs DIR --outputs DIR [--level L] [--optimized FILE]');
  if (!['disabled', 'basic', 'extended', 'all'].includes(args.level)) fail(`bad --level ${args.level}`);
  return args;
}

async function main() {
  const args = parseArgs(process.argv);
  const options = {
    graphOptimizationLevel: args.level,
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    executionProviders: ['cpu'],
    logSeverityLevel: 3,
  };
  // --x64-precision: x86 CPUs without VNNI (AVX2, AVX-512 before Cascade Lake) sum u8 x s8 products in
  // pairs into 16 bits (VPMADDUBSW), which saturates; session.x64quantprecision makes ONNX Runtime run the
  // Q/DQ groups whose int8 weights leave [-64, 63] as u8 x u8 there (exact; a no-op on VNNI CPUs and
  // other architectures). README: Deployment targets.
  if (args.x64Precision) options.extra = { session: { x64quantprecision: '1' } };
  if (args.optimized) options.optimizedModelFilePath = path.resolve(args.optimized);
  let session;
  try {
    session = await ort.InferenceSession.create(args.model, options);
  } catch (e) {
    fail(`ONNX Runtime cannot load ${args.model}: ${e.message}`);
  }
  if (!args.inputs) {
    process.stdout.write(JSON.stringify({ loaded: args.model, inputs: session.inputNames, outputs: session.outputNames }) + '\n');
    return;
  }
  const feeds = {};
  for (const name of session.inputNames) {
    const file = path.join(args.inputs, `${sanitize(name)}.npy`);
    if (!fs.existsSync(file)) fail(`no input file ${file} for model input '${name}'`);
    feeds[name] = readNpy(file);
  }
  let results;
  try {
    results = await session.run(feeds);
  } catch (e) {
    fail(`ONNX Runtime failed to run ${args.model}: ${e.message}`);
  }
  let ms;
  if (args.repeat > 0) {
    const start = process.hrtime.bigint();
    for (let r = 0; r < args.repeat; ++r) await session.run(feeds);
    ms = Number(process.hrtime.bigint() - start) / 1e6 / args.repeat;
  }
  if (args.outputs) fs.mkdirSync(args.outputs, { recursive: true });
  const summary = [];
  for (const name of session.outputNames) {
    const t = results[name];
    if (args.outputs) writeNpy(path.join(args.outputs, `${sanitize(name)}.npy`), t);
    summary.push({ name, type: t.type, dims: t.dims });
  }
  process.stdout.write(JSON.stringify(ms === undefined ? { outputs: summary } : { outputs: summary, ms }) + '\n');
}

main().catch((e) => fail(e.stack || String(e)));
