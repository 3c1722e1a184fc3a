#!/usr/bin/env bash
# The project eats its own cooking: train a small seeded model on an SST-2 subset, make every kind
# of artifact the project produces (fp32, dynamic and static int8, fp16, pruned + int8, MediaPipe,
# ONNX Runtime Mobile's .ort, an ExecuTorch program, an ONNX file with the tokenizer inside (text in),
# a bundle run by the on-device runtime), validate them all (the fp32 and int8 files, the .ort and
# the ExecuTorch program also on ARM64 under qemu: emulation costs 2-13 s per sentence for the float
# files; the .onnx ones also in headless Chromium with onnxruntime-web and transformers.js's
# tokenizer), and gate on the committed baseline of this CPU class and the floors. A change that
# costs accuracy, fidelity, size, relative latency or quantization coverage, or changes the ARM64
# (qemu) results, fails CI here. Then the same for a small NER and a small question-answering
# model (.ci/self_check_tasks.sh).
#   bash .ci/self_check.sh [--write-baseline]   (REPORT_OUT=path keeps the report)
set -euo pipefail
cd "$(dirname "$0")/.."
SST2=${EDGE_ALBERT_SST2:-../shared/data/sst2}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export EDGE_ALBERT_PROGRESS=0
edge-albert train --train "$SST2/train.tsv" --dev "$SST2/dev.tsv" --label-names negative,positive --limit 8000 \
  --epochs 2 --preset tiny --vocab-size 4000 --max-length 64 --seed 0 --threads 2 -o "$W/run"
M="$W/run/model"
# The conversions are single-threaded and independent of one another: two lanes, one per core
# (their outputs do not depend on what else runs). A lane that fails prints its log and fails the check.
lane_a() {
  edge-albert convert "$M" --to onnx -o "$W/model.fp32.onnx"
  edge-albert convert "$M" --to mediapipe -o "$W/model.mediapipe.tflite"
  edge-albert quantize "$M" --method dynamic --to onnx -o "$W/model.int8.onnx"
  edge-albert convert "$W/model.int8.onnx" --to ort -o "$W/model.int8.ort"
  edge-albert convert "$W/model.int8.onnx" --to onnx --with-tokenizer --tokenizer "$M" -o "$W/model.int8.text.onnx"
  edge-albert quantize "$M" --method static --calibration "$SST2/train.tsv" --samples 128 --to onnx -o "$W/model.static.onnx"
}
lane_b() {
  edge-albert convert "$M" --to tflite -o "$W/model.fp32.tflite"
  edge-albert quantize "$M" --method dynamic --to executorch --max-length 128 -o "$W/model.int8.pte"
  edge-albert quantize "$M" --method dynamic --to tflite -o "$W/model.int8.tflite"
  edge-albert quantize "$M" --method fp16 --to onnx -o "$W/model.fp16.onnx"
}
lanes() {  # run lane_a and lane_b side by side; fail with the failing lane's log
  local a b
  lane_a > "$W/lane_a.log" 2>&1 & a=$!
  lane_b > "$W/lane_b.log" 2>&1 & b=$!
  if ! wait "$a"; then cat "$W/lane_a.log"; wait "$b" || true; echo "self-check: conversion lane a failed" >&2; exit 1; fi
  if ! wait "$b"; then cat "$W/lane_b.log"; echo "self-check: conversion lane b failed" >&2; exit 1; fi
  cat "$W/lane_a.log" "$W/lane_b.log"
}
lanes
# Pruning trains with both cores (--threads 2), so it runs alone.
edge-albert prune "$M" --train "$SST2/train.tsv" --dev "$SST2/dev.tsv" --label-names negative,positive --limit 8000 \
  --heads 0.25 --ffn 0.25 --recover-epochs 1 --max-length 64 --threads 2 -o "$W/prune"
edge-albert quantize "$W/prune/recover/model" --method dynamic --to onnx -o "$W/model.pruned.int8.onnx"
edge-albert package "$W/model.int8.onnx" "$W/model.int8.tflite" --tokenizer "$M/spiece.model" -o "$W/model.int8.eabundle"
edge-albert validate "$M" "$W/model.fp32.onnx" "$W/model.fp32.tflite" "$W/model.int8.onnx" "$W/model.int8.tflite" \
  "$W/model.static.onnx" "$W/model.fp16.onnx" "$W/model.pruned.int8.onnx" "$W/model.mediapipe.tflite" "$W/model.int8.eabundle" "$W/model.int8.ort" \
  "$W/model.int8.text.onnx" "$W/model.int8.pte" --data "$SST2/dev.tsv" --no-memory --runs 10 -o "$W/report" \
  --target qemu-arm64 --target browser:2 --target-texts 12 --target-file model.fp32.onnx --target-file model.fp32.tflite \
  --target-file model.int8.onnx --target-file model.int8.tflite --target-file model.static.onnx --target-file model.int8.ort \
  --target-file model.int8.pte
# REPORT_OUT=path keeps this run's report for a look after the temporary folder is gone.
if [ -n "${REPORT_OUT:-}" ]; then cp "$W/report/report.json" "$REPORT_OUT"; fi
# One baseline per CPU class and core design (.ci/baselines/CLASS.CORE.json, named after the
# architecture, every tracked SIMD flag and the core; CLASS.json files predate the core):
# `edge-albert baseline` writes this machine's file only, and refuses a
# report under the floors (.ci/baselines/floors.json), which only a reviewed edit can move.
if [ "${1:-}" = "--write-baseline" ]; then
  edge-albert baseline "$W/report/report.json" --floors .ci/baselines/floors.json -o .ci/baselines --force
  bash .ci/self_check_tasks.sh --write-baseline
  exit 0
fi
baselines=()
for f in .ci/baselines/*-*.json; do baselines+=(--baseline "$f"); done
# --require-latency: a machine of a class without a baseline fails here instead of skipping latency.
edge-albert check "$W/report/report.json" "${baselines[@]}" --floors .ci/baselines/floors.json --require-latency \
  --junit "${JUNIT_OUT:-$W/junit.xml}" --force
# The token tasks: a small NER and a small QA model, gated on their own baselines (.ci/baselines/ner, qa).
bash .ci/self_check_tasks.sh
