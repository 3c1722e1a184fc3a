"""Multiple choice from checkpoint to device: ONNX export with a choices axis, TFLite with one
(question, choice) pair per run, the on-device scorer (ONNX and TFLite bundles) against
transformers' AlbertForMultipleChoice on the same weights and its own tokenizer, `validate`
accuracy on a small question set, and the `predict` command's JSON lines."""

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


@pytest.fixture(scope="module")
def mc_tflite_bundles(tmp_path_factory, mc_checkpoint):
    """float32 and dynamic int8 TFLite bundles of the same model."""
    from edge_albert.quantization.api import quantize
    from edge_albert.quantization.configs import DynamicInt8Config

    folder = tmp_path_factory.mktemp("mc-tflite")
    report = convert(mc_checkpoint, folder / "mc.tflite", "tflite")
    assert report.check.max_abs_logit_diff <= 1e-4
    quantize(mc_checkpoint, folder / "mc.int8.tflite", DynamicInt8Config(), to="tflite")
    return [build_bundle([folder / name], mc_checkpoint / "spiece.model", folder / f"{name}.eabundle").path
            for name in ("mc.tflite", "mc.int8.tflite")]


def test_export_has_a_choices_axis_and_executorch_is_refused(tmp_path, mc_checkpoint, mc_bundle, mc_tflite_bundles):
    from edge_albert.runtimes.litert import LiteRTSession

    graph = onnx.load(str(mc_bundle.parent / "mc.onnx")).graph
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input]
    assert dims == [["batch", "choices", "sequence"]] * 3
    assert [d.dim_param for d in graph.output[0].type.tensor_type.shape.dim] == ["batch", "choices"]
    # TFLite: fixed-shape signatures of one (question, choice) pair each.
    session = LiteRTSession(mc_tflite_bundles[0].parent / "mc.tflite")
    assert session.metadata["choice_per_run"] is True and session.metadata["task"] == "multiple-choice"
    for length, (runner, details) in session.runners.items():
        assert [list(details[name]["shape"]) for name in ("input_ids", "attention_mask", "token_type_ids")] == [[1, length]] * 3
        assert list(runner.get_output_details()["logits"]["shape"]) == [1, 1]
    with pytest.raises(InputError, match="multiple-choice models export to onnx, tflite only"):
        convert(mc_checkpoint, tmp_path / "mc.pte", "executorch")
    assert not (tmp_path / "mc.pte").exists()


@pytest.mark.parametrize("fmt", ["onnx", "tflite", "tflite-int8"])
def test_scores_match_transformers(fmt, mc_bundle, mc_tflite_bundles, mc_checkpoint, spiece_model):
    bundle = {"onnx": mc_bundle, "tflite": mc_tflite_bundles[0], "tflite-int8": mc_tflite_bundles[1]}[fmt]
    reference = transformers.AlbertForMultipleChoice.from_pretrained(mc_checkpoint).eval()
    tokenizer = transformers.AlbertTokenizer(vocab_file=str(spiece_model))
    scorer = ChoiceScorer.from_bundle(bundle)
    assert isinstance(open_predictor(bundle), ChoiceScorer)
    ours = scorer.scores(ITEMS, batch_size=2)
    # int8 weights move this random model's scores by up to 0.076 (measured; its scores of one
    # question spread 0.02 to 0.23, so near-ties may flip and the choice is not asserted)
    bound = 1e-4 if fmt != "tflite-int8" else 0.1
    for (question, choices), got in zip(ITEMS, ours):
        enc = tokenizer([question] * len(choices), choices, padding=True, truncation=True, max_length=128, return_tensors="pt")
        with torch.no_grad():
            expected = reference(**{k: v[None] for k, v in enc.items()}).logits[0].numpy()
        assert got.shape == expected.shape and np.abs(got - expected).max() <= bound, np.abs(got - expected).max()
    if fmt == "tflite-int8":
        from edge_albert.runtimes.litert import read_tflite_metadata

        metadata = read_tflite_metadata(bundle.parent / "mc.int8.tflite")
        assert metadata["precision"] == "int8-dynamic" and metadata["choice_per_run"] is True
    choice = scorer.choose(*ITEMS[0])
    assert choice.text == ITEMS[0][1][choice.index] and abs(sum(choice.probabilities) - 1) <= 1e-6
    assert choice.index == int(np.argmax(ours[0]))
    with pytest.raises(InputError, match="give a list of at least two choices"):
        scorer.choose("q", ["only one"])


def test_validate_accuracy_and_predict(tmp_path, mc_checkpoint, mc_bundle, mc_tflite_bundles, sst2_dev):
    from edge_albert.data.multiple_choice import read_choice_questions
    from edge_albert.validation.report import validate
    from edge_albert.validation.token_tasks import TaskData

    # A small set built here: an SST-2 sentence, and its sentiment among two answers.
    path = tmp_path / "questions.jsonl"
    rows = [{"question": text + " It was", "choices": ["bad.", "good."], "label": label} for label, text in sst2_dev[:40]]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    questions = read_choice_questions(path)
    report = validate(mc_checkpoint, [mc_bundle, mc_tflite_bundles[0]], TaskData("multiple-choice", str(path), choices=questions), threads=(1,),
                      latency_runs=2, lengths=(32,), memory=False).to_dict()
    torch_result, *bundle_results = report["results"]
    assert report["metric"] == "accuracy"
    for bundle, bundle_result in zip([mc_bundle, mc_tflite_bundles[0]], bundle_results):
        scorer = ChoiceScorer.from_bundle(bundle)
        expected = np.mean([int(np.argmax(s)) == q.label for s, q in zip(scorer.scores([(q.question, q.choices) for q in questions]), questions)])
        assert bundle_result["accuracy"] == pytest.approx(expected)
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


@pytest.mark.parametrize("to", ["onnx", "tflite"])
def test_static_int8_calibrates_on_questions(tmp_path, to, mc_checkpoint):
    from click.testing import CliRunner

    from edge_albert.cli import main
    from edge_albert.runtimes import open_session

    questions = tmp_path / "calibration.jsonl"  # labels optional
    questions.write_text("".join(json.dumps({"question": q, "choices": c}) + "\n" for q, c in ITEMS[:3]))
    out = tmp_path / f"mc.static.{to}"
    runner = CliRunner()
    refused = runner.invoke(main, ["quantize", str(mc_checkpoint), "--method", "static", "--to", to, "-o", str(out)])
    assert refused.exit_code != 0 and "calibrates on its questions: pass --calibration QUESTIONS.jsonl" in refused.output
    assert not out.exists()
    result = runner.invoke(main, ["quantize", str(mc_checkpoint), "--method", "static", "--to", to, "--calibration", str(questions),
                                  "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["recipe"] == "static_wi8_ai8" and report["comparison"]["examples"] > 0
    session = open_session(out)
    assert session.metadata["precision"] == "int8-static"
    # The scoring layer, scaled by 100, scales the int8 activations' error with it: measured
    # 0.156 (ONNX) and 0.180 (TFLite); the float scores of one question spread 0.02 to 0.23.
    assert report["comparison"]["max_abs_logit_diff"] <= 0.25, report["comparison"]
