"""The gate refuses nonsense as bad input (exit 2, one line naming the file and field) instead of
passing it or calling it a regression; and it judges a pruned model on its own agreement floor."""

from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner

from edge_albert.cli import main
from edge_albert.validation.gate import GateThresholds, check_report
from tests.conftest import REPO
from tests.json_edits import setting

BASELINE = REPO / ".ci" / "baselines" / "x86_64-avx-avx2-fma.json"


def document() -> dict:
    return json.loads(BASELINE.read_text())


# Edits of a real report; the string markers become the bare JSON constants Python's json writes.
NONSENSE = {
    "agreement Infinity": (setting(["results", 1, "fidelity", "agreement"], "__Infinity__"), "Infinity is not a JSON number"),
    "agreement NaN": (setting(["results", 1, "fidelity", "agreement"], "__NaN__"), "NaN is not a JSON number"),
    "logit diff -Infinity": (setting(["results", 1, "fidelity", "max_abs_logit_diff"], "__-Infinity__"), "-Infinity is not a JSON number"),
    "accuracy 1e308": (setting(["results", 1, "accuracy"], 1e308), "field results[1].accuracy: 1e+308 is greater than the maximum of 1"),
    "accuracy just over 1": (setting(["results", 1, "accuracy"], 1.0000001), "field results[1].accuracy"),
    "accuracy a string": (setting(["results", 1, "accuracy"], "0.75"), "field results[1].accuracy: expected number"),
    "accuracy null": (setting(["results", 1, "accuracy"], None), "field results[1].accuracy: expected number, got null"),
    "size -1": (setting(["results", 1, "size_bytes"], -1), "field results[1].size_bytes: -1 is less than the minimum of 1"),
    "size 0": (setting(["results", 1, "size_bytes"], 0), "field results[1].size_bytes"),
    "size a float": (setting(["results", 1, "size_bytes"], 1.5), "field results[1].size_bytes: expected integer"),
    "empty results": (setting(["results"], []), "field results: [] should be non-empty"),
    "schema_version 0": (setting(["schema_version"], 0), "field schema_version: 0 is less than the minimum of 1"),
    "schema_version -5": (setting(["schema_version"], -5), "field schema_version"),
    "schema_version a string": (setting(["schema_version"], "2"), "field schema_version: expected integer"),
    "latency 0 ms": (lambda d: d["results"][1]["latency"][0]["real"].update(p50_ms=0), "p50_ms: 0 is less than or equal to the minimum of 0"),
    "agreement -0.1": (setting(["results", 1, "fidelity", "agreement"], -0.1), "fidelity.agreement"),
    "target agreement 2": (setting(["targets", 0, "models", 0, "vs_host", "agreement"], 2), "field targets[0].models[0].vs_host.agreement"),
}


def write(tmp_path, name, data) -> str:
    text = json.dumps(data)
    for constant in ("-Infinity", "Infinity", "NaN"):
        text = text.replace(f'"__{constant}__"', constant)
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("side", ["report", "baseline"])
@pytest.mark.parametrize("case", sorted(NONSENSE))
def test_nonsense_is_bad_input_not_a_pass_or_a_regression(tmp_path, case, side):
    edit, message = NONSENSE[case]
    data = document()
    edit(data)
    bad = write(tmp_path, "bad.json", data)
    args = [bad, "--baseline", str(BASELINE)] if side == "report" else [str(BASELINE), "--baseline", bad]
    result = CliRunner().invoke(main, ["check", *args])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {bad}: ") and result.output.count("\n") == 1, result.output
    assert message in result.output


THRESHOLDS = {
    "min_agreement 1.5": ({"min_agreement": 1.5}, "field min_agreement: 1.5 is greater than the maximum of 1"),
    "max_accuracy_drop a string": ({"max_accuracy_drop": "0.005"}, "field max_accuracy_drop: expected number, got string"),
    "max_size_growth null": ({"max_size_growth": None}, "field max_size_growth: expected number, got null"),
    "max_size_growth negative": ({"max_size_growth": -0.1}, "field max_size_growth"),
    "unknown key": ({"min_agreemnt": 0.9}, "Additional properties are not allowed ('min_agreemnt' was unexpected)"),
    "not an object": ([0.99], "expected object, got array"),
}


@pytest.mark.parametrize("case", sorted(THRESHOLDS))
def test_thresholds_file_is_checked(tmp_path, case):
    data, message = THRESHOLDS[case]
    path = write(tmp_path, "t.json", data)
    result = CliRunner().invoke(main, ["check", str(BASELINE), "--baseline", str(BASELINE), "--thresholds", path])
    assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, result.output


@pytest.mark.parametrize("value", ["nan", "inf", "-0.1", "1.01"])
def test_threshold_options_must_be_finite_and_in_range(value):
    result = CliRunner().invoke(main, ["check", str(BASELINE), "--baseline", str(BASELINE), "--min-agreement", value])
    assert result.exit_code == 2 and "--min-agreement" in result.output


def test_the_committed_baselines_pass_against_themselves():
    result = CliRunner().invoke(main, ["check", str(BASELINE), "--baseline", str(BASELINE)])
    assert result.exit_code == 0 and "PASS" in result.output


def _with_pruned(agreement: float, pruned: bool = True) -> dict:
    data = document()
    extra = copy.deepcopy(data["results"][3])  # the int8 ONNX row
    extra.update(name="synthetic.pruned.int8.onnx", pruned=pruned, fidelity={**extra["fidelity"], "agreement": agreement, "max_abs_logit_diff": 1.2})
    data["results"].append(extra)
    return data


@pytest.mark.parametrize("agreement, passes", [(0.95, True), (0.963, True), (0.9499, False)])
def test_a_pruned_model_is_held_to_its_own_agreement_floor(agreement, passes):
    limits = GateThresholds(max_logit_diff=0.5)
    report = _with_pruned(agreement)
    gate = check_report(report, report, limits)
    row = next(r for r in gate.rows if r.artifact == "synthetic.pruned.int8.onnx" and r.check == "agreement")
    assert row.ok is passes and row.limit == limits.pruned_min_agreement == 0.95
    # The logit-diff bound is about conversions of one model; a pruned model is another model.
    assert not any(r.artifact == "synthetic.pruned.int8.onnx" and r.check == "max_abs_logit_diff" for r in gate.rows)
    assert gate.passed is passes
    # The same numbers on a model that is not pruned fail the conversion floor (0.99).
    plain = _with_pruned(agreement, pruned=False)
    assert not check_report(plain, plain, GateThresholds()).passed
