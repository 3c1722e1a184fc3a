#!/usr/bin/env bash
# The project eats its own cooking: train a small seeded model on an SST-2 subset, convert and
# quantize it, validate every artifact, and gate on the committed baseline. A change that costs
# accuracy, fidelity, size or relative latency, or changes the ARM64 (qemu) results, fails CI here.
#   bash .ci/self_check.sh [--write-baseline]
set -euo pipefail
cd "$(dirname "$0")/.."
SST2=${EDGE_ALBERT_SST2:-../shared/data/sst2}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export EDGE_ALBERT_PROGRESS=0
edge-albert train --train "$SST2/train.tsv" --dev "$SST2/dev.tsv" --label-names negative,positive --limit 8000 \
  --epochs 2 --preset tiny --vocab-size 4000 --max-length 64 --seed 0 --threads 2 -o "$W/run"
edge-albert convert "$W/run/model" --to onnx -o "$W/model.fp32.onnx"
edge-albert convert "$W/run/model" --to tflite -o "$W/model.fp32.tflite"
edge-albert quantize "$W/run/model" --method dynamic --to onnx -o "$W/model.int8.onnx"
edge-albert quantize "$W/run/model" --method dynamic --to tflite -o "$W/model.int8.tflite"
edge-albert validate "$W/run/model" "$W/model.fp32.onnx" "$W/model.fp32.tflite" "$W/model.int8.onnx" "$W/model.int8.tflite" \
  --data "$SST2/dev.tsv" --no-memory --runs 10 --target qemu-arm64 --target-texts 24 -o "$W/report"
# REPORT_OUT=path keeps this run's report for a look after the temporary folder is gone.
if [ -n "${REPORT_OUT:-}" ]; then cp "$W/report/report.json" "$REPORT_OUT"; fi
if [ "${1:-}" = "--write-baseline" ]; then
  cp "$W/report/report.json" .ci/baseline.json
  echo "wrote .ci/baseline.json"
  exit 0
fi
edge-albert check "$W/report/report.json" --baseline .ci/baseline.json --junit "${JUNIT_OUT:-$W/junit.xml}"
