#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs ONNX Runtime for Node (npm onnxruntime-node, CPU build) into tools/ort/node_modules for the
# interop tests. Idempotent: returns at once when the pinned version is already installed.
# --ignore-scripts: the package's install script only downloads GPU binaries; the CPU library is inside.
set -euo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null || { echo "ptq: node (Node.js) is required for the ONNX Runtime tests: apt-get install -y nodejs npm" >&2; exit 1; }
want=$(node -p "require('./package.json').dependencies['onnxruntime-node']")
have=$(node -p "try { require('onnxruntime-node/package.json').version } catch (e) { '' }" 2>/dev/null || true)
if [ "$have" = "$want" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "ptq: npm is required to install onnxruntime-node: apt-get install -y npm" >&2; exit 1; }
echo "ptq: installing onnxruntime-node $want into tools/ort/node_modules" >&2
npm install --ignore-scripts --no-audit --no-fund --loglevel=error >&2
node -e "require('onnxruntime-node')" || { echo "ptq: onnxruntime-node does not load after install" >&2; exit 1; }
