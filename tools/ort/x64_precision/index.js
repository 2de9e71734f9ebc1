// SPDX-License-Identifier: Apache-2.0
// onnxruntime-node with ONNX Runtime's session option session.x64quantprecision set on every session, for
// runners that take the module from $ORT_NODE_PATH (the corpus' tools/ort_run.js; tools/bench/accuracy.py
// points it here). On x86 CPUs without VNNI ONNX Runtime's u8 x s8 kernels saturate (README: Deployment
// targets, "ONNX Runtime on x86 CPUs without VNNI"); with the option they run exactly there, and it is a
// no-op elsewhere, so benchmark figures mean the same on every machine. A model ONNX Runtime cannot load
// with the option (1.30: some QAT exports, "Attempt to replace the existing tensor") is loaded without
// it, with a note on stderr.
'use strict';
const path = require('path');

function loadOrt() {
  const tries = [process.env.ORT_NODE_DIR && path.join(process.env.ORT_NODE_DIR, 'node_modules', 'onnxruntime-node'),
                 path.join(__dirname, '..', 'node_modules', 'onnxruntime-node'), 'onnxruntime-node'].filter(Boolean);
  for (const t of tries) {
    try { return require(t); } catch (e) { /* try the next */ }
  }
  throw new Error('x64_precision: cannot load onnxruntime-node (run tools/ort/install.sh or set ORT_NODE_DIR)');
}

// The CPU's flags (Linux): whether the u8 x s8 kernels have VNNI's non-saturating dot products.
function hasVnni() {
  try {
    return /\b(avx512_vnni|avx_vnni)\b/.test(require('fs').readFileSync('/proc/cpuinfo', 'utf8'));
  } catch (e) {
    return false;
  }
}

const ort = loadOrt();
const Session = ort.InferenceSession;

async function create(model, options = {}) {
  const extra = Object.assign({}, options.extra);
  extra.session = Object.assign({}, extra.session, { x64quantprecision: '1' });
  try {
    return await Session.create(model, Object.assign({}, options, { extra }));
  } catch (e) {
    process.stderr.write(`x64_precision: ${model} does not load with session.x64quantprecision (${e.message}); loading it without\n`);
    return Session.create(model, options);
  }
}

module.exports = hasVnni() ? ort : new Proxy(ort, { get: (target, key) => (key === 'InferenceSession' ? { create } : target[key]) });
