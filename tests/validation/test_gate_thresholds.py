"""Every threshold of the gate at its boundary: just inside passes, just outside fails. Plus the
baseline rule (CPU class), --require-latency, floors and how a baseline is written."""

from __future__ import annotations

import copy
import json

import pytest

from edge_albert.errors import InputError
from edge_albert.machine import cpu_class_name
from edge_albert.validation.gate import GateThresholds, check_report, select_baseline, write_baseline
from tests.conftest import REPO

BASELINE = REPO / ".ci" / "baselines" / "x86_64-avx-avx2-fma.json"
EPS = 1e-9
INT8_ONNX = "model.int8.onnx"


@pytest.fixture
def base() -> dict:
    doc = json.loads(BASELINE.read_text())
    for r in doc["results"]:  # every file measured for coverage (as new reports are)
        if r["precision"].startswith("int8"):
            r["quantization"] = {"weight_matmuls": 27, "quantized_matmuls": 27, "embedding_gathers": 3, "quantized_gathers": 3,
                                 "quantized_fraction": 1.0}
    return doc


def result(doc: dict, name: str = INT8_ONNX) -> dict:
    return next(r for r in doc["results"] if r["name"] == name)


def row(gate, check: str, artifact: str = INT8_ONNX):
    matches = [r for r in gate.rows if r.check == check and r.artifact.startswith(artifact)]
    assert len(matches) == 1, [(r.artifact, r.check) for r in gate.rows]
    return matches[0]


def _ratio(doc, r):
    p50 = lambda x: next(l["real"]["p50_ms"] for l in x["latency"] if l["threads"] == 1)  # noqa: E731
    return p50(r) / p50(doc["results"][0])


def _set_ratio(doc, r, ratio):
    reference = next(l["real"]["p50_ms"] for l in doc["results"][0]["latency"] if l["threads"] == 1)
    next(l for l in r["latency"] if l["threads"] == 1)["real"]["p50_ms"] = reference * ratio


# check name -> (thresholds, edit(report, baseline, inside: bool))
def _set_target_agreement(report: dict, agreement: float) -> None:
    """The device's agreement with the host, the device agreeing with fp32 less often than the
    host's own run (so the gate's allowance for AVX2 hosts does not apply)."""
    model = report["targets"][0]["models"][0]
    model["vs_host"]["agreement"] = agreement
    model["vs_reference"]["agreement"] = model["host_vs_reference"]["agreement"] - 0.01


BOUNDARIES = {
    "accuracy": (GateThresholds(), lambda d, b, inside: result(d).update(
        accuracy=result(b)["accuracy"] - 0.005 - (0 if inside else EPS))),
    "agreement": (GateThresholds(), lambda d, b, inside: result(d)["fidelity"].update(agreement=0.99 - (0 if inside else EPS))),
    "max_abs_logit_diff": (GateThresholds(max_logit_diff=0.2), lambda d, b, inside: result(d)["fidelity"].update(
        max_abs_logit_diff=0.2 + (0 if inside else EPS))),
    "size_bytes": (GateThresholds(), lambda d, b, inside: result(d).update(
        size_bytes=int(result(b)["size_bytes"] * 1.05) + (0 if inside else 1))),
    "latency_ratio_to_reference": (GateThresholds(), lambda d, b, inside: _set_ratio(
        d, result(d), _ratio(b, result(b)) * 1.5 * (1 - EPS if inside else 1 + EPS))),
    "quantized_fraction": (GateThresholds(), lambda d, b, inside: (result(b)["quantization"].update(quantized_fraction=0.9),
                                                                  result(d)["quantization"].update(quantized_fraction=0.9 - (0 if inside else EPS)))),
    "target_agreement_vs_host": (GateThresholds(), lambda d, b, inside: _set_target_agreement(d, 0.95 - (0 if inside else EPS))),
    "target_max_logit_diff_vs_host": (GateThresholds(), lambda d, b, inside: d["targets"][0]["models"][0]["vs_host"].update(
        max_abs_logit_diff=0.05 + (0 if inside else EPS))),
}


@pytest.mark.parametrize("check", sorted(BOUNDARIES))
@pytest.mark.parametrize("inside", [True, False], ids=["inside", "outside"])
def test_threshold_boundary(base, check, inside):
    limits, edit = BOUNDARIES[check]
    report = copy.deepcopy(base)
    baseline = copy.deepcopy(base)
    edit(report, baseline, inside)
    gate = check_report(report, baseline, limits)
    artifact = "model.fp32.onnx@qemu" if check.startswith("target_") else INT8_ONNX
    assert row(gate, check, artifact).ok is inside
    assert [(r.artifact, r.check) for r in gate.failures] == ([] if inside else [(row(gate, check, artifact).artifact, check)])


