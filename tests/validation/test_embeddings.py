"""`validate` and the gate for sentence embeddings: Spearman's rho per artifact equals scipy's on
the same cosines, agreement is judged on nearest neighbours, the report loads under its schema
(no accuracy, a correlation as score), and the gate judges the Spearman drop."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.stats

from edge_albert.converters.convert import convert
from edge_albert.data.sentence_pairs import read_scored_pairs
from edge_albert.packaging.bundle import build_bundle
from edge_albert.quantization.api import quantize
from edge_albert.quantization.configs import recipe
from edge_albert.runtimes import open_session
from edge_albert.tokenization import AlbertTokenizer
from edge_albert.validation.compare import run_texts
from edge_albert.validation.gate import GateThresholds, check_floors, check_report
from edge_albert.validation.report import load_report, to_markdown, validate, write_reports
from edge_albert.validation.token_tasks import TaskData
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def embedding_report(tmp_path_factory, embedding_checkpoint):
    folder = tmp_path_factory.mktemp("emb-val")
    convert(embedding_checkpoint, folder / "fp32.onnx", "onnx")
    quantize(embedding_checkpoint, folder / "int8.onnx", recipe("dynamic_wi8_afp32"), to="onnx")
    bundle = build_bundle([folder / "int8.onnx"], embedding_checkpoint / "spiece.model", folder / "int8.eabundle").path
    data = TaskData("feature-extraction", "stsb dev", pairs=read_scored_pairs(shared_file("stsb/dev.tsv"), limit=120))
    report = validate(embedding_checkpoint, [folder / "fp32.onnx", folder / "int8.onnx", bundle], data, threads=(1,), latency_runs=2,
                      lengths=(32,), memory=False)
    return report, data, folder


def test_spearman_per_artifact_equals_scipy(embedding_report, embedding_checkpoint):
    report, data, folder = embedding_report
    d = report.to_dict()
    assert d["task"] == "feature-extraction" and d["metric"] == "spearman"
    tok = AlbertTokenizer(embedding_checkpoint / "spiece.model")
    pairs = data.pairs
    for result, source in zip(d["results"], [embedding_checkpoint, folder / "fp32.onnx", folder / "int8.onnx"]):
        vectors = run_texts(open_session(source), tok, pairs.first + pairs.second, max_length=128).astype(np.float64)
        a, b = vectors[:len(pairs)], vectors[len(pairs):]
        cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        assert result["score"] == pytest.approx(scipy.stats.spearmanr(cosine, pairs.scores).statistic, abs=1e-9)
        assert result["accuracy"] is None and result["metrics"]["pearson"] == pytest.approx(scipy.stats.pearsonr(cosine, pairs.scores).statistic, abs=1e-9)
    fp32, int8, bundle = d["results"][1:]
    assert fp32["fidelity"]["agreement"] == 1.0 and fp32["fidelity"]["min_cosine"] >= 1 - 1e-6
    assert int8["fidelity"]["min_cosine"] < 1 - 1e-6 and int8["score"] == pytest.approx(bundle["score"], abs=1e-6)  # the bundle runs the same file


def test_report_loads_and_the_gate_judges_spearman(embedding_report, tmp_path):
    report, _, _ = embedding_report
    paths = write_reports(report, tmp_path / "r")
    loaded = load_report(paths["json"])
    assert "spearman" in to_markdown(loaded)
    loose = GateThresholds(min_agreement=0.0)
    assert check_report(loaded, loaded, loose).passed
    better = copy.deepcopy(loaded)
    for r in better["results"]:
        r["score"] += 0.006
    failed = check_report(loaded, better, loose)
    assert {(r.artifact, r.check) for r in failed.failures} == {(r["name"], "spearman") for r in loaded["results"]}
    at_bound = copy.deepcopy(loaded)
    for r in at_bound["results"]:
        r["score"] += 0.005
    assert check_report(loaded, at_bound, loose).passed
    name = loaded["results"][1]["name"]
    # An accuracy floor on a report without accuracy fails: not measured is not passed.
    rows = check_floors(loaded, {"artifacts": {name: {"min_accuracy": 0.5, "min_score": loaded["results"][1]["score"] - 1e-9}}})
    assert [(r.check, r.ok) for r in rows] == [("floor_accuracy", False), ("floor_score", True)]
