#!/usr/bin/env bash
# The token tasks' part of the self check: a small seeded NER model (CoNLL-2003) and a small seeded
# question-answering model (SQuAD v1.1), each exported to fp32 and dynamic-int8 ONNX and bundled,
# validated on a dev slice through the decoders the device runs (entity F1 / SQuAD F1, same
# entities / same best span as PyTorch), the int8 file also on ARM64 under qemu, and gated on
# their own baselines and floors
# (.ci/baselines/ner/, .ci/baselines/qa/). Called by .ci/self_check.sh; takes its --write-baseline.
#   bash .ci/self_check_tasks.sh [--write-baseline]   (REPORT_OUT_NER / REPORT_OUT_QA keep the reports)
set -euo pipefail
cd "$(dirname "$0")/.."
CONLL=${EDGE_ALBERT_CONLL:-../shared/data/conll2003}
SQUAD=${EDGE_ALBERT_SQUAD:-../shared/data/squad}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export EDGE_ALBERT_PROGRESS=0
# Dev slices: the first 300 CoNLL dev sentences; the first SQuAD dev paragraphs, whole, up to 60 questions.
awk -v RS= -v ORS='\n\n' 'NR <= 300' "$CONLL/dev.txt" > "$W/conll-dev.txt"
python - "$SQUAD/dev.json" "$W/squad-dev.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
article = doc["data"][0]
kept, n = [], 0
for paragraph in article["paragraphs"]:
    if n + len(paragraph["qas"]) > 60:
        break
    kept.append(paragraph)
    n += len(paragraph["qas"])
doc["data"] = [dict(article, paragraphs=kept)]
json.dump(doc, open(sys.argv[2], "w"))
EOF
# One tokenizer for both, trained on CoNLL's words (cased text, lowercased as ALBERT does).
awk 'NF && $1 != "-DOCSTART-" {printf "%s ", $1} !NF {print ""}' "$CONLL/train.txt" > "$W/conll-text.txt"
edge-albert tokenizer "$W/conll-text.txt" --vocab-size 4000 -o "$W/spiece.model"

# Small on purpose (about a minute each on 2 cores): the gate tracks these models' numbers from
# run to run, it does not need them good (NER ~50 entity F1, QA a few points of SQuAD F1).
edge-albert train --task token-classification --train "$CONLL/train.txt" --dev "$W/conll-dev.txt" --limit 2500 \
  --epochs 2 --preset tiny --tokenizer "$W/spiece.model" --max-length 48 --lr 1e-3 --seed 0 --threads 2 -o "$W/ner"
edge-albert train --task question-answering --train "$SQUAD/train.json" --dev "$W/squad-dev.json" --limit 400 \
  --epochs 1 --preset tiny --tokenizer "$W/spiece.model" --max-length 128 --stride 32 --batch-size 16 --lr 1e-3 --seed 0 --threads 2 -o "$W/qa"

gate() {  # NAME DATA MAX_LENGTH: export, bundle, validate, then gate (or record the baseline)
  local name=$1 data=$2 length=$3 M="$W/$1/model"
  # The two exports are single-threaded and independent: side by side, one per core.
  edge-albert convert "$M" --to onnx --max-length "$length" -o "$W/$name.fp32.onnx" > "$W/$name.convert.log" 2>&1 & local export=$!
  edge-albert quantize "$M" --method dynamic --to onnx --max-length "$length" -o "$W/$name.int8.onnx"
  if ! wait "$export"; then cat "$W/$name.convert.log"; echo "self-check: $name fp32 export failed" >&2; exit 1; fi
  cat "$W/$name.convert.log"
  edge-albert package "$W/$name.int8.onnx" --tokenizer "$M/spiece.model" -o "$W/$name.int8.eabundle"
  # The int8 file also runs on ARM64 under qemu (8 sentences / 8 questions' windows): the gate
  # judges its per-token outputs against this host's and the fp32 model's.
  edge-albert validate "$M" "$W/$name.fp32.onnx" "$W/$name.int8.onnx" "$W/$name.int8.eabundle" --data "$data" \
    --no-memory --runs 10 --target qemu-arm64 --target-texts 8 --target-file "$name.int8.onnx" -o "$W/report-$name"
  local keep="REPORT_OUT_${name^^}"
  if [ -n "${!keep:-}" ]; then cp "$W/report-$name/report.json" "${!keep}"; fi
  if [ "${WRITE_BASELINE:-}" = 1 ]; then
    edge-albert baseline "$W/report-$name/report.json" --floors ".ci/baselines/$name/floors.json" --thresholds ".ci/baselines/$name/thresholds.json" \
      -o ".ci/baselines/$name" --force
    return
  fi
  local baselines=()
  for f in ".ci/baselines/$name"/*-*.json; do baselines+=(--baseline "$f"); done
  # thresholds.json: same-entities / same-span agreement is per sentence / question, stricter than
  # a label per text, so int8 keeps at least 95% of them (floors hold each file's own bound).
  # Latency is judged only against a baseline of this CPU class (no --require-latency: these
  # baselines exist for fewer classes than the classifier's; other classes skip latency).
  edge-albert check "$W/report-$name/report.json" "${baselines[@]}" --floors ".ci/baselines/$name/floors.json" \
    --thresholds ".ci/baselines/$name/thresholds.json" --junit "$W/junit-$name.xml" --force
}
[ "${1:-}" = "--write-baseline" ] && WRITE_BASELINE=1
gate ner "$W/conll-dev.txt" 48
gate qa "$W/squad-dev.json" 128
