"""The regression gate passes a good model and fails a deliberately degraded one, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import torch

from edge_albert.data.readers import LabeledTexts
from edge_albert.model.checkpoint import load_model, save_model
from edge_albert.validation.gate import GateThresholds, check_report, format_table
from edge_albert.validation.report import validate, write_reports


@pytest.fixture(scope="module")
def data(sst2_dev):
    return LabeledTexts([s for _, s in sst2_dev[:200]], [l for l, _ in sst2_dev[:200]], ["negative", "positive"])


@pytest.fixture(scope="module")
def good(tmp_path_factory, trained_checkpoint, trained_artifacts, data):
    from edge_albert.targets import LocalTarget

    # A local target exercises the targets section of the report and gate without emulation.
    report = validate(trained_checkpoint, [trained_artifacts["onnx"]], data, latency_runs=5, memory=False, targets=[LocalTarget()], target_texts=8)
    return write_reports(report, tmp_path_factory.mktemp("good"))["json"]


@pytest.fixture(scope="module")
def degraded(tmp_path_factory, trained_checkpoint, data):
    """Same file names, but the ONNX model comes from weights with noise added."""
    from edge_albert.converters.onnx import export_onnx

    folder = tmp_path_factory.mktemp("bad")
    model = load_model(trained_checkpoint)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.albert.encoder.parameters():
            p.add_(torch.randn_like(p) * p.std() * 2.0)
    noisy = save_model(model, folder / "noisy", tokenizer_model=trained_checkpoint / "spiece.model")
    onnx_path = export_onnx(noisy, folder / "model.onnx").path
    report = validate(trained_checkpoint, [onnx_path], data, latency_runs=5, memory=False)
    return write_reports(report, folder / "report")["json"]


def run_check(*args):
    return subprocess.run([sys.executable, "-m", "edge_albert.cli", "check", *map(str, args)], capture_output=True, text=True, timeout=300)


def test_gate_passes_on_the_good_model(tmp_path, good):
    out = run_check(good, "--baseline", good, "--junit", tmp_path / "j.xml")
    assert out.returncode == 0, out.stdout
    assert "PASS" in out.stdout
    # Both machines are named with their core design, so a latency failure in CI can be told from a
    # machine change.
    machine = json.loads(good.read_text())["machine"]
    assert machine["cpu_core"]  # every machine this runs on reports its vendor/family/model or implementer/part
    assert f"this run: {machine['cpu_model']} (core {machine['cpu_core']}), {machine['machine']} {' '.join(machine['cpu_flags'])}" in out.stdout
    suite = ET.parse(tmp_path / "j.xml").getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests")) >= 6


def test_gate_fails_on_the_degraded_model(tmp_path, good, degraded):
    out = run_check(degraded, "--baseline", good, "--junit", tmp_path / "j.xml", "--json")
    assert out.returncode == 1
    result = json.loads(out.stdout)
    failed = {(r["artifact"], r["check"]) for r in result["rows"] if not r["ok"]}
    assert ("model.onnx", "agreement") in failed and ("model.onnx", "accuracy") in failed
    suite = ET.parse(tmp_path / "j.xml").getroot()
    assert int(suite.get("failures")) >= 2


def test_size_and_latency_checks(good):
    report = json.loads(good.read_text())
    base = json.loads(good.read_text())
    grown = json.loads(good.read_text())
    grown["results"][1]["size_bytes"] = int(base["results"][1]["size_bytes"] * 1.2)
    for lat in grown["results"][1]["latency"]:
        lat["real"]["p50_ms"] *= 3
    gate = check_report(grown, base, GateThresholds())
    failed = {r.check for r in gate.failures}
    assert failed == {"size_bytes", "latency_ratio_to_reference"}
    assert check_report(report, base, GateThresholds()).passed

    # A baseline from another CPU class (here: one without AVX512-VNNI) says nothing about this
    # run's latency ratios: the check is shown as skipped, and the size check still fails.
    elsewhere = json.loads(good.read_text())
    elsewhere["machine"]["cpu_flags"] = [f for f in elsewhere["machine"]["cpu_flags"] if f != "avx512_vnni"] + ["sve"]
    gate = check_report(grown, elsewhere, GateThresholds())
    assert {r.check for r in gate.failures} == {"size_bytes"}
    skipped = [r for r in gate.rows if r.skipped]
    assert skipped and {r.check for r in skipped} == {"latency_ratio_to_reference"} and "no baseline of this CPU class" in skipped[0].note
    assert "skip" in format_table(gate)
    # Given one baseline per CPU class, the one measured on this report's class is used.
    from edge_albert.validation.gate import select_baseline

    assert select_baseline(grown, [elsewhere, base]).baseline is base and select_baseline(grown, [elsewhere]).baseline is elsewhere


def test_check_picks_the_baseline_of_this_cpu_class(tmp_path, good):
    other = json.loads(good.read_text())
    other["machine"]["cpu_flags"] = ["sve"]
    for r in other["results"]:
        r["accuracy"] = r["score"] = r["metrics"]["accuracy"] = 1.0  # would fail every accuracy check if it were used
    (tmp_path / "other.json").write_text(json.dumps(other))
    out = run_check(good, "--baseline", tmp_path / "other.json", "--baseline", good, "--json")
    assert out.returncode == 0, out.stdout
    assert json.loads(out.stdout)["baseline"] == str(good)
    alone = run_check(good, "--baseline", tmp_path / "other.json")
    assert alone.returncode == 1 and "skip" in alone.stdout and "no baseline of this CPU class" in alone.stdout
    assert alone.stdout.splitlines()[0].startswith(f"baseline: {tmp_path / 'other.json'}: nearest CPU class")


def test_missing_artifact_fails_and_bad_input_exits_2(tmp_path, good):
    report = json.loads(good.read_text())
    report["results"] = report["results"][:1]
    (tmp_path / "r.json").write_text(json.dumps(report))
    assert run_check(tmp_path / "r.json", "--baseline", good).returncode == 1
    (tmp_path / "junk.json").write_text("{}")
    out = run_check(tmp_path / "junk.json", "--baseline", good)
    assert out.returncode == 2 and "not an edge-albert validation report" in out.stderr


def test_target_runs_are_reported_and_gated(good):
    from edge_albert.validation.report import load_report, to_html, to_markdown

    report = load_report(good)
    run = report["targets"][0]
    assert run["target"] == "local" and run["texts"] == 8 and run["models"][0]["vs_host"]["max_abs_logit_diff"] == 0.0
    assert "## Targets" in to_markdown(report) and 'id="targets"' in to_html(report)
    gate = check_report(report, report, GateThresholds())
    checks = {r.check for r in gate.rows if "@local" in r.artifact}
    assert checks == {"target_agreement_vs_host", "target_max_logit_diff_vs_host", "target_tokenizer_ids"} and gate.passed

    drifted = json.loads(json.dumps(report))
    drifted["targets"][0]["models"][0]["vs_host"].update(agreement=0.5, max_abs_logit_diff=0.7)
    drifted["targets"][0]["models"][0]["vs_reference"].update(agreement=0.5, max_abs_logit_diff=0.7)
    drifted["targets"][0]["tokenizer_mismatches"] = [3]
    failed = {r.check for r in check_report(drifted, report, GateThresholds()).failures}
    assert failed == {"target_agreement_vs_host", "target_max_logit_diff_vs_host", "target_tokenizer_ids"}

    # A device further from the host than the limit, but no further from the fp32 model than the
    # host's own run of the file (an AVX2 host saturating int8 products), passes with a note;
    # further from the fp32 model than the host fails.
    def target_rows() -> dict:
        return {r.check: r for r in check_report(drifted, report, GateThresholds()).rows if "@local" in r.artifact}

    def failing() -> set[str]:
        return {r.check for r in check_report(drifted, report, GateThresholds()).failures}

    model = drifted["targets"][0]["models"][0]
    drifted["targets"][0]["tokenizer_mismatches"] = []
    # The host's error is taken on the target's own texts: the host's error over the whole data
    # set (results) does not count.
    host = next(r for r in drifted["results"] if r["artifact"] == model["artifact"])
    host["fidelity"]["max_abs_logit_diff"] = 0.5
    model["host_vs_reference"]["max_abs_logit_diff"] = 0.08
    model["vs_host"].update(agreement=1.0, max_abs_logit_diff=0.07)
    model["vs_reference"]["max_abs_logit_diff"] = 0.03
    rows = target_rows()
    assert rows["target_max_logit_diff_vs_host"].ok and "host's own error" in rows["target_max_logit_diff_vs_host"].note
    model["vs_reference"]["max_abs_logit_diff"] = 0.09
    assert failing() == {"target_max_logit_diff_vs_host"}
    model["vs_reference"]["max_abs_logit_diff"] = 0.03
    model["host_vs_reference"]["max_abs_logit_diff"] = 0.02  # on the same texts the host is closer: no allowance
    assert failing() == {"target_max_logit_diff_vs_host"}

    # The same for agreement: the device agreeing with fp32 at least as often as the host passes
    # with a note, less often fails (the host's agreement on the target's own texts).
    model["host_vs_reference"].update(agreement=0.5, max_abs_logit_diff=0.08)
    model["vs_host"].update(agreement=0.5, max_abs_logit_diff=0.01)
    model["vs_reference"]["agreement"] = 0.5
    rows = target_rows()
    assert rows["target_agreement_vs_host"].ok and "at least as often as the host" in rows["target_agreement_vs_host"].note
    model["vs_reference"]["agreement"] = 0.49
    assert failing() == {"target_agreement_vs_host"}

    without = dict(report, targets=[])
    missing = check_report(without, report, GateThresholds()).failures
    assert [r.check for r in missing] == ["present"] and "@local" in missing[0].artifact


def test_cpu_class_names_spell_the_whole_class():
    from edge_albert.machine import cpu_class_name

    assert cpu_class_name({"machine": "x86_64", "cpu_flags": ["avx", "avx2", "fma"]}) == "x86_64-avx-avx2-fma"
    assert cpu_class_name({"machine": "x86_64", "cpu_flags": ["avx2", "avx", "fma"]}) == "x86_64-avx-avx2-fma"  # order-free
    assert cpu_class_name({"machine": "aarch64", "cpu_flags": ["asimd", "asimddp"]}) == "aarch64-asimd-asimddp"
    assert cpu_class_name({"machine": "riscv64", "cpu_flags": []}) == "riscv64-generic"
    # A VNNI machine without bf16 is its own class, not the VNNI+bf16 one's file.
    vnni = ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"]
    assert cpu_class_name({"machine": "x86_64", "cpu_flags": vnni}) != cpu_class_name({"machine": "x86_64", "cpu_flags": vnni + ["avx512_bf16"]})


def test_a_report_whose_numbers_disagree_is_refused(tmp_path, good):
    """The accuracy is given three times (field, score, metrics): an edit to one copy only is caught."""
    for edit in ("accuracy", "score", "metrics"):
        doc = json.loads(good.read_text())
        r = doc["results"][1]
        if edit == "metrics":
            r["metrics"]["accuracy"] = 0.1
        else:
            r[edit] = 1.0
        (tmp_path / f"{edit}.json").write_text(json.dumps(doc))
        out = run_check(tmp_path / f"{edit}.json", "--baseline", good)
        assert out.returncode == 2 and "disagrees with its metrics" in out.stderr, (edit, out.stdout, out.stderr)
