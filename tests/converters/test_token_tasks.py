"""Token classification and question answering heads through `convert --to onnx` on real ONNX
Runtime: outputs named by the task, dynamic batch and length, parity <= 1e-4 on real CoNLL and
SQuAD dev inputs (windows included), and the shared layer stored once."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from edge_albert.converters.convert import convert
from edge_albert.errors import InputError
from edge_albert.runtimes import open_session
from edge_albert.tokenization import AlbertTokenizer, pad_encodings


def run_both(checkpoint, onnx_path, encodings, pad_id):
    ref, cand = open_session(checkpoint), open_session(onnx_path)
    worst = 0.0
    for start in range(0, len(encodings), 16):
        batch = pad_encodings(encodings[start:start + 16], pad_id)
        a, b = ref.run(batch), cand.run(batch)
        mask = batch["attention_mask"].astype(bool)
        assert a.shape == b.shape
        worst = max(worst, float(np.abs(a - b)[mask].max()))
    return worst


def test_token_classifier_onnx_parity_on_conll_dev(tmp_path, ner_checkpoint, conll_dev):
    report = convert(ner_checkpoint, tmp_path / "ner.onnx", "onnx")
    model = onnx.load(str(tmp_path / "ner.onnx"))
    assert [o.name for o in model.graph.output] == ["logits"]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["task"] == '"token-classification"' and meta["architecture"] == '"AlbertForTokenClassification"'
    assert report.check.max_abs_logit_diff <= 1e-4
    tok = AlbertTokenizer(ner_checkpoint / "spiece.model")
    encodings = [tok.encode_words(words, max_length=128) for words in conll_dev.words[:400]]
    assert run_both(ner_checkpoint, tmp_path / "ner.onnx", encodings, tok.pad_id) <= 1e-4


def test_question_answering_onnx_parity_on_squad_windows(tmp_path, qa_checkpoint, squad_dev):
    report = convert(qa_checkpoint, tmp_path / "qa.onnx", "onnx")
    assert report.export.metadata["max_length"] == 384  # QA exports default to the usual window
    model = onnx.load(str(tmp_path / "qa.onnx"))
    assert [o.name for o in model.graph.output] == ["start_logits", "end_logits"]
    tok = AlbertTokenizer(qa_checkpoint / "spiece.model")
    encodings = [w for ex in squad_dev[:60] for w in tok.encode_windows(ex.question.strip(), ex.context, max_length=256, stride=64)]
    assert len(encodings) > 60
    assert run_both(qa_checkpoint, tmp_path / "qa.onnx", encodings, tok.pad_id) <= 1e-4
    # One shared layer per group, stored once: the file is about 4 bytes per parameter.
    from edge_albert.model.checkpoint import load_model
    from edge_albert.model.factory import parameter_count

    params = parameter_count(load_model(qa_checkpoint))
    assert abs((tmp_path / "qa.onnx").stat().st_size - 4 * params) / (4 * params) <= 0.05


def test_tflite_token_heads_match_pytorch_and_run_in_bundles(tmp_path, ner_checkpoint, qa_checkpoint, conll_dev, squad_dev):
    """Both heads to TFLite (one 64-token bucket to keep the test short): outputs named by the
    task, parity <= 1e-4 per real token with PyTorch, and the on-device predictors on LiteRT give
    what they give on ONNX Runtime."""
    from edge_albert.packaging.bundle import build_bundle
    from edge_albert.on_device import QuestionAnswerer, TokenClassifier

    tok = AlbertTokenizer(ner_checkpoint / "spiece.model")
    ner = convert(ner_checkpoint, tmp_path / "ner.tflite", "tflite", buckets=[64])
    assert ner.check.max_abs_logit_diff <= 1e-4 and ner.export.metadata["task"] == "token-classification"
    sentences = [w for w in conll_dev.words[:300] if len(tok.encode_words(w, max_length=None).input_ids) <= 64][:150]
    assert run_both(ner_checkpoint, tmp_path / "ner.tflite", [tok.encode_words(w, max_length=64) for w in sentences], tok.pad_id) <= 1e-4
    qa = convert(qa_checkpoint, tmp_path / "qa.tflite", "tflite", buckets=[64])
    assert qa.check.max_abs_logit_diff <= 1e-4
    windows = [w for ex in squad_dev[:20] for w in tok.encode_windows(ex.question.strip(), ex.context, max_length=64, stride=16)]
    assert run_both(qa_checkpoint, tmp_path / "qa.tflite", windows, tok.pad_id) <= 1e-4

    convert(ner_checkpoint, tmp_path / "ner.onnx", "onnx", max_length=64)
    convert(qa_checkpoint, tmp_path / "qa.onnx", "onnx", max_length=64)
    for name in ("ner", "qa"):
        build_bundle([tmp_path / f"{name}.onnx", tmp_path / f"{name}.tflite"], ner_checkpoint / "spiece.model",
                     tmp_path / f"{name}.eabundle")
    texts = [" ".join(w) for w in sentences[:40]]
    on = [TokenClassifier.from_bundle(tmp_path / "ner.eabundle", backend) for backend in ("onnxruntime", "litert")]
    a, b = (t.entities(texts) for t in on)
    assert [[(e.entity, e.start, e.end) for e in x] for x in a] == [[(e.entity, e.start, e.end) for e in x] for x in b]
    qs = [QuestionAnswerer.from_bundle(tmp_path / "qa.eabundle", backend, stride=16) for backend in ("onnxruntime", "litert")]
    args = ([ex.question.strip() for ex in squad_dev[:15]], [ex.context for ex in squad_dev[:15]])
    x, y = (q.answers(*args) for q in qs)
    assert [(r.start, r.end) for r in x] == [(r.start, r.end) for r in y] and all(abs(r.score - t.score) <= 2e-4 for r, t in zip(x, y))


def test_mediapipe_refuses_token_tasks_with_one_line(tmp_path, ner_checkpoint):
    with pytest.raises(InputError, match="MediaPipe's TextClassifier takes text-classification models"):
        convert(ner_checkpoint, tmp_path / "ner.tflite", "mediapipe")
    assert not (tmp_path / "ner.tflite").exists()
