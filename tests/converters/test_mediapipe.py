"""MediaPipe's own TextClassifier runs our export (in the cached MediaPipe venv)."""

from __future__ import annotations

import json
import subprocess

import numpy as np

from edge_albert.converters.convert import convert
from edge_albert.runtimes import open_session
from edge_albert.runtimes.litert import read_tflite_metadata
from edge_albert.tokenization import AlbertTokenizer
from edge_albert.validation.compare import run_texts

CLASSIFY = r"""
import json, sys
from mediapipe.tasks.python import text
from mediapipe.tasks.python.core import base_options
clf = text.TextClassifier.create_from_options(text.TextClassifierOptions(base_options=base_options.BaseOptions(model_asset_path=sys.argv[1])))
out = []
for t in json.loads(sys.stdin.read()):
    cats = clf.classify(t).classifications[0].categories
    out.append({c.category_name: c.score for c in cats})
print(json.dumps(out))
"""


def test_mediapipe_text_classifier_runs_our_export(tmp_path, trained_checkpoint, sst2_dev):
    from edge_albert.converters.mediapipe import mediapipe_python

    out = tmp_path / "model.mediapipe.tflite"
    report = convert(trained_checkpoint, out, "mediapipe", max_length=64)
    assert report.check.agreement == 1.0
    meta = read_tflite_metadata(out)
    assert meta["labels"] == ["negative", "positive"] and meta["buckets"] == [64]  # our metadata survives
    texts = [s for _, s in sst2_dev[:24]] + ["It's A Charming And Often Affecting Journey."]
    proc = subprocess.run([str(mediapipe_python()), "-c", CLASSIFY, str(out)], input=json.dumps(texts), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    scores = json.loads(proc.stdout.strip().splitlines()[-1])
    theirs = np.array([[s["negative"], s["positive"]] for s in scores])
    ours = run_texts(open_session(out), AlbertTokenizer(trained_checkpoint / "spiece.model"), texts, max_length=64)
    # MediaPipe tokenizes with the packed sentencepiece model and reports the logits as scores.
    np.testing.assert_allclose(theirs, ours, atol=1e-4)
