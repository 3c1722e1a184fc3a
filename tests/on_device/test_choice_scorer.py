"""Multiple choice from checkpoint to device: ONNX export with a choices axis, the on-device
scorer against transformers' AlbertForMultipleChoice on the same weights and its own tokenizer,
`validate` accuracy on a small question set, and the `predict` command's JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
import transformers

from edge_albert.converters.convert import convert
from edge_albert.errors import InputError
from edge_albert.model.albert import AlbertForMultipleChoice
from edge_albert.model.checkpoint import load_model, save_model
from edge_albert.on_device import ChoiceScorer, open_predictor
from edge_albert.packaging.bundle import build_bundle
from tests.conftest import head_checkpoint

ITEMS = [("The cat sat on the", ["mat.", "sky.", "idea."]), ("Water is", ["wet.", "dry."]),
         ("a gorgeous, witty, seductive movie. The review is", ["positive.", "negative.", "about a car."]),
         ("Which city is the capital of France?", ["Paris", "Berlin", "a very long answer " * 30])]


@pytest.fixture(scope="module")
def mc_checkpoint(tmp_path_factory, spiece_model):
    """A random multiple-choice model with a strong scoring layer, so choices' scores are far apart."""
    path = head_checkpoint(tmp_path_factory.mktemp("mc") / "ckpt", spiece_model, AlbertForMultipleChoice, ["LABEL_0", "LABEL_1"])
    model = load_model(path)
    with torch.no_grad():
        model.classifier.weight.mul_(100)
    return save_model(model, path, tokenizer_model=spiece_model, force=True)


@pytest.fixture(scope="module")
def mc_bundle(tmp_path_factory, mc_checkpoint):
    folder = tmp_path_factory.mktemp("mc-bundle")
    report = convert(mc_checkpoint, folder / "mc.onnx", "onnx")
    assert report.check.max_abs_logit_diff <= 1e-4
    return build_bundle([folder / "mc.onnx"], mc_checkpoint / "spiece.model", folder / "mc.eabundle").path


def test_export_has_a_choices_axis_and_tflite_is_refused(tmp_path, mc_checkpoint, mc_bundle):
    graph = onnx.load(str(mc_bundle.parent / "mc.onnx")).graph
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input]
    assert dims == [["batch", "choices", "sequence"]] * 3
    assert [d.dim_param for d in graph.output[0].type.tensor_type.shape.dim] == ["batch", "choices"]
    with pytest.raises(InputError, match="multiple-choice models export to onnx only"):
        convert(mc_checkpoint, tmp_path / "mc.tflite", "tflite")
    assert not (tmp_path / "mc.tflite").exists()


def test_scores_match_transformers(mc_bundle, mc_checkpoint, spiece_model):
    reference = transformers.AlbertForMultipleChoice.from_pretrained(mc_checkpoint).eval()
    tokenizer = transformers.AlbertTokenizer(vocab_file=str(spiece_model))
    scorer = ChoiceScorer.from_bundle(mc_bundle)
    assert isinstance(open_predictor(mc_bundle), ChoiceScorer)
    ours = scorer.scores(ITEMS, batch_size=2)
    for (question, choices), got in zip(ITEMS, ours):
        enc = tokenizer([question] * len(choices), choices, padding=True, truncation=True, max_length=128, return_tensors="pt")
        with torch.no_grad():
            expected = reference(**{k: v[None] for k, v in enc.items()}).logits[0].numpy()
        assert got.shape == expected.shape and np.abs(got - expected).max() <= 1e-4
    choice = scorer.choose(*ITEMS[0])
    assert choice.text == ITEMS[0][1][choice.index] and abs(sum(choice.probabilities) - 1) <= 1e-6
    assert choice.index == int(np.argmax(ours[0]))
    with pytest.raises(InputError, match="give a list of at least two choices"):
        scorer.choose("q", ["only one"])


def test_validate_accuracy_and_predict(tmp_path, mc_checkpoint, mc_bundle, sst2_dev):
    from edge_albert.data.multiple_choice import read_choice_questions
    from edge_albert.validation.report import validate
    from edge_albert.validation.token_tasks import TaskData

    # A small set built here: an SST-2 sentence, and its sentiment among two answers.
    path = tmp_path / "questions.jsonl"
    rows = [{"question": text + " It was", "choices": ["bad.", "good."], "label": label} for label, text in sst2_dev[:40]]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    questions = read_choice_questions(path)
    report = validate(mc_checkpoint, [mc_bundle], TaskData("multiple-choice", str(path), choices=questions), threads=(1,), latency_runs=2,
                      lengths=(32,), memory=False).to_dict()
    scorer = ChoiceScorer.from_bundle(mc_bundle)
    expected = np.mean([int(np.argmax(s)) == q.label for s, q in zip(scorer.scores([(q.question, q.choices) for q in questions]), questions)])
    torch_result, bundle_result = report["results"]
    assert report["metric"] == "accuracy" and bundle_result["accuracy"] == pytest.approx(expected)
    assert bundle_result["fidelity"]["agreement"] == 1.0 and torch_result["accuracy"] == bundle_result["accuracy"]

    lines = '{"question": "Water is", "choices": ["wet.", "dry."], "id": "a"}\n{"question": "q", "choices": "no"}\nnot json\n'
    out = subprocess.run([sys.executable, "-m", "edge_albert.cli", "predict", str(mc_bundle)], input=lines, capture_output=True, text=True, timeout=300)
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.returncode == 2 and records[0]["id"] == "a" and records[0]["choice"] in ("wet.", "dry.")
    assert records[1]["error"] == "field choices missing or not a list of strings"
    assert records[2]["error"] == 'not a JSON object; give {"question": ..., "choices": ...} per line'
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "choices": ["a", "b"], "label": 2}\n')
    with pytest.raises(InputError, match="bad.jsonl: line 1: label must be the index of the right choice"):
        read_choice_questions(bad)
