#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what is missing, builds, and runs the main job on the bundled default model.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh
build/tools/quantize inspect models/fmnist_cnn.onnx
