"""`validate` and the gate for token classification and question answering: the task metric per
artifact equals seqeval's / the official SQuAD scoring's on the same predictions, agreement is
judged on entities and best spans, the report loads under its schema, and the gate compares the
task's headline metric (and refuses to compare across tasks)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import seqeval.metrics
from transformers.data.metrics import squad_metrics

from edge_albert.converters.convert import convert
from edge_albert.errors import InputError
from edge_albert.packaging.bundle import build_bundle
from edge_albert.quantization.api import quantize
from edge_albert.quantization.configs import recipe
from edge_albert.runtimes import open_session
from edge_albert.targets import LocalTarget, parse_target
from edge_albert.tokenization import AlbertTokenizer
from edge_albert.validation.gate import GateThresholds, check_floors, check_report
from edge_albert.validation.report import load_report, to_markdown, validate, write_reports
from edge_albert.validation.token_tasks import TaskData, run_task
from tests.conftest import shared_file


def artifacts(folder, checkpoint):
    convert(checkpoint, folder / "fp32.onnx", "onnx")
    quantize(checkpoint, folder / "int8.onnx", recipe("dynamic_wi8_afp32"), to="onnx")
    bundle = build_bundle([folder / "int8.onnx"], checkpoint / "spiece.model", folder / "int8.eabundle").path
    return [folder / "fp32.onnx", folder / "int8.onnx", bundle]


def quick(checkpoint, files, data, **kw):
    return validate(checkpoint, files, data, threads=(1,), latency_runs=2, lengths=(32,), memory=False, **kw).to_dict()


# The harness in a fresh process on this host (the same program qemu-arm64 and SSH devices run):
# the first 6 sentences / 4 questions of each report.
ON_TARGET = {"targets": [LocalTarget()], "target_texts": 6}


@pytest.fixture(scope="module")
def ner_report(tmp_path_factory, ner_checkpoint, conll_dev):
    from edge_albert.data.conll import TaggedSentences

    data = TaskData("token-classification", "conll dev", sentences=TaggedSentences(conll_dev.words[:150], conll_dev.tags[:150], conll_dev.label_names))
    return quick(ner_checkpoint, artifacts(tmp_path_factory.mktemp("ner-val"), ner_checkpoint), data, **ON_TARGET), data


@pytest.fixture(scope="module")
def qa_report(tmp_path_factory, qa_checkpoint, squad_dev):
    data = TaskData("question-answering", "squad dev", questions=squad_dev[:40])
    return quick(qa_checkpoint, artifacts(tmp_path_factory.mktemp("qa-val"), qa_checkpoint), data, **{**ON_TARGET, "target_texts": 4}), data


def test_ner_report_scores_entities_like_seqeval(ner_report, ner_checkpoint, tmp_path):
    report, data = ner_report
    assert (report["task"], report["metric"]) == ("token-classification", "f1")
    ref, fp32, int8, bundle = report["results"]
    run = run_task(open_session(ner_checkpoint), AlbertTokenizer(ner_checkpoint / "spiece.model"), report["dataset"]["labels"], data, max_length=128)
    gold = [[data.sentences.label_names[i] for i in sent] for sent in data.sentences.tags]
    assert ref["score"] == pytest.approx(seqeval.metrics.f1_score(gold, run.predictions), abs=1e-9)
    assert ref["metrics"]["precision"] == pytest.approx(seqeval.metrics.precision_score(gold, run.predictions), abs=1e-9)
    assert ref["accuracy"] == pytest.approx(seqeval.metrics.accuracy_score(gold, run.predictions), abs=1e-9)
    assert ref["macro_f1"] is None
    assert fp32["fidelity"]["agreement"] == 1.0 and fp32["fidelity"]["max_abs_logit_diff"] <= 1e-4 and fp32["score"] == ref["score"]
    assert int8["precision"].startswith("int8")
    # Agreement is per sentence: the same entities (type and word span) as the reference.
    run8 = run_task(open_session(int8["artifact"]), AlbertTokenizer(ner_checkpoint / "spiece.model"), report["dataset"]["labels"], data, max_length=128)
    same = [a == b for a, b in zip(run8.spans, run.spans)]
    assert int8["fidelity"]["agreement"] == pytest.approx(sum(same) / len(same)) and 0 < sum(same) < len(same)
    assert bundle["score"] == int8["score"] and bundle["fidelity"] == int8["fidelity"]  # the bundle decodes as the file does
    write_reports(report, tmp_path)
    assert load_report(tmp_path / "report.json")["task"] == "token-classification"
    assert "| entity F1 % | same entities % |" in to_markdown(report)


def test_qa_report_scores_answers_like_the_official_script(qa_report, qa_checkpoint):
    report, data = qa_report
    assert (report["task"], report["metric"]) == ("question-answering", "f1")
    ref, fp32, int8, _ = report["results"]
    run = run_task(open_session(qa_checkpoint), AlbertTokenizer(qa_checkpoint / "spiece.model"), [], data, max_length=384)
    golds = [[a.text for a in q.answers] for q in data.questions]
    f1 = sum(max(squad_metrics.compute_f1(g, p) for g in gs) for gs, p in zip(golds, run.predictions)) / len(golds)
    em = sum(max(squad_metrics.compute_exact(g, p) for g in gs) for gs, p in zip(golds, run.predictions)) / len(golds)
    assert ref["score"] == pytest.approx(f1, abs=1e-9) and ref["metrics"]["exact_match"] == pytest.approx(em, abs=1e-9)
    assert ref["score"] > 0  # random spans still overlap some gold answers: the comparison is not vacuous
    assert fp32["fidelity"]["agreement"] == 1.0 and fp32["fidelity"]["max_abs_logit_diff"] <= 1e-4
    run8 = run_task(open_session(int8["artifact"]), AlbertTokenizer(qa_checkpoint / "spiece.model"), [], data, max_length=384)
    assert int8["fidelity"]["agreement"] == pytest.approx(sum(a == b for a, b in zip(run8.spans, run.spans)) / len(run.spans))


def test_gate_judges_the_task_metric(ner_report, qa_report):
    report = ner_report[0]
    loose = GateThresholds(min_agreement=0.0)  # a random model's int8 file agrees on ~40% of sentences; the metric is judged here
    assert check_report(report, report, loose).passed
    better = copy.deepcopy(report)
    for r in better["results"]:
        r["score"] += 0.006  # a baseline 0.6 points better: this run's F1 dropped past the 0.5-point budget
    gate = check_report(report, better, loose)
    failed = {(r.artifact, r.check) for r in gate.failures}
    assert failed == {(r["name"], "f1") for r in report["results"]}
    at_bound = copy.deepcopy(report)
    for r in at_bound["results"]:
        r["score"] += 0.005
    assert check_report(report, at_bound, loose).passed  # exactly the budget passes
    across = check_report(report, qa_report[0], loose)
    assert not across.passed and across.failures[0].check == "task"
    name = report["results"][2]["name"]
    floors = {"artifacts": {name: {"min_score": report["results"][2]["score"] + 1e-6}}}
    assert [r.check for r in check_floors(report, floors) if not r.ok] == ["floor_score"]


@pytest.mark.parametrize("which", ["ner", "qa"])
def test_targets_run_the_token_tasks_as_the_host(which, ner_report, qa_report):
    """The target's tokenizer makes the host's model inputs (every context window of a question),
    its outputs equal the host's bit for bit (same machine, same runtime build), the fp32 file is
    the reference's within 1e-4, and the gate judges the rows."""
    report, data = ner_report if which == "ner" else qa_report
    (run,) = report["targets"]
    assert run["task"] == ("token-classification" if which == "ner" else "question-answering")
    assert run["texts"] == (6 if which == "ner" else 4) and run["tokenizer_mismatches"] == []
    if which == "qa":  # a question's context may take several windows
        from edge_albert.targets.harness import target_encodings

        tok = AlbertTokenizer(report["reference"] + "/spiece.model")
        windows = target_encodings(tok, "question-answering", [[q.question, q.context] for q in data.questions[:4]], max_length=384, stride=128)
        assert run["model_inputs"] == len(windows) >= 4
    assert [m["artifact"].rsplit("/", 1)[1] for m in run["models"]] == ["fp32.onnx", "int8.onnx"]  # bundles run on the host only
    for m in run["models"]:
        assert m["vs_host"]["max_abs_logit_diff"] == 0.0 and m["vs_host"]["agreement"] == 1.0 and m["vs_host"]["token_agreement"] == 1.0
    fp32 = run["models"][0]
    assert fp32["vs_reference"]["max_abs_logit_diff"] <= 1e-4 and fp32["vs_reference"]["agreement"] == 1.0
    rows = [r for r in check_report(report, report, GateThresholds()).rows if r.check.startswith("target_")]
    assert len(rows) == 6 and all(r.ok for r in rows)


