"""The main job end to end on a small SST-2 subset: every stage leaves its artifact on disk."""

from __future__ import annotations

import json

import pytest

from edge_albert.packaging.manifest import read_bundle
from edge_albert.pipeline import run_demo
from edge_albert.validation.gate import GateThresholds, check_report, format_table
from edge_albert.validation.report import load_report
from tests.conftest import SST2


@pytest.mark.slow
def test_demo_pipeline(tmp_path):
    # Validated on the first 300 dev sentences: every stage runs as on the full set, in less time.
    test = tmp_path / "test.tsv"
    test.write_text("\n".join((SST2 / "dev.tsv").read_text(encoding="utf-8").splitlines()[:301]) + "\n", encoding="utf-8")
    result = run_demo(tmp_path / "demo", epochs=1, train_file=SST2 / "train.tsv", dev_file=SST2 / "dev.tsv",
                      test_file=test, limit=1500, log=lambda *_: None)
    assert set(result.artifacts) == {"onnx-fp32", "tflite-fp32", "onnx-int8", "tflite-int8", "onnx-pruned-int8"}
    assert all(p.is_file() for p in result.artifacts.values())
    report = json.loads(result.reports["json"].read_text())
    assert [r["runtime"] for r in report["results"]] == ["torch", "onnxruntime", "litert", "onnxruntime", "litert", "onnxruntime"]
    assert all(r["fidelity"]["agreement"] >= 0.97 for r in report["results"][:5])
    pruned = report["results"][5]
    assert pruned["size_bytes"] < report["results"][3]["size_bytes"]  # pruned int8 < int8
    # The pruned model is recorded as such, and the demo's own report passes the default gate against itself.
    assert pruned["pruned"] is True and not any(r["pruned"] for r in report["results"][:5])
    gate = check_report(load_report(result.reports["json"]), report, GateThresholds())
    assert gate.passed, format_table(gate, only_failures=True)
    assert result.reports["html"].is_file()
    manifest = read_bundle(result.bundle).manifest
    assert [m["precision"] for m in manifest["models"]] == ["int8-dynamic", "int8-dynamic"]
    assert all(m["metrics"]["accuracy"] > 0 for m in manifest["models"])
    assert {e["backend"] for e in result.examples} == {"onnxruntime", "litert"}
    with pytest.raises(Exception, match="not empty"):
        run_demo(tmp_path / "demo", epochs=1)
