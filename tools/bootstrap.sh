#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what is missing (Debian 12 packages; run as root or with sudo available), then configures and
# builds ptq in ./build (not with --no-build). Extra arguments are more packages to install. Safe to run
# any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(g++ make cmake ccache pkg-config
  libonnx-dev libprotobuf-dev protobuf-compiler libeigen3-dev libcli11-dev libspdlog-dev
  nlohmann-json3-dev libgtest-dev libzip-dev libstb-dev libdnnl-dev)
build=1
for a in "$@"; do
  if [ "$a" = --no-build ]; then build=0; else PACKAGES+=("$a"); fi
done

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "ptq: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "$build" -eq 1 ] || exit 0
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
