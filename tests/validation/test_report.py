"""Validation over every runtime, and the three report formats."""

from __future__ import annotations

import json

import pytest

from edge_albert.data.readers import LabeledTexts
from edge_albert.validation.report import SCHEMA_VERSION, load_report, metrics_by_artifact, validate, write_reports


@pytest.fixture(scope="module")
def report(trained_checkpoint, trained_artifacts, sst2_dev):
    data = LabeledTexts([s for _, s in sst2_dev[:120]], [l for l, _ in sst2_dev[:120]], ["negative", "positive"], source="sst2-dev[:120]")
    return validate(trained_checkpoint, [trained_artifacts["onnx"], trained_artifacts["tflite"]], data, threads=(1, 2), latency_runs=5)


def test_every_runtime_measured(report):
    d = report.to_dict()
    assert d["schema_version"] == SCHEMA_VERSION
    assert [r["runtime"] for r in d["results"]] == ["torch", "onnxruntime", "litert"]
    for r in d["results"]:
        assert 0.5 <= r["accuracy"] <= 1.0 and r["fidelity"]["agreement"] == 1.0
        assert r["fidelity"]["max_abs_logit_diff"] <= 1e-4
        assert [lat["threads"] for lat in r["latency"]] == [1, 2]
        lat = r["latency"][0]
        assert set(lat["fixed"]) == {"32", "64", "128"} and lat["real"]["p50_ms"] > 0
        assert lat["fixed"]["32"]["p50_ms"] <= lat["fixed"]["32"]["p90_ms"] <= lat["fixed"]["32"]["p99_ms"]
        assert set(lat["throughput"]) == {"8", "32"}
        assert r["size_bytes"] > 0 and r["memory"]["peak_rss_mb"] > 10
    assert d["machine"]["cpu_model"] and "onnxruntime" in d["machine"]["versions"]


def test_reports_written(tmp_path, report):
    paths = write_reports(report, tmp_path)
    data = load_report(paths["json"])
    assert data["results"][1]["runtime"] == "onnxruntime"
    md = paths["markdown"].read_text()
    assert "| artifact |" in md and "model.tflite" in md
    page = paths["html"].read_text()
    assert page.startswith("<!doctype html>") and page.count("<svg") == 3 and "model.onnx" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # self-contained
    per = metrics_by_artifact(paths["json"])
    assert per["model.onnx"]["agreement"] == 1.0


def test_size_scatter_places_files_by_size(report):
    import re

    from edge_albert.validation.report import scatter_svg

    d = report.to_dict()
    svg = scatter_svg(d, "size")
    x = {name: float(cx) for cx, name in re.findall(r'<circle cx="([\d.]+)"[^>]*><title>(.+?) \([a-z]+\): ', svg)}
    sizes = {r["name"]: r["size_bytes"] for r in d["results"]}
    assert set(x) == set(sizes) and "file size (MB)" in svg
    # further right is larger, in the same order as the files' sizes
    assert sorted(x, key=x.get) == sorted(sizes, key=sizes.get)
    with pytest.raises(ValueError, match="latency or size"):
        scatter_svg(d, "accuracy")


def test_newer_schema_is_refused(tmp_path, report):
    from edge_albert.errors import InputError

    data = report.to_dict()
    data["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "r.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="newer than this tool"):
        load_report(tmp_path / "r.json")
