#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Calibration benchmark: throughput (samples/s, wall clock of `quantize calibrate`, model load and
# every pass included) per method on a few models, and peak RSS with 100 vs 1000 samples (the
# memory must not grow with the sample count: ratio <= 1.1).
#   tools/bench/calib_bench.sh [build dir]     env: CORPUS (default /work/shared/corpus), THREADS (default 1),
#                                              METHODS (default: every method of the observer table)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-build}/tools/quantize
CORPUS=${CORPUS:-/work/shared/corpus}
THREADS=${THREADS:-1}
METHODS=${METHODS:-$("$BIN" calibrate --help | sed -n '/Calibration method/,/--percentile/p' | grep -oE '^ +[a-z]+:' | tr -d ' :')}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# run NAME SAMPLES ARGS...: prints one row; RSS in MB from /usr/bin/time -v.
run() {
  local name=$1 samples=$2 method=$3; shift 3
  local log=$OUT/time.log
  /usr/bin/time -v "$BIN" -q calibrate "$@" --table "$OUT/t.json" --method "$method" --threads "$THREADS" 2>"$log" >/dev/null ||
    { echo "FAILED: $name $method"; tail -3 "$log"; return 1; }
  local secs rss
  secs=$(grep "Elapsed (wall clock)" "$log" | awk -F': ' '{print $2}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(grep "Maximum resident set size" "$log" | awk '{print $NF}')
  printf "%-22s %-11s %7d %8.2f %10.1f %8.1f\n" "$name" "$method" "$samples" "$secs" "$(echo "$samples / $secs" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
  echo "$rss" >"$OUT/rss"
}

echo "threads: $THREADS   ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
printf "%-22s %-11s %7s %8s %10s %8s\n" model method samples seconds samples/s "RSS MB"
for m in $METHODS; do
  run fmnist_cnn 300 "$m" models/fmnist_cnn.onnx --calib calibration/fmnist
  [ -d "$CORPUS" ] || continue
  run mnist-8 100 "$m" "$CORPUS/models/mnist/mnist-8.onnx" --calib "$CORPUS/data/calib/mnist8_raw255"
  run mobilenet_v1_0.25_128 100 "$m" "$CORPUS/models/imagenet/mobilenet_v1_0.25_128_fp32.onnx" \
    --calib "$CORPUS/data/imagenet_sample_1000/images" --preset mobilenet_tf --resize 146 --calib-samples 100
done

echo
echo "peak RSS, 100 vs 1000 samples (fmnist_cnn, models/fmnist_test/input.npy stacked on axis 0)"
for m in ${RSS_METHODS:-minmax kl eq}; do
  run fmnist_cnn/100 100 "$m" models/fmnist_cnn.onnx --calib models/fmnist_test --batch-axis 0 --calib-samples 100 >/dev/null
  r100=$(cat "$OUT/rss")
  run fmnist_cnn/1000 1000 "$m" models/fmnist_cnn.onnx --calib models/fmnist_test --batch-axis 0 >/dev/null
  r1000=$(cat "$OUT/rss")
  printf "%-11s RSS 100: %6.1f MB   1000: %6.1f MB   ratio %.3f\n" "$m" "$(echo "$r100/1024" | bc -l)" "$(echo "$r1000/1024" | bc -l)" "$(echo "$r1000/$r100" | bc -l)"
done
