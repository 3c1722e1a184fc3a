#!/usr/bin/env bash
# The project eats its own cooking: train a small seeded model on an SST-2 subset, convert and
# quantize it, validate every artifact, and gate on the committed baseline. A change that costs
# accuracy, fidelity, size or relative latency, or changes the ARM64 (qemu) results, fails CI here.
#   bash .ci/self_check.sh [--write-baseline]   (REPORT_OUT=path keeps the report)
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
# One baseline per CPU class CI runs on (.ci/baselines/ARCH-FLAG.json): latency ratios are only
# comparable on the same instruction set, so `check` uses the one of this machine's class.
if [ "${1:-}" = "--write-baseline" ]; then
  name=$(python -c "from edge_albert.validation.machine import cpu_class_name, machine_info; print(cpu_class_name(machine_info()))")
  mkdir -p .ci/baselines
  cp "$W/report/report.json" ".ci/baselines/$name.json"
  echo "wrote .ci/baselines/$name.json"
  exit 0
fi
baselines=()
for f in .ci/baselines/*.json; do baselines+=(--baseline "$f"); done
edge-albert check "$W/report/report.json" "${baselines[@]}" --junit "${JUNIT_OUT:-$W/junit.xml}" --force