def test_targets_refuse_what_they_cannot_run(ner_checkpoint, embedding_checkpoint, conll_dev, tmp_path):
    from edge_albert.data.conll import TaggedSentences
    from edge_albert.data.sentence_pairs import ScoredPairs

    data = TaskData("token-classification", "conll dev", sentences=TaggedSentences(conll_dev.words[:5], conll_dev.tags[:5], conll_dev.label_names))
    with pytest.raises(InputError, match="--target node runs text classification only; run token-classification models on qemu-arm64"):
        quick(ner_checkpoint, [], data, targets=[parse_target("node")])
    pairs = TaskData("feature-extraction", "pairs", pairs=ScoredPairs(["a cat"], ["a dog"], np.array([3.0])))
    with pytest.raises(InputError, match="--target runs text-classification, token-classification, question-answering models; validate feature-extraction"):
        quick(embedding_checkpoint, [], pairs, targets=[LocalTarget()])


def test_cli_needs_data_for_token_tasks(qa_checkpoint, tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "edge_albert.cli", "validate", str(qa_checkpoint), "-o", str(tmp_path / "r")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "needs --data" in out.stderr and "Traceback" not in out.stderr
    with pytest.raises(InputError, match="the data is for token-classification"):
        from edge_albert.data.conll import read_conll

        validate(qa_checkpoint, [], TaskData("token-classification", "x", sentences=read_conll(shared_file("conll2003/dev.txt"))), memory=False)
