"""Sentence-embedding models through `convert` and `quantize` on real ONNX Runtime and LiteRT:
one `sentence_embedding` output [batch, hidden] with the pooling inside the graph, parity <= 1e-4
with PyTorch on STS-B sentences, the embedding recorded in the metadata, int8 close in cosine."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from edge_albert.converters.convert import convert
from edge_albert.data.sentence_pairs import read_scored_pairs
from edge_albert.errors import InputError
from edge_albert.metrics import embedding_fidelity
from edge_albert.runtimes import open_session
from edge_albert.tokenization import AlbertTokenizer
from edge_albert.validation.compare import run_texts
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def sentences():
    pairs = read_scored_pairs(shared_file("stsb/dev.tsv"), limit=150)
    return pairs.first + pairs.second


def test_onnx_and_tflite_embeddings_match_pytorch(tmp_path, embedding_checkpoint, sentences):
    tok = AlbertTokenizer(embedding_checkpoint / "spiece.model")
    reference = run_texts(open_session(embedding_checkpoint), tok, sentences, max_length=64)
    assert reference.shape == (300, 96) and np.allclose(np.linalg.norm(reference, axis=1), 1.0, atol=1e-5)  # mean-pooled, normalised

    onnx_report = convert(embedding_checkpoint, tmp_path / "emb.onnx", "onnx")
    graph = onnx.load(str(tmp_path / "emb.onnx")).graph
    assert [o.name for o in graph.output] == ["sentence_embedding"]
    assert [d.dim_param or d.dim_value for d in graph.output[0].type.tensor_type.shape.dim] == ["batch", 96]
    assert onnx_report.export.metadata["embedding"] == {"dimension": 96, "pooling": "mean", "normalize": True}
    tflite_report = convert(embedding_checkpoint, tmp_path / "emb.tflite", "tflite", buckets=[64])
    for report in (onnx_report, tflite_report):
        assert report.check.max_abs_logit_diff <= 1e-4 and report.check.min_cosine >= 1 - 1e-6
        vectors = run_texts(open_session(report.export.path), tok, sentences, max_length=64)
        assert np.abs(vectors - reference).max() <= 1e-4


def test_int8_embeddings_stay_close_and_keep_their_neighbours(tmp_path, embedding_checkpoint, sentences):
    from edge_albert.quantization.api import quantize
    from edge_albert.quantization.configs import recipe

    tok = AlbertTokenizer(embedding_checkpoint / "spiece.model")
    reference = run_texts(open_session(embedding_checkpoint), tok, sentences, max_length=64)
    result = quantize(embedding_checkpoint, tmp_path / "emb.int8.onnx", recipe("dynamic_wi8_afp32"), to="onnx")
    vectors = run_texts(open_session(tmp_path / "emb.int8.onnx"), tok, sentences, max_length=64)
    fid = embedding_fidelity(vectors, reference)
    assert fid["min_cosine"] >= 0.95 and fid["agreement"] >= 0.8
    assert open_session(tmp_path / "emb.int8.onnx").metadata["embedding"]["dimension"] == 96 and result.comparison.min_cosine >= 0.95


def test_a_pretraining_checkpoint_is_refused_with_one_line(tmp_path, spiece_model):
    from tests.conftest import head_checkpoint

    from edge_albert.model.albert import AlbertForPreTraining

    pretraining = head_checkpoint(tmp_path / "pre", spiece_model, AlbertForPreTraining, ["LABEL_0", "LABEL_1"])
    with pytest.raises(InputError, match="is a AlbertForPreTraining; this export takes text-classification, token-classification, "
                                         "question-answering, feature-extraction, fill-mask, multiple-choice models"):
        convert(pretraining, tmp_path / "pre.onnx", "onnx")
    assert not (tmp_path / "pre.onnx").exists()
