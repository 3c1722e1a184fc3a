"""The on-device sentence embedder from a bundle on real ONNX Runtime and LiteRT, against
sentence-transformers on the same checkpoint (it reads the pooling our checkpoint records), plus
search, the edges (empty lists, bad k, a bare string, long texts) and the `embed` and `predict`
commands."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edge_albert.converters.convert import convert
from edge_albert.data.sentence_pairs import read_scored_pairs
from edge_albert.errors import InputError
from edge_albert.on_device import Embedder, open_predictor
from edge_albert.packaging.bundle import build_bundle
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def embedding_bundle(tmp_path_factory, embedding_checkpoint):
    folder = tmp_path_factory.mktemp("emb-bundle")
    convert(embedding_checkpoint, folder / "emb.onnx", "onnx")
    convert(embedding_checkpoint, folder / "emb.tflite", "tflite", buckets=[32, 128])
    return build_bundle([folder / "emb.onnx", folder / "emb.tflite"], embedding_checkpoint / "spiece.model", folder / "emb.eabundle").path


@pytest.fixture(scope="module")
def sentences():
    pairs = read_scored_pairs(shared_file("stsb/dev.tsv"), limit=100)
    return pairs.first + pairs.second


@pytest.mark.parametrize("backend", ["onnxruntime", "litert"])
def test_bundle_embeds_as_sentence_transformers_does(embedding_bundle, embedding_checkpoint, sentences, backend):
    st = pytest.importorskip("sentence_transformers")
    embedder = Embedder.from_bundle(embedding_bundle, backend)
    assert isinstance(open_predictor(embedding_bundle), Embedder) and embedder.dimension == 96 and embedder.normalized
    ours = embedder.embed(sentences, batch_size=7)
    reference = st.SentenceTransformer(str(embedding_checkpoint), device="cpu", local_files_only=True).encode(sentences, batch_size=16)
    assert ours.dtype == np.float32 and ours.shape == (200, 96)
    assert np.abs(ours - reference).max() <= 1e-4
    # A text's vector does not depend on its batch.
    assert np.abs(embedder.embed(sentences[:1]) - ours[:1]).max() <= 1e-5


def test_search_ranks_by_cosine_and_takes_precomputed_vectors(embedding_bundle, sentences):
    embedder = Embedder.from_bundle(embedding_bundle)
    corpus = sentences[:50]
    hits = embedder.search(corpus[7], corpus, k=3)
    assert hits[0].index == 7 and hits[0].text == corpus[7] and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    vectors = embedder.embed(corpus)
    expected = np.argsort(-(vectors @ vectors[12]), kind="stable")[:5]
    assert [h.index for h in embedder.search(corpus[12], vectors, k=5)] == list(expected)
    assert embedder.search("anything", [], k=3) == [] and len(embedder.search("x", corpus, k=500)) == 50
    assert embedder.similarity(corpus[:2], corpus[:3]).shape == (2, 3)
    assert embedder.embed([]).shape == (0, 96)


def test_bad_calls_are_one_line_errors(embedding_bundle):
    embedder = Embedder.from_bundle(embedding_bundle)
    with pytest.raises(InputError, match="takes a list of texts, not a single string"):
        embedder.embed("a text")
    with pytest.raises(InputError, match="k must be a positive integer"):
        embedder.search("q", ["a"], k=0)
    with pytest.raises(InputError, match="lone surrogate"):
        embedder.embed(["fine", "bad \udcff"])
    long_text = "word " * 400
    assert embedder.truncated([long_text, "short"]) == [True, False]
    assert embedder.embed([long_text]).shape == (1, 96)  # truncated to the window, not refused


def test_embed_and_predict_commands(tmp_path, embedding_bundle, sentences):
    embedder = Embedder.from_bundle(embedding_bundle)
    lines = sentences[:5]
    cli = [sys.executable, "-m", "edge_albert.cli"]
    out = subprocess.run([*cli, "embed", str(embedding_bundle), "-o", str(tmp_path / "v.npy")], input="\n".join(lines).encode(),
                         capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert np.abs(np.load(tmp_path / "v.npy") - embedder.embed(lines)).max() <= 1e-6
    again = subprocess.run([*cli, "embed", str(embedding_bundle), "-o", str(tmp_path / "v.npy")], input=b"x", capture_output=True, timeout=300)
    assert again.returncode != 0 and b"--force" in again.stderr  # an existing file is kept
    records = subprocess.run([*cli, "embed", str(embedding_bundle), *lines[:2]], capture_output=True, text=True, timeout=300)
    rows = [json.loads(line) for line in records.stdout.splitlines()]
    assert [r["text"] for r in rows] == lines[:2] and np.abs(np.array(rows[0]["embedding"]) - embedder.embed(lines[:1])[0]).max() <= 1e-6
    bad = subprocess.run([*cli, "embed", str(embedding_bundle), "-o", str(tmp_path / "w.npy")], input=b"good\n\xff bad\n",
                         capture_output=True, timeout=300)
    assert bad.returncode == 2 and b"line 2: not valid UTF-8" in bad.stderr and not (tmp_path / "w.npy").exists()
    predicted = subprocess.run([*cli, "predict", str(embedding_bundle), lines[0]], capture_output=True, text=True, timeout=300)
    assert predicted.returncode == 0 and len(json.loads(predicted.stdout)["embedding"]) == 96
