"""The on-device fill-mask predictor from a bundle on real ONNX Runtime and LiteRT, against
transformers' own `fill-mask` pipeline on the same weights; `validate` on held-back words; the
edges (no [MASK], a [MASK] cut off, bad top_k) and the `predict` command."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import transformers

from edge_albert.converters.convert import convert
from edge_albert.errors import InputError
from edge_albert.model.albert import AlbertForMaskedLM
from edge_albert.model.checkpoint import load_model, save_model
from edge_albert.on_device import MaskFiller, open_predictor
from edge_albert.packaging.bundle import build_bundle
from tests.conftest import head_checkpoint

TEXTS = ["the movie was [MASK] .", "a [MASK] , witty and [MASK] film", "[MASK]", "it 's a charming and often affecting [MASK] ."]


@pytest.fixture(scope="module")
def mlm_checkpoint(tmp_path_factory, spiece_model):
    """A random masked LM whose vocabulary scores are spread out (a large random bias), so the top
    pieces are far apart and their order is the same on every runtime."""
    path = head_checkpoint(tmp_path_factory.mktemp("mlm") / "ckpt", spiece_model, AlbertForMaskedLM, ["LABEL_0", "LABEL_1"])
    model = load_model(path)
    with torch.no_grad():
        model.predictions.bias.copy_(torch.randn(model.predictions.bias.shape, generator=torch.Generator().manual_seed(0)) * 3)
    return save_model(model, path, tokenizer_model=spiece_model, force=True)


@pytest.fixture(scope="module")
def mlm_bundle(tmp_path_factory, mlm_checkpoint):
    folder = tmp_path_factory.mktemp("mlm-bundle")
    convert(mlm_checkpoint, folder / "mlm.onnx", "onnx")
    convert(mlm_checkpoint, folder / "mlm.tflite", "tflite", buckets=[32])
    return build_bundle([folder / "mlm.onnx", folder / "mlm.tflite"], mlm_checkpoint / "spiece.model", folder / "mlm.eabundle").path


@pytest.mark.parametrize("backend", ["onnxruntime", "litert"])
def test_fill_matches_the_transformers_pipeline(mlm_bundle, mlm_checkpoint, spiece_model, backend):
    pipe = transformers.pipeline("fill-mask", model=transformers.AlbertForMaskedLM.from_pretrained(mlm_checkpoint),
                                 tokenizer=transformers.AlbertTokenizer(vocab_file=str(spiece_model)), top_k=5)
    filler = MaskFiller.from_bundle(mlm_bundle, backend)
    assert isinstance(open_predictor(mlm_bundle), MaskFiller)
    ours = filler.fill(TEXTS, top_k=5, batch_size=3)
    for text, masks in zip(TEXTS, ours):
        theirs = pipe(text)
        theirs = [theirs] if isinstance(theirs[0], dict) else theirs  # one mask: a flat list
        assert len(masks) == text.count("[MASK]") == len(theirs)
        for fills, expected in zip(masks, theirs):
            assert [f.token_id for f in fills] == [e["token"] for e in expected]
            assert np.allclose([f.score for f in fills], [e["score"] for e in expected], atol=1e-4)
    assert ours[0][0][0].sequence == "the movie was " + ours[0][0][0].token + " ."


def test_bad_inputs_are_one_line_errors(mlm_bundle):
    filler = MaskFiller.from_bundle(mlm_bundle)
    with pytest.raises(InputError, match="text 1 has no \\[MASK\\]"):
        filler.fill(["a [MASK]", "none here"])
    with pytest.raises(InputError, match="text 0: 1 \\[MASK\\] cut off by the model's 128-token window"):
        filler.fill(["[MASK] " + "word " * 600 + "[MASK]"])
    with pytest.raises(InputError, match="top_k must be a positive integer"):
        filler.fill(["a [MASK]"], top_k=0)
    out = subprocess.run([sys.executable, "-m", "edge_albert.cli", "predict", str(mlm_bundle), "the [MASK] .", "no mask"],
                         capture_output=True, text=True, timeout=300)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.returncode == 2 and len(rows[0]["masks"][0]) == 5 and rows[1] == {"line": 2, "error": "the text has no [MASK]"}


def test_validate_scores_held_back_words(tmp_path, mlm_checkpoint, spiece_model, sst2_dev):
    """top-1 / top-5 of the hidden piece, equal to transformers' model on the same masked texts."""
    from edge_albert.tokenization import AlbertTokenizer
    from edge_albert.validation.report import validate
    from edge_albert.validation.token_tasks import TaskData, masked_words

    texts = [s for _, s in sst2_dev[:120]]
    tok = AlbertTokenizer(mlm_checkpoint / "spiece.model")
    examples = masked_words(tok, texts, max_length=128)
    assert len(examples) > 100 and all(t.count("[MASK]") == 1 for t, _ in examples)
    assert masked_words(tok, texts, max_length=128) == examples  # the same words every run
    # A model that favours a few of the hidden pieces, so that both scores are between 0 and 1.
    model = load_model(mlm_checkpoint)
    with torch.no_grad():
        for rank, (_, piece) in enumerate(examples[:12]):
            model.predictions.bias[piece] = 30.0 - rank
    checkpoint = save_model(model, tmp_path / "mlm", tokenizer_model=spiece_model)
    convert(checkpoint, tmp_path / "mlm.onnx", "onnx")
    report = validate(checkpoint, [tmp_path / "mlm.onnx"], TaskData("fill-mask", "sst2 dev", texts=texts), threads=(1,), latency_runs=2,
                      lengths=(32,), memory=False).to_dict()
    reference = transformers.AlbertForMaskedLM.from_pretrained(checkpoint).eval()
    hits1 = hits5 = 0
    with torch.no_grad():
        for text, piece in examples:
            ids = torch.tensor([tok.encode(text, max_length=128).input_ids])
            logits = reference(input_ids=ids).logits[0, ids[0].tolist().index(tok.mask_id)]
            top = torch.topk(logits, 5).indices.tolist()
            hits1 += top[0] == piece
            hits5 += piece in top
    torch_result, onnx_result = report["results"]
    assert report["metric"] == "top1" and 0 < hits1 < hits5 < len(examples)
    assert torch_result["metrics"]["top1"] == pytest.approx(hits1 / len(examples)) and torch_result["score"] == torch_result["metrics"]["top1"]
    assert torch_result["metrics"]["top5"] == pytest.approx(hits5 / len(examples))
    assert onnx_result["fidelity"]["agreement"] == 1.0 and onnx_result["score"] == torch_result["score"]
