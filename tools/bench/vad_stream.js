#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// Streams audio through a stateful voice-activity model in ONNX Runtime (npm onnxruntime-node, CPU), as
// Silero VAD is used: chunk after chunk, "state" fed back from "stateN".
//   node tools/bench/vad_stream.js MODEL AUDIO.npy RATE CHUNK OUT.npy
// AUDIO.npy: float32 [samples]; writes the speech probability of every chunk as float32 [chunks].
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '..', 'ort', 'node_modules', 'onnxruntime-node'));

function readF32(file) {
  const buf = fs.readFileSync(file);
  const len = buf.readUInt16LE(8);
  const body = buf.subarray(10 + len);
  return new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
}

function writeF32(file, data) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${data.length},), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(data.buffer)]));
}

async function main() {
  const [model, audioFile, rate, chunk, out] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, executionProviders: ['cpu'] });
  const audio = readF32(audioFile);
  const n = Math.floor(audio.length / Number(chunk));
  const hidden = session.inputNames.includes('state') ? 32 : 0;
  let state = new ort.Tensor('float32', new Float32Array(2 * hidden), [2, 1, hidden]);
  const sr = new ort.Tensor('int64', BigInt64Array.from([BigInt(rate)]), [1]);
  const probs = new Float32Array(n);
  for (let i = 0; i < n; ++i) {
    const x = new ort.Tensor('float32', audio.slice(i * chunk, (i + 1) * chunk), [1, Number(chunk)]);
    const r = await session.run({ input: x, state, sr });
    probs[i] = r.output.data[0];
    state = r.stateN;
  }
  writeF32(out, probs);
}

main().catch((e) => { process.stderr.write(`vad_stream.js: ${e.stack || e}\n`); process.exit(1); });
