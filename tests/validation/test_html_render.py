"""The HTML report renders in a real headless browser (Debian's Chromium)."""

from __future__ import annotations

import subprocess

import pytest

from edge_albert.data.readers import LabeledTexts
from edge_albert.system_tools import find_tool
from edge_albert.validation.report import validate, write_reports
from tests.conftest import require_tool

CHROMIUM = find_tool("chromium", "chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def html(tmp_path_factory, trained_checkpoint, trained_artifacts, sst2_dev):
    require_tool("chromium", "chromium-browser", package="chromium")
    data = LabeledTexts([s for _, s in sst2_dev[:60]], [l for l, _ in sst2_dev[:60]], ["negative", "positive"])
    report = validate(trained_checkpoint, [trained_artifacts["onnx"], trained_artifacts["tflite"]], data, latency_runs=3, memory=False)
    return write_reports(report, tmp_path_factory.mktemp("html"))["html"]


def chromium(tmp_path, *args):
    profile = tmp_path / "profile"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=180)


def test_report_renders_with_table_and_plots(tmp_path, html):
    out = chromium(tmp_path, "--dump-dom", html.as_uri())
    assert out.returncode == 0, out.stderr[-1000:]
    dom = out.stdout
    assert dom.count("<tr>") >= 4  # header + 3 artifacts
    for point in ("model.onnx (onnxruntime):", "model.tflite (litert):", "(torch):"):
        assert point in dom  # each artifact's point in the scatter plot, by its tooltip
    shot = tmp_path / "report.png"
    out = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1000", html.as_uri())
    assert shot.is_file() and shot.stat().st_size > 20_000, out.stderr[-1000:]
