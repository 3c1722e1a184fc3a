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
    plain = "it's a charming and often affecting journey."
    # Case and spacing variants of one sentence: MediaPipe's tokenizer must normalise them as ours does.
    variants = ["It's A Charming And Often Affecting Journey.", "  IT'S a charming   and often AFFECTING journey.  "]
    tokenizer = AlbertTokenizer(trained_checkpoint / "spiece.model")
    assert all(tokenizer.encode(v).input_ids == tokenizer.encode(plain).input_ids for v in variants)
    texts = [s for _, s in sst2_dev[:24]] + [plain] + variants
    proc = subprocess.run([str(mediapipe_python()), "-c", CLASSIFY, str(out)], input=json.dumps(texts), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    scores = json.loads(proc.stdout.strip().splitlines()[-1])
    theirs = np.array([[s["negative"], s["positive"]] for s in scores])
    ours = run_texts(open_session(out), tokenizer, texts, max_length=64)
    # MediaPipe reports the logits as scores: the same top category on every text. Its CPU inference
    # is not LiteRT's arithmetic: on an AVX2-only Zen 1 EPYC its scores differ from ours by up to 0.066
    # on SST-2 dev (and by 3e-5 between two identical calls), while LiteRT's XNNPACK, builtin and
    # reference kernels all agree with torch within 1e-6 on this file (on AVX-512 machines MediaPipe
    # agreed within 1e-4). So the scores are compared at MediaPipe's noise ...
    assert (theirs.argmax(1) == ours.argmax(1)).all()
    np.testing.assert_allclose(theirs, ours, atol=0.1)
    # ... and its tokenization exactly: the variants get the plain sentence's scores (one changed
    # piece moves this model's logits by 0.08 at the median on SST-2 dev).
    np.testing.assert_allclose(theirs[-2:], np.repeat(theirs[-3:-2], 2, axis=0), atol=1e-3)


EMBED = r"""
import json, sys
from mediapipe.tasks.python import text
from mediapipe.tasks.python.core import base_options
embedder = text.TextEmbedder.create_from_options(text.TextEmbedderOptions(base_options=base_options.BaseOptions(model_asset_path=sys.argv[1])))
vectors = [[float(x) for x in embedder.embed(t).embeddings[0].embedding] for t in json.loads(sys.stdin.read())]
texts = json.loads(sys.argv[2])
pairs = [text.TextEmbedder.cosine_similarity(embedder.embed(a).embeddings[0], embedder.embed(b).embeddings[0]) for a, b in zip(texts[:-1], texts[1:])]
print(json.dumps({"vectors": vectors, "cosines": pairs}))
"""


def test_mediapipe_text_embedder_runs_our_sentence_embedding_export(tmp_path, embedding_checkpoint):
    from edge_albert.converters.mediapipe import mediapipe_python
    from edge_albert.data.sentence_pairs import read_scored_pairs
    from tests.conftest import shared_file

    out = tmp_path / "embedder.mediapipe.tflite"
    report = convert(embedding_checkpoint, out, "mediapipe", max_length=64)
    assert report.check.max_abs_logit_diff <= 1e-4 and read_tflite_metadata(out)["embedding"]["dimension"] == 96
    texts = read_scored_pairs(shared_file("stsb/dev.tsv"), limit=12).first + ["A Man Is Playing A Guitar!"]
    proc = subprocess.run([str(mediapipe_python()), "-c", EMBED, str(out), json.dumps(texts)], input=json.dumps(texts), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    ours = run_texts(open_session(out), AlbertTokenizer(embedding_checkpoint / "spiece.model"), texts, max_length=64)
    np.testing.assert_allclose(np.array(theirs["vectors"]), ours, atol=1e-4)
    # MediaPipe's own cosine similarity of neighbouring texts equals ours.
    cosines = (ours[:-1] * ours[1:]).sum(1) / (np.linalg.norm(ours[:-1], axis=1) * np.linalg.norm(ours[1:], axis=1))
    np.testing.assert_allclose(theirs["cosines"], cosines, atol=1e-4)