def test_coverage_may_not_drop_below_the_baseline(base):
    report = copy.deepcopy(base)
    result(report)["quantization"]["quantized_fraction"] = 0.96  # above the 0.9 threshold, below the baseline's 1.0
    assert not row(check_report(report, base, GateThresholds()), "quantized_fraction").ok
    del result(report)["quantization"]
    assert "not measured" in row(check_report(report, base, GateThresholds()), "quantized_fraction").note


def _other_class(doc: dict, flags: list[str], arch: str = "x86_64") -> dict:
    other = copy.deepcopy(doc)
    other["machine"].update(cpu_flags=flags, machine=arch)
    return other


def test_baseline_rule_same_class_then_nearest_same_architecture(base):
    vnni = _other_class(base, ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"])
    bf16 = _other_class(base, ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_int8"])
    arm = _other_class(base, ["asimd"], "aarch64")
    choice = select_baseline(base, [arm, bf16, vnni, base])
    assert choice.index == 3 and choice.same_class and "same CPU class (x86_64-avx-avx2-fma)" in choice.rule
    # A VNNI machine without bf16: neither baseline is its class; the nearest (fewest differing flags) is named.
    here = _other_class(base, ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni"])
    choice = select_baseline(here, [arm, base, bf16, vnni])
    assert choice.index == 3 and not choice.same_class
    assert choice.rule.startswith(f"nearest CPU class {cpu_class_name(vnni['machine'])}") and "differs in avx_vnni" in choice.rule
    with pytest.raises(InputError, match="no baseline for aarch64"):
        select_baseline(_other_class(base, ["asimd", "asimddp"], "aarch64"), [base, vnni])


def test_baseline_rule_prefers_this_core_then_an_unrecorded_core(base):
    def on_core(core: str | None) -> dict:
        doc = copy.deepcopy(base)
        doc["machine"]["cpu_core"] = core
        return doc

    zen1, zen3, unrecorded = on_core("amd-23-1"), on_core("amd-25-1"), on_core(None)
    choice = select_baseline(zen1, [zen3, unrecorded, zen1])
    assert choice.index == 2 and choice.same_class and "same core amd-23-1" in choice.rule
    choice = select_baseline(on_core("amd-23-49"), [zen3, unrecorded, zen1])
    assert choice.index == 1 and choice.same_class and "core" not in choice.rule
    # Only other cores of this class: still this class (every check live), and the rule says whose core.
    choice = select_baseline(on_core("amd-23-49"), [zen3, zen1])
    assert choice.index == 0 and choice.same_class and "core amd-25-1 (this run amd-23-49; record one on this core)" in choice.rule
    # Another class never wins over this class, whatever its core.
    vnni = _other_class(zen1, ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"])
    assert select_baseline(zen1, [vnni, zen3]).index == 1


def test_require_latency_fails_where_latency_cannot_be_compared(base):
    here = _other_class(base, ["avx", "avx2", "fma", "avx512f"])
    choice = select_baseline(here, [base])
    assert not choice.same_class
    relaxed = check_report(here, choice.baseline, GateThresholds())
    assert relaxed.passed and row(relaxed, "latency_ratio_to_reference").skipped
    strict = check_report(here, choice.baseline, GateThresholds(), require_latency=True)
    latency = [r for r in strict.failures if r.check == "latency_ratio_to_reference"]
    assert latency and len(latency) == len(strict.failures) and "no baseline of this CPU class" in latency[0].note
    assert check_report(base, base, GateThresholds(), require_latency=True).passed


FLOORS = {"artifacts": {INT8_ONNX: {"min_accuracy": 0.74, "min_agreement": 0.99, "max_abs_logit_diff": 0.15, "min_quantized_fraction": 1.0}}}


@pytest.mark.parametrize("field, key, value, ok", [
    ("accuracy", "min_accuracy", 0.74, True), ("accuracy", "min_accuracy", 0.74 - EPS, False),
    ("agreement", "min_agreement", 0.99, True), ("agreement", "min_agreement", 0.99 - EPS, False),
    ("max_abs_logit_diff", "max_abs_logit_diff", 0.15, True), ("max_abs_logit_diff", "max_abs_logit_diff", 0.15 + EPS, False),
    ("quantized_fraction", "min_quantized_fraction", 1.0, True), ("quantized_fraction", "min_quantized_fraction", 1.0 - EPS, False),
])
def test_floor_boundaries(base, field, key, value, ok):
    report = copy.deepcopy(base)
    r = result(report)
    {"accuracy": r, "agreement": r["fidelity"], "max_abs_logit_diff": r["fidelity"], "quantized_fraction": r["quantization"]}[field][field] = value
    floors = {"artifacts": {INT8_ONNX: {key: FLOORS["artifacts"][INT8_ONNX][key]}}}
    rows = [x for x in check_report(report, report, GateThresholds(min_agreement=0.9), floors=floors).rows if x.check.startswith("floor_")]
    assert [x.ok for x in rows] == [ok]


def test_write_baseline_keeps_to_its_class_and_its_floors(tmp_path, base):
    path = write_baseline(base, tmp_path, FLOORS)
    assert path.name == "x86_64-avx-avx2-fma.json"
    written = json.loads(path.read_text())
    assert written["provenance"]["cpu_class"] == "x86_64-avx-avx2-fma" and len(written["provenance"]["commit"]) == 40
    assert written["provenance"]["versions"] == base["machine"]["versions"]
    with pytest.raises(InputError, match="already exists"):
        write_baseline(base, tmp_path, FLOORS)
    worse = copy.deepcopy(base)
    result(worse)["accuracy"] = 0.74 - EPS
    with pytest.raises(InputError, match="may not cross the floors"):
        write_baseline(worse, tmp_path, FLOORS, force=True)
    assert json.loads(path.read_text())["results"] == base["results"]  # the recorded one stays
    vnni = _other_class(base, ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"])
    assert write_baseline(vnni, tmp_path, FLOORS).name == "x86_64-avx-avx2-fma-avx512f-avx512bw-avx512_vnni.json"
    assert len(list(tmp_path.iterdir())) == 2  # another class never overwrites this one
    # A report that records its core design gets a file of its own: another core's stays.
    zen = copy.deepcopy(base)
    zen["machine"]["cpu_core"] = "amd-23-1"
    assert write_baseline(zen, tmp_path, FLOORS).name == "x86_64-avx-avx2-fma.amd-23-1.json"
    assert (tmp_path / "x86_64-avx-avx2-fma.json").is_file()


def test_committed_baselines_meet_the_committed_floors():
    from edge_albert.validation.gate import baseline_name, check_floors, load_floors
    from edge_albert.validation.report import load_report

    folder = REPO / ".ci" / "baselines"
    floors = load_floors(folder / "floors.json")
    files = sorted(folder.glob("x86_64-*.json"))
    assert files
    recorded = 0
    for f in files:
        report = load_report(f)
        assert f.stem == baseline_name(report["machine"]), f
        rows = check_floors(report, floors)
        if "provenance" in report:  # recorded by `edge-albert baseline`: every floor holds, every artifact is there
            recorded += 1
            assert all(r.ok for r in rows), (f.name, [r for r in rows if not r.ok])
        else:  # recorded before floors, provenance and coverage existed: what it measured holds
            assert all(r.ok for r in rows if r.check != "floor_present" and r.value is not None), f.name
    assert recorded >= 1


def test_thresholds_load_the_file_then_apply_only_the_given_overrides(tmp_path):
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps({"min_agreement": 0.9, "max_logit_diff": 0.5}))
    limits = GateThresholds.load(path, min_agreement=0.97, max_size_growth=None)
    assert (limits.min_agreement, limits.max_logit_diff) == (0.97, 0.5)
    assert limits.max_size_growth == GateThresholds().max_size_growth
    assert GateThresholds.load() == GateThresholds()


def test_write_baseline_refuses_a_latency_measured_on_a_busy_machine(tmp_path, base):
    from edge_albert.validation.gate import MAX_BASELINE_OTHER_CPU_LOAD

    busy = copy.deepcopy(base)
    busy["machine"]["other_cpu_load"] = MAX_BASELINE_OTHER_CPU_LOAD + 0.01
    with pytest.raises(InputError, match="CPUs busy while latency was measured"):
        write_baseline(busy, tmp_path, FLOORS)
    assert not list(tmp_path.iterdir())
    busy["machine"]["other_cpu_load"] = MAX_BASELINE_OTHER_CPU_LOAD
    assert write_baseline(busy, tmp_path, FLOORS).is_file()
